"""Benjamini–Hochberg FDR control and per-feature two-group comparisons.

``compare_groups`` tests every column of a samples × features table between two groups
(Wilcoxon rank-sum / Mann–Whitney U or Welch's t; paired Wilcoxon signed-rank or paired t when
samples are matched, e.g. pre/post treatment of one patient) and adds Benjamini–Hochberg
q-values across the features that were tested. A feature whose groups are too small, or whose
values are constant, is reported with its status and ``p`` NaN — never silently tested.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option

TESTS: tuple[str, ...] = ("wilcoxon", "t")
STATUSES: tuple[str, ...] = ("tested", "too_few_samples", "constant")


def bh_fdr(pvalues: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values).

    ``q_(i) = min_{j >= i} min(1, m * p_(j) / j)`` over the p-values sorted ascending, where
    ``m`` is the number of non-missing p-values (Benjamini & Hochberg, 1995, JRSS-B 57:289–300).

    Parameters
    ----------
    pvalues : array-like of float, shape (n,)
        p-values in [0, 1]; NaN marks a feature that was not tested.

    Returns
    -------
    numpy.ndarray of float, shape (n,)
        q-values in the input order; NaN where the p-value was NaN (those are not counted in
        ``m``). Monotone in ``p`` and capped at 1.

    Raises
    ------
    UsageError
        If the input is not one-dimensional or holds values outside [0, 1].

    Examples
    --------
    >>> bh_fdr([0.01, 0.04, float("nan"), 0.03]).round(3).tolist()
    [0.03, 0.04, nan, 0.04]
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise UsageError(
            f"The 'pvalues' parameter of bh_fdr must be one-dimensional. Got shape {p.shape} "
            "instead."
        )
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        bad = float(p[finite][(p[finite] < 0) | (p[finite] > 1)][0])
        raise UsageError(
            f"The 'pvalues' parameter of bh_fdr must hold values in [0, 1] or NaN. Got {bad!r} "
            "instead."
        )
    q = np.full(p.shape, np.nan)
    idx = np.flatnonzero(finite)
    m = idx.size
    if m == 0:
        return q
    order = np.argsort(p[idx], kind="mergesort")
    ranked = p[idx][order] * m / np.arange(1, m + 1)
    # Step-up: running minimum from the largest p downwards keeps q monotone in p.
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    q[idx[order]] = np.minimum(adjusted, 1.0)
    return q


def check_two_groups(values: object, groups: object, order: object, min_per_group: object,
                     caller: str) -> tuple[object, object]:
    """The checks every two-group comparison shares: ``values`` a DataFrame with unique
    sample ids, each in ``groups`` (a Series); ``min_per_group`` an integer >= 2; exactly two
    labels, or the two of ``order``. Returns the labels ``(a, b)`` (sorted when ``order`` is
    None)."""
    if not isinstance(values, pd.DataFrame):
        raise UsageError(
            f"The 'values' parameter of {caller} must be a pandas DataFrame (rows = samples, "
            f"columns = features). Got {type(values).__name__} instead."
        )
    if not isinstance(groups, pd.Series):
        raise UsageError(
            f"The 'groups' parameter of {caller} must be a pandas Series indexed like "
            f"'values'. Got {type(groups).__name__} instead."
        )
    if isinstance(min_per_group, bool) or not isinstance(min_per_group, (int, np.integer)) or (
        min_per_group < 2
    ):
        raise UsageError(
            f"The 'min_per_group' parameter of {caller} must be an integer >= 2. "
            f"Got {min_per_group!r} instead."
        )
    if not values.index.is_unique:
        dup = values.index[values.index.duplicated()][0]
        raise DataError(f"sample_id '{dup}' appears more than once in 'values'.")
    missing = values.index.difference(groups.index)
    if len(missing):
        raise DataError(f"sample_id '{missing[0]}' of 'values' has no entry in 'groups'.")
    labels = pd.unique(groups.reindex(values.index).dropna())
    if order is None:
        if len(labels) != 2:
            raise DataError(
                "'groups' must hold exactly two labels over the samples of 'values'. Got "
                f"{len(labels)}: {sorted(map(str, labels))}."
            )
        a, b = sorted(labels, key=str)
        return a, b
    if not (isinstance(order, (tuple, list)) and len(order) == 2 and order[0] != order[1]):
        raise UsageError(
            f"The 'order' parameter of {caller} must be a tuple of two distinct group "
            f"labels. Got {order!r} instead."
        )
    extra = [lab for lab in labels if lab not in order]
    if extra:
        raise DataError(
            f"'groups' holds label {extra[0]!r}, which is not one of order={tuple(order)!r}."
        )
    return order[0], order[1]


def _check_inputs(
    values: pd.DataFrame,
    groups: pd.Series,
    test: str,
    paired_by: pd.Series | None,
    min_per_group: int,
    order: tuple[str, str] | None,
) -> tuple[str, str]:
    if test not in TESTS:
        raise unknown_option("test", str(test), TESTS)
    a, b = check_two_groups(values, groups, order, min_per_group, "compare_groups")
    if paired_by is not None:
        if not isinstance(paired_by, pd.Series):
            raise UsageError(
                "The 'paired_by' parameter of compare_groups must be a pandas Series (e.g. "
                f"patient_id per sample) or None. Got {type(paired_by).__name__} instead."
            )
        missing = values.index.difference(paired_by.index)
        if len(missing):
            raise DataError(f"sample_id '{missing[0]}' of 'values' has no entry in 'paired_by'.")
        g = groups.reindex(values.index)
        key = pd.DataFrame({"pair": paired_by.reindex(values.index), "group": g}).dropna()
        dup = key.duplicated()
        if dup.any():
            pair = key.loc[dup, "pair"].iloc[0]
            raise DataError(
                f"patient_id '{pair}' has more than one sample in group "
                f"{key.loc[dup, 'group'].iloc[0]!r}; paired tests need one sample per pair and "
                "group."
            )
    return a, b


def _one_feature(
    xa: np.ndarray, xb: np.ndarray, *, test: str, paired: bool, min_per_group: int
) -> dict[str, object]:
    from scipy import stats

    out: dict[str, object] = {"statistic": np.nan, "p": np.nan}
    if min(xa.size, xb.size) < min_per_group:
        out["status"] = "too_few_samples"
        return out
    # "constant": the test statistic is undefined (no ranks to compare, or no variance).
    if paired and test == "wilcoxon":
        constant = bool(np.all(xb == xa))
    elif paired:
        constant = bool(np.ptp(xb - xa) == 0)
    elif test == "wilcoxon":
        constant = bool(np.ptp(np.concatenate([xa, xb])) == 0)
    else:
        constant = bool(np.ptp(xa) == 0 and np.ptp(xb) == 0)
    if constant:
        out["status"] = "constant"
        return out
    if paired and test == "wilcoxon":
        res = stats.wilcoxon(xb, xa)
    elif paired:
        res = stats.ttest_rel(xb, xa)
    elif test == "wilcoxon":
        res = stats.mannwhitneyu(xb, xa, alternative="two-sided")
    else:
        res = stats.ttest_ind(xb, xa, equal_var=False)
    out.update(statistic=float(res.statistic), p=float(res.pvalue), status="tested")
    return out


def compare_groups(
    values: pd.DataFrame,
    groups: pd.Series,
    *,
    test: str = "wilcoxon",
    paired_by: pd.Series | None = None,
    min_per_group: int = 3,
    order: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Compare every feature between two groups, with Benjamini–Hochberg q-values.

    Unpaired: Wilcoxon rank-sum / Mann–Whitney U (Mann & Whitney, 1947) or Welch's unequal
    variance t-test (Welch, 1947). Paired (``paired_by`` given): the samples of the two groups are
    matched on ``paired_by`` (e.g. ``patient_id`` for pre/post) and compared with the Wilcoxon
    signed-rank test (Wilcoxon, 1945) or the paired t-test on complete pairs. q-values follow
    Benjamini & Hochberg (1995) across the tested features.

    Parameters
    ----------
    values : pandas.DataFrame, shape (n_samples, n_features)
        Numeric feature values; index = ``sample_id``. NaN is missing and dropped per feature.
    groups : pandas.Series
        Group label per sample (same index as ``values``); exactly two labels. Samples with a
        missing label are ignored.
    test : {"wilcoxon", "t"}
        Rank test or Welch / paired t-test.
    paired_by : pandas.Series or None
        Pair key per sample (e.g. ``patient_id``); one sample per pair and group.
    min_per_group : int
        A group (or, paired, the number of complete pairs) with fewer non-missing values gives
        status ``"too_few_samples"`` and ``p`` NaN.
    order : tuple of two labels or None
        ``(a, b)``; differences are ``b − a`` and ``log2_fc = log2(mean_b / mean_a)``. Default:
        the two labels sorted.

    Returns
    -------
    pandas.DataFrame
        One row per feature, in column order: ``feature``, ``group_a``, ``group_b``, ``n_<a>``,
        ``n_<b>``, ``mean_<a>``, ``mean_<b>``, ``median_<a>``, ``median_<b>``, ``difference``
        (mean b − mean a; paired: mean of b − a over pairs), ``log2_fc`` (NaN unless both means
        are positive), ``statistic``, ``p``, ``q``, ``status`` (one of ``STATUSES``). ``q`` is NaN
        wherever ``p`` is NaN. Paired, the counts, means and medians are over complete pairs.
        The statistic is scipy's: Mann–Whitney U of group b, Welch / paired t of b − a, or the
        signed-rank statistic.

    Raises
    ------
    UsageError
        Bad argument types, an unknown ``test``, ``min_per_group`` < 2, a malformed ``order``.
    DataError
        A sample without a group / pair key, not exactly two labels, duplicated samples or pairs.
    """
    a, b = _check_inputs(values, groups, test, paired_by, min_per_group, order)
    g = groups.reindex(values.index)
    in_a = (g == a).to_numpy()
    in_b = (g == b).to_numpy()
    paired = paired_by is not None
    if paired:
        keys = paired_by.reindex(values.index).to_numpy()
        ka = pd.Series(np.flatnonzero(in_a), index=keys[in_a])
        kb = pd.Series(np.flatnonzero(in_b), index=keys[in_b])
        common = ka.index.intersection(kb.index).dropna()
        rows_a, rows_b = ka.loc[common].to_numpy(), kb.loc[common].to_numpy()
    rows = []
    for feature in values.columns:
        col = pd.to_numeric(values[feature], errors="coerce")
        if col.notna().sum() < values[feature].notna().sum():
            raise DataError(f"feature '{feature}' holds non-numeric values.")
        if paired:
            va, vb = col.iloc[rows_a].to_numpy(float), col.iloc[rows_b].to_numpy(float)
            ok = ~(np.isnan(va) | np.isnan(vb))
            xa, xb = va[ok], vb[ok]
        else:
            xa = col[in_a].dropna().to_numpy(float)
            xb = col[in_b].dropna().to_numpy(float)
        ma = float(np.mean(xa)) if xa.size else np.nan
        mb = float(np.mean(xb)) if xb.size else np.nan
        row: dict[str, object] = {
            "feature": feature,
            "group_a": a,
            "group_b": b,
            f"n_{a}": int(xa.size),
            f"n_{b}": int(xb.size),
            f"mean_{a}": ma,
            f"mean_{b}": mb,
            f"median_{a}": float(np.median(xa)) if xa.size else np.nan,
            f"median_{b}": float(np.median(xb)) if xb.size else np.nan,
            "difference": mb - ma,
            "log2_fc": float(np.log2(mb / ma)) if ma > 0 and mb > 0 else np.nan,
        }
        row.update(_one_feature(xa, xb, test=test, paired=paired, min_per_group=min_per_group))
        rows.append(row)
    columns = [
        "feature", "group_a", "group_b", f"n_{a}", f"n_{b}", f"mean_{a}", f"mean_{b}",
        f"median_{a}", f"median_{b}", "difference", "log2_fc", "statistic", "p", "q", "status",
    ]
    out = pd.DataFrame(rows, columns=[c for c in columns if c != "q"])
    out.insert(out.columns.get_loc("p") + 1, "q", bh_fdr(out["p"].to_numpy(float)))
    return out.reset_index(drop=True)
