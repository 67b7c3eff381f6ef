"""Baseline models evaluated exactly like the multimodal networks (domain.md §7.3).

Two families:

* **Published clinical scores** (no fitting): :data:`CLINICAL_SCORES`, :func:`score_risk` and
  :class:`ClinicalScoreBaseline`, defined in :mod:`hccfusion.training.clinical_score_baselines`
  and re-exported here.
* **Fitted baselines** on an already preprocessed numeric matrix (the lead runs
  ``training/preprocess.py`` first; no NaN may remain): Cox proportional hazards (lifelines),
  penalised Cox with the penalty chosen by inner cross-validation on the training patients only,
  a random survival forest (scikit-survival, GPL-3, optional extra) and, for the objective
  response, an L2 logistic regression (scikit-learn) with C chosen by inner cross-validation.

Every estimator follows scikit-learn's conventions: ``__init__`` stores its arguments,
``fit`` (keyword-only ``X, time, event`` or ``X, y``) learns attributes ending in ``_`` and
returns ``self``, ``predict(X)`` returns the risk (higher = worse) — or P(response) for
:class:`LogisticBaseline`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.training.clinical_score_baselines import (  # re-exported
    CLINICAL_SCORES, ClinicalScore, ClinicalScoreBaseline, score_risk)

__all__ = ["ClinicalScore", "CLINICAL_SCORES", "score_risk", "ClinicalScoreBaseline",
           "CoxBaseline", "PenalisedCoxBaseline", "RandomSurvivalForestBaseline",
           "LogisticBaseline"]


# --------------------------------------------------------------------------- input checks


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


# --------------------------------------------------------------------------- Cox models


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


# --------------------------------------------------------------------------- random forest


_SKSURV_HINT = "pip install 'hccfusion[survival-baselines]'"


class RandomSurvivalForestBaseline:
    """Random survival forest (Ishwaran H et al., Ann Appl Stat 2008;2:841-60) by
    scikit-survival (GPL-3, the optional extra ``survival-baselines``).

    Parameters
    ----------
    n_estimators
        Number of trees.
    min_samples_leaf
        Minimum patients per leaf.
    max_features
        Features tried per split, as scikit-survival (default ``"sqrt"``).
    seed
        ``random_state`` of the forest.

    Attributes
    ----------
    model_
        The fitted ``sksurv.ensemble.RandomSurvivalForest``.
    n_features_
        Number of columns of X.
    """

    def __init__(self, n_estimators: int = 200, min_samples_leaf: int = 10,
                 max_features: str | int | float | None = "sqrt", seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.seed = seed

    def fit(self, *, X: Any, time: Any, event: Any) -> RandomSurvivalForestBaseline:
        """Fit on the training patients (X preprocessed, shape (n, p); time days; event bool).

        Raises
        ------
        UsageError
            scikit-survival is not installed (with the install hint).
        """
        where = type(self).__name__
        try:
            from sksurv.ensemble import RandomSurvivalForest
        except ImportError as err:
            raise UsageError(f"{where} needs scikit-survival (GPL-3, optional). Install it with "
                             f"{_SKSURV_HINT}") from err
        _check_number(self.n_estimators, "n_estimators", where, low=1, integer=True)
        _check_number(self.min_samples_leaf, "min_samples_leaf", where, low=1, integer=True)
        _check_number(self.seed, "seed", where, low=0, integer=True)
        arr = _check_X(X, where)
        t, e = _check_survival(time, event, arr.shape[0], where)
        y = np.empty(t.shape[0], dtype=[("event", bool), ("time", float)])
        y["event"], y["time"] = e, t
        self.model_ = RandomSurvivalForest(
            n_estimators=int(self.n_estimators), min_samples_leaf=int(self.min_samples_leaf),
            max_features=self.max_features, random_state=int(self.seed), n_jobs=1).fit(arr, y)
        self.n_features_ = arr.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Risk, shape (n,): the ensemble's summed cumulative hazard over the training event
        times (scikit-survival's ``predict``; higher = worse)."""
        _check_fitted(self, "model_")
        arr = _check_X(X, f"{type(self).__name__}.predict", self.n_features_)
        return np.asarray(self.model_.predict(arr), dtype=float)


# --------------------------------------------------------------------------- logistic (ORR)


class LogisticBaseline:
    """L2-penalised logistic regression for the objective response (scikit-learn's
    ``LogisticRegression``, lbfgs), with the inverse penalty C chosen by inner cross-validated
    ROC AUC on the training patients only (folds stratified by response, seeded; ties → the
    smaller C, the stronger penalty).

    Parameters
    ----------
    Cs
        Candidate inverse regularisation strengths (> 0).
    inner_folds
        Number of inner folds (>= 2; each class needs at least this many patients).
    seed
        Seed of the fold assignment.
    class_weight
        Passed to ``LogisticRegression`` (None or ``"balanced"``).

    Attributes
    ----------
    C_
        The chosen C.
    cv_results_
        DataFrame, one row per C: ``C, mean_auc, std_auc, n_folds, chosen``.
    coef_, intercept_
        Shape (p,) and float, log-odds of response.
    model_
        The fitted ``LogisticRegression``.
    """

    def __init__(self, Cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0), inner_folds: int = 3,
                 seed: int = 0, class_weight: str | None = None) -> None:
        self.Cs = Cs
        self.inner_folds = inner_folds
        self.seed = seed
        self.class_weight = class_weight

    def _new(self, C: float) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=float(C), class_weight=self.class_weight, max_iter=2000)

    def fit(self, *, X: Any, y: Any) -> LogisticBaseline:
        """Fit on the evaluable training patients.

        Parameters
        ----------
        X
            Shape (n, p), float, preprocessed (no NaN).
        y
            Shape (n,), 1 = objective response (CR/PR), 0 = none; drop non-evaluable patients
            (NaN) before.
        """
        from hccfusion.training.metrics import auc_score

        where = type(self).__name__
        try:
            import sklearn.linear_model  # noqa: F401
        except ImportError as err:
            raise UsageError(f"{where} needs scikit-learn. Install it with "
                             "pip install scikit-learn") from err
        cs = list(self.Cs) if not isinstance(self.Cs, str) else []
        if not cs:
            raise UsageError(f"The 'Cs' parameter of {where} must be a non-empty sequence of "
                             f"positive numbers. Got {self.Cs!r} instead.")
        for c in cs:
            _check_number(c, "Cs", where, low=1e-12)
        _check_number(self.inner_folds, "inner_folds", where, low=2, integer=True)
        _check_number(self.seed, "seed", where, low=0, integer=True)
        if self.class_weight not in (None, "balanced"):
            raise UsageError(f"The 'class_weight' parameter of {where} must be None or "
                             f"'balanced'. Got {self.class_weight!r} instead.")
        arr = _check_X(X, where)
        target = np.asarray(y, dtype=float)
        if target.shape != (arr.shape[0],):
            raise UsageError(f"The 'y' parameter of {where} must have shape ({arr.shape[0]},) "
                             f"like the rows of X. Got {target.shape} instead.")
        if np.isnan(target).any():
            i = int(np.flatnonzero(np.isnan(target))[0])
            raise DataError(f"{where}: y is missing (NaN) at row {i}; drop the patients whose "
                            "response is not evaluable before fitting.")
        if not np.isin(target, (0.0, 1.0)).all():
            raise DataError(f"{where}: y must be 0/1 (1 = response). Got values "
                            f"{sorted(set(np.unique(target).tolist()))[:5]} instead.")
        lab = target.astype(int)
        smallest = int(min(lab.sum(), (1 - lab).sum()))
        if smallest < int(self.inner_folds):
            raise DataError(f"{where}: the smaller class has {smallest} patient(s); inner CV "
                            f"with {self.inner_folds} folds needs at least that many of each "
                            "class.")
        folds = _stratified_folds(lab, int(self.inner_folds), int(self.seed))
        scores = np.full((len(cs), int(self.inner_folds)), np.nan)
        for k in range(int(self.inner_folds)):
            train, test = folds != k, folds == k
            for j, c in enumerate(cs):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = self._new(c).fit(arr[train], lab[train])
                scores[j, k] = auc_score(y_true=lab[test], score=m.predict_proba(arr[test])[:, 1])
        mean_auc = scores.mean(axis=1)
        order = sorted(range(len(cs)), key=lambda j: (-mean_auc[j], cs[j]))
        best = order[0]
        self.C_ = float(cs[best])
        self.cv_results_ = pd.DataFrame({
            "C": np.asarray(cs, dtype=float), "mean_auc": mean_auc,
            "std_auc": scores.std(axis=1), "n_folds": np.isfinite(scores).sum(axis=1),
            "chosen": np.arange(len(cs)) == best})
        self.model_ = self._new(self.C_).fit(arr, lab)
        self.coef_ = self.model_.coef_[0].astype(float)
        self.intercept_ = float(self.model_.intercept_[0])
        self.n_features_ = arr.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """P(response), shape (n,), in [0, 1] (higher = more likely to respond)."""
        _check_fitted(self, "model_")
        arr = _check_X(X, f"{type(self).__name__}.predict", self.n_features_)
        return self.model_.predict_proba(arr)[:, 1].astype(float)
