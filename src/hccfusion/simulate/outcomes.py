"""Observed outcomes of the simulated patients, derived from their course and exam truth with the
study's own conventions (domain.md §1.8, §2.2, §2.3): what a correct endpoint pipeline should
recover from the CRF.

- OS: event = death (all causes) on or before the data cut-off; otherwise censored at the last
  date known alive (last contact, never after the cut-off).
- PFS (mRECIST, primary rule): event at the first exam with PD, or at death without PD within
  ``MAX_GAP_DAYS`` of the last assessment; censored at the last assessment otherwise, and at the
  last assessment before any non-protocol anticancer therapy; at T0 without a follow-up scan.
- BOR: unconfirmed best overall response up to the first PD (NE without a follow-up scan).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hccfusion.simulate.response_rules import best_overall_response

#: 2 × planned interval (8 weeks) + 14 days (domain.md §2.3).
MAX_GAP_DAYS = 126

OUTCOME_COLUMNS = (
    "patient_id", "t0", "os_days", "os_event", "pfs_days", "pfs_event", "death_date",
    "death_cause", "last_contact_date", "lost_to_followup", "progression_date",
    "non_protocol_date", "non_protocol_kind", "bor_mrecist", "bor_recist", "objective_response",
    "objective_response_recist", "response_evaluable", "responder_latent",
    "true_os_days", "true_progression_days",
)


def observed_outcomes(latent: pd.DataFrame, course: pd.DataFrame, exams: pd.DataFrame) -> pd.DataFrame:
    """One row per patient (``OUTCOME_COLUMNS``); times in days from T0, dates as Timestamps."""
    c_by = {r["patient_id"]: r for r in course.to_dict("records")}
    ex_by: dict[str, list[dict]] = {}
    for r in exams.sort_values(["patient_id", "exam_index"]).to_dict("records"):
        ex_by.setdefault(r["patient_id"], []).append(r)
    rows = [_one(rec, c_by[rec.patient_id], ex_by[rec.patient_id])
            for rec in latent.itertuples(index=False)]
    return pd.DataFrame(rows, columns=list(OUTCOME_COLUMNS))


def _one(rec: object, c: dict, ex: list[dict]) -> dict[str, object]:
    t0 = rec.t0
    days = np.asarray([e["day"] for e in ex])
    cats_m = [e["mrecist"] for e in ex][1:]
    cats_r = [e["recist"] for e in ex][1:]
    last_exam = int(days.max())
    censor_day = float(c["censor_day"])
    t_death = float(c["true_death_days"])
    ltfu = float(c["ltfu_day"])
    death_day = int(math.ceil(t_death))
    died = death_day <= censor_day and t_death < ltfu
    lost = bool(c["lost_to_followup"]) and not died
    # The last date known alive is on or after T0 and the last exam, never after death or
    # the cut-off.
    if died:
        contact = min(death_day, max(last_exam, 0, int(death_day - c["pre_death_gap_days"])))
    elif lost:
        contact = max(last_exam, int(ltfu))
    else:
        contact = max(last_exam, int(min(censor_day, 14)), int(censor_day - c["contact_gap_days"]))
    npt = float(c["non_protocol_day"])
    npt_happened = np.isfinite(npt) and npt < min(t_death, censor_day, ltfu)

    pd_index = next((i for i, cat in enumerate(cats_m) if cat == "PD"), None)
    follow_days = days[1:]
    if pd_index is not None:
        pfs_days, pfs_event = int(follow_days[pd_index]), True
    else:
        last_assessment = int(follow_days[-1]) if len(follow_days) else int(days[0])
        death_counts = died and not (npt_happened and npt < t_death) and (
            death_day - last_assessment <= MAX_GAP_DAYS
            or (not len(follow_days) and death_day <= c["nominal_followup_day"]))
        if death_counts:
            pfs_days, pfs_event = death_day, True
        else:
            pfs_days, pfs_event = max(last_assessment, 0), False
    bor_m = best_overall_response(cats_m)
    bor_r = best_overall_response(cats_r)
    day = pd.Timedelta(days=1)
    return {
        "patient_id": rec.patient_id, "t0": t0,
        "os_days": float(death_day if died else contact), "os_event": bool(died),
        "pfs_days": float(pfs_days), "pfs_event": bool(pfs_event),
        "death_date": t0 + death_day * day if died else pd.NaT,
        "death_cause": c["death_cause"] if died else None,
        "last_contact_date": t0 + contact * day, "lost_to_followup": lost,
        "progression_date": t0 + int(follow_days[pd_index]) * day if pd_index is not None else pd.NaT,
        "non_protocol_date": t0 + int(math.ceil(npt)) * day if npt_happened else pd.NaT,
        "non_protocol_kind": c["non_protocol_kind"] if npt_happened else None,
        "bor_mrecist": bor_m, "bor_recist": bor_r,
        "objective_response": bor_m in ("CR", "PR"),
        "objective_response_recist": bor_r in ("CR", "PR"),
        "response_evaluable": bool(len(follow_days)),
        "responder_latent": bool(c["responder_latent"]),
        "true_os_days": t_death, "true_progression_days": float(c["true_progression_days"]),
    }
