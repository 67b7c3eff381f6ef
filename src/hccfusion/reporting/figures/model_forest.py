"""Forest plot of model discrimination: C-index or ROC AUC with 95 % CI per model, grouped by
test cohort (data in, Axes out).

The same drawing serves the paired differences (ΔC of the default model against each
comparator, reference line at 0 instead of 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.reporting.figures import style
from hccfusion.reporting.figures._common import (
    check_columns,
    check_finite,
    format_p,
    new_axes,
    ordered,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

MODEL_FOREST_COLUMNS = ("model", "cohort_label", "estimate", "ci_low", "ci_high")
_FUNC = "plot_model_forest"
_TEXT_COLUMN_X = 1.03  # axes fraction where the "estimate (low–high)" column starts


def _layout(table: pd.DataFrame, cohorts: list[str], models: list[str]
            ) -> tuple[list[tuple[float, str, bool]], list[tuple[float, int]]]:
    """Y positions top to bottom: one header row per cohort, then its models.

    Returns the tick rows ``(y, label, is_header)`` and ``(y, row index in table)`` pairs.
    """
    ticks: list[tuple[float, str, bool]] = []
    rows: list[tuple[float, int]] = []
    y = 0.0
    for cohort in cohorts:
        block = table.loc[table["cohort_label"] == cohort]
        ticks.append((y, cohort, True))
        y -= 1.0
        for model in models:
            hit = block.index[block["model"] == model]
            if len(hit):
                ticks.append((y, model, False))
                rows.append((y, int(hit[0])))
                y -= 1.0
        y -= 0.4  # gap between cohorts
    return ticks, rows


def plot_model_forest(table: pd.DataFrame, *, ax: Axes | None = None, reference: float = 0.5,
                      xlabel: str = "Harrell's C-index (95% CI)", highlight: str | None = None,
                      oracle: float | None = None, model_order: Sequence[str] | None = None,
                      cohort_order: Sequence[str] | None = None, digits: int = 3) -> Axes:
    """Draw point estimates with 95 % CIs per model, one block of rows per test cohort.

    Parameters
    ----------
    table
        Tidy table, one row per model and cohort: ``model``, ``cohort_label``, ``estimate``
        (finite), ``ci_low``, ``ci_high`` (NaN draws the point without a segment), optionally
        ``p_value`` (printed after the CI), e.g. the rows of one endpoint of
        ``performance_table`` (C-index or AUC in [0, 1]) or of ``paired_difference_table``
        with ``model`` = comparator and ``estimate`` = ΔC.
    ax
        Axes to draw on; a new figure 7.5 inches wide and 0.28 inch per row when omitted.
    reference
        Value of no discrimination (0.5 for C/AUC, 0 for a difference), drawn dashed.
    xlabel
        X-axis label.
    highlight
        Model drawn in the accent colour with a bold label (the default model).
    oracle
        Optional value of the simulator's oracle (the true risk's C/AUC), drawn dotted.
    model_order, cohort_order
        Order of the models within a cohort and of the cohort blocks; default: order of
        appearance.
    digits
        Decimals of the text column ``"estimate (low–high)"`` at the right.

    Returns
    -------
    matplotlib.axes.Axes
        One marker (``gid`` ``"model-forest-point"``) and CI segment (``"model-forest-ci"``)
        per row, the reference line (``"model-forest-reference"``), the oracle line
        (``"model-forest-oracle"``, labelled above the axes) when given, cohort names as bold
        y tick labels above their models, and the text column (``"model-forest-text"``).

    Raises
    ------
    hccfusion.errors.DataError
        If the table lacks a column, is empty, or has a missing estimate.
    """
    check_columns(table, MODEL_FOREST_COLUMNS, name="table", func=_FUNC)
    check_finite(table, ("estimate",), name="table", func=_FUNC)
    table = table.reset_index(drop=True).assign(model=lambda t: t["model"].astype(str),
                                                 cohort_label=lambda t: t["cohort_label"]
                                                 .astype(str))
    cohorts = [str(c) for c in ordered(table["cohort_label"], cohort_order, name="cohort_order")]
    models = [str(m) for m in ordered(table["model"], model_order, name="model_order")]
    ticks, rows = _layout(table, cohorts, models)
    n_lines = len(ticks)
    est = table["estimate"].to_numpy(float)
    low = table["ci_low"].to_numpy(float)
    high = table["ci_high"].to_numpy(float)
    with style.figure_context():
        from matplotlib.transforms import blended_transform_factory

        created = ax is None
        ax = new_axes(ax, (7.5, 0.9 + 0.28 * n_lines))
        ax.axvline(reference, ls="--", lw=0.8, color=style.REFERENCE_COLOR,
                   gid="model-forest-reference")
        if oracle is not None and np.isfinite(oracle):
            ax.axvline(float(oracle), ls=":", lw=1.2, color=style.PALETTE[2],
                       gid="model-forest-oracle")
            ax.text(float(oracle), 1.0, f"oracle {oracle:.{digits}f}", ha="center",
                    va="bottom", color=style.PALETTE[2], fontsize=style.SMALL_FONT_SIZE,
                    transform=blended_transform_factory(ax.transData, ax.transAxes),
                    gid="model-forest-oracle-text")
        right = blended_transform_factory(ax.transAxes, ax.transData)
        p_values = (table["p_value"].to_numpy(float) if "p_value" in table.columns
                    else np.full(len(table), np.nan))
        for y, i in rows:
            color = style.PALETTE[1] if table.at[i, "model"] == highlight else style.PALETTE[0]
            if np.isfinite(low[i]) and np.isfinite(high[i]):
                ax.hlines(y, low[i], high[i], color=color, lw=1.4, gid="model-forest-ci")
            ax.plot(est[i], y, ls="none", marker="s", ms=5, color=color,
                    gid="model-forest-point")
            ci = (f" ({low[i]:.{digits}f}–{high[i]:.{digits}f})"
                  if np.isfinite(low[i]) and np.isfinite(high[i]) else "")
            p = f"   {format_p(float(p_values[i]))}" if np.isfinite(p_values[i]) else ""
            ax.text(_TEXT_COLUMN_X, y, f"{est[i]:.{digits}f}{ci}{p}", transform=right, ha="left",
                    va="center", fontsize=style.SMALL_FONT_SIZE + 1, gid="model-forest-text")
        ax.set_yticks([t[0] for t in ticks])
        ax.set_yticklabels([t[1] for t in ticks])
        for label, (_, _, header) in zip(ax.get_yticklabels(), ticks):
            if header:
                label.set_fontweight("bold")
            elif label.get_text() == highlight:
                label.set_fontweight("bold")
                label.set_color(style.PALETTE[1])
        y_min = min(t[0] for t in ticks)
        ax.set_ylim(y_min - 0.7, 0.7)
        finite = np.concatenate([est, low[np.isfinite(low)], high[np.isfinite(high)],
                                 [reference] + ([float(oracle)] if oracle is not None
                                                and np.isfinite(oracle) else [])])
        span = max(float(finite.max() - finite.min()), 0.05)
        ax.set_xlim(float(finite.min()) - 0.08 * span, float(finite.max()) + 0.08 * span)
        ax.set_xlabel(xlabel)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        if created:  # room for the text column on the figure we own
            ax.figure.subplots_adjust(right=0.62 if "p_value" in table.columns else 0.68,
                                      left=0.3)
    return ax
