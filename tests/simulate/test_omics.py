"""Simulated omics: determinism, realistic counts, planted signal vs null, IHC/flow/LC-MS."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata, spearmanr

from hccfusion.errors import DataError, UsageError
from hccfusion.simulate.omics import SimulatedOmics, simulate_omics, write_omics
from hccfusion.simulate.omics_genesets import (gene_universe, read_gmt, shipped_gene_sets,
                                               shipped_gmt_files)
from hccfusion.simulate.omics_metabolites import monoisotopic_mass

FACTORS = ("immune", "proliferation", "hypoxia", "wnt")
N_GENES = 1500


def make_latent(n: int = 160, seed: int = 0) -> pd.DataFrame:
    """A latent state shaped like the orchestrator's (WNT more likely when immune is low)."""
    rng = np.random.default_rng(seed)
    immune = rng.normal(size=n)
    center = np.where(np.arange(n) % 3 == 0, "NJ", "WX")
    return pd.DataFrame({
        "patient_id": [f"{c}-{i:04d}" for i, c in enumerate(center, start=1)],
        "center": center,
        "cohort": np.where(rng.random(n) < 0.5, "prospective", "retrospective"),
        "immune": immune, "proliferation": rng.normal(size=n), "hypoxia": rng.normal(size=n),
        "wnt": (rng.normal(size=n) - 0.45 * immune) > 0.72,
    })


@pytest.fixture(scope="module")
def latent() -> pd.DataFrame:
    return make_latent()


@pytest.fixture(scope="module")
def omics(latent) -> SimulatedOmics:
    return simulate_omics(latent=latent, seed=7, n_genes=N_GENES)


def _spearman_rows(matrix: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``matrix`` with ``x`` (NaN for constant rows)."""
    ranks = rankdata(matrix, axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    rx = rankdata(x) - rankdata(x).mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return ranks @ rx / (np.linalg.norm(ranks, axis=1) * np.linalg.norm(rx))


def _factor_of_samples(latent, patient_ids, factor):
    return latent.set_index("patient_id").loc[patient_ids, factor].astype(float).to_numpy()


# --- determinism -------------------------------------------------------------------------------

def test_same_seed_same_tables_whatever_the_row_order(latent, omics):
    again = simulate_omics(latent=latent.sample(frac=1.0, random_state=3), seed=7,
                           n_genes=N_GENES)
    for name in ("samples", "rna_counts", "rna_qc", "ihc", "flow", "metabolomics",
                 "gene_truth", "metabolomics_truth"):
        pd.testing.assert_frame_equal(getattr(omics, name), getattr(again, name))


def test_another_seed_other_counts(latent, omics):
    other = simulate_omics(latent=latent, seed=8, n_genes=N_GENES)
    assert not omics.rna_counts.equals(other.rna_counts)


# --- samples -----------------------------------------------------------------------------------

def test_samples_table_codes_and_who_has_what(latent, omics):
    s = omics.samples
    assert s["sample_id"].is_unique
    assert set(s["kind"]) == {"rna", "ihc", "blood", "flow", "metabolomics"}
    assert set(s["site"]) == {"liver_tumour", "hepatic_artery_blood", "hepatic_vein_blood",
                              "peripheral_blood"}
    cohort = latent.set_index("patient_id")["cohort"]
    blood_like = s[s["kind"].isin(["blood", "flow", "metabolomics"])]
    assert (cohort.loc[blood_like["patient_id"]] == "prospective").all()
    assert (s.loc[s["kind"].isin(["rna", "ihc"]), "site"] == "liver_tumour").all()
    assert s.loc[s["kind"] == "rna", "sample_id"].str.fullmatch(r"[A-Z]{2}-\d{4}-RNA1").all()
    # flow and metabolomics aliquots point to an existing blood draw
    aliquots = s[s["kind"].isin(["flow", "metabolomics"])]
    assert set(aliquots["parent_sample_id"]) <= set(s.loc[s["kind"] == "blood", "sample_id"])
    # RNA for nearly every prospective patient, with some missing or failed
    prospective = cohort[cohort == "prospective"].index
    counted = set(omics.rna_qc.loc[omics.rna_qc["qc_pass"], "patient_id"])
    share = np.mean([p in counted for p in prospective])
    assert 0.75 <= share <= 0.97
    assert (s["timepoint"] == "on_treatment").any()


# --- RNA-seq counts ----------------------------------------------------------------------------

def test_counts_are_non_negative_integers_with_realistic_libraries(omics):
    c = omics.rna_counts
    assert c.shape[0] == N_GENES
    assert all(dtype == np.int64 for dtype in c.dtypes)
    assert (c.to_numpy() >= 0).all()
    depth = omics.rna_qc.loc[omics.rna_qc["qc_pass"], "mapped_reads"]
    assert depth.between(15e6, 60e6).all()
    assert 2.0 <= depth.max() / depth.min() <= 4.0
    library = c.sum(axis=0)
    assert (library > 0.02 * depth.to_numpy()).all()  # a 1,500-gene slice of ~19,000 genes
    failed = omics.rna_qc[~omics.rna_qc["qc_pass"]]
    assert len(failed) > 0 and not set(failed["sample_id"]) & set(c.columns)
    assert (failed["dv200_pct"] < 30).all() and failed["library_size"].isna().all()


def test_counts_are_overdispersed_like_bulk_rna_seq(omics):
    c = omics.rna_counts
    null = omics.gene_truth.set_index("gene").loc[c.index, "planted"].eq(False).to_numpy()
    norm = c / (c.sum(axis=0) / c.sum(axis=0).mean())
    mean, var = norm.mean(axis=1).to_numpy(), norm.var(axis=1).to_numpy()
    high = null & (mean > 100)
    assert high.sum() > 50
    # Poisson would give var ≈ mean; bulk RNA-seq has var ≈ mean + α mean² with α ~ 0.05–0.5
    alpha = (var[high] - mean[high]) / mean[high] ** 2
    assert np.median(var[high] / mean[high]) > 5
    assert 0.05 < np.median(alpha) < 0.5
    # and a wide dynamic range of expression
    assert np.quantile(mean, 0.95) / max(np.quantile(mean, 0.25), 1e-9) > 100


def test_planted_genes_follow_their_factor_and_null_genes_do_not(latent, omics):
    c = omics.rna_counts
    truth = omics.gene_truth.set_index("gene").loc[c.index]
    null = ~truth["planted"].to_numpy()
    # median-of-ratios size factors on the null genes (DESeq2's estimator)
    ref = c[null][(c[null] > 0).all(axis=1)]
    log_ref = np.log(ref)
    size = np.exp(log_ref.sub(log_ref.mean(axis=1), axis=0).median(axis=0))
    norm = np.log1p(c / size)
    pid = omics.rna_qc.set_index("sample_id").loc[c.columns, "patient_id"]
    expressed = (c.mean(axis=1) > 5).to_numpy()
    for factor in FACTORS:
        x = _factor_of_samples(latent, pid, factor)
        rho = _spearman_rows(norm.to_numpy(), x)
        planted = (truth[f"{factor}_log2fc"] != 0).to_numpy()
        assert np.median(rho[planted]) > 0.5, factor
        assert np.nanmean(np.abs(rho[null & expressed]) > 0.3) < 0.05, factor
        assert abs(np.nanmedian(rho[null & expressed])) < 0.1, factor


def test_named_marker_genes_are_planted_on_the_right_factor(omics):
    truth = omics.gene_truth.set_index("gene")
    expected = {"immune": ["CD8A", "GZMB", "PRF1", "CXCL9", "CXCL10", "IDO1", "HLA-DRA", "STAT1"],
                "proliferation": ["MKI67", "TOP2A", "CCNB1"],
                "hypoxia": ["VEGFA", "CA9", "ANGPT2"],
                "wnt": ["AXIN2", "LGR5", "GLUL", "TBX3"]}
    for factor, genes in expected.items():
        assert (truth.loc[genes, f"{factor}_log2fc"] > 0).all(), factor
    for gene in ("COL1A1", "FCGR3B", "CSF1R", "GAPDH"):
        assert truth.loc[gene, "immune_log2fc"] == 0


def test_gene_set_truth_separates_planted_and_null_sets(omics):
    st = omics.gene_set_truth
    assert set(st["factor"]) == set(FACTORS)
    planted = st[st["planted"]]
    assert (planted["fraction_members_loaded"] == 1.0).all()
    by_set = st.groupby("set_name")["planted"].any()
    for null_set in ("MCPCOUNTER_FIBROBLASTS", "MCPCOUNTER_NEUTROPHILS",
                     "MCPCOUNTER_MONOCYTIC_LINEAGE", "MCDERMOTT2018_MYELOID_INFLAMMATION",
                     "AYERS2017_HOUSEKEEPING_11"):
        assert not by_set[null_set]
        assert (st.loc[st["set_name"] == null_set, "fraction_members_loaded"] == 0).all()
    assert by_set["AYERS2017_IFNG_6"] and by_set["WNT_CTNNB1_LIVER_TARGETS"]


def test_genes_are_unique_real_symbols_from_the_shipped_list(omics):
    universe = set(gene_universe())
    genes = omics.rna_counts.index
    assert genes.is_unique and set(genes) <= universe
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)*|C(\d+|X|Y)orf\d+", g) for g in genes)


def test_n_genes_out_of_range_is_refused(latent):
    with pytest.raises(UsageError, match="'n_genes' parameter"):
        simulate_omics(latent=latent, seed=1, n_genes=10)


def test_latent_without_a_factor_is_refused(latent):
    with pytest.raises(UsageError, match="Missing: hypoxia"):
        simulate_omics(latent=latent.drop(columns="hypoxia"), seed=1, n_genes=N_GENES)


# --- gene sets ---------------------------------------------------------------------------------

def test_gmt_files_parse_and_every_member_is_in_the_gene_list():
    universe = set(gene_universe())
    assert len(universe) > 19000
    assert len(shipped_gmt_files()) >= 8
    sets = shipped_gene_sets()
    assert set(sets["gene"]) <= universe
    sizes = sets.groupby("set_name").size()
    assert sizes["AYERS2017_IFNG_6"] == 6 and sizes["AYERS2017_TCELL_INFLAMED_GEP_18"] == 18
    assert sizes["BUFFA2010_HYPOXIA_METAGENE"] == 51 and sizes["TIROSH2016_G2M"] == 54


def test_read_gmt_reads_a_user_file_and_rejects_a_broken_one(tmp_path):
    good = tmp_path / "user.gmt"
    good.write_text("SET_A\thttp://x\tTP53\tMYC\tTP53\nSET_B\tdesc\tCD8A\n", encoding="utf-8")
    assert read_gmt(good) == {"SET_A": ("TP53", "MYC"), "SET_B": ("CD8A",)}
    broken = tmp_path / "broken.gmt"
    broken.write_text("SET_A\tonly-a-description\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1"):
        read_gmt(broken)
    with pytest.raises(UsageError, match="existing GMT file"):
        read_gmt(tmp_path / "absent.gmt")


# --- IHC and flow ------------------------------------------------------------------------------

def test_ihc_follows_immune(latent, omics):
    ihc = omics.ihc
    immune = _factor_of_samples(latent, ihc["patient_id"], "immune")
    assert spearmanr(ihc["cd8_core_per_mm2"], immune)[0] > 0.6
    assert spearmanr(ihc["cd8_margin_per_mm2"], immune)[0] > 0.6
    order = ihc.assign(immune=immune).groupby("immune_phenotype")["immune"].median()
    assert order["inflamed"] > order["excluded"] > order["desert"]
    cps = (ihc["pdl1_pos_tumour_cells"] + ihc["pdl1_pos_lymphocytes"]
           + ihc["pdl1_pos_macrophages"]) / ihc["viable_tumour_cells"]
    assert spearmanr(cps, immune)[0] > 0.4
    assert (ihc["viable_tumour_cells"] < 100).any() and (ihc["viable_tumour_cells"] >= 100).mean() > 0.8
    assert (ihc["pdl1_pos_tumour_cells"] <= ihc["viable_tumour_cells"]).all()


def test_flow_follows_immune_most_in_hepatic_vein_blood(latent, omics):
    flow = omics.flow
    assert (flow["cd4_pct_lymphocytes"] + flow["cd8_pct_lymphocytes"]
            <= flow["cd3_pct_lymphocytes"] + 0.1).all()
    assert (flow["cd3_pct_lymphocytes"] + flow["nk_pct_lymphocytes"]
            + flow["b_pct_lymphocytes"] <= 100.1).all()
    rho = {}
    for site, part in flow[flow["timepoint"] == "baseline"].groupby("site"):
        rho[site] = spearmanr(part["cd8_pct_lymphocytes"],
                              _factor_of_samples(latent, part["patient_id"], "immune"))[0]
    assert rho["hepatic_vein_blood"] > 0.5
    assert rho["hepatic_vein_blood"] > rho["peripheral_blood"] > 0
    pairs = flow[flow["site"] == "peripheral_blood"].pivot(index="patient_id", columns="timepoint",
                                                           values="cd8_pct_lymphocytes").dropna()
    assert len(pairs) >= 10 and (pairs["on_treatment"] > pairs["baseline"]).mean() > 0.6


# --- metabolomics ------------------------------------------------------------------------------

def test_metabolomics_qc_rsd_missingness_and_annotation(omics):
    m, inj = omics.metabolomics, omics.metabolomics_injections.set_index("injection_id")
    truth = omics.metabolomics_truth.drop_duplicates("feature_id").set_index("feature_id")
    qc = m[inj.loc[m.index, "sample_type"].eq("qc").to_numpy()]
    assert len(qc) >= 5
    measured = qc.notna().sum() >= 3
    rsd = (qc.std() / qc.mean())[measured]
    bad = truth.loc[rsd.index, "bad_feature"].to_numpy()
    assert bad.any() and (~bad).any()
    assert (rsd[~bad] < 0.30).mean() > 0.98
    assert (rsd[bad] > 0.30).mean() > 0.95
    missing = m.isna().to_numpy().mean()
    assert 0.05 <= missing <= 0.20
    # missing values concentrate in low-intensity features
    level = np.log(m).median()
    low = level < level.median()
    assert m.loc[:, low].isna().mean().mean() > 2 * m.loc[:, ~low].isna().mean().mean()
    features = omics.metabolomics_features.set_index("name")
    assert {"lactate", "glutamine", "kynurenine", "tryptophan", "glycocholic acid"} <= set(features.index)
    assert features.loc["glucose", "mz"] == pytest.approx(179.0561, abs=1e-3)  # [M-H]-
    assert features.loc["tryptophan", "mz"] == pytest.approx(205.0972, abs=1e-3)  # [M+H]+
    assert set(omics.metabolomics_features["msi_level"]) <= {1, 2, 3, 4}


def test_planted_metabolites_follow_their_factor(latent, omics):
    m, inj = omics.metabolomics, omics.metabolomics_injections.set_index("injection_id")
    samples = inj.loc[m.index, "sample_type"].eq("sample").to_numpy()
    data = np.log(m[samples])
    pid = inj.loc[data.index, "patient_id"]
    truth = omics.metabolomics_truth
    for row in truth[truth["planted"] & truth["name"].notna()].itertuples():
        x = _factor_of_samples(latent, pid, row.factor)
        ok = data[row.feature_id].notna().to_numpy()
        rho = spearmanr(data[row.feature_id][ok], x[ok])[0]
        assert np.sign(rho) == np.sign(row.log2fc) and abs(rho) > 0.2, row.name


def test_monoisotopic_mass_of_known_formulas():
    assert monoisotopic_mass("C6H12O6") == pytest.approx(180.06339, abs=1e-4)
    assert monoisotopic_mass("C3H6O3") == pytest.approx(90.03169, abs=1e-4)


# --- writing -----------------------------------------------------------------------------------

def test_write_omics_round_trips_and_describes_itself(tmp_path, omics):
    paths = write_omics(omics, out_dir=tmp_path)
    manifest = json.loads(paths["manifest"].read_text(encoding="utf-8"))
    assert manifest["seed"] == 7 and manifest["n_genes"] == N_GENES
    for name, entry in manifest["files"].items():
        assert (tmp_path / entry["path"]).is_file(), name
    counts = pd.read_parquet(paths["rna_counts"]).set_index("gene")
    pd.testing.assert_frame_equal(counts, omics.rna_counts)
    samples = pd.read_csv(paths["samples"])
    assert len(samples) == len(omics.samples)
    assert paths["readme"].read_text(encoding="utf-8").startswith("# Simulated omics")
