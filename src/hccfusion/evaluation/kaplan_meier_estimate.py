"""The Kaplan–Meier product-limit estimate per group with pointwise log-log ("exponential
Greenwood") confidence intervals (Kaplan & Meier 1958; Kalbfleisch & Prentice 1980): the
:class:`KaplanMeierResult` tidy table with its number-at-risk and landmark look-ups, and
:func:`kaplan_meier` (re-exported by :mod:`hccfusion.evaluation.survival_curves`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hccfusion.errors import UsageError
from hccfusion.evaluation.survival_curve_inputs import (
    _check_confidence,
    _check_group,
    _check_survival,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KaplanMeierResult", "kaplan_meier"]

_TABLE_COLUMNS = ("group", "time", "n_at_risk", "n_events", "n_censored", "surv", "ci_low", "ci_high")


def _km_one(t: np.ndarray, e: np.ndarray, z: float) -> dict[str, np.ndarray]:
    """KM table of one group at every distinct observed time (plus time 0 if not observed)."""
    times, inverse = np.unique(t, return_inverse=True)
    n_events = np.bincount(inverse, weights=e, minlength=times.size).astype(np.int64)
    n_total = np.bincount(inverse, minlength=times.size).astype(np.int64)
    n_censored = n_total - n_events
    n_at_risk = t.size - np.concatenate(([0], np.cumsum(n_total)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - n_events / n_at_risk)
        # Greenwood; a step to zero (d == n) leaves the variance of log S undefined, and the
        # band is then pinned to 0 below (as lifelines does).
        terms = np.where(n_events < n_at_risk, n_events / (n_at_risk * (n_at_risk - n_events)), 0.0)
        greenwood = np.cumsum(terms)
        log_s = np.log(surv)
        # log-log band: log(-log S) ± z·se(log S)/|log S|; the sign flips on back-transform.
        half = z * np.sqrt(greenwood) / log_s
        ci_low = np.exp(-np.exp(np.log(-log_s) - half))
        ci_high = np.exp(-np.exp(np.log(-log_s) + half))
    one = surv >= 1.0
    ci_low[one] = 1.0
    ci_high[one] = 1.0
    zero = surv <= 0.0
    ci_low[zero] = 0.0
    ci_high[zero] = 0.0
    surv = np.clip(surv, 0.0, 1.0)
    out = {"time": times, "n_at_risk": n_at_risk, "n_events": n_events, "n_censored": n_censored,
           "surv": surv, "ci_low": ci_low, "ci_high": ci_high}
    if times[0] > 0:
        first = {"time": 0.0, "n_at_risk": t.size, "n_events": 0, "n_censored": 0, "surv": 1.0,
                 "ci_low": 1.0, "ci_high": 1.0}
        out = {k: np.concatenate(([first[k]], v)) for k, v in out.items()}
    return out


@dataclass(frozen=True)
class KaplanMeierResult:
    """Kaplan–Meier estimates per group.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy, one row per group and distinct observed time (plus a time-0 row when no patient
        has time 0): ``group, time`` (days), ``n_at_risk`` (patients with time >= ``time``),
        ``n_events``, ``n_censored`` (at exactly ``time``), ``surv`` (S(time), right-continuous
        step), ``ci_low, ci_high`` (pointwise log-log CI).
    groups : tuple
        Group labels in display order (sorted, or category order for a categorical ``group``).
    confidence : float
        Confidence level of the pointwise intervals.
    n : pandas.DataFrame
        ``group, n, n_events, max_time``: patients, events and last observed time per group.
    """

    table: "pd.DataFrame"
    groups: tuple[Any, ...]
    confidence: float
    n: "pd.DataFrame"

    def _times(self, times: Any, func: str) -> np.ndarray:
        ts = np.atleast_1d(np.asarray(times, dtype=float))
        if ts.ndim != 1 or not np.all(np.isfinite(ts)) or np.any(ts < 0):
            raise UsageError(f"The 'times' parameter of KaplanMeierResult.{func} must be finite "
                             f"days >= 0. Got {times!r} instead.")
        return ts

    def at_risk(self, times: Any) -> "pd.DataFrame":
        """Number at risk per group at chosen times (the risk table under a KM plot).

        Parameters
        ----------
        times : array-like of float
            Days, e.g. ``np.arange(0, 37, 6) * 30.4375`` for 0/6/…/36 months.

        Returns
        -------
        pandas.DataFrame
            ``group, time, n_at_risk, n_events, n_censored``: ``n_at_risk`` counts patients with
            time >= ``time`` (R ``summary.survfit`` convention); ``n_events`` and ``n_censored``
            count those that left strictly before ``time``, so the three add up to the group size.
        """
        import pandas as pd

        ts = self._times(times, "at_risk")
        rows = []
        for g in self.groups:
            sub = self.table[self.table["group"] == g]
            n_total = int(self.n.loc[self.n["group"] == g, "n"].iloc[0])
            tt = sub["time"].to_numpy()
            d = sub["n_events"].to_numpy()
            c = sub["n_censored"].to_numpy()
            for x in ts:
                before = tt < x
                ev, ce = int(d[before].sum()), int(c[before].sum())
                rows.append((g, x, n_total - ev - ce, ev, ce))
        return pd.DataFrame(rows, columns=["group", "time", "n_at_risk", "n_events", "n_censored"])

    def survival_at(self, times: Any) -> "pd.DataFrame":
        """Landmark survival S(t) with its pointwise CI per group.

        Parameters
        ----------
        times : array-like of float
            Days.

        Returns
        -------
        pandas.DataFrame
            ``group, time, n_at_risk, surv, ci_low, ci_high``. S is the right-continuous step
            function; beyond a group's last observed time it is NaN unless the curve has reached
            0 (R ``summary.survfit(extend=FALSE)`` drops those times).
        """
        import pandas as pd

        ts = self._times(times, "survival_at")
        at_risk = self.at_risk(ts)
        rows = []
        for g in self.groups:
            sub = self.table[self.table["group"] == g]
            tt = sub["time"].to_numpy()
            vals = sub[["surv", "ci_low", "ci_high"]].to_numpy()
            for x in ts:
                i = np.searchsorted(tt, x, side="right") - 1
                if x > tt[-1] and vals[-1, 0] > 0:
                    s = (np.nan, np.nan, np.nan)
                else:
                    s = tuple(vals[i])
                rows.append((g, x, *s))
        out = pd.DataFrame(rows, columns=["group", "time", "surv", "ci_low", "ci_high"])
        out.insert(2, "n_at_risk", at_risk["n_at_risk"].to_numpy())
        return out


def kaplan_meier(*, time: Any, event: Any, group: Any = None, at_times: Any = None,
                 confidence: float = 0.95) -> KaplanMeierResult:
    """Kaplan–Meier product-limit estimate per group with log-log pointwise CIs.

    S(t) = ∏_{t_i <= t} (1 − d_i / n_i). The CI is computed on the log(−log S) scale with the
    Greenwood variance, var(log S) = Σ d_i / (n_i (n_i − d_i)) ("exponential Greenwood",
    Kalbfleisch & Prentice 1980): S^{exp(±z·se(log S)/log S)}. This is R ``survival``'s
    ``conf.type = "log-log"`` and lifelines' ``KaplanMeierFitter`` interval. Where S = 1 the
    band is (1, 1); where S = 0 it is (0, 0) (lifelines' convention; R reports NA).

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up in days (>= 0).
    event : array-like of bool, shape (n,)
        True where the event was observed, False where censored.
    group : array-like, shape (n,), optional
        Group label per patient; None gives one group labelled ``"all"``.
    at_times : array-like of float, optional
        Extra time points (days) to add to the table as rows (e.g. landmark times), so that
        ``table`` alone carries S(t) there; they carry zero events and zero censorings.
    confidence : float, default 0.95
        Level of the pointwise confidence intervals.

    Returns
    -------
    KaplanMeierResult

    Examples
    --------
    >>> km = kaplan_meier(time=[5, 8, 8, 12], event=[True, True, False, True])
    >>> km.table["surv"].round(3).tolist()
    [1.0, 0.75, 0.5, 0.0]
    """
    import pandas as pd
    from scipy.stats import norm

    func = "kaplan_meier"
    t, e = _check_survival(time, event, func)
    conf = _check_confidence(confidence, func)
    g, levels = _check_group(group, t.size, func)
    z = float(norm.ppf(0.5 + conf / 2.0))
    extra = None
    if at_times is not None:
        extra = np.atleast_1d(np.asarray(at_times, dtype=float))
        if extra.ndim != 1 or not np.all(np.isfinite(extra)) or np.any(extra < 0):
            raise UsageError(f"The 'at_times' parameter of {func} must be finite days >= 0. "
                             f"Got {at_times!r} instead.")
    frames, counts = [], []
    for level in levels:
        mask = g == level
        tab = pd.DataFrame(_km_one(t[mask], e[mask], z))
        if extra is not None:
            new = np.setdiff1d(extra, tab["time"].to_numpy())
            if new.size:
                idx = np.searchsorted(tab["time"].to_numpy(), new, side="right") - 1
                add = tab.iloc[idx].copy()
                add["time"] = new
                # at risk at an added time: those with time >= it
                add["n_at_risk"] = [int((t[mask] >= x).sum()) for x in new]
                add["n_events"] = 0
                add["n_censored"] = 0
                past = new > t[mask].max()
                # beyond the last observation the estimate is undefined unless S reached 0
                still = past & (add["surv"].to_numpy() > 0)
                add.loc[still, ["surv", "ci_low", "ci_high"]] = np.nan
                tab = pd.concat([tab, add]).sort_values("time", kind="mergesort")
        tab.insert(0, "group", [level] * len(tab))
        frames.append(tab)
        counts.append((level, int(mask.sum()), int(e[mask].sum()), float(t[mask].max())))
    table = pd.concat(frames, ignore_index=True)[list(_TABLE_COLUMNS)]
    table = table.astype({"n_at_risk": "int64", "n_events": "int64", "n_censored": "int64"})
    n = pd.DataFrame(counts, columns=["group", "n", "n_events", "max_time"])
    return KaplanMeierResult(table=table, groups=tuple(levels), confidence=conf, n=n)
