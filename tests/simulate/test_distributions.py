"""A 1,000-patient cohort lands in the ranges of domain.md §4–§5 (seeded, so deterministic).

HRs are fitted with lifelines' CoxPHFitter on the observed data; medians with its
KaplanMeierFitter. Ranges are the domain's, widened only where the domain quotes a single
value (CRAFITY 2.0 / 3.6, responders ≈ 0.5). Baseline ranges describe the study population, so
they are computed on the eligible patients (the planted screen failures, ≈ 8 %, are left out).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter

MONTH = 30.4375


def _median(time, event):
    return KaplanMeierFitter().fit(np.asarray(time) / MONTH, np.asarray(event)).median_survival_time_


def test_baseline_distributions(truth_large):
    lat = truth_large.latent[truth_large.latent["screen_failure"] == ""]
    assert 0.55 <= (lat["bclc"] == "C").mean() <= 0.70
    assert 0.25 <= (lat["bclc"] == "B").mean() <= 0.40
    assert 0.03 <= (lat["bclc"] == "A").mean() <= 0.10
    assert 0.80 <= (lat["etiology"] == "HBV").mean() <= 0.90
    assert 0.85 <= (lat["sex"] == "M").mean() <= 0.90
    assert 0.35 <= (lat["pvtt_class"] > 0).mean() <= 0.55
    assert 0.10 <= (lat["pvtt_class"] == 4).mean() <= 0.17
    assert 0.15 <= lat["ehs"].mean() <= 0.30
    assert 0.40 <= (lat["afp_ng_ml"] >= 400).mean() <= 0.50
    assert 0.25 <= (lat["crp_mg_l"] >= 10).mean() <= 0.40
    assert 80 <= lat["largest_diameter_mm"].median() <= 90
    assert 0.60 <= (lat["ecog"] == 0).mean() <= 0.75
    assert 55 <= lat["age_years"].median() <= 58


def test_screen_failures_are_a_realistic_share(truth_large):
    share = (truth_large.latent["screen_failure"] != "").mean()
    assert 0.06 <= share <= 0.10


def test_bclc_follows_ecog_pvtt_ehs(truth_large):
    lat = truth_large.latent
    terminal = lat["ecog"] >= 3  # planted ECOG 3 screen failures: BCLC D (BCLC 2022)
    assert terminal.any() and (lat.loc[terminal, "bclc"] == "D").all()
    assert (lat.loc[~terminal, "bclc"] != "D").all()
    lat = lat[~terminal]
    must_c = (lat["ecog"] >= 1) | (lat["pvtt_class"] > 0) | lat["ehs"] | lat["hvtt"]
    assert (lat.loc[must_c, "bclc"] == "C").all()
    assert (lat.loc[~must_c, "bclc"] != "C").all()


def test_response_rates(truth_large):
    retro = truth_large.outcomes[truth_large.latent["cohort"] == "retrospective"]
    assert 0.55 <= retro["objective_response"].mean() <= 0.65
    assert 0.10 <= (retro["bor_mrecist"] == "CR").mean() <= 0.15
    assert 0.10 <= (retro["bor_mrecist"] == "PD").mean() <= 0.15
    assert 0.35 <= retro["objective_response_recist"].mean() <= 0.45


def test_survival_medians_and_follow_up(truth_large):
    o = truth_large.outcomes
    assert 20 <= _median(o["os_days"], o["os_event"]) <= 24
    assert 9 <= _median(o["pfs_days"], o["pfs_event"]) <= 11
    assert 0.05 <= o["lost_to_followup"].mean() <= 0.10


def _cox(df: pd.DataFrame) -> dict[str, float]:
    fit = CoxPHFitter().fit(df[df["T"] > 0], "T", "E")
    return np.exp(fit.params_).to_dict()


def test_prognostic_hazard_ratios(truth_large):
    lat, o = truth_large.latent, truth_large.outcomes
    df = pd.DataFrame({"T": o["os_days"], "E": o["os_event"],
                       "crafity1": (lat["crafity"] == 1).astype(int),
                       "crafity2": (lat["crafity"] == 2).astype(int),
                       "pvtt": (lat["pvtt_class"] > 0).astype(int), "ehs": lat["ehs"].astype(int)})
    hr = _cox(df)
    assert 1.5 <= hr["crafity1"] <= 2.6  # Scheiner 2022: 2.0
    assert 2.8 <= hr["crafity2"] <= 4.8  # Scheiner 2022: 3.6
    assert 1.5 <= hr["pvtt"] <= 2.4  # domain.md §5: 1.6–2.0
    assert 1.4 <= hr["ehs"] <= 2.0  # domain.md §5: 1.5–1.9
    pfs = pd.DataFrame({"T": o["pfs_days"], "E": o["pfs_event"],
                        "pvtt": df["pvtt"], "ehs": df["ehs"]})
    hr_pfs = _cox(pfs)
    assert 1.5 <= hr_pfs["pvtt"] <= 2.2 and 1.5 <= hr_pfs["ehs"] <= 2.1


def test_responders_landmark_hazard_ratio(truth_large):
    o, ex = truth_large.outcomes, truth_large.exams
    landmark = 90
    responded = set(ex.loc[ex["mrecist"].isin(["CR", "PR"]) & (ex["day"] <= landmark), "patient_id"])
    alive = o[o["os_days"] > landmark]
    df = pd.DataFrame({"T": alive["os_days"] - landmark, "E": alive["os_event"],
                       "responder": alive["patient_id"].isin(responded).astype(int)})
    assert 0.4 <= _cox(df)["responder"] <= 0.7  # domain.md §5: ≈ 0.5 (0.41–0.78)


def test_external_centre_differs(truth_large):
    lat, o = truth_large.latent, truth_large.outcomes
    nj, wx = lat["center"] == "NJ", lat["center"] == "WX"
    assert (lat.loc[nj, "ia_modality"] == "HAIC").mean() > (lat.loc[wx, "ia_modality"] == "HAIC").mean() + 0.15
    assert (lat.loc[nj, "pvtt_class"] > 0).mean() > (lat.loc[wx, "pvtt_class"] > 0).mean()
    assert _median(o.loc[nj, "os_days"], o.loc[nj, "os_event"]) < _median(o.loc[wx, "os_days"], o.loc[wx, "os_event"])


def test_latent_biology_carries_signal_beyond_the_crf(truth_large):
    """Immune/proliferation/WNT predict OS after adjusting for the clinical variables."""
    lat, o = truth_large.latent, truth_large.outcomes
    df = pd.DataFrame({"T": o["os_days"], "E": o["os_event"], "crafity": lat["crafity"],
                       "pvtt": (lat["pvtt_class"] > 0).astype(int), "ehs": lat["ehs"].astype(int),
                       "ecog": (lat["ecog"] > 0).astype(int), "immune": lat["immune"],
                       "proliferation": lat["proliferation"]})
    hr = _cox(df)
    assert hr["immune"] < 0.85 and hr["proliferation"] > 1.1
    r = pd.DataFrame({"y": truth_large.outcomes["objective_response"], "immune": lat["immune"]})
    assert r.groupby("y")["immune"].mean().diff().iloc[-1] > 0.3
