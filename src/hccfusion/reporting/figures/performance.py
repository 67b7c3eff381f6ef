"""Model-performance figures: time-dependent ROC, calibration, decision curves (domain.md
§7.3–7.5). Data in, Axes out; the statistics are computed elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hccfusion.reporting.figures import style
from hccfusion.reporting.figures._common import (
    check_columns,
    check_finite,
    check_range,
    days_per_unit,
    new_axes,
    ordered,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

TD_ROC_COLUMNS = ("model", "time", "fpr", "tpr", "auc")
CALIBRATION_COLUMNS = ("group", "predicted", "observed", "observed_low", "observed_high")
DECISION_CURVE_COLUMNS = ("model", "threshold", "net_benefit")
_LINESTYLES = ("-", "--", ":", "-.")


def plot_td_roc(curves: pd.DataFrame, *, ax: Axes | None = None,
                time_unit: str = "months") -> Axes:
    """Draw time-dependent ROC curves (cumulative cases / dynamic controls, Heagerty et al. 2000).

    Parameters
    ----------
    curves
        Tidy table, one row per ROC point: ``model``, ``time`` (horizon in days), ``fpr``,
        ``tpr`` (both in [0, 1]) and ``auc`` (the curve's AUC, repeated on its rows). Each
        (model, time) pair is one curve; colour encodes the model, line style the horizon.
    ax
        Axes to draw on; a new 5.5 × 5.5 inch figure when omitted.
    time_unit
        Unit in which horizons are written in the legend (default months = days / 30.4375).

    Returns
    -------
    matplotlib.axes.Axes
        Square Axes in [0, 1]² with one line per (model, time) labelled
        ``"<model>, <t> <unit>: AUC 0.74"`` and the chance diagonal.
    """
    func = "plot_td_roc"
    unit_days = days_per_unit(time_unit)
    check_columns(curves, TD_ROC_COLUMNS, name="curves", func=func)
    check_finite(curves, ("time", "fpr", "tpr", "auc"), name="curves", func=func)
    for col in ("fpr", "tpr", "auc"):
        check_range(curves, col, 0, 1, name="curves", func=func)
    models = ordered(curves["model"], None, name="model")
    times = sorted(curves["time"].unique())
    colors = style.group_colors([str(m) for m in models])
    with style.figure_context():
        ax = new_axes(ax, (5.5, 5.5))
        ax.plot([0, 1], [0, 1], ls=":", lw=0.8, color=style.REFERENCE_COLOR, gid="roc-chance")
        for model in models:
            for j, t in enumerate(times):
                block = curves.loc[(curves["model"] == model) & (curves["time"] == t)]
                if block.empty:
                    continue
                block = block.sort_values(["fpr", "tpr"], kind="mergesort")
                auc = float(block["auc"].iloc[0])
                label = f"{model}, {t / unit_days:g} {time_unit}: AUC {auc:.2f}"
                ax.plot(block["fpr"], block["tpr"], color=colors[str(model)],
                        ls=_LINESTYLES[j % len(_LINESTYLES)], label=label,
                        drawstyle="default", gid=f"roc-{model}-{t:g}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("1 − specificity (false-positive rate)")
        ax.set_ylabel("Sensitivity (true-positive rate)")
        ax.legend(loc="lower right")
    return ax


def plot_calibration(table: pd.DataFrame, *, ax: Axes | None = None,
                     label: str = "event probability") -> Axes:
    """Draw a grouped calibration plot with the line of perfect calibration.

    Parameters
    ----------
    table
        Tidy table, one row per risk group (e.g. a decile of predicted risk): ``group``,
        ``predicted`` (mean predicted probability), ``observed`` (observed probability, e.g.
        1 − KM at the horizon), ``observed_low``, ``observed_high`` (its CI). An optional
        ``model`` column draws one series per model.
    ax
        Axes to draw on; a new 5.5 × 5.5 inch figure when omitted.
    label
        What the probabilities are, used in the axis titles (e.g. ``"24-month mortality"``).

    Returns
    -------
    matplotlib.axes.Axes
        Square Axes in [0, 1]²: the diagonal (``gid`` ``"calibration-ideal"``), and per series
        the points with CI error bars joined by a line.
    """
    func = "plot_calibration"
    check_columns(table, CALIBRATION_COLUMNS, name="table", func=func)
    check_finite(table, ("predicted", "observed"), name="table", func=func)
    for col in ("predicted", "observed", "observed_low", "observed_high"):
        check_range(table, col, 0, 1, name="table", func=func)
    has_model = "model" in table.columns
    series = ordered(table["model"], None, name="model") if has_model else [None]
    colors = style.group_colors([str(s) for s in series])
    with style.figure_context():
        ax = new_axes(ax, (5.5, 5.5))
        ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color=style.REFERENCE_COLOR,
                label="Ideal", gid="calibration-ideal")
        for s in series:
            block = table if s is None else table.loc[table["model"] == s]
            block = block.sort_values("predicted", kind="mergesort")
            obs = block["observed"].to_numpy(float)
            low = np.clip(obs - block["observed_low"].to_numpy(float), 0, None)
            high = np.clip(block["observed_high"].to_numpy(float) - obs, 0, None)
            yerr = np.nan_to_num(np.vstack([low, high]))
            color = colors[str(s)]
            ax.errorbar(block["predicted"], obs, yerr=yerr, fmt="none", capsize=3, color=color,
                        lw=1.0)
            ax.plot(block["predicted"], obs, marker="o", ms=5, color=color,
                    label="Observed" if s is None else str(s),
                    gid=f"calibration-{s if s is not None else 'observed'}")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel(f"Predicted {label}")
        ax.set_ylabel(f"Observed {label}")
        ax.legend(loc="upper left")
    return ax


def plot_decision_curve(table: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Draw decision curves: net benefit against threshold probability (Vickers & Elkin 2006).

    Parameters
    ----------
    table
        Tidy table: ``model``, ``threshold`` (in [0, 1)), ``net_benefit``. The strategies
        "treat all" and "treat none" are rows with ``model`` ``all`` and ``none``.
    ax
        Axes to draw on; a new 6.5 × 4.5 inch figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        One line per model (``gid`` ``"dca-<model>"``), treat-all grey and treat-none black.
        The y axis runs from a little below 0 (the strongly negative part of treat-all is cut
        off, as is customary) to just above the largest net benefit.
    """
    func = "plot_decision_curve"
    check_columns(table, DECISION_CURVE_COLUMNS, name="table", func=func)
    check_finite(table, ("threshold", "net_benefit"), name="table", func=func)
    check_range(table, "threshold", 0, 1, name="table", func=func)
    models = [str(m) for m in ordered(table["model"].astype(str), None, name="model")]
    table = table.assign(model=table["model"].astype(str))
    fitted = [m for m in models if m not in style.STRATEGY_COLORS]
    colors = style.group_colors(fitted)
    names = {"all": "Treat all", "none": "Treat none"}
    with style.figure_context():
        ax = new_axes(ax, (6.5, 4.5))
        for model in fitted + [m for m in ("all", "none") if m in models]:
            block = table.loc[table["model"] == model].sort_values("threshold")
            strategy = model in style.STRATEGY_COLORS
            ax.plot(block["threshold"], block["net_benefit"],
                    color=style.STRATEGY_COLORS[model] if strategy else colors[model],
                    lw=1.0 if strategy else 1.8, ls="--" if model == "all" else "-",
                    label=names.get(model, model), gid=f"dca-{model}")
        top = float(table["net_benefit"].max())
        top = top if top > 0 else 0.05
        ax.set_ylim(-0.1 * top - 0.01, top * 1.1)
        ax.set_xlim(float(table["threshold"].min()), float(table["threshold"].max()))
        ax.set_xlabel("Threshold probability")
        ax.set_ylabel("Net benefit")
        ax.legend(loc="upper right")
    return ax
