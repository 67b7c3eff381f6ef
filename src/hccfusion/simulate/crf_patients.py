"""The ``patients`` sheet rendered from the truth, and the per-patient anchor dates every other
sheet agrees with (biopsy, consent, diagnosis, baseline labs).

Date order (domain.md §2.1, §2.5, rules of :mod:`hccfusion.io.crf.rules`): diagnosis ≤ consent
(prospective) ≤ biopsy ≤ T0 (biopsy often during the first intra-arterial session, never more
than 14 days before it); baseline labs within 10 days before T0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.simulate.centers import CENTER_PROFILES
from hccfusion.simulate.crf_identity import (
    birth_date, fake_name, fake_national_id, fake_phone, fake_record_number,
)
from hccfusion.simulate.latent import SimulatedLatent
from hccfusion.simulate.screening import patient_flags
from hccfusion.simulate.seeding import STAGE_CRF_ANCHORS, STAGE_CRF_PATIENTS, patient_rng

_PROFILE = {p.code: p for p in CENTER_PROFILES}
#: Share of optional cells left empty, as in real hospital sheets.
MISSING_OPTIONAL = {"hbv_dna_log10_iu_ml": 0.12, "weight_kg": 0.05, "cirrhosis": 0.03,
                    "diagnosis_basis": 0.05, "ascites": 0.02, "phone": 0.03, "hvtt": 0.04}


def anchors(truth: SimulatedLatent) -> pd.DataFrame:
    """Per-patient anchor dates: ``t0``, ``biopsy_date``, ``consent_date`` (prospective only),
    ``diagnosis_date``, ``baseline_lab_date``, ``baseline_exam_date``."""
    base_exam = truth.exams[truth.exams["exam_index"] == 0].set_index("patient_id")["date"]
    rows = []
    for rec in truth.latent.itertuples(index=False):
        rng = patient_rng(truth.seed, stage=STAGE_CRF_ANCHORS, center_index=rec.center_index,
                          number=rec.number)
        t0 = rec.t0
        biopsy = t0 if rng.random() < 0.6 else t0 - pd.Timedelta(days=int(rng.integers(1, 15)))
        consent = biopsy - pd.Timedelta(days=int(rng.integers(0, 8)))
        exam0 = base_exam[rec.patient_id]
        lead = pd.Timedelta(days=int(rng.integers(0, 31)))
        diagnosis = min(biopsy, exam0, consent) - lead
        if pd.notna(rec.prior_therapy_days):  # diagnosed before the earlier treatment
            diagnosis = min(diagnosis, t0 - pd.Timedelta(days=int(rec.prior_therapy_days)) - lead)
        rows.append({"patient_id": rec.patient_id, "t0": t0, "biopsy_date": biopsy,
                     "consent_date": consent if rec.cohort == "prospective" else pd.NaT,
                     "diagnosis_date": diagnosis,
                     "baseline_lab_date": t0 - pd.Timedelta(days=int(rng.integers(1, 11))),
                     "baseline_exam_date": exam0})
    return pd.DataFrame(rows)


def patients_table(truth: SimulatedLatent, anchor: pd.DataFrame) -> pd.DataFrame:
    """The ``patients`` sheet (not yet coerced)."""
    ehs_organ = (truth.lesion_exams[(truth.lesion_exams["lesion_id"] == "E1")
                                    & (truth.lesion_exams["exam_index"] == 0)]
                 .set_index("patient_id")["organ"])
    a = anchor.set_index("patient_id")
    rows = []
    for rec in truth.latent.itertuples(index=False):
        rng = patient_rng(truth.seed, stage=STAGE_CRF_PATIENTS, center_index=rec.center_index,
                          number=rec.number)
        prof = _PROFILE[rec.center]
        male = rec.sex == "M"
        t0 = rec.t0.date()
        prospective = rec.cohort == "prospective"
        hbv = rec.etiology == "HBV"
        detectable = rng.random() < 0.4  # HBV DNA detectable 30–50 % (domain.md §4)
        n = int(rec.tumour_number)
        row = {
            "patient_id": rec.patient_id, "center": rec.center, "cohort": rec.cohort,
            "consent_date": a.at[rec.patient_id, "consent_date"],
            "name": fake_name(rng, male=male), "phone": fake_phone(rng),
            "national_id": fake_national_id(rng, area_codes=prof.area_codes,
                                            birth=birth_date(rng, t0=t0, age_years=int(rec.age_years)),
                                            male=male),
            "record_number": fake_record_number(rng, prefix=prof.record_prefix),
            "age_years": int(rec.age_years), "sex": rec.sex,
            "diagnosis_date": a.at[rec.patient_id, "diagnosis_date"],
            "diagnosis_basis": "histology" if rng.random() < 0.9 else "imaging",
            "etiology": rec.etiology,
            "hbv_dna_log10_iu_ml": (round(float(rng.uniform(2.0, 7.0)), 2) if detectable else 1.3)
            if hbv else np.nan,
            "cirrhosis": bool(rng.random() < 0.7 + 0.1 * (rec.liver_dysfunction > 0)),
            "ecog": int(rec.ecog),
            "ascites": _ascites(float(rec.liver_dysfunction) + 0.6 * rng.standard_normal()),
            "encephalopathy": "grade_1_2" if rng.random() < 0.01 else "none",
            "bclc": rec.bclc, "bclc_version": "2022",
            "tumour_number": min(n, 10), "tumour_number_censor": ">" if n > 10 else None,
            "largest_diameter_mm": float(rec.largest_diameter_mm),
            "pvtt": f"Vp{int(rec.pvtt_class)}", "hvtt": bool(rec.hvtt),
            "extrahepatic_spread": bool(rec.ehs),
            "ehs_sites": ehs_organ.get(rec.patient_id) if rec.ehs else None,
            "weight_kg": float(rec.weight_kg),
            **patient_flags(rec.screen_failure, prospective=prospective),
            "notes": None,
        }
        for column, p in MISSING_OPTIONAL.items():
            if rng.random() < p:
                row[column] = None
        rows.append(row)
    return pd.DataFrame(rows)


def _ascites(liability: float) -> str:
    # none ≈ 85 %, mild ≈ 12 %, moderate–severe ≈ 3 % (Child–Pugh A 85–95 %, domain.md §4)
    if liability < 1.25:
        return "none"
    return "mild" if liability < 2.2 else "moderate_severe"
