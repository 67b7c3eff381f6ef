"""Model comparison tables: discrimination per model, paired differences against a reference
model, and discrimination per modality-availability pattern (domain.md §7.3).

Inputs
------
``predictions`` is the long table written as ``predictions.parquet``: one row per
``model, split_id, cohort_label, endpoint, patient_id`` with ``risk``. For ``os`` / ``pfs`` the
risk is higher = worse; for ``orr`` the ``risk`` column holds **P(response)** (higher = more
likely to respond), so the ROC AUC is computed with responders as cases and ``risk`` as score.
Rows with a missing risk (e.g. a clinical score that could not be computed) are excluded and
counted in ``note``. Predictions of one cohort label are pooled over its splits (e.g. the outer
folds of internal cross-validation); a patient may therefore appear only once per
``model, endpoint, cohort_label`` — give overlapping evaluation sets distinct cohort labels.

``outcomes`` holds ``patient_id, os_time, os_event, pfs_time, pfs_event, orr`` (days, bool,
1/0/NaN). A patient with a missing outcome for an endpoint is not evaluable for it and is left out.

Statistics
----------
* ``harrell_c`` (os, pfs): Harrell's C (Harrell et al., JAMA 1982) by
  :func:`hccfusion.evaluation.concordance.harrell_c`. Its bootstrap replicates come from one
  matrix product per model over the resample multiplicities (``_bootstrap_harrell_pairs``,
  O(B·n²), pinned by a test to
  :func:`~hccfusion.evaluation.concordance.bootstrap_harrell_c`, which takes over above
  1,500 patients). 20 models × 3 endpoints × 3 cohorts × 1,000 resamples on 150 patients take
  about 1 s of CPU per table.
* ``roc_auc`` (orr): the Mann–Whitney AUC (ties ½) of
  :func:`hccfusion.evaluation.binary.roc_auc`; its bootstrap replicates are computed for all
  resamples at once from the resample multiplicities (O(B·n) per model, see ``_bootstrap_auc``).
* Intervals: patient-level percentile bootstrap (Efron & Tibshirani 1993, ch. 13). For a set of
  n patients (sorted by ``patient_id``) resample b draws
  ``numpy.random.default_rng(seed).integers(0, n, size=(n_resamples, n))[b]``, the draws of
  :func:`~hccfusion.evaluation.concordance.bootstrap_harrell_c` and of
  :func:`~hccfusion.evaluation.bootstrap.resample_patients`; every model evaluated on the same
  patient set therefore sees the *same* resamples. Resamples where the statistic is undefined
  (no comparable pair, one class) are excluded and counted in ``note``.
* Paired differences: Δ = metric(model) − metric(comparator) on the patients both models
  predicted, with the same resamples for both (paired bootstrap); the interval is the percentile
  interval of Δ*; the two-sided p-value is
  ``min(1, 2 · min((1 + #{Δ* ≤ 0}) / (B + 1), (1 + #{Δ* ≥ 0}) / (B + 1)))`` over the B defined
  resamples — the bootstrap achieved significance level of Efron & Tibshirani (1993, §16.4),
  with the Monte-Carlo "+1" of Davison & Hinkley (1997, §4.2.1) so that p is never reported as 0
  (its smallest value is 2 / (B + 1)).
* Too little information: a set with fewer than ``min_events`` events (os/pfs), or with fewer than
  ``min_events`` patients in the smaller class (orr; one class included), gives a row with NaN
  metric and an explanatory ``note`` instead of an error.

The grouping and row assembly shared by the three tables live in
:mod:`hccfusion.evaluation.model_table_rows`, the input checks in
:mod:`hccfusion.evaluation.model_table_inputs` and the bootstraps in
:mod:`hccfusion.evaluation.model_table_bootstrap`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option
from hccfusion.evaluation.bootstrap import _percentile
from hccfusion.evaluation.model_table_bootstrap import (  # noqa: F401 - bootstraps re-exported
    _bootstrap_auc, _bootstrap_harrell_pairs, _score_set,
)
from hccfusion.evaluation.model_table_inputs import (
    _check_options, _check_outcomes, _check_predictions, _require,
)
from hccfusion.evaluation.model_table_rows import (
    _METRIC, _frame, _join, _ordered, _performance_rows, _scored_groups, _undefined_note,
)

__all__ = ["PERFORMANCE_COLUMNS", "PAIRED_COLUMNS", "AVAILABILITY_COLUMNS",
           "performance_table", "paired_difference_table", "availability_pattern_table"]

#: Columns of :func:`performance_table`.
PERFORMANCE_COLUMNS = ("model", "endpoint", "cohort_label", "n", "n_events", "metric",
                       "estimate", "ci_low", "ci_high", "note")
#: Columns of :func:`paired_difference_table`.
PAIRED_COLUMNS = ("model", "comparator", "endpoint", "cohort_label", "n", "metric", "estimate",
                  "comparator_estimate", "delta", "ci_low", "ci_high", "p_value", "note")
#: Columns of :func:`availability_pattern_table`.
AVAILABILITY_COLUMNS = ("model", "endpoint", "cohort_label", "pattern", "n", "n_events",
                        "metric", "estimate", "ci_low", "ci_high", "note")


# --------------------------------------------------------------------------- public API


def performance_table(predictions: pd.DataFrame, outcomes: pd.DataFrame, *,
                      n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                      min_events: int = 10) -> pd.DataFrame:
    """Discrimination of every model per endpoint and cohort, with bootstrap intervals.

    Parameters
    ----------
    predictions
        Long table ``model, split_id, cohort_label, endpoint (os|pfs|orr), patient_id, risk``
        (for orr, ``risk`` = P(response)); extra columns are ignored.
    outcomes
        ``patient_id, os_time, os_event, pfs_time, pfs_event, orr`` (only the columns of the
        endpoints present in ``predictions`` are needed).
    n_resamples
        Patient bootstrap resamples B.
    seed
        Seed of the resamples (see the module docstring for the exact draws).
    confidence
        Coverage of the percentile intervals.
    min_events
        Fewest events (os/pfs) or patients of the smaller class (orr) to estimate the metric.

    Returns
    -------
    pandas.DataFrame
        One row per model × endpoint × cohort_label: ``model, endpoint, cohort_label, n``
        (patients with a risk and an evaluable outcome), ``n_events`` (events; responders for
        orr), ``metric`` (``"harrell_c"`` | ``"roc_auc"``), ``estimate, ci_low, ci_high, note``
        (``""`` when nothing to report).

    Raises
    ------
    UsageError
        Bad options.
    DataError
        Missing columns, unknown endpoint, a patient predicted twice for one model, endpoint and
        cohort label, a predicted patient without outcomes, invalid outcome values.
    """
    where = "performance_table"
    _check_options(n_resamples, seed, confidence, min_events, where)
    p = _check_predictions(predictions, where)
    o = _check_outcomes(outcomes, p, where)
    rows = _performance_rows(p, o, ["endpoint", "cohort_label"], n_resamples=int(n_resamples),
                             seed=int(seed), confidence=float(confidence),
                             min_events=int(min_events), where=where)
    return _frame(rows, PERFORMANCE_COLUMNS)


def availability_pattern_table(predictions: pd.DataFrame, outcomes: pd.DataFrame,
                               availability: pd.DataFrame, *, n_resamples: int = 1000,
                               seed: int = 0, confidence: float = 0.95,
                               min_events: int = 10) -> pd.DataFrame:
    """Discrimination of every model within each modality-availability pattern.

    Parameters
    ----------
    predictions, outcomes
        As :func:`performance_table`.
    availability
        ``patient_id, pattern`` — one pattern per patient, e.g.
        ``"clinical+radiomics+pathology"``; every predicted patient needs one.
    n_resamples, seed, confidence, min_events
        As :func:`performance_table`.

    Returns
    -------
    pandas.DataFrame
        One row per model × endpoint × cohort_label × pattern: ``model, endpoint,
        cohort_label, pattern, n, n_events, metric, estimate, ci_low, ci_high, note``.
    """
    where = "availability_pattern_table"
    _check_options(n_resamples, seed, confidence, min_events, where)
    p = _check_predictions(predictions, where)
    o = _check_outcomes(outcomes, p, where)
    _require(availability, "availability", ("patient_id", "pattern"), where)
    a = availability.loc[:, ["patient_id", "pattern"]].copy()
    if a["patient_id"].isna().any() or a["pattern"].isna().any():
        raise DataError(f"{where}: 'availability' has rows with a missing patient_id or "
                        "pattern.")
    a["patient_id"] = a["patient_id"].astype(str)
    a["pattern"] = a["pattern"].astype(str)
    a = a.drop_duplicates()
    dup = a["patient_id"].duplicated()
    if dup.any():
        pid = a["patient_id"][dup].iloc[0]
        pats = a.loc[a["patient_id"] == pid, "pattern"].tolist()
        raise DataError(f"{where}: patient {pid} has several availability patterns {pats}; "
                        "give one pattern per patient.")
    pattern = a.set_index("patient_id")["pattern"]
    unknown = pd.Index(pd.unique(p["patient_id"])).difference(pattern.index)
    if len(unknown):
        raise DataError(f"{where}: {len(unknown)} predicted patient(s) have no availability "
                        f"pattern, e.g. {', '.join(map(str, unknown[:3]))}.")
    p["pattern"] = pattern.reindex(p["patient_id"]).to_numpy()
    rows = _performance_rows(p, o, ["endpoint", "cohort_label", "pattern"],
                             n_resamples=int(n_resamples), seed=int(seed),
                             confidence=float(confidence), min_events=int(min_events),
                             where=where)
    return _frame(rows, AVAILABILITY_COLUMNS)


def _p_value(delta: np.ndarray) -> float:
    d = delta[np.isfinite(delta)]
    if d.size == 0:
        return float("nan")
    below = (1 + int((d <= 0).sum())) / (d.size + 1)
    above = (1 + int((d >= 0).sum())) / (d.size + 1)
    return float(min(1.0, 2 * min(below, above)))


def paired_difference_table(predictions: pd.DataFrame, outcomes: pd.DataFrame, *,
                            reference: str | Sequence[str],
                            comparators: Sequence[str] | None = None, n_resamples: int = 1000,
                            seed: int = 0, confidence: float = 0.95,
                            min_events: int = 10) -> pd.DataFrame:
    """Δ metric (reference model − comparator) with paired patient-bootstrap CI and p-value.

    For each endpoint and cohort label, both models are scored on the patients they both
    predicted (with an evaluable outcome), on the same resamples; see the module docstring for
    the interval and the p-value.

    Parameters
    ----------
    predictions, outcomes
        As :func:`performance_table`.
    reference
        The model (or models) whose advantage is measured, e.g. the default fusion model.
    comparators
        Models to compare against (default: every other model).
    n_resamples, seed, confidence, min_events
        As :func:`performance_table`.

    Returns
    -------
    pandas.DataFrame
        One row per reference × comparator × endpoint × cohort_label (where both have
        predictions): ``model`` (the reference), ``comparator, endpoint, cohort_label, n``
        (shared patients), ``metric, estimate`` (reference's metric on the shared patients),
        ``comparator_estimate, delta`` (estimate − comparator_estimate), ``ci_low, ci_high``
        (percentile interval of Δ), ``p_value`` (two-sided), ``note``.
    """
    where = "paired_difference_table"
    _check_options(n_resamples, seed, confidence, min_events, where)
    p = _check_predictions(predictions, where)
    o = _check_outcomes(outcomes, p, where)
    model_order = _ordered(p["model"])
    refs = [reference] if isinstance(reference, str) else list(reference)
    if not refs or not all(isinstance(r, str) for r in refs):
        raise UsageError(f"The 'reference' parameter of {where} must be a model name or a "
                         f"sequence of model names. Got {reference!r} instead.")
    for r in refs:
        if r not in model_order:
            raise unknown_option("reference model", r, tuple(model_order))
    if comparators is None:
        comps_all = list(model_order)
    else:
        if isinstance(comparators, str):
            raise UsageError(f"The 'comparators' parameter of {where} must be a sequence of "
                             f"model names. Got the string {comparators!r} instead.")
        comps_all = list(comparators)
        for c in comps_all:
            if c not in model_order:
                raise unknown_option("comparator model", str(c), tuple(model_order))
    rows: list[dict[str, Any]] = []
    for (_, cohort), endpoint, outcome, models, wide, _ in _scored_groups(
            p, o, ["endpoint", "cohort_label"], where):
        for ref in refs:
            comps = [c for c in comps_all if c != ref and c in models]
            if ref not in models or not comps:
                continue
            if ref not in wide.columns:
                ref_ok = np.zeros(len(wide), dtype=bool)
            else:
                ref_ok = wide[ref].notna().to_numpy()
            sets: dict[bytes, tuple[np.ndarray, list[str]]] = {}
            for c in comps:
                c_ok = wide[c].notna().to_numpy() if c in wide.columns else \
                    np.zeros(len(wide), dtype=bool)
                mask = ref_ok & c_ok
                sets.setdefault(mask.tobytes(), (mask, []))[1].append(c)
            for mask, cs in sets.values():
                nanrow = {"estimate": float("nan"), "comparator_estimate": float("nan"),
                          "delta": float("nan"), "ci_low": float("nan"),
                          "ci_high": float("nan"), "p_value": float("nan")}
                if not mask.any():
                    for c in cs:
                        rows.append({"model": ref, "comparator": c, "endpoint": endpoint,
                                     "cohort_label": cohort, "n": 0,
                                     "metric": _METRIC[endpoint], **nanrow,
                                     "note": "no shared patient with an evaluable outcome"})
                    continue
                res = _score_set(endpoint, outcome.loc[wide.index[mask]],
                                 wide.loc[mask, [ref, *cs]].to_numpy(),
                                 n_resamples=int(n_resamples), seed=int(seed),
                                 min_events=int(min_events))
                for j, c in enumerate(cs, start=1):
                    row = {"model": ref, "comparator": c, "endpoint": endpoint,
                           "cohort_label": cohort, "n": res.n, "metric": _METRIC[endpoint],
                           **nanrow, "note": res.note}
                    if res.replicates is not None:
                        delta = res.replicates[:, 0] - res.replicates[:, j]
                        lo, hi = _percentile(delta, float(confidence))
                        row.update(estimate=float(res.estimate[0]),
                                   comparator_estimate=float(res.estimate[j]),
                                   delta=float(res.estimate[0] - res.estimate[j]),
                                   ci_low=lo, ci_high=hi, p_value=_p_value(delta),
                                   note=_join(res.note, _undefined_note(delta)))
                    rows.append(row)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # empty-frame dtype inference
        return _frame(rows, PAIRED_COLUMNS)
