"""Calibration of survival predictions at a fixed horizon (domain.md §7.4).

- :func:`calibration_table` — predicted S(t) against observed Kaplan–Meier S(t) within groups
  of predicted risk (deciles, quintiles), with the KM confidence interval.
- :func:`calibration_in_the_large` — mean predicted S(t) against the cohort KM S(t).
- :func:`calibration_slope` — Cox regression of the outcome on the linear predictor (ideal 1).
- :func:`smoothed_calibration` — ICI, E50, E90 and Emax of Austin, Harrell & van Klaveren
  (2020, *Stat Med* 39:2714–2742): the observed risk is smoothed by a Cox model on a restricted
  cubic spline of the complementary log–log of the predicted risk.

Vocabulary: ``time`` in days, ``event`` True when observed, ``survival`` is the predicted
probability of being event-free at ``horizon_days`` (S(t), higher = better), ``risk`` is
1 − S(t), ``linear_predictor`` is higher = worse.

The shared argument checks live in :mod:`hccfusion.evaluation.calibration_inputs` and the
smoothed calibration in :mod:`hccfusion.evaluation.calibration_smoothed`; both are re-exported
here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
# _check_horizon, _check_probability, _survival_arrays: re-exported for decision, reclassification
from hccfusion.evaluation.calibration_inputs import (  # noqa: F401 - re-exported
    _check_confidence,
    _check_horizon,
    _check_probability,
    _survival_arrays,
)
from hccfusion.evaluation.calibration_smoothed import (
    SmoothedCalibration,
    restricted_cubic_spline,
    smoothed_calibration,
)

__all__ = ["CALIBRATION_TABLE_COLUMNS", "CalibrationInTheLarge", "CalibrationSlope",
           "SmoothedCalibration", "calibration_in_the_large", "calibration_slope",
           "calibration_table", "km_at", "restricted_cubic_spline", "risk_groups",
           "smoothed_calibration"]

CALIBRATION_TABLE_COLUMNS: tuple[str, ...] = (
    "group", "n", "events", "censored_before_horizon", "predicted_survival",
    "observed_survival", "ci_low", "ci_high", "predicted_risk", "observed_risk")


def km_at(time: np.ndarray, event: np.ndarray, horizon_days: float,
          confidence: float = 0.95) -> tuple[float, float, float]:
    """Kaplan–Meier S(t) at one horizon with the log(−log) Greenwood confidence interval.

    Kaplan & Meier (1958); variance by Greenwood (1926); CI = S^exp(±z·σ) with
    σ² = Σ d/(n(n−d)) / (Σ log((n−d)/n))² (Kalbfleisch & Prentice), as lifelines'
    ``KaplanMeierFitter``. Beyond the last observed time S stays at its last value. Returns
    ``(S, ci_low, ci_high)``; the CI is (nan, nan) when S is 0 or 1.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    if len(t) == 0:
        return float("nan"), float("nan"), float("nan")
    event_times = np.unique(t[e & (t <= horizon_days)])
    if len(event_times) == 0:
        return 1.0, float("nan"), float("nan")
    at_risk = (t[None, :] >= event_times[:, None]).sum(axis=1).astype(float)
    deaths = (e[None, :] & (t[None, :] == event_times[:, None])).sum(axis=1).astype(float)
    surv = float(np.prod(1.0 - deaths / at_risk))
    if surv <= 0.0 or surv >= 1.0:
        return surv, float("nan"), float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.sum(deaths / (at_risk * (at_risk - deaths)))
        log_s = np.sum(np.log((at_risk - deaths) / at_risk))
    sigma = np.sqrt(greenwood / log_s**2)
    from scipy import stats

    z = stats.norm.ppf(0.5 + confidence / 2.0)
    return surv, float(surv ** np.exp(z * sigma)), float(surv ** np.exp(-z * sigma))


def risk_groups(risk: np.ndarray, n_groups: int) -> np.ndarray:
    """Group label 1..n_groups by quantile of ``risk`` (1 = lowest risk); ties split by order."""
    ranks = pd.Series(risk).rank(method="first").to_numpy()
    return pd.qcut(ranks, n_groups, labels=False).astype(int) + 1


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class CalibrationInTheLarge:
    """Mean predicted against observed (KM) survival at the horizon.

    ``difference`` is observed − mean predicted S(t) (positive: the model is too pessimistic);
    ``observed_expected`` is observed risk / mean predicted risk (ideal 1).
    """

    horizon_days: float
    n: int
    predicted_survival: float
    observed_survival: float
    ci_low: float
    ci_high: float
    difference: float
    observed_expected: float


@dataclass(frozen=True)
class CalibrationSlope:
    """Coefficient of the linear predictor in a Cox model of the outcome (ideal 1).

    Below 1: predictions too extreme (overfitting); above 1: too modest. ``p_value`` tests
    slope = 1 (Wald).
    """

    slope: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    events: int
    horizon_days: float | None


# --------------------------------------------------------------------------- metrics
def calibration_table(*, time: object, event: object, survival: object, horizon_days: float,
                      n_groups: int = 10, confidence: float = 0.95) -> pd.DataFrame:
    """Predicted against observed survival at a horizon within groups of predicted risk.

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up in days.
    event : array-like of bool, shape (n,)
        True when the event was observed.
    survival : array-like of float, shape (n,)
        Predicted S(horizon_days) per patient, in [0, 1].
    horizon_days : float
        The horizon t (e.g. 365.25 for 12 months).
    n_groups : int, default 10
        10 for deciles, 5 for quintiles; groups are equal-sized by predicted risk.
    confidence : float, default 0.95
        Level of the KM log(−log) confidence interval.

    Returns
    -------
    pandas.DataFrame
        One row per group (1 = lowest predicted risk) with ``n``, ``events`` (observed by the
        horizon), ``censored_before_horizon``, ``predicted_survival`` (group mean),
        ``observed_survival`` (KM) with ``ci_low``/``ci_high``, and the matching
        ``predicted_risk``/``observed_risk`` (= 1 − survival).

    Notes
    -----
    The grouped calibration plot of Harrell, *Regression Modeling Strategies* (2015, §20.13)
    and Royston & Altman (2013, *BMC Med Res Methodol* 13:33).
    """
    where = "calibration_table"
    t, e, s = _survival_arrays(where, time=time, event=event, survival=survival)
    horizon = _check_horizon(horizon_days, where)
    _check_probability(s["survival"], "survival", where)
    _check_confidence(confidence, where)
    if not isinstance(n_groups, int | np.integer) or n_groups < 1 or n_groups > len(t):
        raise UsageError(f"The 'n_groups' parameter of {where} must be an integer in "
                         f"[1, {len(t)}]. Got {n_groups!r} instead.")
    pred = s["survival"]
    groups = risk_groups(1.0 - pred, int(n_groups))
    rows = []
    for g in range(1, int(n_groups) + 1):
        m = groups == g
        obs, lo, hi = km_at(t[m], e[m], horizon, confidence)
        rows.append({
            "group": g, "n": int(m.sum()),
            "events": int(np.sum(e[m] & (t[m] <= horizon))),
            "censored_before_horizon": int(np.sum(~e[m] & (t[m] < horizon))),
            "predicted_survival": float(pred[m].mean()),
            "observed_survival": obs, "ci_low": lo, "ci_high": hi,
            "predicted_risk": float(1.0 - pred[m].mean()), "observed_risk": 1.0 - obs,
        })
    table = pd.DataFrame(rows, columns=list(CALIBRATION_TABLE_COLUMNS))
    table.attrs["horizon_days"] = horizon
    return table


def calibration_in_the_large(*, time: object, event: object, survival: object,
                             horizon_days: float, confidence: float = 0.95,
                             ) -> CalibrationInTheLarge:
    """Mean predicted S(t) against the cohort Kaplan–Meier S(t).

    Parameters
    ----------
    time, event, survival, horizon_days, confidence
        As in :func:`calibration_table`.

    Returns
    -------
    CalibrationInTheLarge

    Notes
    -----
    Calibration-in-the-large (mean calibration) as in Royston & Altman (2013) and Riley et al.
    (2024, *BMJ* 384:e074820): KM observed risk against the mean predicted risk, reported as a
    difference and as an observed/expected ratio.
    """
    where = "calibration_in_the_large"
    t, e, s = _survival_arrays(where, time=time, event=event, survival=survival)
    horizon = _check_horizon(horizon_days, where)
    _check_probability(s["survival"], "survival", where)
    _check_confidence(confidence, where)
    obs, lo, hi = km_at(t, e, horizon, confidence)
    pred = float(s["survival"].mean())
    expected_risk = 1.0 - pred
    ratio = (1.0 - obs) / expected_risk if expected_risk > 0 else float("nan")
    return CalibrationInTheLarge(horizon_days=horizon, n=len(t), predicted_survival=pred,
                                 observed_survival=obs, ci_low=lo, ci_high=hi,
                                 difference=obs - pred, observed_expected=float(ratio))


def calibration_slope(*, time: object, event: object, linear_predictor: object,
                      horizon_days: float | None = None, confidence: float = 0.95,
                      ) -> CalibrationSlope:
    """Calibration slope: Cox regression of the outcome on the linear predictor.

    Parameters
    ----------
    time, event
        As in :func:`calibration_table`.
    linear_predictor : array-like of float, shape (n,)
        The model's linear predictor (log relative hazard, higher = worse), computed with the
        coefficients frozen on the development set.
    horizon_days : float, optional
        If given, follow-up is administratively censored at the horizon first.
    confidence : float, default 0.95
        Level of the Wald confidence interval.

    Returns
    -------
    CalibrationSlope

    Notes
    -----
    Van Houwelingen (2000, *Stat Med* 19:3401–3415); Royston & Altman (2013). The slope is the
    coefficient β of ``h(t|x) = h0(t)·exp(β·LP)``, fitted by lifelines (Efron ties).
    """
    where = "calibration_slope"
    t, e, s = _survival_arrays(where, time=time, event=event, linear_predictor=linear_predictor)
    _check_confidence(confidence, where)
    horizon = None
    if horizon_days is not None:
        horizon = _check_horizon(horizon_days, where)
        e = e & (t <= horizon)
        t = np.minimum(t, horizon)
    if not e.any():
        raise DataError(f"{where}: no events{' by the horizon' if horizon else ''}; "
                        "the slope cannot be estimated.")
    from lifelines import CoxPHFitter

    frame = pd.DataFrame({"time": t, "event": e.astype(int), "lp": s["linear_predictor"]})
    fitter = CoxPHFitter(alpha=1.0 - confidence).fit(frame, "time", "event")
    beta = float(fitter.params_["lp"])
    se = float(fitter.standard_errors_["lp"])
    from scipy import stats

    z = stats.norm.ppf(0.5 + confidence / 2.0)
    p = float(2.0 * stats.norm.sf(abs(beta - 1.0) / se))
    return CalibrationSlope(slope=beta, se=se, ci_low=float(beta - z * se),
                            ci_high=float(beta + z * se),
                            p_value=p, n=len(t), events=int(e.sum()), horizon_days=horizon)
