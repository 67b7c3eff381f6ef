"""The data dictionary: CRF tables, fields, units, ranges (see domain.md §4)."""

from hccfusion.io.schema.dtypes import coerce_table, column_kinds, empty_table
from hccfusion.io.schema.fields import Field, Kind, TableSchema
from hccfusion.io.schema.tables import (
    AGENTS_BY_KIND,
    CTCAE_TERMS,
    CYCLES_BY_KIND,
    SCHEMA_VERSION,
    SPECIMEN_FATE,
    TABLES,
    table_columns,
)
from hccfusion.io.schema.units import LAB_BY_CODE, LAB_TESTS, LabTest

__all__ = [
    "AGENTS_BY_KIND", "CTCAE_TERMS", "CYCLES_BY_KIND", "Field", "Kind", "LAB_BY_CODE",
    "LAB_TESTS", "LabTest", "SCHEMA_VERSION", "SPECIMEN_FATE", "TABLES", "TableSchema",
    "coerce_table", "column_kinds", "empty_table", "table_columns",
]
