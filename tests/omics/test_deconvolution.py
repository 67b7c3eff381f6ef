"""MCP-counter and ESTIMATE marker-gene scores on synthetic log-expression with planted answers."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.deconvolution import (
    ESTIMATE_COLUMNS,
    immune_stromal_scores,
    mcp_counter_scores,
)
from hccfusion.omics.genesets import packaged_gene_sets

MCP_POPULATIONS = ["t_cells", "cd8_t_cells", "cytotoxic_lymphocytes", "b_lineage", "nk_cells",
                   "monocytic_lineage", "myeloid_dendritic_cells", "neutrophils",
                   "endothelial_cells", "fibroblasts"]


def _sets() -> dict[str, tuple[str, ...]]:
    return packaged_gene_sets()


def _expression(n_samples: int = 10, seed: int = 0, n_filler: int = 300) -> pd.DataFrame:
    """log2-like expression of every packaged MCP-counter / ESTIMATE gene plus filler genes."""
    sets = _sets()
    genes = list(dict.fromkeys(g for name, members in sets.items()
                               if name.startswith(("MCPCOUNTER_", "ESTIMATE_")) for g in members))
    genes += [f"FILLER{i}" for i in range(n_filler)]
    rng = np.random.default_rng(seed)
    values = rng.normal(6.0, 2.0, (n_samples, len(genes)))
    index = pd.Index([f"s{i:02d}" for i in range(n_samples)], name="sample_id")
    return pd.DataFrame(values, index=index, columns=genes)


# --------------------------------------------------------------------------- MCP-counter

def test_mcp_counter_scores_are_the_mean_log2_expression_of_the_markers():
    x = _expression()
    res = mcp_counter_scores(x)
    assert list(res.scores.columns) == MCP_POPULATIONS
    fibro = _sets()["MCPCOUNTER_FIBROBLASTS"]
    np.testing.assert_allclose(res.scores["fibroblasts"], x[list(fibro)].mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(res.scores["cd8_t_cells"], x["CD8B"], rtol=1e-12)
    assert list(res.scores.index) == list(x.index)


def test_planted_fibroblast_excess_raises_only_the_fibroblast_score():
    base = _expression(n_samples=8, seed=3)
    raised = base.copy()
    raised.index = [f"{s}_caf" for s in base.index]
    fibro = list(_sets()["MCPCOUNTER_FIBROBLASTS"])
    raised[fibro] += 3.0  # the same samples with 3 log2 units (8-fold) more fibroblast markers
    scores = mcp_counter_scores(pd.concat([base, raised])).scores
    low, high = scores.iloc[:8].to_numpy(), scores.iloc[8:].to_numpy()
    diff = pd.Series((high - low).mean(axis=0), index=scores.columns)
    assert diff["fibroblasts"] == pytest.approx(3.0, abs=1e-12)
    assert diff.drop("fibroblasts").abs().max() < 1e-12


def test_missing_markers_are_reported_and_thin_populations_left_out():
    x = _expression()
    sets = _sets()
    nk = list(sets["MCPCOUNTER_NK_CELLS"])
    fibro = list(sets["MCPCOUNTER_FIBROBLASTS"])
    x = x.drop(columns=nk[1:] + fibro[:3])  # one NK marker left; 5 of 8 fibroblast markers
    res = mcp_counter_scores(x)
    report = res.markers_used.set_index("population")
    assert list(res.markers_used.columns) == ["population", "n_markers", "n_present", "scored"]
    assert report.loc["nk_cells", ["n_markers", "n_present"]].tolist() == [len(nk), 1]
    assert not report.loc["nk_cells", "scored"] and "nk_cells" not in res.scores.columns
    assert report.loc["fibroblasts", ["n_present", "scored"]].tolist() == [5, True]
    np.testing.assert_allclose(res.scores["fibroblasts"], x[fibro[3:]].mean(axis=1), rtol=1e-12)
    # one-marker population: scored when its single marker is there
    assert report.loc["cd8_t_cells", ["n_markers", "n_present", "scored"]].tolist() == [1, 1, True]
    # min_markers=1 keeps the NK population on its one remaining marker
    assert "nk_cells" in mcp_counter_scores(x, min_markers=1).scores.columns


def test_user_markers_from_a_mapping_or_a_gmt_file(tmp_path):
    x = _expression()
    mapping = {"kupffer_like": ["CD163", "MARCO", "VSIG4"]}  # MARCO is not in the matrix
    res = mcp_counter_scores(x, markers=mapping)
    np.testing.assert_allclose(res.scores["kupffer_like"], x[["CD163", "VSIG4"]].mean(axis=1))
    assert res.markers_used.iloc[0].tolist() == ["kupffer_like", 3, 2, True]
    path = tmp_path / "m.gmt"
    path.write_text("KUPFFER\tuser\tCD163\tMARCO\tVSIG4\n", encoding="utf-8")
    from_file = mcp_counter_scores(x, markers=path)
    np.testing.assert_allclose(from_file.scores["KUPFFER"], res.scores["kupffer_like"])


def test_ensembl_ids_are_refused_with_a_pointer_to_harmonise():
    x = pd.DataFrame(np.ones((2, 3)), index=["s1", "s2"],
                     columns=["ENSG00000153563.16", "ENSG00000172116", "ENSG00000105374"])
    with pytest.raises(DataError, match="ensembl gene ids.*rnaseq.harmonise_gene_ids"):
        mcp_counter_scores(x)
    with pytest.raises(DataError, match="harmonise_gene_ids"):
        immune_stromal_scores(x)


def test_bad_expression_and_arguments_raise_clear_errors():
    x = _expression(n_samples=3)
    counts = x.copy()
    counts.loc["s01", "CD8B"] = 1.5e14
    with pytest.raises(DataError, match="gene CD8B in sample s01 .* too large for a log2 scale"):
        mcp_counter_scores(counts)
    holed = x.copy()
    holed.loc["s02", "DCN"] = np.nan
    with pytest.raises(DataError, match="gene DCN in sample s02 is not a finite number"):
        mcp_counter_scores(holed)
    with pytest.raises(UsageError, match="'min_markers' parameter of mcp_counter_scores"):
        mcp_counter_scores(x, min_markers=0)
    with pytest.raises(UsageError, match="'expression' parameter of mcp_counter_scores"):
        mcp_counter_scores(x.to_numpy())
    with pytest.raises(UsageError, match="'markers' parameter"):
        mcp_counter_scores(x, markers={"a": "CD8B"})
    with pytest.raises(DataError, match="No population has"):
        mcp_counter_scores(x[["FILLER1", "FILLER2"]])


# --------------------------------------------------------------------------- ESTIMATE

def test_packaged_estimate_signatures_have_141_genes_each():
    sets = _sets()
    assert len(sets["ESTIMATE_IMMUNE_SIGNATURE"]) == 141
    assert len(sets["ESTIMATE_STROMAL_SIGNATURE"]) == 141
    assert not set(sets["ESTIMATE_IMMUNE_SIGNATURE"]) & set(sets["ESTIMATE_STROMAL_SIGNATURE"])
    out = immune_stromal_scores(_expression(n_samples=2))
    assert out.attrs["genes_present"] == {"stromal": 141, "immune": 141}
    assert list(out.columns) == list(ESTIMATE_COLUMNS)


def test_estimate_scores_match_gseapy_unnormalised_ssgsea():
    # gseapy's ssGSEA with rank normalisation and weight 0.25 reports the same un-normalised
    # enrichment score (column ES) as ESTIMATE; an independent implementation.
    import gseapy

    rng = np.random.default_rng(11)
    genes = [f"GENE{i}" for i in range(150)]
    x = pd.DataFrame(rng.normal(5.0, 2.0, (4, 150)), index=["a", "b", "c", "d"], columns=genes)
    immune, stromal = genes[:20], genes[60:90]
    ours = immune_stromal_scores(x, immune=immune, stromal=stromal)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        ref = gseapy.ssgsea(data=x.T, gene_sets={"immune": immune, "stromal": stromal},
                            outdir=None, sample_norm_method="rank", weight=0.25, min_size=1,
                            max_size=1000, threads=1, no_plot=True, verbose=False)
    es = ref.res2d.assign(ES=pd.to_numeric(ref.res2d["ES"])).pivot(index="Name", columns="Term",
                                                                      values="ES")
    np.testing.assert_allclose(ours["immune_score"], es.loc[x.index, "immune"], rtol=1e-9)
    np.testing.assert_allclose(ours["stromal_score"], es.loc[x.index, "stromal"], rtol=1e-9)
    np.testing.assert_allclose(ours["estimate_score"],
                               ours["immune_score"] + ours["stromal_score"], rtol=1e-12)


def test_estimate_score_by_hand_on_a_five_gene_sample():
    # Genes by decreasing expression: E, D, C, B, A; set = {E, C}; ranks (ascending) 5 and 3.
    x = pd.DataFrame([[1.0, 2.0, 3.0, 4.0, 5.0]], index=["s"], columns=list("ABCDE"))
    out = immune_stromal_scores(x, immune=["E", "C"], stromal=["A"], min_genes=1)
    w_e, w_c = 5 ** 0.25, 3 ** 0.25
    p_hit = np.array([w_e, w_e, w_e + w_c, w_e + w_c, w_e + w_c]) / (w_e + w_c)
    p_miss = np.array([0, 1, 1, 2, 3]) / 3
    assert out.loc["s", "immune_score"] == pytest.approx((p_hit - p_miss).sum(), rel=1e-12)
    # a one-gene set at the bottom: P_hit is 0 until the last position
    assert out.loc["s", "stromal_score"] == pytest.approx(
        1.0 - np.array([1, 2, 3, 4, 4]).sum() / 4, rel=1e-12)


def test_planted_immune_infiltration_raises_the_immune_score_only():
    base = _expression(n_samples=6, seed=5, n_filler=3000)
    raised = base.copy()
    raised.index = [f"{s}_hot" for s in base.index]
    immune = list(_sets()["ESTIMATE_IMMUNE_SIGNATURE"])
    raised[immune] += 4.0
    out = immune_stromal_scores(pd.concat([base, raised]))
    gain = pd.DataFrame(out.iloc[6:].to_numpy() - out.iloc[:6].to_numpy(), columns=out.columns)
    assert (gain["immune_score"] > 1000).all()
    # Stromal genes only lose rank to the immune genes that overtook them: a small fall, not a
    # rise (the scores are rank-based and so compete a little for the top of the ranking).
    assert (gain["stromal_score"] < 0).all()
    assert gain["stromal_score"].abs().max() < 0.1 * gain["immune_score"].min()
    # Each sample's score depends on that sample only.
    alone = immune_stromal_scores(base.iloc[[2]])
    pd.testing.assert_frame_equal(alone, out.loc[[base.index[2]]], check_exact=False, rtol=1e-12)


def test_user_signatures_and_their_errors(tmp_path):
    x = _expression(n_samples=2)
    one = tmp_path / "imm.gmt"
    one.write_text("MY_IMMUNE\tuser\tPTPRC\tCD3D\tCD2\tLCK\tCCL5\tGZMB\tNKG7\tCD52\tCD48\tCD53\n",
                   encoding="utf-8")
    from_file = immune_stromal_scores(x, immune=one)
    from_list = immune_stromal_scores(
        x, immune=["PTPRC", "CD3D", "CD2", "LCK", "CCL5", "GZMB", "NKG7", "CD52", "CD48", "CD53"])
    pd.testing.assert_frame_equal(from_file, from_list)
    two = tmp_path / "two.gmt"
    two.write_text("A\tx\tPTPRC\nB\tx\tCD3D\n", encoding="utf-8")
    with pytest.raises(UsageError, match="exactly one gene set. Got 2 sets"):
        immune_stromal_scores(x, immune=two)
    with pytest.raises(DataError, match="Only 2 of the 3 stromal signature genes .* 10 are needed"):
        immune_stromal_scores(x, stromal=["DCN", "LUM", "NOT_A_GENE"])
    with pytest.raises(UsageError, match="'immune' parameter of immune_stromal_scores"):
        immune_stromal_scores(x, immune=42)
