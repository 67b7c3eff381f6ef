"""``crf validate``: read a CRF, parse every cell, convert units, run every rule, report.

The source is never modified: it is opened read-only and its hash is recorded.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion.io.crf.cells import ParsedColumn, clean_text, is_blank, parse_column
from hccfusion.io.crf.read import RawCRF, RawTable, read_crf
from hccfusion.io.crf.report import REDACTED, Issue, ValidationReport
from hccfusion.io.crf.rules import run_rules
from hccfusion.io.schema import LAB_BY_CODE, TABLES, coerce_table
from hccfusion.io.schema.units import conversion_factor
from hccfusion.types import Severity


class _Collector:
    """Turns positional findings into :class:`Issue` with sheet, Excel row and patient."""

    def __init__(self, raw: RawCRF) -> None:
        self.raw = raw
        self.issues: list[Issue] = []

    def add(self, table: str, index: int | None, column: str | None, rule: str,
            severity: Severity, message: str) -> None:
        rt = self.raw.tables[table]
        row = rt.rows[index] if index is not None else None
        value: str | None = None
        patient: str | None = None
        if index is not None:
            if column is not None and column in rt.values:
                cell = rt.values[column][index]
                if not is_blank(cell):
                    identifier = TABLES[table].field(column).identifier if column in TABLES[table].columns else False
                    value = REDACTED if identifier else clean_text(cell)
            if "patient_id" in rt.values:
                pid = rt.values["patient_id"][index]
                patient = None if is_blank(pid) else clean_text(pid)
        self.issues.append(Issue(severity=severity, rule=rule, sheet=rt.sheet, row=row,
                                 column=column, value=value, message=message, patient_id=patient))


def _sheet_issues(rt: RawTable, out: _Collector) -> None:
    schema = TABLES[rt.table]
    for ref, header in rt.unknown_headers:
        out.issues.append(Issue(Severity.WARNING, "unknown_column", rt.sheet, rt.header_row, header,
                                None, f"column '{header}' (cell {ref}) is not in the data "
                                      "dictionary and is ignored", None))
    for ref, header in rt.duplicate_headers:
        out.issues.append(Issue(Severity.ERROR, "duplicate_column", rt.sheet, rt.header_row, header,
                                None, f"column '{header}' (cell {ref}) maps to a field that "
                                      "already has a column; keep one", None))
    for f in schema.fields:
        if f.required and f.name not in rt.values:
            out.issues.append(Issue(Severity.ERROR, "missing_column", rt.sheet, rt.header_row,
                                    f.name, None, f"required column '{f.name}' ({f.label_en} / "
                                                  f"{f.label_zh}) is missing", None))


def _parse_table(rt: RawTable, today: dt.date, out: _Collector) -> pd.DataFrame:
    schema = TABLES[rt.table]
    n = len(rt.rows)
    data: dict[str, object] = {}
    for f in schema.fields:
        if f.name not in rt.values:
            continue
        lab_value = rt.table == "labs" and f.name in ("value", "lln", "uln")
        parsed: ParsedColumn = parse_column(f, rt.values[f.name], today=today,
                                            check_range=not lab_value)
        for p in parsed.problems:
            out.add(rt.table, p.index, f.name, p.rule, p.severity, p.message)
        data[f.name] = parsed.values
        if f.censorable:
            data[f"{f.name}_censor"] = [c or None for c in parsed.censor]
    frame = pd.DataFrame(data, index=range(n))
    if rt.table == "labs":
        frame = _convert_labs(frame, rt, out)
    return coerce_table(rt.table, frame)


def _convert_labs(frame: pd.DataFrame, rt: RawTable, out: _Collector) -> pd.DataFrame:
    """Convert value/lln/uln to the test's canonical unit, keep the source value and unit, and
    check the test's hard/soft ranges in canonical units (domain.md §4)."""
    n = len(frame)
    units_raw = rt.values.get("unit", [None] * n)
    values_raw = rt.values.get("value", [None] * n)
    tests = list(frame["test"]) if "test" in frame else [None] * n
    source_unit = [None if is_blank(u) else clean_text(u) for u in units_raw]
    factors = np.full(n, np.nan)
    cache: dict[tuple[str, object], float | None] = {}
    for i, (test, unit) in enumerate(zip(tests, units_raw)):
        if not isinstance(test, str):
            continue
        key = (test, unit)
        if key not in cache:
            cache[key] = conversion_factor(test, unit)
        factor = cache[key]
        if factor is None:
            accepted = ", ".join(sorted({u or "(blank)" for u in LAB_BY_CODE[test].factors}))
            if source_unit[i] is None:
                out.add("labs", i, "unit", "missing_unit", Severity.ERROR,
                        f"{test} needs a unit; accepted: {accepted}")
            else:
                out.add("labs", i, "unit", "unknown_unit", Severity.ERROR,
                        f"'{source_unit[i]}' is not an accepted unit of {test}; accepted: {accepted}")
            continue
        factors[i] = factor
    for col in ("value", "lln", "uln"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float) * factors
    frame["source_value"] = [None if is_blank(v) else clean_text(v) for v in values_raw]
    frame["source_unit"] = source_unit
    frame["unit"] = [LAB_BY_CODE[t].unit if isinstance(t, str) else None for t in tests]
    if "value" not in frame:
        return frame
    values = frame["value"].to_numpy(dtype=float).copy()
    for i in np.flatnonzero(np.isfinite(values)):
        lab = LAB_BY_CODE[tests[i]]
        x = float(values[i])
        lo, hi = lab.hard
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            out.add("labs", int(i), "value", "out_of_range", Severity.ERROR,
                    f"{lab.code} {x:g} {lab.unit} is outside the possible range "
                    f"{lo:g}–{hi:g} {lab.unit}")
            values[i] = np.nan
        elif lab.soft is not None:
            slo, shi = lab.soft
            if slo is not None and x < slo:
                out.add("labs", int(i), "value", "outside_expected_range", Severity.WARNING,
                        f"{lab.code} {x:g} {lab.unit} is < {slo:g} {lab.unit}; check it")
            elif shi is not None and x > shi:
                out.add("labs", int(i), "value", "outside_expected_range", Severity.WARNING,
                        f"{lab.code} {x:g} {lab.unit} is > {shi:g} {lab.unit}; check it")
    frame["value"] = values
    return frame


def _key_issues(table: str, frame: pd.DataFrame, out: _Collector) -> None:
    key = list(TABLES[table].key)
    complete = frame[key].notna().all(axis=1)
    dup = complete & frame.duplicated(subset=key, keep="first")
    if not dup.any():
        return
    first_row = {}
    rows = out.raw.tables[table].rows
    for i, k in zip(range(len(frame)), frame[key].itertuples(index=False, name=None)):
        if complete.iat[i]:
            first_row.setdefault(k, rows[i])
    for i in np.flatnonzero(dup.to_numpy()):
        k = tuple(frame[key].iloc[i])
        shown = ", ".join(f"{c}={_short(v)}" for c, v in zip(key, k))
        out.add(table, int(i), key[-1] if table != "patients" else "patient_id", "duplicate_key",
                Severity.ERROR, f"duplicate record ({shown}); the same key is on row "
                                f"{first_row[k]}: keep one row per key")


def _short(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


def validate_crf(source: str | Path, *, today: dt.date | None = None) -> ValidationReport:
    """Validate a CRF workbook (.xlsx) or a folder of ``<table>.csv`` files.

    Parameters
    ----------
    source
        The workbook or folder; opened read-only, never modified.
    today
        Dates after this day are errors (default: the current date).

    Returns
    -------
    ValidationReport
        Canonical tables (units converted) and every finding with sheet, Excel row, column,
        value (identifiers redacted) and rule.

    Raises
    ------
    UnusableInputError
        Not a workbook, password-protected, a missing sheet, no data at all.
    """
    today = today or dt.date.today()
    raw = read_crf(source)
    out = _Collector(raw)
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        rt = raw.tables[name]
        _sheet_issues(rt, out)
        tables[name] = _parse_table(rt, today, out)
        _key_issues(name, tables[name], out)
    for finding in run_rules(tables):
        out.add(finding.table, finding.index, finding.column, finding.rule, finding.severity,
                finding.message)
    return ValidationReport(
        source_name=raw.source_name, source_hash=raw.source_hash, tables=tables,
        issues=tuple(out.issues),
        row_numbers={name: tuple(raw.tables[name].rows) for name in TABLES})
