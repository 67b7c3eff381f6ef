"""Bar chart of preranked-GSEA normalised enrichment scores, coloured by q (data in, Axes out)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hccfusion.reporting.figures import style
from hccfusion.reporting.figures._common import check_columns, check_finite, new_axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

GSEA_BAR_COLUMNS = ("term", "nes", "fdr")
_FUNC = "plot_gsea_bar"


def plot_gsea_bar(table: pd.DataFrame, *, ax: Axes | None = None, q_max: float = 0.05,
                  n_terms: int = 25, xlabel: str = "NES (high vs low risk)") -> Axes:
    """Horizontal bars of NES per gene set; solid where ``fdr < q_max``, pale otherwise.

    Parameters
    ----------
    table : pandas.DataFrame
        ``term``, ``nes``, ``fdr`` (as :func:`hccfusion.omics.genesets.preranked_gsea`).
    ax : matplotlib Axes, optional
    q_max : float
        FDR threshold of a solid bar.
    n_terms : int
        At most this many sets, the largest |NES| first.
    xlabel : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    check_columns(table, GSEA_BAR_COLUMNS, name="table", func=_FUNC)
    check_finite(table, ("nes",), name="table", func=_FUNC)
    data = table.reindex(table["nes"].abs().sort_values(ascending=False).index).head(n_terms)
    data = data.sort_values("nes")
    with style.figure_context():
        ax = new_axes(ax, (6.0, 0.28 * len(data) + 1.2))
        nes = data["nes"].to_numpy(float)
        sig = data["fdr"].to_numpy(float) < q_max
        colors = [style.PALETTE[1] if v > 0 else style.PALETTE[0] for v in nes]
        y = np.arange(len(data))
        ax.barh(y, nes, color=colors, alpha=1.0, edgecolor="none")
        for yi, v, s in zip(y, nes, sig):
            if not s:
                ax.barh(yi, v, color="white", alpha=0.6, edgecolor="none")
        ax.set_yticks(y)
        ax.set_yticklabels([f"{t}{' *' if s else ''}" for t, s in zip(data["term"], sig)],
                           fontsize=style.SMALL_FONT_SIZE)
        ax.axvline(0, lw=0.8, color=style.REFERENCE_COLOR)
        ax.set_xlabel(xlabel)
        ax.set_title(f"* FDR q < {q_max:g}; pale: not significant", fontsize=style.SMALL_FONT_SIZE)
    return ax
