"""Vectorised bootstrap internals of the model comparison tables
(:mod:`hccfusion.evaluation.model_table`).

Holds the resample draws shared by every model on one patient set, the per-set scoring of all
models at once (``_score_set`` → ``_SetScore``), the pairwise O(B·n²) Harrell bootstrap
(``_bootstrap_harrell_pairs``) and the O(B·n) Mann–Whitney AUC bootstrap (``_bootstrap_auc``),
both computed from the resample multiplicities. The statistics are described in the docstring of
:mod:`hccfusion.evaluation.model_table`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hccfusion.errors import DataError


@dataclass(frozen=True)
class _SetScore:
    """All models of one patient set: estimates (k,), replicates (B, k), counts and note."""

    n: int
    n_events: int
    estimate: np.ndarray
    replicates: np.ndarray | None
    note: str


def _draws(n: int, n_resamples: int, seed: int) -> np.ndarray:
    # the draws of bootstrap_harrell_c / resample_patients (unstratified)
    return np.random.default_rng(int(seed)).integers(0, n, size=(n_resamples, n))


def _bootstrap_auc(y: np.ndarray, scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mann–Whitney AUC of every column of ``scores`` on every resample, shape (B, k).

    A resample is a multiset of patients; with multiplicities w_i,
    AUC = Σ_{i case, j control} w_i w_j (1[s_i > s_j] + ½ 1[s_i = s_j]) / (W_case · W_control).
    Sorting the scores once and summing the control weights per tie group turns the double sum
    into cumulative sums over groups, O(B · n) per model. NaN where a resample has one class.
    """
    b = idx.shape[0]
    w = _multiplicities(idx)
    wp = w * y
    wn = w - wp
    den = wp.sum(axis=1) * wn.sum(axis=1)
    out = np.empty((b, scores.shape[1]))
    for j in range(scores.shape[1]):
        order = np.argsort(scores[:, j], kind="stable")
        s = scores[order, j]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        gn = np.add.reduceat(wn[:, order], starts, axis=1)
        gp = np.add.reduceat(wp[:, order], starts, axis=1)
        below = np.cumsum(gn, axis=1) - gn
        num = (gp * (below + 0.5 * gn)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def _score_set(endpoint: str, outcome: pd.DataFrame, risk: np.ndarray, *, n_resamples: int,
               seed: int, min_events: int) -> _SetScore:
    """Estimates and bootstrap replicates of every column of ``risk`` (n, k) on one set."""
    n, k = risk.shape
    nan = np.full(k, np.nan)
    if endpoint == "orr":
        y = outcome["y"].to_numpy() > 0.5
        n_pos = int(y.sum())
        smallest = min(n_pos, n - n_pos)
        if smallest == 0:
            return _SetScore(n, n_pos, nan, None, f"one class only ({n_pos} responders of {n}); "
                                                  "AUC undefined")
        if smallest < min_events:
            return _SetScore(n, n_pos, nan, None, f"only {smallest} patients in the smaller "
                                                  f"class (< {min_events}); not estimated")
        from hccfusion.evaluation.binary import roc_auc

        est = np.array([roc_auc(y_true=y, score=risk[:, j]).auc for j in range(k)])
        reps = _bootstrap_auc(y, risk, _draws(n, n_resamples, seed))
        return _SetScore(n, n_pos, est, reps, "")
    t = outcome["time"].to_numpy()
    e = outcome["event"].to_numpy()
    n_ev = int(e.sum())
    if n_ev < min_events:
        return _SetScore(n, n_ev, nan, None, f"only {n_ev} events (< {min_events}); not "
                                             "estimated")
    from hccfusion.evaluation.concordance import bootstrap_harrell_c, harrell_c

    try:
        if n > _PAIRWISE_MAX_N:
            res = bootstrap_harrell_c(time=t, event=e, risk=risk, n_resamples=n_resamples,
                                      seed=seed)
            return _SetScore(n, n_ev, np.asarray(res.estimate, dtype=float), res.replicates, "")
        est = np.array([harrell_c(time=t, event=e, risk=risk[:, j]).c for j in range(k)])
    except DataError as err:
        return _SetScore(n, n_ev, nan, None, f"C undefined: {err}")
    reps = _bootstrap_harrell_pairs(t, e, risk, _draws(n, n_resamples, seed))
    return _SetScore(n, n_ev, est, reps, "")


#: Above this many patients the O(B·n²) pairwise bootstrap of C gives way to the
#: O(B·n log n) ``bootstrap_harrell_c`` (memory n² per model).
_PAIRWISE_MAX_N = 1500


def _multiplicities(idx: np.ndarray) -> np.ndarray:
    """How often each patient is drawn in each resample, shape (B, n), float."""
    b, n = idx.shape
    return np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(),
                       minlength=b * n).reshape(b, n).astype(float)


def _bootstrap_harrell_pairs(t: np.ndarray, e: np.ndarray, risk: np.ndarray,
                             idx: np.ndarray, tied_tol: float = 1e-8) -> np.ndarray:
    """Harrell's C of every column of ``risk`` on every resample, shape (B, k).

    Same pairs and ties as :func:`hccfusion.evaluation.concordance.harrell_c` (a test pins the
    two): with M_ij = 1 when (i, j) is comparable (i's event is first) and
    A_ij = M_ij (1[r_i − r_j > tol] + ½ 1[|r_i − r_j| ≤ tol]), a resample with multiplicities w
    has C = wᵀ A w / wᵀ M w — copies of one patient are never comparable (M_ii = 0). For the
    ~150-patient cohorts here one matrix product per model (B × n × n) is faster than
    the O(B·n log n) counting of ``bootstrap_harrell_c``.
    """
    w = _multiplicities(idx)
    earlier = t[:, None] < t[None, :]
    same_day = (t[:, None] == t[None, :]) & ~e[None, :]
    comp = (e[:, None] & (earlier | same_day)).astype(float)
    den = ((w @ comp) * w).sum(axis=1)
    out = np.empty((idx.shape[0], risk.shape[1]))
    for j in range(risk.shape[1]):
        d = risk[:, j][:, None] - risk[:, j][None, :]
        score = comp * ((d > tied_tol) + 0.5 * (np.abs(d) <= tied_tol))
        num = ((w @ score) * w).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out
