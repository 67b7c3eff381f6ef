"""Forest plot of the correlations of features with the continuous risk: rho with 95 % CI,
coloured by kind (data in, Axes out)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hccfusion.reporting.figures import style
from hccfusion.reporting.figures._common import check_columns, new_axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

ASSOCIATION_FOREST_COLUMNS = ("feature", "kind", "rho", "ci_low", "ci_high", "q_value")
_FUNC = "plot_risk_associations"


def plot_risk_associations(table: pd.DataFrame, *, ax: Axes | None = None, n_features: int = 30,
                           q_max: float = 0.05,
                           xlabel: str = "Spearman ρ with the risk (95% CI)") -> Axes:
    """Dot-and-whisker plot of the ``n_features`` smallest-q features, sorted by rho.

    Parameters
    ----------
    table : pandas.DataFrame
        :data:`ASSOCIATION_FOREST_COLUMNS` (as
        :func:`hccfusion.mechanism.risk_biology.risk_associations`); rows with missing rho are
        skipped.
    ax : matplotlib Axes, optional
    n_features : int
        How many features are drawn.
    q_max : float
        Features with ``q_value < q_max`` are drawn filled, others hollow.
    xlabel : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    check_columns(table, ASSOCIATION_FOREST_COLUMNS, name="table", func=_FUNC)
    data = table.dropna(subset=["rho"]).sort_values("q_value", kind="mergesort").head(n_features)
    data = data.sort_values("rho", kind="mergesort").reset_index(drop=True)
    kinds = list(dict.fromkeys(table["kind"].astype(str)))
    colors = style.group_colors(kinds)
    with style.figure_context():
        ax = new_axes(ax, (6.5, 0.26 * max(len(data), 1) + 1.4))
        y = np.arange(len(data))
        seen: set[str] = set()
        for yi, row in zip(y, data.itertuples(index=False)):
            c = colors[str(row.kind)]
            ax.plot([row.ci_low, row.ci_high], [yi, yi], color=c, lw=1.0)
            filled = bool(row.q_value < q_max)
            ax.scatter([row.rho], [yi], s=22, color=c if filled else "white", edgecolors=c,
                       zorder=3, label=None if str(row.kind) in seen else str(row.kind))
            seen.add(str(row.kind))
        ax.set_yticks(y)
        ax.set_yticklabels(data["feature"].astype(str), fontsize=style.SMALL_FONT_SIZE)
        ax.axvline(0, lw=0.8, ls="--", color=style.REFERENCE_COLOR)
        ax.set_xlim(-1, 1)
        ax.set_xlabel(xlabel)
        ax.legend(loc="lower right", fontsize=style.SMALL_FONT_SIZE)
        ax.set_title(f"filled: q < {q_max:g} (BH over all features)",
                     fontsize=style.SMALL_FONT_SIZE)
    return ax
