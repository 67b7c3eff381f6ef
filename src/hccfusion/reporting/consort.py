"""CONSORT-style flow diagram of the eligibility assessment (data in, Axes out).

Draws, for each cohort in the flow, a column of three boxes — assessed, excluded (one line per
exclusion step with patients), included — joined by arrows; every count is broken down by
centre. The data come from :func:`hccfusion.clinical.eligibility.assess_eligibility`
(``EligibilityResult.flow``). Reporting framework: CONSORT / STROBE flow of participants
(domain.md §7.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hccfusion.errors import DataError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

FLOW_COLUMNS = ("cohort", "center", "stage", "rule", "label", "n", "n_unknown")


def _by_centre(block: pd.DataFrame) -> str:
    """"WX 3, NJ 2" for the per-centre rows of one step."""
    parts = [f"{r.center} {int(r.n)}" for r in block.itertuples() if r.center != "all"]
    return ", ".join(parts)


def _box_text(flow: pd.DataFrame, *, stage: str, title: str) -> str:
    block = flow.loc[flow["stage"] == stage]
    total = int(block.loc[block["center"] == "all", "n"].sum())
    return f"{title}\nn = {total} ({_by_centre(block)})"


def _excluded_text(flow: pd.DataFrame) -> str:
    ex = flow.loc[flow["stage"] == "excluded"]
    total = int(ex.loc[ex["center"] == "all", "n"].sum())
    lines = [f"Excluded n = {total}"]
    for rule, block in ex.groupby("rule", sort=False):
        overall = block.loc[block["center"] == "all"].iloc[0]
        if int(overall["n"]) == 0:
            continue
        unknown = f"; {int(overall['n_unknown'])} missing data" if overall["n_unknown"] else ""
        lines.append(f"• {overall['label']}: {int(overall['n'])} ({_by_centre(block)}{unknown})")
    return "\n".join(lines)


def plot_consort(flow: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Draw the CONSORT flow.

    Parameters
    ----------
    flow
        Tidy flow table (``EligibilityResult.flow``): ``cohort``, ``center`` (a centre or
        ``all``), ``stage`` (assessed / excluded / included), ``rule``, ``label``, ``n``,
        ``n_unknown``.
    ax
        Axes to draw on; a new figure sized to the number of cohorts when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes with one column of boxes per cohort; axis lines hidden.
    """
    import matplotlib.pyplot as plt

    missing = [c for c in FLOW_COLUMNS if c not in flow.columns]
    if missing:
        raise DataError(f"flow lacks columns {missing}; expected EligibilityResult.flow with "
                        f"{list(FLOW_COLUMNS)}.")
    cohorts = [c for c in ("retrospective", "prospective") if c in set(flow["cohort"])]
    cohorts += sorted(set(flow["cohort"]) - set(cohorts))
    if not cohorts:
        raise DataError("flow is empty: no patient was assessed, so there is nothing to draw.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5 * len(cohorts), 7.5))
    width = 1.0 / len(cohorts)
    box = dict(boxstyle="round,pad=0.5", facecolor="white", edgecolor="black", linewidth=1)
    arrow = dict(arrowstyle="-|>", color="black", linewidth=1)
    for i, cohort in enumerate(cohorts):
        part = flow.loc[flow["cohort"] == cohort]
        x = width * (i + 0.3)
        ax.text(x + 0.2 * width, 0.97, f"{cohort.capitalize()} cohort", ha="center", va="top",
                fontsize=11, fontweight="bold", transform=ax.transAxes)
        top = ax.text(x, 0.85, _box_text(part, stage="assessed", title="Assessed for eligibility"),
                      ha="center", va="center", fontsize=9, bbox=box, transform=ax.transAxes)
        side = ax.text(x + 0.12 * width, 0.52, _excluded_text(part), ha="left", va="center",
                       fontsize=8, bbox=box, transform=ax.transAxes)
        bottom = ax.text(x, 0.12, _box_text(part, stage="included", title="Included"),
                         ha="center", va="center", fontsize=9, bbox=box, transform=ax.transAxes)
        ax.annotate("", xy=(x, 0.18), xytext=(x, 0.79), xycoords="axes fraction",
                    arrowprops=arrow)
        ax.annotate("", xy=(x + 0.12 * width, 0.52), xytext=(x, 0.52), xycoords="axes fraction",
                    arrowprops=dict(arrowstyle="-|>", color="black", linewidth=1))
        for artist in (top, side, bottom):
            artist.set_gid(f"consort-{cohort}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_axis_off()
    return ax
