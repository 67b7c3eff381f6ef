"""Validation of survival inputs shared by the evaluation functions: one vocabulary (``time``
in days, finite and ≥ 0; ``event`` bool or 0/1, True = observed) and one wording of errors.

The check itself lives in :mod:`hccfusion.io.survival_inputs` (the training layer's baselines
use it too); it is re-exported here under the name the evaluation modules import."""

from __future__ import annotations

from hccfusion.io.survival_inputs import check_time_event

__all__ = ["check_time_event"]
