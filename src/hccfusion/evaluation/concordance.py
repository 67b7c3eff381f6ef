"""Concordance indices: Harrell's C, Uno's IPCW C and a vectorised patient-level bootstrap of C
(domain.md §7.3).

Everything here speaks the package's survival vocabulary: ``time`` in days, ``event`` bool
(True = observed), ``risk`` higher = worse, keyword-only arguments.

Algorithm
---------
A pair (i, j) is *comparable* when the shorter time is an event: ``T_i < T_j`` and ``δ_i = 1``,
or ``T_i == T_j`` with ``δ_i = 1`` and ``δ_j = 0`` (an event is earlier than a censoring at the
same day; two events on the same day are not comparable). This is the convention of
scikit-survival's ``concordance_index_censored`` and of lifelines' ``concordance_index``.

Patients are sorted by (time descending, censored before events). For an event ``i`` the
patients it is comparable with are then exactly a *prefix* of that order, ending where the
events of its own day start. Counting concordant pairs becomes the 2-D dominance query
"how many of the first ``p_i`` patients have a risk below ``r_i``", answered for all events at
once by a wavelet matrix (Claude, Navarro & Ordóñez, *Inf. Syst.* 2015) over the risk ranks:
``⌈log2 n⌉`` levels, each a handful of vectorised O(n) numpy passes, so the whole index costs
O(n log n) without a Python loop over patients. The bootstrap concatenates all resamples into
one array and answers every resample's queries in the same passes.

Functions
---------
``harrell_c``            Harrell et al. (1982, *JAMA* 247:2543; 1996, *Stat Med* 15:361).
``uno_c``                Uno et al. (2011, *Stat Med* 30:1105), IPCW truncated at τ.
``bootstrap_harrell_c``  percentile bootstrap (Efron & Tibshirani 1993, ch. 13) of C and of ΔC
                         between models evaluated on the *same* resamples (paired comparison).

The general-purpose bootstrap lives in ``hccfusion.evaluation.bootstrap``; the C-specific one is
kept apart because it reuses the O(n log n) counting across all resamples at once.

Modules
-------
This module is the public entry point and re-exports: ``concordance_harrell`` (Harrell's C),
``concordance_uno`` (Uno's C), ``concordance_bootstrap`` (the bootstrap of C); the shared
argument checks live in ``_concordance_inputs``, the counting tree in ``_concordance_counting``
and the censoring Kaplan–Meier / IPCW weights in ``_censoring_km``.
"""

from __future__ import annotations

from hccfusion.evaluation._censoring_km import (  # noqa: F401 - re-exported for td_metrics
    _ipcw,
    _kaplan_meier,
)
from hccfusion.evaluation._concordance_inputs import (  # noqa: F401 - re-exported for td_metrics
    _check_risk,
    _check_tol,
)
from hccfusion.evaluation.concordance_bootstrap import (
    ConcordanceBootstrapResult,
    bootstrap_harrell_c,
)
from hccfusion.evaluation.concordance_harrell import HarrellC, harrell_c
from hccfusion.evaluation.concordance_uno import UnoC, uno_c

__all__ = ["HarrellC", "UnoC", "ConcordanceBootstrapResult", "harrell_c", "uno_c",
           "bootstrap_harrell_c"]
