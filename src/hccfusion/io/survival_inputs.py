"""Validation of survival inputs in the data dictionary's vocabulary (``time`` in days, finite
and ≥ 0; ``event`` bool or 0/1, True = observed), with one wording of errors.

It lives in ``io`` because both the evaluation functions (through
:mod:`hccfusion.evaluation.inputs`, which re-exports it) and the training layer's fitted
baselines check their inputs with it, and neither may import the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hccfusion.errors import DataError, UsageError

__all__ = ["check_time_event"]


def check_time_event(time: Any, event: Any, func: str,
                     prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """``time`` as float days and ``event`` as bool, or the error that names ``func``.

    ``prefix`` names the arguments in messages (``"train_"`` → ``train_time``). Raises
    :class:`~hccfusion.errors.UsageError` for a wrong shape or dtype and
    :class:`~hccfusion.errors.DataError` for empty input, negative or non-finite times, or an
    event coded other than bool / 0/1 (R's 1/2 status must be converted explicitly).
    """
    tn, en = f"{prefix}time", f"{prefix}event"
    t = np.asarray(time)
    e = np.asarray(event)
    if t.ndim != 1 or e.ndim != 1:
        raise UsageError(f"The '{tn}' and '{en}' parameters of {func} must be 1-D. "
                         f"Got shapes {t.shape} and {e.shape} instead.")
    if t.shape != e.shape:
        raise UsageError(f"The '{tn}' and '{en}' parameters of {func} must have the same length. "
                         f"Got {t.shape[0]} and {e.shape[0]} instead.")
    if t.size == 0:
        raise DataError(f"{func} needs at least one patient; '{tn}' and '{en}' are empty.")
    if not np.issubdtype(t.dtype, np.number) or np.issubdtype(t.dtype, np.complexfloating) \
            or t.dtype == bool:
        raise UsageError(f"The '{tn}' parameter of {func} must be numeric (days). "
                         f"Got dtype {t.dtype} instead.")
    t = t.astype(float)
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"The '{tn}' parameter of {func} must be finite and >= 0 (days); "
                        f"{int(bad.sum())} value(s) are not, first at position {i}: {t[i]!r}. "
                        f"Drop or fix those patients first.")
    if e.dtype == bool:
        return t, e
    if not np.issubdtype(e.dtype, np.number):
        raise UsageError(f"The '{en}' parameter of {func} must be bool (True = observed). "
                         f"Got dtype {e.dtype} instead.")
    ok = np.isin(e, (0, 1))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise DataError(f"The '{en}' parameter of {func} must be bool or 0/1 (True = observed); "
                        f"got {e[i]!r} at position {i}. R-style 1/2 status codes must be "
                        f"converted explicitly (event = status == 2).")
    return t, e.astype(bool)
