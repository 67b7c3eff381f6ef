"""Kaplan–Meier curves in the survminer look (data in, Axes out; domain.md §7.6).

Step curves per group with shaded confidence bands (the producer computes them, normally on the
log(-log S) scale, Kalbfleisch & Prentice 2002), censoring ticks, an optional number-at-risk
table printed beneath the x axis and aligned with its ticks, the log-rank p-value and optional
median-survival guide lines. Times come in days and are shown in ``time_unit`` (months by
default: days / 30.4375).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import DataError
from hccfusion.reporting.figures import style
from hccfusion.reporting.figures._common import (
    check_columns,
    check_finite,
    check_range,
    days_per_unit,
    format_p,
    new_axes,
    ordered,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

KM_COLUMNS = ("group", "time", "surv", "ci_low", "ci_high")
AT_RISK_COLUMNS = ("group", "time", "n_at_risk")
#: gid of the number-at-risk texts (lets tests and reports find them).
AT_RISK_GID = "km-at-risk"

_FUNC = "plot_km"
# Distance of the at-risk rows below the x axis, in points: past the tick labels and the title.
_AT_RISK_TOP_PT = 48.0
_AT_RISK_STEP_PT = 13.0


def _curve(block: pd.DataFrame) -> pd.DataFrame:
    """One group's curve sorted by time, starting at (0, 1) if the producer left it out."""
    import pandas as pd

    block = block.sort_values("time", kind="mergesort")
    if float(block["time"].iloc[0]) > 0:
        start = pd.DataFrame({"time": [0.0], "surv": [1.0], "ci_low": [1.0], "ci_high": [1.0]})
        if "n_censored" in block.columns:
            start["n_censored"] = 0
        block = pd.concat([start, block], ignore_index=True)
    return block.reset_index(drop=True)


def _median_time(block: pd.DataFrame) -> float:
    """First time at which the curve is at or below 0.5 (NaN if never reached)."""
    below = block.loc[block["surv"] <= 0.5 + 1e-12, "time"]
    return float(below.iloc[0]) if len(below) else float("nan")


def _draw_at_risk(ax: Axes, at_risk: pd.DataFrame, groups: list[str],
                  colors: dict[str, str], unit_days: float) -> list[float]:
    """Write the number-at-risk rows beneath the axis; return the tick positions used."""
    from matplotlib.transforms import blended_transform_factory, offset_copy

    ticks = sorted({float(t) / unit_days for t in at_risk["time"]})
    below = blended_transform_factory(ax.transData, ax.transAxes)
    left = blended_transform_factory(ax.transAxes, ax.transAxes)
    fig = ax.figure

    def row(transform, i: int, x_pt: float = 0.0):
        # Offsets in points keep the rows clear of the x-axis title and the first count.
        return offset_copy(transform, fig=fig, x=x_pt,
                           y=-(_AT_RISK_TOP_PT + _AT_RISK_STEP_PT * i), units="points")

    ax.text(0.0, 0.0, "Number at risk", transform=row(left, 0, -14.0), ha="right",
            va="center", fontsize=style.SMALL_FONT_SIZE, fontweight="bold",
            gid=AT_RISK_GID + "-title")
    for i, group in enumerate(groups, start=1):
        ax.text(0.0, 0.0, str(group), transform=row(left, i, -14.0), ha="right", va="center",
                color=colors[group], fontsize=style.SMALL_FONT_SIZE, fontweight="bold",
                gid=AT_RISK_GID + "-label")
        rows = at_risk.loc[at_risk["group"] == group]
        for t, n in zip(rows["time"], rows["n_at_risk"]):
            ax.text(float(t) / unit_days, 0.0, f"{int(n)}", transform=row(below, i),
                    ha="center", va="center", fontsize=style.SMALL_FONT_SIZE, clip_on=False,
                    gid=AT_RISK_GID)
    return ticks


def plot_km(table: pd.DataFrame, *, at_risk: pd.DataFrame | None = None,
            p_value: float | str | None = None, ax: Axes | None = None,
            time_unit: str = "months", group_order: Sequence[str] | None = None,
            colors: Mapping[str, str] | Sequence[str] | None = None,
            show_ci: bool = True, show_censors: bool = True, show_median: bool = False,
            ylabel: str = "Survival probability") -> Axes:
    """Draw Kaplan–Meier curves with confidence bands, censor ticks and a number-at-risk table.

    Parameters
    ----------
    table
        Tidy KM table, one row per group and distinct time: ``group``, ``time`` (days, >= 0),
        ``surv`` (S(t) in [0, 1]), ``ci_low``, ``ci_high`` (pointwise CI bounds, e.g. log-log;
        NaN allowed where undefined), optionally ``n_censored`` (censor ticks are drawn at rows
        where it is > 0). A row at time 0 is added when a group lacks it.
    at_risk
        Optional tidy table ``group``, ``time`` (days), ``n_at_risk``. Its distinct times become
        the x ticks (e.g. 0/6/12/…/36 months) and the counts are printed beneath them, one
        coloured row per group, in the group order of the curves.
    p_value
        Log-rank p-value printed in the lower left (``"Log-rank p = 0.012"``); a string is
        printed as given.
    ax
        Axes to draw on; a new 7 × 5 inch figure when omitted. When an at-risk table is drawn,
        leave room beneath the Axes (new figures do) or save with ``bbox_inches="tight"``.
    time_unit
        Unit of the x axis: ``days``, ``weeks``, ``months`` (days / 30.4375) or ``years``.
    group_order
        Order of the groups in the legend, the colours and the at-risk table; defaults to the
        order of appearance in ``table``.
    colors
        Mapping group → colour or a sequence of colours; defaults to the Okabe–Ito palette.
    show_ci, show_censors, show_median
        Draw the confidence bands, the censoring ticks, and dashed guide lines at S(t) = 0.5
        down to each group's median survival time.
    ylabel
        Y-axis label, e.g. ``"Overall survival"``.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes with one step line per group (``gid`` = ``"km-<group>"``), y limits [0, 1] and
        x in ``time_unit``; at-risk texts carry ``gid`` ``"km-at-risk"``.

    Raises
    ------
    hccfusion.errors.DataError
        If a table lacks a column, is empty, or holds survival values outside [0, 1], negative
        times, or at-risk groups absent from the curves.
    hccfusion.errors.UsageError
        For an unknown ``time_unit``.
    """
    unit_days = days_per_unit(time_unit)
    check_columns(table, KM_COLUMNS, name="table", func=_FUNC)
    check_finite(table, ("time", "surv"), name="table", func=_FUNC)
    check_range(table, "time", 0, np.inf, name="table", func=_FUNC)
    for col in ("surv", "ci_low", "ci_high"):
        check_range(table, col, 0, 1, name="table", func=_FUNC)
    groups = [str(g) for g in ordered(table["group"].astype(str), group_order, name="group_order")]
    table = table.assign(group=table["group"].astype(str))
    if at_risk is not None:
        check_columns(at_risk, AT_RISK_COLUMNS, name="at_risk", func=_FUNC)
        check_finite(at_risk, ("time", "n_at_risk"), name="at_risk", func=_FUNC)
        check_range(at_risk, "time", 0, np.inf, name="at_risk", func=_FUNC)
        at_risk = at_risk.assign(group=at_risk["group"].astype(str))
        extra = sorted(set(at_risk["group"]) - set(groups))
        if extra:
            raise DataError(f"The 'at_risk' table of {_FUNC} has groups {extra} that have no "
                            f"curve in 'table' (groups {groups}); pass tables from the same fit.")
    palette = style.group_colors(groups, colors)

    with style.figure_context():
        created = ax is None
        ax = new_axes(ax, (7.0, 5.0 if at_risk is None else 5.0 + 0.3 * len(groups)))
        x_max = 0.0
        for group in groups:
            block = _curve(table.loc[table["group"] == group])
            x = block["time"].to_numpy(float) / unit_days
            x_max = max(x_max, float(x[-1]))
            color = palette[group]
            ax.step(x, block["surv"], where="post", color=color, label=group, gid=f"km-{group}",
                    clip_on=False)
            if show_ci:
                ax.fill_between(x, block["ci_low"].astype(float), block["ci_high"].astype(float),
                                step="post", color=color, alpha=style.CI_ALPHA, linewidth=0,
                                gid=f"km-ci-{group}")
            if show_censors and "n_censored" in block.columns:
                cens = block.loc[block["n_censored"].fillna(0) > 0]
                if len(cens):
                    ax.plot(cens["time"].to_numpy(float) / unit_days, cens["surv"], ls="none",
                            marker="|", markersize=7, markeredgewidth=1.2, color=color,
                            gid=f"km-censor-{group}")
            if show_median:
                median = _median_time(block) / unit_days
                if np.isfinite(median):
                    ax.plot([0, median, median], [0.5, 0.5, 0.0], ls="--", lw=0.8,
                            color=style.REFERENCE_COLOR, gid=f"km-median-{group}")
        ax.set_ylim(0.0, 1.0)
        ax.set_xlim(left=0.0)
        ax.set_xlabel(f"Time since treatment start ({time_unit})")
        ax.set_ylabel(ylabel)
        if at_risk is not None:
            ticks = _draw_at_risk(ax, at_risk, groups, palette, unit_days)
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.set_xlim(0.0, max(x_max, max(ticks)) * 1.02 if max(ticks) > 0 else None)
            if created:  # make room for the table on the figure we own
                height_in = ax.figure.get_figheight()
                needed_pt = _AT_RISK_TOP_PT + _AT_RISK_STEP_PT * (len(groups) + 1)
                ax.figure.subplots_adjust(bottom=min(0.6, needed_pt / 72 / height_in),
                                          left=0.2)
        elif time_unit == "months" and x_max > 0:
            ax.set_xticks(np.arange(0, x_max + 6, 6 if x_max <= 60 else 12))
            ax.set_xlim(0.0, x_max * 1.02)
        if p_value is not None:
            text = format_p(p_value)
            text = text if isinstance(p_value, str) else f"Log-rank {text}"
            ax.text(0.03, 0.05, text, transform=ax.transAxes, ha="left", va="bottom",
                    gid="km-p-value")
        ax.legend(loc="upper right", title=None)
    return ax
