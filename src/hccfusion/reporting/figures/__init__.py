"""Publication figures (data in, matplotlib Axes out; STYLE.md habit 9).

Every function takes plain tidy pandas DataFrames with documented columns — so any producer can
feed it — draws on ``ax`` (or a new figure) and returns the Axes. Computing the statistics and
assembling reports happen elsewhere. matplotlib is imported only when a figure is drawn.
"""

from hccfusion.reporting.figures.forest import plot_forest
from hccfusion.reporting.figures.km import plot_km
from hccfusion.reporting.figures.performance import (
    plot_calibration,
    plot_decision_curve,
    plot_td_roc,
)
from hccfusion.reporting.figures.response import plot_swimmer, plot_waterfall

__all__ = [
    "plot_calibration",
    "plot_decision_curve",
    "plot_forest",
    "plot_km",
    "plot_swimmer",
    "plot_td_roc",
    "plot_waterfall",
]
