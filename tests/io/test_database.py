"""The study database: batches, re-import semantics, audit trail, atomicity."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, SchemaVersionError, UsageError, ValidationFailed
from hccfusion.io import database_diff
from hccfusion.io.crf import write_workbook
from hccfusion.io.database import (
    audit_trail,
    ingest_tables,
    ingest_workbook,
    list_batches,
    read_tables,
)
from hccfusion.io.schema import TABLES, coerce_table

H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64


def db_content(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table of the database file, order-independent."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        return {n: sorted(map(repr, con.execute(f'SELECT * FROM "{n}"').fetchall())) for n in names}
    finally:
        con.close()


def sorted_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    key = list(TABLES[name].key)
    return frame.sort_values(key).reset_index(drop=True)


def test_first_import_inserts_every_row_and_reads_back(tmp_path, study_tables):
    db = tmp_path / "study.duckdb"
    result = ingest_tables(db, study_tables, source_name="/site/dir/WX.xlsx", source_hash=H1)
    assert result.status == "imported"
    assert result.patients == 4
    frame = result.to_frame().set_index("table")
    for name, table in study_tables.items():
        assert frame.loc[name, "inserted"] == len(table)
        assert frame.loc[name, "updated"] == frame.loc[name, "deleted"] == 0
    back = read_tables(db)
    for name, table in study_tables.items():
        pd.testing.assert_frame_equal(back[name], sorted_table(name, table))
    batches = list_batches(db)
    assert list(batches["batch_id"]) == [result.batch_id]
    row = batches.iloc[0]
    assert row["source_name"] == "WX.xlsx"  # no directory
    assert row["source_hash"] == H1 and row["status"] == "imported"
    assert json.loads(row["row_counts"]) == {n: len(t) for n, t in study_tables.items()}
    audit = audit_trail(db)
    assert set(audit["action"]) == {"insert"}
    assert len(audit) == sum(len(t) for t in study_tables.values())


def test_one_corrected_cell_is_the_only_audit_row(tmp_path, wx_tables):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    labs = wx_tables["labs"]
    row = labs.index[(labs["patient_id"] == "WX-0002") & (labs["test"] == "albumin")
                     & (labs["date"] == pd.Timestamp("2023-06-01"))][0]
    labs.loc[row, "value"] = 31.5
    second = ingest_tables(db, wx_tables, source_name="WX_v2.xlsx", source_hash=H2)
    assert second.status == "imported"
    assert second.changes["labs"].updated == 1 and second.changes["labs"].cells_changed == 1
    assert sum(c.inserted + c.deleted + c.updated for c in second.changes.values()) == 1
    audit = audit_trail(db, batch_id=second.batch_id)
    assert len(audit) == 1
    entry = audit.iloc[0]
    assert entry["action"] == "update" and entry["table"] == "labs" and entry["column"] == "value"
    assert entry["old_value"] == "38.0" and entry["new_value"] == "31.5"
    assert json.loads(entry["key"]) == {"patient_id": "WX-0002", "date": "2023-06-01",
                                        "test": "albumin"}
    stored = read_tables(db)["labs"]
    hit = stored[(stored["patient_id"] == "WX-0002") & (stored["test"] == "albumin")
                 & (stored["date"] == pd.Timestamp("2023-06-01"))]
    assert hit["value"].tolist() == [31.5]


def test_removed_row_is_deleted_and_audited_with_its_values(tmp_path, wx_tables):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    ae = wx_tables["adverse_events"]
    gone = (ae["patient_id"] == "WX-0001") & (ae["term"] == "Pain")
    wx_tables["adverse_events"] = ae[~gone].reset_index(drop=True)
    second = ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H2)
    assert second.changes["adverse_events"].deleted == 1
    audit = audit_trail(db, batch_id=second.batch_id)
    assert list(audit["action"]) == ["delete"]
    old = json.loads(audit.iloc[0]["old_value"])
    assert old["term"] == "Pain" and old["grade"] == 1 and old["onset_date"] == "2024-02-16"
    stored = read_tables(db)["adverse_events"]
    assert len(stored) == len(ae) - 1
    assert not ((stored["patient_id"] == "WX-0001") & (stored["term"] == "Pain")).any()


def test_new_row_is_inserted_and_audited(tmp_path, wx_tables):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    extra = pd.DataFrame([dict(patient_id="WX-0003", date=pd.Timestamp("2023-07-01"),
                               test="alt", value=55.0, unit="U/L")])
    wx_tables["labs"] = coerce_table("labs", pd.concat([wx_tables["labs"], extra]))
    second = ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H2)
    audit = audit_trail(db, batch_id=second.batch_id)
    assert list(audit["action"]) == ["insert"]
    assert json.loads(audit.iloc[0]["new_value"])["value"] == 55.0


def test_other_centre_is_untouched(tmp_path, wx_tables, nj_tables):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    nj = ingest_tables(db, nj_tables, source_name="NJ.xlsx", source_hash=H2)
    assert sum(c.deleted for c in nj.changes.values()) == 0  # NJ's workbook deletes no WX row
    before = read_tables(db)
    # WX re-imports with one patient fewer and a changed exam: NJ's rows must not move.
    wx_tables = {n: t[t["patient_id"] != "WX-0003"].reset_index(drop=True)
                 for n, t in wx_tables.items()}
    wx_tables["exams"].loc[0, "modality"] = "MR"
    third = ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H3)
    after = read_tables(db)
    for name in TABLES:
        nj_before = before[name][before[name]["patient_id"] == "NJ-0001"].reset_index(drop=True)
        nj_after = after[name][after[name]["patient_id"] == "NJ-0001"].reset_index(drop=True)
        pd.testing.assert_frame_equal(nj_before, nj_after)
        # WX-0003 is absent from the new workbook, so it is not ours to delete either.
        assert (after[name]["patient_id"] == "WX-0003").sum() == \
            (before[name]["patient_id"] == "WX-0003").sum()
    audit = audit_trail(db, batch_id=third.batch_id)
    assert len(audit) == 1 and "NJ" not in audit.iloc[0]["key"]


def test_same_file_hash_again_records_nothing(tmp_path, study_tables):
    db = tmp_path / "study.duckdb"
    first = ingest_tables(db, study_tables, source_name="WX.xlsx", source_hash=H1)
    before = db_content(db)
    again = ingest_tables(db, study_tables, source_name="WX.xlsx", source_hash=H1)
    assert again.status == "already_imported" and not again.recorded
    assert again.batch_id == first.batch_id
    assert db_content(db) == before


def test_new_file_with_identical_content_is_a_batch_without_changes(tmp_path, study_tables):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, study_tables, source_name="WX.xlsx", source_hash=H1)
    again = ingest_tables(db, study_tables, source_name="WX copy.xlsx", source_hash=H2)
    assert again.status == "no_changes"
    assert list(list_batches(db)["status"]) == ["imported", "no_changes"]
    assert audit_trail(db, batch_id=again.batch_id).empty


def test_refused_import_leaves_database_identical(tmp_path, wx_tables):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    before = db_content(db)
    labs = wx_tables["labs"]
    labs.loc[0, "value"] = 1.0  # would be an update ...
    wx_tables["labs"] = coerce_table("labs", pd.concat([labs, labs.iloc[[1]]]))  # ... but dup key
    with pytest.raises(DataError, match="share the natural key"):
        ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H2)
    assert db_content(db) == before


def test_import_failing_half_way_rolls_back(tmp_path, wx_tables, monkeypatch):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    before = db_content(db)
    for name in TABLES:  # touch every table so that each one would change
        if name != "patients":
            wx_tables[name] = wx_tables[name].iloc[1:].reset_index(drop=True)
    wx_tables["patients"].loc[0, "ecog"] = 2
    real = database_diff.apply_table

    def flaky(con, *, table, **kwargs):
        real(con, table=table, **kwargs)
        if table == "lesion_reads":
            raise RuntimeError("disk full")

    monkeypatch.setattr(database_diff, "apply_table", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H2)
    assert db_content(db) == before


def test_failed_first_import_leaves_no_file(tmp_path, wx_tables, monkeypatch):
    db = tmp_path / "new.duckdb"

    def broken(con, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(database_diff, "apply_table", broken)
    with pytest.raises(RuntimeError):
        ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    assert not db.exists()


def test_key_held_by_another_centres_patient_is_refused(tmp_path, wx_tables, nj_tables):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    before = db_content(db)
    nj_tables["exams"].loc[0, "exam_id"] = "WX-0001-E0"
    with pytest.raises(DataError, match=r"exams.*WX-0001-E0.*already held for patient WX-0001"):
        ingest_tables(db, nj_tables, source_name="NJ.xlsx", source_hash=H2)
    assert db_content(db) == before


def test_missing_table_and_unknown_column_are_refused(tmp_path, wx_tables):
    db = tmp_path / "study.duckdb"
    partial = {k: v for k, v in wx_tables.items() if k != "labs"}
    with pytest.raises(UsageError, match=r"missing \['labs'\]"):
        ingest_tables(db, partial, source_name="WX.xlsx", source_hash=H1)
    wx_tables["labs"]["mystery"] = 1
    with pytest.raises(DataError, match="mystery"):
        ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    assert not db.exists()


def test_findings_are_stored_without_identifier_values(tmp_path, wx_tables):
    db = tmp_path / "study.duckdb"
    findings = pd.DataFrame([
        dict(severity="warning", rule="soft_range", sheet="patients", row=3, column="age_years",
             value="85", message="age 85 is outside 18–80", patient_id="WX-0002"),
        dict(severity="warning", rule="format", sheet="patients", row=4, column="phone",
             value="13800000001", message="phone has 11 digits", patient_id="WX-0003"),
    ])
    result = ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1,
                           findings=findings)
    assert result.n_warnings == 2
    assert list_batches(db).iloc[0]["n_warnings"] == 2
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute('SELECT "column", value, batch_id FROM findings ORDER BY row').fetchall()
    con.close()
    assert stored == [("age_years", "85", result.batch_id), ("phone", None, result.batch_id)]


def test_wrong_schema_version_is_refused(tmp_path, wx_tables):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    con = duckdb.connect(str(db))
    con.execute("UPDATE db_meta SET value = '0.9' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(SchemaVersionError, match=r"schema_version 0\.9.*schema_version 1\.0"):
        read_tables(db)
    with pytest.raises(SchemaVersionError):
        ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H2)


def test_missing_database_and_unknown_batch(tmp_path, wx_tables):
    with pytest.raises(UsageError, match="no study database"):
        read_tables(tmp_path / "absent.duckdb")
    db = tmp_path / "study.duckdb"
    result = ingest_tables(db, wx_tables, source_name="WX.xlsx", source_hash=H1)
    wrong = result.batch_id[:-1] + "x"
    with pytest.raises(UsageError, match=f"did you mean '{result.batch_id}'"):
        audit_trail(db, batch_id=wrong)


def _big_tables(n_patients: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pids = np.array([f"WX-{i:04d}" for i in range(n_patients)])
    base = pd.Timestamp("2023-01-01")
    n_dates = 15
    lab_pids = np.repeat(pids, n_dates)
    lab_dates = base + pd.to_timedelta(np.tile(np.arange(n_dates) * 14, n_patients), "D")
    labs = pd.concat([pd.DataFrame({"patient_id": lab_pids, "date": lab_dates, "test": test,
                                    "value": rng.uniform(20, 50, len(lab_pids)), "unit": "x"})
                      for test in ("albumin", "bilirubin")])
    exam_pids = np.repeat(pids, 4)
    exam_n = np.tile(np.arange(4), n_patients)
    exams = pd.DataFrame({"exam_id": [f"{p}-E{e}" for p, e in zip(exam_pids, exam_n)],
                          "patient_id": exam_pids, "modality": "CT",
                          "date": base + pd.to_timedelta(exam_n * 60, "D")})
    reads = pd.concat([pd.DataFrame({"patient_id": exams["patient_id"], "exam_id": exams["exam_id"],
                                     "reader": r, "lesion_id": "L1", "kind": "target",
                                     "organ": "liver",
                                     "viable_diameter_mm": rng.uniform(5, 80, len(exams))})
                       for r in ("R1", "R2", "MDT")])
    once = {"patient_id": pids}
    tables = {
        "patients": pd.DataFrame({**once, "center": "WX", "cohort": "retrospective", "ecog": 1,
                                  "age_years": 60, "sex": "M", "bclc": "C", "tumour_number": 2,
                                  "largest_diameter_mm": 50.0, "extrahepatic_spread": False}),
        "labs": labs, "exams": exams, "lesion_reads": reads,
        "treatments": pd.concat([pd.DataFrame({**once, "kind": k, "agent": a,
                                               "start_date": base + pd.Timedelta(days=d)})
                                 for k, a, d in (("TACE", "cTACE", 0), ("TKI", "lenvatinib", 3),
                                                 ("PD1", "camrelizumab", 7))]),
        "followup": pd.DataFrame({**once, "last_contact_date": base + pd.Timedelta(days=400)}),
        "adverse_events": pd.DataFrame({**once, "term": "Fever", "grade": 1,
                                        "onset_date": base, "procedure": "TACE"}),
        "specimens": pd.DataFrame({**once, "sample_id": [p + "-S1" for p in pids],
                                   "kind": "blood", "date": base}),
    }
    return {name: coerce_table(name, frame) for name, frame in tables.items()}


@pytest.mark.slow
def test_two_thousand_patients_reimport_audits_exactly_the_changed_cells(tmp_path):
    # Speed is measured in benchmarks/bench_crf.py, not asserted here.
    tables = _big_tables(2000)
    assert sum(len(t) for t in tables.values()) > 100_000
    db = tmp_path / "big.duckdb"
    ingest_tables(db, tables, source_name="big.xlsx", source_hash=H1)
    tables["labs"].loc[:99, "value"] += 1.0
    second = ingest_tables(db, tables, source_name="big.xlsx", source_hash=H2)
    assert second.changes["labs"].cells_changed == 100
    assert sum(c.cells_changed for c in second.changes.values()) == 100


TODAY = date(2025, 1, 1)


def test_workbook_import_round_trips_and_keeps_warnings(tmp_path, wx_tables):
    book = write_workbook(wx_tables, tmp_path / "WX_2024.xlsx")
    db = tmp_path / "study.duckdb"
    result = ingest_workbook(book, db_path=db, today=TODAY)
    assert result.status == "imported" and result.source_name == "WX_2024.xlsx"
    back = read_tables(db)
    for name, table in wx_tables.items():
        pd.testing.assert_frame_equal(back[name], sorted_table(name, table))
    batch = list_batches(db).iloc[0]
    assert batch["source_hash"] == hashlib.sha256(book.read_bytes()).hexdigest()
    con = duckdb.connect(str(db), read_only=True)
    n_findings = con.execute("SELECT count(*) FROM findings WHERE severity = 'warning'").fetchall()
    con.close()
    assert batch["n_warnings"] == result.n_warnings == n_findings[0][0] > 0
    again = ingest_workbook(book, db_path=db, today=TODAY)
    assert again.status == "already_imported" and again.batch_id == result.batch_id


def test_workbook_with_errors_is_refused_and_database_untouched(tmp_path, wx_tables):
    db = tmp_path / "study.duckdb"
    ingest_workbook(write_workbook(wx_tables, tmp_path / "v1.xlsx"), db_path=db, today=TODAY)
    before = db_content(db)
    wx_tables["patients"].loc[0, "ecog"] = 2
    wx_tables["patients"]["age_years"] = wx_tables["patients"]["age_years"].astype(object)
    wx_tables["patients"].loc[1, "age_years"] = "unknown"
    bad = write_workbook(wx_tables, tmp_path / "v2.xlsx")
    with pytest.raises(ValidationFailed, match="validation error") as info:
        ingest_workbook(bad, db_path=db, today=TODAY)
    assert info.value.report.has_errors
    assert any(i.column == "age_years" for i in info.value.report.errors)
    assert db_content(db) == before
    with pytest.raises(ValidationFailed):
        ingest_workbook(bad, db_path=tmp_path / "fresh.duckdb", today=TODAY)
    assert not (tmp_path / "fresh.duckdb").exists()
