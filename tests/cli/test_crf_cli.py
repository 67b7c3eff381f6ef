"""`hccfusion crf template|validate` through the real entry point: exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd

from hccfusion.io.crf import write_workbook
from hccfusion.io.schema import TABLES

from ..io.crf.conftest import tiny_tables


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hccfusion.cli.main", *args], capture_output=True,
                          text=True, timeout=120)


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys, hccfusion.cli.main as m; "
            "print(','.join(k for k in ('pandas','numpy','duckdb','torch','matplotlib','openpyxl',"
            "'python_calamine','scipy','lifelines') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert _run("--help").returncode == 0


def test_template_is_a_valid_empty_crf(tmp_path: Path) -> None:
    out = tmp_path / "crf_template.xlsx"
    assert _run("crf", "template", str(out)).returncode == 0
    wb = openpyxl.load_workbook(out)
    assert set(TABLES) <= set(wb.sheetnames) and "dictionary" in wb.sheetnames
    ws = wb["patients"]
    assert [c.value for c in ws[1]] == list(TABLES["patients"].columns)
    assert "研究编号" in ws["A1"].comment.text
    sex_col = TABLES["patients"].columns.index("sex") + 1
    sex_ref = f"{openpyxl.utils.get_column_letter(sex_col)}2"
    validations = [dv for dv in ws.data_validations.dataValidation if sex_ref in dv.sqref]
    assert validations and validations[0].type == "list"
    dictionary = pd.DataFrame(wb["dictionary"].values)
    assert len(dictionary) - 1 == sum(len(t.fields) for t in TABLES.values())
    again = _run("crf", "template", str(out))
    assert again.returncode == 2 and "exists" in again.stderr


def test_validate_exit_codes_and_json(tmp_path: Path) -> None:
    clean = write_workbook(tiny_tables(), tmp_path / "clean.xlsx")
    assert _run("crf", "validate", str(clean)).returncode == 0
    tables = tiny_tables()
    tables["patients"] = tables["patients"].astype(object)
    tables["patients"].at[1, "ecog"] = 9
    bad = write_workbook(tables, tmp_path / "bad.xlsx")
    report = tmp_path / "report.json"
    run = _run("crf", "validate", str(bad), "--json", str(report))
    assert run.returncode == 1
    assert "out_of_range" in run.stdout and "Traceback" not in run.stderr
    payload = json.loads(report.read_text(encoding="utf-8"))
    assert payload["errors"] == 1
    (issue,) = payload["issues"]
    assert (issue["sheet"], issue["row"], issue["column"], issue["rule"]) == (
        "patients", 3, "ecog", "out_of_range")


def test_unusable_input_is_one_line_exit_2(tmp_path: Path) -> None:
    bogus = tmp_path / "crf.xlsx"
    bogus.write_text("not a workbook")
    run = _run("crf", "validate", str(bogus))
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "not an Excel .xlsx workbook" in run.stderr
