"""Shared look of every hccfusion figure: colour-blind-safe colours, fonts, response colours.

Colours follow the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), which stays
distinguishable under the common forms of colour-vision deficiency. Fonts and sizes are applied
through :func:`figure_context`, a ``matplotlib.rc_context``, so that drawing a figure never
changes the caller's global matplotlib settings. Nothing here imports matplotlib at import time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Okabe–Ito palette, ordered so the first colours contrast most on white.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

#: Colour of each tumour-response category (mRECIST / RECIST 1.1, domain.md §1.7).
RESPONSE_COLORS: dict[str, str] = {
    "CR": "#009E73",
    "PR": "#56B4E9",
    "SD": "#E69F00",
    "PD": "#D55E00",
    "NE": "#999999",
}

#: Order in which response categories are listed in legends.
RESPONSE_ORDER: tuple[str, ...] = ("CR", "PR", "SD", "PD", "NE")

#: Reference lines (diagonals, HR = 1, RECIST thresholds).
REFERENCE_COLOR = "#555555"
#: Treat-all / treat-none strategies of a decision curve.
STRATEGY_COLORS: dict[str, str] = {"all": "#7F7F7F", "none": "#000000"}
#: Transparency of confidence bands.
CI_ALPHA = 0.18

FONT_SIZE = 10
SMALL_FONT_SIZE = 8

#: Matplotlib settings used while a figure is drawn (see :func:`figure_context`).
RC_PARAMS: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["Arial", "Helvetica", "DejaVu Sans"],
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 1,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "legend.fontsize": FONT_SIZE - 1,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.6,
    "svg.fonttype": "none",  # keep text editable in SVG for journals
    "pdf.fonttype": 42,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
}


def figure_context() -> Any:
    """A context manager applying :data:`RC_PARAMS` while a figure is drawn.

    Returns
    -------
    contextlib.AbstractContextManager
        ``matplotlib.rc_context(RC_PARAMS)``; the caller's global settings are restored on exit.
    """
    import matplotlib

    return matplotlib.rc_context(RC_PARAMS)


def group_colors(groups: Sequence[str], colors: Mapping[str, str] | Sequence[str] | None = None
                 ) -> dict[str, str]:
    """Map each group to a colour.

    Parameters
    ----------
    groups
        Group labels, in drawing order.
    colors
        ``None`` (cycle through :data:`PALETTE`), a mapping group → colour (groups not in it take
        the palette colour of their position), or a sequence of colours used in order.

    Returns
    -------
    dict of str to str
        Colour of every group.

    Raises
    ------
    hccfusion.errors.UsageError
        If a colour sequence is shorter than the number of groups.
    """
    from hccfusion.errors import UsageError

    default = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    if colors is None:
        return default
    if isinstance(colors, Mapping):
        return {g: colors.get(g, default[g]) for g in groups}
    colors = list(colors)
    if len(colors) < len(groups):
        raise UsageError(f"The 'colors' parameter must give one colour per group ({len(groups)} "
                         f"groups: {list(groups)}). Got {len(colors)} colours instead.")
    return dict(zip(groups, colors))


def response_color(category: str) -> str:
    """Colour of a response category; unknown categories are drawn grey like NE."""
    return RESPONSE_COLORS.get(str(category).upper(), RESPONSE_COLORS["NE"])
