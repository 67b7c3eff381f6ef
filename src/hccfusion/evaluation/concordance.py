"""Concordance indices: Harrell's C, Uno's IPCW C and a vectorised patient-level bootstrap of C
(domain.md §7.3).

Everything here speaks the package's survival vocabulary: ``time`` in days, ``event`` bool
(True = observed), ``risk`` higher = worse, keyword-only arguments.

Algorithm
---------
A pair (i, j) is *comparable* when the shorter time is an event: ``T_i < T_j`` and ``δ_i = 1``,
or ``T_i == T_j`` with ``δ_i = 1`` and ``δ_j = 0`` (an event is earlier than a censoring at the
same day; two events on the same day are not comparable). This is the convention of
scikit-survival's ``concordance_index_censored`` and of lifelines' ``concordance_index``.

Patients are sorted by (time descending, censored before events). For an event ``i`` the
patients it is comparable with are then exactly a *prefix* of that order, ending where the
events of its own day start. Counting concordant pairs becomes the 2-D dominance query
"how many of the first ``p_i`` patients have a risk below ``r_i``", answered for all events at
once by a wavelet matrix (Claude, Navarro & Ordóñez, *Inf. Syst.* 2015) over the risk ranks:
``⌈log2 n⌉`` levels, each a handful of vectorised O(n) numpy passes, so the whole index costs
O(n log n) without a Python loop over patients. The bootstrap concatenates all resamples into
one array and answers every resample's queries in the same passes.

Functions
---------
``harrell_c``            Harrell et al. (1982, *JAMA* 247:2543; 1996, *Stat Med* 15:361).
``uno_c``                Uno et al. (2011, *Stat Med* 30:1105), IPCW truncated at τ.
``bootstrap_harrell_c``  percentile bootstrap (Efron & Tibshirani 1993, ch. 13) of C and of ΔC
                         between models evaluated on the *same* resamples (paired comparison).

The general-purpose bootstrap lives in ``hccfusion.evaluation.bootstrap``; the C-specific one is
kept here because it reuses the O(n log n) counting across all resamples at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.inputs import check_time_event

__all__ = ["HarrellC", "UnoC", "ConcordanceBootstrapResult", "harrell_c", "uno_c",
           "bootstrap_harrell_c"]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class HarrellC:
    """Harrell's concordance index and its pair counts.

    Attributes
    ----------
    c : float
        ``(concordant + 0.5 · tied_risk) / comparable``.
    concordant, discordant, tied_risk : int
        Comparable pairs where the earlier event has the higher / lower / tied risk.
    comparable : int
        Number of comparable pairs (``concordant + discordant + tied_risk``).
    tied_time : int
        Comparable pairs whose times are tied (event vs censoring on the same day), as reported
        by scikit-survival.
    """

    c: float
    concordant: int
    discordant: int
    tied_risk: int
    comparable: int
    tied_time: int


@dataclass(frozen=True)
class UnoC:
    """Uno's IPCW concordance index truncated at ``tau``.

    Attributes
    ----------
    c : float
        ``Σ_i w_i (concordant_i + 0.5 tied_i) / Σ_i w_i comparable_i`` with
        ``w_i = Ĝ(T_i)^-2`` for events with ``T_i < tau`` (0 otherwise).
    tau : float or None
        Truncation time in days (None: no truncation).
    concordant, discordant, tied_risk, comparable : int
        Unweighted counts of the pairs that carry weight (earlier event before ``tau``).
        scikit-survival's counts also include the zero-weight pairs after ``tau``.
    """

    c: float
    tau: float | None
    concordant: int
    discordant: int
    tied_risk: int
    comparable: int


@dataclass(frozen=True)
class ConcordanceBootstrapResult:
    """Percentile bootstrap of Harrell's C for one or several models on shared resamples.

    Attributes
    ----------
    models : tuple of str
        Model names, in the column order of ``risk``.
    estimate : numpy.ndarray, shape (n_models,)
        Harrell's C on the full data.
    replicates : numpy.ndarray, shape (n_resamples, n_models)
        C on each resample (NaN where a resample has no comparable pair).
    ci_low, ci_high : numpy.ndarray, shape (n_models,)
        Percentile confidence limits.
    delta, delta_ci_low, delta_ci_high : numpy.ndarray, shape (n_models - 1,)
        ``C(model k) − C(model 0)`` for k ≥ 1 and its paired percentile interval (the same
        resamples are used for every model). Empty for a single model.
    confidence : float
        Confidence level of the intervals.
    n_resamples, seed : int
        Number of resamples and the seed of ``numpy.random.default_rng``.
    n_undefined : int
        Resamples without any comparable pair (ignored by the percentiles).
    """

    models: tuple[str, ...]
    estimate: np.ndarray
    replicates: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    delta: np.ndarray
    delta_ci_low: np.ndarray
    delta_ci_high: np.ndarray
    confidence: float
    n_resamples: int
    seed: int
    n_undefined: int

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per model (``quantity='c'``) and per contrast (``'delta_c'``)."""
        rows = [{"quantity": "c", "model": m, "reference": None, "estimate": float(self.estimate[k]),
                 "ci_low": float(self.ci_low[k]), "ci_high": float(self.ci_high[k])}
                for k, m in enumerate(self.models)]
        rows += [{"quantity": "delta_c", "model": m, "reference": self.models[0],
                  "estimate": float(self.delta[k - 1]), "ci_low": float(self.delta_ci_low[k - 1]),
                  "ci_high": float(self.delta_ci_high[k - 1])}
                 for k, m in enumerate(self.models) if k > 0]
        frame = pd.DataFrame(rows)
        frame["confidence"] = self.confidence
        frame["n_resamples"] = self.n_resamples
        return frame


# --------------------------------------------------------------------------- validation


def _check_risk(risk: Any, n: int, func: str, *, allow_2d: bool = False,
                name: str = "risk") -> np.ndarray:
    r = np.asarray(risk)
    if r.dtype == bool or not np.issubdtype(r.dtype, np.number) \
            or np.issubdtype(r.dtype, np.complexfloating):
        raise UsageError(f"The '{name}' parameter of {func} must be numeric (higher = worse). "
                         f"Got dtype {r.dtype} instead.")
    ndims = (1, 2) if allow_2d else (1,)
    if r.ndim not in ndims or r.shape[0] != n:
        want = "(n_patients,) or (n_patients, n_columns)" if allow_2d else "(n_patients,)"
        raise UsageError(f"The '{name}' parameter of {func} must have shape {want} with "
                         f"n_patients = {n}. Got shape {r.shape} instead.")
    r = r.astype(float)
    if not np.isfinite(r).all():
        i = int(np.flatnonzero(~np.isfinite(r).reshape(r.shape[0], -1).all(axis=1))[0])
        raise DataError(f"The '{name}' parameter of {func} must be finite; patient at position "
                        f"{i} has a NaN or infinite value. Impute or drop it first.")
    return r


def _check_tol(tied_tol: float, func: str) -> float:
    if isinstance(tied_tol, bool) or not isinstance(tied_tol, (int, float, np.floating)) \
            or not np.isfinite(tied_tol) or tied_tol < 0:
        raise UsageError(f"The 'tied_tol' parameter of {func} must be a finite float >= 0. "
                         f"Got {tied_tol!r} instead.")
    return float(tied_tol)


def _check_confidence(confidence: float, func: str) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)) \
            or not 0.0 < float(confidence) < 1.0:
        raise UsageError(f"The 'confidence' parameter of {func} must be a float in (0, 1). "
                         f"Got {confidence!r} instead.")
    return float(confidence)


# --------------------------------------------------------------------------- counting core


def _count_less(values: np.ndarray, n_bits: int, start: np.ndarray, stop: np.ndarray,
                threshold: np.ndarray) -> np.ndarray:
    """``#{k in [start_q, stop_q): values[k] < threshold_q}`` for every query q.

    Wavelet matrix: at each bit level (most significant first) the sequence is stably
    partitioned into the values whose bit is 0 followed by those whose bit is 1; a query whose
    threshold has the bit set collects the zeros of its range (all smaller) and follows the
    ones, otherwise it follows the zeros. ``values`` and ``threshold`` must be < 2**n_bits and
    the sequence shorter than 2**31.
    """
    cur = values.astype(np.int32, copy=False)
    s = start.astype(np.int32)
    e = stop.astype(np.int32)
    thr = threshold.astype(np.int32, copy=False)
    result = np.zeros(s.shape[0], dtype=np.int32)
    ones = np.empty(cur.shape[0] + 1, dtype=np.int32)
    ones[0] = 0
    for b in range(n_bits - 1, -1, -1):
        bit = (cur >> b) & 1
        np.cumsum(bit, out=ones[1:])
        n_zero = np.int32(cur.shape[0]) - ones[-1]
        os_ = ones.take(s)
        oe = ones.take(e)
        up = (thr >> b) & 1
        # zeros before a position = position - ones before it; arithmetic selects the branch
        # (np.where and boolean indexing are several times slower than this and np.compress)
        zs = s - os_
        ze = e - oe
        result += up * (ze - zs)
        s = zs + up * (n_zero + os_ - zs)
        e = ze + up * (n_zero + oe - ze)
        if b:
            cur = np.concatenate((cur.compress(bit == 0), cur.compress(bit == 1)))
    return result.astype(np.int64)


@dataclass(frozen=True)
class _Prepared:
    """Patients sorted by (time descending, censored first) with their risk ranks."""

    order: np.ndarray        # sorted position -> original index
    event: np.ndarray        # event indicator in sorted order
    rank: np.ndarray         # risk rank in sorted order
    lo: np.ndarray           # rank threshold: risk < r - tol  <=>  rank < lo
    hi: np.ndarray           # rank threshold: risk <= r + tol <=>  rank < hi
    prefix: np.ndarray       # for each sorted position: start of its (time, event) block
    shared: np.ndarray       # another patient has a risk within tol (ties are possible)
    n_bits: int


def _prepare(t: np.ndarray, e: np.ndarray, r: np.ndarray, tol: float,
             order: np.ndarray | None = None) -> _Prepared:
    if order is None:
        order = np.lexsort((e, -t))
    ts, es, rs = t[order], e[order], r[order]
    n = ts.shape[0]
    new_block = np.ones(n, dtype=bool)
    new_block[1:] = (ts[1:] != ts[:-1]) | (es[1:] != es[:-1])
    prefix = np.maximum.accumulate(np.where(new_block, np.arange(n), 0))
    # ranks through one sort of the risks; sorted queries make searchsorted cache-friendly
    by_risk = np.argsort(rs, kind="stable")
    sr = rs[by_risk]
    new_val = np.ones(n, dtype=bool)
    new_val[1:] = sr[1:] != sr[:-1]
    uniq = sr[new_val]
    rank = np.empty(n, dtype=np.int32)
    rank[by_risk] = np.cumsum(new_val) - 1
    lo = np.empty(n, dtype=np.int32)
    hi = np.empty(n, dtype=np.int32)
    if tol > 0:
        lo[by_risk] = np.searchsorted(uniq, sr - tol, side="left")
        hi[by_risk] = np.searchsorted(uniq, sr + tol, side="right")
    else:
        lo[:] = rank
        hi[:] = rank + 1
    counts = np.bincount(rank, minlength=uniq.shape[0])
    shared = (hi - lo > 1) | (counts[rank] > 1)
    n_bits = max(int(uniq.shape[0]).bit_length(), 1)
    return _Prepared(order, es, rank, lo, hi, prefix, shared, n_bits)


def _event_counts(values: np.ndarray, n_bits: int, start: np.ndarray, stop: np.ndarray,
                  lo: np.ndarray, hi: np.ndarray, shared: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per event: (comparable, concordant, tied) counts inside ``[start, stop)``.

    A patient's own copies never lie in its prefix (they share its (time, event) block), so
    an event whose risk is shared by nobody else (``shared`` False) has no tied pair and
    needs only the ``lo`` query.
    """
    q = np.flatnonzero(shared)
    both = _count_less(values, n_bits, np.concatenate((start, start[q])),
                       np.concatenate((stop, stop[q])), np.concatenate((lo, hi[q])))
    m = start.shape[0]
    concordant = both[:m]
    tied = np.zeros(m, dtype=np.int64)
    tied[q] = both[m:] - concordant[q]
    return stop - start, concordant, tied


def _harrell_parts(t: np.ndarray, e: np.ndarray, r: np.ndarray, tol: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, _Prepared]:
    """Sorted indices of events and their comparable / concordant / tied counts."""
    p = _prepare(t, e, r, tol)
    ev = np.flatnonzero(p.event)
    comparable, concordant, tied = _event_counts(p.rank, p.n_bits, np.zeros_like(ev),
                                                 p.prefix[ev], p.lo[ev], p.hi[ev], p.shared[ev])
    return ev, comparable, concordant, tied, p


def _tied_time(t: np.ndarray, e: np.ndarray) -> int:
    """Event–censoring pairs on the same day (scikit-survival's ``tied_time``)."""
    if e.all() or not e.any():
        return 0
    ue, ne = np.unique(t[e], return_counts=True)
    uc, nc = np.unique(t[~e], return_counts=True)
    _, ie, ic = np.intersect1d(ue, uc, assume_unique=True, return_indices=True)
    return int((ne[ie] * nc[ic]).sum())


# --------------------------------------------------------------------------- Harrell


def harrell_c(*, time: Any, event: Any, risk: Any, tied_tol: float = 1e-8) -> HarrellC:
    r"""Harrell's concordance index in O(n log n).

    .. math::

        C = \frac{\sum_{i,j} \mathbb{1}[T_i < T_j]\,\delta_i\,
              \left(\mathbb{1}[r_i > r_j] + \tfrac12 \mathbb{1}[r_i = r_j]\right)}
             {\sum_{i,j} \mathbb{1}[T_i < T_j]\,\delta_i}

    where ``T_i < T_j`` also holds for an event and a censoring on the same day (the event
    comes first); two events on the same day are not comparable. Risks closer than
    ``tied_tol`` count as tied (0.5), as in scikit-survival.

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up time in days (>= 0).
    event : array-like of bool, shape (n,)
        True when the event was observed, False when censored.
    risk : array-like of float, shape (n,)
        Predicted risk, higher = worse (earlier event expected).
    tied_tol : float, default 1e-8
        Absolute tolerance under which two risks are tied (0 for exact ties, as lifelines).

    Returns
    -------
    HarrellC
        ``c`` with the concordant, discordant, tied-risk, comparable and tied-time counts.

    Raises
    ------
    DataError
        No comparable pair (e.g. no event, or all events on the last day only).

    References
    ----------
    Harrell FE, Califf RM, Pryor DB, Lee KL, Rosati RA. Evaluating the yield of medical tests.
    JAMA 1982;247:2543–6. Harrell FE, Lee KL, Mark DB. Stat Med 1996;15:361–87.

    Examples
    --------
    >>> res = harrell_c(time=[2, 4, 6, 8], event=[1, 1, 0, 1], risk=[0.9, 0.5, 0.7, 0.1])
    >>> res.comparable, res.concordant, round(res.c, 2)
    (5, 4, 0.8)
    """
    func = "harrell_c"
    t, e = check_time_event(time, event, func)
    r = _check_risk(risk, t.shape[0], func)
    tol = _check_tol(tied_tol, func)
    _, comparable, concordant, tied, _ = _harrell_parts(t, e, r, tol)
    n_comp = int(comparable.sum())
    if n_comp == 0:
        raise DataError(f"{func} found no comparable pair (needs an event earlier than another "
                        f"patient's follow-up); {int(e.sum())} event(s) among {t.shape[0]} "
                        f"patients. C is undefined for these data.")
    n_conc = int(concordant.sum())
    n_tied = int(tied.sum())
    return HarrellC(c=(n_conc + 0.5 * n_tied) / n_comp, concordant=n_conc,
                    discordant=n_comp - n_conc - n_tied, tied_risk=n_tied, comparable=n_comp,
                    tied_time=_tied_time(t, e))


# --------------------------------------------------------------------------- censoring KM


@dataclass(frozen=True)
class _StepSurvival:
    """Right-continuous Kaplan–Meier step function (``unique_time`` starts with -inf)."""

    unique_time: np.ndarray
    prob: np.ndarray

    def __call__(self, x: np.ndarray, *, strict: bool = True, what: str = "time") -> np.ndarray:
        x = np.asarray(x, dtype=float)
        beyond = x > self.unique_time[-1]
        if strict and self.prob[-1] > 0 and beyond.any():
            raise DataError(f"The Kaplan–Meier estimate is undefined after the last training "
                            f"time ({self.unique_time[-1]:g} days) but a {what} of "
                            f"{x[beyond].max():g} days needs it. Restrict the evaluation to "
                            f"the training follow-up.")
        out = np.zeros(x.shape, dtype=float)
        ok = ~beyond if strict else np.ones(x.shape, dtype=bool)
        idx = np.searchsorted(self.unique_time, x[ok], side="right") - 1
        # the -inf sentinel makes idx >= 0; scikit-survival matches within one ulp, exact here
        out[ok] = self.prob[np.maximum(idx, 0)]
        return out


def _kaplan_meier(t: np.ndarray, e: np.ndarray, *, reverse: bool) -> _StepSurvival:
    """KM of the event (``reverse=False``) or of the censoring distribution (``True``).

    For the censoring distribution the events of a day leave the risk set before the
    censorings of that day: ``Ĝ(t) = Π_{s ≤ t} (1 − c_s / (n_s − d_s))``, as scikit-survival's
    ``CensoringDistributionEstimator``; with no censoring ``Ĝ ≡ 1``.
    """
    uniq, inverse = np.unique(t, return_inverse=True)
    d = np.bincount(inverse, weights=e.astype(float), minlength=uniq.shape[0])
    total = np.bincount(inverse, minlength=uniq.shape[0]).astype(float)
    at_risk = total[::-1].cumsum()[::-1]
    if reverse:
        if e.all():
            return _StepSurvival(np.r_[-np.inf, uniq], np.ones(uniq.shape[0] + 1))
        num, den = total - d, at_risk - d
    else:
        num, den = d, at_risk
    ratio = np.divide(num, den, out=np.zeros_like(num), where=num != 0)
    return _StepSurvival(np.r_[-np.inf, uniq], np.r_[1.0, np.cumprod(1.0 - ratio)])


def _ipcw(train_t: np.ndarray, train_e: np.ndarray, t: np.ndarray, e: np.ndarray,
          func: str) -> tuple[_StepSurvival, np.ndarray]:
    """``1 / Ĝ(T_i)`` for events (0 for censored) with Ĝ fitted on the training data."""
    g = _kaplan_meier(train_t, train_e, reverse=True)
    w = np.zeros(t.shape[0])
    ghat = g(t[e], what="test event time")
    if (ghat == 0).any():
        bad = float(t[e][ghat == 0].min())
        raise DataError(f"{func}: the censoring survival Ĝ fitted on the training data is 0 at "
                        f"the test event time {bad:g} days, so its IPCW weight is infinite. "
                        f"Evaluate only up to a time where training patients remain under "
                        f"follow-up.")
    w[e] = 1.0 / ghat
    return g, w


# --------------------------------------------------------------------------- Uno


def uno_c(*, time: Any, event: Any, risk: Any, train_time: Any, train_event: Any,
          tau: float | None, tied_tol: float = 1e-8) -> UnoC:
    r"""Uno's inverse-probability-of-censoring weighted C truncated at ``tau``.

    .. math::

        C_\tau = \frac{\sum_{i,j} \delta_i\,\hat G(T_i)^{-2}\,\mathbb{1}[T_i < T_j,\,T_i < \tau]
                 \left(\mathbb{1}[r_i > r_j] + \tfrac12\mathbb{1}[r_i = r_j]\right)}
                {\sum_{i,j} \delta_i\,\hat G(T_i)^{-2}\,\mathbb{1}[T_i < T_j,\,T_i < \tau]}

    ``Ĝ`` is the Kaplan–Meier estimate of the censoring distribution fitted on the *training*
    patients and evaluated at ``T_i`` (right-continuous, as scikit-survival's
    ``concordance_index_ipcw``). Comparability and ties follow :func:`harrell_c`.

    Parameters
    ----------
    time, event, risk : array-like, shape (n,)
        Test patients: days, observed flag, risk (higher = worse).
    train_time, train_event : array-like, shape (m,)
        Training patients, used only to estimate the censoring distribution.
    tau : float or None
        Truncation time in days (e.g. 730 for 24 months). Pairs whose earlier event is at or
        after ``tau`` get weight 0. None: no truncation.
    tied_tol : float, default 1e-8
        Absolute tolerance for tied risks.

    Returns
    -------
    UnoC

    Raises
    ------
    DataError
        ``Ĝ(tau) = 0`` or ``tau`` after the training follow-up (weights undefined), a test
        event time where ``Ĝ = 0``, or no comparable pair before ``tau``.

    References
    ----------
    Uno H, Cai T, Pencina MJ, D'Agostino RB, Wei LJ. On the C-statistics for evaluating
    overall adequacy of risk prediction procedures with censored survival data.
    Stat Med 2011;30:1105–17.
    """
    func = "uno_c"
    t, e = check_time_event(time, event, func)
    r = _check_risk(risk, t.shape[0], func)
    tt, te = check_time_event(train_time, train_event, func, prefix="train_")
    tol = _check_tol(tied_tol, func)
    if tau is not None:
        if isinstance(tau, bool) or not isinstance(tau, (int, float, np.number)) \
                or not np.isfinite(tau) or tau <= 0:
            raise UsageError(f"The 'tau' parameter of {func} must be a positive number of days "
                             f"or None. Got {tau!r} instead.")
        tau = float(tau)
        g = _kaplan_meier(tt, te, reverse=True)
        g_tau = g(np.array([tau]), what="tau")[0]
        if g_tau == 0:
            raise DataError(f"{func}: the training censoring survival Ĝ(tau) is 0 at tau = "
                            f"{tau:g} days (no training patient remains under follow-up), so "
                            f"the IPCW weights are undefined. Choose a smaller tau.")
    use = e & (t < tau) if tau is not None else e
    _, w = _ipcw(tt, te, t, use, func)
    ev, comparable, concordant, tied, p = _harrell_parts(t, e, r, tol)
    wi = np.square(w[p.order[ev]])
    keep = wi > 0
    den = float((wi * comparable).sum())
    if den == 0:
        raise DataError(f"{func} found no comparable pair with an event before tau = {tau} "
                        f"days; C is undefined for these data.")
    num = float((wi * (concordant + 0.5 * tied)).sum())
    n_comp, n_conc, n_tied = (int(x[keep].sum()) for x in (comparable, concordant, tied))
    return UnoC(c=num / den, tau=tau, concordant=n_conc, discordant=n_comp - n_conc - n_tied,
                tied_risk=n_tied, comparable=n_comp)


# --------------------------------------------------------------------------- bootstrap


def _resample_indices(n: int, n_resamples: int, rng: np.random.Generator,
                      strata: np.ndarray | None) -> np.ndarray:
    """Patient indices, shape (n_resamples, n); within-stratum draws keep stratum sizes."""
    if strata is None:
        return rng.integers(0, n, size=(n_resamples, n))
    parts = []
    for level in pd.unique(strata):
        members = np.flatnonzero(strata == level)
        parts.append(members[rng.integers(0, members.shape[0],
                                          size=(n_resamples, members.shape[0]))])
    return np.concatenate(parts, axis=1)


def _bootstrap_c_one(t: np.ndarray, e: np.ndarray, r: np.ndarray, tol: float,
                     order: np.ndarray, sorted_idx: np.ndarray) -> np.ndarray:
    """C on every resample; ``sorted_idx[b]`` holds resample b's sorted positions, ascending."""
    p = _prepare(t, e, r, tol, order=order)
    n_res, n = sorted_idx.shape
    offset = (np.arange(n_res, dtype=np.int64) * n)[:, None]
    key = (sorted_idx + offset).ravel()            # globally ascending
    flat = sorted_idx.ravel()
    values = p.rank[flat]
    is_ev = p.event[flat]
    ev = np.flatnonzero(is_ev)
    block = ev // n
    # the prefix of an event in its resample = draws sorted before its (time, event) block
    stop = np.searchsorted(key, p.prefix[flat[ev]] + block * n, side="left")
    fe = flat[ev]
    comparable, concordant, tied = _event_counts(values, p.n_bits, block * n, stop,
                                                 p.lo[fe], p.hi[fe], p.shared[fe])
    num = np.bincount(block, weights=concordant + 0.5 * tied, minlength=n_res)
    den = np.bincount(block, weights=comparable, minlength=n_res)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def bootstrap_harrell_c(*, time: Any, event: Any, risk: Any, n_resamples: int = 1000,
                        seed: int, strata: Any = None, confidence: float = 0.95,
                        model_names: Any = None, tied_tol: float = 1e-8
                        ) -> ConcordanceBootstrapResult:
    r"""Vectorised patient-level percentile bootstrap of Harrell's C, paired across models.

    Resample ``b`` draws ``n`` patients with replacement (``numpy.random.default_rng(seed)
    .integers(0, n, size=(n_resamples, n))``; with ``strata`` each stratum is resampled
    within itself, keeping its size). Every model is scored on the *same* resamples, so

    .. math::

        \Delta C^{*}_b = C^{*}_b(\text{model } k) - C^{*}_b(\text{model } 0)

    gives a paired interval for the difference in discrimination (domain.md §7.3). The
    interval is the percentile interval ``[q_{α/2}, q_{1−α/2}]`` of the replicates
    (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13). All resamples are
    scored together in O(B·n log n) vectorised work (see the module docstring).

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Days and observed flag, one row per patient (the patient is the resampling unit).
    risk : array-like, shape (n,) or (n, n_models)
        Risk (higher = worse) of one model, or one column per model. Column 0 is the
        reference of ``delta``.
    n_resamples : int, default 1000
    seed : int
        Seed of ``numpy.random.default_rng``.
    strata : array-like, shape (n,), optional
        Resample within these groups (e.g. hospital).
    confidence : float, default 0.95
    model_names : sequence of str, optional
        Names of the models (default ``model_0``, ``model_1``, …).
    tied_tol : float, default 1e-8

    Returns
    -------
    ConcordanceBootstrapResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.exponential(300, 200); e = rng.random(200) < 0.7; x = rng.normal(size=200)
    >>> res = bootstrap_harrell_c(time=t, event=e, risk=np.c_[x, -x], n_resamples=200, seed=1)
    >>> res.replicates.shape
    (200, 2)
    """
    func = "bootstrap_harrell_c"
    t, e = check_time_event(time, event, func)
    n = t.shape[0]
    r = _check_risk(risk, n, func, allow_2d=True)
    r2 = r[:, None] if r.ndim == 1 else r
    tol = _check_tol(tied_tol, func)
    conf = _check_confidence(confidence, func)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) \
            or n_resamples < 1:
        raise UsageError(f"The 'n_resamples' parameter of {func} must be a positive int. "
                         f"Got {n_resamples!r} instead.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise UsageError(f"The 'seed' parameter of {func} must be an int (runs record their "
                         f"seed). Got {seed!r} instead.")
    k = r2.shape[1]
    if model_names is None:
        names = tuple(f"model_{i}" for i in range(k))
    else:
        names = tuple(str(x) for x in model_names)
        if len(names) != k:
            raise UsageError(f"The 'model_names' parameter of {func} must name the {k} "
                             f"column(s) of 'risk'. Got {len(names)} name(s) instead.")
    s = None
    if strata is not None:
        s = np.asarray(strata)
        if s.shape != (n,):
            raise UsageError(f"The 'strata' parameter of {func} must have shape ({n},). "
                             f"Got {s.shape} instead.")
        if pd.isna(s).any():
            raise DataError(f"The 'strata' parameter of {func} has missing values; give every "
                            f"patient a stratum.")

    estimate = np.array([harrell_c(time=t, event=e, risk=r2[:, j], tied_tol=tol).c
                         for j in range(k)])
    rng = np.random.default_rng(int(seed))
    idx = _resample_indices(n, int(n_resamples), rng, s)
    order = np.lexsort((e, -t))
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    sorted_idx = np.sort(inverse[idx], axis=1)
    reps = np.column_stack([_bootstrap_c_one(t, e, r2[:, j], tol, order, sorted_idx)
                            for j in range(k)])
    undefined = np.isnan(reps).any(axis=1)
    q = [(1 - conf) / 2, 1 - (1 - conf) / 2]
    good = reps[~undefined]
    if good.shape[0] == 0:
        raise DataError(f"{func}: no resample has a comparable pair; C is undefined.")
    lo, hi = np.quantile(good, q, axis=0)
    deltas = good[:, 1:] - good[:, :1]
    if k > 1:
        dlo, dhi = np.quantile(deltas, q, axis=0)
    else:
        dlo = dhi = np.empty(0)
    return ConcordanceBootstrapResult(
        models=names, estimate=estimate, replicates=reps, ci_low=lo, ci_high=hi,
        delta=estimate[1:] - estimate[0], delta_ci_low=dlo, delta_ci_high=dhi,
        confidence=conf, n_resamples=int(n_resamples), seed=int(seed),
        n_undefined=int(undefined.sum()))
