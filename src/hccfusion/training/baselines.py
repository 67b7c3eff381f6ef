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
  The two Cox models live in :mod:`hccfusion.training.cox_baselines` and the shared input
  checks in :mod:`hccfusion.training.baseline_checks`; the forest and the logistic regression
  are defined here.

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
from hccfusion.training.baseline_checks import (  # _stratified_folds: tests import it here
    _check_fitted, _check_number, _check_survival, _check_X, _stratified_folds)
from hccfusion.training.clinical_score_baselines import (  # re-exported
    CLINICAL_SCORES, ClinicalScore, ClinicalScoreBaseline, score_risk)
from hccfusion.training.cox_baselines import CoxBaseline, PenalisedCoxBaseline  # re-exported

__all__ = ["ClinicalScore", "CLINICAL_SCORES", "score_risk", "ClinicalScoreBaseline",
           "CoxBaseline", "PenalisedCoxBaseline", "RandomSurvivalForestBaseline",
           "LogisticBaseline"]


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
