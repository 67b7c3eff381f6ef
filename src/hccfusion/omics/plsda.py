"""PLS-DA and OPLS-DA for two groups, with cross-validated Q², a permutation test and VIP.

Both models are fitted by NIPALS for a single response (PLS1), written here: the classes are
coded 0/1 (``order = (a, b)``: a → 0, b → 1). Q² is computed from stratified K-fold
cross-validation as ``Q² = 1 − PRESS / TSS`` with ``PRESS = Σ (y_i − ŷ_(−i))²`` over the held-out
predictions and ``TSS = Σ (y_i − ȳ)²`` (Wold, 1978; Eriksson et al., *Multi- and Megavariate
Data Analysis*, 2006). Centring and the optional scaling are learned inside each training fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option

__all__ = ["SCALINGS", "PLSDAResult", "OPLSDAResult", "PermutationResult", "plsda", "oplsda",
           "plsda_permutation_test"]

SCALINGS: tuple[str, ...] = ("pareto", "unit", "none")
MIN_PER_GROUP = 3


@dataclass(frozen=True)
class PLSDAResult:
    """A fitted PLS-DA model.

    Attributes
    ----------
    order : the two labels (coded 0, 1); n_components : int;
    r2x : float — share of X variance explained (after scaling); r2y : float — 1 − RSS/TSS of
    the fitted 0/1 coding; q2 : float — cross-validated, see module docstring;
    vip : Series — VIP per feature (Wold et al., 1993; Chong & Jun, 2005);
    scores : DataFrame — samples × ``t1``…; weights : DataFrame — features × ``w1``…;
    coef : Series — regression coefficient per (scaled) feature;
    folds : ndarray of int — the CV fold of each sample (reuse it for a reference computation).
    """

    order: tuple[str, str]
    n_components: int
    r2x: float
    r2y: float
    q2: float
    vip: pd.Series
    scores: pd.DataFrame
    weights: pd.DataFrame
    coef: pd.Series
    folds: np.ndarray


@dataclass(frozen=True)
class OPLSDAResult:
    """A fitted OPLS-DA model: one predictive and ``n_orthogonal`` orthogonal components.

    Attributes
    ----------
    r2y, q2 : as :class:`PLSDAResult`; predictive_scores : Series (``t_p``);
    orthogonal_scores : DataFrame (``t_o1``…); predictive_loadings : Series (``p_p``);
    correlation_loadings : Series — corr(x_j, t_p), the y-axis of an S-plot (Wiklund et al.,
    2008, Anal Chem 80:115); folds : ndarray of int.
    """

    order: tuple[str, str]
    n_orthogonal: int
    r2y: float
    q2: float
    predictive_scores: pd.Series
    orthogonal_scores: pd.DataFrame
    predictive_loadings: pd.Series
    correlation_loadings: pd.Series
    folds: np.ndarray


@dataclass(frozen=True)
class PermutationResult:
    """Permutation test of a PLS-DA model (Westerhuis et al., 2008, Metabolomics 4:81).

    ``p_value = (1 + #{Q²_perm ≥ Q²_obs}) / (1 + n_permutations)``.
    """

    q2: float
    r2y: float
    q2_permuted: np.ndarray
    r2y_permuted: np.ndarray
    n_permutations: int
    p_value: float


# --- core algebra -----------------------------------------------------------------------------

def _scale_params(x: np.ndarray, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    if scaling == "none":
        return mean, np.ones(x.shape[1])
    sd = x.std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    return mean, (np.sqrt(sd) if scaling == "pareto" else sd)


def _pls1(x: np.ndarray, y: np.ndarray, n_components: int) -> dict[str, np.ndarray]:
    """NIPALS PLS1 on centred ``x`` (n × p) and ``y`` (n,); exact in one pass for one response."""
    xr, yr = x.copy(), y.copy()
    w_all, p_all, q_all, t_all = [], [], [], []
    for _ in range(n_components):
        w = xr.T @ yr
        norm = np.linalg.norm(w)
        if norm == 0:
            raise DataError("PLS: X carries no information on y after deflation; use fewer "
                            "components.")
        w /= norm
        t = xr @ w
        tt = t @ t
        p = xr.T @ t / tt
        q = yr @ t / tt
        xr -= np.outer(t, p)
        yr -= q * t
        w_all.append(w), p_all.append(p), q_all.append(q), t_all.append(t)
    w, p = np.column_stack(w_all), np.column_stack(p_all)
    q, t = np.asarray(q_all), np.column_stack(t_all)
    coef = w @ np.linalg.solve(p.T @ w, q)
    return {"w": w, "p": p, "q": q, "t": t, "coef": coef}


def _vip(w: np.ndarray, q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """VIP_j = sqrt(J Σ_a SSY_a (w_ja/‖w_a‖)² / Σ_a SSY_a), SSY_a = q_a² t_aᵀt_a."""
    ssy = q ** 2 * (t ** 2).sum(axis=0)
    wn = w / np.linalg.norm(w, axis=0)
    return np.sqrt(w.shape[0] * (wn ** 2 @ ssy) / ssy.sum())


def _opls(x: np.ndarray, y: np.ndarray, n_orthogonal: int) -> dict[str, np.ndarray]:
    """OPLS for one response (Trygg & Wold, 2002, J Chemometrics 16:119), centred inputs."""
    xr = x.copy()
    w = x.T @ y / (y @ y)
    w /= np.linalg.norm(w)
    wo_all, po_all, to_all = [], [], []
    for _ in range(n_orthogonal):
        t = xr @ w
        p = xr.T @ t / (t @ t)
        wo = p - (w @ p) * w
        norm = np.linalg.norm(wo)
        if norm < 1e-12:
            raise DataError("OPLS: no orthogonal variation left; use fewer orthogonal "
                            "components.")
        wo /= norm
        to = xr @ wo
        po = xr.T @ to / (to @ to)
        xr -= np.outer(to, po)
        wo_all.append(wo), po_all.append(po), to_all.append(to)
    t = xr @ w
    c = y @ t / (t @ t)
    p = xr.T @ t / (t @ t)
    shape = (x.shape[1], 0)
    return {"w": w, "c": c, "p": p, "t": t,
            "wo": np.column_stack(wo_all) if wo_all else np.empty(shape),
            "po": np.column_stack(po_all) if po_all else np.empty(shape),
            "to": np.column_stack(to_all) if to_all else np.empty((x.shape[0], 0))}


def _opls_predict(model: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    xr = x.copy()
    for k in range(model["wo"].shape[1]):
        xr -= np.outer(xr @ model["wo"][:, k], model["po"][:, k])
    return (xr @ model["w"]) * model["c"]


def _cv_q2(x: np.ndarray, y: np.ndarray, folds: np.ndarray, *, kind: str, n: int,
           scaling: str) -> float:
    prediction = np.empty_like(y)
    for k in np.unique(folds):
        test = folds == k
        mean, scale = _scale_params(x[~test], scaling)
        xtr, xte = (x[~test] - mean) / scale, (x[test] - mean) / scale
        ymean = y[~test].mean()
        if kind == "pls":
            coef = _pls1(xtr, y[~test] - ymean, n)["coef"]
            prediction[test] = xte @ coef + ymean
        else:
            prediction[test] = _opls_predict(_opls(xtr, y[~test] - ymean, n), xte) + ymean
    press = float(((y - prediction) ** 2).sum())
    return 1.0 - press / float(((y - y.mean()) ** 2).sum())


# --- input checks -----------------------------------------------------------------------------

def _prepare(x: pd.DataFrame, groups: pd.Series, order, scaling: str, n_folds: int,
             seed: int, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(x, pd.DataFrame):
        raise UsageError(f"The 'x' parameter of {where} must be a pandas DataFrame (rows = "
                         f"samples, columns = features). Got {type(x).__name__} instead.")
    if not isinstance(groups, pd.Series):
        raise UsageError(f"The 'groups' parameter of {where} must be a pandas Series indexed "
                         f"like 'x'. Got {type(groups).__name__} instead.")
    if not (isinstance(order, (tuple, list)) and len(order) == 2 and order[0] != order[1]):
        raise UsageError(f"The 'order' parameter of {where} must be a tuple of two distinct "
                         f"group labels (coded 0, 1). Got {order!r} instead.")
    if scaling not in SCALINGS:
        raise unknown_option("scaling", str(scaling), SCALINGS)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise UsageError(f"The 'seed' parameter of {where} must be an integer. "
                         f"Got {seed!r} instead.")
    values = x.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        i, j = np.argwhere(~np.isfinite(values))[0]
        raise DataError(f"{where}: sample_id '{x.index[i]}', feature '{x.columns[j]}' is "
                        f"{float(values[i, j])!r}; impute and transform before modelling.")
    missing = x.index.difference(groups.index)
    if len(missing):
        raise DataError(f"sample_id '{missing[0]}' of 'x' has no entry in 'groups'.")
    g = groups.reindex(x.index)
    extra = [lab for lab in pd.unique(g) if lab not in order]
    if extra:
        raise DataError(f"'groups' holds label {extra[0]!r}, which is not one of "
                        f"order={tuple(order)!r}.")
    for label in order:
        n = int((g == label).sum())
        if n < MIN_PER_GROUP:
            raise DataError(f"group {label!r} has {n} samples; {where} needs at least "
                            f"{MIN_PER_GROUP} per group.")
    y = (g == order[1]).to_numpy(dtype=float)
    smallest = int(min(y.sum(), (1 - y).sum()))
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or \
            not 2 <= n_folds <= smallest:
        raise UsageError(f"The 'n_folds' parameter of {where} must be an integer in "
                         f"[2, {smallest}] (the smaller group's size). Got {n_folds!r} instead.")
    from sklearn.model_selection import StratifiedKFold

    folds = np.empty(len(y), dtype=int)
    splitter = StratifiedKFold(n_splits=int(n_folds), shuffle=True, random_state=int(seed))
    for k, (_, test) in enumerate(splitter.split(values, y)):
        folds[test] = k
    return values, y, folds


def _check_count(value: int, name: str, where: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or \
            not low <= value <= high:
        raise UsageError(f"The '{name}' parameter of {where} must be an integer in "
                         f"[{low}, {high}]. Got {value!r} instead.")


# --- public API -------------------------------------------------------------------------------

def plsda(x: pd.DataFrame, groups: pd.Series, *, order: tuple[str, str], n_components: int = 2,
          n_folds: int = 7, scaling: str = "pareto", seed: int = 0) -> PLSDAResult:
    """Two-group PLS-DA (NIPALS PLS1 on the 0/1 class coding) with cross-validated Q² and VIP.

    Parameters
    ----------
    x : pandas.DataFrame, shape (n_samples, n_features)
        Complete, log-transformed, *unscaled* values (e.g. ``log2`` of PQN-normalised
        intensities); centring and ``scaling`` are learned inside each CV training fold.
    groups : pandas.Series
        Label per sample (index ⊇ ``x.index``), both labels of ``order`` with ≥ 3 samples.
    order : (a, b)
        Coding: a → 0, b → 1 (e.g. ``("low", "high")``).
    n_components : int
        Latent components (1 ≤ k < n_samples).
    n_folds : int
        Stratified K-fold CV (domain.md §8.3: 7); at most the smaller group's size.
    scaling : {"pareto", "unit", "none"}
        Column scaling after centring: / sqrt(SD), / SD, or centring only.
    seed : int
        Seed of the fold assignment.
    """
    values, y, folds = _prepare(x, groups, order, scaling, n_folds, seed, "plsda")
    _check_count(n_components, "n_components", "plsda", 1, min(values.shape[0] - 1,
                                                                values.shape[1]))
    mean, scale = _scale_params(values, scaling)
    xs = (values - mean) / scale
    yc = y - y.mean()
    model = _pls1(xs, yc, n_components)
    fitted = xs @ model["coef"]
    t = model["t"]
    r2x = float(((t @ model["p"].T) ** 2).sum() / (xs ** 2).sum())
    comps = [f"t{i + 1}" for i in range(n_components)]
    return PLSDAResult(
        order=tuple(order), n_components=int(n_components), r2x=r2x,
        r2y=float(1.0 - ((yc - fitted) ** 2).sum() / (yc ** 2).sum()),
        q2=_cv_q2(values, y, folds, kind="pls", n=n_components, scaling=scaling),
        vip=pd.Series(_vip(model["w"], model["q"], t), index=x.columns, name="vip"),
        scores=pd.DataFrame(t, index=x.index, columns=comps),
        weights=pd.DataFrame(model["w"], index=x.columns,
                             columns=[f"w{i + 1}" for i in range(n_components)]),
        coef=pd.Series(model["coef"], index=x.columns, name="coef"), folds=folds)


def plsda_permutation_test(x: pd.DataFrame, groups: pd.Series, *, order: tuple[str, str],
                           n_permutations: int = 200, n_components: int = 2, n_folds: int = 7,
                           scaling: str = "pareto", seed: int = 0) -> PermutationResult:
    """Permutation test of PLS-DA Q² and R²Y (Westerhuis et al., 2008; Szymańska et al., 2012,
    Metabolomics 8:3).

    The class labels are permuted ``n_permutations`` times (``numpy.random.default_rng(seed)``)
    and the model refitted with the same folds; ``p = (1 + #{Q²_perm ≥ Q²_obs}) / (1 + n)``.
    Parameters as :func:`plsda`; domain.md §8.3 asks for ≥ 200 permutations.
    """
    values, y, folds = _prepare(x, groups, order, scaling, n_folds, seed,
                                "plsda_permutation_test")
    _check_count(n_components, "n_components", "plsda_permutation_test", 1,
                 min(values.shape[0] - 1, values.shape[1]))
    _check_count(n_permutations, "n_permutations", "plsda_permutation_test", 1, 100_000)
    mean, scale = _scale_params(values, scaling)
    xs = (values - mean) / scale

    def r2y(labels: np.ndarray) -> float:
        yc = labels - labels.mean()
        fitted = xs @ _pls1(xs, yc, n_components)["coef"]
        return float(1.0 - ((yc - fitted) ** 2).sum() / (yc ** 2).sum())

    q2 = _cv_q2(values, y, folds, kind="pls", n=n_components, scaling=scaling)
    rng = np.random.default_rng(seed)
    q2_perm = np.empty(n_permutations)
    r2y_perm = np.empty(n_permutations)
    for i in range(n_permutations):
        labels = rng.permutation(y)
        q2_perm[i] = _cv_q2(values, labels, folds, kind="pls", n=n_components, scaling=scaling)
        r2y_perm[i] = r2y(labels)
    p_value = (1 + int((q2_perm >= q2).sum())) / (1 + n_permutations)
    return PermutationResult(q2=q2, r2y=r2y(y), q2_permuted=q2_perm, r2y_permuted=r2y_perm,
                             n_permutations=int(n_permutations), p_value=float(p_value))


def oplsda(x: pd.DataFrame, groups: pd.Series, *, order: tuple[str, str], n_orthogonal: int = 1,
           n_folds: int = 7, scaling: str = "pareto", seed: int = 0) -> OPLSDAResult:
    """Two-group OPLS-DA: one predictive and ``n_orthogonal`` y-orthogonal components
    (Trygg & Wold, 2002, J Chemometrics 16:119; Bylesjö et al., 2006, J Chemometrics 20:341).

    The orthogonal components remove X variation uncorrelated with the class coding; for a
    single response the fitted values equal those of PLS with ``1 + n_orthogonal`` components.
    Parameters as :func:`plsda`; ``n_orthogonal`` ≥ 0.
    """
    values, y, folds = _prepare(x, groups, order, scaling, n_folds, seed, "oplsda")
    _check_count(n_orthogonal, "n_orthogonal", "oplsda", 0,
                 min(values.shape[0] - 2, values.shape[1] - 1))
    mean, scale = _scale_params(values, scaling)
    xs = (values - mean) / scale
    yc = y - y.mean()
    model = _opls(xs, yc, n_orthogonal)
    fitted = _opls_predict(model, xs)
    tp = model["t"]
    xc = xs - xs.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (xc.T @ (tp - tp.mean())) / (np.linalg.norm(xc, axis=0)
                                           * np.linalg.norm(tp - tp.mean()))
    return OPLSDAResult(
        order=tuple(order), n_orthogonal=int(n_orthogonal),
        r2y=float(1.0 - ((yc - fitted) ** 2).sum() / (yc ** 2).sum()),
        q2=_cv_q2(values, y, folds, kind="opls", n=n_orthogonal, scaling=scaling),
        predictive_scores=pd.Series(tp, index=x.index, name="t_p"),
        orthogonal_scores=pd.DataFrame(model["to"], index=x.index,
                                       columns=[f"t_o{i + 1}" for i in range(n_orthogonal)]),
        predictive_loadings=pd.Series(model["p"], index=x.columns, name="p_p"),
        correlation_loadings=pd.Series(corr, index=x.columns, name="p_corr"), folds=folds)
