"""Table 1: baseline characteristics by group (cohort, centre or risk group).

Continuous variables: median [Q1, Q3] with the Mann–Whitney U test (two groups) or the
Kruskal–Wallis H test (more groups). Categorical variables: n (%) of non-missing with Pearson's
χ² test (``scipy.stats.chi2_contingency``, Yates-corrected for 2×2 as R ``chisq.test``) or
Fisher's exact test for a 2×2 table with any expected count < 5. Every variable gets a
``missing`` row with the count of missing values per group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

__all__ = ["table_one"]


def _fmt(x: float, digits: int) -> str:
    return f"{x:.{digits}f}"


def table_one(data: pd.DataFrame, *, group: str, continuous: Sequence[str] = (),
              categorical: Sequence[str] = (), digits: int = 1) -> pd.DataFrame:
    """Baseline characteristics by group, one tidy row per variable level.

    Parameters
    ----------
    data
        One row per patient.
    group
        Grouping column (no missing values), e.g. ``"cohort"``, ``"center"``, ``"risk_group"``.
    continuous
        Columns summarised as median [Q1, Q3]; tested with Mann–Whitney U (Mann & Whitney
        1947) for two groups or Kruskal–Wallis (Kruskal & Wallis 1952) otherwise.
    categorical
        Columns summarised as n (%) of non-missing; tested with Pearson's χ² or, for 2×2 tables
        with an expected count < 5, Fisher's exact test (Fisher 1922).
    digits
        Decimals of medians, quartiles and percentages.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable``, ``level``, one column per group (sorted), ``overall``, ``p``
        (float, on the first row of each variable, NaN elsewhere or when not testable) and
        ``test``. The first row (variable ``n``) holds group sizes.
    """
    if not isinstance(data, pd.DataFrame):
        raise UsageError("The 'data' parameter of table_one must be a pandas DataFrame. "
                         f"Got {type(data).__name__} instead.")
    missing = [c for c in [group, *continuous, *categorical] if c not in data.columns]
    if missing:
        raise UsageError(f"table_one: columns {missing} are not in 'data'. Available: "
                         f"{', '.join(map(str, data.columns))}")
    overlap = set(continuous) & set(categorical)
    if overlap:
        raise UsageError(f"table_one: columns {sorted(overlap)} are listed as both continuous "
                         "and categorical; choose one.")
    if data[group].isna().any():
        raise DataError(f"table_one: the grouping column '{group}' has missing values; assign "
                        "every patient to a group first.")
    levels = sorted(pd.unique(data[group]).tolist(), key=str)
    if len(levels) < 2:
        raise DataError(f"table_one needs at least two groups in '{group}'; got {levels}.")
    cols = [str(g) for g in levels]
    parts = {str(g): data[data[group] == g] for g in levels}
    parts_all = {**parts, "overall": data}
    rows: list[dict[str, object]] = [
        {"variable": "n", "level": "", **{k: str(len(v)) for k, v in parts_all.items()},
         "p": np.nan, "test": ""}]

    from scipy import stats

    for var in continuous:
        values = pd.to_numeric(data[var], errors="coerce")
        if (values.isna() & data[var].notna()).any():
            raise DataError(f"table_one: continuous column '{var}' has non-numeric values.")
        cells = {}
        for k, part in parts_all.items():
            x = values.loc[part.index].dropna()
            cells[k] = ("" if x.empty else
                        f"{_fmt(x.median(), digits)} [{_fmt(x.quantile(0.25), digits)}, "
                        f"{_fmt(x.quantile(0.75), digits)}]")
        samples = [values.loc[parts[c].index].dropna().to_numpy() for c in cols]
        p, test = np.nan, ""
        if all(s.size > 0 for s in samples) and np.unique(np.concatenate(samples)).size > 1:
            if len(samples) == 2:
                p = float(stats.mannwhitneyu(*samples, alternative="two-sided").pvalue)
                test = "Mann-Whitney U"
            else:
                p = float(stats.kruskal(*samples).pvalue)
                test = "Kruskal-Wallis"
        rows.append({"variable": var, "level": "median [IQR]", **cells, "p": p, "test": test})
        rows.append(_missing_row(var, values, parts_all))

    for var in categorical:
        col = data[var]
        cats = sorted(pd.unique(col.dropna()).tolist(), key=str)
        table = np.array([[int((col.loc[parts[c].index] == cat).sum()) for c in cols]
                          for cat in cats])
        p, test = np.nan, ""
        keep = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
        if keep.shape[0] >= 2 and keep.shape[1] >= 2:
            chi2, p_chi, _, expected = stats.chi2_contingency(keep)
            if keep.shape == (2, 2) and (expected < 5).any():
                p, test = float(stats.fisher_exact(keep).pvalue), "Fisher exact"
            else:
                p, test = float(p_chi), "chi-squared"
        for i, cat in enumerate(cats):
            cells = {}
            for k, part in parts_all.items():
                sub = col.loc[part.index].dropna()
                count = int((sub == cat).sum())
                pct = 100.0 * count / len(sub) if len(sub) else float("nan")
                cells[k] = f"{count} ({_fmt(pct, digits)})"
            rows.append({"variable": var, "level": str(cat), **cells,
                         "p": p if i == 0 else np.nan, "test": test if i == 0 else ""})
        rows.append(_missing_row(var, col, parts_all))

    return pd.DataFrame(rows, columns=["variable", "level", *cols, "overall", "p", "test"])


def _missing_row(var: str, values: pd.Series, parts_all: dict[str, pd.DataFrame]) -> dict:
    return {"variable": var, "level": "missing",
            **{k: str(int(values.loc[part.index].isna().sum())) for k, part in parts_all.items()},
            "p": np.nan, "test": ""}
