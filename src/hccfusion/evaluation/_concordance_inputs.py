"""Argument checks shared by the concordance and time-dependent metrics: the ``risk`` array
(numeric, finite, one row per patient), the risk-tie tolerance ``tied_tol`` and the
``confidence`` level, each with the package's "The 'x' parameter of F must be … Got …
instead." wording."""

from __future__ import annotations

from typing import Any

import numpy as np

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.inputs import check_confidence


def _check_risk(risk: Any, n: int, func: str, *, allow_2d: bool = False,
                name: str = "risk") -> np.ndarray:
    r = np.asarray(risk)
    if r.dtype == bool or not np.issubdtype(r.dtype, np.number) \
            or np.issubdtype(r.dtype, np.complexfloating):
        raise UsageError(f"The '{name}' parameter of {func} must be numeric (higher = worse). "
                         f"Got dtype {r.dtype} instead.")
    ndims = (1, 2) if allow_2d else (1,)
    if r.ndim not in ndims or r.shape[0] != n:
        want = "(n_patients,) or (n_patients, n_columns)" if allow_2d else "(n_patients,)"
        raise UsageError(f"The '{name}' parameter of {func} must have shape {want} with "
                         f"n_patients = {n}. Got shape {r.shape} instead.")
    r = r.astype(float)
    if not np.isfinite(r).all():
        i = int(np.flatnonzero(~np.isfinite(r).reshape(r.shape[0], -1).all(axis=1))[0])
        raise DataError(f"The '{name}' parameter of {func} must be finite; patient at position "
                        f"{i} has a NaN or infinite value. Impute or drop it first.")
    return r


def _check_tol(tied_tol: float, func: str) -> float:
    if isinstance(tied_tol, bool) or not isinstance(tied_tol, (int, float, np.floating)) \
            or not np.isfinite(tied_tol) or tied_tol < 0:
        raise UsageError(f"The 'tied_tol' parameter of {func} must be a finite float >= 0. "
                         f"Got {tied_tol!r} instead.")
    return float(tied_tol)


_check_confidence = check_confidence
