"""Count validation, gene-id detection / conversion and per-sample count QC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.rnaseq import count_qc, gene_id_type, harmonise_gene_ids, validate_counts


def _counts(n_samples: int = 20, n_genes: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.7, 1.4, n_samples)[:, None]
    mean = rng.lognormal(3.0, 1.2, n_genes)[None, :] * depth
    values = rng.negative_binomial(5, 5 / (5 + mean))
    return pd.DataFrame(values, index=[f"S{i:02d}" for i in range(n_samples)],
                        columns=[f"GENE{j}" for j in range(n_genes)])


@pytest.mark.parametrize(("value", "reason"), [(-1, "is negative"), (1.5, "not a whole number"),
                                               (np.nan, "missing")])
def test_validate_counts_names_sample_and_gene(value, reason):
    counts = _counts().astype(float)
    counts.loc["S03", "GENE7"] = value
    with pytest.raises(DataError, match=f"gene GENE7 in sample S03 .*{reason}"):
        validate_counts(counts)


def test_validate_counts_reports_duplicated_genes():
    counts = _counts()
    counts.columns = ["GENE1"] + list(counts.columns[1:])
    with pytest.raises(DataError, match=r"1 gene id\(s\) appear more than once .*GENE1"):
        validate_counts(counts)


def test_validate_counts_returns_int64_copy():
    counts = _counts().astype(float)
    out = validate_counts(counts)
    assert (out.dtypes == np.int64).all()
    assert out.index.name == "sample_id"
    np.testing.assert_array_equal(out.to_numpy(), counts.to_numpy())


def test_validate_counts_rejects_non_dataframe():
    with pytest.raises(UsageError, match="The 'counts' parameter of validate_counts"):
        validate_counts(np.zeros((3, 3)))


@pytest.mark.parametrize(("ids", "expected"), [
    (["ENSG00000141510.17", "ENSG00000111640.15", "ENSG00000075624"], "ensembl"),
    (["TP53", "HLA-DRA", "C1orf112", "GAPDH"], "symbol"),
    (["TP53", "ENSG00000111640"], "mixed"),
    (["7157", "2597", "60"], "unknown"),
    ([], "unknown"),
])
def test_gene_id_type(ids, expected):
    assert gene_id_type(ids) == expected


def _ensembl_counts() -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = pd.DataFrame([[1, 2, 3, 4], [5, 6, 7, 8]], index=["S1", "S2"],
                          columns=["ENSG00000141510.17", "ENSG00000111640.15",
                                   "ENSG00000075624.13", "ENSG00000999999.1"])
    mapping = pd.DataFrame({"ensembl": ["ENSG00000141510", "ENSG00000111640.2",
                                        "ENSG00000075624"],
                            "symbol": ["TP53", "GAPDH", "GAPDH"]})
    return counts, mapping


def test_harmonise_with_mapping_converts_sums_and_reports_unmapped():
    counts, mapping = _ensembl_counts()
    out = harmonise_gene_ids(counts, to="symbol", mapping=mapping)
    assert list(out.columns) == ["TP53", "GAPDH"]
    # Two Ensembl genes on one symbol: counts are summed (2+3, 6+7).
    np.testing.assert_array_equal(out.to_numpy(), [[1, 5], [5, 13]])
    assert out.attrs["unmapped"] == ("ENSG00000999999.1",)
    assert out.attrs["source_id_type"] == "ensembl"


def test_harmonise_without_mapping_says_which_types():
    counts, _ = _ensembl_counts()
    with pytest.raises(DataError, match="uses ensembl gene ids but the gene sets use symbol ids"):
        harmonise_gene_ids(counts, to="symbol")


def test_harmonise_rejects_ambiguous_mapping_and_unknown_target():
    counts, mapping = _ensembl_counts()
    bad = pd.concat([mapping, pd.DataFrame({"ensembl": ["ENSG00000141510"], "symbol": ["P53"]})])
    with pytest.raises(DataError, match="more than one symbol"):
        harmonise_gene_ids(counts, to="symbol", mapping=bad)
    with pytest.raises(UsageError, match="did you mean 'symbol'"):
        harmonise_gene_ids(counts, to="symbols", mapping=mapping)


def test_harmonise_symbols_to_symbols_is_identity():
    counts = _counts(n_samples=3, n_genes=4)
    out = harmonise_gene_ids(counts, to="symbol")
    pd.testing.assert_frame_equal(out, counts, check_names=False)


def test_count_qc_flags_sample_with_20x_smaller_library():
    rng = np.random.default_rng(1)
    counts = _counts(n_samples=24, n_genes=400)
    counts.loc["S05"] = rng.binomial(counts.loc["S05"].to_numpy(), 0.05)
    qc = count_qc(counts).set_index("sample_id")
    assert qc.loc["S05", "outlier"]
    assert "library size" in qc.loc["S05", "outlier_reason"]
    assert qc["outlier"].sum() == 1
    np.testing.assert_array_equal(qc["library_size"], counts.sum(axis=1))
    np.testing.assert_array_equal(qc["detected_genes"], (counts > 0).sum(axis=1))
    top = np.sort(counts.loc["S00"].to_numpy())[::-1][:50].sum()
    assert qc.loc["S00", "pct_counts_top50"] == pytest.approx(100 * top / counts.loc["S00"].sum())
