"""Validation of survival inputs shared by the evaluation functions: one vocabulary (``time``
in days, finite and ≥ 0; ``event`` bool or 0/1, True = observed) and one wording of errors.

The check itself lives in :mod:`hccfusion.io.survival_inputs` (the training layer's baselines
use it too); it is re-exported here under the name the evaluation modules import. The
``confidence`` level check is shared here too."""

from __future__ import annotations

import numpy as np

from hccfusion.errors import UsageError
from hccfusion.io.survival_inputs import check_time_event

__all__ = ["check_confidence", "check_time_event"]


def check_confidence(confidence: float, func: str) -> float:
    """``confidence`` as a float in (0, 1), or a :class:`UsageError` naming ``func``."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)) \
            or not 0.0 < float(confidence) < 1.0:
        raise UsageError(f"The 'confidence' parameter of {func} must be a float in (0, 1). "
                         f"Got {confidence!r} instead.")
    return float(confidence)
