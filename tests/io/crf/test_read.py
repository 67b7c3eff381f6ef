"""What a hospital spreadsheet contains, and what cannot be read at all."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from hccfusion.errors import UnusableInputError
from hccfusion.io.crf import validate_crf, write_workbook
from hccfusion.io.schema import TABLES

from .conftest import TODAY, tiny_tables


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit(path: Path, sheet: str, edits: dict[str, object]) -> None:
    wb = openpyxl.load_workbook(path)
    for ref, value in edits.items():
        wb[sheet][ref] = value
    wb.save(path)


def _col(sheet: str, name: str) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(TABLES[sheet].columns.index(name) + 1)


def test_validation_never_changes_the_file(workbook: Path) -> None:
    before, mtime = _sha(workbook), workbook.stat().st_mtime_ns
    report = validate_crf(workbook, today=TODAY)
    assert _sha(workbook) == before == report.source_hash
    assert workbook.stat().st_mtime_ns == mtime


def test_messy_cells_parse_to_the_clean_values(workbook: Path, tmp_path: Path) -> None:
    clean = validate_crf(workbook, today=TODAY).tables
    messy = tmp_path / "messy.xlsx"
    messy.write_bytes(workbook.read_bytes())
    p, lab = "patients", "labs"
    _edit(messy, p, {
        f"{_col(p, 'age_years')}2": "５８",  # full-width digits
        f"{_col(p, 'largest_diameter_mm')}2": " 82.0 ",  # number as text with stray spaces
        f"{_col(p, 'sex')}2": "男",
        f"{_col(p, 'cirrhosis')}2": "是",
        f"{_col(p, 'diagnosis_date')}2": 44967,  # Excel serial date of 2023-02-10
        f"{_col(p, 'etiology')}2": "ＨＢＶ",
        f"{_col(p, 'bclc')}3": "  B ",
    })
    _edit(messy, lab, {f"{_col(lab, 'date')}2": "2023年2月25日", f"{_col(lab, 'unit')}3": "μmol/L"})
    report = validate_crf(messy, today=TODAY)
    assert report.issues == ()
    pd.testing.assert_frame_equal(report.tables["patients"], clean["patients"])
    pd.testing.assert_frame_equal(report.tables["labs"].drop(columns="source_unit"),
                                  clean["labs"].drop(columns="source_unit"))
    assert report.tables["labs"]["source_unit"].iat[1] == "μmol/L"  # kept as written


def test_censored_lab_values_keep_value_and_flag(workbook: Path) -> None:
    _edit(workbook, "labs", {f"{_col('labs', 'value')}7": ">1000", f"{_col('labs', 'value')}6": "<0.5"})
    report = validate_crf(workbook, today=TODAY)
    labs = report.tables["labs"]
    afp = labs.iloc[5]
    assert afp["value_censor"] == ">" and afp["value"] == pytest.approx(1210.0)  # IU/mL × 1.21
    assert afp["source_value"] == ">1000" and afp["source_unit"] == "IU/mL"
    crp = labs.iloc[4]
    assert crp["value_censor"] == "<" and crp["value"] == pytest.approx(5.0)  # mg/dL × 10


def test_units_converted_from_one_table(workbook: Path) -> None:
    labs = validate_crf(workbook, today=TODAY).tables["labs"]
    nj = labs[labs["patient_id"] == "NJ-0002"].set_index("test")
    assert nj.loc["bilirubin", "value"] == pytest.approx(1.2 * 17.1)
    assert nj.loc["albumin", "value"] == pytest.approx(39.0)
    assert nj.loc["crp", "value"] == pytest.approx(15.0)
    assert nj.loc["afp", "value"] == pytest.approx(121.0)
    assert list(nj["unit"]) == ["umol/L", "g/L", "mg/L", "ng/mL"]
    assert list(nj["source_unit"]) == ["mg/dL", "g/dL", "mg/dL", "IU/mL"]


def test_merged_cells_trailing_blanks_and_title_rows(tmp_path: Path) -> None:
    tables = tiny_tables()
    path = write_workbook(tables, tmp_path / "m.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["labs"]
    ws.insert_rows(1, amount=2)  # a title and a blank row above the header
    ws["A1"] = "Laboratory results 实验室检查"
    ws["A7"] = None  # NJ-0002's patient_id written once, merged over its lab rows
    ws["A8"] = None
    ws.merge_cells("A6:A8")
    ws.append([None] * 5)
    ws.append(["   "])
    wb.save(path)
    report = validate_crf(path, today=TODAY)
    labs = report.tables["labs"]
    assert len(labs) == 6
    assert list(labs["patient_id"][2:5]) == ["NJ-0002"] * 3
    assert report.row_numbers["labs"][0] == 4  # header moved to row 3
    assert not report.has_errors, [str(i) for i in report.errors]


def test_chinese_headers_and_units_in_headers(tmp_path: Path) -> None:
    path = write_workbook(tiny_tables(), tmp_path / "zh.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["patients"]
    for cell in ws[1]:
        f = TABLES["patients"].field(cell.value)
        cell.value = f"{f.label_zh}（{f.unit}）" if f.unit else f.label_zh
    wb["labs"].title = "实验室检查"
    wb.save(path)
    report = validate_crf(path, today=TODAY)
    assert not report.has_errors
    assert report.tables["patients"]["largest_diameter_mm"].tolist() == [82.0, 45.0]


def test_sheet_level_findings(workbook: Path) -> None:
    wb = openpyxl.load_workbook(workbook)
    ws = wb["patients"]
    sex_col = TABLES["patients"].columns.index("sex") + 1
    ws.cell(row=1, column=sex_col).value = "gender?"
    extra = ws.max_column + 1
    ws.cell(row=1, column=extra).value = "ECOG评分"
    wb.save(workbook)
    report = validate_crf(workbook, today=TODAY)
    rules = {(i.rule, i.column) for i in report.issues}
    assert ("missing_column", "sex") in rules
    assert ("unknown_column", "gender?") in rules
    assert ("duplicate_column", "ECOG评分") in rules
    assert all(i.row == 1 for i in report.issues if i.rule.endswith("column"))


def test_csv_folder_gives_the_same_tables(workbook: Path, tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    wb = openpyxl.load_workbook(workbook)
    for name in TABLES:
        rows = [[("" if v is None else (v.date().isoformat() if hasattr(v, "date") else v))
                 for v in r] for r in wb[name].iter_rows(values_only=True)]
        encoding = "gb18030" if name == "patients" else "utf-8"
        pd.DataFrame(rows[1:], columns=rows[0]).to_csv(folder / f"{name}.csv", index=False,
                                                       encoding=encoding)
    report = validate_crf(folder, today=TODAY)
    assert not report.has_errors, [str(i) for i in report.errors]
    xlsx = validate_crf(workbook, today=TODAY)
    for name in TABLES:
        # source_value is the cell as written: '38.0' in the CSV, the number 38 in the workbook
        pd.testing.assert_frame_equal(report.tables[name].drop(columns="source_value", errors="ignore"),
                                      xlsx.tables[name].drop(columns="source_value", errors="ignore"))
    assert report.issues == ()


def test_identifiers_never_appear_in_findings(tmp_path: Path) -> None:
    tables = tiny_tables()
    tables["patients"] = tables["patients"].astype(object)
    tables["patients"].at[0, "age_years"] = "unknown"
    tables["labs"] = tables["labs"].astype(object)
    tables["labs"].at[0, "patient_id"] = "WX-0009"
    report = validate_crf(write_workbook(tables, tmp_path / "x.xlsx"), today=TODAY)
    dumped = json.dumps([str(i) for i in report.issues], ensure_ascii=False)
    for value in ("张伟", "13812345678", "32020219650312123X", "ZY2023001", "李娜"):
        assert value not in dumped


@pytest.mark.parametrize("kind", ["text", "empty", "encrypted", "no_data", "missing_sheet", "nothing"])
def test_unusable_input(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "crf.xlsx"
    if kind == "text":
        path.write_text("patient_id,age\nWX-1,50\n")
        expected = "not an Excel"
    elif kind == "empty":
        path.write_bytes(b"")
        expected = "empty"
    elif kind == "encrypted":
        msoffcrypto = pytest.importorskip("msoffcrypto")
        from msoffcrypto.format.ooxml import OOXMLFile

        plain = write_workbook(tiny_tables(), tmp_path / "plain.xlsx")
        with plain.open("rb") as src, path.open("wb") as dst:
            OOXMLFile(src).encrypt("secret", dst)
        expected = "password-protected"
        del msoffcrypto
    elif kind == "no_data":
        write_workbook({}, path)
        expected = "no data rows"
    elif kind == "missing_sheet":
        write_workbook(tiny_tables(), path)
        wb = openpyxl.load_workbook(path)
        del wb["specimens"]
        wb.save(path)
        expected = r"missing sheet\(s\) specimens"
    else:
        path = tmp_path / "absent.xlsx"
        expected = "no such file"
    with pytest.raises(UnusableInputError, match=expected):
        validate_crf(path, today=TODAY)
