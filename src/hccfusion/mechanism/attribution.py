"""Attributions: which modality, which clinical variable, which tile drives a patient's risk.

Everything here is model-agnostic: the caller passes functions (a masked-model risk, a cohort
metric, a predict function) and arrays, so nothing depends on the network's internals.

- :func:`modality_shapley` — exact Shapley values (Shapley 1953) of the modalities, per patient.
  The game of patient *i*: the players are the modalities *available* to *i*, ``A_i``; the worth
  of a coalition ``S ⊆ A_i`` is the model's risk for *i* when only the modalities in ``S`` are
  given (the caller masks the rest, as modality dropout trained the model to accept), and the
  worth of the empty coalition is ``reference`` (e.g. the mean training risk). A modality the
  patient lacks is not a player: its value is 0 and the available ones share the whole effect,
  ``Σ_m φ_im = v_i(A_i) − reference_i`` (efficiency). All ``2^|A_i|`` coalitions are enumerated,
  so the values are exact, and each distinct coalition is evaluated once for the whole cohort.
- :func:`modality_ablation` — a cohort metric (e.g. the C-index) with all modalities, each one
  left out and each one alone.
- :func:`clinical_shap` — SHAP values (Lundberg & Lee, NeurIPS 2017) of the clinical variables
  with ``shap``'s permutation explainer and an independent (interventional) masker over a
  background sample (Štrumbelj & Kononenko, Knowl Inf Syst 2014;41:647–665). Columns expanded
  by preprocessing (one-hot levels, missing indicators) are summed back to their variable, which
  keeps additivity.
- :func:`attention_table`, :func:`lesion_attention_table` — tidy attention-MIL weights (Ilse et
  al., ICML 2018) of a patient's tiles or lesions, ranked; defined in
  :mod:`hccfusion.mechanism.attention` and re-exported here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option
from hccfusion.mechanism.attention import attention_table, lesion_attention_table  # re-exported

__all__ = ["modality_shapley", "cohort_modality_importance", "modality_ablation",
           "clinical_shap", "cohort_shap_importance", "attention_table",
           "lesion_attention_table", "MAX_MODALITIES"]

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


def _importance(table: pd.DataFrame, *, key: str, value: str, owner: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame) or not {"patient_id", key, value} <= set(table):
        got = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
        raise UsageError(f"The 'table' parameter of {owner} must be a DataFrame with the columns "
                         f"['patient_id', '{key}', '{value}']. Got {got} instead.")
    by = [c for c in ("model",) if c in table.columns]
    summary = (table.assign(_abs=table[value].abs())
               .groupby(by + [key], sort=False)
               .agg(**{f"mean_abs_{value}": ("_abs", "mean"), f"mean_{value}": (value, "mean"),
                       "n_patients": ("patient_id", "nunique")})
               .reset_index())
    total = summary.groupby(by)[f"mean_abs_{value}"].transform("sum") if by \
        else summary[f"mean_abs_{value}"].sum()
    summary["share"] = summary[f"mean_abs_{value}"] / total
    order = by + [f"mean_abs_{value}"]
    return summary.sort_values(order, ascending=[True] * len(by) + [False], kind="stable") \
        .reset_index(drop=True)


def cohort_modality_importance(table: pd.DataFrame) -> pd.DataFrame:
    """Cohort summary of :func:`modality_shapley`.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``patient_id, modality, shapley`` (and optionally ``model``: one summary per
        model).

    Returns
    -------
    pandas.DataFrame
        Columns ``[model,] modality, mean_abs_shapley, mean_shapley, n_patients, share``, sorted
        by decreasing ``mean_abs_shapley`` (within model). Means run over all patients, a
        missing modality counting 0; ``share`` = mean |φ| / Σ over modalities of mean |φ|.
    """
    return _importance(table, key="modality", value="shapley",
                       owner="cohort_modality_importance")


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


# --------------------------------------------------------------------------------- clinical SHAP

def _as_matrix(data: object, name: str, width: int | None) -> np.ndarray:
    matrix = np.asarray(data.to_numpy() if isinstance(data, pd.DataFrame) else data, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or (width is not None
                                                     and matrix.shape[1] != width):
        want = f"[n, {width}]" if width is not None else "[n, p]"
        raise UsageError(f"The '{name}' parameter of clinical_shap must be a non-empty 2-D "
                         f"array {want}. Got shape {matrix.shape} instead.")
    return matrix


def _variable_of(names: list[str], groups: Mapping[str, str] | None) -> list[str]:
    groups = dict(groups or {})
    for column in groups:
        if column not in names:
            raise unknown_option("expanded column in 'groups' of clinical_shap", column, names)
    return [str(groups.get(c, c)) for c in names]


def clinical_shap(predict_fn: Callable[[np.ndarray], object], *, X: np.ndarray | pd.DataFrame,
                  background: np.ndarray | pd.DataFrame,
                  feature_names: Sequence[str] | None = None,
                  groups: Mapping[str, str] | None = None,
                  patient_ids: Sequence[object] | None = None,
                  values: pd.DataFrame | None = None, n_samples: int | None = None,
                  max_background: int = 100, seed: int = 0) -> pd.DataFrame:
    """SHAP values of the clinical variables, per patient, summed over expanded columns.

    Uses ``shap.PermutationExplainer`` with an ``Independent`` masker: the interventional
    game ``v_x(S) = E_b[f(x_S, b_{S̄})]`` over the background rows ``b``; antithetic random
    permutations, exact for additive models (for a linear ``f`` with weights ``w``,
    ``SHAP_j = w_j (x_j − mean_b b_j)``). Additivity holds per patient:
    ``Σ_j SHAP_ij = f(x_i) − mean_b f(b)``.

    Parameters
    ----------
    predict_fn : callable
        ``predict_fn(array [k, p] float) -> array [k]``: the risk from the preprocessed
        clinical matrix, columns in ``feature_names`` order, other inputs held fixed.
    X : array [n, p] or pandas.DataFrame
        The patients to explain (a DataFrame: index ``patient_id``, columns the features).
    background : array [b, p] or pandas.DataFrame
        Reference patients (training patients); more than ``max_background`` rows are sampled
        down with ``seed``.
    feature_names : sequence of str, optional
        The p expanded column names (e.g. ``TabularPreprocessor.feature_names_out_``); default
        the columns of a DataFrame ``X`` (required for an array).
    groups : mapping of str to str, optional
        Expanded column → original variable (e.g. ``"etiology=HBV" → "etiology"``,
        ``"afp_ng_ml__missing" → "afp_ng_ml"``); unlisted columns are their own variable.
    patient_ids : sequence, optional
        One id per row of ``X``; default the index of a DataFrame ``X`` (required for an
        array).
    values : pandas.DataFrame, optional
        Raw values to show (index ``patient_id``, one column per variable). Without it,
        ``value`` is the (preprocessed) column value for one-column variables and NaN for
        grouped ones.
    n_samples : int, optional
        Model evaluations per patient (shap ``max_evals``, each over the background), at least
        ``2 p + 1``; default ``10 (2 p + 1)``.
    max_background : int
        Background rows kept (default 100).
    seed : int
        Seeds the background sample and the permutations (the global NumPy state is restored).

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id, variable, shap, value``: patients in input order, variables in
        order of first appearance in ``feature_names``. ``value`` is float, or str if
        ``values`` holds text.

    Raises
    ------
    hccfusion.errors.UsageError
        ``shap`` not installed (install hint), bad shapes or names, too small ``n_samples``.
    """
    try:
        with warnings.catch_warnings():   # shap's plotting colours warn at import
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            import shap
    except ImportError:
        raise UsageError("clinical_shap needs the 'shap' package. Install it with "
                         "pip install 'hccfusion[models]'.") from None

    x = _as_matrix(X, "X", None)
    p = x.shape[1]
    if feature_names is None:
        if not isinstance(X, pd.DataFrame):
            raise UsageError("The 'feature_names' parameter of clinical_shap must be given when "
                             "X is an array. Got None instead.")
        feature_names = [str(c) for c in X.columns]
    names = [str(c) for c in feature_names]
    if len(names) != p or len(set(names)) != p:
        raise UsageError(f"The 'feature_names' parameter of clinical_shap must hold {p} distinct "
                         f"names (one per column of X). Got {len(names)} ({len(set(names))} "
                         f"distinct) instead.")
    if patient_ids is None:
        if not isinstance(X, pd.DataFrame):
            raise UsageError("The 'patient_ids' parameter of clinical_shap must be given when X "
                             "is an array (or pass X as a DataFrame indexed by patient_id). Got "
                             "None instead.")
        patient_ids = list(X.index)
    ids = list(patient_ids)
    if len(ids) != x.shape[0]:
        raise UsageError(f"The 'patient_ids' parameter of clinical_shap must hold {x.shape[0]} "
                         f"ids (one per row of X). Got {len(ids)} instead.")
    bg = _as_matrix(background, "background", p)
    if not (np.isfinite(x).all() and np.isfinite(bg).all()):
        raise UsageError("X and background must be finite (preprocessed: imputed and "
                         "standardised).")
    variables = _variable_of(names, groups)
    min_evals = 2 * p + 1
    n_samples = 10 * min_evals if n_samples is None else n_samples
    if not isinstance(n_samples, (int, np.integer)) or n_samples < min_evals:
        raise UsageError(f"The 'n_samples' parameter of clinical_shap must be an integer >= "
                         f"2 p + 1 = {min_evals}. Got {n_samples!r} instead.")
    if not isinstance(max_background, (int, np.integer)) or max_background < 1:
        raise UsageError(f"The 'max_background' parameter of clinical_shap must be a positive "
                         f"integer. Got {max_background!r} instead.")

    rng = np.random.default_rng(seed)
    if len(bg) > max_background:
        bg = bg[np.sort(rng.choice(len(bg), size=max_background, replace=False))]

    def model(batch: np.ndarray) -> np.ndarray:
        out = np.asarray(predict_fn(np.asarray(batch, dtype=float)), dtype=float).reshape(-1)
        if out.shape != (len(batch),):
            raise UsageError(f"predict_fn must return one risk per row, shape ({len(batch)},). "
                             f"Got shape {out.shape} instead.")
        return out

    state = np.random.get_state()   # shap's permutation explainer draws from the global state
    try:
        explainer = shap.PermutationExplainer(
            model, shap.maskers.Independent(bg, max_samples=len(bg)),
            seed=int(rng.integers(2**31 - 1)))
        explanation = explainer(x, max_evals=int(n_samples), silent=True)
    finally:
        np.random.set_state(state)
    per_column = np.asarray(explanation.values, dtype=float).reshape(x.shape)

    order = list(dict.fromkeys(variables))
    member = np.array([[v == var for v in variables] for var in order], dtype=float)  # [V, p]
    shap_values = per_column @ member.T
    single = {var: names[variables.index(var)] for var in order if variables.count(var) == 1}
    value = np.full((len(ids), len(order)), np.nan, dtype=object)
    for k, var in enumerate(order):
        if values is not None and var in values.columns:
            value[:, k] = values[var].reindex(ids).to_numpy(dtype=object)
        elif var in single:
            value[:, k] = x[:, names.index(single[var])]
    flat = pd.Series(value.ravel(), dtype=object)
    numeric = pd.to_numeric(flat, errors="coerce")
    flat = numeric if (numeric.notna() | flat.isna()).all() \
        else flat.map(lambda v: None if pd.isna(v) else str(v))
    return pd.DataFrame({"patient_id": np.repeat(np.asarray(ids, dtype=object), len(order)),
                         "variable": np.tile(np.asarray(order, dtype=object), len(ids)),
                         "shap": shap_values.ravel(), "value": flat.to_numpy()})


def cohort_shap_importance(table: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| per variable over patients (the usual SHAP bar chart), sorted.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``patient_id, variable, shap`` (and optionally ``model``).

    Returns
    -------
    pandas.DataFrame
        Columns ``[model,] variable, mean_abs_shap, mean_shap, n_patients, share``, sorted by
        decreasing ``mean_abs_shap`` (within model).
    """
    return _importance(table, key="variable", value="shap", owner="cohort_shap_importance")
