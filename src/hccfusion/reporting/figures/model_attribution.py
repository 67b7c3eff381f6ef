"""Bar charts of what a fused model relies on (data in, Axes out).

- :func:`plot_modality_shapley`: mean |Shapley value| of each modality over the patients of a
  cohort (exact Shapley values of the game whose players are the modalities a patient has;
  Shapley 1953), the signed mean marked on each bar.
- :func:`plot_clinical_shap`: mean |SHAP value| of the clinical variables (Lundberg & Lee,
  NeurIPS 2017; one-hot levels and missing indicators summed back to their variable), largest
  first.

The summaries are computed elsewhere (``hccfusion.reporting.model_performance``); these functions
only draw them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import UsageError
from hccfusion.reporting.figures import style
from hccfusion.reporting.figures._common import check_columns, check_finite, new_axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

MODALITY_COLUMNS = ("modality", "mean_abs_shapley")
SHAP_COLUMNS = ("variable", "mean_abs_shap")


def _bars(ax: Axes, labels: list[str], values: np.ndarray, *, color: str, gid: str,
          digits: int) -> None:
    y = np.arange(len(labels))[::-1].astype(float)
    ax.barh(y, values, color=color, height=0.65, gid=gid)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    top = float(values.max()) if len(values) and values.max() > 0 else 1.0
    for yi, v in zip(y, values):
        ax.text(v + 0.03 * top, yi, f"{v:.{digits}f}", va="center", ha="left",
                fontsize=style.SMALL_FONT_SIZE, gid=gid + "-text")
    ax.set_xlim(0.0, top * 1.18)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.tick_params(axis="y", length=0)


def plot_modality_shapley(table: pd.DataFrame, *, ax: Axes | None = None,
                          xlabel: str = "Mean |Shapley value| (risk score units)",
                          digits: int = 3) -> Axes:
    """Draw one horizontal bar per modality: its mean absolute Shapley value.

    Parameters
    ----------
    table
        One row per modality, drawn top to bottom in row order: ``modality``,
        ``mean_abs_shapley`` (>= 0, finite), optionally ``mean_shapley`` (signed mean, drawn as
        a black diamond on the bar).
    ax
        Axes to draw on; a new 6-inch-wide figure when omitted.
    xlabel
        X-axis label (the unit is that of the model output that was attributed).
    digits
        Decimals of the value printed beside each bar.

    Returns
    -------
    matplotlib.axes.Axes
        Bars with ``gid`` ``"modality-shapley"``, value texts ``"modality-shapley-text"`` and,
        when given, signed means ``"modality-shapley-mean"``.
    """
    func = "plot_modality_shapley"
    check_columns(table, MODALITY_COLUMNS, name="table", func=func)
    check_finite(table, ("mean_abs_shapley",), name="table", func=func)
    labels = [str(m) for m in table["modality"]]
    values = table["mean_abs_shapley"].to_numpy(float)
    with style.figure_context():
        ax = new_axes(ax, (6.0, 1.2 + 0.45 * len(labels)))
        _bars(ax, labels, values, color=style.PALETTE[0], gid="modality-shapley", digits=digits)
        if "mean_shapley" in table.columns:
            signed = table["mean_shapley"].to_numpy(float)
            y = np.arange(len(labels))[::-1].astype(float)
            ok = np.isfinite(signed)
            ax.plot(signed[ok], y[ok], ls="none", marker="D", ms=5, color="#000000",
                    gid="modality-shapley-mean", label="mean (signed)")
            low = min(0.0, float(signed[ok].min())) if ok.any() else 0.0
            ax.set_xlim(low * 1.18 if low < 0 else 0.0, ax.get_xlim()[1])
            ax.axvline(0.0, lw=0.8, color=style.REFERENCE_COLOR)
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.2,
                      fontsize=style.SMALL_FONT_SIZE)
        ax.set_xlabel(xlabel)
    return ax


def plot_clinical_shap(table: pd.DataFrame, *, ax: Axes | None = None, max_variables: int = 15,
                       xlabel: str = "Mean |SHAP value| (risk score units)",
                       digits: int = 3) -> Axes:
    """Draw the clinical variables' mean absolute SHAP values, largest on top.

    Parameters
    ----------
    table
        One row per variable: ``variable``, ``mean_abs_shap`` (>= 0, finite). Sorted here,
        largest first.
    ax
        Axes to draw on; a new 6-inch-wide figure when omitted.
    max_variables
        Number of variables shown (the largest ones).
    xlabel
        X-axis label.
    digits
        Decimals of the value printed beside each bar.

    Returns
    -------
    matplotlib.axes.Axes
        Bars with ``gid`` ``"clinical-shap"`` and value texts ``"clinical-shap-text"``.

    Raises
    ------
    hccfusion.errors.UsageError
        If ``max_variables`` is not a positive integer.
    """
    func = "plot_clinical_shap"
    if not isinstance(max_variables, (int, np.integer)) or isinstance(max_variables, bool) \
            or max_variables < 1:
        raise UsageError(f"The 'max_variables' parameter of {func} must be a positive integer. "
                         f"Got {max_variables!r} instead.")
    check_columns(table, SHAP_COLUMNS, name="table", func=func)
    check_finite(table, ("mean_abs_shap",), name="table", func=func)
    top = table.sort_values("mean_abs_shap", ascending=False, kind="mergesort")
    top = top.head(int(max_variables))
    with style.figure_context():
        ax = new_axes(ax, (6.0, 1.2 + 0.32 * len(top)))
        _bars(ax, [str(v) for v in top["variable"]], top["mean_abs_shap"].to_numpy(float),
              color=style.PALETTE[2], gid="clinical-shap", digits=digits)
        ax.set_xlabel(xlabel)
    return ax
