"""Tests for hccfusion.endpoints.agreement (domain.md §1.11, §7.8)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from scipy.stats import t as t_dist

from hccfusion.endpoints.agreement import (
    bland_altman,
    cohen_kappa,
    icc_2_1,
    koo_li_band,
    landis_koch_band,
    mdt_summary,
    paired_measurements,
    reader_disagreements,
    response_agreement,
)
from hccfusion.errors import DataError, UsageError

ORDER = ("CR", "PR", "SD", "PD")


def _pairs_from_table(table, cats):
    r1, r2 = [], []
    for i, a in enumerate(cats):
        for j, b in enumerate(cats):
            r1 += [a] * int(table[i][j])
            r2 += [b] * int(table[i][j])
    return r1, r2


def _delta_method_var(counts, weights):
    """Independent check of the Fleiss–Cohen–Everitt variance: the delta method with a
    finite-difference gradient of κ(p) and the multinomial covariance (diag(p) − pp') / n."""
    counts = np.asarray(counts, float)
    n, k = counts.sum(), counts.shape[0]

    def kappa(pvec):
        p = pvec.reshape(k, k)
        po = (weights * p).sum()
        pe = (weights * np.outer(p.sum(1), p.sum(0))).sum()
        return (po - pe) / (1 - pe)

    p = (counts / n).ravel()
    h = 1e-6
    grad = np.array([(kappa(p + h * e) - kappa(p - h * e)) / (2 * h) for e in np.eye(k * k)])
    return grad @ ((np.diag(p) - np.outer(p, p)) / n) @ grad


# ----------------------------------------------------------------------------------- kappa
def test_section_7_8_responder_kappa_vector():
    """§7.8: agree responders 50, agree non-responders 35, discordant 8 and 7 →
    p_o 0.85, p_e 0.5112, κ = 0.693 (substantial)."""
    r1, r2 = _pairs_from_table([[50, 8], [7, 35]], ("yes", "no"))
    res = cohen_kappa(rater1=r1, rater2=r2, categories=("yes", "no"))
    assert res.p_observed == pytest.approx(0.85)
    assert res.p_expected == pytest.approx(0.5112)
    assert round(res.kappa, 3) == 0.693
    assert res.band == "substantial" and res.n == 100
    # SE by hand with Fleiss (1981, eq. 13.15), written in a different form:
    # p11=.50 p12=.08 p21=.07 p22=.35; rows .58/.42, columns .57/.43.
    kap, pe = (0.85 - 0.5112) / (1 - 0.5112), 0.5112
    a = (0.50 * (1 - (0.58 + 0.57) * (1 - kap)) ** 2 + 0.35 * (1 - (0.42 + 0.43) * (1 - kap)) ** 2)
    b = (1 - kap) ** 2 * (0.08 * (0.57 + 0.42) ** 2 + 0.07 * (0.43 + 0.58) ** 2)
    c = (kap - pe * (1 - kap)) ** 2
    se = np.sqrt((a + b - c) / (100 * (1 - pe) ** 2))
    assert res.se == pytest.approx(se, rel=1e-10)
    z = norm.ppf(0.975)
    assert (res.ci_low, res.ci_high) == pytest.approx((kap - z * se, kap + z * se))
    assert res.se == pytest.approx(np.sqrt(_delta_method_var([[50, 8], [7, 35]], np.eye(2))),
                                   rel=1e-4)


def test_linear_weighted_kappa_hand_example():
    """4×4 table (rows R1, columns R2, order CR/PR/SD/PD), n = 24:
    [[2,1,0,0],[1,5,2,0],[0,1,6,1],[0,0,1,4]]; rows 3/8/8/5, columns 3/7/9/5.
    With disagreement weights v = |i − j|: Σ v·n_ij = 7, Σ v·r_i·c_j = 120+176+144+160 = 600,
    κ_w = 1 − (7/24)/(600/576) = 1 − 168/600 = 0.72."""
    table = [[2, 1, 0, 0], [1, 5, 2, 0], [0, 1, 6, 1], [0, 0, 1, 4]]
    r1, r2 = _pairs_from_table(table, ORDER)
    res = cohen_kappa(rater1=r1, rater2=r2, categories=ORDER, weights="linear")
    assert res.kappa == pytest.approx(0.72)
    idx = np.arange(4)
    w = 1 - np.abs(idx[:, None] - idx[None, :]) / 3
    assert res.se == pytest.approx(np.sqrt(_delta_method_var(table, w)), rel=1e-4)
    # unweighted on the same table: p_o = 17/24, p_e = 162/576
    plain = cohen_kappa(rater1=r1, rater2=r2, categories=ORDER)
    assert plain.kappa == pytest.approx((17 / 24 - 162 / 576) / (1 - 162 / 576))


def test_ne_pairs_are_excluded_and_counted():
    res = cohen_kappa(rater1=["CR", "PR", "NE", "SD", None], rater2=["CR", "SD", "PD", "SD", "PD"],
                      categories=ORDER, weights="linear")
    assert (res.n, res.n_excluded) == (3, 2)


@settings(max_examples=80, deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from(ORDER + ("NE",)),
                                st.sampled_from(ORDER + ("NE",))), min_size=2, max_size=40),
       weights=st.sampled_from([None, "linear"]))
def test_kappa_symmetric_under_reader_swap(pairs, weights):
    r1, r2 = [a for a, _ in pairs], [b for _, b in pairs]
    try:
        ab = cohen_kappa(rater1=r1, rater2=r2, categories=ORDER, weights=weights)
    except DataError:
        assume(False)
    ba = cohen_kappa(rater1=r2, rater2=r1, categories=ORDER, weights=weights)
    assert ba.kappa == pytest.approx(ab.kappa, abs=1e-12)
    assert ba.se == pytest.approx(ab.se, abs=1e-6)  # SE ≈ sqrt(tiny variance): float cancellation
    assert ab.kappa <= 1 + 1e-12


def test_kappa_failures_and_bands():
    with pytest.raises(UsageError, match="'weights' parameter of cohen_kappa"):
        cohen_kappa(rater1=["CR"], rater2=["CR"], categories=ORDER, weights="quadratic")
    with pytest.raises(UsageError, match="same length"):
        cohen_kappa(rater1=["CR"], rater2=[], categories=ORDER)
    with pytest.raises(DataError, match="chance agreement is 1"):
        cohen_kappa(rater1=["SD", "SD"], rater2=["SD", "SD"], categories=ORDER)
    with pytest.raises(DataError, match="no pair"):
        cohen_kappa(rater1=["NE"], rater2=["NE"], categories=ORDER)
    assert [landis_koch_band(k) for k in (-0.1, 0.0, 0.2, 0.41, 0.6, 0.61, 0.8, 0.81, 1.0)] == [
        "poor", "slight", "slight", "moderate", "moderate", "substantial", "substantial",
        "almost perfect", "almost perfect"]


def _timepoints(pairs):
    """Follow-up rows from (patient, exam, R1 category, R2 category)."""
    rows = []
    for pid, exam, a, b in pairs:
        for reader, resp in (("R1", a), ("R2", b)):
            if resp is not None:
                rows.append(dict(patient_id=pid, exam_id=exam, reader=reader, criterion="mrecist",
                                 overall_response=resp, is_baseline=False))
    return pd.DataFrame(rows)


def test_response_agreement_hand_values_and_bootstrap():
    """Pairs PR/PR, CR/CR, SD/SD, PD/PD, PR/SD, SD/PD, NE/PD, SD/NE.
    Responder: a=2, b=1, c=0, d=5 → p_o 7/8, p_e 36/64, κ = 5/7.
    Weighted (NE pairs out, n = 6): Σ v n = 2, Σ v r c = 42 → κ_w = 1 − (2/6)/(42/36) = 5/7."""
    cats = [("PR", "PR"), ("CR", "CR"), ("SD", "SD"), ("PD", "PD"), ("PR", "SD"), ("SD", "PD"),
            ("NE", "PD"), ("SD", "NE")]
    tp = _timepoints([(f"P{i // 2}", f"E{i}", a, b) for i, (a, b) in enumerate(cats)])
    tp = pd.concat([tp, tp.iloc[:2].assign(criterion="recist11", overall_response="PD"),
                    tp.iloc[:2].assign(exam_id="B0", overall_response="baseline",
                                       is_baseline=True)])
    out = response_agreement(responses=tp, n_boot=200, seed=7).set_index("measure")
    assert out.loc["responder", "kappa"] == pytest.approx(5 / 7)
    assert out.loc["responder", "p_expected"] == pytest.approx(36 / 64)
    assert out.loc["weighted_crprsdpd", "kappa"] == pytest.approx(5 / 7)
    assert (out.loc["weighted_crprsdpd", "n"], out.loc["weighted_crprsdpd", "n_excluded"]) == (6, 2)
    assert out.loc["responder", "n_patients"] == 4
    assert 0 < out.loc["responder", "n_boot_used"] <= 200
    again = response_agreement(responses=tp, n_boot=200, seed=7)
    assert again["boot_ci_low"].tolist() == out["boot_ci_low"].tolist()
    assert (out["boot_ci_low"] <= out["boot_ci_high"]).all()
    no_boot = response_agreement(responses=tp)
    assert no_boot["boot_ci_low"].isna().all()


def test_response_agreement_on_a_bor_table():
    bor = pd.DataFrame({"patient_id": ["P1", "P1", "P2", "P2", "P3", "P3"],
                        "reader": ["R1", "R2"] * 3, "criterion": "mrecist",
                        "best_response": ["PR", "PR", "SD", "PD", "PD", "PD"]})
    out = response_agreement(responses=bor).set_index("measure")
    assert out.loc["responder", "kappa"] == pytest.approx(1.0)
    with pytest.raises(DataError, match="rated by both"):
        response_agreement(responses=bor, criterion="recist11")


# ----------------------------------------------------------------------------- MDT flags
def test_reader_disagreements_and_mdt_summary():
    tp = _timepoints([("P1", "E1", "PR", "SD"), ("P1", "E2", "PD", "PD"),
                      ("P2", "F1", "SD", None)])
    base = _timepoints([("P1", "E0", "baseline", "baseline"), ("P2", "F0", "baseline", "baseline")])
    mdt = _timepoints([("P1", "E1", "PR", None)]).assign(reader="MDT")
    tp = pd.concat([tp, base.assign(is_baseline=True), mdt])
    reads = pd.DataFrame({
        "patient_id": ["P1"] * 4 + ["P2"] * 5,
        "exam_id": ["E0"] * 4 + ["F0"] * 5,
        "reader": ["R1", "R1", "R2", "R2", "R1", "R1", "R2", "R2", "MDT"],
        "lesion_id": ["L1", "L2", "L2", "L1", "L1", "L2", "L1", "L3", "L1"],
        "kind": "target"})
    d = reader_disagreements(timepoints=tp, lesion_reads=reads).set_index("exam_id")
    assert d["needs_mdt"].to_dict() == {"E0": False, "E1": True, "E2": False, "F0": True,
                                        "F1": True}
    assert d.loc["E1", "category_disagree"] and d.loc["E1", "mdt_recorded"]
    assert d.loc["F0", "target_selection_disagree"] and d.loc["F0", "mdt_recorded"]
    assert d.loc["F1", "single_reader"] and not d.loc["F1", "mdt_recorded"]
    s = mdt_summary(disagreements=d.reset_index())
    assert (s.n_timepoints, s.n_needing_mdt, s.n_unresolved) == (5, 3, 1)
    assert s.pct_needing_mdt == pytest.approx(60.0)
    assert (s.n_baselines, s.n_target_sets_identical) == (2, 1)
    assert s.target_selection_concordance == 0.5
    assert s.mean_target_jaccard == pytest.approx((1 + 1 / 3) / 2)


# ------------------------------------------------------------------------------- ICC / BA
def test_icc_shrout_fleiss_published_example():
    """Shrout & Fleiss (1979) table 2: 6 targets × 4 judges; published ICC(2,1) = 0.29;
    F = 11.03 on (5, 15) and the McGraw–Wong CI 0.019–0.76 as printed by R psych::ICC."""
    x = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    res = icc_2_1(ratings=x)
    assert round(res.icc, 2) == 0.29
    assert (res.df1, res.df2) == (5, 15) and round(res.f_value, 2) == 11.03
    assert round(res.ci_low, 3) == 0.019 and round(res.ci_high, 2) == 0.76
    assert res.band == "poor"


def test_icc_hand_anova_small_matrix():
    """x = [[1,2],[3,3],[5,7]]: grand mean 3.5; row means 1.5/3/6 → SSR = 2·(4+.25+6.25) = 21;
    column means 3/4 → SSC = 3·(.25+.25) = 1.5; SST = 23.5 → SSE = 1. MSR = 10.5, MSC = 1.5,
    MSE = 0.5; ICC = 10 / (10.5 + 0.5 + 2·1/3) = 6/7; F = 21 on (2, 2), p = 1/(1+21)."""
    res = icc_2_1(ratings=[[1, 2], [3, 3], [5, 7], [np.nan, 4]])
    assert (res.ms_rows, res.ms_cols, res.ms_error) == pytest.approx((10.5, 1.5, 0.5))
    assert res.icc == pytest.approx(6 / 7)
    assert res.f_value == pytest.approx(21) and res.p_value == pytest.approx(1 / 22)
    assert res.n_excluded == 1 and res.ci_low < res.icc < res.ci_high
    swapped = icc_2_1(ratings=[[2, 1], [3, 3], [7, 5]])
    assert swapped.icc == pytest.approx(res.icc)
    assert (swapped.ci_low, swapped.ci_high) == pytest.approx((res.ci_low, res.ci_high))


def test_icc_failures_and_bands():
    with pytest.raises(UsageError, match="one column per rater"):
        icc_2_1(ratings=[1, 2, 3])
    with pytest.raises(DataError, match="at least 2 subjects"):
        icc_2_1(ratings=[[1, 2]])
    assert [koo_li_band(v) for v in (0.4, 0.5, 0.74, 0.75, 0.9, 0.95)] == [
        "poor", "moderate", "moderate", "good", "excellent", "excellent"]


def test_bland_altman_hand_example():
    """d = [−2, 2, −3, −1]: bias −1, SS about the mean 14, s = √(14/3); LoA −1 ± 1.96 s;
    bias CI ± t(.975, 3)·s/2; each limit ± t(.975, 3)·√(3 s²/4)."""
    res = bland_altman(first=[10, 20, 30, 40, np.nan], second=[12, 18, 33, 41, 5])
    s, tq, z = np.sqrt(14 / 3), t_dist.ppf(0.975, 3), norm.ppf(0.975)
    assert res.n == 4 and res.bias == pytest.approx(-1) and res.sd_diff == pytest.approx(s)
    assert (res.loa_low, res.loa_high) == pytest.approx((-1 - z * s, -1 + z * s))
    assert (res.bias_ci_low, res.bias_ci_high) == pytest.approx((-1 - tq * s / 2,
                                                                 -1 + tq * s / 2))
    half = tq * np.sqrt(3 * s**2 / 4)
    assert res.loa_high_ci == pytest.approx((-1 + z * s - half, -1 + z * s + half))
    with pytest.raises(UsageError, match="equal length"):
        bland_altman(first=[1, 2], second=[1])


def test_paired_measurements_lesion_and_exam_level():
    reads = pd.DataFrame({
        "patient_id": "P1", "exam_id": ["E0"] * 5,
        "reader": ["R1", "R1", "R2", "R2", "R2"],
        "lesion_id": ["L1", "L2", "L1", "L3", "N1"],
        "kind": ["target", "target", "target", "target", "non_target"],
        "viable_diameter_mm": [50.0, 30.0, 48.0, 25.0, 99.0]})
    lesion = paired_measurements(lesion_reads=reads)
    assert lesion[["lesion_id", "R1", "R2"]].values.tolist() == [["L1", 50.0, 48.0]]
    exam = paired_measurements(lesion_reads=reads, level="exam")
    assert exam[["R1", "R2"]].values.tolist() == [[80.0, 73.0]]
    with pytest.raises(UsageError, match="'level' parameter"):
        paired_measurements(lesion_reads=reads, level="patient")
