"""Kaplan–Meier curves by a model's risk group in one test cohort (data in, Axes out).

The risk groups come from the cut-off frozen on the training patients (never re-fitted on the
test cohort), so the curves show how well that fixed rule separates patients it never saw. The
drawing is :func:`hccfusion.reporting.figures.km.plot_km` with the group order and colours fixed
(low risk blue, high risk vermillion) and the cohort named in the title.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hccfusion.reporting.figures import style
from hccfusion.reporting.figures.km import plot_km

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

#: Display order of the frozen risk groups (other labels follow in order of appearance).
RISK_GROUP_ORDER: tuple[str, ...] = ("low", "intermediate", "high")
RISK_GROUP_COLORS: dict[str, str] = {"low": style.PALETTE[0], "intermediate": style.PALETTE[3],
                                     "high": style.PALETTE[1]}


def plot_risk_group_km(table: pd.DataFrame, *, at_risk: pd.DataFrame | None = None,
                       p_value: float | str | None = None, title: str = "",
                       ylabel: str = "Overall survival", ax: Axes | None = None,
                       time_unit: str = "months") -> Axes:
    """Draw KM curves of the frozen risk groups of one model in one test cohort.

    Parameters
    ----------
    table
        Tidy KM table as from ``kaplan_meier(...).table``: ``group`` (risk group label, e.g.
        ``"low"``/``"high"``), ``time`` (days), ``surv``, ``ci_low``, ``ci_high``, optionally
        ``n_censored``.
    at_risk
        ``group, time`` (days), ``n_at_risk`` as from ``KaplanMeierResult.at_risk``; printed
        beneath the x axis.
    p_value
        Log-rank p-value of the groups (``logrank_test``), printed in the lower left.
    title
        Axes title, e.g. ``"fusion · external NJ"``.
    ylabel
        ``"Overall survival"`` or ``"Progression-free survival"``.
    ax
        Axes to draw on; a new figure when omitted.
    time_unit
        Unit of the x axis (days, weeks, months, years).

    Returns
    -------
    matplotlib.axes.Axes
        As :func:`~hccfusion.reporting.figures.km.plot_km`: one step line per group
        (``gid`` ``"km-<group>"``), at-risk texts (``"km-at-risk"``), the p-value
        (``"km-p-value"``).
    """
    groups = [str(g) for g in dict.fromkeys(table["group"].astype(str)) if g is not None]
    order = [g for g in RISK_GROUP_ORDER if g in groups] + [g for g in groups
                                                           if g not in RISK_GROUP_ORDER]
    colors = {g: RISK_GROUP_COLORS[g] for g in order if g in RISK_GROUP_COLORS}
    ax = plot_km(table, at_risk=at_risk, p_value=p_value, ax=ax, time_unit=time_unit,
                 group_order=order, colors=colors, ylabel=ylabel)
    if title:
        with style.figure_context():
            ax.set_title(title, loc="left")
    return ax
