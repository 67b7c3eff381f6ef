"""DESeq2 differential expression: parity with a direct pydeseq2 run, failure cases and a
known answer on simulated counts with a planted immune effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.differential import TABLE_COLUMNS, differential_expression


def _data(n_per_group: int = 6, n_genes: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 2 * n_per_group
    samples = [f"S{i:02d}" for i in range(n)]
    genes = [f"GENE{j}" for j in range(n_genes)]
    mean = rng.lognormal(4.0, 1.0, n_genes)[None, :] * rng.uniform(0.6, 1.5, n)[:, None]
    groups = pd.Series(["high"] * n_per_group + ["low"] * n_per_group, index=samples)
    mean[:n_per_group, :10] *= 4.0  # planted: first 10 genes up in 'high'
    centre = pd.DataFrame({"centre": ["WX", "NJ"] * n_per_group}, index=samples)
    mean[centre["centre"].to_numpy() == "NJ"] *= 1.5
    counts = pd.DataFrame(rng.negative_binomial(8, 8 / (8 + mean)), index=samples, columns=genes)
    return counts, groups, centre


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_parity_with_direct_pydeseq2_run():
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    counts, groups, centre = _data()
    result = differential_expression(counts=counts, groups=groups, covariates=centre,
                                     min_count=0, shrink=True)
    assert result.design == "~ centre + group"
    assert result.contrast == ("group", "high", "low")
    assert result.n_per_group == {"high": 6, "low": 6}
    assert tuple(result.table.columns) == TABLE_COLUMNS

    # Independent run: the same matrix and design, straight through pydeseq2.
    meta = centre.assign(condition=pd.Categorical(groups, categories=["low", "high"]))
    dds = DeseqDataSet(counts=counts, metadata=meta, design="~ centre + condition", quiet=True,
                       n_cpus=1)
    dds.deseq2()
    stats = DeseqStats(dds, contrast=["condition", "high", "low"], quiet=True, n_cpus=1)
    stats.summary()
    direct = stats.results_df.copy()
    stats.lfc_shrink(coeff="condition[T.high]")
    shrunk = stats.results_df["log2FoldChange"]

    ours = result.table.set_index("gene").loc[direct.index]
    for mine, theirs in (("log2_fold_change", "log2FoldChange"), ("pvalue", "pvalue"),
                         ("padj", "padj"), ("stat", "stat"), ("base_mean", "baseMean")):
        np.testing.assert_allclose(ours[mine], direct[theirs], rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ours["log2_fold_change_shrunk"], shrunk, rtol=1e-6)
    # The planted genes are found, up in 'high'.
    top = result.table.head(10)
    assert set(top["gene"]) == {f"GENE{j}" for j in range(10)}
    assert (top["log2_fold_change"] > 1).all() and (top["padj"] < 0.05).all()


def test_prefilter_drops_low_count_genes():
    counts, groups, _ = _data(n_genes=40)
    counts["RARE"] = 0
    counts.iloc[:2, counts.columns.get_loc("RARE")] = 50
    result = differential_expression(counts=counts, groups=groups, shrink=False)
    assert "RARE" not in set(result.table["gene"])
    assert result.n_genes_filtered >= 1
    assert result.design == "~ group"


def test_group_with_two_samples_is_reported_not_tested():
    counts, groups, _ = _data()
    counts, groups = counts.iloc[:8], groups.iloc[:8]  # 6 high, 2 low
    with pytest.raises(DataError, match="Group 'low' has 2 sample.*at least 3"):
        differential_expression(counts=counts, groups=groups, shrink=False)


def test_rejects_non_integer_counts_and_bad_groups():
    counts, groups, _ = _data()
    bad = counts.astype(float)
    bad.iloc[1, 2] = 2.5
    with pytest.raises(DataError, match="GENE2 in sample S01 .*not a whole number"):
        differential_expression(counts=bad, groups=groups)
    with pytest.raises(DataError, match="have no group .*S00"):
        differential_expression(counts=counts, groups=groups.iloc[1:])
    with pytest.raises(UsageError, match="'reference' parameter .*Got 'control'"):
        differential_expression(counts=counts, groups=groups, reference="control")
    three = groups.copy()
    three.iloc[:3] = "mid"
    with pytest.raises(DataError, match="exactly two groups"):
        differential_expression(counts=counts, groups=three)


@pytest.fixture(scope="module")
def simulated():
    from hccfusion.simulate.latent import simulate_latent
    from hccfusion.simulate.omics import simulate_omics

    latent = simulate_latent(n_patients=120, seed=3).latent
    omics = simulate_omics(latent=latent, seed=1, n_genes=600)
    counts = omics.rna_counts.T
    qc = omics.rna_qc.set_index("sample_id").loc[counts.index]
    immune = latent.set_index("patient_id").loc[qc["patient_id"].to_numpy(), "immune"].to_numpy()
    groups = pd.Series(np.where(immune > np.median(immune), "high", "low"), index=counts.index)
    de = differential_expression(counts=counts, groups=groups, covariates=qc[["center"]],
                                 shrink=False)
    return omics, de


def test_known_answer_planted_immune_genes_are_differential(simulated):
    omics, de = simulated
    assert 20 <= sum(de.n_per_group.values()) <= 60
    truth = omics.gene_truth.set_index("gene").loc[de.table["gene"]]
    table = de.table.assign(immune=truth["immune_log2fc"].to_numpy() != 0,
                            null=~truth["planted"].to_numpy())
    hits = table[table["padj"] < 0.05]
    assert table.loc[table["immune"], "padj"].lt(0.05).mean() > 0.5
    assert (hits.loc[hits["immune"], "log2_fold_change"] > 0).all()
    # False discoveries among null genes stay near the nominal FDR.
    assert hits["null"].mean() < 0.1


def test_known_answer_prerank_puts_planted_immune_sets_on_top(simulated):
    from hccfusion.omics.genesets import packaged_gene_sets, preranked_gsea
    from hccfusion.simulate.omics_rnaseq import PLANTED_SETS

    _, de = simulated
    gsea = preranked_gsea(ranking=de.table.set_index("gene")["stat"],
                          gene_sets=packaged_gene_sets(), permutations=200, seed=0, min_size=5)
    immune_sets = {name for name, factor in PLANTED_SETS.items() if factor == "immune"}
    top = gsea.iloc[0]
    assert top["term"] in immune_sets and top["fdr"] < 0.05
    assert gsea.set_index("term").loc["AYERS2017_IFNG_6", "fdr"] < 0.05
    assert set(gsea.loc[gsea["fdr"] < 0.05].head(5)["term"]) <= immune_sets
    # Sets the simulator left null are not enriched in the high-immune group. (With a
    # 600-gene matrix mostly made of set members, a null set can sit significantly low,
    # below the planted sets; only enrichment towards 'high' is claimed.)
    null = gsea[gsea["term"].isin({"MCPCOUNTER_NEUTROPHILS", "MCPCOUNTER_FIBROBLASTS",
                                   "MCPCOUNTER_MONOCYTIC_LINEAGE",
                                   "MCDERMOTT2018_MYELOID_INFLAMMATION",
                                   "AYERS2017_HOUSEKEEPING_11"})]
    assert len(null) >= 4  # a set may fall under min_size after the low-count filter
    assert not ((null["nes"] > 0) & (null["fdr"] < 0.05)).any()


def test_group_confounded_with_centre_is_reported():
    counts, groups, _ = _data()
    centre = pd.DataFrame({"centre": np.where(groups == "high", "WX", "NJ")}, index=groups.index)
    with pytest.raises(DataError, match="confounded"):
        differential_expression(counts=counts, groups=groups, covariates=centre, shrink=False)
    with pytest.raises(UsageError, match="column names usable in a formula"):
        differential_expression(counts=counts, groups=groups,
                                covariates=centre.rename(columns={"centre": "seq batch"}))
