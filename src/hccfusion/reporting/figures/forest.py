"""Forest plot of hazard ratios (Cox models, domain.md §7.7). Data in, Axes out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hccfusion.reporting.figures import style
from hccfusion.reporting.figures._common import (
    check_columns,
    check_finite,
    check_range,
    format_p,
    new_axes,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

FOREST_COLUMNS = ("covariate", "hr", "ci_low", "ci_high", "p")
_NICE_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 10.0, 20.0, 50.0,
               100.0)
_P_COLUMN_PT = 100.0


def plot_forest(table: pd.DataFrame, *, ax: Axes | None = None,
                xlabel: str = "Hazard ratio (95% CI)") -> Axes:
    """Draw a forest plot: HR with 95 % CI per covariate on a log axis, reference line at 1.

    Parameters
    ----------
    table
        Tidy table, one row per covariate, drawn top to bottom in row order: ``covariate``,
        ``hr``, ``ci_low``, ``ci_high`` (all > 0), ``p`` (Wald p-value; NaN prints nothing).
    ax
        Axes to draw on; a new figure 7 inches wide and 0.4 inch per row when omitted.
    xlabel
        X-axis label.

    Returns
    -------
    matplotlib.axes.Axes
        Axes with a log-scaled x axis, a dashed vertical line at HR = 1 (``gid``
        ``"forest-reference"``), one point and CI segment per covariate, the covariate names as
        y tick labels, and a text column at the right with ``"HR (low–high)"`` and the p-value.
    """
    func = "plot_forest"
    check_columns(table, FOREST_COLUMNS, name="table", func=func)
    check_finite(table, ("hr", "ci_low", "ci_high"), name="table", func=func)
    for col in ("hr", "ci_low", "ci_high"):
        check_range(table, col, 1e-300, np.inf, name="table", func=func)
    check_range(table, "p", 0, 1, name="table", func=func)
    n = len(table)
    y = np.arange(n)[::-1].astype(float)
    hr = table["hr"].to_numpy(float)
    low = table["ci_low"].to_numpy(float)
    high = table["ci_high"].to_numpy(float)
    with style.figure_context():
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
        from matplotlib.transforms import blended_transform_factory, offset_copy

        created = ax is None
        ax = new_axes(ax, (7.0, 1.0 + 0.4 * n))
        ax.set_xscale("log")
        ax.axvline(1.0, ls="--", lw=0.8, color=style.REFERENCE_COLOR, gid="forest-reference")
        ax.hlines(y, low, high, color=style.PALETTE[0], lw=1.4, gid="forest-ci")
        ax.plot(hr, y, ls="none", marker="s", ms=6, color=style.PALETTE[0], gid="forest-hr")
        ax.set_yticks(y)
        ax.set_yticklabels([str(c) for c in table["covariate"]])
        ax.set_ylim(-0.7, n - 0.3)
        lo, hi = float(low.min()), float(high.max())
        ax.set_xlim(min(lo, 1.0) / 1.25, max(hi, 1.0) * 1.25)
        x_low, x_high = ax.get_xlim()
        ticks = [t for t in _NICE_TICKS if x_low <= t <= x_high]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(xlabel)
        right = blended_transform_factory(ax.transAxes, ax.transData)
        # The p column sits a fixed distance (points) right of the HR column, whatever the width.
        p_col = offset_copy(right, fig=ax.figure, x=_P_COLUMN_PT, units="points")
        ax.text(1.03, n - 0.3, "HR (95% CI)", transform=right, ha="left", va="bottom",
                fontweight="bold", fontsize=style.SMALL_FONT_SIZE + 1, gid="forest-header")
        ax.text(1.03, n - 0.3, "p", transform=p_col, ha="left", va="bottom",
                fontweight="bold", fontsize=style.SMALL_FONT_SIZE + 1, gid="forest-header")
        for yi, (h, a, b, p) in zip(y, zip(hr, low, high, table["p"])):
            ax.text(1.03, yi, f"{h:.2f} ({a:.2f}–{b:.2f})", transform=right, ha="left",
                    va="center", fontsize=style.SMALL_FONT_SIZE + 1, gid="forest-hr-text")
            p_text = "" if p is None or not np.isfinite(float(p)) else \
                format_p(float(p)).replace("p = ", "").replace("p < ", "< ")
            ax.text(1.03, yi, p_text, transform=p_col, ha="left", va="center",
                    fontsize=style.SMALL_FONT_SIZE + 1, gid="forest-p-text")
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        if created:  # room for the text columns on the figure we own
            ax.figure.subplots_adjust(right=0.62, left=0.25, bottom=min(0.5, 0.55 / (1 + 0.4 * n)))
    return ax
