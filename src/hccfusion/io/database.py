"""The study database: one embedded DuckDB file holding every imported CRF table, one batch per
import, the validation warnings of each batch and a cell-level audit trail.

A workbook owns the patients it contains: a re-import replaces those patients' rows (matched on
each table's natural key, every changed cell audited with its old and new value) and leaves every
other patient alone, so the two centres' workbooks live side by side. An import is one
transaction: it is applied whole or not at all. Importing a file whose hash matches an earlier
batch records nothing when it would change nothing; if later imports have changed those patients
since, it is applied again as a new batch (re-importing an old file restores it).
See :mod:`hccfusion.io.database_diff` for the diff and :mod:`hccfusion.io.database_schema` for
the layout.

Example
-------
>>> result = ingest_workbook("WX_2024-06.xlsx", db_path="study.duckdb")  # doctest: +SKIP
>>> result.to_frame()  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from hccfusion import __version__
from hccfusion.errors import DataError, UsageError, ValidationFailed, unknown_option
from hccfusion.io import database_diff as diff
from hccfusion.io import database_schema as layout
from hccfusion.io.database_diff import TableChange
from hccfusion.io.database_schema import FINDING_COLUMNS, q
from hccfusion.io.schema import SCHEMA_VERSION, TABLES, coerce_table, table_columns

if TYPE_CHECKING:
    from hccfusion.io.crf import ValidationReport
    import pandas as pd

__all__ = ["IngestResult", "TableChange", "audit_trail", "ingest_report", "ingest_tables",
           "ingest_workbook", "list_batches", "read_tables"]

#: ``IngestResult.status`` values.
IMPORTED, NO_CHANGES, ALREADY_IMPORTED = "imported", "no_changes", "already_imported"


@dataclass(frozen=True)
class IngestResult:
    """What one import did.

    Attributes
    ----------
    batch_id
        The new batch; for ``status == "already_imported"`` the earlier batch of the same file.
    status
        ``"imported"`` (rows changed), ``"no_changes"`` (new file, same content as the database:
        a batch is still recorded) or ``"already_imported"`` (same file hash as an earlier batch
        and nothing to change: nothing recorded).
    changes
        Per table: rows inserted, updated, deleted, unchanged and cells changed.
    """

    batch_id: str
    status: str
    source_name: str
    source_hash: str
    db_path: Path
    n_warnings: int
    patients: int
    changes: Mapping[str, TableChange] = field(default_factory=dict)

    @property
    def recorded(self) -> bool:
        """True if this call wrote a batch to the database."""
        return self.status != ALREADY_IMPORTED

    def to_frame(self) -> "pd.DataFrame":
        """One row per table: table, rows_in, inserted, updated, deleted, unchanged,
        cells_changed."""
        import pandas as pd

        cols = ["table", "rows_in", "inserted", "updated", "deleted", "unchanged", "cells_changed"]
        return pd.DataFrame([[getattr(c, k) for k in cols] for c in self.changes.values()],
                            columns=cols)


def _canonical(tables: Mapping[str, "pd.DataFrame"]) -> dict[str, "pd.DataFrame"]:
    missing = [t for t in TABLES if t not in tables]
    unknown = [t for t in tables if t not in TABLES]
    if missing or unknown:
        raise UsageError(f"ingest_tables needs exactly the CRF tables {list(TABLES)}; missing "
                         f"{missing}, unknown {unknown}. Pass an empty table (empty_table(name)) "
                         "for a sheet without rows.")
    out = {}
    for name in TABLES:
        try:
            out[name] = coerce_table(name, tables[name])
        except (ValueError, TypeError) as exc:
            raise DataError(f"table {name!r} is not a canonical CRF table: {exc}. Validate the "
                            "workbook with 'hccfusion crf validate' first.") from exc
    return out


def _findings_frame(findings: "pd.DataFrame | None", batch_id: str) -> "pd.DataFrame":
    import pandas as pd

    frame = pd.DataFrame(columns=list(FINDING_COLUMNS)) if findings is None else findings.copy()
    missing = [c for c in FINDING_COLUMNS if c not in frame.columns and c != "batch_id"]
    if missing:
        raise UsageError(f"findings lack the columns {missing}; expected the Issue fields "
                         f"{list(FINDING_COLUMNS)[1:]} (ValidationReport.to_frame()).")
    frame["batch_id"] = batch_id
    frame = frame[list(FINDING_COLUMNS)].copy()
    identifiers = {c for t in TABLES.values() for c in t.identifier_columns}
    # A finding about an identifier cell must not carry the identifier into the database.
    frame.loc[frame["column"].isin(identifiers), "value"] = None
    frame["row"] = pd.to_numeric(frame["row"], errors="coerce").astype("Int64")
    for col in ("severity", "rule", "sheet", "column", "value", "message", "patient_id"):
        frame[col] = frame[col].astype("string")
    return frame


def _next_batch_id(con, source_hash: str) -> str:
    n = con.execute("SELECT count(*) FROM batches").fetchall()[0][0]
    return f"B{n + 1:04d}-{source_hash[:8]}"


def ingest_tables(db_path: Path | str, tables: Mapping[str, "pd.DataFrame"], *, source_name: str,
                  source_hash: str, findings: "pd.DataFrame | None" = None) -> IngestResult:
    """Import validated canonical tables into the study database as one batch.

    Parameters
    ----------
    db_path
        The DuckDB file; created with the study layout if absent.
    tables
        Every CRF table (``TABLES``), canonical as :func:`coerce_table` gives them.
    source_name
        File name of the source; any directory part is dropped.
    source_hash
        sha256 hex of the source file.
    findings
        Validation warnings to keep with the batch (``ValidationReport.to_frame()`` rows).

    Returns
    -------
    IngestResult

    Raises
    ------
    DataError
        Duplicate or empty natural keys, or a key already held by another workbook's patient.
        The database is left exactly as it was.
    """
    import pandas as pd

    db_path = Path(db_path)
    if not source_hash or not str(source_hash).strip():
        raise UsageError("ingest_tables needs the source file's sha256 as source_hash; got an "
                         "empty value. Hash the workbook (hashlib.sha256) and pass the hex digest.")
    canonical = _canonical(tables)
    source_name = Path(str(source_name)).name
    owned = pd.DataFrame({"patient_id": pd.concat(
        [t["patient_id"] for t in canonical.values()]).dropna().unique()}).astype("string")

    created = not db_path.exists()
    con = layout.connect(db_path, read_only=False)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            result = _ingest(con, db_path, canonical, owned, source_name=source_name,
                             source_hash=source_hash, findings=findings, created=created)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if result.status == ALREADY_IMPORTED:
            con.execute("ROLLBACK")
        else:
            con.execute("COMMIT")
    except BaseException:
        con.close()
        if created:
            for leftover in (db_path, db_path.with_name(db_path.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise
    con.close()
    return result


def _ingest(con, db_path: Path, canonical: dict[str, "pd.DataFrame"], owned: "pd.DataFrame", *,
            source_name: str, source_hash: str, findings: "pd.DataFrame | None",
            created: bool) -> IngestResult:
    empty = not con.execute("SELECT count(*) FROM information_schema.tables").fetchall()[0][0]
    if created or empty:
        layout.create_layout(con)
    layout.check_layout(con, db_path)  # refuses a foreign DuckDB file or another version

    seen = con.execute("SELECT batch_id FROM batches WHERE source_hash = ? "
                       "ORDER BY imported_at DESC, batch_id DESC LIMIT 1",
                       [source_hash]).fetchall()
    seen = seen[0] if seen else None
    batch_id = _next_batch_id(con, source_hash)
    at = layout.utc_now()
    con.register("_owned_df", owned)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {diff.OWNED} AS "
                "SELECT DISTINCT CAST(patient_id AS VARCHAR) AS patient_id FROM _owned_df")
    changes: dict[str, TableChange] = {}
    for name, frame in canonical.items():
        view = f"_df_{name}"
        con.register(view, frame)
        staged = diff.stage_incoming(con, table=name, view=view)
        diff.check_collisions(con, table=name, staged=staged)
        changes[name] = diff.diff_table(con, table=name, staged=staged, batch_id=batch_id, at=at)
        diff.apply_table(con, table=name, staged=staged, batch_id=batch_id,
                         change=changes[name])
        diff.drop_temp(con, table=name)
        con.unregister(view)
    con.unregister("_owned_df")
    con.execute(f"DROP TABLE IF EXISTS {diff.OWNED}")

    changed = any(c.changed for c in changes.values())
    frame = _findings_frame(findings, batch_id)
    n_warnings = int((frame["severity"] == "warning").sum())
    common = dict(source_name=source_name, source_hash=source_hash, db_path=db_path,
                  patients=len(owned), changes=changes)
    if seen and not changed:
        return IngestResult(batch_id=seen[0], status=ALREADY_IMPORTED, n_warnings=n_warnings,
                            **common)
    status = IMPORTED if changed else NO_CHANGES
    counts = json.dumps({name: c.rows_in for name, c in changes.items()})
    con.execute("INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [batch_id, source_name, source_hash, at, SCHEMA_VERSION, __version__, counts,
                 n_warnings, status])
    if len(frame):
        con.register("_findings_df", frame)
        cols = ", ".join(q(c) for c in FINDING_COLUMNS)
        con.execute(f"INSERT INTO findings ({cols}) SELECT {cols} FROM _findings_df")
        con.unregister("_findings_df")
    return IngestResult(batch_id=batch_id, status=status, n_warnings=n_warnings, **common)


def ingest_workbook(source: Path | str, *, db_path: Path | str,
                    today: date | None = None) -> IngestResult:
    """Validate a CRF workbook (or folder of ``<table>.csv``) and import it as one batch.

    Parameters
    ----------
    source
        The ``.xlsx`` workbook or CSV folder.
    db_path
        The study database (created if absent).
    today
        Passed to :func:`hccfusion.io.crf.validate_crf` (dates after it are errors).

    Raises
    ------
    ValidationFailed
        The workbook has validation errors; ``exc.report`` holds them. Nothing is written.
    """
    from hccfusion.io.crf import validate_crf

    return ingest_report(validate_crf(source, today=today), db_path=db_path)


def ingest_report(report: "ValidationReport", *, db_path: Path | str) -> IngestResult:
    """Import an already validated CRF (:func:`hccfusion.io.crf.validate_crf`) as one batch,
    with its warnings; refused with :class:`ValidationFailed` if the report has errors."""
    if report.has_errors:
        n = len(report.errors)
        raise ValidationFailed(f"{report.source_name} has {n} validation error(s); nothing was "
                               "imported. Run 'hccfusion crf validate' for the full list, "
                               "correct the workbook and ingest it again.", report=report)
    issues = report.to_frame()
    warnings = issues[issues["severity"] == "warning"] if len(issues) else None
    return ingest_tables(db_path, report.tables, source_name=Path(report.source_name).name,
                         source_hash=report.source_hash, findings=warnings)


def read_tables(db_path: Path | str) -> dict[str, "pd.DataFrame"]:
    """Every CRF table of the study database, canonical (:func:`coerce_table`), sorted by key."""
    con = _open_read(db_path)
    try:
        out = {}
        for name, schema in TABLES.items():
            cols = ", ".join(q(c) for c in table_columns(name))
            order = ", ".join(q(k) for k in schema.key)
            out[name] = coerce_table(name, con.execute(
                f"SELECT {cols} FROM {q(name)} ORDER BY {order}").df())
        return out
    finally:
        con.close()


def list_batches(db_path: Path | str) -> "pd.DataFrame":
    """The batches table, oldest first (``imported_at`` is UTC)."""
    con = _open_read(db_path)
    try:
        return con.execute("SELECT * FROM batches ORDER BY imported_at, batch_id").df()
    finally:
        con.close()


def audit_trail(db_path: Path | str, *, batch_id: str | None = None) -> "pd.DataFrame":
    """The audit rows (all, or one batch's): batch_id, table, key (natural key as JSON), column,
    old_value, new_value, action (insert/update/delete), at (UTC).

    Raises
    ------
    UsageError
        ``batch_id`` is not a batch of this database.
    """
    con = _open_read(db_path)
    try:
        if batch_id is not None:
            known = [r[0] for r in con.execute("SELECT batch_id FROM batches").fetchall()]
            if batch_id not in known:
                raise unknown_option("batch", batch_id, known)
            return con.execute('SELECT * FROM audit WHERE batch_id = ? ORDER BY "table", "action", '
                               '"key", "column"', [batch_id]).df()
        return con.execute('SELECT * FROM audit ORDER BY "at", batch_id, "table", "action", "key", '
                           '"column"').df()
    finally:
        con.close()


def _open_read(db_path: Path | str):
    db_path = Path(db_path)
    con = layout.connect(db_path, read_only=True)
    try:
        layout.check_layout(con, db_path)
    except BaseException:
        con.close()
        raise
    return con


def batch_hashes(db_path: Path | str) -> list[tuple[str, str]]:
    """(batch_id, source_hash) of every recorded batch, oldest first."""
    con = _open_read(db_path)
    try:
        return [(b, h) for b, h in con.execute(
            "SELECT batch_id, source_hash FROM batches ORDER BY imported_at, batch_id").fetchall()]
    finally:
        con.close()
