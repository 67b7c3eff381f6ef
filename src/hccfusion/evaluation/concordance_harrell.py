"""Harrell's concordance index (Harrell et al., *JAMA* 1982; *Stat Med* 1996) in O(n log n):
the :class:`HarrellC` result with its pair counts and :func:`harrell_c`, on the counting core
of :mod:`hccfusion.evaluation._concordance_counting` (re-exported by
:mod:`hccfusion.evaluation.concordance`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hccfusion.errors import DataError
from hccfusion.evaluation._concordance_counting import _harrell_parts, _tied_time
from hccfusion.evaluation._concordance_inputs import _check_risk, _check_tol
from hccfusion.evaluation.inputs import check_time_event

__all__ = ["HarrellC", "harrell_c"]


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
