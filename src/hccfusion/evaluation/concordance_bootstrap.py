"""Vectorised patient-level percentile bootstrap of Harrell's C, paired across models (Efron &
Tibshirani 1993, ch. 13): the :class:`ConcordanceBootstrapResult` and
:func:`bootstrap_harrell_c`, which scores all resamples in the same passes of the counting core
(re-exported by :mod:`hccfusion.evaluation.concordance`). The general-purpose bootstrap lives in
:mod:`hccfusion.evaluation.bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation._concordance_counting import _event_counts, _prepare
from hccfusion.evaluation._concordance_inputs import (
    _check_confidence,
    _check_risk,
    _check_tol,
)
from hccfusion.evaluation.concordance_harrell import harrell_c
from hccfusion.evaluation.inputs import check_time_event

__all__ = ["ConcordanceBootstrapResult", "bootstrap_harrell_c"]


@dataclass(frozen=True)
class ConcordanceBootstrapResult:
    """Percentile bootstrap of Harrell's C for one or several models on shared resamples.

    Attributes
    ----------
    models : tuple of str
        Model names, in the column order of ``risk``.
    estimate : numpy.ndarray, shape (n_models,)
        Harrell's C on the full data.
    replicates : numpy.ndarray, shape (n_resamples, n_models)
        C on each resample (NaN where a resample has no comparable pair).
    ci_low, ci_high : numpy.ndarray, shape (n_models,)
        Percentile confidence limits.
    delta, delta_ci_low, delta_ci_high : numpy.ndarray, shape (n_models - 1,)
        ``C(model k) − C(model 0)`` for k ≥ 1 and its paired percentile interval (the same
        resamples are used for every model). Empty for a single model.
    confidence : float
        Confidence level of the intervals.
    n_resamples, seed : int
        Number of resamples and the seed of ``numpy.random.default_rng``.
    n_undefined : int
        Resamples without any comparable pair (ignored by the percentiles).
    """

    models: tuple[str, ...]
    estimate: np.ndarray
    replicates: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    delta: np.ndarray
    delta_ci_low: np.ndarray
    delta_ci_high: np.ndarray
    confidence: float
    n_resamples: int
    seed: int
    n_undefined: int

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per model (``quantity='c'``) and per contrast (``'delta_c'``)."""
        rows = [{"quantity": "c", "model": m, "reference": None, "estimate": float(self.estimate[k]),
                 "ci_low": float(self.ci_low[k]), "ci_high": float(self.ci_high[k])}
                for k, m in enumerate(self.models)]
        rows += [{"quantity": "delta_c", "model": m, "reference": self.models[0],
                  "estimate": float(self.delta[k - 1]), "ci_low": float(self.delta_ci_low[k - 1]),
                  "ci_high": float(self.delta_ci_high[k - 1])}
                 for k, m in enumerate(self.models) if k > 0]
        frame = pd.DataFrame(rows)
        frame["confidence"] = self.confidence
        frame["n_resamples"] = self.n_resamples
        return frame


def _resample_indices(n: int, n_resamples: int, rng: np.random.Generator,
                      strata: np.ndarray | None) -> np.ndarray:
    """Patient indices, shape (n_resamples, n); within-stratum draws keep stratum sizes."""
    if strata is None:
        return rng.integers(0, n, size=(n_resamples, n))
    parts = []
    for level in pd.unique(strata):
        members = np.flatnonzero(strata == level)
        parts.append(members[rng.integers(0, members.shape[0],
                                          size=(n_resamples, members.shape[0]))])
    return np.concatenate(parts, axis=1)


def _bootstrap_c_one(t: np.ndarray, e: np.ndarray, r: np.ndarray, tol: float,
                     order: np.ndarray, sorted_idx: np.ndarray) -> np.ndarray:
    """C on every resample; ``sorted_idx[b]`` holds resample b's sorted positions, ascending."""
    p = _prepare(t, e, r, tol, order=order)
    n_res, n = sorted_idx.shape
    offset = (np.arange(n_res, dtype=np.int64) * n)[:, None]
    key = (sorted_idx + offset).ravel()            # globally ascending
    flat = sorted_idx.ravel()
    values = p.rank[flat]
    is_ev = p.event[flat]
    ev = np.flatnonzero(is_ev)
    block = ev // n
    # the prefix of an event in its resample = draws sorted before its (time, event) block
    stop = np.searchsorted(key, p.prefix[flat[ev]] + block * n, side="left")
    fe = flat[ev]
    comparable, concordant, tied = _event_counts(values, p.n_bits, block * n, stop,
                                                 p.lo[fe], p.hi[fe], p.shared[fe])
    num = np.bincount(block, weights=concordant + 0.5 * tied, minlength=n_res)
    den = np.bincount(block, weights=comparable, minlength=n_res)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def bootstrap_harrell_c(*, time: Any, event: Any, risk: Any, n_resamples: int = 1000,
                        seed: int, strata: Any = None, confidence: float = 0.95,
                        model_names: Any = None, tied_tol: float = 1e-8
                        ) -> ConcordanceBootstrapResult:
    r"""Vectorised patient-level percentile bootstrap of Harrell's C, paired across models.

    Resample ``b`` draws ``n`` patients with replacement (``numpy.random.default_rng(seed)
    .integers(0, n, size=(n_resamples, n))``; with ``strata`` each stratum is resampled
    within itself, keeping its size). Every model is scored on the *same* resamples, so

    .. math::

        \Delta C^{*}_b = C^{*}_b(\text{model } k) - C^{*}_b(\text{model } 0)

    gives a paired interval for the difference in discrimination (domain.md §7.3). The
    interval is the percentile interval ``[q_{α/2}, q_{1−α/2}]`` of the replicates
    (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13). All resamples are
    scored together in O(B·n log n) vectorised work (see the module docstring).

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Days and observed flag, one row per patient (the patient is the resampling unit).
    risk : array-like, shape (n,) or (n, n_models)
        Risk (higher = worse) of one model, or one column per model. Column 0 is the
        reference of ``delta``.
    n_resamples : int, default 1000
    seed : int
        Seed of ``numpy.random.default_rng``.
    strata : array-like, shape (n,), optional
        Resample within these groups (e.g. hospital).
    confidence : float, default 0.95
    model_names : sequence of str, optional
        Names of the models (default ``model_0``, ``model_1``, …).
    tied_tol : float, default 1e-8

    Returns
    -------
    ConcordanceBootstrapResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.exponential(300, 200); e = rng.random(200) < 0.7; x = rng.normal(size=200)
    >>> res = bootstrap_harrell_c(time=t, event=e, risk=np.c_[x, -x], n_resamples=200, seed=1)
    >>> res.replicates.shape
    (200, 2)
    """
    func = "bootstrap_harrell_c"
    t, e = check_time_event(time, event, func)
    n = t.shape[0]
    r = _check_risk(risk, n, func, allow_2d=True)
    r2 = r[:, None] if r.ndim == 1 else r
    tol = _check_tol(tied_tol, func)
    conf = _check_confidence(confidence, func)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) \
            or n_resamples < 1:
        raise UsageError(f"The 'n_resamples' parameter of {func} must be a positive int. "
                         f"Got {n_resamples!r} instead.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise UsageError(f"The 'seed' parameter of {func} must be an int (runs record their "
                         f"seed). Got {seed!r} instead.")
    k = r2.shape[1]
    if model_names is None:
        names = tuple(f"model_{i}" for i in range(k))
    else:
        names = tuple(str(x) for x in model_names)
        if len(names) != k:
            raise UsageError(f"The 'model_names' parameter of {func} must name the {k} "
                             f"column(s) of 'risk'. Got {len(names)} name(s) instead.")
    s = None
    if strata is not None:
        s = np.asarray(strata)
        if s.shape != (n,):
            raise UsageError(f"The 'strata' parameter of {func} must have shape ({n},). "
                             f"Got {s.shape} instead.")
        if pd.isna(s).any():
            raise DataError(f"The 'strata' parameter of {func} has missing values; give every "
                            f"patient a stratum.")

    estimate = np.array([harrell_c(time=t, event=e, risk=r2[:, j], tied_tol=tol).c
                         for j in range(k)])
    rng = np.random.default_rng(int(seed))
    idx = _resample_indices(n, int(n_resamples), rng, s)
    order = np.lexsort((e, -t))
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    sorted_idx = np.sort(inverse[idx], axis=1)
    reps = np.column_stack([_bootstrap_c_one(t, e, r2[:, j], tol, order, sorted_idx)
                            for j in range(k)])
    undefined = np.isnan(reps).any(axis=1)
    q = [(1 - conf) / 2, 1 - (1 - conf) / 2]
    good = reps[~undefined]
    if good.shape[0] == 0:
        raise DataError(f"{func}: no resample has a comparable pair; C is undefined.")
    lo, hi = np.quantile(good, q, axis=0)
    deltas = good[:, 1:] - good[:, :1]
    if k > 1:
        dlo, dhi = np.quantile(deltas, q, axis=0)
    else:
        dlo = dhi = np.empty(0)
    return ConcordanceBootstrapResult(
        models=names, estimate=estimate, replicates=reps, ci_low=lo, ci_high=hi,
        delta=estimate[1:] - estimate[0], delta_ci_low=dlo, delta_ci_high=dhi,
        confidence=conf, n_resamples=int(n_resamples), seed=int(seed),
        n_undefined=int(undefined.sum()))
