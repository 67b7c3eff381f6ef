"""Baseline draws of the synthetic cohort: latent biology, baseline clinical facts and the true
linear predictors (docs/simulator_contract.md, ``latent`` table).

Each patient's draws come from its own stream (:mod:`.seeding`): a fixed-size block of normals
and uniforms, then vectorised transforms. Distributions follow domain.md §4 (sources quoted
beside each number); effect sizes follow domain.md §5.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from hccfusion.simulate.centers import CenterProfile
from hccfusion.simulate.screening import draw_reasons, plant_baseline
from hccfusion.simulate.seeding import STAGE_LATENT, patient_rng

N_NORMAL = 32
N_UNIFORM = 16

#: Log hazard ratios for OS (domain.md §5): CRAFITY 1 vs 0 = 2.0, 2 vs 0 = 3.6 (Scheiner 2022)
#: as AFP >= 100 and CRP >= 10 mg/L terms plus a negative interaction; PVTT 1.6–2.0 (Vp4 ≈ 2.5);
#: EHS 1.5–1.9; ECOG 1–2 1.3–1.6; ALBI/liver function 1.4–1.8 per grade; diameter 1.03–1.06
#: per cm. Conditional effects are set a little above the published (marginal) HRs because the
#: latent biology is not in a fitted clinical Cox model, which attenuates them.
OS_EFFECTS = {"afp100": 0.62, "crp10": 0.62, "crafity_both": -0.12, "pvtt": 0.25, "vp4": 0.30,
              "ehs": 0.30, "ecog": 0.30, "liver": 0.25, "diameter_cm": 0.03, "immune": -0.30,
              "proliferation": 0.20, "hypoxia": 0.15, "wnt": 0.15}
#: Log hazard ratios for progression (same sources; Yang 2023 PFS HR PVTT 1.60, EHS 1.85).
PFS_EFFECTS = {"afp100": 0.35, "crp10": 0.30, "pvtt": 0.30, "ehs": 0.45, "ecog": 0.15,
               "liver": 0.10, "diameter_cm": 0.02, "immune": -0.25, "proliferation": 0.25,
               "hypoxia": 0.20, "wnt": 0.25}
#: Logit of mRECIST objective response: immune-inflamed tumours respond to PD-1; WNT-activated
#: (immune-cold), proliferative, hypoxic and bulky tumours less (domain.md §8.1 hypotheses);
#: intercept calibrated to ORR 55–65 % (domain.md §5).
RESPONSE_EFFECTS = {"intercept": 0.80, "immune": 0.75, "burden": -0.35, "proliferation": -0.35,
                    "hypoxia": -0.25, "wnt": -0.70, "vp34": -0.35, "ehs": -0.30,
                    "haic_pvtt": 0.35, "lenvatinib": 0.15}

TKI_OTHER = ("donafenib", "apatinib", "sorafenib", "regorafenib")
TKI_OTHER_P = (0.45, 0.30, 0.15, 0.10)
PD1_AGENTS = ("camrelizumab", "sintilimab", "tislelizumab", "toripalimab", "pembrolizumab")
PD1_P = (0.35, 0.30, 0.20, 0.10, 0.05)
ETIOLOGIES = ("HBV", "HCV", "alcohol", "MASLD", "other")
ETIOLOGY_P = (0.85, 0.03, 0.05, 0.04, 0.03)  # domain.md §4: HBV 80–90 %, HCV 2–5 %
#: PVTT classes Vp0..Vp4 (domain.md §4: any 35–55 %, Vp4 10–15 %), at a zero centre shift.
PVTT_P = (0.58, 0.04, 0.09, 0.16, 0.13)


def _pick(u: np.ndarray, options: tuple[str, ...], p: tuple[float, ...]) -> np.ndarray:
    idx = np.searchsorted(np.cumsum(p), u, side="right").clip(0, len(options) - 1)
    return np.asarray(options, dtype=object)[idx]


def _block(seed: int, center_index: int, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.empty((len(numbers), N_NORMAL))
    u = np.empty((len(numbers), N_UNIFORM))
    for i, number in enumerate(numbers):
        rng = patient_rng(seed, stage=STAGE_LATENT, center_index=center_index, number=int(number))
        z[i] = rng.standard_normal(N_NORMAL)
        u[i] = rng.random(N_UNIFORM)
    return z, u


def draw_center(*, profile: CenterProfile, center_index: int, numbers: np.ndarray,
                prospective: np.ndarray, seed: int, retro_window: tuple[dt.date, dt.date],
                pro_window: tuple[dt.date, dt.date], cutoff: dt.date,
                screen_failure_share: float) -> pd.DataFrame:
    """Baseline latent state and clinical facts of the patients ``numbers`` of one centre.

    A share ``screen_failure_share`` of them gets one planted screen failure
    (:mod:`.screening`), drawn from uniforms of the same per-patient block that no other draw
    uses, so eligible patients are the same whatever the share.
    """
    z, u = _block(seed, center_index, numbers)
    c = profile
    # Index date T0, uniform over the cohort's accrual window.
    window = np.where(prospective[:, None], np.array([_ord(pro_window)]), np.array([_ord(retro_window)]))
    t0_ord = np.floor(window[:, 0] + u[:, 6] * (window[:, 1] - window[:, 0] + 1)).astype(int)
    screen_failure = draw_reasons(u[:, 7], u[:, 8], prospective, share=screen_failure_share)
    burden = z[:, 0] + c.burden_shift
    liver = z[:, 1]
    immune = z[:, 2]
    wnt = (0.9 * z[:, 5] - 0.45 * immune) > 0.72  # ≈ 24 % WNT/β-catenin activated
    proliferation = 0.85 * z[:, 3] + 0.3 * burden + 0.2 * wnt
    hypoxia = 0.8 * z[:, 4] + 0.35 * burden
    pvtt_liab = 0.4 * burden + 0.2 * proliferation + 0.88 * z[:, 6] + c.pvtt_shift
    cuts = norm.ppf(np.cumsum(PVTT_P)[:-1]) * 1.02
    pvtt = np.searchsorted(cuts, pvtt_liab)
    ehs = (0.45 * burden + 0.3 * proliferation + 0.85 * z[:, 7] + c.ehs_shift) > 0.78  # ≈ 22 %
    hvtt = (0.6 * (pvtt >= 3) + z[:, 17]) > 1.75  # 5–15 % (domain.md §4)
    # Age: median 55–58, IQR 48–65 (domain.md §4); inclusion 18–80.
    age = np.clip(np.round(57 + 11.5 * z[:, 8]), 24, 80).astype(int)
    male = u[:, 0] < 0.87  # male 85–90 %
    etiology = _pick(u[:, 1], ETIOLOGIES, ETIOLOGY_P)
    ecog_liab = 0.3 * burden + 0.25 * liver + 0.9 * z[:, 13]
    ecog = np.where(ecog_liab < 0.47, 0, np.where(ecog_liab < 1.85, 1, 2))  # 0 ≈ 68 %, 2 ≈ 3 %
    planted = plant_baseline(screen_failure, u[:, 9], u[:, 10], prospective=prospective,
                             age=age, ecog=ecog, t0_ord=t0_ord, cutoff=cutoff)
    age, ecog, t0_ord = planted["age"], planted["ecog"], planted["t0_ord"]
    # Largest diameter: median 80–90 mm, IQR 50–120 (domain.md §4).
    diameter = np.clip(np.exp(np.log(84.0) + 0.55 * burden + 0.25 * z[:, 14]), 12.0, 240.0).round(0)
    # Unresectable tumours without macrovascular invasion or spread are mostly multinodular
    # (BCLC B), which keeps BCLC A at 3–10 % (domain.md §4).
    no_macro = (pvtt == 0) & ~ehs & ~hvtt & (ecog == 0)
    n_liab = 0.4 * burden + 0.8 * z[:, 15] + 1.3 * no_macro
    # Single 30–45 %, >= 4 30–40 % (domain.md §4); counts above 10 are written as ">10".
    n_true = np.where(n_liab < -0.05, 1, np.where(n_liab < 0.3, 2, np.where(n_liab < 0.75, 3,
                      4 + np.floor(np.exp(0.9 * z[:, 16] + 0.6)).astype(int))))
    n_true = np.clip(n_true, 1, 15)
    bclc = np.where((ecog >= 1) | (pvtt > 0) | ehs | hvtt, "C",
                    np.where(n_true == 1, "A",
                             np.where((n_true <= 3) & (diameter <= 30), "A", "B")))
    bclc = np.where(ecog >= 3, "D", bclc)  # BCLC 2022: ECOG 3–4 is terminal stage
    # Labs (domain.md §4): AFP >= 400 in 40–50 %; CRP >= 10 mg/L in 25–40 %; albumin 38–40 ± 5
    # g/L; bilirubin median 14–18 µmol/L; INR median 1.05–1.10; platelets median 140–170.
    afp = np.clip(np.exp(np.log(250.0) + 1.1 * proliferation + 0.45 * burden + 2.3 * z[:, 9]),
                  0.8, 9.5e5)
    crp = np.clip(np.exp(np.log(5.2) + 0.35 * burden + 0.25 * hypoxia + 0.95 * z[:, 10]), 0.2, 300)
    albumin = np.clip(40.0 - 3.2 * liver + 3.5 * z[:, 11], 22.0, 55.0)
    bilirubin = np.clip(np.exp(np.log(15.5) + 0.35 * liver + 0.35 * z[:, 12]), 4.0, 150.0)
    weight = np.clip(np.where(male, 66.0, 56.0) + 9.0 * z[:, 18], 38.0, 110.0).round(1)
    haic = u[:, 2] < expit(c.haic_logit + 0.9 * (pvtt >= 2) + 0.4 * burden)
    lenvatinib = u[:, 3] < c.lenvatinib_share
    tki = np.where(lenvatinib, "lenvatinib", _pick(u[:, 4], TKI_OTHER, TKI_OTHER_P))
    pd1 = _pick(u[:, 5], PD1_AGENTS, PD1_P)
    t0 = pd.to_datetime([dt.date.fromordinal(int(o)) for o in t0_ord])

    crafity = (afp >= 100).astype(int) + (crp >= 10).astype(int)
    diameter_cm = diameter / 10.0
    e = OS_EFFECTS
    lp_os_base = (e["afp100"] * (afp >= 100) + e["crp10"] * (crp >= 10)
                  + e["crafity_both"] * (crafity == 2) + e["pvtt"] * (pvtt > 0) + e["vp4"] * (pvtt == 4)
                  + e["ehs"] * ehs + e["ecog"] * (ecog >= 1) + e["liver"] * liver
                  + e["diameter_cm"] * (diameter_cm - 8.0) + e["immune"] * immune
                  + e["proliferation"] * proliferation + e["hypoxia"] * hypoxia + e["wnt"] * wnt)
    f = PFS_EFFECTS
    lp_pfs_base = (f["afp100"] * (afp >= 100) + f["crp10"] * (crp >= 10) + f["pvtt"] * (pvtt > 0)
                   + f["ehs"] * ehs + f["ecog"] * (ecog >= 1) + f["liver"] * liver
                   + f["diameter_cm"] * (diameter_cm - 8.0) + f["immune"] * immune
                   + f["proliferation"] * proliferation + f["hypoxia"] * hypoxia + f["wnt"] * wnt)
    r = RESPONSE_EFFECTS
    p_response = expit(r["intercept"] + r["immune"] * immune + r["burden"] * burden
                       + r["proliferation"] * proliferation + r["hypoxia"] * hypoxia + r["wnt"] * wnt
                       + r["vp34"] * (pvtt >= 3) + r["ehs"] * ehs
                       + r["haic_pvtt"] * (haic & (pvtt > 0)) + r["lenvatinib"] * lenvatinib)
    return pd.DataFrame({
        "patient_id": [f"{c.code}-{int(k):04d}" for k in numbers],
        "center": c.code,
        "cohort": np.where(prospective, "prospective", "retrospective"),
        "burden": burden, "liver_dysfunction": liver, "pvtt_class": pvtt.astype(int),
        "ehs": ehs, "immune": immune, "proliferation": proliferation, "hypoxia": hypoxia,
        "wnt": wnt, "ia_modality": np.where(haic, "HAIC", "TACE"), "tki_agent": tki,
        "pd1_agent": pd1,
        # added columns (baseline clinical truth that the CRF renders)
        "center_index": center_index, "number": numbers.astype(int), "t0": t0,
        "age_years": age, "sex": np.where(male, "M", "F"), "etiology": etiology,
        "ecog": ecog.astype(int), "tumour_number": n_true.astype(int),
        "largest_diameter_mm": diameter, "hvtt": hvtt, "bclc": bclc, "weight_kg": weight,
        "afp_ng_ml": afp, "crp_mg_l": crp, "albumin_g_l": albumin, "bilirubin_umol_l": bilirubin,
        "crafity": crafity, "lp_os_base": lp_os_base, "lp_pfs_base": lp_pfs_base,
        "p_response": p_response, "screen_failure": screen_failure,
        "prior_therapy_days": planted["prior_therapy_days"],
        "prior_therapy_agent": planted["prior_therapy_agent"],
    })


def _ord(window: tuple[dt.date, dt.date]) -> tuple[int, int]:
    return window[0].toordinal(), window[1].toordinal()
