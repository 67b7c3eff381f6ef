"""bh_fdr and compare_groups against hand computations and scipy's tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.multiple_testing import bh_fdr, compare_groups


def test_bh_fdr_equals_hand_computation():
    # sorted: 0.005, 0.01, 0.03, 0.04; m = 4 -> p*m/rank = 0.02, 0.02, 0.04, 0.04
    q = bh_fdr([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(q, [0.02, 0.04, 0.04, 0.02])


def test_bh_fdr_step_up_minimum_and_cap():
    # p*m/rank = 0.6/1*3=1.8 -> capped; 0.7*3/2=1.05 -> 1; 0.8*3/3=0.8 -> all become 0.8
    np.testing.assert_allclose(bh_fdr([0.6, 0.7, 0.8]), [0.8, 0.8, 0.8])
    np.testing.assert_allclose(bh_fdr([0.9, 0.95]), [0.95, 0.95])
    assert bh_fdr([1.0])[0] == 1.0


def test_bh_fdr_nan_preserved_and_not_counted():
    q = bh_fdr([0.01, np.nan, 0.04, np.nan, 0.03])
    assert np.isnan(q[[1, 3]]).all()
    # m = 3, not 5
    np.testing.assert_allclose(q[[0, 2, 4]], [0.03, 0.04, 0.04])
    assert np.isnan(bh_fdr([np.nan, np.nan])).all()
    assert bh_fdr([]).shape == (0,)


def test_bh_fdr_equals_scipy_false_discovery_control_with_nans():
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(0, 1, 60), rng.uniform(0, 0.001, 15), [np.nan] * 8])
    rng.shuffle(p)
    q = bh_fdr(p)
    ok = ~np.isnan(p)
    np.testing.assert_allclose(q[ok], stats.false_discovery_control(p[ok], method="bh"))
    assert np.isnan(q[~ok]).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=40))
def test_bh_fdr_properties(p):
    p = np.array(p)
    q = bh_fdr(p)
    ok = ~np.isnan(p)
    assert np.array_equal(np.isnan(q), ~ok)
    assert np.all(q[ok] <= 1.0) and np.all(q[ok] >= p[ok] - 1e-12)
    order = np.argsort(p[ok], kind="mergesort")
    assert np.all(np.diff(q[ok][order]) >= -1e-12)


@pytest.mark.parametrize("bad, match", [
    ([[0.1, 0.2]], "must be one-dimensional. Got shape"),
    ([0.1, 1.5], r"must hold values in \[0, 1\] or NaN. Got 1.5 instead"),
    ([-0.01], "Got -0.01 instead"),
])
def test_bh_fdr_rejects_bad_input(bad, match):
    with pytest.raises(UsageError, match=match):
        bh_fdr(bad)


@pytest.fixture
def two_groups():
    rng = np.random.default_rng(3)
    n = 24
    index = [f"S{i:02d}" for i in range(n)]
    groups = pd.Series(["low"] * 11 + ["high"] * 13, index=index)
    values = pd.DataFrame({
        "shifted": rng.normal(0, 1, n) + np.where(groups == "high", 1.2, 0.0),
        "null": rng.lognormal(1, 0.5, n),
        "with_nan": rng.normal(5, 2, n),
    }, index=index)
    values.iloc[[0, 5, 20], 2] = np.nan
    return values, groups


def test_unpaired_wilcoxon_and_welch_equal_scipy(two_groups):
    values, groups = two_groups
    for test, ref in [("wilcoxon", lambda b, a: stats.mannwhitneyu(b, a)),
                      ("t", lambda b, a: stats.ttest_ind(b, a, equal_var=False))]:
        res = compare_groups(values, groups, test=test, order=("low", "high"))
        assert list(res["feature"]) == ["shifted", "null", "with_nan"]
        for _, row in res.iterrows():
            col = values[row["feature"]]
            a = col[groups == "low"].dropna().to_numpy()
            b = col[groups == "high"].dropna().to_numpy()
            expected = ref(b, a)
            assert row["p"] == pytest.approx(expected.pvalue, rel=1e-12)
            assert row["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
            assert (row["n_low"], row["n_high"]) == (len(a), len(b))
            assert row["difference"] == pytest.approx(b.mean() - a.mean())
            assert row["median_high"] == pytest.approx(np.median(b))
        np.testing.assert_allclose(res["q"], stats.false_discovery_control(res["p"]))
        assert (res["status"] == "tested").all()


def test_log2_fc_and_default_order(two_groups):
    values, groups = two_groups
    res = compare_groups(values, groups)  # labels sorted: a = "high", b = "low"
    row = res.set_index("feature").loc["null"]
    assert (row["group_a"], row["group_b"]) == ("high", "low")
    assert row["log2_fc"] == pytest.approx(np.log2(row["mean_low"] / row["mean_high"]))
    # log2_fc is undefined when a mean is not positive
    negative = compare_groups(values - 100.0, groups).set_index("feature")
    assert negative["log2_fc"].isna().all()
    assert negative.loc["null", "difference"] == pytest.approx(row["difference"])


def test_paired_tests_equal_scipy():
    rng = np.random.default_rng(11)
    patients = [f"P{i:02d}" for i in range(15)]
    before = rng.normal(10, 2, 15)
    after = before + rng.normal(0.8, 1.0, 15)
    rows = [(f"{p}-pre", p, "baseline", v) for p, v in zip(patients, before)]
    rows += [(f"{p}-post", p, "on_treatment", v) for p, v in zip(patients, after)]
    rows.append(("P99-pre", "P99", "baseline", 3.0))  # no partner: left out
    table = pd.DataFrame(rows, columns=["sample_id", "patient_id", "timepoint", "x"])
    table = table.sample(frac=1.0, random_state=0).set_index("sample_id")
    for test, ref in [("wilcoxon", stats.wilcoxon), ("t", stats.ttest_rel)]:
        res = compare_groups(table[["x"]], table["timepoint"], test=test,
                             paired_by=table["patient_id"], order=("baseline", "on_treatment"))
        expected = ref(after, before)
        assert res.loc[0, "p"] == pytest.approx(expected.pvalue, rel=1e-12)
        assert res.loc[0, "statistic"] == pytest.approx(expected.statistic, rel=1e-12)
        assert res.loc[0, "n_baseline"] == 15
        assert res.loc[0, "difference"] == pytest.approx(np.mean(after - before))


def test_group_with_two_samples_is_reported_not_tested(two_groups):
    values, groups = two_groups
    values = values.copy()
    values.loc[groups == "low", "null"] = [1.0, 2.0] + [np.nan] * 9
    res = compare_groups(values, groups, min_per_group=3).set_index("feature")
    assert res.loc["null", "status"] == "too_few_samples"
    assert res.loc["null", "n_low"] == 2
    assert np.isnan(res.loc["null", "p"]) and np.isnan(res.loc["null", "q"])
    # the untested feature is not counted in the BH family
    tested = res[res["status"] == "tested"]
    np.testing.assert_allclose(tested["q"], stats.false_discovery_control(tested["p"]))


def test_constant_feature_is_reported():
    index = [f"S{i}" for i in range(8)]
    values = pd.DataFrame({"flat": [4.0] * 8, "x": np.arange(8.0)}, index=index)
    groups = pd.Series(["a"] * 4 + ["b"] * 4, index=index)
    for test in ("wilcoxon", "t"):
        res = compare_groups(values, groups, test=test).set_index("feature")
        assert res.loc["flat", "status"] == "constant"
        assert np.isnan(res.loc["flat", "p"])
        assert res.loc["x", "status"] == "tested"


def test_named_failures(two_groups):
    values, groups = two_groups
    with pytest.raises(UsageError, match="unknown test 'welch'.*Available: wilcoxon, t"):
        compare_groups(values, groups, test="welch")
    with pytest.raises(UsageError, match="'min_per_group' parameter of compare_groups must be an "
                                         "integer >= 2. Got 1 instead"):
        compare_groups(values, groups, min_per_group=1)
    three = groups.copy()
    three.iloc[0] = "mid"
    with pytest.raises(DataError, match="exactly two labels"):
        compare_groups(values, three)
    with pytest.raises(DataError, match="sample_id 'S00' of 'values' has no entry in 'groups'"):
        compare_groups(values, groups.iloc[1:])
    with pytest.raises(DataError, match="label 'high', which is not one of"):
        compare_groups(values, groups, order=("low", "other"))
    pairs = pd.Series(["P1"] * len(values), index=values.index)
    with pytest.raises(DataError, match="patient_id 'P1' has more than one sample in group"):
        compare_groups(values, groups, paired_by=pairs)
    with pytest.raises(UsageError, match="'values' parameter of compare_groups must be a pandas "
                                         "DataFrame"):
        compare_groups(values.to_numpy(), groups)
