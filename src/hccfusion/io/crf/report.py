"""Validation findings and the report that gathers them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from hccfusion.types import Severity

#: Shown instead of the value of an identifier cell: identifiers never appear in messages.
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Issue:
    """One finding of ``crf validate``.

    ``row`` is the row number as Excel shows it (the line number for CSV); ``None`` for a finding
    about a whole sheet or table. ``value`` is the cell as written (``<redacted>`` for
    identifier columns).
    """

    severity: Severity
    rule: str
    sheet: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    patient_id: str | None = None

    def location(self) -> str:
        parts = [f"sheet '{self.sheet}'"]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        value = "" if self.value is None else f" (value {self.value!r})"
        return f"{self.severity}: {self.location()}{value}: {self.message} [{self.rule}]"


ISSUE_COLUMNS = ("severity", "rule", "sheet", "row", "column", "value", "message", "patient_id")


@dataclass(frozen=True)
class ValidationReport:
    """Everything ``validate_crf`` learnt about one workbook (or CSV folder).

    ``tables`` are the canonical tables (values converted to canonical units); rows with errors
    are kept, the failing cells empty, so that the report and the tables line up.
    """

    source_name: str
    source_hash: str
    tables: dict[str, pd.DataFrame]
    issues: tuple[Issue, ...]
    row_numbers: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.WARNING)

    @property
    def has_errors(self) -> bool:
        return any(i.severity is Severity.ERROR for i in self.issues)

    @property
    def exit_code(self) -> int:
        """0 clean or warnings only, 1 errors (2, unusable input, is raised, not reported)."""
        return 1 if self.has_errors else 0

    def to_frame(self) -> pd.DataFrame:
        rows = [{**asdict(i), "severity": str(i.severity)} for i in self.issues]
        frame = pd.DataFrame(rows, columns=list(ISSUE_COLUMNS))
        frame["row"] = frame["row"].astype("Int64")
        return frame

    def summary(self) -> dict[str, object]:
        by_rule: dict[str, int] = {}
        for i in self.issues:
            by_rule[f"{i.severity}:{i.rule}"] = by_rule.get(f"{i.severity}:{i.rule}", 0) + 1
        return {
            "source": self.source_name,
            "sha256": self.source_hash,
            "rows": {name: len(t) for name, t in self.tables.items()},
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "by_rule": dict(sorted(by_rule.items())),
        }

    def to_json(self, path: str | Path) -> Path:
        """Write the summary and every finding as JSON; returns the path."""
        path = Path(path)
        payload = {**self.summary(), "issues": [
            {**asdict(i), "severity": str(i.severity)} for i in self.issues]}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
        return path
