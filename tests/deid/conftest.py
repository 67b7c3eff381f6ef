"""Hand-made canonical study tables with realistic identifiers and notes that mention them."""

from __future__ import annotations

import pandas as pd
import pytest

from hccfusion.deid.pseudonym import DeidKey
from hccfusion.io.schema import coerce_table

IDENTIFIERS = {
    "WX-0001": dict(name="张伟", phone="13812345678", national_id="320102198001011234",
                    record_number="ZY20230145"),
    "WX-0002": dict(name="王秀英", phone="13987654321", national_id="32020219550315662X",
                    record_number="ZY20230212"),
    "NJ-0001": dict(name="李建国", phone="15051234567", national_id="320106193207074417",
                    record_number="NJ-2022-08876"),
}


def _tables() -> dict[str, pd.DataFrame]:
    patients = pd.DataFrame([
        dict(patient_id="WX-0001", center="WX", cohort="retrospective", age_years=58, sex="M",
             diagnosis_date="2022-12-20", bclc="B", ecog=1, tumour_number=2,
             largest_diameter_mm=52.0, extrahepatic_spread=False,
             notes="患者张伟，电话13812345678，住院号ZY20230145，2023年2月20日入院；"
                   "身份证320102198001011234。WX-0001 家属电话 139-8765-4321。",
             **IDENTIFIERS["WX-0001"]),
        dict(patient_id="WX-0002", center="WX", cohort="retrospective", age_years=67, sex="F",
             diagnosis_date="2023-01-05", bclc="C", ecog=0, tumour_number=1,
             largest_diameter_mm=81.0, extrahepatic_spread=True,
             notes="王 秀 英 seen on 2023-01-05 (record ZY20230212), call 0510-82345678",
             **IDENTIFIERS["WX-0002"]),
        dict(patient_id="NJ-0001", center="NJ", cohort="prospective", age_years=91, sex="M",
             consent_date="2025-11-03", diagnosis_date="2025-10-28", bclc="A", ecog=1,
             tumour_number=1, largest_diameter_mm=35.0, extrahepatic_spread=False,
             notes=None, **IDENTIFIERS["NJ-0001"]),
    ])
    treatments = pd.DataFrame([
        dict(patient_id="WX-0001", kind="TACE", agent="cTACE", start_date="2023-03-01",
             end_date="2023-03-01"),
        dict(patient_id="WX-0001", kind="TKI", agent="lenvatinib", start_date="2023-03-04"),
        dict(patient_id="WX-0002", kind="HAIC", agent="HAIC-FOLFOX", start_date="2023-01-20"),
        dict(patient_id="NJ-0001", kind="PD1", agent="sintilimab", start_date="2025-11-10"),
    ])
    labs = pd.DataFrame([
        dict(patient_id="WX-0001", date="2023-02-26", test="albumin", value=36.5, unit="g/L"),
        dict(patient_id="NJ-0001", date="2025-11-08", test="bilirubin", value=18.0,
             unit="umol/L"),
    ])
    exams = pd.DataFrame([
        dict(exam_id="WX-0001-CT-01", patient_id="WX-0001", date="2023-02-24", modality="CT",
             phases="arterial,portal_venous", image_path="/pacs/张伟/ZY20230145/ct1"),
        dict(exam_id="NJ-0001-MR-01", patient_id="NJ-0001", date="2025-11-01", modality="MR",
             phases="arterial,portal_venous", image_path="D:/images/NJ-0001"),
    ])
    lesion_reads = pd.DataFrame([
        dict(patient_id="WX-0001", exam_id="WX-0001-CT-01", reader="R1",
             lesion_id="WX-0001-LES-1", kind="target", organ="liver",
             viable_diameter_mm=40.0),
    ])
    followup = pd.DataFrame([
        dict(patient_id="WX-0001", last_contact_date="2024-01-10",
             notes="2024年1月10日电话随访，本人接听 13812345678"),
        dict(patient_id="WX-0002", last_contact_date="2023-09-30", death_date="2023-09-30",
             death_cause="tumour_progression"),
    ])
    adverse_events = pd.DataFrame([
        dict(patient_id="WX-0001", term="Pain", grade=1, onset_date="2023-03-01",
             procedure="biopsy", notes="穿刺后疼痛，3月2日缓解；联系李建国医生"),
    ])
    specimens = pd.DataFrame([
        dict(patient_id="WX-0001", sample_id="WX-0001-BX-01", slide_id="WX-0001-SL-01",
             kind="biopsy_wsi", date="2023-03-01", path="/slides/ZY20230145.svs"),
    ])
    raw = dict(patients=patients, treatments=treatments, labs=labs, exams=exams,
               lesion_reads=lesion_reads, followup=followup, adverse_events=adverse_events,
               specimens=specimens)
    return {name: coerce_table(name, df) for name, df in raw.items()}


@pytest.fixture
def study_tables() -> dict[str, pd.DataFrame]:
    return _tables()


@pytest.fixture
def key() -> DeidKey:
    return DeidKey(bytes(range(32)))


@pytest.fixture
def other_key() -> DeidKey:
    return DeidKey(bytes(range(100, 132)))
