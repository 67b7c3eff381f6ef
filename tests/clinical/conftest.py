"""Hand-made canonical tables for the eligibility and index-date tests: one fully eligible
patient per call, which a test then breaks in exactly one way."""

from __future__ import annotations

import datetime as dt
from copy import deepcopy

import pandas as pd
import pytest

from hccfusion.clinical.eligibility import EligibilitySettings, assess_eligibility
from hccfusion.io.schema import coerce_table

CUTOFF = dt.date(2024, 6, 30)
TABLE_NAMES = ("patients", "treatments", "labs", "exams", "specimens", "followup")


def good_patient(pid: str = "WX-0001", *, center: str = "WX", cohort: str = "retrospective",
                 t0: str = "2023-03-01") -> dict[str, list[dict]]:
    """Rows of every table for one patient who passes every rule (T0 = ``t0``)."""
    t = pd.Timestamp(t0)
    d = lambda days: (t + pd.Timedelta(days=days)).date()  # noqa: E731
    return {
        "patients": [dict(
            patient_id=pid, center=center, cohort=cohort,
            consent_date=d(-5) if cohort == "prospective" else None,
            age_years=60, sex="M", diagnosis_date=d(-20), diagnosis_basis="imaging",
            etiology="HBV", ecog=1, ascites="none", encephalopathy="none", bclc="B",
            tumour_number=2, largest_diameter_mm=55.0, pvtt="Vp0", extrahepatic_spread=False,
            unresectable=True, prior_hcc_therapy=False, combined_hcc_cca=False,
            other_malignancy=False, biopsy_contraindicated=False, unable_to_follow_up=False)],
        "treatments": [
            dict(patient_id=pid, kind="TACE", agent="cTACE", start_date=d(0)),
            dict(patient_id=pid, kind="TKI", agent="lenvatinib", start_date=d(3)),
            dict(patient_id=pid, kind="PD1", agent="sintilimab", start_date=d(7)),
        ],
        "labs": [
            dict(patient_id=pid, date=d(-3), test="bilirubin", value=20.0),
            dict(patient_id=pid, date=d(-3), test="albumin", value=40.0),
            dict(patient_id=pid, date=d(-3), test="inr", value=1.1),
        ],
        "exams": [dict(exam_id=f"{pid}-E0", patient_id=pid, date=d(-6), modality="CT",
                       phases="pre_contrast,arterial,portal_venous")],
        "specimens": [dict(patient_id=pid, sample_id=f"{pid}-S1", slide_id=f"{pid}-W1",
                           kind="biopsy_wsi", date=d(0))],
        "followup": [dict(patient_id=pid, last_contact_date=d(400))],
    }


def tables_from(*patients: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    """Canonical tables holding the rows of every given patient."""
    return {name: coerce_table(name, pd.DataFrame([r for p in patients for r in p[name]]))
            for name in TABLE_NAMES}


@pytest.fixture
def patient() -> dict[str, list[dict]]:
    return deepcopy(good_patient())


@pytest.fixture
def settings() -> EligibilitySettings:
    return EligibilitySettings(cutoff=CUTOFF)


def verdict(p: dict[str, list[dict]], rule: str, **settings_kw: object) -> tuple[str, str]:
    """(status, reasons) of one rule for the single patient ``p``."""
    res = assess_eligibility(tables_from(p), settings=EligibilitySettings(cutoff=CUTOFF,
                                                                          **settings_kw))
    row = res.per_patient.iloc[0]
    return str(row[rule]), str(row["reasons"])


@pytest.fixture
def make_patient():
    """``make_patient(pid, center=…, cohort=…, t0=…)`` → rows of one eligible patient."""
    return lambda *a, **kw: deepcopy(good_patient(*a, **kw))


@pytest.fixture
def make_tables():
    return tables_from


@pytest.fixture
def judge():
    """``judge(patient_rows, rule, **settings)`` → (status, reasons)."""
    return verdict
