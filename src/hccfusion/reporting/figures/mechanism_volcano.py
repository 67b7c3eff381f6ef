"""Volcano plot of a two-group comparison: log2 fold change against −log10 q (data in, Axes out).

Serves the DESeq2 table (high vs low risk) and the metabolomics univariate table alike; the
caller names the columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hccfusion.reporting.figures import style
from hccfusion.reporting.figures._common import check_columns, new_axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

_FUNC = "plot_volcano"


def plot_volcano(table: pd.DataFrame, *, x: str = "log2_fold_change", q: str = "padj",
                 label: str = "gene", ax: Axes | None = None, q_max: float = 0.05,
                 min_abs_x: float = 1.0, n_labels: int = 10,
                 xlabel: str = "log2 fold change (high vs low risk)") -> Axes:
    """Scatter ``x`` against −log10 ``q``; points past both thresholds coloured by direction.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per feature with columns ``x``, ``q`` and ``label``; rows with a missing ``x``
        or ``q`` are not drawn.
    x, q, label : str
        Column names of the effect, the q-value and the feature name.
    ax : matplotlib Axes, optional
    q_max, min_abs_x : float
        Significance and effect thresholds (dashed lines).
    n_labels : int
        The most significant features past both thresholds are named.
    xlabel : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    check_columns(table, (x, q, label), name="table", func=_FUNC)
    with style.figure_context():
        ax = new_axes(ax, (5.0, 4.2))
        data = table[[x, q, label]].dropna(subset=[x, q])
        xv = data[x].to_numpy(float)
        qv = np.clip(data[q].to_numpy(float), 1e-300, 1.0)
        yv = -np.log10(qv)
        up = (qv < q_max) & (xv >= min_abs_x)
        down = (qv < q_max) & (xv <= -min_abs_x)
        rest = ~(up | down)
        ax.scatter(xv[rest], yv[rest], s=6, color="#BBBBBB", linewidths=0, label="not significant")
        ax.scatter(xv[up], yv[up], s=9, color=style.PALETTE[1], linewidths=0,
                   label=f"up ({int(up.sum())})")
        ax.scatter(xv[down], yv[down], s=9, color=style.PALETTE[0], linewidths=0,
                   label=f"down ({int(down.sum())})")
        ax.axhline(-np.log10(q_max), ls="--", lw=0.8, color=style.REFERENCE_COLOR)
        for edge in (-min_abs_x, min_abs_x):
            ax.axvline(edge, ls="--", lw=0.8, color=style.REFERENCE_COLOR)
        sig = np.flatnonzero(up | down)
        for i in sig[np.argsort(qv[sig], kind="mergesort")][:n_labels]:
            ax.annotate(str(data[label].iloc[i]), (xv[i], yv[i]), fontsize=style.SMALL_FONT_SIZE,
                        xytext=(3, 2), textcoords="offset points")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("−log10 q")
        ax.legend(loc="upper left", fontsize=style.SMALL_FONT_SIZE)
    return ax
