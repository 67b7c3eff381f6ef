"""Small canonical CRF tables built by hand: three patients of centre WX and one of NJ, each with
rows in every table, dates on both sides of 2024-01-01 (the cut-off the cohort tests use).

WX-0001 is alive (last seen 2024-05-01), WX-0002 dies after the cut-off (2024-06-01), WX-0003
dies before it (2023-09-15) and NJ-0001 is lost to follow-up on 2023-11-01; the last two have no
rows after their end, so that the tables pass ``validate_crf``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from hccfusion.io.schema import TABLES, coerce_table

D = pd.Timestamp


def _patients() -> pd.DataFrame:
    rows = []
    for i, (pid, center) in enumerate([("WX-0001", "WX"), ("WX-0002", "WX"), ("WX-0003", "WX"),
                                       ("NJ-0001", "NJ")]):
        rows.append(dict(
            patient_id=pid, center=center, cohort="retrospective", name=f"Name {i}",
            phone=f"1380000000{i}", national_id=f"11010119700101{i:04d}",
            record_number=f"ZY{i:06d}", age_years=55 + i, sex="M" if i % 2 else "F",
            diagnosis_date=D("2023-01-10"), etiology="HBV", ecog=i % 2, bclc="C",
            tumour_number=2 + i, largest_diameter_mm=60.0 + 10 * i, pvtt="Vp2",
            extrahepatic_spread=bool(i % 2), notes=None))
    return pd.DataFrame(rows)


def _labs() -> pd.DataFrame:
    rows = []
    for pid in ("WX-0001", "WX-0002", "WX-0003", "NJ-0001"):
        for date in ("2023-02-01", "2023-06-01", "2024-03-01"):
            rows.append(dict(patient_id=pid, date=D(date), test="albumin", value=38.0,
                             unit="g/L", source_value="38", source_unit="g/L"))
            rows.append(dict(patient_id=pid, date=D(date), test="afp", value=420.5,
                             unit="ng/mL", source_value="420.5", source_unit="ng/mL"))
    return pd.DataFrame(rows)


def _treatments() -> pd.DataFrame:
    rows = []
    for pid in ("WX-0001", "WX-0002", "WX-0003", "NJ-0001"):
        rows += [
            dict(patient_id=pid, kind="TACE", agent="cTACE", start_date=D("2023-03-01"),
                 end_date=D("2023-03-01"), cycles=1),
            dict(patient_id=pid, kind="TKI", agent="lenvatinib", start_date=D("2023-03-05"),
                 end_date=D("2024-02-01"), dose=8.0, dose_unit="mg"),
            dict(patient_id=pid, kind="PD1", agent="camrelizumab", start_date=D("2023-03-10"),
                 end_date=D("2023-12-01"), dose=200.0, dose_unit="mg", cycles=12),
            dict(patient_id=pid, kind="TACE", agent="cTACE", start_date=D("2024-02-15"),
                 end_date=D("2024-02-15"), cycles=1),
        ]
    return pd.DataFrame(rows)


def _exams() -> pd.DataFrame:
    rows = []
    for pid in ("WX-0001", "WX-0002", "WX-0003", "NJ-0001"):
        for n, date in enumerate(("2023-02-20", "2023-05-01", "2024-04-01")):
            rows.append(dict(exam_id=f"{pid}-E{n}", patient_id=pid, date=D(date), modality="CT",
                             phases="arterial,portal_venous", slice_thickness_mm=1.25,
                             image_path=f"/site/ct/{pid}/{n}"))
    return pd.DataFrame(rows)


def _lesion_reads() -> pd.DataFrame:
    rows = []
    for pid in ("WX-0001", "WX-0002", "WX-0003", "NJ-0001"):
        for n in range(3):
            for reader in ("R1", "R2"):
                rows.append(dict(patient_id=pid, exam_id=f"{pid}-E{n}", reader=reader,
                                 lesion_id="L1", kind="target", organ="liver", typical_hcc=True,
                                 viable_diameter_mm=40.0 - 5 * n, longest_diameter_mm=50.0,
                                 evaluable=True))
    return pd.DataFrame(rows)


def _followup() -> pd.DataFrame:
    return pd.DataFrame([
        dict(patient_id="WX-0001", last_contact_date=D("2024-05-01"), lost_to_followup=False),
        dict(patient_id="WX-0002", last_contact_date=D("2024-05-20"), death_date=D("2024-06-01"),
             death_cause="tumour_progression"),
        dict(patient_id="WX-0003", last_contact_date=D("2023-09-01"), death_date=D("2023-09-15"),
             death_cause="liver_failure"),
        dict(patient_id="NJ-0001", last_contact_date=D("2023-11-01"), lost_to_followup=True),
    ])


def _adverse_events() -> pd.DataFrame:
    rows = []
    for pid in ("WX-0001", "WX-0002", "WX-0003", "NJ-0001"):
        rows += [
            dict(patient_id=pid, term="Fever", grade=1, onset_date=D("2023-03-02"),
                 resolution_date=D("2023-03-04"), procedure="TACE", attribution="definite"),
            dict(patient_id=pid, term="Hypertension", grade=2, onset_date=D("2023-12-20"),
                 resolution_date=D("2024-01-20"), procedure="TKI", attribution="probable"),
            dict(patient_id=pid, term="Pain", grade=1, onset_date=D("2024-02-16"),
                 procedure="TACE", attribution="definite"),
        ]
    return pd.DataFrame(rows)


def _specimens() -> pd.DataFrame:
    rows = []
    for pid in ("WX-0001", "WX-0002", "WX-0003", "NJ-0001"):
        rows += [
            dict(patient_id=pid, sample_id=f"{pid}-S1", slide_id=f"{pid}-H1", kind="biopsy_wsi",
                 site="liver_tumour", date=D("2023-03-01"), path=f"/site/wsi/{pid}.svs",
                 fate="preserved"),
            dict(patient_id=pid, sample_id=f"{pid}-S2", kind="blood",
                 site="peripheral_blood", date=D("2024-02-01"), fate="destroyed"),
        ]
    return pd.DataFrame(rows)


#: Last day each patient can have data (death or loss to follow-up).
END = {"WX-0003": D("2023-09-15"), "NJ-0001": D("2023-11-01")}
EVENT_DATE = {"labs": "date", "exams": "date", "specimens": "date", "treatments": "start_date",
              "adverse_events": "onset_date"}
LATER_DATE = {"treatments": "end_date", "adverse_events": "resolution_date"}


def _end_of_data(raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Drop rows after a patient's end, and cap their later dates at it."""
    end = {name: frame["patient_id"].map(END) for name, frame in raw.items()}
    for name, col in EVENT_DATE.items():
        raw[name] = raw[name][~(raw[name][col] > end[name])]
    gone = set(raw["exams"]["exam_id"])
    raw["lesion_reads"] = raw["lesion_reads"][raw["lesion_reads"]["exam_id"].isin(gone)]
    for name, col in LATER_DATE.items():
        frame = raw[name].copy()
        limit = frame["patient_id"].map(END)
        frame[col] = frame[col].where(~(frame[col] > limit), limit)
        raw[name] = frame
    return raw


def make_tables(patients: tuple[str, ...] | None = None) -> dict[str, pd.DataFrame]:
    """The canonical tables, optionally restricted to some patients."""
    raw = {"patients": _patients(), "labs": _labs(), "treatments": _treatments(),
           "exams": _exams(), "lesion_reads": _lesion_reads(), "followup": _followup(),
           "adverse_events": _adverse_events(), "specimens": _specimens()}
    assert set(raw) == set(TABLES)
    raw = _end_of_data(raw)
    out = {}
    for name, frame in raw.items():
        if patients is not None:
            frame = frame[frame["patient_id"].isin(patients)]
        out[name] = coerce_table(name, frame)
    return out


@pytest.fixture
def study_tables() -> dict[str, pd.DataFrame]:
    """All four patients (WX-0001..3 and NJ-0001)."""
    return make_tables()


@pytest.fixture
def wx_tables() -> dict[str, pd.DataFrame]:
    """Centre WX's workbook: patients WX-0001..3."""
    return make_tables(("WX-0001", "WX-0002", "WX-0003"))


@pytest.fixture
def nj_tables() -> dict[str, pd.DataFrame]:
    """Centre NJ's workbook: patient NJ-0001."""
    return make_tables(("NJ-0001",))


@pytest.fixture(scope="module")
def study_db(tmp_path_factory):
    """A study database holding all four patients (one batch); treat it as read-only."""
    from hccfusion.io.database import ingest_tables

    path = tmp_path_factory.mktemp("db") / "study.duckdb"
    ingest_tables(path, make_tables(), source_name="all.xlsx", source_hash="a" * 64)
    return path
