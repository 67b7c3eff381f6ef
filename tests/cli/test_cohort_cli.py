"""``hccfusion crf ingest`` and ``hccfusion cohort freeze`` through the real command tree."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from hccfusion.cli.main import app, main
from hccfusion.io.crf import write_workbook
from hccfusion.io.database import audit_trail, ingest_tables, list_batches
from tests.io.conftest import make_tables

runner = CliRunner()


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run the installed entry point (error → exit code mapping included)."""
    monkeypatch.setattr(sys, "argv", ["hccfusion", *args])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return info.value.code, captured.out + captured.err


def test_ingest_prints_batch_and_counts_then_reports_a_repeat(tmp_path):
    book = write_workbook(make_tables(("WX-0001", "WX-0002")), tmp_path / "WX.xlsx")
    db = tmp_path / "study.duckdb"
    first = runner.invoke(app, ["crf", "ingest", str(book), "--db", str(db)])
    assert first.exit_code == 0, first.output
    batch = list_batches(db).iloc[0]["batch_id"]
    assert batch in first.output
    assert "labs" in first.output and "inserted" in first.output
    again = runner.invoke(app, ["crf", "ingest", str(book), "--db", str(db)])
    assert again.exit_code == 0
    assert "already imported" in again.output and batch in again.output
    assert len(list_batches(db)) == 1


def test_ingest_refuses_a_workbook_with_errors(tmp_path, monkeypatch, capsys):
    tables = make_tables(("WX-0001",))
    tables["patients"]["sex"] = tables["patients"]["sex"].astype(object)
    tables["patients"].loc[0, "sex"] = "X"
    book = write_workbook(tables, tmp_path / "bad.xlsx")
    db = tmp_path / "study.duckdb"
    code, text = run_main(monkeypatch, capsys, "crf", "ingest", str(book), "--db", str(db))
    assert code == 1
    assert "1 validation error" in text and "nothing was imported" in text
    assert "patients" in text and "sex" in text and "unknown_code" in text
    assert "Traceback" not in text
    assert not db.exists()


def test_freeze_writes_the_snapshot(tmp_path):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, make_tables(), source_name="all.xlsx", source_hash="a" * 64)
    out = tmp_path / "cohort"
    result = runner.invoke(app, ["cohort", "freeze", "--db", str(db), "--cutoff", "2024-01-01",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "cohort.json").read_text())
    assert meta["cutoff"] == "2024-01-01"
    assert meta["source_hash"] in result.output.replace("\n", "")
    assert "1 death(s) after the cut-off censored" in result.output
    assert audit_trail(db).shape[0] > 0  # the database is read, not changed


def test_freeze_usage_errors_exit_2_with_one_line(tmp_path, monkeypatch, capsys):
    db = tmp_path / "study.duckdb"
    ingest_tables(db, make_tables(("NJ-0001",)), source_name="nj.xlsx", source_hash="b" * 64)
    code, text = run_main(monkeypatch, capsys, "cohort", "freeze", "--db", str(db),
                          "--cutoff", "01/06/2024", "--out", str(tmp_path / "c"))
    assert code == 2 and "YYYY-MM-DD" in text and "Traceback" not in text
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("x")
    code, text = run_main(monkeypatch, capsys, "cohort", "freeze", "--db", str(db),
                          "--cutoff", "2024-01-01", "--out", str(busy))
    assert code == 2 and "not empty" in text
    code, text = run_main(monkeypatch, capsys, "cohort", "freeze", "--db",
                          str(tmp_path / "none.duckdb"), "--cutoff", "2024-01-01",
                          "--out", str(tmp_path / "c"))
    assert code == 2 and "no study database" in text
