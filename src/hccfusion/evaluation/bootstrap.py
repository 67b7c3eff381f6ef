"""Patient-level bootstrap with percentile intervals, and paired comparisons on the same resamples.

The patient is the unit (STYLE.md habit 14): ``patient_id``s are drawn with replacement, and all
rows of a drawn patient enter the resample (as many times as the patient was drawn). With
``strata`` (e.g. the centre), each stratum is resampled to its own size, so every resample keeps
the centre mix of the original cohort (stratified bootstrap, Davison & Hinkley 1997, §3.8).
Intervals are percentile intervals (Efron & Tibshirani 1993, §13.3).

Paired comparisons (domain.md §7.3: ΔC and ΔAUC(t) "with paired bootstrap CIs, same resamples for
both models") evaluate both models on the very same resamples; ``BootstrapResult.resamples``
can also be passed back to :func:`bootstrap` to reuse them for any other statistic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

__all__ = ["PatientResamples", "BootstrapResult", "PairedBootstrapResult", "resample_patients",
           "bootstrap", "paired_bootstrap"]


@dataclass(frozen=True)
class PatientResamples:
    """Bootstrap draws of patients.

    Attributes
    ----------
    patients
        Shape (n_patients,), the distinct patient ids in order of first appearance.
    indices
        Shape (n_resamples, n_patients), int; row b holds positions into ``patients`` drawn for
        resample b (stratum by stratum when stratified).
    seed
        The seed that generated them.
    strata
        Name of the stratifying column, or None.
    """

    patients: np.ndarray
    indices: np.ndarray
    seed: int
    strata: str | None

    @property
    def n_resamples(self) -> int:
        """Number of resamples."""
        return int(self.indices.shape[0])


@dataclass(frozen=True)
class BootstrapResult:
    """A statistic on the full data with its percentile bootstrap interval.

    Attributes
    ----------
    estimate
        The statistic on the original data.
    ci_low, ci_high
        Percentile interval of the finite replicates.
    confidence
        Nominal coverage.
    replicates
        Shape (n_resamples,), the statistic on each resample (NaN where it was undefined).
    n_failed
        Number of NaN replicates (e.g. resamples without an event); excluded from the interval.
    resamples
        The patient draws, to reuse for a paired comparison.
    """

    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    replicates: np.ndarray
    n_failed: int
    resamples: PatientResamples


@dataclass(frozen=True)
class PairedBootstrapResult:
    """Difference of a statistic between two models, bootstrapped on shared resamples.

    Attributes
    ----------
    model_a, model_b
        The compared models (as passed in ``models``).
    estimate_a, estimate_b
        The statistic of each model on the original data.
    difference
        ``estimate_a - estimate_b``.
    ci_low, ci_high
        Percentile interval of the paired differences.
    p_value
        Two-sided bootstrap p-value of Δ = 0: 2·min(P*(Δ ≤ 0), P*(Δ ≥ 0)), capped at 1.
    confidence
        Nominal coverage.
    replicates_a, replicates_b
        Shape (n_resamples,), the statistic of each model on each resample.
    n_failed
        Resamples where either model's statistic was NaN; excluded.
    resamples
        The patient draws shared by both models.
    """

    model_a: str
    model_b: str
    estimate_a: float
    estimate_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    confidence: float
    replicates_a: np.ndarray
    replicates_b: np.ndarray
    n_failed: int
    resamples: PatientResamples


def _check_frame(data: object, patient_col: str, strata: str | None, where: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise UsageError(f"The 'data' parameter of {where} must be a pandas DataFrame. "
                         f"Got {type(data).__name__} instead.")
    for col, what in ((patient_col, "patient_col"), (strata, "strata")):
        if col is not None and col not in data.columns:
            raise UsageError(f"The '{what}' parameter of {where} names column '{col}', which "
                             f"is not in 'data'. Available: {', '.join(map(str, data.columns))}")
    if data.empty:
        raise DataError(f"{where} got an empty table; there is nothing to resample.")
    if data[patient_col].isna().any():
        raise DataError(f"{where}: column '{patient_col}' has missing patient ids; every row "
                        "must belong to a patient.")


def resample_patients(*, data: pd.DataFrame, n_resamples: int, seed: int,
                      strata: str | None = None,
                      patient_col: str = "patient_id") -> PatientResamples:
    """Draw ``n_resamples`` patient-level bootstrap samples, all at once.

    Parameters
    ----------
    data
        One or more rows per patient.
    n_resamples
        Number of bootstrap samples B ≥ 1.
    seed
        Seed of ``numpy.random.default_rng``; equal seeds give equal draws.
    strata
        Optional column constant within a patient (e.g. ``"center"``); each stratum is
        resampled with replacement to its own size.
    patient_col
        Column holding the patient id.

    Returns
    -------
    PatientResamples
    """
    _check_frame(data, patient_col, strata, "resample_patients")
    if not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise UsageError("The 'n_resamples' parameter of resample_patients must be an int >= 1. "
                         f"Got {n_resamples!r} instead.")
    if not isinstance(seed, (int, np.integer)):
        raise UsageError("The 'seed' parameter of resample_patients must be an int. "
                         f"Got {seed!r} instead.")
    patients = pd.unique(data[patient_col])
    rng = np.random.default_rng(seed)
    b, n = int(n_resamples), patients.size
    if strata is None:
        idx = rng.integers(0, n, size=(b, n))
    else:
        per_patient = data.groupby(patient_col, sort=False)[strata].nunique(dropna=False)
        if (per_patient > 1).any():
            bad = per_patient[per_patient > 1].index[:3].tolist()
            raise DataError(f"resample_patients: stratum column '{strata}' varies within "
                            f"patients {bad}; a patient must sit in one stratum.")
        stratum_of = data.drop_duplicates(patient_col).set_index(patient_col)[strata]
        labels = stratum_of.reindex(patients).to_numpy()
        if pd.isna(labels).any():
            raise DataError(f"resample_patients: stratum column '{strata}' is missing for "
                            "some patients.")
        blocks = []
        for level in pd.unique(labels):
            positions = np.flatnonzero(labels == level)
            blocks.append(positions[rng.integers(0, positions.size, size=(b, positions.size))])
        idx = np.concatenate(blocks, axis=1)
    idx.setflags(write=False)
    return PatientResamples(patients=patients, indices=idx, seed=int(seed), strata=strata)


def _row_lookup(data: pd.DataFrame, patients: np.ndarray,
                patient_col: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of each patient as (rows sorted by patient position, start offsets, counts)."""
    pos = pd.Index(patients).get_indexer(data[patient_col])
    order = np.argsort(pos, kind="stable")
    counts = np.bincount(pos, minlength=patients.size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order, starts, counts


def _rows_for(draw: np.ndarray, order: np.ndarray, starts: np.ndarray,
              counts: np.ndarray) -> np.ndarray:
    if np.all(counts == 1):
        return order[draw]
    c = counts[draw]
    offsets = np.repeat(starts[draw] - np.concatenate([[0], np.cumsum(c)[:-1]]), c)
    return order[np.arange(c.sum()) + offsets]


def _check_resamples(resamples: PatientResamples, data: pd.DataFrame, patient_col: str,
                     where: str) -> None:
    current = pd.unique(data[patient_col])
    if current.size != resamples.patients.size or not np.array_equal(
            current.astype(object), resamples.patients.astype(object)):
        raise DataError(f"{where}: the 'resamples' were drawn for other patients than those in "
                        "'data'; draw them from the same table (same rows, same order).")


def _percentile(values: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _run(statistics: Sequence[Callable[[pd.DataFrame], float]], data: pd.DataFrame,
         resamples: PatientResamples, patient_col: str) -> np.ndarray:
    order, starts, counts = _row_lookup(data, resamples.patients, patient_col)
    out = np.empty((len(statistics), resamples.n_resamples))
    for b in range(resamples.n_resamples):
        frame = data.iloc[_rows_for(resamples.indices[b], order, starts, counts)]
        frame = frame.reset_index(drop=True)
        for k, stat in enumerate(statistics):
            out[k, b] = float(stat(frame))
    return out


def _check_confidence(confidence: float, where: str) -> None:
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise UsageError(f"The 'confidence' parameter of {where} must be a float in (0, 1). "
                         f"Got {confidence!r} instead.")


def bootstrap(statistic: Callable[[pd.DataFrame], float], *, data: pd.DataFrame,
              n_resamples: int = 1000, seed: int | None = None, strata: str | None = None,
              confidence: float = 0.95, patient_col: str = "patient_id",
              resamples: PatientResamples | None = None) -> BootstrapResult:
    """Patient-level bootstrap percentile interval of ``statistic(data)``.

    Efron & Tibshirani, An Introduction to the Bootstrap, 1993 (percentile interval, §13.3);
    patients (not rows) are the resampled units, stratified by ``strata`` when given.

    Parameters
    ----------
    statistic
        Maps a table like ``data`` to a float; may return NaN when undefined on a resample.
        In a resample, a patient drawn twice appears twice with the same ``patient_id``.
    data
        One or more rows per patient.
    n_resamples
        Number of bootstrap samples (domain.md §7.2: 500–1000).
    seed
        Seed of the draws; required unless ``resamples`` is given.
    strata
        Optional stratifying column (e.g. ``"center"``), constant within a patient.
    confidence
        Coverage of the interval, default 0.95.
    patient_col
        Column holding the patient id.
    resamples
        Draws from an earlier call on the same ``data`` to reuse (paired analyses);
        ``n_resamples``, ``seed`` and ``strata`` are then ignored.

    Returns
    -------
    BootstrapResult
    """
    _check_confidence(confidence, "bootstrap")
    _check_frame(data, patient_col, strata, "bootstrap")
    if resamples is None:
        if seed is None:
            raise UsageError("The 'seed' parameter of bootstrap must be an int (explicit "
                             "randomness). Got None instead.")
        resamples = resample_patients(data=data, n_resamples=n_resamples, seed=seed,
                                      strata=strata, patient_col=patient_col)
    else:
        _check_resamples(resamples, data, patient_col, "bootstrap")
    estimate = float(statistic(data))
    reps = _run([statistic], data, resamples, patient_col)[0]
    lo, hi = _percentile(reps, confidence)
    reps.setflags(write=False)
    return BootstrapResult(estimate=estimate, ci_low=lo, ci_high=hi, confidence=confidence,
                           replicates=reps, n_failed=int((~np.isfinite(reps)).sum()),
                           resamples=resamples)


def paired_bootstrap(statistic: Callable[[pd.DataFrame, str], float], *, data: pd.DataFrame,
                     models: Sequence[str], n_resamples: int = 1000, seed: int | None = None,
                     strata: str | None = None, confidence: float = 0.95,
                     patient_col: str = "patient_id",
                     resamples: PatientResamples | None = None) -> PairedBootstrapResult:
    """Paired patient-level bootstrap of Δ = statistic(model a) − statistic(model b).

    Both models are evaluated on every resample, so the interval of Δ accounts for the
    correlation between them (domain.md §7.3: ΔC, ΔAUC(t) with paired bootstrap CIs).

    Parameters
    ----------
    statistic
        ``statistic(frame, model) -> float``, e.g.
        ``lambda d, m: c_index(time=d.time, event=d.event, risk=d[m])``.
    data
        One or more rows per patient.
    models
        Exactly two model names (typically the risk columns), a then b.
    n_resamples, seed, strata, confidence, patient_col, resamples
        As in :func:`bootstrap`.

    Returns
    -------
    PairedBootstrapResult
    """
    _check_confidence(confidence, "paired_bootstrap")
    _check_frame(data, patient_col, strata, "paired_bootstrap")
    if isinstance(models, str) or len(models) != 2:
        raise UsageError("The 'models' parameter of paired_bootstrap must be a pair of model "
                         f"names (a, b). Got {models!r} instead.")
    a, b = models
    if resamples is None:
        if seed is None:
            raise UsageError("The 'seed' parameter of paired_bootstrap must be an int (explicit "
                             "randomness). Got None instead.")
        resamples = resample_patients(data=data, n_resamples=n_resamples, seed=seed,
                                      strata=strata, patient_col=patient_col)
    else:
        _check_resamples(resamples, data, patient_col, "paired_bootstrap")
    est_a, est_b = float(statistic(data, a)), float(statistic(data, b))
    reps = _run([lambda d: statistic(d, a), lambda d: statistic(d, b)], data, resamples,
                patient_col)
    ra, rb = reps[0], reps[1]
    delta = ra - rb
    ok = np.isfinite(delta)
    lo, hi = _percentile(delta, confidence)
    if ok.any():
        d = delta[ok]
        p = float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))))
    else:
        p = float("nan")
    ra.setflags(write=False)
    rb.setflags(write=False)
    return PairedBootstrapResult(model_a=str(a), model_b=str(b), estimate_a=est_a,
                                 estimate_b=est_b, difference=est_a - est_b, ci_low=lo,
                                 ci_high=hi, p_value=p, confidence=confidence, replicates_a=ra,
                                 replicates_b=rb, n_failed=int((~ok).sum()),
                                 resamples=resamples)
