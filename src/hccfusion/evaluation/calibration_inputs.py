"""Argument checks shared by the calibration, decision-curve and reclassification functions:
``time`` (finite days > 0), ``event`` (bool or 0/1) and per-patient score arrays of one length,
the ``horizon_days``, probabilities in [0, 1] and the ``confidence`` level."""

from __future__ import annotations

import numpy as np

from hccfusion.errors import DataError, UsageError


def _as_1d(values: object, name: str, where: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise UsageError(f"The '{name}' parameter of {where} must be 1-D. "
                         f"Got shape {array.shape} instead.")
    return array


def _survival_arrays(where: str, *, time: object, event: object,
                     **scores: object) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Validated ``time`` (float days > 0), ``event`` (bool) and float score arrays."""
    t = _as_1d(time, "time", where).astype(float)
    e_raw = _as_1d(event, "event", where)
    if e_raw.dtype != bool:
        if not np.all(np.isin(e_raw, (0, 1))):
            raise DataError(f"The 'event' parameter of {where} must be boolean (True = event "
                            f"observed). Got values {np.unique(e_raw)[:5].tolist()} instead.")
    e = e_raw.astype(bool)
    if len(e) != len(t):
        raise UsageError(f"{where}: 'time' and 'event' must have the same length. "
                         f"Got {len(t)} and {len(e)} instead.")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise DataError(f"The 'time' parameter of {where} must be finite and > 0 days; "
                        f"{int(np.sum(~np.isfinite(t) | (t <= 0)))} values are not.")
    out: dict[str, np.ndarray] = {}
    for name, values in scores.items():
        s = _as_1d(values, name, where).astype(float)
        if len(s) != len(t):
            raise UsageError(f"{where}: '{name}' must have one value per patient ({len(t)}). "
                             f"Got {len(s)} instead.")
        if not np.all(np.isfinite(s)):
            raise DataError(f"The '{name}' parameter of {where} has "
                            f"{int(np.sum(~np.isfinite(s)))} missing or infinite values.")
        out[name] = s
    return t, e, out


def _check_horizon(horizon_days: float, where: str) -> float:
    if not np.isfinite(horizon_days) or horizon_days <= 0:
        raise UsageError(f"The 'horizon_days' parameter of {where} must be > 0. "
                         f"Got {horizon_days!r} instead.")
    return float(horizon_days)


def _check_probability(values: np.ndarray, name: str, where: str) -> None:
    if np.any((values < 0) | (values > 1)):
        raise DataError(f"The '{name}' parameter of {where} must be a probability in [0, 1]; "
                        f"{int(np.sum((values < 0) | (values > 1)))} values are not.")


def _check_confidence(confidence: float, where: str) -> None:
    if not 0.0 < confidence < 1.0:
        raise UsageError(f"The 'confidence' parameter of {where} must be in (0, 1). "
                         f"Got {confidence!r} instead.")
