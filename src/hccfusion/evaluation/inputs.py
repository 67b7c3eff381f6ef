"""Validation of survival inputs shared by the evaluation functions: one vocabulary (``time``
in days, finite and ≥ 0; ``event`` bool or 0/1, True = observed) and one wording of errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from hccfusion.errors import DataError, UsageError


def check_time_event(time: Any, event: Any, func: str, prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
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
