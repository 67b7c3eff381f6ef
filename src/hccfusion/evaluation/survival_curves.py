"""Kaplan–Meier curves, median survival and median follow-up (domain.md §7.6).

- :func:`kaplan_meier`: product-limit estimate per group with pointwise log-log ("exponential
  Greenwood") confidence intervals, as a tidy table plus number-at-risk and landmark look-ups.
- :func:`median_survival`: median survival time per group with the Brookmeyer–Crowley CI on the
  log-log scale, following R ``survival``'s ``print.survfit`` / ``quantile.survfit``.
- :func:`reverse_km_followup`: median follow-up (with IQR) by the reverse Kaplan–Meier method.

All functions follow the package survival vocabulary: ``time`` in days, ``event`` bool (True =
observed), keyword-only arguments. Results are data; drawing is
:func:`hccfusion.reporting.figures` 's job.

References
----------
Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. JASA 1958;53:457–481.
Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data. Wiley 1980 (log-log CI).
Brookmeyer R, Crowley J. A confidence interval for the median survival time. Biometrics
1982;38:29–41.
Schemper M, Smith TL. A note on quantifying follow-up in studies of failure time. Control Clin
Trials 1996;17:343–346 (reverse Kaplan–Meier).

The estimate itself lives in :mod:`hccfusion.evaluation.kaplan_meier_estimate`, the median and
follow-up in :mod:`hccfusion.evaluation.survival_quantiles` and the argument checks (shared
with :mod:`hccfusion.evaluation.logrank`) in
:mod:`hccfusion.evaluation.survival_curve_inputs`; this module re-exports them.
"""

from __future__ import annotations

from hccfusion.evaluation.kaplan_meier_estimate import KaplanMeierResult, kaplan_meier
from hccfusion.evaluation.survival_curve_inputs import (  # noqa: F401 - re-exported for logrank
    ALL,
    _check_group,
    _check_survival,
)
from hccfusion.evaluation.survival_quantiles import (
    FollowUp,
    MedianSurvival,
    median_survival,
    reverse_km_followup,
)

__all__ = [
    "FollowUp",
    "KaplanMeierResult",
    "MedianSurvival",
    "kaplan_meier",
    "median_survival",
    "reverse_km_followup",
]
