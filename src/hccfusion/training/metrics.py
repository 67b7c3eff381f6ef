"""Selection metrics of the training layer: the numbers that choose an epoch, a penalty or a
hyper-parameter set on validation (or inner-CV) patients.

They are *not* the reported metrics — those, with their variances, intervals and input
checks, live in :mod:`hccfusion.evaluation` (which the training layer must not import). The
two agree exactly on the point estimate (a test pins ``harrell_c`` to
``hccfusion.evaluation.concordance.harrell_c(...).c`` and ``auc_score`` to
``hccfusion.evaluation.binary.roc_auc(...).auc``), but where the reported metric raises for
undefined data, a selection metric returns NaN so that a candidate can be skipped.

Both take plain arrays, assume the caller already kept finite values, and are vectorised:
``auc_score`` is O(n log n) through mid-ranks; ``harrell_c`` builds the events × patients
comparable-pair matrix, O(n_events · n), fine for the few thousand patients of a validation
share.
"""

from __future__ import annotations

import numpy as np

__all__ = ["harrell_c", "auc_score", "TIED_RISK_TOL"]

#: Risks closer than this count as tied (½), as ``hccfusion.evaluation.concordance.harrell_c``.
TIED_RISK_TOL = 1e-8


def harrell_c(*, time: np.ndarray, event: np.ndarray, risk: np.ndarray,
              tied_tol: float = TIED_RISK_TOL) -> float:
    r"""Harrell's C (Harrell et al., JAMA 1982;247:2543), NaN when no pair is comparable.

    .. math::

        C = \frac{\sum_{i,j} \mathbb{1}[T_i < T_j]\,\delta_i\,
              \left(\mathbb{1}[r_i > r_j] + \tfrac12 \mathbb{1}[r_i = r_j]\right)}
             {\sum_{i,j} \mathbb{1}[T_i < T_j]\,\delta_i}

    where ``T_i < T_j`` also holds for an event and a censoring on the same day (the event
    comes first); two events on the same day are not comparable; risks within ``tied_tol``
    are tied. This is the convention of scikit-survival and lifelines.

    Parameters
    ----------
    time : numpy.ndarray, shape (n,)
        Follow-up in days.
    event : numpy.ndarray, shape (n,)
        True (or > 0) when the event was observed.
    risk : numpy.ndarray, shape (n,)
        Predicted risk, higher = worse; finite.
    tied_tol : float
        Absolute tolerance under which two risks are tied.

    Returns
    -------
    float
        C in [0, 1], or NaN without a comparable pair (no event, or events only at the end).

    Examples
    --------
    >>> harrell_c(time=np.array([2, 4, 6, 8]), event=np.array([1, 1, 0, 1]),
    ...           risk=np.array([0.9, 0.5, 0.7, 0.1]))
    0.8
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event) > 0
    r = np.asarray(risk, dtype=np.float64)
    te, re = t[e][:, None], r[e][:, None]
    # rows: events i; columns: every patient j. An event precedes a censoring on its own day.
    comparable = (te < t[None, :]) | ((te == t[None, :]) & ~e[None, :])
    n_comparable = int(comparable.sum())
    if n_comparable == 0:
        return float("nan")
    # the same float comparisons as the reported metric: r_j < r_i - tol is concordant,
    # r_i - tol <= r_j <= r_i + tol is tied
    concordant = int((comparable & (r[None, :] < re - tied_tol)).sum())
    tied = int((comparable & (r[None, :] >= re - tied_tol)
                & (r[None, :] <= re + tied_tol)).sum())
    return (concordant + 0.5 * tied) / n_comparable


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their average rank."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    first = np.ones(x.shape[0], dtype=bool)
    first[1:] = sorted_x[1:] != sorted_x[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, x.shape[0]))
    # a block of tied values at positions s..s+c-1 (0-based) has mean rank s + (c + 1) / 2
    ranks = np.empty(x.shape[0], dtype=np.float64)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks


def auc_score(*, y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann–Whitney statistic, P(score_case > score_control) + ½ P(tie), NaN
    with a single class (Hanley & McNeil, Radiology 1982;143:29).

    Computed from mid-ranks, ``(Σ rank(cases) − m(m+1)/2) / (m·n)``, in O(n log n).

    Parameters
    ----------
    y_true : numpy.ndarray, shape (n,)
        1 / True = case (values > 0.5 are cases).
    score : numpy.ndarray, shape (n,)
        Higher = more likely a case; finite.

    Returns
    -------
    float
        AUC in [0, 1], or NaN when all patients are cases or all are controls.
    """
    y = np.asarray(y_true) > 0.5
    s = np.asarray(score, dtype=np.float64)
    m = int(y.sum())
    n = y.shape[0] - m
    if m == 0 or n == 0:
        return float("nan")
    rank_sum = float(_midranks(s)[y].sum())
    return (rank_sum - m * (m + 1) / 2.0) / (m * n)
