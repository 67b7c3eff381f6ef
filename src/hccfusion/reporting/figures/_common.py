"""Input checks and small helpers shared by the figure functions (no matplotlib at import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hccfusion.errors import DataError, unknown_option

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

#: Days per unit; months are mean Gregorian months (365.25 / 12 = 30.4375 days).
DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": 30.4375,
                                    "years": 365.25}


def check_columns(table: pd.DataFrame, columns: Sequence[str], *, name: str, func: str) -> None:
    """Raise :class:`DataError` naming the missing columns and the expected ones."""
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise DataError(f"The '{name}' parameter of {func} must be a pandas DataFrame with "
                        f"columns {list(columns)}. Got {type(table).__name__} instead.")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"The '{name}' table of {func} lacks columns {missing}; expected "
                        f"{list(columns)}. Got columns {list(table.columns)}.")
    if table.empty:
        raise DataError(f"The '{name}' table of {func} is empty; there is nothing to draw.")


def check_finite(table: pd.DataFrame, columns: Sequence[str], *, name: str, func: str) -> None:
    """Raise :class:`DataError` if a column holds a missing or non-numeric value."""
    for col in columns:
        values = np.asarray(table[col], dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = table.index[np.flatnonzero(bad)[0]]
            raise DataError(f"The '{name}' table of {func} has a missing or infinite '{col}' "
                            f"(row {row!r}); every row needs a finite value.")


def check_range(table: pd.DataFrame, col: str, low: float, high: float, *, name: str,
                func: str) -> None:
    """Raise :class:`DataError` if a non-missing value of ``col`` lies outside [low, high]."""
    values = np.asarray(table[col], dtype=float)
    bad = np.isfinite(values) & ((values < low) | (values > high))
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise DataError(f"The '{name}' table of {func} has '{col}' = {values[i]:g} in row "
                        f"{table.index[i]!r}; expected values in [{low:g}, {high:g}].")


def days_per_unit(time_unit: str) -> float:
    """Days in one ``time_unit`` (days, weeks, months or years)."""
    if time_unit not in DAYS_PER_UNIT:
        raise unknown_option("time unit", str(time_unit), list(DAYS_PER_UNIT))
    return DAYS_PER_UNIT[time_unit]


def format_p(p: float | str) -> str:
    """``p = 0.012``, ``p = 0.43``, ``p < 0.001``; strings are returned unchanged."""
    if isinstance(p, str):
        return p
    p = float(p)
    if not np.isfinite(p) or p < 0 or p > 1:
        raise DataError(f"A p-value must lie in [0, 1]. Got {p!r} instead.")
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}" if p >= 0.1 else f"p = {p:.3f}"


def ordered(values: pd.Series, order: Sequence[Any] | None, *, name: str) -> list[Any]:
    """Unique values in order of appearance, or in ``order`` (which must cover them all)."""
    seen = list(dict.fromkeys(values.tolist()))
    if order is None:
        return seen
    missing = [v for v in seen if v not in list(order)]
    if missing:
        raise DataError(f"The '{name}' order does not list {missing}; it must name every value "
                        f"present ({seen}).")
    return [v for v in order if v in seen]


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """The given Axes, or the Axes of a new figure of ``figsize`` inches."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax
