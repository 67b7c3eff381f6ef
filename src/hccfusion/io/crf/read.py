"""Reading a CRF as written: an .xlsx workbook or a folder of CSV files → raw cells per table.

Nothing is interpreted here except layout: which sheet is which table, where the header row
is, which header is which field, merged cells, blank rows. Cell values stay as the file holds
them (numbers, strings, datetimes); :mod:`.cells` parses them.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from hccfusion.errors import UnusableInputError
from hccfusion.io.schema import TABLES, TableSchema
from hccfusion.io.schema.units import normalise_token

_ZIP_MAGIC = b"PK\x03\x04"
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: encrypted .xlsx or old .xls
_HEADER_SCAN_ROWS = 10


@dataclass
class RawTable:
    """One table as read: raw values per canonical column, with Excel row numbers."""

    table: str
    sheet: str
    header_row: int
    headers: dict[str, str]  # canonical column → header as written
    rows: list[int] = field(default_factory=list)
    values: dict[str, list[object]] = field(default_factory=dict)
    unknown_headers: list[tuple[str, str]] = field(default_factory=list)  # (cell ref, header)
    duplicate_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class RawCRF:
    source_name: str
    source_hash: str
    tables: dict[str, RawTable]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _strip_unit(text: str) -> str:
    """'Albumin (g/L)' / '白蛋白（g/L）' → 'Albumin' / '白蛋白' (NFKC turns full-width brackets)."""
    return re.sub(r"\s*[\(\[][^\)\]]*[\)\]]\s*$", "", text)


def _header_aliases(schema: TableSchema) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for f in schema.fields:
        for spelling in (f.name, f.label_en, f.label_zh):
            aliases[normalise_token(spelling)] = f.name
            aliases[normalise_token(_strip_unit(unicodedata.normalize("NFKC", spelling)))] = f.name
    return aliases


_HEADER_ALIASES = {name: _header_aliases(schema) for name, schema in TABLES.items()}


def _sheet_alias_map() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, schema in TABLES.items():
        for spelling in (name, schema.label_en, schema.label_zh):
            out[normalise_token(spelling)] = name
    return out


_SHEET_ALIASES = _sheet_alias_map()


def header_field(table: str, header: object) -> str | None:
    """Canonical field for a header cell (canonical name, English or Chinese label, with or
    without a trailing unit in brackets), or None."""
    if header is None:
        return None
    text = unicodedata.normalize("NFKC", str(header)).strip()
    if not text:
        return None
    aliases = _HEADER_ALIASES[table]
    return aliases.get(normalise_token(text)) or aliases.get(normalise_token(_strip_unit(text)))


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _cell_ref(col_index: int, row: int) -> str:
    return f"{_column_letter(col_index)}{row}"


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _table_from_rows(table: str, sheet: str, rows: list[tuple[int, list[object]]]) -> RawTable:
    """Locate the header among the first rows, map headers to fields, collect data rows."""
    best_row, best_hits = None, 0
    for idx, (_, cells) in enumerate(rows[:_HEADER_SCAN_ROWS]):
        hits = sum(header_field(table, c) is not None for c in cells)
        if hits > best_hits:
            best_row, best_hits = idx, hits
    if best_row is None:
        raise UnusableInputError(
            f"sheet '{sheet}': no header row found in the first {_HEADER_SCAN_ROWS} rows; "
            f"expected column names such as {', '.join(TABLES[table].columns[:4])} "
            "(write them with `hccfusion crf template`)")
    header_excel_row, header_cells = rows[best_row]
    headers: dict[str, str] = {}
    positions: dict[str, int] = {}
    raw = RawTable(table=table, sheet=sheet, header_row=header_excel_row, headers=headers)
    for col, cell in enumerate(header_cells):
        if _is_blank(cell):
            continue
        name = header_field(table, cell)
        ref = _cell_ref(col, header_excel_row)
        if name is None:
            raw.unknown_headers.append((ref, str(cell).strip()))
        elif name in positions:
            raw.duplicate_headers.append((ref, str(cell).strip()))
        else:
            positions[name] = col
            headers[name] = str(cell).strip()
    raw.values = {name: [] for name in positions}
    for excel_row, cells in rows[best_row + 1:]:
        picked = [cells[c] if c < len(cells) else None for c in positions.values()]
        if all(v is None or v == "" or _is_blank(v) for v in picked):
            continue
        raw.rows.append(excel_row)
        for name, value in zip(positions, picked):
            raw.values[name].append(value)
    return raw


def _fill_merged(grid: list[list[object]], ranges: list[tuple[int, int, int, int]]) -> None:
    """A merged range shows its top-left value in every cell it covers (a patient_id merged
    over its lab rows belongs to each of them)."""
    for c0, r0, c1, r1 in ranges:
        if r0 - 1 >= len(grid):
            continue
        top = grid[r0 - 1]
        value = top[c0] if c0 < len(top) else None
        for r in range(r0, min(r1, len(grid)) + 1):
            row = grid[r - 1]
            if len(row) <= c1:
                row.extend([None] * (c1 + 1 - len(row)))
            for c in range(c0, c1 + 1):
                row[c] = value


def _sheet_table(sheet_name: str) -> str | None:
    return _SHEET_ALIASES.get(normalise_token(sheet_name))


def _require_all(found: dict[str, str], source: str) -> None:
    missing = [t for t in TABLES if t not in found]
    if missing:
        raise UnusableInputError(
            f"{source}: missing sheet(s) {', '.join(missing)}; a CRF workbook has one sheet per "
            f"table ({', '.join(TABLES)}). Start from `hccfusion crf template`.")


def read_workbook(path: Path) -> RawCRF:
    """Read an .xlsx CRF workbook without modifying it (calamine: fast, read-only)."""
    from python_calamine import (  # noqa: PLC0415
        CalamineError, CalamineWorkbook, PasswordError, XmlError, ZipError)

    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic.startswith(_CFB_MAGIC):
        raise UnusableInputError(
            f"{path.name}: the workbook is password-protected (encrypted) or a legacy .xls file; "
            "open it in Excel, remove the password and save it as .xlsx")
    if not magic.startswith(_ZIP_MAGIC):
        raise UnusableInputError(f"{path.name}: not an Excel .xlsx workbook (expected a zip "
                                 "container); save the CRF as .xlsx or give a folder of CSV files")
    source_hash = sha256_file(path)
    try:
        wb = CalamineWorkbook.from_path(str(path))
        found: dict[str, str] = {}
        for sheet_name in wb.sheet_names:
            table = _sheet_table(sheet_name)
            if table is not None and table not in found:
                found[table] = sheet_name
        _require_all(found, path.name)
        tables: dict[str, RawTable] = {}
        for table, sheet_name in found.items():
            sheet = wb.get_sheet_by_name(sheet_name)
            grid = sheet.to_python(skip_empty_area=False)
            ranges = [(c0, r0 + 1, c1, r1 + 1)
                      for (r0, c0), (r1, c1) in (sheet.merged_cell_ranges or [])]
            _fill_merged(grid, ranges)
            rows = [(i + 1, r) for i, r in enumerate(grid)]
            tables[table] = _table_from_rows(table, sheet_name, rows)
    except (CalamineError, PasswordError, XmlError, ZipError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnusableInputError(f"{path.name}: cannot be read as an .xlsx workbook ({exc})") from exc
    if all(not t.rows for t in tables.values()):
        raise UnusableInputError(f"{path.name}: the workbook has no data rows in any sheet")
    return RawCRF(source_name=path.name, source_hash=source_hash, tables=tables)


def _read_csv_rows(path: Path) -> list[tuple[int, list[object]]]:
    for encoding in ("utf-8-sig", "gb18030"):  # Chinese Excel exports CSV as GB18030
        try:
            text = path.read_text(encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise UnusableInputError(f"{path.name}: not a text file")
    reader = csv.reader(text.splitlines())
    return [(reader.line_num, list(r)) for r in reader]


def read_csv_folder(folder: Path) -> RawCRF:
    """Read a folder of ``<table>.csv`` files (UTF-8 or GB18030) without modifying them."""
    files = {p: _sheet_table(p.stem) for p in sorted(folder.glob("*.csv"))}
    found = {t: p.name for p, t in files.items() if t is not None}
    if not files:
        raise UnusableInputError(f"{folder}: no CSV files; expected one per table "
                                 f"({', '.join(f'{t}.csv' for t in TABLES)})")
    _require_all(found, folder.name)
    digest = hashlib.sha256()
    tables: dict[str, RawTable] = {}
    for path, table in files.items():
        if table is None:
            continue
        digest.update(path.name.encode() + b"\0" + bytes.fromhex(sha256_file(path)))
        tables[table] = _table_from_rows(table, path.name, _read_csv_rows(path))
    if all(not t.rows for t in tables.values()):
        raise UnusableInputError(f"{folder}: the CSV files have no data rows")
    return RawCRF(source_name=folder.name, source_hash=digest.hexdigest(), tables=tables)


def read_crf(source: str | Path) -> RawCRF:
    """Read a workbook or CSV folder; raises :class:`UnusableInputError` when it cannot."""
    path = Path(source)
    if not path.exists():
        raise UnusableInputError(f"{path}: no such file or folder")
    if path.is_dir():
        return read_csv_folder(path)
    if path.stat().st_size == 0:
        raise UnusableInputError(f"{path.name}: the file is empty")
    return read_workbook(path)
