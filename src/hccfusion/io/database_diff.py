"""The re-import diff of one CRF table, done in SQL inside DuckDB.

A workbook owns the patients it contains. For a table, the incoming rows are matched on the
table's natural key (``TABLES[name].key``) against the database rows of those patients:

- a key only in the workbook → ``insert`` (one audit row, ``new_value`` = the row as JSON);
- a key in both with different cells → ``update`` (one audit row per changed cell, old and new
  value as text);
- a key of an owned patient only in the database → ``delete`` (one audit row, ``old_value`` =
  the row as JSON).

Rows of patients absent from the workbook are never read or written. Everything runs on the
caller's connection, inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from hccfusion.errors import DataError
from hccfusion.io.database_schema import q, sql_types
from hccfusion.io.schema import TABLES

if TYPE_CHECKING:
    import duckdb

#: Temporary table holding the workbook's patients (filled by the caller).
OWNED = "_owned_patients"


@dataclass(frozen=True)
class TableChange:
    """What an import did to one table.

    ``updated`` counts rows with at least one changed cell; ``cells_changed`` counts the cells.
    """

    table: str
    rows_in: int
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    cells_changed: int

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted)


def _key_match(left: str, right: str, key: tuple[str, ...]) -> str:
    return " AND ".join(f"{left}.{q(k)} = {right}.{q(k)}" for k in key)


def _json(alias: str, cols: tuple[str, ...] | list[str]) -> str:
    inner = ", ".join(f"{q(c)} := {alias}.{q(c)}" for c in cols)
    return f"to_json(struct_pack({inner}))::VARCHAR"


def stage_incoming(con: "duckdb.DuckDBPyConnection", *, table: str, view: str) -> str:
    """Copy the registered canonical DataFrame ``view`` into a typed temp table; check its keys.

    Raises
    ------
    DataError
        A key cell is empty, or two rows share a natural key.
    """
    staged = f"_in_{table}"
    casts = ", ".join(f"CAST({q(c)} AS {t}) AS {q(c)}" for c, t in sql_types(table).items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {staged} AS SELECT {casts} FROM {view}")
    key = TABLES[table].key
    nulls = " OR ".join(f"{q(k)} IS NULL" for k in (*key, "patient_id"))
    n_null = con.execute(f"SELECT count(*) FROM {staged} WHERE {nulls}").fetchall()[0][0]
    if n_null:
        raise DataError(f"table {table!r}: {n_null} row(s) have an empty key cell; every row "
                        f"needs patient_id and {', '.join(key)}. Validate the workbook with "
                        "'hccfusion crf validate' and fill them.")
    cols = ", ".join(q(k) for k in key)
    dups = con.execute(f"SELECT {_json(staged, list(key))}, count(*) FROM {staged} "
                       f"GROUP BY ALL HAVING count(*) > 1 LIMIT 3").fetchall()
    if dups:
        shown = "; ".join(f"{k} ×{n}" for k, n in dups)
        raise DataError(f"table {table!r}: rows share the natural key ({cols}): {shown}. Each "
                        "key must appear once; merge or correct the duplicates and re-import.")
    return staged


def check_collisions(con: "duckdb.DuckDBPyConnection", *, table: str, staged: str) -> None:
    """Refuse incoming keys that already belong to a patient this workbook does not own."""
    key = TABLES[table].key
    if "patient_id" in key:
        return
    rows = con.execute(
        f"SELECT {_json('i', list(key))}, i.patient_id, t.patient_id FROM {staged} i "
        f"JOIN {q(table)} t ON {_key_match('i', 't', key)} "
        f"WHERE t.patient_id NOT IN (SELECT patient_id FROM {OWNED}) LIMIT 3").fetchall()
    if rows:
        shown = "; ".join(f"{k} (patient {new}, already held for patient {old})"
                          for k, new, old in rows)
        raise DataError(f"table {table!r}: {shown}. {', '.join(key)} must be unique across the "
                        "study; another workbook already imported these keys. Give the rows "
                        "study-wide unique ids (e.g. prefix the centre code) and re-import.")


def diff_table(con: "duckdb.DuckDBPyConnection", *, table: str, staged: str, batch_id: str,
               at: datetime) -> TableChange:
    """Write the audit rows of ``table`` and fill the temp tables the apply step uses."""
    key = TABLES[table].key
    cols = tuple(sql_types(table))
    rest = [c for c in cols if c not in key]
    old = f"_old_{table}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {old} AS SELECT {', '.join(q(c) for c in cols)} "
                f"FROM {q(table)} WHERE patient_id IN (SELECT patient_id FROM {OWNED})")
    match = _key_match("i", "o", key)
    differs = " OR ".join(f"i.{q(c)} IS DISTINCT FROM o.{q(c)}" for c in rest) or "FALSE"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _upd_{table} AS SELECT "
                f"{', '.join('i.' + q(k) for k in key)} FROM {staged} i JOIN {old} o ON {match} "
                f"WHERE {differs}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ins_{table} AS SELECT i.* FROM {staged} i "
                f"WHERE NOT EXISTS (SELECT 1 FROM {old} o WHERE {match})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _del_{table} AS SELECT o.* FROM {old} o "
                f"WHERE NOT EXISTS (SELECT 1 FROM {staged} i WHERE {match})")

    params = [batch_id, table]
    counts = con.execute(
        f"SELECT (SELECT count(*) FROM {staged}), (SELECT count(*) FROM _ins_{table}), "
        f"(SELECT count(*) FROM _upd_{table}), (SELECT count(*) FROM _del_{table})").fetchall()[0]
    rows_in, ins, upd, dele = (int(x) for x in counts)
    audit_cols = '"batch_id", "table", "key", "column", "old_value", "new_value", "action", "at"'
    cells_n = 0
    if upd:
        # One row per cell of the changed rows, then keep the cells that differ.
        cells = ", ".join(
            f"struct_pack(col := '{c}', old_v := o.{q(c)}::VARCHAR, new_v := i.{q(c)}::VARCHAR, "
            f"differs := i.{q(c)} IS DISTINCT FROM o.{q(c)})" for c in rest)
        con.execute(
            f"INSERT INTO audit ({audit_cols}) SELECT ?, ?, k, cell.col, cell.old_v, cell.new_v, "
            f"'update', ? FROM (SELECT {_json('i', list(key))} AS k, unnest([{cells}]) AS cell "
            f"FROM {staged} i JOIN _upd_{table} u ON {_key_match('i', 'u', key)} "
            f"JOIN {old} o ON {match}) WHERE cell.differs", [*params, at])
        cells_n = con.execute('SELECT count(*) FROM audit WHERE batch_id = ? AND "table" = ? '
                              "AND action = 'update'", params).fetchall()[0][0]
    if ins:
        con.execute(f"INSERT INTO audit ({audit_cols}) SELECT ?, ?, {_json('i', list(key))}, "
                    f"NULL, NULL, {_json('i', cols)}, 'insert', ? FROM _ins_{table} i",
                    [*params, at])
    if dele:
        con.execute(f"INSERT INTO audit ({audit_cols}) SELECT ?, ?, {_json('o', list(key))}, "
                    f"NULL, {_json('o', cols)}, NULL, 'delete', ? FROM _del_{table} o",
                    [*params, at])
    return TableChange(table=table, rows_in=rows_in, inserted=ins, updated=upd, deleted=dele,
                       unchanged=rows_in - ins - upd, cells_changed=cells_n)


def apply_table(con: "duckdb.DuckDBPyConnection", *, table: str, staged: str, batch_id: str,
                change: TableChange) -> None:
    """Make ``table`` hold the workbook's rows for the owned patients (after :func:`diff_table`).

    Deleted and updated rows are removed, then inserted and updated rows written with
    ``_batch_id``; the rows of other patients are not touched.
    """
    key = TABLES[table].key
    names = list(sql_types(table))
    cols = ", ".join(q(c) for c in names)
    for gone, n in ((f"_del_{table}", change.deleted), (f"_upd_{table}", change.updated)):
        if n:
            con.execute(f"DELETE FROM {q(table)} AS t USING {gone} g "
                        f"WHERE {_key_match('t', 'g', key)}")
    if change.inserted:
        con.execute(f"INSERT INTO {q(table)} ({cols}, _batch_id) SELECT {cols}, ? "
                    f"FROM _ins_{table}", [batch_id])
    if change.updated:
        con.execute(f"INSERT INTO {q(table)} ({cols}, _batch_id) "
                    f"SELECT {', '.join('i.' + q(c) for c in names)}, ? FROM {staged} i "
                    f"JOIN _upd_{table} u ON {_key_match('i', 'u', key)}", [batch_id])


def drop_temp(con: "duckdb.DuckDBPyConnection", *, table: str) -> None:
    for prefix in ("_in_", "_old_", "_upd_", "_ins_", "_del_"):
        con.execute(f"DROP TABLE IF EXISTS {prefix}{table}")
