"""Input checks shared by the fitted baselines of :mod:`hccfusion.training.baselines`.

Owns the checks of the preprocessed matrix ``X`` (2-D, numeric, finite, the width seen in fit),
of ``time``/``event`` (one per row, at least one event), of column names, of numeric parameters
and of the fitted state, in scikit-learn's error wording, and the seeded stratified fold
assignment the inner cross-validations use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError


def _check_X(X: Any, where: str, n_features: int | None = None,
             names: Sequence[str] | None = None) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise UsageError(f"The 'X' parameter of {where} must be a non-empty 2-D array "
                         f"(n_patients, n_features). Got shape {arr.shape} instead.")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise UsageError(f"The 'X' parameter of {where} must be numeric (already preprocessed). "
                         f"Got dtype {arr.dtype} instead.")
    arr = arr.astype(float)
    if n_features is not None and arr.shape[1] != n_features:
        raise UsageError(f"The 'X' parameter of {where} must have the {n_features} columns seen "
                         f"in fit. Got {arr.shape[1]} instead.")
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        col_name = names[col] if names is not None and col < len(names) else f"column {col}"
        raise DataError(f"{where}: X has {int(bad.sum())} NaN or infinite value(s), first at "
                        f"row {row}, {col_name}. Baselines take the preprocessed matrix; impute "
                        f"with training/preprocess.py first.")
    return arr


def _check_survival(time: Any, event: Any, n: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    from hccfusion.io.survival_inputs import check_time_event

    t, e = check_time_event(time, event, where)
    if t.shape[0] != n:
        raise UsageError(f"The 'time' and 'event' parameters of {where} must have one value per "
                         f"row of X ({n}). Got {t.shape[0]} instead.")
    if not e.any():
        raise DataError(f"{where}: no event among the {n} training patients; a survival model "
                        "cannot be fitted.")
    return t, e


def _check_names(columns: Sequence[str] | None, p: int, where: str) -> list[str]:
    if columns is None:
        return [f"x{i}" for i in range(p)]
    names = [str(c) for c in columns]
    if len(names) != p:
        raise UsageError(f"The 'columns' parameter of {where} must name the {p} columns of X. "
                         f"Got {len(names)} name(s) instead.")
    if len(set(names)) != len(names):
        raise UsageError(f"The 'columns' parameter of {where} must hold distinct names. "
                         f"Got duplicates instead.")
    return names


def _check_fitted(est: object, attr: str) -> None:
    if not hasattr(est, attr):
        raise UsageError(f"This {type(est).__name__} is not fitted yet; call fit(...) first.")


def _check_number(value: Any, name: str, where: str, *, low: float, high: float | None = None,
                  integer: bool = False) -> None:
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = not isinstance(value, bool) and isinstance(value, kinds) and np.isfinite(value) \
        and value >= low and (high is None or value <= high)
    if not ok:
        what = "an int" if integer else "a number"
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise UsageError(f"The '{name}' parameter of {where} must be {what} {rng}. "
                         f"Got {value!r} instead.")


def _stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number per row, each label spread evenly over the folds (seeded shuffle)."""
    rng = np.random.default_rng(seed)
    folds = np.empty(labels.shape[0], dtype=int)
    start = 0
    for level in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == level))
        folds[members] = (np.arange(members.shape[0]) + start) % n_folds
        start += members.shape[0]
    return folds
