"""Canonical in-memory form of a CRF table: pandas dtypes per field kind, and the SQL types the
study database uses for the same columns."""

from __future__ import annotations

import pandas as pd

from hccfusion.io.schema.fields import Kind
from hccfusion.io.schema.tables import TABLES, table_columns

PANDAS_DTYPE: dict[Kind, str] = {
    Kind.STR: "string", Kind.CODE: "string", Kind.CODES: "string", Kind.INT: "Int64",
    Kind.FLOAT: "float64", Kind.DATE: "datetime64[ns]", Kind.BOOL: "boolean",
}
SQL_TYPE: dict[Kind, str] = {
    Kind.STR: "VARCHAR", Kind.CODE: "VARCHAR", Kind.CODES: "VARCHAR", Kind.INT: "BIGINT",
    Kind.FLOAT: "DOUBLE", Kind.DATE: "DATE", Kind.BOOL: "BOOLEAN",
}


def column_kinds(table: str) -> dict[str, Kind]:
    """Kind of every column of the canonical table (censor flags and lab extras are strings)."""
    schema = TABLES[table]
    kinds = {f.name: f.kind for f in schema.fields}
    return {c: kinds.get(c, Kind.STR) for c in table_columns(table)}


def empty_table(table: str) -> pd.DataFrame:
    """A zero-row canonical table with the right columns and dtypes."""
    return coerce_table(table, pd.DataFrame())


def coerce_table(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` as the canonical table: every column present (missing ones all-NA), in
    dictionary order, with canonical dtypes. Unknown columns raise ``ValueError``.

    This does not validate values; :func:`hccfusion.io.crf.validate.validate_crf` does.
    """
    kinds = column_kinds(table)
    unknown = [c for c in df.columns if c not in kinds]
    if unknown:
        raise ValueError(f"table {table!r} has unknown columns {unknown}; expected {list(kinds)}")
    out = pd.DataFrame(index=range(len(df)))
    for col, kind in kinds.items():
        values = df[col].reset_index(drop=True) if col in df.columns else pd.Series([pd.NA] * len(df))
        if kind is Kind.DATE:
            out[col] = pd.to_datetime(values, errors="raise").dt.normalize().astype("datetime64[ns]")
        elif kind is Kind.FLOAT:
            out[col] = pd.to_numeric(values, errors="raise").astype("float64")
        else:
            out[col] = values.astype(PANDAS_DTYPE[kind])
    return out
