"""Risk associations (Spearman / partial Spearman with BH) and risk-group comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hccfusion.errors import DataError, UsageError
from hccfusion.mechanism.risk_biology import (ASSOCIATION_COLUMNS, risk_associations,
                                              risk_group_comparison)
from hccfusion.omics.multiple_testing import bh_fdr, compare_groups


def _cohort(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    centre = np.where(np.arange(n) % 2 == 0, "NJ", "WX")
    shift = np.where(centre == "WX", 2.0, 0.0)
    risk = pd.Series(rng.normal(size=n) + shift, index=ids)
    scores = pd.DataFrame({
        "cd8": -0.8 * risk.to_numpy() + rng.normal(scale=0.6, size=n),
        "noise": rng.normal(size=n),
        # depends on the centre only: correlated with risk unadjusted, not within centre
        "centre_only": shift + rng.normal(scale=0.3, size=n),
        "met": np.exp(0.5 * risk.to_numpy() + rng.normal(size=n)),
    }, index=ids)
    kinds = {"cd8": "ihc", "noise": "ihc", "centre_only": "flow", "met": "metabolite"}
    return risk, scores, kinds, pd.DataFrame({"center": centre}, index=ids)


def test_unadjusted_matches_scipy_spearman():
    risk, scores, kinds, _ = _cohort()
    scores.iloc[:5, 1] = np.nan
    out = risk_associations(risk, scores, kinds=kinds).set_index("feature")
    assert tuple(out.reset_index().columns) == ASSOCIATION_COLUMNS
    for feature in scores.columns:
        ok = scores[feature].notna()
        ref = stats.spearmanr(risk[ok], scores.loc[ok, feature])
        assert out.loc[feature, "rho"] == pytest.approx(ref.statistic, abs=1e-12)
        assert out.loc[feature, "p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
        assert out.loc[feature, "n"] == ok.sum()
    assert out.loc["cd8", "rho"] < -0.6 and out.loc["cd8", "ci_high"] < 0


def test_partial_spearman_matches_precision_matrix_formula():
    """ppcor's route (Kim 2015): rank every variable, invert the correlation matrix,
    rho_xy.z = -P_xy / sqrt(P_xx P_yy); t-test on n - 2 - k degrees of freedom."""
    risk, scores, kinds, cov = _cohort(n=50, seed=3)
    out = risk_associations(risk, scores, kinds=kinds, covariates=cov).set_index("feature")
    dummy = (cov["center"] == "WX").astype(float).to_numpy()
    for feature in scores.columns:
        data = np.column_stack([stats.rankdata(risk), stats.rankdata(scores[feature]), dummy])
        prec = np.linalg.inv(np.corrcoef(data, rowvar=False))
        rho = -prec[0, 1] / np.sqrt(prec[0, 0] * prec[1, 1])
        n, k = len(risk), 1
        t = rho * np.sqrt((n - 2 - k) / (1 - rho ** 2))
        p = 2 * stats.t.sf(abs(t), n - 2 - k)
        assert out.loc[feature, "rho"] == pytest.approx(rho, abs=1e-10)
        assert out.loc[feature, "p_value"] == pytest.approx(p, rel=1e-8)
    assert set(out["adjusted_for"]) == {"center"}


def test_centre_adjustment_removes_a_centre_only_association():
    risk, scores, kinds, cov = _cohort(n=120, seed=1)
    raw = risk_associations(risk, scores, kinds=kinds).set_index("feature")
    adj = risk_associations(risk, scores, kinds=kinds, covariates=cov).set_index("feature")
    assert raw.loc["centre_only", "p_value"] < 1e-4
    assert adj.loc["centre_only", "p_value"] > 0.01
    assert adj.loc["cd8", "p_value"] < 1e-6


def test_q_values_over_all_features_and_within_kind():
    risk, scores, kinds, cov = _cohort()
    out = risk_associations(risk, scores, kinds=kinds, covariates=cov)
    assert np.allclose(out["q_value"], bh_fdr(out["p_value"]))
    for kind, part in out.groupby("kind"):
        assert np.allclose(part["q_value_within_kind"], bh_fdr(part["p_value"])), kind
    assert out["p_value"].is_monotonic_increasing


def test_too_few_or_constant_values_give_nan_not_a_test():
    risk, scores, kinds, _ = _cohort(n=30)
    scores["noise"] = 1.0
    scores.loc[scores.index[5:], "met"] = np.nan
    out = risk_associations(risk, scores, kinds=kinds).set_index("feature")
    assert np.isnan(out.loc["noise", "p_value"]) and np.isnan(out.loc["met", "rho"])
    assert np.isnan(out.loc["met", "q_value"])
    assert out.loc["met", "n"] == 5


def test_feature_without_kind_is_named():
    risk, scores, kinds, _ = _cohort()
    del kinds["met"]
    with pytest.raises(DataError, match="met"):
        risk_associations(risk, scores, kinds=kinds)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"method": "pearsn"}, UsageError, "unknown association method 'pearsn'"),
    ({"min_n": 2}, UsageError, "'min_n' parameter"),
])
def test_bad_options(kwargs, error, match):
    risk, scores, kinds, _ = _cohort()
    with pytest.raises(error, match=match):
        risk_associations(risk, scores, kinds=kinds, **kwargs)


def test_bad_inputs_are_named():
    risk, scores, kinds, cov = _cohort()
    with pytest.raises(UsageError, match="'risk' parameter"):
        risk_associations(risk.to_numpy(), scores, kinds=kinds)
    with pytest.raises(DataError, match="share no patient_id"):
        risk_associations(risk.rename(lambda i: "X" + i), scores, kinds=kinds)
    with pytest.raises(DataError, match="no covariates"):
        risk_associations(risk, scores, kinds=kinds, covariates=cov.iloc[1:])
    scores = scores.astype(object)
    scores.iloc[0, 0] = "high"
    with pytest.raises(DataError, match="'cd8' holds non-numeric"):
        risk_associations(risk, scores, kinds=kinds)


def test_group_comparison_unadjusted_is_compare_groups_with_kind_q():
    risk, scores, kinds, _ = _cohort()
    groups = pd.Series(np.where(risk > risk.median(), "high", "low"), index=risk.index)
    out = risk_group_comparison(groups, scores, kinds=kinds)
    ref = compare_groups(scores, groups, order=("low", "high"))
    assert np.allclose(out["p"], ref["p"]) and np.allclose(out["q"], ref["q"])
    for _, part in out.groupby("kind"):
        assert np.allclose(part["q_within_kind"], bh_fdr(part["p"]))
    assert out.set_index("feature").loc["cd8", "difference"] < 0


def test_group_comparison_with_centre_uses_the_adjusted_test():
    pytest.importorskip("hccfusion.omics.adjusted_tests")
    from hccfusion.omics.adjusted_tests import compare_groups_adjusted

    risk, scores, kinds, cov = _cohort(n=80, seed=2)
    groups = pd.Series(np.where(risk > risk.median(), "high", "low"), index=risk.index)
    out = risk_group_comparison(groups, scores, covariates=cov)
    ref = compare_groups_adjusted(scores, groups, covariates=cov, order=("low", "high"))
    assert np.allclose(out["p"], ref["p"], equal_nan=True)
    raw = risk_group_comparison(groups, scores).set_index("feature")
    assert out.set_index("feature").loc["centre_only", "p"] > raw.loc["centre_only", "p"]
