"""SHAP values of the clinical variables (:func:`clinical_shap`): ``shap``'s permutation
explainer with an interventional masker over a background sample, per patient, with the columns
expanded by preprocessing summed back to their variable, and the checks of its matrices and
column groups. Re-exported by :mod:`hccfusion.mechanism.attribution`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from hccfusion.errors import UsageError, unknown_option

__all__ = ["clinical_shap"]


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
