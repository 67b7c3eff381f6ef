"""Lesion truth: the liver lesions of each patient at baseline and at every imaging exam, the
non-target and new lesions, and the true response category of every exam.

What a radiologist would measure without error; readers add their own noise
(:mod:`.crf_reads`). Rules: mRECIST targets are typical, well-delineated liver lesions with a
viable diameter >= 10 mm, at most 2 per organ (domain.md §1.2, §10 decision 1); tumour thrombus
is always non-target; whole-lesion diameters shrink less than viable diameters (lipiodol and
necrosis, §1.10).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.simulate.course import ExamPlan
from hccfusion.simulate.response_rules import series_categories
from hccfusion.simulate.seeding import STAGE_LESIONS, patient_rng

MAX_LIVER_LESIONS = 10
MAX_TARGETS = 2
#: Lesions stop growing at this size (the CRF's possible range ends at 300 mm).
MAX_DIAMETER_MM = 270.0
EHS_ORGANS = ("lung", "node", "bone")
EHS_ORGAN_P = (0.5, 0.3, 0.2)


def exam_id(patient_id: str, index: int) -> str:
    """``WX-0001-E01`` for the baseline exam, ``-E02`` for the first follow-up, …"""
    return f"{patient_id}-E{index + 1:02d}"


def draw_lesion_truth(latent: pd.DataFrame, course: pd.DataFrame, plans: dict[str, ExamPlan], *,
                      seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return ``(lesions, lesion_exams, exams)``.

    ``lesions``: the contract's table (one row per liver lesion) plus ``organ``, ``target`` and
    ``followup_observed`` (False when the first follow-up exam did not happen; the follow-up
    values are then the state at the scheduled day). ``lesion_exams``: one row per lesion per
    exam (targets, non-targets, new lesions). ``exams``: one row per exam with the true mRECIST
    and RECIST 1.1 categories.
    """
    course_by_id = {r["patient_id"]: r for r in course.to_dict("records")}
    lesions: dict[str, list] = {}
    lesion_exams, exams = [], []
    for rec in latent.itertuples(index=False):
        rng = patient_rng(seed, stage=STAGE_LESIONS, center_index=rec.center_index, number=rec.number)
        les, rows, ex = _patient(rec, course_by_id[rec.patient_id], plans[rec.patient_id], rng)
        for key, values in les.items():
            lesions.setdefault(key, []).extend(np.broadcast_to(values, (len(les["lesion_id"]),)))
        lesion_exams.extend(rows)
        exams.extend(ex)
    return pd.DataFrame(lesions), pd.DataFrame(lesion_exams), pd.DataFrame(exams)


def _baseline_lesions(rec: object, rng: np.random.Generator) -> dict[str, object]:
    n = int(min(rec.tumour_number, MAX_LIVER_LESIONS))
    d1 = float(rec.largest_diameter_mm)
    others = np.sort(d1 * rng.uniform(0.12, 0.7, size=n - 1))[::-1]
    diameter = np.round(np.maximum(np.concatenate([[d1], others]), 6.0), 1)
    necrosis = np.minimum(rng.beta(1.5, 7.0, size=n), 0.3)
    viable = np.round(diameter * np.sqrt(1.0 - necrosis), 1)
    washout = rng.random(n) < 0.85
    washout[0] = True
    irregular = np.clip(rng.beta(2.0, 5.0, size=n) + 0.15 * rec.proliferation
                        + 0.1 * (rec.pvtt_class > 0), 0.0, 1.0)
    irregular[0] = min(irregular[0], 0.65)
    hu = rng.uniform(30.0, 90.0, size=n)
    target = np.zeros(n, dtype=bool)
    target[0] = True
    for k in range(1, n):
        if target.sum() < MAX_TARGETS and viable[k] >= 10.0 and washout[k] and irregular[k] < 0.7:
            target[k] = True
    return {
        "patient_id": rec.patient_id, "lesion_id": [f"L{k + 1}" for k in range(n)],
        "diameter_mm_baseline": diameter, "viable_mm_baseline": viable,
        "necrosis_fraction_baseline": 1.0 - (viable / diameter) ** 2,
        "arterial_enhancement_hu": np.round(hu, 1), "washout": washout,
        "margin_irregularity": np.round(irregular, 3), "organ": "liver", "target": target,
    }


def _sizes(les: dict, r: float, w: float, jitter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diam = np.round(np.minimum(les["diameter_mm_baseline"] * w * jitter, MAX_DIAMETER_MM), 1)
    viable = np.round(np.minimum(les["viable_mm_baseline"] * r * jitter, MAX_DIAMETER_MM), 1)
    return np.minimum(viable, diam), diam


def _patient(rec: object, c: dict, plan: ExamPlan, rng: np.random.Generator
             ) -> tuple[dict, list[dict], list[dict]]:
    les = _baseline_lesions(rec, rng)
    n_exams = len(plan.days)
    pid = rec.patient_id
    ehs_organ = str(rng.choice(EHS_ORGANS, p=EHS_ORGAN_P))
    ehs_size = float(np.round(rng.uniform(12.0, 30.0), 1))
    new_size = float(np.round(rng.uniform(12.0, 35.0), 1))
    new_organ = str(rng.choice(EHS_ORGANS, p=EHS_ORGAN_P))
    # Per-exam, per-lesion multiplicative jitter around the patient's size ratio.
    n_les = len(les["lesion_id"])
    jitter = np.exp(rng.normal(0.0, 0.04, size=(max(n_exams, 2), n_les)))
    jitter[0] = 1.0
    # Follow-up truth for the contract: the first follow-up exam (or its scheduled day).
    if n_exams > 1:
        r1, w1 = plan.viable_ratio[1], plan.whole_ratio[1]
    else:
        r1, w1 = _scheduled_ratio(c)
    v_f, d_f = _sizes(les, r1, w1, jitter[1])
    les["diameter_mm_followup"] = d_f
    les["viable_mm_followup"] = v_f
    les["necrosis_fraction_followup"] = np.where(d_f > 0, 1.0 - (v_f / np.where(d_f > 0, d_f, 1)) ** 2, 1.0)
    les["followup_observed"] = n_exams > 1
    target_mask = les["target"]
    washout = les["washout"]

    rows: list[dict] = []
    sums_v, sums_w, nontarget, new_flags = [], [], [], []
    prog_kind = c["progression_kind"]
    for i in range(n_exams):
        eid = exam_id(pid, i)
        r, w = plan.viable_ratio[i], plan.whole_ratio[i]
        viable, diam = _sizes(les, r, w, jitter[i])
        is_prog = plan.progression_index == i
        statuses: list[str] = []
        for k, lid in enumerate(les["lesion_id"]):
            role = "target" if target_mask[k] else "non_target"
            status = None
            if role == "non_target":
                status = "absent" if viable[k] == 0 else "present"
                statuses.append(status)
            rows.append(dict(patient_id=pid, exam_id=eid, exam_index=i, lesion_id=lid, role=role,
                             organ="liver", typical_hcc=bool(washout[k]),
                             viable_mm=float(viable[k]), diameter_mm=float(diam[k]),
                             nontarget_status=status, vascular_class=None))
        if rec.pvtt_class > 0:
            vp = int(rec.pvtt_class)
            status = "absent" if r == 0 else "present"
            if is_prog and prog_kind == "nontarget":
                status, vp = "unequivocal_progression", min(vp + 1, 4)
            statuses.append(status)
            rows.append(dict(patient_id=pid, exam_id=eid, exam_index=i, lesion_id="V1",
                             role="non_target", organ="vessel", typical_hcc=None, viable_mm=np.nan,
                             diameter_mm=np.nan, nontarget_status=status, vascular_class=f"Vp{vp}"))
        if rec.ehs:
            status = "absent" if r == 0 else "present"
            statuses.append(status)
            size = ehs_size * (1.0 if r > 0 else 0.3) * (0.9 + 0.1 * min(w, 1.2))
            rows.append(dict(patient_id=pid, exam_id=eid, exam_index=i, lesion_id="E1",
                             role="non_target", organ=ehs_organ, typical_hcc=False,
                             viable_mm=np.nan, diameter_mm=round(size, 1), nontarget_status=status,
                             vascular_class=None))
        new = bool(is_prog and prog_kind in ("new_liver", "new_extrahepatic"))
        if new:
            liver = prog_kind == "new_liver"
            rows.append(dict(patient_id=pid, exam_id=eid, exam_index=i, lesion_id="N1", role="new",
                             organ="liver" if liver else new_organ, typical_hcc=liver,
                             viable_mm=new_size if liver else np.nan, diameter_mm=new_size,
                             nontarget_status=None, vascular_class=None))
        sums_v.append(float(np.round(viable[target_mask].sum(), 1)))
        sums_w.append(float(np.round(diam[target_mask].sum(), 1)))
        nontarget.append(statuses)
        new_flags.append(new)
    cat_m = series_categories(sums=sums_v, nontarget=nontarget, new_lesion=new_flags, recist=False)
    cat_r = series_categories(sums=sums_w, nontarget=[[s if s != "absent" else "present" for s in st]
                                                       for st in nontarget],
                              new_lesion=new_flags, recist=True)
    exams = [dict(patient_id=pid, exam_id=exam_id(pid, i), exam_index=i, day=int(plan.days[i]),
                  date=rec.t0 + pd.Timedelta(days=int(plan.days[i])), viable_ratio=plan.viable_ratio[i],
                  whole_ratio=plan.whole_ratio[i], target_viable_sum_mm=sums_v[i],
                  target_longest_sum_mm=sums_w[i], new_lesion=new_flags[i],
                  mrecist=cat_m[i], recist=cat_r[i]) for i in range(n_exams)]
    return les, rows, exams


def _scheduled_ratio(c: dict) -> tuple[float, float]:
    """Size ratios at the scheduled first follow-up of a patient who never had it."""
    if c["responder_latent"]:
        return 0.7, 0.85
    return 0.95, 0.98
