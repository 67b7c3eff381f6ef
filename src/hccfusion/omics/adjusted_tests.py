"""Two-group comparisons of many features adjusted for centre, batch and other covariates.

:func:`hccfusion.omics.multiple_testing.compare_groups` compares groups marginally; when the
groups are unevenly spread over centres or sequencing batches, a centre shift reads as a group
difference. :func:`compare_groups_adjusted` fits, per feature, the linear model
``value ~ covariates + group`` and tests the group coefficient (analysis of covariance), or the
same model on ranks (rank ANCOVA), which tolerates the skewed, heavy-tailed distributions of cell
densities and marker scores. q-values are Benjamini–Hochberg across the tested features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option
from hccfusion.omics.covariates import covariates_for_samples
from hccfusion.omics.multiple_testing import bh_fdr, check_two_groups

__all__ = ["ADJUSTED_METHODS", "ADJUSTED_STATUSES", "compare_groups_adjusted"]

ADJUSTED_METHODS: tuple[str, ...] = ("rank_ancova", "ancova")
ADJUSTED_STATUSES: tuple[str, ...] = ("tested", "too_few_samples", "constant", "confounded")


def _check_groups(values: object, groups: object, order: object, min_per_group: object,
                  method: str) -> tuple[object, object]:
    if method not in ADJUSTED_METHODS:
        raise unknown_option("adjusted test", str(method), ADJUSTED_METHODS)
    return check_two_groups(values, groups, order, min_per_group, "compare_groups_adjusted")


def _check_covariates(covariates: object, samples: pd.Index) -> pd.DataFrame:
    caller = "compare_groups_adjusted"
    if not isinstance(covariates, pd.DataFrame) or covariates.shape[1] == 0:
        raise UsageError(f"The 'covariates' parameter of {caller} must be a DataFrame indexed by "
                         "sample_id with at least one column (e.g. centre, batch). Got "
                         f"{type(covariates).__name__} instead.")
    if not covariates.index.is_unique:
        raise DataError(f"sample_id '{covariates.index[covariates.index.duplicated()][0]}' "
                        "appears more than once in 'covariates'.")
    return covariates_for_samples(covariates, samples)


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _covariate_matrix(cov: pd.DataFrame, rank_numeric: bool) -> np.ndarray:
    """Intercept, numeric covariates (ranked for rank ANCOVA) and treatment-coded factors."""
    from scipy.stats import rankdata

    blocks = [np.ones((len(cov), 1))]
    for name in cov.columns:
        col = cov[name]
        if _is_numeric(col):
            x = col.to_numpy(dtype=float)
            blocks.append((rankdata(x) if rank_numeric else x)[:, None])
        else:
            levels = sorted(pd.unique(col.astype(str)))
            text = col.astype(str).to_numpy()
            # Reference = first level; levels absent from these samples give no column.
            dummies = [(text == lev).astype(float) for lev in levels[1:]]
            blocks.extend(d[:, None] for d in dummies if d.any())
    return np.hstack(blocks)


def _confounding_message(cov: pd.DataFrame, in_b: np.ndarray, a: object, b: object) -> str:
    group = np.where(in_b, str(b), str(a))
    for name in cov.columns:
        if _is_numeric(cov[name]):
            continue
        per_level = pd.Series(group).groupby(cov[name].astype(str).to_numpy()).nunique()
        if (per_level == 1).all():
            text = cov[name].astype(str).to_numpy()
            shown = ", ".join(f"{lev}: {group[text == lev][0]}"
                              for lev in list(per_level.index)[:6])
            return (f"The group is confounded with covariate '{name}': every sample of a {name} "
                    f"is in one group ({shown}), so the group effect cannot be separated from "
                    f"the {name} effect. Drop '{name}' from 'covariates' or compare within one "
                    f"{name}.")
    return ("The group is confounded with the covariates taken together (the group column is a "
            "linear combination of them); drop or merge covariates.")


def _ols_group_test(y: np.ndarray, covariates: np.ndarray, in_b: np.ndarray
                    ) -> tuple[float, float, float, float, float, str]:
    """OLS of y on [covariates, group]; t-test of the group coefficient (b vs a)."""
    from scipy import stats

    x = np.hstack([covariates, in_b.astype(float)[:, None]])
    rank_x = np.linalg.matrix_rank(x)
    if rank_x == np.linalg.matrix_rank(covariates):
        return (np.nan,) * 5 + ("confounded",)  # type: ignore[return-value]
    df = y.size - rank_x
    if df < 1:
        return (np.nan,) * 5 + ("too_few_samples",)  # type: ignore[return-value]
    # pinv: with covariates collinear among themselves the group coefficient stays estimable
    # and its variance, c' (X'X)^- c, does not depend on the generalised inverse chosen.
    xtx_inv = np.linalg.pinv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    resid = y - x @ beta
    sigma2 = float(resid @ resid) / df
    se = float(np.sqrt(sigma2 * xtx_inv[-1, -1]))
    if not se > 0:
        return float(beta[-1]), se, np.nan, float(df), np.nan, "constant"
    t = float(beta[-1]) / se
    p = float(2.0 * stats.t.sf(abs(t), df))
    return float(beta[-1]), se, t, float(df), p, "tested"


def compare_groups_adjusted(values: pd.DataFrame, groups: pd.Series, *,
                            covariates: pd.DataFrame, method: str = "rank_ancova",
                            min_per_group: int = 3,
                            order: tuple[str, str] | None = None) -> pd.DataFrame:
    """Compare every feature between two groups, adjusted for covariates such as centre/batch.

    ``"ancova"``: analysis of covariance, the ordinary least-squares fit of
    ``value = b0 + covariates + beta * [group == b] + error`` with the t-test of ``beta`` on
    ``n - rank(X)`` degrees of freedom (e.g. Rutherford, *Introducing ANOVA and ANCOVA*, 2001).
    Text, categorical and boolean covariates enter as treatment-coded indicators (first level
    in sorted order is the reference); numeric covariates enter linearly.

    ``"rank_ancova"``: the same model fitted to within-data ranks of the value (ties averaged)
    and of the numeric covariates, the rank-transform analysis of covariance (Conover & Iman
    1982, *Biometrics* 38:715–724), in the line of Quade's rank analysis of covariance (Quade
    1967, *J Am Stat Assoc* 62:1187–1200; Quade ranks the covariates, regresses the ranked
    response on them and compares residuals by ANOVA, which needs numeric covariates). It is
    robust to the skewed distributions of immune cell densities; ``effect`` is then in rank
    units.

    q-values are Benjamini–Hochberg (1995) across the tested features
    (:func:`hccfusion.omics.multiple_testing.bh_fdr`). Conventions follow
    :func:`hccfusion.omics.multiple_testing.compare_groups`.

    Parameters
    ----------
    values : pandas.DataFrame, shape (n_samples, n_features)
        Numeric feature values; index ``sample_id``. NaN is missing and dropped per feature
        (ranks are then over that feature's non-missing samples).
    groups : pandas.Series
        Group label per sample (same index as ``values``); exactly two labels. Samples with a
        missing label are ignored.
    covariates : pandas.DataFrame
        Adjustment variables indexed by ``sample_id`` (e.g. ``centre``, ``batch``, ``age``); no
        missing values for the samples compared.
    method : {"rank_ancova", "ancova"}
        Rank-transform ANCOVA (default) or ANCOVA on the values.
    min_per_group : int
        A group with fewer non-missing values gives status ``"too_few_samples"`` and ``p`` NaN.
    order : tuple of two labels or None
        ``(a, b)``; ``effect`` is the coefficient of b relative to a. Default: the labels sorted.

    Returns
    -------
    pandas.DataFrame
        One row per feature, in column order: ``feature``, ``group_a``, ``group_b``,
        ``n_<a>``, ``n_<b>``, ``effect`` (group coefficient, b − a, adjusted), ``se``,
        ``statistic`` (t of the coefficient), ``df`` (residual degrees of freedom), ``p``,
        ``q``, ``method``, ``status`` (one of :data:`ADJUSTED_STATUSES`: ``"tested"``,
        ``"too_few_samples"``, ``"constant"`` (the value does not vary, or the model fits it
        exactly), ``"confounded"`` (after dropping this feature's missing values the group is
        determined by the covariates)). ``p`` and ``q`` are NaN unless tested.

    Raises
    ------
    UsageError
        Bad argument types, an unknown ``method``, ``min_per_group`` < 2, a malformed ``order``,
        empty ``covariates``.
    DataError
        A sample without a group or covariates, not exactly two labels, duplicated samples, a
        missing or constant covariate, non-numeric values, or a design in which the group is
        fully determined by the covariates (e.g. every sample of a centre in one group; the
        message names the covariate).

    Examples
    --------
    >>> import pandas as pd
    >>> v = pd.DataFrame({"cd8": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]})
    >>> g = pd.Series(["lo", "hi"] * 4)
    >>> c = pd.DataFrame({"centre": ["A"] * 4 + ["B"] * 4})
    >>> compare_groups_adjusted(v, g, covariates=c, method="ancova")["effect"].round(3).tolist()
    [-1.0]
    """
    from scipy.stats import rankdata

    a, b = _check_groups(values, groups, order, min_per_group, method)
    g = groups.reindex(values.index)
    keep = g.isin([a, b]).to_numpy()
    samples = values.index[keep]
    cov = _check_covariates(covariates, samples)
    in_b_all = (g[keep] == b).to_numpy()
    full = _covariate_matrix(cov, rank_numeric=False)
    with_group = np.hstack([full, in_b_all.astype(float)[:, None]])
    if np.linalg.matrix_rank(with_group) == np.linalg.matrix_rank(full):
        raise DataError(_confounding_message(cov, in_b_all, a, b))
    rank = method == "rank_ancova"
    rows = []
    for feature in values.columns:
        raw = values.loc[samples, feature]
        col = pd.to_numeric(raw, errors="coerce")
        if col.notna().sum() < raw.notna().sum():
            raise DataError(f"feature '{feature}' holds non-numeric values.")
        ok = col.notna().to_numpy()
        y = col.to_numpy(dtype=float)[ok]
        in_b = in_b_all[ok]
        n_a, n_b = int((~in_b).sum()), int(in_b.sum())
        row: dict[str, object] = {"feature": feature, "group_a": a, "group_b": b,
                                  f"n_{a}": n_a, f"n_{b}": n_b, "effect": np.nan, "se": np.nan,
                                  "statistic": np.nan, "df": np.nan, "p": np.nan,
                                  "method": method}
        if min(n_a, n_b) < min_per_group:
            row["status"] = "too_few_samples"
        elif np.ptp(y) == 0:
            row["status"] = "constant"
        else:
            x_cov = _covariate_matrix(cov.loc[ok], rank_numeric=rank)
            response = rankdata(y) if rank else y
            effect, se, t, df, p, status = _ols_group_test(response, x_cov, in_b)
            row.update(effect=effect, se=se, statistic=t, df=df, p=p, status=status)
        rows.append(row)
    columns = ["feature", "group_a", "group_b", f"n_{a}", f"n_{b}", "effect", "se", "statistic",
               "df", "p", "method", "status"]
    out = pd.DataFrame(rows, columns=columns)
    out.insert(out.columns.get_loc("p") + 1, "q", bh_fdr(out["p"].to_numpy(float)))
    return out.reset_index(drop=True)
