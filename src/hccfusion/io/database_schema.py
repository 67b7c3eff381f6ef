"""The layout of the study database (one DuckDB file) and how to open it.

Tables: one per CRF table (the canonical columns of :func:`hccfusion.io.schema.table_columns`
with their SQL types, plus ``_batch_id``, the batch that last wrote the row), ``batches`` (one
row per import), ``findings`` (the validation warnings of each batch), ``audit`` (the cell-level
trail) and ``db_meta`` (schema and format version of the file).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from hccfusion import __version__
from hccfusion.errors import SchemaVersionError, UsageError
from hccfusion.io.schema import SCHEMA_VERSION, TABLES, column_kinds
from hccfusion.io.schema.dtypes import SQL_TYPE

if TYPE_CHECKING:
    import duckdb

#: Version of the database layout itself (bookkeeping tables); bump on an incompatible change.
DB_FORMAT_VERSION = "1"

BATCH_COLUMNS: dict[str, str] = {
    "batch_id": "VARCHAR", "source_name": "VARCHAR", "source_hash": "VARCHAR",
    "imported_at": "TIMESTAMP", "schema_version": "VARCHAR", "package_version": "VARCHAR",
    "row_counts": "VARCHAR", "n_warnings": "BIGINT", "status": "VARCHAR",
}
FINDING_COLUMNS: dict[str, str] = {
    "batch_id": "VARCHAR", "severity": "VARCHAR", "rule": "VARCHAR", "sheet": "VARCHAR",
    "row": "BIGINT", "column": "VARCHAR", "value": "VARCHAR", "message": "VARCHAR",
    "patient_id": "VARCHAR",
}
AUDIT_COLUMNS: dict[str, str] = {
    "batch_id": "VARCHAR", "table": "VARCHAR", "key": "VARCHAR", "column": "VARCHAR",
    "old_value": "VARCHAR", "new_value": "VARCHAR", "action": "VARCHAR", "at": "TIMESTAMP",
}
BOOKKEEPING: dict[str, dict[str, str]] = {
    "batches": BATCH_COLUMNS, "findings": FINDING_COLUMNS, "audit": AUDIT_COLUMNS,
    "db_meta": {"key": "VARCHAR", "value": "VARCHAR"},
}


def q(name: str) -> str:
    """Quote an SQL identifier (several column names — date, row, column, key — are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def sql_types(table: str) -> dict[str, str]:
    """SQL type of every canonical column of CRF table ``table``."""
    return {col: SQL_TYPE[kind] for col, kind in column_kinds(table).items()}


def _create_sql(name: str, columns: dict[str, str]) -> str:
    cols = ", ".join(f"{q(c)} {t}" for c, t in columns.items())
    return f"CREATE TABLE IF NOT EXISTS {q(name)} ({cols})"


def utc_now() -> datetime:
    """Now, in UTC, as a naive timestamp (DuckDB ``TIMESTAMP`` columns hold UTC by convention)."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def connect(db_path: Path, *, read_only: bool) -> "duckdb.DuckDBPyConnection":
    """Open the study database; a read-only open of a missing file is a usage error."""
    import duckdb

    db_path = Path(db_path)
    if read_only and not db_path.is_file():
        raise UsageError(f"no study database at {db_path}; expected a DuckDB file written by "
                         "'hccfusion crf ingest'. Check the --db path or ingest a workbook first.")
    if not read_only and not db_path.parent.is_dir():
        raise UsageError(f"the folder of the study database {db_path} does not exist; create "
                         f"{db_path.parent} first or choose another --db path.")
    if db_path.exists() and db_path.is_dir():
        raise UsageError(f"the study database path {db_path} is a folder; expected a file "
                         "such as study.duckdb")
    try:
        return duckdb.connect(str(db_path), read_only=read_only)
    except duckdb.IOException as exc:
        raise UsageError(f"cannot open the study database {db_path}: {exc}. Another program "
                         "may hold it open; close it and retry.") from exc
    except duckdb.Error as exc:
        raise UsageError(f"{db_path} is not a usable DuckDB study database ({exc}); expected "
                         "a file written by 'hccfusion crf ingest'.") from exc


def has_layout(con: "duckdb.DuckDBPyConnection") -> bool:
    found = con.execute("SELECT count(*) FROM information_schema.tables "
                        "WHERE table_name = 'db_meta'").fetchall()[0]
    return bool(found and found[0])


def create_layout(con: "duckdb.DuckDBPyConnection") -> None:
    """Create every table of a new study database (inside the caller's transaction)."""
    for name in TABLES:
        con.execute(_create_sql(name, {**sql_types(name), "_batch_id": "VARCHAR"}))
    for name, columns in BOOKKEEPING.items():
        con.execute(_create_sql(name, columns))
    meta = {"schema_version": SCHEMA_VERSION, "db_format_version": DB_FORMAT_VERSION,
            "created_with": __version__, "created_at": utc_now().isoformat() + "Z"}
    con.executemany("INSERT INTO db_meta VALUES (?, ?)", list(meta.items()))


def check_layout(con: "duckdb.DuckDBPyConnection", db_path: Path) -> None:
    """Refuse a database written with another schema or layout version, naming both."""
    if not has_layout(con):
        raise UsageError(f"{db_path} is a DuckDB file but not a hccfusion study database (no "
                         "db_meta table); point --db at the study database or a new file name.")
    meta = dict(con.execute("SELECT key, value FROM db_meta").fetchall())
    for key, ours in (("schema_version", SCHEMA_VERSION), ("db_format_version", DB_FORMAT_VERSION)):
        theirs = meta.get(key)
        if theirs != ours:
            raise SchemaVersionError(
                f"the study database {db_path} has {key} {theirs}, but this hccfusion "
                f"{__version__} uses {key} {ours}; open it with a matching hccfusion version "
                "or re-ingest the workbooks into a new database.")
