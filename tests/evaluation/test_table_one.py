"""Table 1 against hand counts and scipy tests computed directly on the raw columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.table_one import table_one


def _df():
    return pd.DataFrame({
        "center": ["A"] * 6 + ["B"] * 4,
        "age": [50, 60, 70, 80, np.nan, 55, 40, 45, 65, 70],
        "sex": ["M", "M", "F", "M", "M", None, "F", "F", "M", "F"],
        "bclc": ["B", "C", "C", "B", "C", "C", "B", "A", "C", "B"],
    })


def test_continuous_median_iqr_missing_and_mann_whitney():
    t = table_one(_df(), group="center", continuous=["age"])
    row = t[(t.variable == "age") & (t.level == "median [IQR]")].iloc[0]
    # A: 50 55 60 70 80 → median 60, Q1 55, Q3 70 (linear quantiles)
    assert row["A"] == "60.0 [55.0, 70.0]"
    assert row["B"] == "55.0 [43.8, 66.2]"
    ref = stats.mannwhitneyu([50, 60, 70, 80, 55], [40, 45, 65, 70]).pvalue
    assert row["p"] == pytest.approx(ref)
    assert row["test"] == "Mann-Whitney U"
    miss = t[(t.variable == "age") & (t.level == "missing")].iloc[0]
    assert (miss["A"], miss["B"], miss["overall"]) == ("1", "0", "1")
    n = t[t.variable == "n"].iloc[0]
    assert (n["A"], n["B"], n["overall"]) == ("6", "4", "10")


def test_small_2x2_uses_fisher_and_percentages_of_non_missing():
    t = table_one(_df(), group="center", categorical=["sex"])
    f = t[(t.variable == "sex") & (t.level == "F")].iloc[0]
    # A non-missing: M M F M M → F 1/5 = 20 %; B: F F M F → 3/4 = 75 %
    assert f["A"] == "1 (20.0)" and f["B"] == "3 (75.0)"
    assert f["test"] == "Fisher exact"
    assert f["p"] == pytest.approx(stats.fisher_exact([[1, 3], [4, 1]]).pvalue)
    assert np.isnan(t[(t.variable == "sex") & (t.level == "M")].iloc[0]["p"])
    miss = t[(t.variable == "sex") & (t.level == "missing")].iloc[0]
    assert (miss["A"], miss["B"]) == ("1", "0")


def test_three_groups_kruskal_and_chi_squared():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": rng.choice(["x", "y", "z"], 300),
                       "afp": rng.lognormal(3, 1, 300),
                       "pvtt": rng.choice(["no", "yes"], 300)})
    t = table_one(df, group="g", continuous=["afp"], categorical=["pvtt"])
    afp = t[(t.variable == "afp") & (t.level == "median [IQR]")].iloc[0]
    ref = stats.kruskal(*[df.afp[df.g == k] for k in "xyz"]).pvalue
    assert afp["p"] == pytest.approx(ref) and afp["test"] == "Kruskal-Wallis"
    pv = t[(t.variable == "pvtt") & (t.level == "no")].iloc[0]
    ref = stats.chi2_contingency(pd.crosstab(df.pvtt, df.g).to_numpy()).pvalue
    assert pv["p"] == pytest.approx(ref) and pv["test"] == "chi-squared"
    assert list(t.columns) == ["variable", "level", "x", "y", "z", "overall", "p", "test"]


def test_failures():
    with pytest.raises(UsageError, match=r"columns \['agee'\] are not in 'data'"):
        table_one(_df(), group="center", continuous=["agee"])
    bad = _df()
    bad.loc[0, "center"] = None
    with pytest.raises(DataError, match="grouping column 'center' has missing"):
        table_one(bad, group="center", continuous=["age"])
    with pytest.raises(UsageError, match="both continuous and categorical"):
        table_one(_df(), group="center", continuous=["age"], categorical=["age"])
