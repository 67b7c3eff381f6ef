"""Which biology goes with the model's risk: every per-patient score against the risk.

:func:`risk_associations` correlates the continuous risk (higher = worse) with each score — a
pathway score, an immune-population estimate, an IHC or flow read-out, a metabolite — and
returns one tidy table with Benjamini–Hochberg q-values over all features and within each kind
(domain.md §8.4: FDR within each omics layer). With covariates (the centre) the correlation is
the partial Spearman correlation: risk, feature and numeric covariates are ranked, risk and
feature ranks are regressed on the covariates (text columns as indicator variables) and the
residuals correlated; its test is the t-test of a partial correlation with
``n − 2 − k`` degrees of freedom (``k`` covariate columns), as in R's ``ppcor`` (Kim 2015,
*Commun Stat Appl Methods* 22:665). Confidence intervals use Fisher's z with the Spearman
variance ``1.06 / (n − 3 − k)`` (Fieller, Hartley & Pearson 1957, *Biometrika* 44:470).

:func:`risk_group_comparison` compares the scores between the frozen risk groups: Wilcoxon
rank-sum by :func:`hccfusion.omics.multiple_testing.compare_groups`, or, with covariates, the
centre-adjusted tests of :mod:`hccfusion.omics.adjusted_tests` when that module is installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option

__all__ = ["ASSOCIATION_COLUMNS", "METHODS", "risk_associations", "risk_group_comparison"]

METHODS: tuple[str, ...] = ("spearman",)
ASSOCIATION_COLUMNS: tuple[str, ...] = ("feature", "kind", "n", "rho", "ci_low", "ci_high",
                                        "p_value", "q_value", "q_value_within_kind",
                                        "adjusted_for")
_MIN_N_EXTRA = 3  # need n > 3 + k for a finite CI and >= 1 residual degree of freedom


def _kinds_for(columns: pd.Index, kinds: Mapping[str, str] | pd.Series) -> pd.Series:
    if isinstance(kinds, pd.Series):
        lookup = kinds
    elif isinstance(kinds, Mapping):
        lookup = pd.Series(dict(kinds), dtype=object)
    else:
        raise UsageError("The 'kinds' parameter of risk_associations must be a mapping or Series "
                         f"feature -> kind. Got {type(kinds).__name__} instead.")
    missing = [c for c in columns if c not in lookup.index]
    if missing:
        raise DataError(f"{len(missing)} score column(s) have no kind (e.g. "
                        f"{', '.join(map(str, missing[:5]))}); give every feature a kind such as "
                        "'pathway', 'immune_population', 'ihc', 'flow' or 'metabolite'.")
    return lookup.reindex(columns).astype(str)


def _design(covariates: pd.DataFrame | None, index: pd.Index, caller: str) -> pd.DataFrame:
    """Covariates as a numeric matrix (ranked numeric columns, indicator columns for text)."""
    if covariates is None:
        return pd.DataFrame(index=index)
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame()
    if not isinstance(covariates, pd.DataFrame):
        raise UsageError(f"The 'covariates' parameter of {caller} must be a DataFrame (or Series) "
                         f"indexed like the scores, or None. Got {type(covariates).__name__} "
                         "instead.")
    missing = index.difference(covariates.index)
    if len(missing):
        raise DataError(f"{len(missing)} patient(s) have no covariates (e.g. "
                        f"{', '.join(map(str, missing[:5]))}).")
    cov = covariates.reindex(index)
    parts = []
    for name in cov.columns:
        col = cov[name]
        if col.isna().any():
            raise DataError(f"Covariate '{name}' is missing for {col.index[col.isna()][0]}.")
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            parts.append(col.rank().astype(float).rename(str(name)).to_frame())
        else:
            parts.append(pd.get_dummies(col.astype(str), prefix=str(name), drop_first=True,
                                        dtype=float))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=index)


def _residuals(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(y)), x]) if x.size else np.ones((len(y), 1))
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    return y - design @ beta


def _partial_spearman(r: np.ndarray, f: np.ndarray, z: np.ndarray) -> tuple[float, int]:
    """Correlation of rank residuals and the number of covariate columns kept (full rank)."""
    from scipy.stats import rankdata

    rr, rf = rankdata(r), rankdata(f)
    k = 0
    if z.size:
        z = z[:, np.ptp(z, axis=0) > 0]  # a covariate constant in this subset carries nothing
        k = int(np.linalg.matrix_rank(np.column_stack([np.ones(len(r)), z]))) - 1 if z.size else 0
    er, ef = _residuals(rr, z), _residuals(rf, z)
    denom = np.sqrt((er ** 2).sum() * (ef ** 2).sum())
    if denom <= 1e-12:
        return float("nan"), k
    return float(np.clip((er * ef).sum() / denom, -1.0, 1.0)), k


def risk_associations(risk: pd.Series, scores: pd.DataFrame, *,
                      kinds: Mapping[str, str] | pd.Series,
                      covariates: pd.DataFrame | pd.Series | None = None,
                      method: str = "spearman", min_n: int = 8) -> pd.DataFrame:
    """Spearman (or partial Spearman) correlation of every score with the continuous risk.

    Parameters
    ----------
    risk : pandas.Series
        Continuous risk per patient (index ``patient_id``; higher = worse).
    scores : pandas.DataFrame, shape (n_patients, n_features)
        Per-patient scores, index ``patient_id``; NaN = not measured (dropped per feature).
    kinds : mapping or Series
        Feature -> kind (``pathway``, ``immune_population``, ``ihc``, ``flow``,
        ``metabolite``…); every score column needs one.
    covariates : pandas.DataFrame or Series, optional
        Adjustment variables per patient (e.g. ``center``); text columns become indicator
        variables, numeric columns are ranked.
    method : {'spearman'}
        Correlation measure.
    min_n : int
        A feature measured in fewer patients (after dropping NaN) gets NaN rho and p.

    Returns
    -------
    pandas.DataFrame
        :data:`ASSOCIATION_COLUMNS`, one row per feature, sorted by ``p_value``: ``n``
        (patients used), ``rho`` (positive = higher in high-risk patients), its 95 % CI,
        ``p_value`` (two-sided), ``q_value`` (BH over every tested feature),
        ``q_value_within_kind`` (BH within its kind), ``adjusted_for`` (covariate names, ''
        when none).

    Raises
    ------
    UsageError
        If an argument has the wrong type or ``method`` is unknown.
    DataError
        If a score has no kind, a patient lacks a covariate, the risk has no patient in common
        with the scores or a score column is not numeric.
    """
    from scipy import stats

    from hccfusion.omics.multiple_testing import bh_fdr

    if method not in METHODS:
        raise unknown_option("association method", str(method), METHODS)
    if not isinstance(risk, pd.Series):
        raise UsageError("The 'risk' parameter of risk_associations must be a pandas Series "
                         f"(patient_id -> risk). Got {type(risk).__name__} instead.")
    if not isinstance(scores, pd.DataFrame):
        raise UsageError("The 'scores' parameter of risk_associations must be a pandas DataFrame "
                         f"(patients x features). Got {type(scores).__name__} instead.")
    if isinstance(min_n, bool) or not isinstance(min_n, (int, np.integer)) or min_n < 4:
        raise UsageError("The 'min_n' parameter of risk_associations must be an integer >= 4. "
                         f"Got {min_n!r} instead.")
    for frame, name in ((risk, "risk"), (scores, "scores")):
        if not frame.index.is_unique:
            raise DataError(f"patient_id '{frame.index[frame.index.duplicated()][0]}' appears "
                            f"more than once in '{name}'.")
    risk = pd.to_numeric(risk, errors="coerce").dropna()
    common = scores.index.intersection(risk.index)
    if len(common) == 0:
        raise DataError("The risk and the scores share no patient_id; check that both are "
                        "indexed by patient_id.")
    kind_of = _kinds_for(scores.columns, kinds)
    design = _design(covariates, common, "risk_associations")
    adjusted = ", ".join(map(str, covariates.columns)) if isinstance(covariates, pd.DataFrame) \
        else (str(covariates.name) if isinstance(covariates, pd.Series) else "")
    r_all = risk.reindex(common).to_numpy(float)
    z_all = design.to_numpy(float)
    rows = []
    for feature in scores.columns:
        col = pd.to_numeric(scores.loc[common, feature], errors="coerce")
        if col.notna().sum() < scores.loc[common, feature].notna().sum():
            raise DataError(f"score '{feature}' holds non-numeric values.")
        ok = col.notna().to_numpy()
        n = int(ok.sum())
        rho = p = lo = hi = float("nan")
        f = col.to_numpy(float)[ok]
        if n >= min_n and np.ptp(f) > 0:
            rho, k = _partial_spearman(r_all[ok], f, z_all[ok] if z_all.size else z_all)
            dof = n - 2 - k
            if np.isfinite(rho) and dof >= 1 and n - 3 - k > 0:
                t = rho * np.sqrt(dof / max(1.0 - rho ** 2, 1e-300))
                p = float(2 * stats.t.sf(abs(t), dof))
                zf = np.arctanh(np.clip(rho, -0.999999, 0.999999))
                half = stats.norm.ppf(0.975) * np.sqrt(1.06 / (n - 3 - k))
                lo, hi = float(np.tanh(zf - half)), float(np.tanh(zf + half))
        rows.append({"feature": str(feature), "kind": kind_of[feature], "n": n, "rho": rho,
                     "ci_low": lo, "ci_high": hi, "p_value": p})
    out = pd.DataFrame(rows, columns=list(ASSOCIATION_COLUMNS[:7]))
    out["q_value"] = bh_fdr(out["p_value"].to_numpy(float)) if len(out) else []
    out["q_value_within_kind"] = np.nan
    for _, idx in out.groupby("kind").groups.items():
        out.loc[idx, "q_value_within_kind"] = bh_fdr(out.loc[idx, "p_value"].to_numpy(float))
    out["adjusted_for"] = adjusted
    out = out.sort_values(["p_value", "feature"], na_position="last", kind="mergesort")
    return out.reset_index(drop=True)


def adjusted_tests_available() -> bool:
    """True when :mod:`hccfusion.omics.adjusted_tests` (centre-adjusted group tests) exists."""
    return importlib.util.find_spec("hccfusion.omics.adjusted_tests") is not None


def risk_group_comparison(groups: pd.Series, scores: pd.DataFrame, *,
                          kinds: Mapping[str, str] | pd.Series | None = None,
                          covariates: pd.DataFrame | None = None,
                          order: tuple[str, str] = ("low", "high"), test: str = "wilcoxon",
                          min_per_group: int = 3) -> pd.DataFrame:
    """Compare every score between the two risk groups, with BH q-values.

    Without covariates: Wilcoxon rank-sum (or Welch's t) per feature by
    :func:`hccfusion.omics.multiple_testing.compare_groups`, q-values over all features. With
    covariates: ``hccfusion.omics.adjusted_tests.compare_groups_adjusted`` (centre-adjusted);
    if that module is not installed a :class:`UsageError` says so.

    Parameters
    ----------
    groups : pandas.Series
        Risk group per patient (index ``patient_id``), the two labels of ``order``.
    scores : pandas.DataFrame
        Per-patient scores, index ``patient_id``.
    kinds : mapping or Series, optional
        Feature -> kind; adds ``kind`` and ``q_within_kind`` (BH within each kind).
    covariates : pandas.DataFrame, optional
        Adjustment variables per patient (e.g. ``center``).
    order : (a, b)
        Reference and comparison group; differences are b − a.
    test : {'wilcoxon', 't'}
        Unadjusted test.
    min_per_group : int
        Smaller groups are reported as ``too_few_samples``.

    Returns
    -------
    pandas.DataFrame
        The columns of ``compare_groups`` (or of the adjusted function) with ``kind`` and
        ``q_within_kind`` when ``kinds`` is given.
    """
    from hccfusion.omics.multiple_testing import bh_fdr, compare_groups

    if not isinstance(groups, pd.Series) or not isinstance(scores, pd.DataFrame):
        raise UsageError("risk_group_comparison needs 'groups' as a pandas Series and 'scores' as "
                         f"a DataFrame. Got {type(groups).__name__} and "
                         f"{type(scores).__name__} instead.")
    common = scores.index.intersection(groups.dropna().index)
    if len(common) == 0:
        raise DataError("The risk groups and the scores share no patient_id.")
    values = scores.loc[common]
    labels = groups.reindex(common).astype(str)
    if covariates is None:
        table = compare_groups(values, labels, test=test, min_per_group=min_per_group,
                               order=tuple(order))
    else:
        if not adjusted_tests_available():
            raise UsageError("Covariate-adjusted group tests need "
                             "hccfusion.omics.adjusted_tests, which is not installed; call "
                             "risk_group_comparison without covariates.")
        from hccfusion.omics.adjusted_tests import compare_groups_adjusted

        cov = covariates.reindex(common)
        table = compare_groups_adjusted(values, labels, covariates=cov, order=tuple(order))
    if kinds is not None:
        kind_of = _kinds_for(values.columns, kinds)
        table.insert(1, "kind", table["feature"].map(kind_of).to_numpy())
        pcol = "p" if "p" in table.columns else "p_value"
        table["q_within_kind"] = np.nan
        for _, idx in table.groupby("kind").groups.items():
            table.loc[idx, "q_within_kind"] = bh_fdr(table.loc[idx, pcol].to_numpy(float))
    return table
