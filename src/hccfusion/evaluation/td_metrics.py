"""Time-dependent accuracy with inverse probability of censoring weights (domain.md §7.3–7.4):
cumulative/dynamic AUC at fixed horizons, Brier score at t and the integrated Brier score.

Weights use the Kaplan–Meier estimate ``Ĝ`` of the censoring distribution fitted on the
*training* patients (as scikit-survival's ``CensoringDistributionEstimator``); arguments follow
the package vocabulary (``time`` in days, ``event`` bool, ``risk`` higher = worse, keyword-only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.concordance import (
    _check_risk,
    _check_tol,
    _ipcw,
    _kaplan_meier,
)
from hccfusion.evaluation.inputs import check_time_event

__all__ = ["CumulativeDynamicAUC", "BrierScore", "IntegratedBrierScore",
           "cumulative_dynamic_auc", "brier_score", "integrated_brier_score"]


@dataclass(frozen=True)
class CumulativeDynamicAUC:
    """Cumulative/dynamic AUC at each horizon.

    Attributes
    ----------
    times : numpy.ndarray, shape (k,)
        Horizons in days.
    auc : numpy.ndarray, shape (k,)
        AUC(t) for cases ``T <= t`` with an event vs controls ``T > t``.
    mean_auc : float
        ``Σ AUC(t_k) (Ŝ(t_{k-1}) − Ŝ(t_k)) / (1 − Ŝ(t_K))`` with the test-set KM ``Ŝ``
        (equal to ``auc[0]`` for one horizon).
    """

    times: np.ndarray
    auc: np.ndarray
    mean_auc: float

    def to_frame(self) -> pd.DataFrame:
        """Tidy table with columns ``time_days`` and ``auc``."""
        return pd.DataFrame({"time_days": self.times, "auc": self.auc})


@dataclass(frozen=True)
class BrierScore:
    """IPCW Brier score at each time, and the same score of the Kaplan–Meier null model.

    Attributes
    ----------
    times : numpy.ndarray, shape (k,)
        Times in days.
    brier : numpy.ndarray, shape (k,)
        Brier score of the predictions.
    null_brier : numpy.ndarray, shape (k,)
        Brier score when every patient is given the training Kaplan–Meier ``Ŝ(t)``.
    """

    times: np.ndarray
    brier: np.ndarray
    null_brier: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """Tidy table with columns ``time_days``, ``brier``, ``null_brier``."""
        return pd.DataFrame({"time_days": self.times, "brier": self.brier,
                             "null_brier": self.null_brier})


@dataclass(frozen=True)
class IntegratedBrierScore:
    """Integrated Brier score over ``[times[0], times[-1]]`` (trapezoidal rule).

    Attributes
    ----------
    ibs, null_ibs : float
        Integrated score of the predictions and of the Kaplan–Meier null model.
    scores : BrierScore
        The pointwise scores that were integrated.
    """

    ibs: float
    null_ibs: float
    scores: BrierScore


def _check_times(times: Any, t: np.ndarray, func: str) -> np.ndarray:
    x = np.atleast_1d(np.asarray(times, dtype=float))
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise UsageError(f"The 'times' parameter of {func} must be a non-empty 1-D array of "
                         f"finite days. Got {times!r} instead.")
    if x.size > 1 and not (np.diff(x) > 0).all():
        raise UsageError(f"The 'times' parameter of {func} must be strictly increasing. "
                         f"Got {x.tolist()} instead.")
    if x[0] < t.min() or x[-1] >= t.max():
        raise DataError(f"The 'times' parameter of {func} must lie within the test follow-up "
                        f"[{t.min():g}, {t.max():g}) days. Got {x[0]:g}–{x[-1]:g} instead; "
                        f"drop horizons beyond the follow-up.")
    return x


def _check_train(train_time: Any, train_event: Any, func: str) -> tuple[np.ndarray, np.ndarray]:
    return check_time_event(train_time, train_event, func, prefix="train_")


def cumulative_dynamic_auc(*, time: Any, event: Any, risk: Any, train_time: Any,
                           train_event: Any, times: Any, tied_tol: float = 1e-8
                           ) -> CumulativeDynamicAUC:
    r"""Cumulative/dynamic time-dependent AUC with IPCW (Uno et al. 2007; Hung & Chiang 2010).

    .. math::

        \widehat{AUC}(t) = \frac{\sum_i \sum_j \mathbb{1}[r_j < r_i]\,
                \mathbb{1}[T_j > t]\,\mathbb{1}[T_i \le t]\,\delta_i\,\hat G(T_i)^{-1}}
              {\left(\sum_i \mathbb{1}[T_i \le t]\,\delta_i\,\hat G(T_i)^{-1}\right)
               \left(\sum_j \mathbb{1}[T_j > t]\right)}

    Tied risks count one half (risks closer than ``tied_tol`` to their neighbour in sorted
    order form one threshold, as in scikit-survival's ``cumulative_dynamic_auc``).

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Test patients: days and observed flag.
    risk : array-like, shape (n,) or (n, k)
        Risk (higher = worse), constant or one column per horizon.
    train_time, train_event : array-like, shape (m,)
        Training patients for the censoring distribution ``Ĝ``.
    times : array-like, shape (k,)
        Strictly increasing horizons in days inside ``[min(time), max(time))``.
    tied_tol : float, default 1e-8

    Returns
    -------
    CumulativeDynamicAUC

    References
    ----------
    Uno H, Cai T, Tian L, Wei LJ. Evaluating prediction rules for t-year survivors with
    censored regression models. JASA 2007;102:527–37. Hung H, Chiang CT. Estimation methods
    for time-dependent AUC models with survival data. Can J Stat 2010;38:8–26.
    """
    func = "cumulative_dynamic_auc"
    t, e = check_time_event(time, event, func)
    tt, te = _check_train(train_time, train_event, func)
    x = _check_times(times, t, func)
    tol = _check_tol(tied_tol, func)
    r = _check_risk(risk, t.shape[0], func, allow_2d=True)
    if r.ndim == 2 and r.shape[1] != x.shape[0]:
        raise UsageError(f"The 'risk' parameter of {func} must have one column per time "
                         f"({x.shape[0]}). Got {r.shape[1]} columns instead.")
    _, w = _ipcw(tt, te, t, e, func)
    auc = np.empty(x.shape[0])
    for k, horizon in enumerate(x):
        rk = r if r.ndim == 1 else r[:, k]
        o = np.argsort(-rk, kind="stable")
        rs = rk[o]
        case = ((t[o] <= horizon) & e[o]) * w[o]
        control = (t[o] > horizon).astype(float)
        n_controls = control.sum()
        if n_controls == 0 or case.sum() == 0:
            raise DataError(f"{func}: at t = {horizon:g} days there are no "
                            f"{'controls' if n_controls == 0 else 'cases'}; AUC is undefined.")
        # one ROC point per run of risks tied within tol (the last patient of each run)
        last = np.ones(rs.shape[0], dtype=bool)
        last[:-1] = np.abs(np.diff(rs)) > tol
        tp = np.r_[0.0, np.cumsum(case)[last] / case.sum()]
        fp = np.r_[0.0, np.cumsum(control)[last] / n_controls]
        auc[k] = float(np.trapezoid(tp, fp))
    if x.shape[0] == 1:
        mean_auc = float(auc[0])
    else:
        s = _kaplan_meier(t, e, reverse=False)(x)
        d = -np.diff(np.r_[1.0, s])
        mean_auc = float((auc * d).sum() / (1.0 - s[-1]))
    return CumulativeDynamicAUC(times=x, auc=auc, mean_auc=mean_auc)


def brier_score(*, time: Any, event: Any, surv_prob: Any, train_time: Any, train_event: Any,
                times: Any) -> BrierScore:
    r"""IPCW Brier score at each time (Graf et al. 1999).

    .. math::

        BS(t) = \frac1n \sum_i \left[ \frac{\hat S(t\mid x_i)^2\,\mathbb{1}[T_i \le t]\,
                \delta_i}{\hat G(T_i)} + \frac{(1 - \hat S(t\mid x_i))^2\,
                \mathbb{1}[T_i > t]}{\hat G(t)} \right]

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Test patients: days and observed flag.
    surv_prob : array-like, shape (n, k) (or (n,) for one time)
        Predicted probability of being event-free at each of ``times``.
    train_time, train_event : array-like, shape (m,)
        Training patients: censoring distribution ``Ĝ`` and the Kaplan–Meier null model.
    times : array-like, shape (k,)
        Strictly increasing days inside ``[min(time), max(time))``.

    Returns
    -------
    BrierScore

    Raises
    ------
    DataError
        ``Ĝ(t) = 0`` or ``t`` after the training follow-up (weights undefined).

    References
    ----------
    Graf E, Schmoor C, Sauerbrei W, Schumacher M. Assessment and comparison of prognostic
    classification schemes for survival data. Stat Med 1999;18:2529–45.
    """
    func = "brier_score"
    t, e = check_time_event(time, event, func)
    tt, te = _check_train(train_time, train_event, func)
    x = _check_times(times, t, func)
    p = _check_risk(surv_prob, t.shape[0], func, allow_2d=True, name="surv_prob")
    p = p.reshape(-1, 1) if p.ndim == 1 else p
    if p.shape[1] != x.shape[0]:
        raise UsageError(f"The 'surv_prob' parameter of {func} must have one column per time "
                         f"({x.shape[0]}). Got shape {p.shape} instead.")
    if ((p < 0) | (p > 1)).any():
        raise DataError(f"The 'surv_prob' parameter of {func} must hold probabilities in "
                        f"[0, 1]; found values from {p.min():g} to {p.max():g}.")
    g, w = _ipcw(tt, te, t, e, func)
    g_t = g(x, what="time")
    if (g_t == 0).any():
        raise DataError(f"{func}: the training censoring survival Ĝ(t) is 0 at t = "
                        f"{x[g_t == 0][0]:g} days; choose earlier times.")
    null = np.broadcast_to(_kaplan_meier(tt, te, reverse=False)(x, strict=False), p.shape)

    def score(prob: np.ndarray) -> np.ndarray:
        case = (t[:, None] <= x[None, :]) & e[:, None]
        control = t[:, None] > x[None, :]
        return np.mean(np.square(prob) * case * w[:, None]
                       + np.square(1.0 - prob) * control / g_t[None, :], axis=0)

    return BrierScore(times=x, brier=score(p), null_brier=score(null))


def integrated_brier_score(*, time: Any, event: Any, surv_prob: Any, train_time: Any,
                           train_event: Any, times: Any) -> IntegratedBrierScore:
    r"""Integrated IPCW Brier score over ``[t_1, t_K]`` (Graf et al. 1999).

    .. math::

        IBS = \frac{1}{t_K - t_1} \int_{t_1}^{t_K} BS(t)\,dt

    integrated with the trapezoidal rule over ``times`` (as scikit-survival's
    ``integrated_brier_score``). Arguments as :func:`brier_score`; at least two times.

    Returns
    -------
    IntegratedBrierScore
        ``ibs`` and the Kaplan–Meier null model's ``null_ibs``, with the pointwise scores.
    """
    x = np.atleast_1d(np.asarray(times, dtype=float))
    if x.shape[0] < 2:
        raise UsageError(f"The 'times' parameter of integrated_brier_score needs at least two "
                         f"times. Got {x.tolist()} instead.")
    bs = brier_score(time=time, event=event, surv_prob=surv_prob, train_time=train_time,
                     train_event=train_event, times=x)
    span = bs.times[-1] - bs.times[0]
    return IntegratedBrierScore(ibs=float(np.trapezoid(bs.brier, bs.times) / span),
                                null_ibs=float(np.trapezoid(bs.null_brier, bs.times) / span),
                                scores=bs)
