"""The O(n log n) counting core behind Harrell's and Uno's C and their bootstrap: patients
sorted by (time descending, censored first) with their risk ranks (``_prepare``), and the
wavelet-matrix dominance query that counts, for every event at once, the comparable, concordant
and tied pairs in its prefix of that order (``_count_less``, ``_event_counts``); the algorithm
is described in :mod:`hccfusion.evaluation.concordance`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
