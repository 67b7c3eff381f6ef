"""Parsing one column of raw cells into canonical values, tolerating what hospital spreadsheets
contain: numbers stored as text, full-width characters, stray spaces, Excel serial dates,
censored values ("<0.5", ">1000"), Chinese spellings of codes, partial dates.

Each parser returns the parsed values and the problems it found, by position in the column.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass

from hccfusion.errors import closest
from hccfusion.io.schema.fields import Field, Kind
from hccfusion.io.schema.tables import YES_NO
from hccfusion.io.schema.units import normalise_token
from hccfusion.types import Severity

EXCEL_EPOCH = dt.date(1899, 12, 30)
EARLIEST_DATE = dt.date(1990, 1, 1)
_SERIAL_RANGE = (EARLIEST_DATE - EXCEL_EPOCH).days - 40000, 80000  # generous; range rule decides
_CENSOR = re.compile(r"^(<=|>=|≤|≥|<|>)\s*(.+)$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE_FULL = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                        r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATE_MONTH = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?$")
_DATE_YEAR = re.compile(r"^(\d{4})\s*年?$")
_LIST_SPLIT = re.compile(r"\s*[,;/、]\s*")


@dataclass(frozen=True)
class CellProblem:
    index: int
    rule: str
    severity: Severity
    message: str


_SPACES = re.compile(r"\s+")


def clean_text(value: object) -> str:
    """NFKC (full-width → ASCII), non-breaking spaces → spaces, trimmed, inner runs collapsed."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii():  # the common case, kept fast: no normalisation needed
        text = text.strip()
        return _SPACES.sub(" ", text) if "  " in text or "\t" in text or "\n" in text else text
    text = unicodedata.normalize("NFKC", text).replace("\u00a0", " ")
    return _SPACES.sub(" ", text).strip()


def is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()  # str.strip also removes full-width and non-breaking spaces
    return isinstance(value, float) and math.isnan(value)


def _number_text(value: object) -> str:
    text = clean_text(value).replace(" ", "")
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", text):  # thousands separators
        text = text.replace(",", "")
    return text


def parse_number(value: object) -> tuple[float | None, str]:
    """``(number, censor)`` with censor "<", ">" or ""; ``(None, "")`` when not a number."""
    if isinstance(value, bool):
        return None, ""
    if isinstance(value, (int, float)):
        return (None, "") if math.isnan(float(value)) else (float(value), "")
    text = _number_text(value)
    censor = ""
    m = _CENSOR.match(text)
    if m:
        censor = "<" if m.group(1) in ("<", "<=", "≤") else ">"
        text = m.group(2)
    if not _NUMBER.match(text):
        return None, ""
    return float(text), censor


def parse_date(value: object) -> tuple[dt.date | None, str]:
    """``(date, precision)`` with precision "day", "month" (day imputed as 15) or "year" (1 July
    imputed), following domain.md §2.5; ``(None, "")`` when not a date."""
    if isinstance(value, dt.datetime):
        return value.date(), "day"
    if isinstance(value, dt.date):
        return value, "day"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        serial = float(value)
        if serial.is_integer() and 19000101 <= serial <= 21001231:  # 20230301 typed as a number
            return parse_date(str(int(serial)))
        if math.isnan(serial) or not (_SERIAL_RANGE[0] < serial < _SERIAL_RANGE[1]):
            return None, ""
        return EXCEL_EPOCH + dt.timedelta(days=int(serial)), "day"
    text = clean_text(value)
    try:
        for pattern, precision in ((_DATE_FULL, "day"), (_DATE_COMPACT, "day")):
            m = pattern.match(text)
            if m:
                return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))), precision
        m = _DATE_MONTH.match(text)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), 15), "month"
        m = _DATE_YEAR.match(text)
        if m:
            return dt.date(int(m.group(1)), 7, 1), "year"
    except ValueError:  # 2023-02-30
        return None, ""
    if _NUMBER.match(text.replace(" ", "")):
        return parse_date(float(text))
    return None, ""


def _code_lookup(f: Field) -> dict[str, str]:
    table = {normalise_token(c): c for c in f.codes}
    table.update({normalise_token(k): v for k, v in f.aliases.items()})
    return table


_CODE_TABLES: dict[int, dict[str, str]] = {}


def _codes_of(f: Field) -> dict[str, str]:
    key = id(f)
    if key not in _CODE_TABLES:
        _CODE_TABLES[key] = _code_lookup(f)
    return _CODE_TABLES[key]


def parse_code(f: Field, value: object) -> str | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _codes_of(f).get(normalise_token(clean_text(value)))


def parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    mapped = YES_NO.get(normalise_token(clean_text(value)))
    return None if mapped is None else mapped == "true"


def parse_id(value: object) -> str:
    """Identifiers and short strings: 1001.0 (Excel's number) → '1001'; full-width → ASCII."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return clean_text(value)


@dataclass
class ParsedColumn:
    values: list[object]
    censor: list[str]
    problems: list[CellProblem]


def _range_problems(f: Field, i: int, x: float, problems: list[CellProblem], unit: str) -> bool:
    """Append hard/soft range findings; False when the value is rejected."""
    if f.hard is not None:
        lo, hi = f.hard
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            problems.append(CellProblem(i, "out_of_range", Severity.ERROR,
                                        f"{x:g} is outside the possible range {_fmt(f.hard, unit)}"))
            return False
    if f.soft is not None:
        lo, hi = f.soft
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            problems.append(CellProblem(i, "outside_expected_range", Severity.WARNING,
                                        f"{x:g} is outside the expected range {_fmt(f.soft, unit)}; "
                                        "check it"))
    return True


def _fmt(bounds: tuple[float | None, float | None], unit: str) -> str:
    lo, hi = bounds
    unit = f" {unit}" if unit else ""
    if lo is None:
        return f"≤ {hi:g}{unit}"
    if hi is None:
        return f"≥ {lo:g}{unit}"
    return f"{lo:g}–{hi:g}{unit}"


def parse_column(f: Field, raw: list[object], *, today: dt.date,
                 check_range: bool = True) -> ParsedColumn:
    """Parse every cell of one column of field ``f``.

    Each distinct cell value is parsed once (codes, dates and IDs repeat down a column) and its
    result and findings are replayed at every position that holds it.
    """
    slot: dict[tuple[type, object], int] = {}
    uniques: list[object] = []
    positions: list[int] = []
    for cell in raw:
        key = (cell.__class__, cell)
        j = slot.get(key)
        if j is None:
            j = slot[key] = len(uniques)
            uniques.append(cell)
        positions.append(j)
    parsed = _parse_cells(f, uniques, today=today, check_range=check_range)
    found: dict[int, list[CellProblem]] = {}
    for p in parsed.problems:
        found.setdefault(p.index, []).append(p)
    problems = [CellProblem(i, p.rule, p.severity, p.message)
                for i, j in enumerate(positions) if j in found for p in found[j]]
    return ParsedColumn(values=[parsed.values[j] for j in positions],
                        censor=[parsed.censor[j] for j in positions], problems=problems)


def _parse_cells(f: Field, raw: list[object], *, today: dt.date,
                 check_range: bool = True) -> ParsedColumn:
    values: list[object] = []
    censor: list[str] = []
    problems: list[CellProblem] = []
    unit = f.unit or ""
    for i, cell in enumerate(raw):
        c = ""
        if is_blank(cell):
            if f.required:
                problems.append(CellProblem(i, "required", Severity.ERROR,
                                            f"'{f.name}' is required and the cell is empty"))
            values.append(None)
            censor.append(c)
            continue
        out: object = None
        if f.kind is Kind.STR:
            out = clean_text(cell) if f.free_text else parse_id(cell)
        elif f.kind in (Kind.INT, Kind.FLOAT):
            x, c = parse_number(cell)
            if x is None:
                problems.append(CellProblem(i, "type", Severity.ERROR,
                                            f"expected a number for '{f.name}'"))
            elif c and not f.censorable:
                problems.append(CellProblem(i, "type", Severity.ERROR,
                                            f"'{f.name}' does not accept a censored value "
                                            f"('{c}…'); write the number"))
                c = ""
            elif f.kind is Kind.INT and not float(x).is_integer():
                problems.append(CellProblem(i, "type", Severity.ERROR,
                                            f"expected a whole number for '{f.name}'"))
            elif not check_range or _range_problems(f, i, x, problems, unit):
                out = int(x) if f.kind is Kind.INT else x
            if out is None:
                c = ""
        elif f.kind is Kind.DATE:
            d, precision = parse_date(cell)
            if d is None:
                problems.append(CellProblem(i, "type", Severity.ERROR,
                                            "expected a date (YYYY-MM-DD, an Excel date, or "
                                            "YYYY年M月D日)"))
            elif d < EARLIEST_DATE or d > today:
                problems.append(CellProblem(i, "date_out_of_range", Severity.ERROR,
                                            f"date {d.isoformat()} is before "
                                            f"{EARLIEST_DATE.isoformat()} or after today "
                                            f"({today.isoformat()}); check the year"))
            else:
                out = d
                if precision != "day":
                    imputed = "the 15th" if precision == "month" else "1 July"
                    problems.append(CellProblem(i, "partial_date", Severity.WARNING,
                                                f"partial date; {imputed} imputed "
                                                f"({d.isoformat()})"))
        elif f.kind is Kind.BOOL:
            out = parse_bool(cell)
            if out is None:
                problems.append(CellProblem(i, "type", Severity.ERROR,
                                            "expected yes/no (是/否, true/false, 1/0)"))
        elif f.kind is Kind.CODE:
            out = parse_code(f, cell)
            if out is None:
                problems.append(_unknown_code(f, i, cell))
        elif f.kind is Kind.CODES:
            parts = [p for p in _LIST_SPLIT.split(clean_text(cell)) if p]
            parsed = [parse_code(f, p) for p in parts]
            if any(p is None for p in parsed):
                problems.append(_unknown_code(f, i, cell))
            else:
                out = ",".join(dict.fromkeys(p for p in parsed if p is not None))
        values.append(out)
        censor.append(c)
    return ParsedColumn(values=values, censor=censor, problems=problems)


def _unknown_code(f: Field, i: int, cell: object) -> CellProblem:
    text = clean_text(cell)
    hint = closest(text, list(f.codes))
    did_you_mean = f"; did you mean '{hint}'?" if hint else ""
    return CellProblem(i, "unknown_code", Severity.ERROR,
                       f"'{text}' is not an allowed value of '{f.name}'{did_you_mean} "
                       f"Allowed: {', '.join(f.codes)}")
