"""Smoothed calibration at a horizon (Austin, Harrell & van Klaveren 2020, *Stat Med*
39:2714–2742): the restricted cubic spline basis (Harrell 2015), the :class:`SmoothedCalibration`
result and :func:`smoothed_calibration` giving ICI, E50, E90 and Emax (re-exported by
:mod:`hccfusion.evaluation.calibration`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.calibration_inputs import (
    _check_horizon,
    _check_probability,
    _survival_arrays,
)

#: Clip for predicted probabilities before the complementary log–log transform.
_EPS = 1e-10


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
