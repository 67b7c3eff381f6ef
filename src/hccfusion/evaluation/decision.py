"""Decision-curve analysis (net benefit) for binary and survival outcomes (domain.md §7.5).

- :func:`net_benefit` — binary form NB = TP/n − FP/n · p_t/(1 − p_t)
  (Vickers & Elkin 2006, *Med Decis Making* 26:565–574).
- :func:`decision_curve` — survival form at a horizon t (Vickers, Cronin, Elkin & Gonen 2008,
  *BMC Med Inform Decis Mak* 8:53): with q the share of patients whose predicted risk by t is
  >= p_t and S_q(t) the Kaplan–Meier survival at t among them,
  NB = (1 − S_q(t))·q − S_q(t)·q·p_t/(1 − p_t); treat-all uses q = 1 (the cohort KM), and
  treat-none is 0.

``risk`` here is the predicted probability of the event by ``horizon_days`` (1 − S(t)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hccfusion.errors import UsageError
from hccfusion.evaluation.calibration import (
    _check_horizon,
    _check_probability,
    _survival_arrays,
    km_at,
)

DECISION_CURVE_COLUMNS: tuple[str, ...] = (
    "threshold", "strategy", "net_benefit", "share_treated", "n_treated", "survival_treated")


def _check_threshold(p_t: float, where: str) -> float:
    if not 0.0 < p_t < 1.0:
        raise UsageError(f"The threshold probabilities of {where} must be in (0, 1). "
                         f"Got {p_t!r} instead.")
    return float(p_t)


def net_benefit(*, true_positives: int, false_positives: int, n: int, threshold: float,
                ) -> float:
    """Net benefit of a binary classification at threshold probability p_t.

    Parameters
    ----------
    true_positives, false_positives : int
        Counts among the patients classified positive (treated).
    n : int
        All patients.
    threshold : float
        Threshold probability p_t in (0, 1).

    Returns
    -------
    float
        NB = TP/n − FP/n · p_t/(1 − p_t) (Vickers & Elkin 2006).

    Examples
    --------
    >>> round(net_benefit(true_positives=30, false_positives=20, n=100, threshold=0.2), 10)
    0.25
    """
    p_t = _check_threshold(threshold, "net_benefit")
    if n <= 0 or true_positives < 0 or false_positives < 0 or true_positives + false_positives > n:
        raise UsageError("net_benefit needs n > 0 and 0 <= TP, FP with TP + FP <= n. "
                         f"Got TP={true_positives}, FP={false_positives}, n={n} instead.")
    return float(true_positives / n - false_positives / n * p_t / (1.0 - p_t))


def _survival_net_benefit(q: float, s_q: float, p_t: float) -> float:
    if q == 0.0:
        return 0.0
    return float((1.0 - s_q) * q - s_q * q * p_t / (1.0 - p_t))


def decision_curve(*, time: object, event: object, risk: object, horizon_days: float,
                   thresholds: Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
    """Survival decision curve at a horizon: model, treat-all and treat-none.

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up in days.
    event : array-like of bool, shape (n,)
        True when the event was observed.
    risk : array-like of float, shape (n,)
        Predicted probability of the event by ``horizon_days`` (1 − S(t)), in [0, 1].
    horizon_days : float
        The horizon t.
    thresholds : sequence of float, optional
        Threshold probabilities p_t in (0, 1); default 0.01, 0.02, …, 0.99.

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per threshold and strategy (``"model"``, ``"treat_all"``,
        ``"treat_none"``) with ``net_benefit``, ``share_treated`` (q), ``n_treated``,
        ``survival_treated`` (S_q(t), NaN when nobody is treated).

    Notes
    -----
    Vickers, Cronin, Elkin & Gonen (2008), §"Extension to survival data": the events among the
    treated are estimated by the Kaplan–Meier survival within them, so patients censored before
    t contribute without being counted as event-free. Beyond the last follow-up of a group the
    KM estimate is carried forward. When nobody is treated, NB = 0.
    """
    where = "decision_curve"
    t, e, s = _survival_arrays(where, time=time, event=event, risk=risk)
    horizon = _check_horizon(horizon_days, where)
    predicted = s["risk"]
    _check_probability(predicted, "risk", where)
    grid = np.round(np.arange(1, 100) / 100.0, 2) if thresholds is None else np.asarray(
        thresholds, dtype=float)
    if grid.ndim != 1 or len(grid) == 0:
        raise UsageError(f"The 'thresholds' parameter of {where} must be a non-empty 1-D "
                         f"sequence. Got {thresholds!r} instead.")
    for p_t in grid:
        _check_threshold(float(p_t), where)
    s_all, _, _ = km_at(t, e, horizon)
    n = len(t)
    rows = []
    for p_t in grid:
        treated = predicted >= p_t
        n_treated = int(treated.sum())
        q = n_treated / n
        s_q = km_at(t[treated], e[treated], horizon)[0] if n_treated else float("nan")
        for strategy, qq, ss, nn in (("model", q, s_q, n_treated),
                                     ("treat_all", 1.0, s_all, n),
                                     ("treat_none", 0.0, float("nan"), 0)):
            rows.append({
                "threshold": float(p_t), "strategy": strategy,
                "net_benefit": _survival_net_benefit(qq, ss, float(p_t)),
                "share_treated": qq, "n_treated": nn, "survival_treated": ss,
            })
    table = pd.DataFrame(rows, columns=list(DECISION_CURVE_COLUMNS))
    table.attrs["horizon_days"] = horizon
    return table
