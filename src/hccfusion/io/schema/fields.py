"""Field and table specifications: the vocabulary of the data dictionary.

A :class:`Field` says what one CRF column holds (its kind, unit, allowed codes, hard range that
rejects and soft range that warns) and how it is labelled in English and Chinese. A
:class:`TableSchema` is one CRF sheet. The concrete tables live in :mod:`.tables`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Mapping


class Kind(StrEnum):
    STR = "str"
    INT = "int"
    FLOAT = "float"
    DATE = "date"
    BOOL = "bool"
    CODE = "code"  # one value from ``codes``
    CODES = "codes"  # a comma-separated list of values from ``codes``


@dataclass(frozen=True)
class Field:
    """One column of a CRF table.

    Parameters
    ----------
    name
        Canonical column name (the data dictionary's, with the unit in it where it has one).
    kind
        What the cell holds; see :class:`Kind`.
    label_en, label_zh
        Labels for the template and the ``dictionary`` sheet; also accepted as column headers.
    required
        An empty cell is an error.
    unit
        The unit the value is stored in (after conversion at ingestion), for the dictionary.
    codes
        Allowed values of a ``code``/``codes`` field, canonical spelling.
    aliases
        Other spellings of codes that the sites use (Chinese, abbreviations), mapped to canonical.
    hard
        ``(low, high)``: a value outside is rejected (error). ``None`` on a side = unbounded.
    soft
        ``(low, high)``: a value outside is kept with a warning.
    censorable
        Accepts "<x" / ">x" (kept as value + censor flag in ``<name>_censor``).
    identifier
        A direct identifier: never printed in messages or logs, never in a frozen cohort or an
        export.
    free_text
        Free text that may contain identifiers: scrubbed on export.
    path
        A file path at the site: dropped on export.
    description
        One sentence for the dictionary sheet.
    """

    name: str
    kind: Kind
    label_en: str
    label_zh: str
    required: bool = False
    unit: str | None = None
    codes: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    hard: tuple[float | None, float | None] | None = None
    soft: tuple[float | None, float | None] | None = None
    censorable: bool = False
    identifier: bool = False
    free_text: bool = False
    path: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind in (Kind.CODE, Kind.CODES) and not self.codes:
            raise ValueError(f"field {self.name!r} is a code field without codes")


@dataclass(frozen=True)
class TableSchema:
    """One CRF sheet: its fields, its natural key and its labels."""

    name: str
    label_en: str
    label_zh: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name!r} has duplicate field names")
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"table {self.name!r}: key columns {missing} are not fields")

    @property
    def columns(self) -> tuple[str, ...]:
        """Canonical column names, in template order."""
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"table {self.name!r} has no field {name!r}")

    @property
    def identifier_columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.identifier)

    @property
    def date_columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.kind is Kind.DATE)

    def output_columns(self) -> tuple[str, ...]:
        """Columns of the validated table: every field, plus ``<name>_censor`` ("<", ">" or
        empty) for censorable fields."""
        out: list[str] = []
        for f in self.fields:
            out.append(f.name)
            if f.censorable:
                out.append(f"{f.name}_censor")
        return tuple(out)
