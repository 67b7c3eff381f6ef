"""Cox baselines on a preprocessed matrix: :class:`CoxBaseline` (fixed penalty) and
:class:`PenalisedCoxBaseline` (penalty chosen by inner cross-validation on the training
patients), both fitted by lifelines' ``CoxPHFitter`` through one shared fit helper. Re-exported
by :mod:`hccfusion.training.baselines`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.training.baseline_checks import (_check_fitted, _check_names, _check_number,
                                                _check_survival, _check_X, _stratified_folds)

__all__ = ["CoxBaseline", "PenalisedCoxBaseline"]



def _fit_cox(X: np.ndarray, t: np.ndarray, e: np.ndarray, names: list[str], penalizer: float,
             l1_ratio: float, where: str) -> Any:
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    # a column constant on these rows (a missing indicator nobody triggers, a level absent from
    # an inner fold) carries no information and makes lifelines divide by a zero SD: leave it
    # out; its coefficient is 0
    varying = X.std(axis=0) > 1e-12
    df = pd.DataFrame(X[:, varying], columns=[n for n, v in zip(names, varying) if v])
    df["__time__"] = t
    df["__event__"] = e.astype(int)
    cph = CoxPHFitter(penalizer=float(penalizer), l1_ratio=float(l1_ratio))
    try:
        cph.fit(df, duration_col="__time__", event_col="__event__")
    except ConvergenceError as err:
        raise DataError(f"{where}: the Cox model did not converge with penalizer={penalizer} "
                        f"({str(err).splitlines()[0]}). Collinear or separating columns are the "
                        "usual cause; use a penalizer > 0 (PenalisedCoxBaseline) or drop "
                        "columns.") from err
    return cph


class CoxBaseline:
    """Cox proportional hazards model on a preprocessed matrix (Cox, JRSS-B 1972), fitted by
    lifelines' ``CoxPHFitter`` (Breslow/Efron ties as lifelines; elastic-net penalty
    ``penalizer · ((1 − l1_ratio)/2 · ‖β‖² + l1_ratio · ‖β‖₁)``).

    Parameters
    ----------
    columns
        Names of the columns of X (default ``x0, x1, …``); they label ``coef_``.
    penalizer
        Penalty strength >= 0 (0: the plain partial likelihood).
    l1_ratio
        Elastic-net mixing in [0, 1] (0 ridge, 1 lasso).

    Attributes
    ----------
    coef_
        Shape (p,), log hazard ratios per unit of each (preprocessed) column.
    feature_names_
        The column names.
    model_
        The fitted ``lifelines.CoxPHFitter``.
    """

    def __init__(self, columns: Sequence[str] | None = None, penalizer: float = 0.0,
                 l1_ratio: float = 0.0) -> None:
        self.columns = columns
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio

    def fit(self, *, X: Any, time: Any, event: Any) -> CoxBaseline:
        """Fit on the training patients.

        Parameters
        ----------
        X
            Shape (n, p), float, preprocessed (no NaN).
        time
            Shape (n,), days.
        event
            Shape (n,), bool (True = observed).
        """
        where = type(self).__name__
        _check_number(self.penalizer, "penalizer", where, low=0.0)
        _check_number(self.l1_ratio, "l1_ratio", where, low=0.0, high=1.0)
        arr = _check_X(X, where)
        names = _check_names(self.columns, arr.shape[1], where)
        t, e = _check_survival(time, event, arr.shape[0], where)
        self.model_ = _fit_cox(arr, t, e, names, self.penalizer, self.l1_ratio, where)
        self.coef_ = self.model_.params_.reindex(names).fillna(0.0).to_numpy(dtype=float)
        self.feature_names_ = names
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Risk = linear predictor X·β, shape (n,) (higher = worse; not centred)."""
        _check_fitted(self, "coef_")
        arr = _check_X(X, f"{type(self).__name__}.predict", len(self.coef_), self.feature_names_)
        return arr @ self.coef_


class PenalisedCoxBaseline:
    """Elastic-net Cox model whose penalty is chosen by inner cross-validation (Harrell's C)
    on the training patients only (Simon N et al., J Stat Softw 2011 — coxnet; here with
    lifelines' penalised ``CoxPHFitter``).

    The training patients are split into ``inner_folds`` folds stratified by the event
    (seeded); for every penalizer the model is fitted on the other folds and Harrell's C is
    measured on the held-out fold. The penalizer with the highest mean C wins (ties → the
    larger penalizer, the simpler model); the final model is refitted on all training patients.
    A fold where the fit fails or C is undefined counts as missing for that penalizer.

    Parameters
    ----------
    penalizers
        Candidate penalties (> 0 recommended).
    l1_ratio
        Elastic-net mixing in [0, 1].
    inner_folds
        Number of inner folds (>= 2).
    seed
        Seed of the fold assignment.
    columns
        Names of the columns of X (default ``x0, x1, …``).

    Attributes
    ----------
    penalizer_
        The chosen penalizer.
    cv_results_
        DataFrame, one row per penalizer: ``penalizer, mean_c, std_c, n_folds`` (folds with a
        defined C), ``chosen`` (bool).
    coef_, feature_names_, model_
        As :class:`CoxBaseline`, for the refitted model.
    """

    def __init__(self, penalizers: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0),
                 l1_ratio: float = 0.0, inner_folds: int = 3, seed: int = 0,
                 columns: Sequence[str] | None = None) -> None:
        self.penalizers = penalizers
        self.l1_ratio = l1_ratio
        self.inner_folds = inner_folds
        self.seed = seed
        self.columns = columns

    def fit(self, *, X: Any, time: Any, event: Any) -> PenalisedCoxBaseline:
        """Choose the penalizer by inner CV on these (training) patients, then refit on all.

        Parameters
        ----------
        X
            Shape (n, p), float, preprocessed (no NaN).
        time
            Shape (n,), days.
        event
            Shape (n,), bool.
        """
        from hccfusion.training.metrics import harrell_c

        where = type(self).__name__
        pens = list(self.penalizers) if not isinstance(self.penalizers, str) else []
        if not pens:
            raise UsageError(f"The 'penalizers' parameter of {where} must be a non-empty "
                             f"sequence of numbers >= 0. Got {self.penalizers!r} instead.")
        for p in pens:
            _check_number(p, "penalizers", where, low=0.0)
        _check_number(self.l1_ratio, "l1_ratio", where, low=0.0, high=1.0)
        _check_number(self.inner_folds, "inner_folds", where, low=2, integer=True)
        _check_number(self.seed, "seed", where, low=0, integer=True)
        arr = _check_X(X, where)
        names = _check_names(self.columns, arr.shape[1], where)
        t, e = _check_survival(time, event, arr.shape[0], where)
        if int(e.sum()) < self.inner_folds:
            raise DataError(f"{where}: {int(e.sum())} event(s) cannot be spread over "
                            f"{self.inner_folds} inner folds; lower inner_folds or use "
                            "CoxBaseline with a fixed penalizer.")
        folds = _stratified_folds(e.astype(int), int(self.inner_folds), int(self.seed))
        scores = np.full((len(pens), int(self.inner_folds)), np.nan)
        for k in range(int(self.inner_folds)):
            train, test = folds != k, folds == k
            if not e[train].any():
                continue
            for j, pen in enumerate(pens):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        cph = _fit_cox(arr[train], t[train], e[train], names, pen,
                                       self.l1_ratio, where)
                    beta = cph.params_.reindex(names).fillna(0.0).to_numpy(dtype=float)
                    scores[j, k] = harrell_c(time=t[test], event=e[test],
                                             risk=arr[test] @ beta)
                except (DataError, ValueError, np.linalg.LinAlgError):
                    continue
        n_ok = np.isfinite(scores).sum(axis=1)
        if not n_ok.any():
            raise DataError(f"{where}: Harrell's C could not be computed on any inner fold for "
                            "any penalizer (too few events or failed fits); use CoxBaseline "
                            "with a fixed penalizer.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN
            mean_c = np.nanmean(scores, axis=1)
            std_c = np.nanstd(scores, axis=1)
        order = sorted(range(len(pens)), key=lambda j: (-(mean_c[j] if np.isfinite(mean_c[j])
                                                          else -np.inf), -pens[j]))
        best = order[0]
        self.penalizer_ = float(pens[best])
        self.cv_results_ = pd.DataFrame({
            "penalizer": np.asarray(pens, dtype=float), "mean_c": mean_c, "std_c": std_c,
            "n_folds": n_ok.astype(int), "chosen": np.arange(len(pens)) == best})
        self.model_ = _fit_cox(arr, t, e, names, self.penalizer_, self.l1_ratio, where)
        self.coef_ = self.model_.params_.reindex(names).fillna(0.0).to_numpy(dtype=float)
        self.feature_names_ = names
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Risk = linear predictor X·β of the refitted model, shape (n,) (higher = worse)."""
        _check_fitted(self, "coef_")
        arr = _check_X(X, f"{type(self).__name__}.predict", len(self.coef_), self.feature_names_)
        return arr @ self.coef_

