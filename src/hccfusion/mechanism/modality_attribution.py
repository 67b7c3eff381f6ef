"""Modality attributions: exact per-patient Shapley values of the modalities
(:func:`modality_shapley`, the game described in :mod:`hccfusion.mechanism.attribution`) and the
cohort metric with all modalities, each left out and each alone (:func:`modality_ablation`),
with the shared check of the modality list and :data:`MAX_MODALITIES`. Re-exported by
:mod:`hccfusion.mechanism.attribution`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

__all__ = ["modality_shapley", "modality_ablation", "MAX_MODALITIES"]

MAX_MODALITIES = 8
"""Exact enumeration costs ``2^M`` coalitions; more players than this are refused."""


def _modality_list(modalities: object, owner: str) -> list[str]:
    if isinstance(modalities, str) or not isinstance(modalities, Sequence):
        raise UsageError(f"The 'modalities' parameter of {owner} must be a sequence of modality "
                         f"names. Got {modalities!r} instead.")
    names = [str(m) for m in modalities]
    if not 1 <= len(names) <= MAX_MODALITIES or len(set(names)) != len(names):
        raise UsageError(f"The 'modalities' parameter of {owner} must hold 1 to "
                         f"{MAX_MODALITIES} distinct names. Got {names} instead.")
    return names


def _label(coalition: Sequence[str]) -> str:
    return "+".join(coalition)


# ------------------------------------------------------------------------------ modality Shapley

def _shapley_coefficients(n: int) -> np.ndarray:
    """Matrix ``C`` of shape (n, 2^n): ``φ = C @ v`` for a game ``v`` indexed by bitmask.

    φ_j = Σ_{S ∌ j} |S|! (n − |S| − 1)! / n! · (v(S ∪ {j}) − v(S)).
    """
    coef = np.zeros((n, 2**n))
    for mask in range(2**n):
        size = bin(mask).count("1")
        for j in range(n):
            if mask >> j & 1:   # v(S) with S = T ∪ {j}, |T| = size − 1
                coef[j, mask] += math.factorial(size - 1) * math.factorial(n - size) \
                    / math.factorial(n)
            else:               # −v(S) with j ∉ S
                coef[j, mask] -= math.factorial(size) * math.factorial(n - size - 1) \
                    / math.factorial(n)
    return coef


def _check_available(available: object, names: list[str]) -> pd.DataFrame:
    if not isinstance(available, pd.DataFrame):
        raise UsageError(f"The 'available' parameter of modality_shapley must be a boolean "
                         f"DataFrame (index patient_id, one column per modality). Got "
                         f"{type(available).__name__} instead.")
    missing = [m for m in names if m not in available.columns]
    if missing:
        raise UsageError(f"The 'available' parameter of modality_shapley must have a column per "
                         f"modality {names}. Got {list(available.columns)} instead (missing "
                         f"{missing}).")
    if not available.index.is_unique:
        dup = available.index[available.index.duplicated()].unique().tolist()
        raise DataError(f"'available' must have one row per patient_id; duplicated: {dup[:5]}.")
    frame = available[names]
    for m in names:
        values = frame[m]
        if values.isna().any() or not values.isin([True, False]).all():
            bad = values.index[values.isna() | ~values.isin([True, False])].tolist()
            raise DataError(f"'available' column {m!r} must be True/False; patient(s) "
                            f"{bad[:5]} hold {values.loc[bad[:5]].tolist()}.")
    frame = frame.astype(bool)
    none = frame.index[~frame.any(axis=1)].tolist()
    if none:
        raise DataError(f"every patient needs at least one available modality; patient(s) "
                        f"{none[:5]} have none of {names}.")
    return frame


def _check_reference(reference: object, index: pd.Index) -> np.ndarray:
    if isinstance(reference, pd.Series):
        absent = index.difference(reference.index)
        if len(absent):
            raise DataError(f"'reference' has no value for patient(s) {absent[:5].tolist()}.")
        ref = reference.loc[index].to_numpy(dtype=float)
    else:
        ref = np.asarray(reference, dtype=float)
        if ref.ndim == 0:
            ref = np.full(len(index), float(ref))
        if ref.shape != (len(index),):
            raise UsageError(f"The 'reference' parameter of modality_shapley must be a scalar, a "
                             f"Series indexed by patient_id or an array of shape "
                             f"({len(index)},). Got shape {ref.shape} instead.")
    if not np.isfinite(ref).all():
        bad = index[~np.isfinite(ref)].tolist()
        raise DataError(f"'reference' must be finite; patient(s) {bad[:5]} are not.")
    return ref


def modality_shapley(value_fn: Callable[[frozenset[str]], object], *,
                     modalities: Sequence[str], available: pd.DataFrame,
                     reference: float | Sequence[float] | np.ndarray | pd.Series) -> pd.DataFrame:
    """Exact per-patient Shapley values of the modalities.

    The game of patient *i* (see the module docstring): players are the modalities available
    to *i*; ``v_i(S) = value_fn(S)[i]`` for a non-empty ``S ⊆ A_i`` and ``v_i(∅) = reference_i``.
    ``φ_im = Σ_{S ⊆ A_i∖{m}} |S|!(|A_i|−|S|−1)!/|A_i|! · (v_i(S ∪ {m}) − v_i(S))`` for
    ``m ∈ A_i`` and ``φ_im = 0`` otherwise, so ``Σ_m φ_im = v_i(A_i) − reference_i`` exactly
    (up to floating-point rounding).

    Parameters
    ----------
    value_fn : callable
        ``value_fn(coalition: frozenset[str]) -> array [n]``: each patient's risk (higher =
        worse) when only the coalition's modalities are given to the model, in the row order of
        ``available``. Called once per distinct non-empty coalition that some patient can form
        (at most ``2^M − 1`` calls, never with the empty set). Entries of patients who lack one
        of the coalition's modalities are not read.
    modalities : sequence of str
        The M players (1 ≤ M ≤ :data:`MAX_MODALITIES`), e.g. ``net.modalities``.
    available : pandas.DataFrame
        Boolean, index ``patient_id``, one column per modality (others are ignored). Every
        patient needs at least one available modality.
    reference : float, array [n] or pandas.Series
        Worth of the empty coalition: a scalar (e.g. the mean training risk), an array in the row
        order of ``available``, or a Series indexed by ``patient_id``.

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id, modality, shapley``: n × M rows, patients in the order of
        ``available``, modalities in the given order; ``shapley`` in the units of the risk.

    Raises
    ------
    hccfusion.errors.UsageError
        Bad ``modalities``, ``available`` without a modality column, a wrong ``reference``
        shape, or a ``value_fn`` result of the wrong shape.
    hccfusion.errors.DataError
        Non-boolean availability, a patient with no modality, or a non-finite worth (naming
        the patient and the coalition).
    """
    names = _modality_list(modalities, "modality_shapley")
    frame = _check_available(available, names)
    ref = _check_reference(reference, frame.index)
    avail = frame.to_numpy()
    n = len(frame)

    patterns: dict[tuple[bool, ...], np.ndarray] = {}
    for key in map(tuple, avail):
        patterns.setdefault(key, np.flatnonzero((avail == key).all(axis=1)))
    needed: set[frozenset[str]] = set()
    for key in patterns:
        players = [m for m, a in zip(names, key) if a]
        for size in range(1, len(players) + 1):
            needed.update(frozenset(c) for c in combinations(players, size))

    worth: dict[frozenset[str], np.ndarray] = {}
    for coalition in sorted(needed, key=lambda c: (len(c), sorted(map(names.index, c)))):
        values = np.asarray(value_fn(coalition), dtype=float)
        if values.shape != (n,):
            raise UsageError(f"value_fn must return one risk per patient, shape ({n},). Got "
                             f"shape {values.shape} for the coalition "
                             f"{_label(sorted(coalition, key=names.index))!r}.")
        worth[coalition] = values

    phi = np.zeros((n, len(names)))
    for key, rows in patterns.items():
        cols = [j for j, a in enumerate(key) if a]
        players = [names[j] for j in cols]
        v = np.empty((len(rows), 2 ** len(players)))
        v[:, 0] = ref[rows]
        for mask in range(1, 2 ** len(players)):
            coalition = frozenset(p for b, p in enumerate(players) if mask >> b & 1)
            v[:, mask] = worth[coalition][rows]
            bad = ~np.isfinite(v[:, mask])
            if bad.any():
                raise DataError(f"value_fn returned a non-finite risk for patient "
                                f"{frame.index[rows[bad][0]]!r} with the coalition "
                                f"{_label(sorted(coalition, key=names.index))!r}.")
        phi[np.ix_(rows, cols)] = v @ _shapley_coefficients(len(players)).T

    return pd.DataFrame({"patient_id": np.repeat(frame.index.to_numpy(), len(names)),
                         "modality": np.tile(np.asarray(names, dtype=object), n),
                         "shapley": phi.ravel()})


# ---------------------------------------------------------------------------- modality ablation

def modality_ablation(metric_fn: Callable[[frozenset[str]], float], *,
                      modalities: Sequence[str]) -> pd.DataFrame:
    """A cohort metric with all modalities, each modality left out, and each alone.

    Parameters
    ----------
    metric_fn : callable
        ``metric_fn(coalition: frozenset[str]) -> float``, e.g. the C-index of the risks the
        model gives when only the coalition's modalities are passed. Called once per distinct
        non-empty coalition (never with the empty set).
    modalities : sequence of str
        The modalities (1 ≤ M ≤ :data:`MAX_MODALITIES`).

    Returns
    -------
    pandas.DataFrame
        Columns ``setting`` ("all", "without", "only"), ``modality`` (the one left out or kept;
        None for "all"), ``coalition`` (modalities joined by "+"), ``estimate`` (the metric) and
        ``delta`` (estimate − the "all" estimate). Rows: "all", then "without" per modality
        (skipped when M = 1: nothing would be left), then "only" per modality.
    """
    names = _modality_list(modalities, "modality_ablation")
    cache: dict[frozenset[str], float] = {}

    def metric(coalition: list[str]) -> float:
        key = frozenset(coalition)
        if key not in cache:
            value = metric_fn(key)
            try:
                cache[key] = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise UsageError(f"metric_fn must return a number. Got {value!r} for the "
                                 f"coalition {_label(coalition)!r}.") from None
        return cache[key]

    rows = [("all", None, names)]
    if len(names) > 1:
        rows += [("without", m, [k for k in names if k != m]) for m in names]
    rows += [("only", m, [m]) for m in names]
    out = pd.DataFrame([{"setting": s, "modality": m, "coalition": _label(c),
                         "estimate": metric(c)} for s, m, c in rows])
    out["delta"] = out["estimate"] - out["estimate"].iloc[0]
    return out

