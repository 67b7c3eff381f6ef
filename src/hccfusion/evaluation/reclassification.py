"""Net reclassification improvement and integrated discrimination improvement at a horizon
(domain.md §7.5), for a model against a comparator (e.g. a clinical score).

Both take the predicted probability of the event by ``horizon_days`` (``risk_new`` for the
model, ``risk_old`` for the comparator; 1 − S(t), higher = worse).

- :func:`net_reclassification` — NRI, category-based (pre-specified risk bands) or
  category-free, with the Kaplan–Meier survival version of Pencina, D'Agostino & Steyerberg
  (2011, *Stat Med* 30:11–21, §4) and Steyerberg & Pencina (2010, *Ann Intern Med*
  152:195–196): events and non-events among the up- and down-classified are estimated by the KM
  survival at t within each group, so patients censored before t are not counted as
  event-free.
- :func:`integrated_discrimination` — IDI with inverse-probability-of-censoring weights
  (Uno, Tian, Cai, Kohane & Wei 2013, *Stat Med* 32:2430–2442): mean predicted risk among
  events by t (weight 1/G(Tᵢ−)) and among those event-free at t (weight 1/G(t)), G being the
  KM estimate of the censoring distribution.

Without censoring before t both reduce to the binary NRI/IDI of Pencina et al. (2008,
*Stat Med* 27:157–172). Confidence intervals come from the patient-level bootstrap
(``hccfusion.evaluation`` bootstrap helpers); these functions return point estimates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.calibration import (
    _check_horizon,
    _check_probability,
    _survival_arrays,
    km_at,
)


@dataclass(frozen=True)
class NetReclassification:
    """NRI at a horizon (Pencina et al. 2011, KM version).

    ``nri = nri_events + nri_nonevents``. ``kind`` is ``"category"`` (``cutoffs`` are the band
    edges) or ``"category_free"``. ``p_up``/``p_down`` are the shares moved up/down by the
    model; ``survival_up``/``survival_down``/``survival_all`` are the KM S(t) in those groups
    (NaN for an empty group).
    """

    nri: float
    nri_events: float
    nri_nonevents: float
    kind: str
    cutoffs: tuple[float, ...]
    horizon_days: float
    n: int
    n_up: int
    n_down: int
    p_up: float
    p_down: float
    survival_up: float
    survival_down: float
    survival_all: float


@dataclass(frozen=True)
class IntegratedDiscrimination:
    """IDI at a horizon (Uno et al. 2013, IPCW).

    ``idi = (mean_risk_events_new − mean_risk_events_old)
    − (mean_risk_nonevents_new − mean_risk_nonevents_old)``; the discrimination slopes are
    ``slope_new = mean_risk_events_new − mean_risk_nonevents_new`` and ``slope_old`` alike.
    """

    idi: float
    mean_risk_events_new: float
    mean_risk_events_old: float
    mean_risk_nonevents_new: float
    mean_risk_nonevents_old: float
    slope_new: float
    slope_old: float
    horizon_days: float
    n: int


def _categories(risk: np.ndarray, cutoffs: tuple[float, ...]) -> np.ndarray:
    # Band k holds cutoffs[k-1] <= risk < cutoffs[k]; a risk equal to a cut-off goes up.
    return np.searchsorted(np.asarray(cutoffs), risk, side="right")


def net_reclassification(*, time: object, event: object, risk_new: object, risk_old: object,
                         horizon_days: float, cutoffs: Sequence[float] | None = None,
                         ) -> NetReclassification:
    """Survival NRI at a horizon, category-based or category-free.

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up in days.
    event : array-like of bool, shape (n,)
        True when the event was observed.
    risk_new, risk_old : array-like of float, shape (n,)
        Predicted probability of the event by ``horizon_days`` from the model and from the
        comparator, in [0, 1].
    horizon_days : float
        The horizon t.
    cutoffs : sequence of float, optional
        Pre-specified inner edges of the risk bands, strictly increasing in (0, 1) (e.g.
        ``[0.3, 0.6]`` for low/intermediate/high; a risk equal to an edge falls in the upper
        band). ``None`` gives the category-free NRI (any increase counts as up).

    Returns
    -------
    NetReclassification

    Notes
    -----
    Pencina, D'Agostino & Steyerberg (2011), §4, with S the KM survival at t:

    - NRI(events) = [(1 − S_up)·p_up − (1 − S_down)·p_down] / (1 − S_all)
    - NRI(non-events) = [S_down·p_down − S_up·p_up] / S_all

    where p_up, p_down are the shares reclassified up/down. Empty groups contribute 0.
    """
    where = "net_reclassification"
    t, e, s = _survival_arrays(where, time=time, event=event, risk_new=risk_new,
                               risk_old=risk_old)
    horizon = _check_horizon(horizon_days, where)
    new, old = s["risk_new"], s["risk_old"]
    _check_probability(new, "risk_new", where)
    _check_probability(old, "risk_old", where)
    if cutoffs is None:
        kind, edges = "category_free", ()
        up, down = new > old, new < old
    else:
        edges = tuple(float(c) for c in cutoffs)
        if (len(edges) == 0 or any(not 0.0 < c < 1.0 for c in edges)
                or any(b <= a for a, b in zip(edges, edges[1:], strict=False))):
            raise UsageError(f"The 'cutoffs' parameter of {where} must be a non-empty, strictly "
                             f"increasing sequence in (0, 1). Got {list(cutoffs)!r} instead.")
        kind = "category"
        cat_new, cat_old = _categories(new, edges), _categories(old, edges)
        up, down = cat_new > cat_old, cat_new < cat_old
    s_all = km_at(t, e, horizon)[0]
    if not 0.0 < s_all < 1.0:
        raise DataError(f"{where}: the KM survival at {horizon:g} days is {s_all:g}; the NRI "
                        "needs both events and event-free patients by the horizon.")
    n = len(t)
    p_up, p_down = up.sum() / n, down.sum() / n
    s_up = km_at(t[up], e[up], horizon)[0] if up.any() else float("nan")
    s_down = km_at(t[down], e[down], horizon)[0] if down.any() else float("nan")
    ev_up = (1.0 - s_up) * p_up if up.any() else 0.0
    ev_down = (1.0 - s_down) * p_down if down.any() else 0.0
    ne_up = s_up * p_up if up.any() else 0.0
    ne_down = s_down * p_down if down.any() else 0.0
    nri_events = (ev_up - ev_down) / (1.0 - s_all)
    nri_nonevents = (ne_down - ne_up) / s_all
    return NetReclassification(
        nri=float(nri_events + nri_nonevents), nri_events=float(nri_events),
        nri_nonevents=float(nri_nonevents), kind=kind, cutoffs=edges, horizon_days=horizon,
        n=n, n_up=int(up.sum()), n_down=int(down.sum()), p_up=float(p_up),
        p_down=float(p_down), survival_up=float(s_up), survival_down=float(s_down),
        survival_all=float(s_all))


def _censoring_survival(time: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """KM estimate G(at−) of the censoring distribution just before each time in ``at``.

    Censorings tied with events are taken to happen just after them (the usual convention),
    so an event at s never sees a censoring at s in G(s−).
    """
    censored = ~event
    times = np.unique(time[censored])
    at_risk = (time[None, :] >= times[:, None]).sum(axis=1).astype(float)
    drops = (censored[None, :] & (time[None, :] == times[:, None])).sum(axis=1).astype(float)
    factors = 1.0 - drops / at_risk
    out = np.empty(len(at))
    for i, a in enumerate(at):
        out[i] = np.prod(factors[times < a])
    return out


def integrated_discrimination(*, time: object, event: object, risk_new: object,
                              risk_old: object, horizon_days: float,
                              ) -> IntegratedDiscrimination:
    """Survival IDI at a horizon with inverse-probability-of-censoring weights.

    Parameters
    ----------
    time, event, risk_new, risk_old, horizon_days
        As in :func:`net_reclassification`.

    Returns
    -------
    IntegratedDiscrimination

    Notes
    -----
    Uno et al. (2013), IPCW form of Pencina et al.'s (2008) IDI. Cases: Tᵢ <= t with an
    observed event, weight 1/G(Tᵢ−); controls: Tᵢ > t, weight 1/G(t); patients censored at or
    before t get weight 0 and are represented through the weights of the others. The mean risk
    among cases is Σ wᵢ·rᵢ / Σ wᵢ over cases, and among controls alike.
    """
    where = "integrated_discrimination"
    t, e, s = _survival_arrays(where, time=time, event=event, risk_new=risk_new,
                               risk_old=risk_old)
    horizon = _check_horizon(horizon_days, where)
    new, old = s["risk_new"], s["risk_old"]
    _check_probability(new, "risk_new", where)
    _check_probability(old, "risk_old", where)
    cases = e & (t <= horizon)
    controls = t > horizon
    if not cases.any() or not controls.any():
        raise DataError(f"{where}: needs at least one event by {horizon:g} days and one "
                        f"patient followed beyond it; got {int(cases.sum())} and "
                        f"{int(controls.sum())}.")
    w_cases = 1.0 / _censoring_survival(t, e, t[cases])

    def weighted_means(r: np.ndarray) -> tuple[float, float]:
        # Controls all carry the weight 1/G(t), so their weighted mean is the plain mean.
        return float(np.sum(w_cases * r[cases]) / np.sum(w_cases)), float(r[controls].mean())

    ev_new, ne_new = weighted_means(new)
    ev_old, ne_old = weighted_means(old)
    slope_new, slope_old = ev_new - ne_new, ev_old - ne_old
    return IntegratedDiscrimination(
        idi=float(slope_new - slope_old), mean_risk_events_new=ev_new,
        mean_risk_events_old=ev_old, mean_risk_nonevents_new=ne_new,
        mean_risk_nonevents_old=ne_old, slope_new=slope_new, slope_old=slope_old,
        horizon_days=horizon, n=len(t))
