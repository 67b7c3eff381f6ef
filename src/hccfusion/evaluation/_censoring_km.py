"""The Kaplan–Meier step function used for inverse probability of censoring weights: the
estimate of the event or of the censoring distribution Ĝ fitted on training patients, and the
``1 / Ĝ(T_i)`` weights of test events (shared by Uno's C and the time-dependent AUC and Brier
score)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hccfusion.errors import DataError


@dataclass(frozen=True)
class _StepSurvival:
    """Right-continuous Kaplan–Meier step function (``unique_time`` starts with -inf)."""

    unique_time: np.ndarray
    prob: np.ndarray

    def __call__(self, x: np.ndarray, *, strict: bool = True, what: str = "time") -> np.ndarray:
        x = np.asarray(x, dtype=float)
        beyond = x > self.unique_time[-1]
        if strict and self.prob[-1] > 0 and beyond.any():
            raise DataError(f"The Kaplan–Meier estimate is undefined after the last training "
                            f"time ({self.unique_time[-1]:g} days) but a {what} of "
                            f"{x[beyond].max():g} days needs it. Restrict the evaluation to "
                            f"the training follow-up.")
        out = np.zeros(x.shape, dtype=float)
        ok = ~beyond if strict else np.ones(x.shape, dtype=bool)
        idx = np.searchsorted(self.unique_time, x[ok], side="right") - 1
        # the -inf sentinel makes idx >= 0; scikit-survival matches within one ulp, exact here
        out[ok] = self.prob[np.maximum(idx, 0)]
        return out


def _kaplan_meier(t: np.ndarray, e: np.ndarray, *, reverse: bool) -> _StepSurvival:
    """KM of the event (``reverse=False``) or of the censoring distribution (``True``).

    For the censoring distribution the events of a day leave the risk set before the
    censorings of that day: ``Ĝ(t) = Π_{s ≤ t} (1 − c_s / (n_s − d_s))``, as scikit-survival's
    ``CensoringDistributionEstimator``; with no censoring ``Ĝ ≡ 1``.
    """
    uniq, inverse = np.unique(t, return_inverse=True)
    d = np.bincount(inverse, weights=e.astype(float), minlength=uniq.shape[0])
    total = np.bincount(inverse, minlength=uniq.shape[0]).astype(float)
    at_risk = total[::-1].cumsum()[::-1]
    if reverse:
        if e.all():
            return _StepSurvival(np.r_[-np.inf, uniq], np.ones(uniq.shape[0] + 1))
        num, den = total - d, at_risk - d
    else:
        num, den = d, at_risk
    ratio = np.divide(num, den, out=np.zeros_like(num), where=num != 0)
    return _StepSurvival(np.r_[-np.inf, uniq], np.r_[1.0, np.cumprod(1.0 - ratio)])


def _ipcw(train_t: np.ndarray, train_e: np.ndarray, t: np.ndarray, e: np.ndarray,
          func: str) -> tuple[_StepSurvival, np.ndarray]:
    """``1 / Ĝ(T_i)`` for events (0 for censored) with Ĝ fitted on the training data."""
    g = _kaplan_meier(train_t, train_e, reverse=True)
    w = np.zeros(t.shape[0])
    ghat = g(t[e], what="test event time")
    if (ghat == 0).any():
        bad = float(t[e][ghat == 0].min())
        raise DataError(f"{func}: the censoring survival Ĝ fitted on the training data is 0 at "
                        f"the test event time {bad:g} days, so its IPCW weight is infinite. "
                        f"Evaluate only up to a time where training patients remain under "
                        f"follow-up.")
    w[e] = 1.0 / ghat
    return g, w
