"""Screened-but-ineligible patients of the synthetic cohort (domain.md §0, §10 decision 3).

Real screening logs hold patients who were assessed and then excluded; a simulator that writes
only eligible patients leaves the CONSORT flow empty. A share of the simulated patients
(:data:`SCREEN_FAILURE_SHARE` by default) therefore gets exactly one planted reason, named
after the eligibility rule (:func:`hccfusion.clinical.eligibility_rules.build_rules`, default
settings) that should exclude them. The reason is ground truth (``latent.screen_failure``,
empty for eligible patients); the pipeline never reads it.

What each reason changes, so that the CRF stays consistent with the validator's rules
(:mod:`hccfusion.io.crf.rules`):

- ``age_18_80``: age 81–86 at T0.
- ``ecog_0_2``: ECOG 3, hence BCLC D (BCLC 2022).
- ``unresectable``: resectable (the patient chose the combination over surgery).
- ``no_prior_therapy``: ``prior_hcc_therapy`` yes; in half of the retrospective ones the
  earlier treatment is also a treatments row (``other_anticancer``, 60–720 days before T0) and
  the HCC diagnosis date precedes it. Prospective CRFs record treatment from consent on (the
  validator's ``consent_after_treatment`` rule), so there it is the flag alone.
- ``no_combined_hcc_cca``, ``no_other_malignancy``: the matching patients-sheet flag.
- ``followup_3_months`` (retrospective): T0 15–89 days before the data cut-off.
- ``biopsy_not_contraindicated``, ``able_to_follow_up`` (prospective): the matching flag.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

#: Default share of screened patients with a planted screen failure (screening logs of HCC
#: cohort studies typically exclude 5–15 % after the first chart review).
SCREEN_FAILURE_SHARE = 0.08

AGE, ECOG, RESECTABLE, PRIOR = "age_18_80", "ecog_0_2", "unresectable", "no_prior_therapy"
CCA, MALIGNANCY, FOLLOWUP = "no_combined_hcc_cca", "no_other_malignancy", "followup_3_months"
BIOPSY, COMPLIANCE = "biopsy_not_contraindicated", "able_to_follow_up"

#: (reason, relative weight) per cohort; prior treatment elsewhere is the commonest reason in
#: referral-centre screening logs.
REASONS: dict[str, tuple[tuple[str, float], ...]] = {
    "retrospective": ((AGE, 0.15), (ECOG, 0.10), (RESECTABLE, 0.05), (PRIOR, 0.30), (CCA, 0.10),
                      (MALIGNANCY, 0.10), (FOLLOWUP, 0.20)),
    "prospective": ((AGE, 0.15), (ECOG, 0.10), (RESECTABLE, 0.05), (PRIOR, 0.25), (CCA, 0.10),
                    (MALIGNANCY, 0.10), (BIOPSY, 0.15), (COMPLIANCE, 0.10)),
}
#: Patients-sheet yes/no field and the value a planted reason writes there.
FLAGS: dict[str, tuple[str, bool]] = {
    RESECTABLE: ("unresectable", False), PRIOR: ("prior_hcc_therapy", True),
    CCA: ("combined_hcc_cca", True), MALIGNANCY: ("other_malignancy", True),
    BIOPSY: ("biopsy_contraindicated", True), COMPLIANCE: ("unable_to_follow_up", True),
}
#: Earlier HCC treatments a screening chart review finds (treatments-sheet agent codes).
PRIOR_AGENTS = ("resection", "ablation", "radiotherapy", "systemic_other")
#: Days between the data cut-off and T0 of a patient planted with ``followup_3_months``.
SHORT_FOLLOWUP_DAYS = (15, 89)


def check_share(share: float) -> float:
    """``share`` as a float in [0, 0.5], or a :class:`~hccfusion.errors.UsageError`."""
    from hccfusion.errors import UsageError

    if isinstance(share, bool) or not isinstance(share, (int, float, np.floating)) \
            or not 0.0 <= float(share) <= 0.5:
        raise UsageError("The 'screen_failure_share' parameter of simulate_latent must be a "
                         f"number in [0, 0.5]. Got {share!r} instead.")
    return float(share)


def draw_reasons(u_fail: np.ndarray, u_reason: np.ndarray, prospective: np.ndarray, *,
                 share: float) -> np.ndarray:
    """Planted reason per patient (object array, ``""`` for eligible patients).

    Parameters
    ----------
    u_fail, u_reason
        Per-patient uniforms, shape (n,): whether, and which, reason.
    prospective
        Bool, shape (n,).
    share
        Probability of a screen failure.
    """
    out = np.full(len(u_fail), "", dtype=object)
    for cohort, is_cohort in (("retrospective", ~prospective), ("prospective", prospective)):
        names = [r for r, _ in REASONS[cohort]]
        weights = np.array([w for _, w in REASONS[cohort]])
        idx = np.searchsorted(np.cumsum(weights) / weights.sum(), u_reason, side="right")
        picked = np.asarray(names, dtype=object)[idx.clip(0, len(names) - 1)]
        hit = is_cohort & (u_fail < share)
        out[hit] = picked[hit]
    return out


def plant_baseline(reason: np.ndarray, u_detail: np.ndarray, u_row: np.ndarray, *,
                   prospective: np.ndarray, age: np.ndarray, ecog: np.ndarray,
                   t0_ord: np.ndarray, cutoff: dt.date) -> dict[str, np.ndarray]:
    """Baseline facts changed by the planted reasons (before the hazards are computed).

    Parameters
    ----------
    reason
        Output of :func:`draw_reasons`, shape (n,).
    u_detail, u_row
        Per-patient uniforms: the detail of the reason (age, T0, timing) and, for prior
        therapy, whether and which treatment row the CRF carries.
    prospective
        Bool, shape (n,).
    age, ecog, t0_ord
        Drawn age (years), ECOG and T0 (proleptic ordinal) of eligible patients.
    cutoff
        Data cut-off.

    Returns
    -------
    dict
        ``age``, ``ecog``, ``t0_ord`` (updated copies), ``prior_therapy_days`` (days before T0
        of a recorded earlier treatment, NaN when none) and ``prior_therapy_agent``.
    """
    age = np.where(reason == AGE, 81 + np.floor(u_detail * 6).astype(int), age)
    ecog = np.where(reason == ECOG, 3, ecog)
    lo, hi = SHORT_FOLLOWUP_DAYS
    late = cutoff.toordinal() - (lo + np.floor(u_detail * (hi - lo + 1)).astype(int))
    t0_ord = np.where(reason == FOLLOWUP, late, t0_ord)
    recorded = (reason == PRIOR) & (u_row < 0.5) & ~prospective
    days = np.where(recorded, 60 + np.floor(u_detail * 661), np.nan)
    agent_idx = np.floor(u_row * 2 * len(PRIOR_AGENTS)).astype(int).clip(0, len(PRIOR_AGENTS) - 1)
    agent = np.where(recorded, np.asarray(PRIOR_AGENTS, dtype=object)[agent_idx], None)
    return {"age": age, "ecog": ecog, "t0_ord": t0_ord, "prior_therapy_days": days,
            "prior_therapy_agent": agent}


def patient_flags(reason: str, *, prospective: bool) -> dict[str, bool | None]:
    """The patients-sheet exclusion flags of one patient (prospective-only flags are left
    empty for retrospective patients, as the CRF template says)."""
    flags: dict[str, bool | None] = {"unresectable": True, "prior_hcc_therapy": False,
                                     "combined_hcc_cca": False, "other_malignancy": False,
                                     "biopsy_contraindicated": False if prospective else None,
                                     "unable_to_follow_up": False if prospective else None}
    if reason in FLAGS:
        column, value = FLAGS[reason]
        flags[column] = value
    return flags


def prior_treatment_rows(latent: pd.DataFrame) -> list[dict[str, object]]:
    """Treatments-sheet rows (``other_anticancer``) of the recorded earlier treatments."""
    rows: list[dict[str, object]] = []
    have = latent[latent["prior_therapy_days"].notna()]
    for rec in have.itertuples(index=False):
        start = rec.t0 - pd.Timedelta(days=int(rec.prior_therapy_days))
        rows.append(dict(patient_id=rec.patient_id, kind="other_anticancer",
                         agent=rec.prior_therapy_agent, start_date=start,
                         end_date=start))
    return rows


#: Child–Pugh points (domain.md §3.1) of the ascites and encephalopathy codes.
_ASCITES_POINTS = {"none": 1, "mild": 2, "moderate_severe": 3}
_HE_POINTS = {"none": 1, "grade_1_2": 2, "grade_3_4": 3}


def _banded(x: float, low: float, high: float, *, increasing: bool) -> int:
    x = round(float(x), 2)
    if increasing:
        return 1 if x < low else 2 if x <= high else 3
    return 1 if x > high else 2 if x >= low else 3


def cap_child_pugh(patients: pd.DataFrame, baseline_si: pd.DataFrame) -> pd.DataFrame:
    """Lower ascites (then encephalopathy) where the CRF would otherwise score Child–Pugh C.

    Child–Pugh C is not a planted reason, so no simulated patient may reach it by chance
    (ascites and encephalopathy are drawn apart from the liver labs; about 1 in 400 did).
    Scored as domain.md §3.1 on the baseline panel the CRF carries; a missing ascites cell is
    left alone (the eligibility rule then reports missing data).

    Parameters
    ----------
    patients
        The patients sheet (``ascites``, ``encephalopathy``), not yet coerced.
    baseline_si
        Per patient (index ``patient_id``): baseline ``bilirubin`` (µmol/L), ``albumin`` (g/L)
        and ``inr`` as written (after rounding, in SI units).

    Returns
    -------
    pandas.DataFrame
        A copy of ``patients`` with at most 9 Child–Pugh points for every patient.
    """
    out = patients.copy()
    for i, rec in out.iterrows():
        labs = baseline_si.loc[rec["patient_id"]]
        fixed = (_banded(labs["bilirubin"], 34, 50, increasing=True)
                 + _banded(labs["albumin"], 28, 35, increasing=False)
                 + _banded(labs["inr"], 1.7, 2.3, increasing=True))
        ascites, he = rec["ascites"], rec["encephalopathy"]
        if not isinstance(ascites, str):
            continue  # a missing cell: the eligibility rule reports it as missing data
        if fixed + _ASCITES_POINTS[ascites] + _HE_POINTS[he] < 10:
            continue
        allowed = 9 - fixed - _HE_POINTS[he]
        ascites = next((a for a, p in reversed(_ASCITES_POINTS.items()) if p <= allowed), "none")
        out.at[i, "ascites"] = ascites
        if fixed + _ASCITES_POINTS[ascites] + _HE_POINTS[he] >= 10:
            out.at[i, "encephalopathy"] = "none"
    return out
