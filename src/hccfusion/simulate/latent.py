"""``simulate_latent``: the synthetic cohort's ground truth — one latent state per patient, the
lesion truth and the outcomes (docs/simulator_contract.md).

Every modality writer reads this and nothing else, so that the CRF, CT, slides and omics of a
patient agree. Draws are per patient (:mod:`.seeding`): patient ``WX-0007`` gets the same
biology whatever the cohort size or processing order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hccfusion.errors import UsageError
from hccfusion.simulate.baseline import draw_center
from hccfusion.simulate.centers import (
    DEFAULT_CUTOFF, MIN_POTENTIAL_FOLLOWUP_DAYS, PROSPECTIVE_ACCRUAL, PROSPECTIVE_TARGET,
    RETROSPECTIVE_ACCRUAL, centers_for,
)
from hccfusion.simulate.course import (
    DOR_SCALE_DAYS, OS_RESPONSE_LOG_HR, PFS_SHAPE, PROG_SCALE_NONRESPONDER_DAYS, draw_course,
)
from hccfusion.simulate.lesion_truth import draw_lesion_truth
from hccfusion.simulate.outcomes import observed_outcomes
from hccfusion.simulate.screening import SCREEN_FAILURE_SHARE, check_share

#: Columns of ``latent`` fixed by docs/simulator_contract.md, in its order.
CONTRACT_COLUMNS = ("patient_id", "center", "cohort", "burden", "liver_dysfunction", "pvtt_class",
                    "ehs", "immune", "proliferation", "hypoxia", "wnt", "ia_modality", "tki_agent",
                    "pd1_agent", "lp_os", "lp_pfs", "p_response")
#: Responders' hazard ratio for progression implied by the two Weibull scales.
PFS_RESPONSE_HR = float((PROG_SCALE_NONRESPONDER_DAYS / DOR_SCALE_DAYS) ** PFS_SHAPE)


@dataclass(frozen=True)
class SimulatedLatent:
    """Ground truth of a simulated cohort.

    Attributes
    ----------
    latent
        One row per patient: the contract's columns first, then added baseline truth (``t0``,
        ``age_years``, ``sex``, ``ecog``, ``tumour_number``, ``largest_diameter_mm``, ``bclc``,
        ``afp_ng_ml``, ``crp_mg_l``, ``albumin_g_l``, ``bilirubin_umol_l``, ``crafity``, …,
        ``screen_failure``: the eligibility rule a screened-but-ineligible patient should fail,
        empty for eligible patients, :mod:`hccfusion.simulate.screening`).
        ``lp_os``/``lp_pfs`` are the log of each patient's expected hazard multiplier given
        baseline (the realised response adds its own effect), ``p_response`` the probability
        of mRECIST objective response.
    lesions
        One row per liver lesion (contract columns plus ``organ``, ``target``,
        ``followup_observed``).
    outcomes
        One row per patient (:data:`hccfusion.simulate.outcomes.OUTCOME_COLUMNS`).
    exams
        One row per imaging exam (``exam_id``, ``date``, true mRECIST/RECIST categories).
    lesion_exams
        One row per lesion per exam: true viable and whole-lesion diameters, non-target status,
        new lesions.
    course
        Per-patient course draws (latent responder, progression kind, …) used by the CRF.
    cutoff
        Data cut-off (administrative censoring).
    seed
        The seed everything was drawn from.
    """

    latent: pd.DataFrame
    lesions: pd.DataFrame
    outcomes: pd.DataFrame
    exams: pd.DataFrame
    lesion_exams: pd.DataFrame
    course: pd.DataFrame
    cutoff: dt.date
    seed: int


def _cohort_sizes(n: int, share: float | None) -> int:
    if share is None:
        return min(PROSPECTIVE_TARGET, int(round(0.3 * n)))
    return int(round(share * n))


def simulate_latent(*, n_patients: int, n_centers: int = 2, seed: int,
                    prospective_share: float | None = None,
                    cutoff: dt.date = DEFAULT_CUTOFF,
                    screen_failure_share: float = SCREEN_FAILURE_SHARE) -> SimulatedLatent:
    """Simulate the latent state, lesion truth and outcomes of a cohort.

    Parameters
    ----------
    n_patients
        Number of patients (>= 1).
    n_centers
        1 (WX only) or 2 (WX development 60 %, NJ external validation 40 %).
    seed
        Study seed; every patient has its own child stream.
    prospective_share
        Share of prospective patients (accrual 2025-10 to 2026-06). Default: 150 (the
        registration's size, domain.md §0) when n allows, else 30 % of the patients.
    cutoff
        Data cut-off; deaths after it are censored, retrospective accrual ends 90 days before it.
    screen_failure_share
        Share of screened patients with one planted reason to be excluded (default 8 %; 0 for
        an all-eligible cohort; at most 0.5). The reason is ``latent.screen_failure``.

    Returns
    -------
    SimulatedLatent
    """
    if not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        raise UsageError(f"The 'n_patients' parameter of simulate_latent must be an integer >= 1. "
                         f"Got {n_patients!r} instead.")
    if prospective_share is not None and not 0.0 <= prospective_share <= 1.0:
        raise UsageError("The 'prospective_share' parameter of simulate_latent must be in [0, 1]. "
                         f"Got {prospective_share!r} instead.")
    share = check_share(screen_failure_share)
    profiles = centers_for(n_centers)
    cutoff = pd.Timestamp(cutoff).date()
    retro = (RETROSPECTIVE_ACCRUAL[0],
             min(RETROSPECTIVE_ACCRUAL[1], cutoff - dt.timedelta(days=MIN_POTENTIAL_FOLLOWUP_DAYS)))
    pro = (PROSPECTIVE_ACCRUAL[0], min(PROSPECTIVE_ACCRUAL[1], cutoff - dt.timedelta(days=7)))
    n_pro = _cohort_sizes(int(n_patients), prospective_share)
    if retro[1] < retro[0] + dt.timedelta(days=180):
        raise UsageError(f"The 'cutoff' parameter of simulate_latent must leave the retrospective "
                         f"accrual (from {retro[0]}) at least 270 days. Got {cutoff} instead.")
    if n_pro and pro[1] < pro[0]:
        raise UsageError(f"The 'cutoff' {cutoff} is before the prospective accrual starts "
                         f"({pro[0]}); set prospective_share=0 or a later cut-off.")
    frames = []
    counts = _split(int(n_patients), [p.share for p in profiles])
    pro_counts = _split(n_pro, [p.share for p in profiles])
    for ci, (profile, n_c, n_p) in enumerate(zip(profiles, counts, pro_counts)):
        if n_c == 0:
            continue
        numbers = np.arange(1, n_c + 1)
        prospective = numbers > n_c - min(n_p, n_c)
        frames.append(draw_center(profile=profile, center_index=ci, numbers=numbers,
                                  prospective=prospective, seed=seed, retro_window=retro,
                                  pro_window=pro, cutoff=cutoff, screen_failure_share=share))
    base = pd.concat(frames, ignore_index=True)
    p = base["p_response"].to_numpy()
    base["lp_os"] = base["lp_os_base"] + np.log(1 - p + p * np.exp(OS_RESPONSE_LOG_HR))
    base["lp_pfs"] = base["lp_pfs_base"] + np.log(1 - p + p * PFS_RESPONSE_HR)
    latent = base[list(CONTRACT_COLUMNS) + [c for c in base.columns if c not in CONTRACT_COLUMNS]]
    ts_cutoff = pd.Timestamp(cutoff)
    course, plans = draw_course(latent, seed=seed, cutoff=ts_cutoff)
    lesions, lesion_exams, exams = draw_lesion_truth(latent, course, plans, seed=seed)
    outcomes = observed_outcomes(latent, course, exams)
    return SimulatedLatent(latent=latent.reset_index(drop=True), lesions=lesions, outcomes=outcomes,
                           exams=exams, lesion_exams=lesion_exams, course=course, cutoff=cutoff,
                           seed=int(seed))


def _split(n: int, shares: list[float]) -> list[int]:
    """Largest-remainder split of ``n`` by ``shares``."""
    raw = np.asarray(shares) / sum(shares) * n
    out = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - out))[: n - out.sum()]:
        out[i] += 1
    return out.tolist()
