"""Tumour-response figures: waterfall of best change and swimmer plot (domain.md §1, §2.4).
Data in, Axes out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import DataError
from hccfusion.reporting.figures import style
from hccfusion.reporting.figures._common import (
    check_columns,
    check_finite,
    check_range,
    days_per_unit,
    new_axes,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

WATERFALL_COLUMNS = ("patient_id", "best_pct_change", "best_response")
SWIMMER_COLUMNS = ("patient_id", "follow_up_days")
SWIMMER_EVENT_COLUMNS = ("patient_id", "time", "event")
#: mRECIST / RECIST 1.1 thresholds of the target sum: PR at −30 %, PD at +20 % (from the nadir).
PR_THRESHOLD_PCT = -30.0
PD_THRESHOLD_PCT = 20.0
#: Marker of each swimmer event kind (response categories, progression, death, censoring).
EVENT_MARKERS: dict[str, tuple[str, str]] = {
    "CR": ("*", style.RESPONSE_COLORS["CR"]),
    "PR": ("^", style.RESPONSE_COLORS["PR"]),
    "SD": ("o", style.RESPONSE_COLORS["SD"]),
    "PD": ("X", style.RESPONSE_COLORS["PD"]),
    "death": ("s", "#000000"),
}
_EVENT_NAMES = {"CR": "Complete response", "PR": "Partial response", "SD": "Stable disease",
                "PD": "Progression", "death": "Death"}


def _legend_handles(categories: list[str]):
    from matplotlib.patches import Patch

    return [Patch(facecolor=style.response_color(c), label=c) for c in categories]


def plot_waterfall(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Draw a waterfall plot of each patient's best percent change of the target sum.

    Parameters
    ----------
    table
        Tidy table, one row per patient: ``patient_id``, ``best_pct_change`` (signed percent
        change of the target sum from baseline, negative = shrinkage; NaN for patients without
        a post-baseline measurement, who are left out and counted in the x label),
        ``best_response`` (CR / PR / SD / PD / NE; sets the bar colour).
    ax
        Axes to draw on; a new 8 × 4.5 inch figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        One bar per patient, sorted from the largest increase (left) to the largest shrinkage
        (right), coloured by response; dashed reference lines at −30 % and +20 %
        (``gid`` ``"waterfall-pr"`` / ``"waterfall-pd"``) and a response legend.
    """
    func = "plot_waterfall"
    check_columns(table, WATERFALL_COLUMNS, name="table", func=func)
    check_range(table, "best_pct_change", -100, np.inf, name="table", func=func)
    measured = table.loc[np.isfinite(table["best_pct_change"].to_numpy(float))]
    if measured.empty:
        raise DataError(f"The 'table' of {func} has no patient with a best_pct_change; there "
                        "is nothing to draw.")
    if measured["patient_id"].duplicated().any():
        dup = measured.loc[measured["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise DataError(f"The 'table' of {func} lists patient {dup!r} more than once; expected "
                        "one row per patient (the best change over follow-up).")
    order = measured.sort_values("best_pct_change", ascending=False, kind="mergesort")
    responses = order["best_response"].astype(str).str.upper()
    n_left_out = len(table) - len(measured)
    with style.figure_context():
        ax = new_axes(ax, (8.0, 4.5))
        x = np.arange(len(order))
        ax.bar(x, order["best_pct_change"].to_numpy(float), width=0.8,
               color=[style.response_color(r) for r in responses], gid="waterfall-bars")
        ax.axhline(0, color="black", lw=0.6)
        ax.axhline(PR_THRESHOLD_PCT, ls="--", lw=0.8, color=style.REFERENCE_COLOR,
                   gid="waterfall-pr")
        ax.axhline(PD_THRESHOLD_PCT, ls="--", lw=0.8, color=style.REFERENCE_COLOR,
                   gid="waterfall-pd")
        ax.set_xticks([])
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_ylim(-105, max(float(order["best_pct_change"].max()) * 1.08, 30.0))
        note = f"; {n_left_out} without a post-baseline measurement not shown" if n_left_out \
            else ""
        ax.set_xlabel(f"Patients (n = {len(order)}{note})")
        ax.set_ylabel("Best change of target sum from baseline (%)")
        present = [c for c in style.RESPONSE_ORDER if c in set(responses)]
        present += sorted(set(responses) - set(present))
        ax.legend(handles=_legend_handles(present), title="Best response",
                  loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_swimmer(table: pd.DataFrame, events: pd.DataFrame | None = None, *,
                 ax: Axes | None = None, time_unit: str = "months") -> Axes:
    """Draw a swimmer plot: one horizontal bar of follow-up per patient with event markers.

    Parameters
    ----------
    table
        Tidy table, one row per patient: ``patient_id``, ``follow_up_days`` (>= 0); optional
        ``best_response`` (bar colour by response category; grey bars without it) and
        ``ongoing`` (bool; an arrow marks patients still on follow-up / treatment).
    events
        Optional tidy table ``patient_id``, ``time`` (days), ``event``: ``CR``, ``PR``, ``SD``
        (response assessments), ``PD`` (progression) or ``death``; each row is one marker.
    ax
        Axes to draw on; a new figure 8 inches wide and 0.3 inch per patient when omitted.
    time_unit
        Unit of the x axis (default months = days / 30.4375).

    Returns
    -------
    matplotlib.axes.Axes
        Bars sorted by follow-up (longest on top), patient ids as y tick labels, one marker
        series per event kind (``gid`` ``"swimmer-<event>"``) and a legend of markers and
        responses.

    Raises
    ------
    hccfusion.errors.DataError
        If a table lacks a column, has negative times, unknown event kinds, or events of
        patients absent from ``table``.
    """
    func = "plot_swimmer"
    unit_days = days_per_unit(time_unit)
    check_columns(table, SWIMMER_COLUMNS, name="table", func=func)
    check_finite(table, ("follow_up_days",), name="table", func=func)
    check_range(table, "follow_up_days", 0, np.inf, name="table", func=func)
    if events is not None:
        check_columns(events, SWIMMER_EVENT_COLUMNS, name="events", func=func)
        check_finite(events, ("time",), name="events", func=func)
        check_range(events, "time", 0, np.inf, name="events", func=func)
        unknown = sorted(set(events["event"].astype(str)) - set(EVENT_MARKERS))
        if unknown:
            raise DataError(f"The 'events' table of {func} has event kinds {unknown}; expected "
                            f"one of {list(EVENT_MARKERS)}.")
        strangers = sorted(set(events["patient_id"]) - set(table["patient_id"]), key=str)
        if strangers:
            raise DataError(f"The 'events' table of {func} has patients {strangers[:5]} that "
                            "are not in 'table'; every event needs its patient's follow-up row.")
    order = table.sort_values("follow_up_days", kind="mergesort").reset_index(drop=True)
    y_of = {pid: float(i) for i, pid in enumerate(order["patient_id"])}
    has_response = "best_response" in order.columns
    with style.figure_context():
        from matplotlib.lines import Line2D

        ax = new_axes(ax, (8.0, 1.2 + 0.3 * len(order)))
        colors = ([style.response_color(r) for r in order["best_response"].astype(str)]
                  if has_response else ["#BBBBBB"] * len(order))
        length = order["follow_up_days"].to_numpy(float) / unit_days
        ax.barh(np.arange(len(order)), length, height=0.6, color=colors, gid="swimmer-bars")
        handles = []
        if "ongoing" in order.columns:
            on = order["ongoing"].fillna(False).astype(bool).to_numpy()
            if on.any():
                ax.plot(length[on] + 0.01 * max(length.max(), 1e-9), np.flatnonzero(on),
                        ls="none", marker=">", ms=6, color="black", gid="swimmer-ongoing")
                handles.append(Line2D([], [], ls="none", marker=">", color="black",
                                      label="Ongoing"))
        if events is not None:
            for kind, (marker, color) in EVENT_MARKERS.items():
                block = events.loc[events["event"].astype(str) == kind]
                if block.empty:
                    continue
                ax.plot(block["time"].to_numpy(float) / unit_days,
                        [y_of[p] for p in block["patient_id"]], ls="none", marker=marker,
                        ms=7, color=color, markeredgecolor="black", markeredgewidth=0.5,
                        gid=f"swimmer-{kind}")
                handles.append(Line2D([], [], ls="none", marker=marker, color=color,
                                      markeredgecolor="black", markeredgewidth=0.5,
                                      label=_EVENT_NAMES[kind]))
        if has_response:
            present = [c for c in style.RESPONSE_ORDER
                       if c in set(order["best_response"].astype(str))]
            handles += _legend_handles(present)
        ax.set_yticks(np.arange(len(order)))
        ax.set_yticklabels([str(p) for p in order["patient_id"]])
        ax.set_ylim(-0.6, len(order) - 0.4)
        ax.set_xlim(left=0)
        ax.set_xlabel(f"Time since treatment start ({time_unit})")
        ax.set_ylabel("Patient")
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
