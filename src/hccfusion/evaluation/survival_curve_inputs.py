"""Argument checks shared by the Kaplan–Meier, median-survival and log-rank functions: the
``confidence`` level, ``time``/``event`` (through
:func:`hccfusion.evaluation.inputs.check_time_event`) and the per-patient ``group`` labels with
their display order (``ALL`` when there is no grouping)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.inputs import check_confidence, check_time_event

#: Label of the single group when ``group`` is None.
ALL = "all"


_check_confidence = check_confidence


def _check_survival(time: Any, event: Any, func: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``time`` (days, finite, >= 0) and ``event`` (bool or 0/1) of equal length."""
    return check_time_event(time, event, func)


def _check_group(group: Any, n: int, func: str) -> tuple[np.ndarray, list[Any]]:
    """Group labels as an object array plus the groups in sorted (or categorical) order."""
    import pandas as pd

    if group is None:
        return np.full(n, ALL, dtype=object), [ALL]
    s = pd.Series(group) if not isinstance(group, pd.Series) else group.reset_index(drop=True)
    if s.ndim != 1 or len(s) != n:
        raise UsageError(f"The 'group' parameter of {func} must be 1-D with one label per patient "
                         f"({n}). Got {len(s)} instead.")
    if s.isna().any():
        i = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise DataError(f"The 'group' parameter of {func} has {int(s.isna().sum())} missing "
                        f"label(s), first at position {i}; drop those patients or label them.")
    if isinstance(s.dtype, pd.CategoricalDtype):
        levels = [c for c in s.cat.categories if (s == c).any()]
    else:
        try:
            levels = sorted(pd.unique(s))
        except TypeError:
            levels = list(pd.unique(s))
    return s.to_numpy(dtype=object), levels
