"""Log-rank tests for two or more groups, optionally stratified, and the log-rank test for trend
(domain.md §7.6).

At each distinct event time t_i with n_i at risk and d_i events, group j contributes observed
d_ij and expected e_ij = d_i n_ij / n_i; the hypergeometric covariance is
V_jk = Σ_i d_i (n_i − d_i)/(n_i − 1) · (n_ij/n_i)(δ_jk − n_ik/n_i). With U = O − E,

- k-group log-rank: χ² = U' V⁻ U on k − 1 df (Mantel 1966; Peto & Peto 1972);
- trend: with group scores s, χ² = (s'U)² / (s'Vs) on 1 df (Collett, Modelling Survival Data
  in Medical Research, 3rd ed., §2.7); it equals the Cox score test for the numeric score
  when no event times are tied;
- stratified: U and V are summed over strata before forming χ².

Arguments follow the package vocabulary: ``time`` in days, ``event`` bool, keyword-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.survival_curves import _check_group, _check_survival

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LogrankResult", "LogrankTrendResult", "logrank_test", "logrank_trend"]


@dataclass(frozen=True)
class LogrankResult:
    """Result of :func:`logrank_test`.

    Attributes
    ----------
    statistic : float
        χ² statistic.
    df : int
        Degrees of freedom (groups − 1).
    p_value : float
        Upper-tail χ² p-value.
    table : pandas.DataFrame
        ``group, n, observed, expected, o_minus_e, variance`` (variance = diagonal of V).
    covariance : numpy.ndarray, shape (k, k)
        Covariance V of O − E, groups in ``table`` order.
    stratified : bool
        Whether a ``strata`` argument was used.
    """

    statistic: float
    df: int
    p_value: float
    table: "pd.DataFrame"
    covariance: np.ndarray
    stratified: bool


@dataclass(frozen=True)
class LogrankTrendResult:
    """Result of :func:`logrank_trend`.

    Attributes
    ----------
    statistic : float
        χ² statistic on 1 df.
    df : int
        Always 1.
    p_value : float
        Two-sided p-value.
    z : float
        Signed score statistic s'U / sqrt(s'Vs); positive when higher scores have more events
        than expected (higher score = worse).
    table : pandas.DataFrame
        ``group, score, n, observed, expected, o_minus_e``.
    stratified : bool
    """

    statistic: float
    df: int
    p_value: float
    z: float
    table: "pd.DataFrame"
    stratified: bool


def _o_e_v(t: np.ndarray, e: np.ndarray, gi: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Observed, expected and covariance of one stratum; ``gi`` are group indices 0..k-1."""
    times = np.unique(t[e])
    observed = np.bincount(gi[e], minlength=k).astype(float)
    expected = np.zeros(k)
    cov = np.zeros((k, k))
    if times.size == 0:
        return observed, expected, cov
    # at risk per (event time, group): patients with time >= t_i
    order = np.argsort(t, kind="mergesort")
    ts, gs = t[order], gi[order]
    start = np.searchsorted(ts, times, side="left")
    n_total = ts.size
    counts_from = np.zeros((n_total + 1, k))
    # cumulative count of each group from position p to the end
    onehot = np.zeros((n_total, k))
    onehot[np.arange(n_total), gs] = 1.0
    counts_from[:-1] = np.cumsum(onehot[::-1], axis=0)[::-1]
    n_ij = counts_from[start]                               # (m, k)
    n_i = n_ij.sum(axis=1)
    idx = np.searchsorted(times, t[e])
    d_ij = np.zeros((times.size, k))
    np.add.at(d_ij, (idx, gi[e]), 1.0)
    d_i = d_ij.sum(axis=1)
    p = n_ij / n_i[:, None]
    expected = (d_i[:, None] * p).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(n_i > 1, d_i * (n_i - d_i) / (n_i - 1), 0.0)
    cov = np.einsum("i,ij,jk->jk", w, p, np.eye(k)) - np.einsum("i,ij,ik->jk", w, p, p)
    return observed, expected, cov


def _accumulate(time: Any, event: Any, group: Any, strata: Any, func: str):
    t, e = _check_survival(time, event, func)
    if group is None:
        raise UsageError(f"The 'group' parameter of {func} must give one label per patient. "
                         f"Got None instead.")
    g, levels = _check_group(group, t.size, func)
    k = len(levels)
    if k < 2:
        raise DataError(f"{func} needs at least two groups; 'group' has only {levels!r}.")
    code = {lv: i for i, lv in enumerate(levels)}
    gi = np.array([code[x] for x in g], dtype=np.intp)
    if strata is None:
        s, s_levels = np.zeros(t.size, dtype=object), [0]
    else:
        s, s_levels = _check_group(strata, t.size, func)
    observed, expected, cov = np.zeros(k), np.zeros(k), np.zeros((k, k))
    for lv in s_levels:
        m = s == lv
        o, ex, v = _o_e_v(t[m], e[m], gi[m], k)
        observed += o
        expected += ex
        cov += v
    if observed.sum() == 0:
        raise DataError(f"{func} needs at least one event; every patient is censored.")
    n = np.bincount(gi, minlength=k)
    return levels, n, observed, expected, cov, strata is not None


def logrank_test(*, time: Any, event: Any, group: Any, strata: Any = None) -> LogrankResult:
    """Log-rank test of equal survival across two or more groups.

    Mantel–Haenszel / Peto log-rank statistic χ² = U' V⁻ U with U = O − E and the hypergeometric
    covariance V (generalised inverse, so any one group may be dropped), on k − 1 df. Matches
    R ``survival::survdiff(rho = 0)``, lifelines ``logrank_test`` / ``multivariate_logrank_test``
    and scikit-survival ``compare_survival``.

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up in days.
    event : array-like of bool, shape (n,)
        True where the event was observed.
    group : array-like, shape (n,)
        Group label per patient (at least two distinct labels).
    strata : array-like, shape (n,), optional
        Stratum per patient (e.g. centre); O, E and V are computed within strata and summed
        (R ``survdiff(... + strata(centre))``).

    Returns
    -------
    LogrankResult

    References
    ----------
    Mantel N. Evaluation of survival data and two new rank order statistics arising in its
    consideration. Cancer Chemother Rep 1966;50:163–170.
    Peto R, Peto J. Asymptotically efficient rank invariant test procedures. JRSS A
    1972;135:185–207.
    """
    import pandas as pd
    from scipy.stats import chi2

    levels, n, observed, expected, cov, stratified = _accumulate(time, event, group, strata,
                                                                 "logrank_test")
    u = observed - expected
    k = len(levels)
    statistic = float(u @ np.linalg.pinv(cov) @ u)
    df = k - 1
    table = pd.DataFrame({"group": levels, "n": n, "observed": observed, "expected": expected,
                          "o_minus_e": u, "variance": np.diag(cov)})
    return LogrankResult(statistic=statistic, df=df, p_value=float(chi2.sf(statistic, df)),
                         table=table, covariance=cov, stratified=stratified)


def logrank_trend(*, time: Any, event: Any, group: Any, scores: Any = None,
                  strata: Any = None) -> LogrankTrendResult:
    """Log-rank test for trend across ordered groups.

    χ² = (Σ_j s_j (O_j − E_j))² / (s'Vs) on 1 df, with V the log-rank covariance. Without tied
    event times it equals the score test of a Cox model with the group score as the only
    covariate.

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up in days.
    event : array-like of bool, shape (n,)
        True where the event was observed.
    group : array-like, shape (n,)
        Ordered group labels. Order is category order for a pandas Categorical, sorted order
        otherwise.
    scores : mapping or sequence of float, optional
        Score per group: a mapping label → score, or a sequence in group order. Default
        0, 1, …, k − 1 in group order.
    strata : array-like, shape (n,), optional
        Stratum per patient; U and V are summed over strata.

    Returns
    -------
    LogrankTrendResult

    References
    ----------
    Collett D. Modelling Survival Data in Medical Research. 3rd ed. CRC 2015, §2.7.
    Peto R, Pike MC, et al. Br J Cancer 1977;35:1–39 (test for trend).
    """
    import pandas as pd
    from scipy.stats import chi2

    func = "logrank_trend"
    levels, n, observed, expected, cov, stratified = _accumulate(time, event, group, strata, func)
    k = len(levels)
    if scores is None:
        s = np.arange(k, dtype=float)
    elif isinstance(scores, dict):
        missing = [lv for lv in levels if lv not in scores]
        if missing:
            raise UsageError(f"The 'scores' parameter of {func} must give a score for every group; "
                             f"missing {missing!r}. Groups: {levels!r}.")
        s = np.array([scores[lv] for lv in levels], dtype=float)
    else:
        s = np.asarray(scores, dtype=float)
        if s.shape != (k,):
            raise UsageError(f"The 'scores' parameter of {func} must have one score per group "
                             f"({k}: {levels!r}). Got {s.shape[0] if s.ndim else 'a scalar'} "
                             f"instead.")
    if not np.all(np.isfinite(s)) or np.ptp(s) == 0:
        raise UsageError(f"The 'scores' parameter of {func} must be finite and not all equal. "
                         f"Got {s.tolist()!r} instead.")
    u = observed - expected
    var = float(s @ cov @ s)
    if var <= 0:
        raise DataError(f"{func}: the variance of the trend score is 0 (no informative event "
                        f"times); the test is undefined.")
    z = float(s @ u / np.sqrt(var))
    statistic = z * z
    table = pd.DataFrame({"group": levels, "score": s, "n": n, "observed": observed,
                          "expected": expected, "o_minus_e": u})
    return LogrankTrendResult(statistic=statistic, df=1, p_value=float(chi2.sf(statistic, 1)),
                              z=z, table=table, stratified=stratified)
