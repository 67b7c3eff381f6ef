"""Checks and small conversions shared by the fitted estimators of :mod:`hccfusion.training`.

Parameter and frame checks (column lists, DataFrame type, required columns and rows), the
fitted-state check, categorical level names, and the ``to_dict`` / ``from_dict`` payload helpers
(format version, ``kind`` check, JSON-exact floats). Used by
:mod:`hccfusion.training.preprocess`, :mod:`hccfusion.training.category_codes` and
:mod:`hccfusion.training.time_bins`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, SchemaVersionError, UsageError

FORMAT_VERSION = 1


def _check_columns_param(value: object, name: str, where: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence | pd.Index | np.ndarray):
        raise UsageError(f"The '{name}' parameter of {where} must be a list of column names. "
                         f"Got {value!r} instead.")
    columns = list(value)
    bad = [c for c in columns if not isinstance(c, str)]
    if bad:
        raise UsageError(f"The '{name}' parameter of {where} must hold column names (str). "
                         f"Got {bad[:5]!r} instead.")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise UsageError(f"The '{name}' parameter of {where} lists {dupes} more than once; "
                         f"name each column once.")
    return columns


def _check_frame(frame: object, where: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"The 'frame' parameter of {where} must be a pandas DataFrame indexed "
                         f"by patient_id. Got {type(frame).__name__} instead.")
    return frame


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: the frame lacks column(s) {missing} that the preprocessor "
                        f"{'needs' if 'fit' in where else 'was fitted on'}; "
                        f"it has {len(frame.columns)} columns. Add the column(s) "
                        f"(NaN where unknown).")


def _require_rows(frame: pd.DataFrame, where: str) -> None:
    if len(frame) == 0:
        raise DataError(f"{where}: the frame has no rows; fit on at least one training "
                        f"patient.")


def _category(value: object) -> str | None:
    """One categorical value as a level name: None for missing; 1, 1.0 and "1" are one level."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    text = str(value).strip()
    return text or None


def _categories(frame: pd.DataFrame, column: str) -> list[str | None]:
    return [_category(v) for v in frame[column].tolist()]


def _not_fitted(obj: object, attribute: str) -> None:
    if not hasattr(obj, attribute):
        name = type(obj).__name__
        raise UsageError(f"This {name} is not fitted yet; call {name}.fit(...) on the training "
                         f"patients first (or {name}.from_dict(...) to load a fitted one).")


def _check_kind(d: object, kind: str, cls: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise DataError(f"{cls}.from_dict needs a dict from {cls}.to_dict(). "
                        f"Got {type(d).__name__} instead.")
    if d.get("kind") != kind:
        raise DataError(f"{cls}.from_dict needs a dict with kind '{kind}'. "
                        f"Got kind {d.get('kind')!r} instead.")
    if d.get("version") != FORMAT_VERSION:
        raise SchemaVersionError(f"{cls}: the dict has format version {d.get('version')!r}; "
                                 f"this hccfusion reads version {FORMAT_VERSION}. Refit the "
                                 f"preprocessor or use the hccfusion version that wrote it.")
    return d


def _floats(values: np.ndarray) -> list[float]:
    # Python floats print their shortest round-tripping repr, so JSON keeps every bit
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
