"""Writing CRF workbooks: the blank template the sites fill in, and filled workbooks (used by
the simulator and by tests) in exactly the same layout.

Layout: one sheet per table named as the table; row 1 holds the canonical column names, each
with a comment giving the bilingual label, unit, allowed values and ranges; data from row 2.
Coded fields get Excel drop-downs (lists kept on a hidden ``lists`` sheet), date columns a date
format and a date validation. A ``dictionary`` sheet documents every field and a ``lab_tests``
sheet every laboratory test with its accepted units.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from hccfusion.io.schema import LAB_TESTS, TABLES, Field, Kind, table_columns
from hccfusion.io.schema.tables import SCHEMA_VERSION

DATE_FORMAT = "yyyy-mm-dd"
_TEMPLATE_ROWS = 2000  # rows of a blank template that carry drop-downs and formats


def _range_text(bounds: tuple[float | None, float | None] | None) -> str:
    if bounds is None:
        return ""
    lo, hi = bounds
    return f"{'' if lo is None else f'{lo:g}'}–{'' if hi is None else f'{hi:g}'}"


def _comment_text(f: Field) -> str:
    lines = [f"{f.label_en} / {f.label_zh}"]
    if f.required:
        lines.append("Required / 必填")
    if f.unit:
        lines.append(f"Unit / 单位: {f.unit}")
    if f.codes:
        lines.append("Allowed / 可选: " + ", ".join(f.codes))
    if f.kind is Kind.DATE:
        lines.append("Date / 日期: YYYY-MM-DD")
    if f.kind is Kind.BOOL:
        lines.append("yes / no (是 / 否)")
    if f.hard:
        lines.append(f"Possible range: {_range_text(f.hard)}")
    if f.censorable:
        lines.append("'<x' or '>x' allowed (censored)")
    if f.identifier:
        lines.append("Identifier: never leaves the site / 标识信息，不出院")
    if f.description:
        lines.append(f.description)
    return "\n".join(lines)


def _dictionary_rows() -> list[list[object]]:
    rows: list[list[object]] = [["table", "field", "label_en", "label_zh", "kind", "unit", "required",
                                 "allowed_values", "possible_range", "expected_range",
                                 "identifier", "description"]]
    for name, schema in TABLES.items():
        for f in schema.fields:
            rows.append([name, f.name, f.label_en, f.label_zh, str(f.kind), f.unit or "",
                         "yes" if f.required else "no", ", ".join(f.codes), _range_text(f.hard),
                         _range_text(f.soft), "yes" if f.identifier else "no", f.description])
    return rows


def _lab_rows() -> list[list[object]]:
    rows: list[list[object]] = [["test", "label_en", "label_zh", "canonical_unit", "accepted_units",
                                 "possible_range", "expected_range"]]
    for t in LAB_TESTS:
        rows.append([t.code, t.label_en, t.label_zh, t.unit,
                     ", ".join(sorted(u or "(blank)" for u in t.factors)), _range_text(t.hard),
                     _range_text(t.soft)])
    return rows


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _write(path: Path, tables: dict[str, pd.DataFrame] | None) -> Path:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    lists = wb.create_sheet("lists")
    list_columns: list[list[str]] = []
    list_refs: dict[tuple[str, str], str] = {}
    for name, schema in TABLES.items():
        for f in schema.fields:
            if f.kind is Kind.CODE or f.kind is Kind.BOOL:
                values = list(f.codes) if f.kind is Kind.CODE else ["yes", "no"]
                col = _column_letter(len(list_columns))
                list_refs[(name, f.name)] = f"lists!${col}$2:${col}${len(values) + 1}"
                list_columns.append([f"{name}.{f.name}", *values])
    depth = max(len(c) for c in list_columns)
    for r in range(depth):
        lists.append([c[r] if r < len(c) else None for c in list_columns])
    lists.sheet_state = "hidden"

    for name, schema in TABLES.items():
        ws = wb.create_sheet(name)
        ws.freeze_panes = "A2"
        header = []
        for f in schema.fields:
            cell = WriteOnlyCell(ws, value=f.name)
            cell.font = bold
            cell.fill = fill
            cell.comment = Comment(_comment_text(f), "hccfusion", width=320, height=160)
            header.append(cell)
            ws.column_dimensions[_column_letter(len(header) - 1)].width = max(12, len(f.name) + 2)
        ws.append(header)
        frame = None if tables is None else tables.get(name)
        n = 0 if frame is None else len(frame)
        last = max(_TEMPLATE_ROWS, n + 1)
        for idx, f in enumerate(schema.fields):
            col = _column_letter(idx)
            rng = f"{col}2:{col}{last}"
            if (name, f.name) in list_refs:
                dv = DataValidation(type="list", formula1=f"={list_refs[(name, f.name)]}",
                                    allow_blank=True, showErrorMessage=True,
                                    errorTitle="Not an allowed value",
                                    error=f"{f.label_en}: choose from the list")
                dv.add(rng)
                ws.data_validations.append(dv)
            elif f.kind is Kind.DATE:
                dv = DataValidation(type="date", operator="between", formula1="32874",
                                    formula2="73051", allow_blank=True, showErrorMessage=True,
                                    error="A date between 1990-01-01 and 2099-12-31")
                dv.add(rng)
                ws.data_validations.append(dv)
        if frame is not None and n:
            _append_rows(ws, schema.fields, frame, WriteOnlyCell)
    dictionary = wb.create_sheet("dictionary")
    for row in _dictionary_rows():
        dictionary.append(row)
    labs = wb.create_sheet("lab_tests")
    for row in _lab_rows():
        labs.append(row)
    about = wb.create_sheet("about")
    about.append(["hccfusion CRF", f"schema version {SCHEMA_VERSION}"])
    about.append(["Validate with", "hccfusion crf validate <this file>"])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    _make_reproducible(path)
    return path


_FIXED_ZIP_TIME = (2000, 1, 1, 0, 0, 0)
_FIXED_DOC_TIME = b"2000-01-01T00:00:00Z"


def _make_reproducible(path: Path) -> None:
    """Same tables → byte-identical workbook: openpyxl stamps the save time into the zip entries
    and the document properties, so both are set to a fixed time."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as zf:
        entries = [(info.filename, zf.read(info.filename)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + _FIXED_DOC_TIME, data)
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)


def _cell_value(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().date()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _append_rows(ws, fields: tuple[Field, ...], frame: pd.DataFrame, cell_cls) -> None:  # noqa: ANN001
    columns = [f.name for f in fields]
    missing = [c for c in columns if c not in frame.columns]
    data = frame.reindex(columns=columns) if missing else frame[columns]
    date_cols = {i for i, f in enumerate(fields) if f.kind is Kind.DATE}
    bool_cols = {i for i, f in enumerate(fields) if f.kind is Kind.BOOL}
    for record in data.itertuples(index=False, name=None):
        row: list[object] = []
        for i, value in enumerate(record):
            v = _cell_value(value)
            if i in date_cols and isinstance(v, (dt.date, dt.datetime)):
                cell = cell_cls(ws, value=v)
                cell.number_format = DATE_FORMAT
                row.append(cell)
            elif i in bool_cols and isinstance(v, bool):
                row.append("yes" if v else "no")
            else:
                row.append(v)
        ws.append(row)


def write_template(path: str | Path) -> Path:
    """Write the blank CRF workbook (``hccfusion crf template``)."""
    return _write(Path(path), None)


def write_workbook(tables: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Write canonical tables as a filled CRF workbook in the template's layout.

    Values are written as they are in ``tables`` (a caller may put text where a number goes, to
    imitate a hospital sheet); missing tables give empty sheets. For ``labs`` the value and unit
    as reported are written (``source_value``/``source_unit`` when present).
    """
    prepared: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        frame = tables.get(name)
        if frame is None:
            continue
        if name == "labs" and {"source_value", "source_unit"} <= set(frame.columns):
            frame = frame.assign(value=frame["source_value"].where(frame["source_value"].notna(),
                                                                   frame["value"]),
                                 unit=frame["source_unit"])
        unknown = set(frame.columns) - set(table_columns(name)) - {"source_value", "source_unit"}
        if unknown:
            raise ValueError(f"table {name!r} has columns the CRF does not know: {sorted(unknown)}")
        for f in TABLES[name].fields:
            censor = f"{f.name}_censor"
            if f.censorable and censor in frame.columns and frame[censor].notna().any():
                flagged = frame[censor].fillna("").astype(str).str.len() > 0
                written = [f"{c}{v:g}" if flag and isinstance(v, (int, float)) else v
                           for c, v, flag in zip(frame[censor], frame[f.name].astype(object), flagged)]
                frame = frame.assign(**{f.name: pd.Series(written, index=frame.index, dtype=object)})
        prepared[name] = frame
    return _write(Path(path), prepared)
