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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from hccfusion.errors import DataError, UsageError

CALIBRATION_TABLE_COLUMNS: tuple[str, ...] = (
    "group", "n", "events", "censored_before_horizon", "predicted_survival",
    "observed_survival", "ci_low", "ci_high", "predicted_risk", "observed_risk")

#: Clip for predicted probabilities before the complementary log–log transform.
_EPS = 1e-10


# --------------------------------------------------------------------------- shared helpers
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


@dataclass(frozen=True)
class SmoothedCalibration:
    """Austin et al. (2020) numerical calibration summaries at one horizon.

    ``ici`` mean, ``e50`` median, ``e90`` 90th percentile and ``emax`` maximum of
    |observed − predicted risk| over patients; ``curve`` is a tidy table (``predicted_risk``,
    ``observed_risk``) sorted by predicted risk, one row per patient, for plotting.
    """

    horizon_days: float
    ici: float
    e50: float
    e90: float
    emax: float
    n_knots: int
    curve: pd.DataFrame


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


def restricted_cubic_spline(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted cubic spline basis (Harrell 2015, §2.4.5), shape (n, k − 1).

    First column is x; the others are Harrell's truncated-power terms scaled by
    (t_k − t_1)², linear beyond the outer knots.
    """
    x = np.asarray(x, dtype=float)
    k = np.asarray(knots, dtype=float)
    n_k = len(k)

    def plus3(v: np.ndarray) -> np.ndarray:
        return np.clip(v, 0.0, None) ** 3

    scale = (k[-1] - k[0]) ** 2
    cols = [x]
    for j in range(n_k - 2):
        term = (plus3(x - k[j])
                - plus3(x - k[-2]) * (k[-1] - k[j]) / (k[-1] - k[-2])
                + plus3(x - k[-1]) * (k[-2] - k[j]) / (k[-1] - k[-2]))
        cols.append(term / scale)
    return np.column_stack(cols)


#: Harrell's default knot quantiles for 3–5 knots (RMS Table 2.3).
_KNOT_QUANTILES: dict[int, tuple[float, ...]] = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
}


def smoothed_calibration(*, time: object, event: object, survival: object,
                         horizon_days: float, n_knots: int = 3) -> SmoothedCalibration:
    """ICI, E50, E90 and Emax from a flexibly smoothed calibration curve at a horizon.

    Parameters
    ----------
    time, event, survival, horizon_days
        As in :func:`calibration_table`.
    n_knots : {3, 4, 5}, default 3
        Knots of the restricted cubic spline, at Harrell's default quantiles.

    Returns
    -------
    SmoothedCalibration

    Notes
    -----
    Austin, Harrell & van Klaveren (2020), "Graphical calibration curves and the integrated
    calibration index (ICI) for survival models", *Stat Med* 39:2714–2742, §2.2: with predicted
    risk F̂ᵢ = 1 − Ŝᵢ(t), fit a Cox model of the observed outcome on an RCS of
    cll(F̂ᵢ) = log(−log(1 − F̂ᵢ)); the smoothed observed risk is Oᵢ = 1 − S_cal(t | cllᵢ), and
    ICI = mean |Oᵢ − F̂ᵢ|, E50/E90 the median/90th percentile, Emax the maximum. Predictions are
    clipped to [1e-10, 1 − 1e-10] before the transform.
    """
    where = "smoothed_calibration"
    t, e, s = _survival_arrays(where, time=time, event=event, survival=survival)
    horizon = _check_horizon(horizon_days, where)
    _check_probability(s["survival"], "survival", where)
    if n_knots not in _KNOT_QUANTILES:
        raise UsageError(f"The 'n_knots' parameter of {where} must be 3, 4 or 5. "
                         f"Got {n_knots!r} instead.")
    if not e.any():
        raise DataError(f"{where}: no events; the calibration curve cannot be estimated.")
    predicted_risk = 1.0 - s["survival"]
    cll = np.log(-np.log(np.clip(s["survival"], _EPS, 1.0 - _EPS)))
    knots = np.quantile(cll, _KNOT_QUANTILES[n_knots])
    if len(np.unique(knots)) < n_knots:
        raise DataError(f"{where}: the predictions take too few distinct values for "
                        f"{n_knots} spline knots; use calibration_table instead.")
    basis = restricted_cubic_spline(cll, knots)
    names = [f"rcs{j}" for j in range(basis.shape[1])]
    frame = pd.DataFrame(basis, columns=names)
    frame["time"] = t
    frame["event"] = e.astype(int)
    from lifelines import CoxPHFitter

    fitter = CoxPHFitter().fit(frame, "time", "event")
    observed_surv = fitter.predict_survival_function(frame[names], times=[horizon])
    observed_risk = 1.0 - observed_surv.to_numpy()[0]
    gap = np.abs(observed_risk - predicted_risk)
    order = np.argsort(predicted_risk, kind="stable")
    curve = pd.DataFrame({"predicted_risk": predicted_risk[order],
                          "observed_risk": observed_risk[order]})
    return SmoothedCalibration(horizon_days=horizon, ici=float(gap.mean()),
                               e50=float(np.median(gap)), e90=float(np.quantile(gap, 0.9)),
                               emax=float(gap.max()), n_knots=int(n_knots), curve=curve)
