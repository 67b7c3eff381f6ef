"""A tiny, hand-built CRF (two patients, every table) whose every value is known, so each
validation rule can be broken one cell at a time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from hccfusion.io.crf import write_workbook

TODAY = dt.date(2026, 11, 1)


def _d(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def tiny_tables() -> dict[str, pd.DataFrame]:
    patients = pd.DataFrame([
        dict(patient_id="WX-0001", center="WX", cohort="retrospective", name="张伟",
             phone="13812345678", national_id="32020219650312123X", record_number="ZY2023001",
             age_years=58, sex="M", diagnosis_date=_d("2023-02-10"), diagnosis_basis="imaging",
             etiology="HBV", cirrhosis=True, ecog=1, ascites="none", encephalopathy="none",
             bclc="C", tumour_number=3, largest_diameter_mm=82.0, pvtt="Vp3", hvtt=False,
             extrahepatic_spread=False, weight_kg=66.0, unresectable=True,
             prior_hcc_therapy=False, combined_hcc_cca=False, other_malignancy=False,
             notes="张伟 tel 13812345678"),
        dict(patient_id="NJ-0002", center="NJ", cohort="prospective",
             consent_date=_d("2025-11-01"), name="李娜", phone="13987654321",
             national_id="320106197001011234", record_number="NJ778899", age_years=55, sex="F",
             etiology="HBV", ecog=0, bclc="B", tumour_number=2, largest_diameter_mm=45.0,
             pvtt="Vp0", hvtt=False, extrahepatic_spread=False, unresectable=True),
    ])
    labs = pd.DataFrame([
        dict(patient_id="WX-0001", date=_d("2023-02-25"), test="albumin", value=38.0, unit="g/L"),
        dict(patient_id="WX-0001", date=_d("2023-02-25"), test="bilirubin", value=15.0, unit="umol/L"),
        dict(patient_id="NJ-0002", date=_d("2025-11-05"), test="bilirubin", value=1.2, unit="mg/dL"),
        dict(patient_id="NJ-0002", date=_d("2025-11-05"), test="albumin", value=3.9, unit="g/dL"),
        dict(patient_id="NJ-0002", date=_d("2025-11-05"), test="crp", value=1.5, unit="mg/dL"),
        dict(patient_id="NJ-0002", date=_d("2025-11-05"), test="afp", value=100.0, unit="IU/mL"),
    ])
    treatments = pd.DataFrame([
        dict(patient_id="WX-0001", kind="TACE", agent="cTACE", start_date=_d("2023-03-01"),
             end_date=_d("2023-03-01"), cycles=1),
        dict(patient_id="WX-0001", kind="TKI", agent="lenvatinib", start_date=_d("2023-03-03"),
             dose=8.0, dose_unit="mg/day"),
        dict(patient_id="WX-0001", kind="PD1", agent="camrelizumab", start_date=_d("2023-03-05"),
             cycles=6),
        dict(patient_id="NJ-0002", kind="HAIC", agent="HAIC-FOLFOX", start_date=_d("2025-11-10"),
             cycles=4),
        dict(patient_id="NJ-0002", kind="TKI", agent="lenvatinib", start_date=_d("2025-11-11")),
        dict(patient_id="NJ-0002", kind="PD1", agent="sintilimab", start_date=_d("2025-11-12")),
    ])
    exams = pd.DataFrame([
        dict(exam_id="WX-0001-E01", patient_id="WX-0001", date=_d("2023-02-20"), modality="CT",
             phases="arterial,portal_venous", slice_thickness_mm=1.0),
        dict(exam_id="WX-0001-E02", patient_id="WX-0001", date=_d("2023-04-15"), modality="CT",
             phases="arterial,portal_venous", slice_thickness_mm=1.0),
        dict(exam_id="NJ-0002-E01", patient_id="NJ-0002", date=_d("2025-11-03"), modality="MR",
             phases="arterial,portal_venous,delayed"),
    ])
    reads = []
    for reader in ("R1", "R2"):
        reads += [
            dict(patient_id="WX-0001", exam_id="WX-0001-E01", reader=reader, lesion_id="L1",
                 kind="target", organ="liver", typical_hcc=True, viable_diameter_mm=50.0,
                 longest_diameter_mm=60.0, evaluable=True),
            dict(patient_id="WX-0001", exam_id="WX-0001-E02", reader=reader, lesion_id="L1",
                 kind="target", organ="liver", typical_hcc=True, viable_diameter_mm=30.0,
                 longest_diameter_mm=55.0, evaluable=True),
            dict(patient_id="WX-0001", exam_id="WX-0001-E01", reader=reader, lesion_id="NT1",
                 kind="non_target", organ="vessel", nontarget_status="present",
                 vascular_class="Vp3", evaluable=True),
        ]
    lesion_reads = pd.DataFrame(reads)
    followup = pd.DataFrame([
        dict(patient_id="WX-0001", last_contact_date=_d("2024-01-10"), death_date=_d("2024-03-01"),
             death_cause="tumour_progression"),
        dict(patient_id="NJ-0002", last_contact_date=_d("2026-05-01")),
    ])
    adverse_events = pd.DataFrame([
        dict(patient_id="WX-0001", term="Abdominal pain", grade=1, onset_date=_d("2023-02-26"),
             procedure="biopsy", attribution="probable"),
    ])
    specimens = pd.DataFrame([
        dict(patient_id="WX-0001", sample_id="WX-0001-S1", slide_id="WX-0001-WSI1",
             kind="biopsy_wsi", site="liver_tumour", date=_d("2023-02-26"), fate="preserved"),
        dict(patient_id="NJ-0002", sample_id="NJ-0002-S1", slide_id="NJ-0002-WSI1",
             kind="biopsy_wsi", site="liver_tumour", date=_d("2025-11-08"), fate="preserved"),
        dict(patient_id="NJ-0002", sample_id="NJ-0002-HAB1", kind="blood",
             site="hepatic_artery_blood", date=_d("2025-11-10"), fate="destroyed"),
    ])
    return dict(patients=patients, labs=labs, treatments=treatments, exams=exams,
                lesion_reads=lesion_reads, followup=followup, adverse_events=adverse_events,
                specimens=specimens)


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    return tiny_tables()


@pytest.fixture
def workbook(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> Path:
    return write_workbook(tables, tmp_path / "crf.xlsx")
