"""The ``exams`` and ``lesion_reads`` sheets: every exam read independently by two radiologists
(R1, R2) with their own measurement noise, and an MDT consensus only where their time-point
categories differ (domain.md §1.11).

Reader noise: SD = 1 mm + 4 % of the diameter (inter-reader limits of agreement of a few mm for
HCC diameters); an enhancing remnant too small to measure is recorded as 5 mm (§1.3); a reader
occasionally misjudges a non-target's status. The MDT records the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.simulate.latent import SimulatedLatent
from hccfusion.simulate.response_rules import series_categories
from hccfusion.simulate.seeding import STAGE_EXAMS, STAGE_READS, patient_rng

READER_SD_MM = 1.0
READER_SD_FRACTION = 0.04
READER_BIAS = {"R1": 1.0, "R2": 1.015}
STATUS_FLIP_P = 0.03
CT_SHARE = 0.8
CT_PHASES = "pre_contrast,arterial,portal_venous,delayed"
MR_PHASES = "pre_contrast,arterial,portal_venous,delayed,hepatobiliary"


def exams_table(truth: SimulatedLatent) -> pd.DataFrame:
    """The ``exams`` sheet; the modality is per patient (CT 80 %, MR 20 %)."""
    rows = []
    keys = {pid: (ci, n) for pid, ci, n in
            truth.latent[["patient_id", "center_index", "number"]].itertuples(index=False)}
    ct_by: dict[str, bool] = {}
    for e in truth.exams.to_dict("records"):
        pid = e["patient_id"]
        if pid not in ct_by:
            ci, number = keys[pid]
            ct_by[pid] = patient_rng(truth.seed, stage=STAGE_EXAMS, center_index=ci,
                                     number=number).random() < CT_SHARE
        ct = ct_by[pid]
        rows.append({"exam_id": e["exam_id"], "patient_id": pid, "date": e["date"],
                     "modality": "CT" if ct else "MR", "phases": CT_PHASES if ct else MR_PHASES,
                     "slice_thickness_mm": 1.0 if ct else 3.0, "image_path": None})
    return pd.DataFrame(rows)


def _measure(truth_mm: float, rng: np.random.Generator, bias: float) -> float:
    if not np.isfinite(truth_mm):
        return np.nan
    if truth_mm == 0:
        return 5.0 if rng.random() < 0.06 else 0.0
    x = truth_mm * bias + rng.normal(0.0, READER_SD_MM + READER_SD_FRACTION * truth_mm)
    return round(min(max(x, 5.0), 299.0), 1)


def _reader_rows(rows: list[dict], reader: str, rng: np.random.Generator) -> list[dict]:
    out = []
    bias = READER_BIAS[reader]
    for r in rows:
        viable = _measure(r["viable_mm"], rng, bias)
        longest = _measure(r["diameter_mm"], rng, bias)
        if np.isfinite(viable) and np.isfinite(longest):
            viable = min(viable, longest)
        status = r["nontarget_status"]
        if status in ("present", "absent") and r["organ"] != "vessel" and rng.random() < STATUS_FLIP_P:
            status = "absent" if status == "present" else "present"
        out.append(_row(r, reader, viable, longest, status))
    return out


def _row(r: dict, reader: str, viable: float, longest: float, status: object) -> dict:
    target = r["role"] == "target"
    node = r["organ"] == "node"
    measured = target or r["role"] == "new" or r["organ"] in ("lung", "node", "bone")
    return {
        "patient_id": r["patient_id"], "exam_id": r["exam_id"], "reader": reader,
        "lesion_id": r["lesion_id"], "kind": r["role"], "organ": r["organ"],
        "typical_hcc": r["typical_hcc"],
        "viable_diameter_mm": viable if (target or r["role"] == "new") and r["organ"] == "liver" else np.nan,
        "longest_diameter_mm": longest if measured and not node else np.nan,
        "short_axis_mm": round(longest * 0.7, 1) if node and np.isfinite(longest) else np.nan,
        "nontarget_status": status, "evaluable": True if target else None,
        "vascular_class": r["vascular_class"], "is_effusion": None, "cytology_malignant": None,
    }


def _categories(reads: list[dict], exam_ids: list[str]) -> list[str]:
    sums, statuses, new = [], [], []
    for eid in exam_ids:
        rows = [r for r in reads if r["exam_id"] == eid]
        sums.append(round(sum(r["viable_diameter_mm"] for r in rows if r["kind"] == "target"), 1))
        statuses.append([r["nontarget_status"] for r in rows if r["kind"] == "non_target"])
        new.append(any(r["kind"] == "new" for r in rows))
    return series_categories(sums=sums, nontarget=statuses, new_lesion=new, recist=False)


def lesion_reads_table(truth: SimulatedLatent) -> pd.DataFrame:
    """The ``lesion_reads`` sheet: R1 and R2 for every lesion of every exam, MDT where the two
    readers' mRECIST time-point categories differ."""
    out: list[dict] = []
    by_patient: dict[str, list[dict]] = {}
    for r in truth.lesion_exams.to_dict("records"):
        by_patient.setdefault(r["patient_id"], []).append(r)
    ids = truth.latent[["patient_id", "center_index", "number"]].itertuples(index=False)
    for pid, ci, number in ids:
        rows = by_patient[pid]
        rng = patient_rng(truth.seed, stage=STAGE_READS, center_index=ci, number=number)
        exam_ids = sorted({r["exam_id"] for r in rows})
        r1 = _reader_rows(rows, "R1", rng)
        r2 = _reader_rows(rows, "R2", rng)
        c1, c2 = _categories(r1, exam_ids), _categories(r2, exam_ids)
        disagree = {eid for eid, a, b in zip(exam_ids, c1, c2) if a != b}
        mdt = [_row(r, "MDT", r["viable_mm"], r["diameter_mm"], r["nontarget_status"])
               for r in rows if r["exam_id"] in disagree]
        out.extend(r1)
        out.extend(r2)
        out.extend(mdt)
    return pd.DataFrame(out)
