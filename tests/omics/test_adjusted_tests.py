"""Centre/batch-adjusted two-group comparisons (ANCOVA and rank ANCOVA)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.adjusted_tests import compare_groups_adjusted
from hccfusion.omics.multiple_testing import compare_groups

# A small design with three centres, a numeric covariate and unequal groups. The reference
# values below come from R 4.2.2, not from this code:
#   summary(lm(y ~ centre + age + group))$coefficients["grouplow", ]
#   summary(lm(rank(y) ~ centre + rank(age) + group))$coefficients["grouplow", ]
# with group = factor(..., levels = c("high", "low")) and y2 = y + 2.5 * (group == "low").
_Y = [2.1, 3.4, 1.9, 5.6, 4.8, 6.2, 3.3, 7.9, 6.5, 8.8, 5.1, 9.7, 4.4, 2.8]
_GROUP = ["low", "high", "low", "high", "low", "high", "low", "high", "low", "high", "high",
          "high", "low", "low"]
_CENTRE = list("AAAABBBBCCCCAC")
_AGE = [61, 55, 70, 48, 66, 59, 72, 51, 63, 57, 69, 60, 58, 75]
_R_REFERENCE = {  # (feature, method): (estimate, std. error, t value, Pr(>|t|))
    ("y", "ancova"): (-0.0564646428698518, 0.8429932381631805, -0.0669811337904490,
                      0.9480611131283785),
    ("y", "rank_ancova"): (0.265483893905996, 1.399123554714834, 0.189750142516975,
                           0.853715486460285),
    ("y2", "ancova"): (2.4435353571301488, 0.8429932381631805, 2.8986417049494140,
                       0.0176343322568727),
    ("y2", "rank_ancova"): (6.0585934722321015, 1.9559423926097081, 3.0975316528358730,
                            0.0127732345959795),
}


def _small() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    index = pd.Index([f"s{i:02d}" for i in range(len(_Y))], name="sample_id")
    groups = pd.Series(_GROUP, index=index)
    y = np.array(_Y)
    values = pd.DataFrame({"y": y, "y2": y + 2.5 * (groups == "low").to_numpy()}, index=index)
    covariates = pd.DataFrame({"centre": _CENTRE, "age": _AGE}, index=index)
    return values, groups, covariates


@pytest.mark.parametrize("method", ["ancova", "rank_ancova"])
def test_group_coefficient_matches_r_lm(method):
    values, groups, covariates = _small()
    out = compare_groups_adjusted(values, groups, covariates=covariates, method=method)
    assert out["group_a"].tolist() == ["high", "high"] and out["group_b"].tolist() == ["low"] * 2
    for _, row in out.iterrows():
        estimate, se, t, p = _R_REFERENCE[(row["feature"], method)]
        assert row["effect"] == pytest.approx(estimate, rel=1e-9)
        assert row["se"] == pytest.approx(se, rel=1e-9)
        assert row["statistic"] == pytest.approx(t, rel=1e-9)
        assert row["p"] == pytest.approx(p, rel=1e-9)
        assert row["df"] == 9 and row["status"] == "tested" and row["method"] == method
        assert row["n_high"] == 7 and row["n_low"] == 7


def test_ancova_matches_a_textbook_least_squares_computation():
    values, groups, covariates = _small()
    out = compare_groups_adjusted(values[["y2"]], groups, covariates=covariates, method="ancova")
    # X = [1, centre B, centre C, age, low]; beta = lstsq; se = sqrt(s^2 [(X'X)^-1]_jj)
    x = np.column_stack([np.ones(14), np.array(_CENTRE) == "B", np.array(_CENTRE) == "C",
                         _AGE, groups.to_numpy() == "low"]).astype(float)
    y = values["y2"].to_numpy()
    beta, rss, _, _ = np.linalg.lstsq(x, y, rcond=None)
    s2 = rss[0] / (14 - 5)
    se = np.sqrt(s2 * np.linalg.inv(x.T @ x)[-1, -1])
    assert out.loc[0, "effect"] == pytest.approx(beta[-1], rel=1e-10)
    assert out.loc[0, "se"] == pytest.approx(se, rel=1e-10)
    assert out.loc[0, "p"] == pytest.approx(2 * stats.t.sf(abs(beta[-1] / se), 9), rel=1e-9)


def _centre_cohort(seed: int = 7, n_null: int = 1) -> tuple[pd.DataFrame, pd.Series,
                                                           pd.DataFrame]:
    """Centre A: 16 high / 4 low; centre B: 4 high / 16 low. 'shift' features only depend on the
    centre (+3 in A); 'true' also rises by 1.5 in the high group within each centre."""
    rng = np.random.default_rng(seed)
    centre = np.array(["A"] * 20 + ["B"] * 20)
    group = np.array(["high"] * 16 + ["low"] * 4 + ["high"] * 4 + ["low"] * 16)
    index = pd.Index([f"p{i:02d}" for i in range(40)], name="sample_id")
    shift = 3.0 * (centre == "A")
    columns = {("shift" if n_null == 1 else f"shift{k}"): shift + rng.normal(0.0, 1.0, 40)
               for k in range(n_null)}
    columns["true"] = shift + 1.5 * (group == "high") + rng.normal(0.0, 1.0, 40)
    values = pd.DataFrame(columns, index=index)
    return values, pd.Series(group, index=index), pd.DataFrame({"centre": centre}, index=index)


@pytest.mark.parametrize("method", ["ancova", "rank_ancova"])
def test_a_centre_shift_is_significant_unadjusted_but_not_after_adjustment(method):
    values, groups, covariates = _centre_cohort(n_null=40)
    plain = compare_groups(values, groups).set_index("feature")
    adjusted = compare_groups_adjusted(values, groups, covariates=covariates,
                                       method=method).set_index("feature")
    null = [c for c in values.columns if c.startswith("shift")]
    # Unadjusted, nearly every pure centre shift looks like a group difference ...
    assert (plain.loc[null, "p"] < 0.05).mean() >= 0.9 and plain.loc[null, "q"].median() < 0.01
    # ... adjusted, they are nulls: about 5 % below 0.05 by chance, none after FDR control.
    assert (adjusted.loc[null, "p"] < 0.05).mean() <= 0.125
    assert (adjusted.loc[null, "q"] > 0.05).all()
    # A true within-centre effect is found by both, in the right direction (high > low).
    assert plain.loc["true", "q"] < 1e-3 and adjusted.loc["true", "q"] < 0.05
    assert adjusted.loc["true", "effect"] < 0  # effect = low - high


def test_too_few_samples_and_constant_features_are_reported_not_tested():
    values, groups, covariates = _centre_cohort()
    values["sparse"] = np.where(groups.to_numpy() == "low", np.nan, 1.0)
    values.loc[values.index[:2], "sparse"] = [0.5, 0.7]  # both in 'high'; 'low' stays empty
    values["flat"] = 2.0
    out = compare_groups_adjusted(values, groups, covariates=covariates).set_index("feature")
    assert out.loc["sparse", "status"] == "too_few_samples" and out.loc["sparse", "n_low"] == 0
    assert out.loc["flat", "status"] == "constant"
    assert out.loc[["sparse", "flat"], ["p", "q"]].isna().all().all()
    assert out.loc["shift", "status"] == "tested"
    # BH over the tested features only: m = 2
    tested = out[out["status"] == "tested"]
    p_sorted = np.sort(tested["p"].to_numpy())
    assert tested["q"].min() == pytest.approx(min(p_sorted[0] * 2, p_sorted[1]), rel=1e-12)


def test_output_columns_follow_compare_groups():
    values, groups, covariates = _centre_cohort()
    out = compare_groups_adjusted(values, groups, covariates=covariates, order=("low", "high"))
    assert list(out.columns) == ["feature", "group_a", "group_b", "n_low", "n_high", "effect",
                                 "se", "statistic", "df", "p", "q", "method", "status"]
    # order=(low, high): effect = high - low > 0 for the true effect
    assert out.set_index("feature").loc["true", "effect"] > 0


def test_confounded_design_raises_naming_the_covariate():
    values, groups, _ = _centre_cohort()
    centre = pd.DataFrame({"centre": np.where(groups == "high", "Lyon", "Paris")},
                          index=groups.index)
    with pytest.raises(DataError, match="confounded with covariate 'centre'.*Lyon: high"):
        compare_groups_adjusted(values, groups, covariates=centre)


def test_confounding_after_missing_values_is_a_status():
    values, groups, covariates = _centre_cohort()
    # Drop the 'low' samples of centre A and the 'high' of centre B for one feature only.
    mixed = ((covariates["centre"] == "A") & (groups == "low")) | (
        (covariates["centre"] == "B") & (groups == "high"))
    values["patchy"] = values["true"].where(~mixed)
    out = compare_groups_adjusted(values, groups, covariates=covariates).set_index("feature")
    assert out.loc["patchy", "status"] == "confounded" and np.isnan(out.loc["patchy", "p"])
    assert out.loc["true", "status"] == "tested"


def test_bad_arguments_and_data_raise_clear_errors():
    values, groups, covariates = _centre_cohort()
    with pytest.raises(UsageError, match="unknown adjusted test 'rank_ancov'; did you mean "
                                         "'rank_ancova'"):
        compare_groups_adjusted(values, groups, covariates=covariates, method="rank_ancov")
    with pytest.raises(UsageError, match="The 'covariates' parameter of compare_groups_adjusted"):
        compare_groups_adjusted(values, groups, covariates=None)
    with pytest.raises(UsageError, match="'min_per_group' parameter .* Got 1 instead"):
        compare_groups_adjusted(values, groups, covariates=covariates, min_per_group=1)
    holed = covariates.copy()
    holed.loc["p03", "centre"] = None
    with pytest.raises(DataError, match="Covariate 'centre' is missing for sample p03"):
        compare_groups_adjusted(values, groups, covariates=holed)
    with pytest.raises(DataError, match="'batch' takes a single value"):
        compare_groups_adjusted(values, groups, covariates=covariates.assign(batch="b1"))
    with pytest.raises(DataError, match="sample\\(s\\) have no covariates \\(e.g. p39\\)"):
        compare_groups_adjusted(values, groups, covariates=covariates.iloc[:-1])
    three = groups.copy()
    three.iloc[0] = "mid"
    with pytest.raises(DataError, match="exactly two labels"):
        compare_groups_adjusted(values, three, covariates=covariates)
    with pytest.raises(DataError, match="feature 'word' holds non-numeric values"):
        compare_groups_adjusted(values.assign(word="x"), groups, covariates=covariates)
