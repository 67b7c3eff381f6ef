"""The frozen cohort: cut-off rules, no identifiers, verified loading."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from hccfusion.errors import DataError, SchemaVersionError, UsageError
from hccfusion.io.cohort import Cohort, freeze_cohort
from hccfusion.io.cohort_cutoff import apply_cutoff
from hccfusion.io.schema import TABLES

CUTOFF = date(2024, 1, 1)
LIMIT = pd.Timestamp(CUTOFF)


@pytest.fixture
def db(study_db):
    return study_db


@pytest.fixture(scope="module")
def frozen(tmp_path_factory, study_db):
    """One snapshot shared by the module's read-only tests."""
    snap = freeze_cohort(db_path=study_db, cutoff=CUTOFF,
                         out=tmp_path_factory.mktemp("frozen") / "cohort")
    return snap, Cohort.load(snap.path)


@pytest.fixture
def snapshot_copy(tmp_path, frozen):
    """A private copy of the snapshot folder, for tests that tamper with it."""
    return Path(shutil.copytree(frozen[0].path, tmp_path / "cohort"))


def test_snapshot_has_no_identifier_columns(frozen):
    snap, cohort = frozen
    for name, schema in TABLES.items():
        assert not set(schema.identifier_columns) & set(cohort[name].columns)
        on_disk = pd.read_parquet(snap.path / f"{name}.parquet")
        assert not set(schema.identifier_columns) & set(on_disk.columns)
    assert {"name", "phone", "national_id", "record_number"} == \
        set(cohort.meta["identifier_columns_dropped"]["patients"])


def test_nothing_dated_after_the_cutoff(frozen, study_tables):
    snap, cohort = frozen
    for name, col in (("labs", "date"), ("exams", "date"), ("specimens", "date"),
                      ("treatments", "start_date"), ("treatments", "end_date"),
                      ("adverse_events", "onset_date"), ("adverse_events", "resolution_date"),
                      ("followup", "last_contact_date"), ("followup", "death_date")):
        assert not (cohort[name][col] > LIMIT).any(), f"{name}.{col} after the cut-off"
    late = {name: int((study_tables[name][col] > LIMIT).sum())
            for name, col in (("labs", "date"), ("exams", "date"), ("specimens", "date"),
                              ("treatments", "start_date"), ("adverse_events", "onset_date"))}
    late_exams = set(study_tables["exams"].loc[study_tables["exams"]["date"] > LIMIT, "exam_id"])
    late["lesion_reads"] = int(study_tables["lesion_reads"]["exam_id"].isin(late_exams).sum())
    assert all(late.values())  # the fixture has rows after the cut-off in every dated table
    assert snap.removed_by_cutoff == late
    for name, n in late.items():
        assert len(cohort[name]) == len(study_tables[name]) - n
    assert set(cohort["lesion_reads"]["exam_id"]) <= set(cohort["exams"]["exam_id"])
    # a course running past the cut-off keeps its row, without an end date it did not yet have
    tki = cohort["treatments"][cohort["treatments"]["kind"] == "TKI"]
    treatments = study_tables["treatments"]
    running = (treatments["end_date"] > LIMIT) & (treatments["start_date"] <= LIMIT)
    assert len(tki) == 4 and tki["end_date"].isna().sum() == running.sum() == 2
    assert snap.capped_by_cutoff["treatments.end_date"] == 2
    assert cohort.meta["removed_by_cutoff"] == snap.removed_by_cutoff


def test_death_after_cutoff_is_censored_at_the_cutoff(frozen):
    _, cohort = frozen
    fu = cohort["followup"].set_index("patient_id")
    # WX-0002 died 2024-06-01, after the cut-off: alive at the cut-off, censored there
    assert pd.isna(fu.loc["WX-0002", "death_date"]) and pd.isna(fu.loc["WX-0002", "death_cause"])
    assert fu.loc["WX-0002", "last_contact_date"] == LIMIT
    # WX-0003 died before the cut-off: kept as it is
    assert fu.loc["WX-0003", "death_date"] == pd.Timestamp("2023-09-15")
    assert fu.loc["WX-0003", "death_cause"] == "liver_failure"
    # WX-0001 alive, last seen after the cut-off: capped; NJ-0001 lost before it: unchanged
    assert fu.loc["WX-0001", "last_contact_date"] == LIMIT
    assert fu.loc["NJ-0001", "last_contact_date"] == pd.Timestamp("2023-11-01")
    assert bool(fu.loc["NJ-0001", "lost_to_followup"]) is True


def test_apply_cutoff_sets_lost_to_followup_false_when_contact_continued():
    followup = pd.DataFrame({"patient_id": ["P1"], "lost_to_followup": [True],
                             "last_contact_date": [pd.Timestamp("2024-03-01")]})
    from hccfusion.io.schema import coerce_table, empty_table
    tables = {name: empty_table(name) for name in TABLES}
    tables["followup"] = coerce_table("followup", followup)
    out = apply_cutoff(tables, cutoff=CUTOFF)
    row = out.tables["followup"].iloc[0]
    assert row["last_contact_date"] == LIMIT and bool(row["lost_to_followup"]) is False
    assert out.tables["followup"]["last_contact_date"].dtype == "datetime64[ns]"


def test_cohort_json_records_versions_hashes_and_counts(frozen, study_tables):
    snap, cohort = frozen
    meta = json.loads((snap.path / "cohort.json").read_text())
    assert meta["cutoff"] == "2024-01-01" and meta["format_version"] == "1"
    assert meta["schema_version"] == "1.0" and meta["batch_ids"] == list(snap.batch_ids)
    assert meta["row_counts"] == {n: len(t) for n, t in cohort.tables.items()}
    assert len(meta["source_hash"]) == 64 and cohort.source_hash == snap.source_hash
    assert cohort.cutoff == CUTOFF
    assert set(meta["files"]) == set(TABLES)


def test_same_database_same_cutoff_same_source_hash(tmp_path, db, frozen):
    snap, _ = frozen
    again = freeze_cohort(db_path=db, cutoff=CUTOFF, out=tmp_path / "again")
    assert again.source_hash == snap.source_hash
    later = freeze_cohort(db_path=db, cutoff=date(2024, 12, 31), out=tmp_path / "later")
    assert later.source_hash != snap.source_hash


def test_non_empty_out_is_refused_unless_overwrite(tmp_path, db, snapshot_copy):
    with pytest.raises(UsageError, match="not empty"):
        freeze_cohort(db_path=db, cutoff=CUTOFF, out=snapshot_copy)
    replaced = freeze_cohort(db_path=db, cutoff=date(2024, 12, 31), out=snapshot_copy,
                             overwrite=True)
    assert Cohort.load(replaced.path).cutoff == date(2024, 12, 31)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not a cohort snapshot"):
        freeze_cohort(db_path=db, cutoff=CUTOFF, out=other, overwrite=True)
    assert (other / "mine.txt").read_text() == "keep me"


def test_load_refuses_a_tampered_parquet(frozen, snapshot_copy):
    labs = frozen[1]["labs"].copy()
    labs.loc[0, "value"] = 99.0
    labs.to_parquet(snapshot_copy / "labs.parquet", index=False)
    with pytest.raises(DataError, match=r"labs\.parquet.*changed after the freeze"):
        Cohort.load(snapshot_copy)


def test_load_refuses_an_edited_cohort_json(snapshot_copy):
    meta_path = snapshot_copy / "cohort.json"
    meta = json.loads(meta_path.read_text())
    meta["batches"][0]["source_hash"] = "f" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="source_hash"):
        Cohort.load(snapshot_copy)


@pytest.mark.parametrize("key", ["format_version", "schema_version"])
def test_load_refuses_another_version_naming_both(snapshot_copy, key):
    meta_path = snapshot_copy / "cohort.json"
    meta = json.loads(meta_path.read_text())
    ours = meta[key]
    meta[key] = "99"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(SchemaVersionError, match=rf"{key} 99.*{key} {ours}"):
        Cohort.load(snapshot_copy)


def test_load_and_getitem_errors(tmp_path, frozen):
    _, cohort = frozen
    with pytest.raises(UsageError, match="no cohort.json"):
        Cohort.load(tmp_path)
    with pytest.raises(UsageError, match="did you mean 'labs'"):
        cohort["lab"]
    assert "labs" in cohort and "lab" not in cohort


def test_freeze_refuses_missing_database_and_bad_cutoff(tmp_path):
    with pytest.raises(UsageError, match="no study database"):
        freeze_cohort(db_path=tmp_path / "absent.duckdb", cutoff=CUTOFF, out=tmp_path / "c")
    with pytest.raises(UsageError, match="datetime.date"):
        freeze_cohort(db_path=tmp_path / "absent.duckdb", cutoff="2024-01-01",  # type: ignore
                      out=tmp_path / "c")
