"""IHC read-outs (PD-L1 TPS/CPS, immune phenotype), the tidy assay table and risk-group
comparisons, with hand-computed examples and a known answer on simulated omics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.assays import FLOW_UNITS, TIDY_COLUMNS, assay_table, compare_assays
from hccfusion.omics.ihc import immune_phenotype, pdl1_scores
from hccfusion.simulate.latent import simulate_latent
from hccfusion.simulate.omics import simulate_omics


def _counts(rows):
    return pd.DataFrame(rows, columns=["sample_id", "viable_tumour_cells",
                                       "pdl1_pos_tumour_cells", "pdl1_pos_lymphocytes",
                                       "pdl1_pos_macrophages"])


def test_tps_cps_worked_examples():
    ihc = _counts([
        ("A", 200, 10, 6, 4),     # TPS 10/200 = 5 %; CPS (10+6+4)/200*100 = 10
        ("B", 150, 100, 60, 30),  # TPS 66.7 %; CPS 190/150*100 = 126.7 -> capped at 100
        ("C", 100, 0, 1, 0),      # exactly 100 cells: evaluable; TPS 0 %, CPS 1
        ("D", 99, 50, 10, 10),    # under 100 viable tumour cells: not evaluable
        ("E", 400, 2, 0, 1),      # TPS 0.5 % (< 1 %), CPS 0.75 (< 1)
    ])
    res = pdl1_scores(ihc)
    np.testing.assert_allclose(res["pdl1_tps_pct"], [5.0, 100 * 100 / 150, 0.0, np.nan, 0.5])
    np.testing.assert_allclose(res["pdl1_cps"], [10.0, 100.0, 1.0, np.nan, 0.75])
    assert res["pdl1_evaluable"].tolist() == [True, True, True, False, True]
    assert res["pdl1_tps_ge_1pct"].tolist() == [True, True, False, pd.NA, False]
    assert res["pdl1_cps_ge_1"].tolist() == [True, True, True, pd.NA, False]
    # the threshold is a setting
    assert pdl1_scores(ihc, min_viable_cells=50)["pdl1_evaluable"].all()


def test_pdl1_named_failures():
    with pytest.raises(DataError, match="sample_id 'X': pdl1_pos_tumour_cells \\(12\\) exceeds "
                                        "viable_tumour_cells \\(10\\)"):
        pdl1_scores(_counts([("ok", 200, 1, 1, 1), ("X", 10, 12, 0, 0)]))
    with pytest.raises(DataError, match="sample_id 'Y': 'pdl1_pos_lymphocytes' must be a count"):
        pdl1_scores(_counts([("Y", 200, 1, -3, 1)]))
    with pytest.raises(DataError, match="lacks column\\(s\\) pdl1_pos_macrophages"):
        pdl1_scores(_counts([("Z", 200, 1, 1, 1)]).drop(columns="pdl1_pos_macrophages"))
    with pytest.raises(UsageError, match="'min_viable_cells' parameter of pdl1_scores must be"):
        pdl1_scores(_counts([("Z", 200, 1, 1, 1)]), min_viable_cells=0)


def test_immune_phenotype_rule():
    ihc = pd.DataFrame({"sample_id": list("abcdef"),
                        "cd8_core_per_mm2": [30.0, 60.0, 60.0, 49.9, 0.0, np.nan],
                        "cd8_margin_per_mm2": [40.0, 100.0, 200.0, 300.0, 49.9, 10.0]})
    # a: both < 50 -> desert; b: core 60 >= 50 and >= 0.4*100 -> inflamed;
    # c: core 60 < 0.4*200 = 80 -> excluded; d: core < 50, margin high -> excluded
    got = immune_phenotype(ihc).tolist()
    assert got[:5] == ["desert", "inflamed", "excluded", "excluded", "desert"]
    assert pd.isna(got[5])
    assert immune_phenotype(ihc, inflamed_core_share=0.25).tolist()[2] == "inflamed"


@pytest.fixture(scope="module")
def cohort():
    latent = simulate_latent(n_patients=200, seed=5, prospective_share=1.0).latent
    omics = simulate_omics(latent=latent, seed=5, n_genes=600, n_metabolomics_features=90)
    lp = latent.set_index("patient_id")["lp_os"]
    groups = (lp > lp.median()).map({True: "high", False: "low"})
    return omics, groups


def test_immune_phenotype_matches_simulator_rule(cohort):
    omics, _ = cohort
    core, margin = omics.ihc["cd8_core_per_mm2"], omics.ihc["cd8_margin_per_mm2"]
    # the simulator classifies unrounded densities; the table holds them to 0.1 cells/mm²
    border = ((core - 50).abs() < 0.1) | ((margin - 50).abs() < 0.1) | (
        (core - 0.4 * margin).abs() < 0.1)
    same = immune_phenotype(omics.ihc) == omics.ihc["immune_phenotype"]
    assert same[~border].all() and (~border).sum() > 150
    assert set(omics.ihc["immune_phenotype"]) == {"inflamed", "excluded", "desert"}


def test_assay_table_layout(cohort):
    omics, _ = cohort
    table = assay_table(ihc=omics.ihc, flow=omics.flow, samples=omics.samples)
    assert tuple(table.columns) == TIDY_COLUMNS
    assert set(table["assay"]) == {"ihc", "flow"}
    assert set(table.loc[table["assay"] == "flow", "site"]) == {
        "hepatic_artery_blood", "hepatic_vein_blood", "peripheral_blood"}
    assert set(table.loc[table["assay"] == "ihc", "site"]) == {"liver_tumour"}
    assert len(table) == 4 * len(omics.ihc) + len(FLOW_UNITS) * len(omics.flow)
    cd8 = table[(table["feature"] == "cd8_core_per_mm2")].set_index("sample_id")["value"]
    pd.testing.assert_series_equal(
        cd8, omics.ihc.set_index("sample_id")["cd8_core_per_mm2"].astype(float),
        check_names=False)
    assert (table.loc[table["feature"] == "cd8_core_per_mm2", "unit"] == "cells/mm²").all()
    # scant cores under 100 viable tumour cells have no TPS
    scant = omics.ihc.loc[omics.ihc["viable_tumour_cells"] < 100, "sample_id"]
    tps = table[table["feature"] == "pdl1_tps_pct"].set_index("sample_id")["value"]
    assert len(scant) > 0 and tps.loc[scant].isna().all()


def test_known_answer_cd8_higher_in_low_risk(cohort):
    omics, groups = cohort
    table = assay_table(ihc=omics.ihc, flow=omics.flow, samples=omics.samples)
    res = compare_assays(table, groups, order=("high", "low"))
    by = res.groups.set_index(["assay", "site", "feature"])
    core = by.loc[("ihc", "liver_tumour", "cd8_core_per_mm2")]
    assert core["median_low"] > core["median_high"]
    assert core["q"] < 0.05
    assert res.n_tests == len(res.groups) == 4 + 3 * len(FLOW_UNITS)
    # one BH family across every assay feature
    np.testing.assert_allclose(res.groups["q"], stats.false_discovery_control(res.groups["p"]))
    # p equals scipy's rank-sum test on the per-patient values
    ihc = omics.ihc.set_index("patient_id")["cd8_core_per_mm2"]
    g = groups.reindex(ihc.index)
    expected = stats.mannwhitneyu(ihc[g == "low"], ihc[g == "high"])
    assert core["p"] == pytest.approx(expected.pvalue, rel=1e-12)


def test_pre_post_paired_on_treatment_cd8_expansion(cohort):
    omics, groups = cohort
    table = assay_table(flow=omics.flow)
    res = compare_assays(table, groups, order=("high", "low")).pre_post
    assert set(res["risk_group"]) == {"all", "high", "low"}
    assert set(res["site"]) == {"peripheral_blood"}  # the only site sampled on treatment
    row = res.set_index(["risk_group", "feature"]).loc[("all", "cd8_pct_lymphocytes")]
    assert row["difference"] > 0 and row["q"] < 0.05
    # equals scipy's signed-rank test on the complete pairs
    pb = omics.flow[omics.flow["site"] == "peripheral_blood"]
    wide = pb.pivot(index="patient_id", columns="timepoint", values="cd8_pct_lymphocytes")
    wide = wide.dropna()
    expected = stats.wilcoxon(wide["on_treatment"], wide["baseline"])
    assert row["p"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert row["n_baseline"] == len(wide)


def test_small_group_reported_not_tested(cohort):
    omics, groups = cohort
    table = assay_table(ihc=omics.ihc)
    ihc_patients = omics.ihc["patient_id"]
    few = pd.Series("low", index=ihc_patients.to_numpy())
    few.iloc[:2] = "high"
    res = compare_assays(table, few, order=("high", "low"))
    assert (res.groups["status"] == "too_few_samples").all()
    assert res.groups["p"].isna().all() and res.n_tests == 0
    assert res.pre_post.empty


def test_compare_assays_named_failures(cohort):
    omics, groups = cohort
    table = assay_table(ihc=omics.ihc)
    doubled = pd.concat([table, table.iloc[:1].assign(sample_id="dup")], ignore_index=True)
    pid = table["patient_id"].iloc[0]
    with pytest.raises(DataError, match=f"patient_id '{pid}' has more than one ihc value of "
                                        "'cd8_core_per_mm2'"):
        compare_assays(doubled, groups)
    with pytest.raises(DataError, match="No assay value at time point 'week_12'"):
        compare_assays(table, groups, timepoint="week_12")
    with pytest.raises(UsageError, match="unknown test 'ttest'"):
        compare_assays(table, groups, test="ttest")
    with pytest.raises(UsageError, match="needs at least one of 'ihc', 'flow' or 'proteins'"):
        assay_table()
    with pytest.raises(DataError, match="The 'flow' table lacks column\\(s\\) site"):
        assay_table(flow=omics.flow.drop(columns="site"))


def test_protein_panel_passes_through(cohort):
    _, groups = cohort
    patients = groups.index[:40]
    rng = np.random.default_rng(0)
    il6 = rng.lognormal(1.0, 0.4, 40) * np.where(groups.loc[patients] == "high", 2.0, 1.0)
    proteins = pd.DataFrame({"sample_id": [f"{p}-S" for p in patients], "patient_id": patients,
                             "site": "peripheral_blood", "timepoint": "baseline",
                             "feature": "il6_pg_ml", "value": np.log2(il6),
                             "unit": "log2 pg/mL"})
    res = compare_assays(assay_table(proteins=proteins), groups, test="t",
                         order=("high", "low")).groups
    assert res.loc[0, "assay"] == "protein" and res.loc[0, "unit"] == "log2 pg/mL"
    g = groups.loc[patients].to_numpy()
    expected = stats.ttest_ind(np.log2(il6)[g == "low"], np.log2(il6)[g == "high"],
                               equal_var=False)
    assert res.loc[0, "p"] == pytest.approx(expected.pvalue, rel=1e-12)
