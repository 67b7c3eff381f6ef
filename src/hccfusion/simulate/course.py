"""The disease course of each simulated patient: whether the tumour responds, when it
progresses, when the patient dies or is lost, and the imaging schedule with the true tumour-size
ratios at every exam.

Numbers (domain.md §5 "Suggested simulator defaults" unless stated): OS Weibull shape 1.2 with
median ≈ 22 months; PFS median 9–11 months; mRECIST CR 10–15 %, ORR 55–65 %; RECIST 1.1 ORR
35–45 %; first scan 6–8 weeks after T0, then every 6–10 weeks; TTR median ≈ 2 months; DoR median
12–15 months; 5–10 % lost to follow-up; responders' OS HR ≈ 0.5 (Yu 2022: 0.56).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from hccfusion.simulate.seeding import STAGE_OUTCOMES, patient_rng

DAYS_PER_MONTH = 30.4375
OS_SHAPE = 1.2
#: Weibull scale of OS (days) at lp = 0; calibrated by simulation so that the KM median OS of a
#: 1,000-patient cohort lands at 20–24 months (tests/simulate/test_distributions.py).
OS_SCALE_DAYS = 53.0 * DAYS_PER_MONTH
#: Direct effect of realised objective response on the OS hazard (log HR); with the shared
#: latent biology the responders' marginal HR lands near 0.5.
OS_RESPONSE_LOG_HR = float(np.log(0.5))
PFS_SHAPE = 1.3
#: Weibull scales (days) of time to progression of non-responders (from T0) and of duration of
#: response (from the response exam), calibrated to PFS median 9–11 months.
PROG_SCALE_NONRESPONDER_DAYS = 17.0 * DAYS_PER_MONTH
DOR_SCALE_DAYS = 40.0 * DAYS_PER_MONTH
LOST_TO_FOLLOWUP_P = 0.14
NON_PROTOCOL_P_RESPONDER = 0.07  # conversion resection/ablation after response
NON_PROTOCOL_P_OTHER = 0.03
RECIST_RESPONDER_P = 0.68  # share of mRECIST responders that are RECIST 1.1 responders
MISSED_SCAN_P = 0.03
PRIMARY_PD_LOGIT = -1.8

DEATH_CAUSES_AFTER_PD = (("tumour_progression", "liver_failure", "bleeding", "other", "unknown"),
                         (0.72, 0.15, 0.05, 0.04, 0.04))
DEATH_CAUSES_NO_PD = (("liver_failure", "tumour_progression", "bleeding", "infection",
                       "treatment_related", "other", "unknown"),
                      (0.35, 0.2, 0.12, 0.1, 0.05, 0.1, 0.08))
PROGRESSION_KINDS = ("new_liver", "target", "nontarget", "new_extrahepatic")


@dataclass(frozen=True)
class ExamPlan:
    """One patient's realised imaging exams: days from T0 (baseline first, negative) and the
    true viable (mRECIST) and whole-lesion (RECIST) size ratios vs baseline."""

    days: np.ndarray
    viable_ratio: np.ndarray
    whole_ratio: np.ndarray
    progression_index: int | None


def _weibull(e: float, scale: float, shape: float, lp: float) -> float:
    """Inverse of S(t) = exp(-(t/scale)^shape · exp(lp)) at an Exp(1) draw ``e``."""
    return scale * (e * np.exp(-lp)) ** (1.0 / shape)


def draw_course(latent: pd.DataFrame, *, seed: int, cutoff: pd.Timestamp
                ) -> tuple[pd.DataFrame, dict[str, ExamPlan]]:
    """Per-patient course (one row per patient) and imaging plan (by patient_id)."""
    rows: list[dict[str, object]] = []
    plans: dict[str, ExamPlan] = {}
    for rec in latent.itertuples(index=False):
        rng = patient_rng(seed, stage=STAGE_OUTCOMES, center_index=rec.center_index, number=rec.number)
        row, plan = _one(rec, rng, cutoff)
        rows.append(row)
        plans[rec.patient_id] = plan
    return pd.DataFrame(rows), plans


def _one(rec: object, rng: np.random.Generator, cutoff: pd.Timestamp) -> tuple[dict, ExamPlan]:
    p = float(rec.p_response)
    responder = bool(rng.random() < p)
    p_cr = float(expit(-1.5 + 0.5 * rec.immune - 0.4 * rec.burden))
    complete = responder and bool(rng.random() < p_cr)
    k_resp = 1 if rng.random() < 0.6 else 2
    k_cr = k_resp + int(rng.random() < 0.5)
    r_pre = rng.uniform(0.76, 0.88)
    r_pr = rng.uniform(0.22, 0.58) if not complete else rng.uniform(0.3, 0.55)
    r_sd = rng.uniform(0.80, 1.08)
    recist_resp = bool(rng.random() < RECIST_RESPONDER_P)
    nadir_bound = 0.0 if complete else 0.85 * r_pr
    if responder and recist_resp:
        s = min(1.0, 0.37 / (1.0 - nadir_bound) + rng.uniform(0.0, 0.15))
    elif responder:
        s = rng.uniform(0.3, 0.85) * 0.27 / (1.0 - nadir_bound)
    else:
        s = rng.uniform(0.3, 0.9)
    pvtt = int(rec.pvtt_class)
    kinds_p = np.array([0.45, 0.35, 0.20 if pvtt > 0 else 0.0, 0.12])
    prog_kind = str(rng.choice(PROGRESSION_KINDS, p=kinds_p / kinds_p.sum()))
    growth = rng.uniform(1.5, 1.9)
    whole_growth = rng.uniform(1.25, 1.45)
    regain = rng.uniform(0.2, 0.4)

    # Exam days: baseline 1–21 days before T0 (domain.md §1.2: within 28), first follow-up at
    # 6–8 weeks, then every 6–10 weeks, an occasional missed scan.
    base_day = -int(rng.integers(1, 22))
    followups = [int(rng.integers(42, 57))]
    for _ in range(60):
        gap = int(rng.integers(42, 71)) + (63 if rng.random() < MISSED_SCAN_P else 0)
        followups.append(followups[-1] + gap)
    followups_arr = np.asarray(followups)
    d_resp = float(followups_arr[k_resp - 1])

    lp_pfs = float(rec.lp_pfs_base)
    if responder:
        t_prog = d_resp + _weibull(rng.exponential(), DOR_SCALE_DAYS, PFS_SHAPE, lp_pfs)
    else:
        t_prog = _weibull(rng.exponential(), PROG_SCALE_NONRESPONDER_DAYS, PFS_SHAPE, lp_pfs)
        # Primary refractory disease: PD at the first scan (mRECIST PD 10–15 %, domain.md §5).
        if rng.random() < expit(PRIMARY_PD_LOGIT + lp_pfs):
            t_prog = min(t_prog, float(rng.uniform(14.0, 40.0)))
    t_death = _weibull(rng.exponential(), OS_SCALE_DAYS, OS_SHAPE,
                       float(rec.lp_os_base) + OS_RESPONSE_LOG_HR * responder)
    t_death = max(t_death, 3.0)
    censor_day = float((cutoff - rec.t0).days)
    lost = bool(rng.random() < LOST_TO_FOLLOWUP_P)
    ltfu_day = float(rng.uniform(30.0, max(31.0, min(censor_day, 900.0)))) if lost else np.inf
    npt_p = NON_PROTOCOL_P_RESPONDER if responder else NON_PROTOCOL_P_OTHER
    npt_day = d_resp + float(rng.uniform(20, 240)) if rng.random() < npt_p else np.inf
    npt_kind = str(rng.choice(["resection", "ablation", "radiotherapy", "systemic_other"],
                              p=[0.4, 0.3, 0.2, 0.1] if responder else [0.1, 0.3, 0.3, 0.3]))
    horizon = min(t_death - 1.0, censor_day, ltfu_day, npt_day)

    days = [base_day]
    prog_index: int | None = None
    for d in followups_arr:
        if d > horizon:
            break
        days.append(int(d))
        if d >= t_prog:
            prog_index = len(days) - 1
            break
    days_arr = np.asarray(days)
    viable = np.ones(len(days_arr))
    whole = np.ones(len(days_arr))
    nadir_v, nadir_w = 1.0, 1.0
    for i in range(1, len(days_arr)):
        k = i
        if responder:
            if k < k_resp:
                r = r_pre
            elif complete and k >= k_cr:
                r = 0.0
            else:
                r = r_pr * 0.97 ** (k - k_resp)
        else:
            r = max(0.76, r_sd * 0.985 ** (k - 1))
        w = 1.0 - s * (1.0 - r)
        if prog_index == i and prog_kind == "target":
            r = nadir_v * growth if nadir_v > 0 else regain
            w = max(nadir_w * whole_growth, w)
        viable[i], whole[i] = r, w
        nadir_v, nadir_w = min(nadir_v, r), min(nadir_w, w)
    contact_gap = float(rng.uniform(0.0, 45.0))
    pre_death_gap = float(rng.uniform(0.0, 30.0))
    progressed_first = t_prog < t_death
    causes, cause_p = (DEATH_CAUSES_AFTER_PD if progressed_first else DEATH_CAUSES_NO_PD)
    death_cause = str(rng.choice(causes, p=cause_p))
    plan = ExamPlan(days=days_arr, viable_ratio=viable, whole_ratio=whole, progression_index=prog_index)
    row = {
        "patient_id": rec.patient_id, "responder_latent": responder, "complete_latent": complete,
        "recist_responder_latent": responder and recist_resp, "progression_kind": prog_kind,
        "true_progression_days": t_prog, "true_death_days": t_death,
        "lost_to_followup": bool(np.isfinite(ltfu_day) and ltfu_day < min(t_death, censor_day)),
        "ltfu_day": ltfu_day, "non_protocol_day": npt_day, "non_protocol_kind": npt_kind,
        "censor_day": censor_day, "nominal_followup_day": int(followups_arr[0]),
        "contact_gap_days": contact_gap, "pre_death_gap_days": pre_death_gap,
        "death_cause": death_cause,
    }
    return row, plan
