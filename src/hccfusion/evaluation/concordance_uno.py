"""Uno's inverse-probability-of-censoring weighted concordance index truncated at τ (Uno et
al., *Stat Med* 2011): the :class:`UnoC` result and :func:`uno_c`, with Ĝ fitted on the
training patients (re-exported by :mod:`hccfusion.evaluation.concordance`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation._censoring_km import _ipcw, _kaplan_meier
from hccfusion.evaluation._concordance_counting import _harrell_parts
from hccfusion.evaluation._concordance_inputs import _check_risk, _check_tol
from hccfusion.evaluation.inputs import check_time_event

__all__ = ["UnoC", "uno_c"]


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
