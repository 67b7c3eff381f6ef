"""Quantiles of Kaplan–Meier curves by R ``survival``'s rule: median survival per group with the
Brookmeyer–Crowley log-log CI (:func:`median_survival`) and median follow-up with its IQR by
the reverse Kaplan–Meier method of Schemper & Smith 1996 (:func:`reverse_km_followup`);
re-exported by :mod:`hccfusion.evaluation.survival_curves`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hccfusion.evaluation.kaplan_meier_estimate import KaplanMeierResult, kaplan_meier
from hccfusion.evaluation.survival_curve_inputs import _check_survival

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FollowUp", "MedianSurvival", "median_survival", "reverse_km_followup"]


def _quantile_time(times: np.ndarray, surv: np.ndarray, level: float) -> float:
    """First time the step curve falls to ``level`` or below, R ``quantile.survfit`` style.

    When the curve sits exactly on ``level`` over an interval, R returns the midpoint between
    the start of that flat piece and the time the curve next drops below it; when it never drops
    below, the start of the flat piece. NaN where the curve never reaches ``level``.
    """
    tol = np.sqrt(np.finfo(float).eps)
    ok = ~np.isnan(surv)
    times, surv = times[ok], surv[ok]
    at_or_below = np.flatnonzero(surv <= level + tol)
    if at_or_below.size == 0:
        return float("nan")
    i = int(at_or_below[0])
    if abs(surv[i] - level) < tol:
        below = np.flatnonzero(surv < level - tol)
        if below.size:
            return float((times[i] + times[below[0]]) / 2.0)
    return float(times[i])


@dataclass(frozen=True)
class MedianSurvival:
    """Median survival per group.

    Attributes
    ----------
    table : pandas.DataFrame
        ``group, n, n_events, median, ci_low, ci_high`` (days; NaN where not reached).
    confidence : float
    """

    table: "pd.DataFrame"
    confidence: float


def _quantiles_of(km: KaplanMeierResult, level: float) -> list[tuple[Any, float, float, float]]:
    rows = []
    for gname in km.groups:
        sub = km.table[(km.table["group"] == gname)]
        tt = sub["time"].to_numpy()
        rows.append((gname,
                     _quantile_time(tt, sub["surv"].to_numpy(), level),
                     _quantile_time(tt, sub["ci_low"].to_numpy(), level),
                     _quantile_time(tt, sub["ci_high"].to_numpy(), level)))
    return rows


def median_survival(*, time: Any, event: Any, group: Any = None,
                    confidence: float = 0.95) -> MedianSurvival:
    """Median survival time per group with the Brookmeyer–Crowley CI (log-log scale).

    The median is the first time the KM curve is <= 0.5 (the midpoint of a flat piece at exactly
    0.5, as in R). Its CI (Brookmeyer & Crowley 1982) inverts the pointwise log-log band: the
    lower limit is where the lower band first falls to 0.5, the upper limit where the upper band
    does. This is what R ``print(survfit(..., conf.type = "log-log"))`` reports (R's default
    ``conf.type`` is ``"log"``, which gives other limits); a limit never reached is NaN (R's NA, "not reached").

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up in days.
    event : array-like of bool, shape (n,)
        True where the event was observed.
    group : array-like, shape (n,), optional
        Group labels; None for one group ``"all"``.
    confidence : float, default 0.95

    Returns
    -------
    MedianSurvival

    Examples
    --------
    >>> median_survival(time=[1, 2, 3, 4], event=[True] * 4).table["median"].item()
    2.5
    """
    import pandas as pd

    km = kaplan_meier(time=time, event=event, group=group, confidence=confidence)
    q = _quantiles_of(km, 0.5)
    table = pd.DataFrame(q, columns=["group", "median", "ci_low", "ci_high"])
    table.insert(1, "n", km.n["n"].to_numpy())
    table.insert(2, "n_events", km.n["n_events"].to_numpy())
    return MedianSurvival(table=table, confidence=km.confidence)


@dataclass(frozen=True)
class FollowUp:
    """Median follow-up by the reverse Kaplan–Meier method.

    Attributes
    ----------
    median_days, q1_days, q3_days : float
        Median and interquartile range (25th and 75th percentiles) of potential follow-up, in
        days; NaN where not reached.
    ci_low, ci_high : float
        Brookmeyer–Crowley log-log CI of the median (days).
    n : int
        Patients.
    n_censored : int
        Patients censored (alive/event-free at last contact), the "events" of the reverse KM.
    """

    median_days: float
    q1_days: float
    q3_days: float
    ci_low: float
    ci_high: float
    n: int
    n_censored: int


def reverse_km_followup(*, time: Any, event: Any, confidence: float = 0.95) -> FollowUp:
    """Median follow-up by reverse Kaplan–Meier (Schemper & Smith 1996).

    The KM estimator is applied with the censoring indicator reversed (censoring is the
    "event", an observed event censors follow-up), which estimates the distribution of potential
    follow-up. Quartiles use the same rule as :func:`median_survival`.

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up in days.
    event : array-like of bool, shape (n,)
        True where the (clinical) event was observed.
    confidence : float, default 0.95

    Returns
    -------
    FollowUp
    """
    t, e = _check_survival(time, event, "reverse_km_followup")
    km = kaplan_meier(time=t, event=~e, confidence=confidence)
    (_, med, lo, hi), = _quantiles_of(km, 0.5)
    (_, q1, _, _), = _quantiles_of(km, 0.75)
    (_, q3, _, _), = _quantiles_of(km, 0.25)
    return FollowUp(median_days=med, q1_days=q1, q3_days=q3, ci_low=lo, ci_high=hi,
                    n=int(t.size), n_censored=int((~e).sum()))
