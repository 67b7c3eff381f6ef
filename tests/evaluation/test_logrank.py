"""Log-rank tests against lifelines, scikit-survival and the Cox score test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi, load_waltons
from lifelines.statistics import logrank_test as ll_logrank
from lifelines.statistics import multivariate_logrank_test
from sksurv.compare import compare_survival
from sksurv.datasets import load_veterans_lung_cancer
from sksurv.linear_model.coxph import CoxPHOptimizer
from sksurv.util import Surv

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.logrank import logrank_test, logrank_trend

TOL = 1e-6


def _veterans():
    x, y = load_veterans_lung_cancer()
    return (y["Survival_in_days"].astype(float), y["Status"].astype(bool),
            x["Celltype"].astype(str).to_numpy())


def _rossi_prio():
    df = load_rossi()
    return (df["week"].to_numpy(float), df["arrest"].to_numpy(bool),
            np.clip(df["prio"].to_numpy(), 0, 4))


def _generated(ties: bool, seed: int = 3, k: int = 3):
    rng = np.random.default_rng(seed)
    n = 250
    g = rng.integers(0, k, n)
    death = rng.exponential(500.0 / (1 + 0.4 * g))
    censor = rng.uniform(50, 1200, n)
    t = np.minimum(death, censor)
    return (np.round(t / 7) * 7 if ties else t), death <= censor, g


def _cox_score_chi2(t, e, x, strata=None):
    """Cox (Breslow) score test at beta = 0 from scikit-survival's optimiser."""
    strata = np.zeros(t.size) if strata is None else np.asarray(strata)
    grad, hess = 0.0, 0.0
    for s in np.unique(strata):
        m = strata == s
        opt = CoxPHOptimizer(x[m].reshape(-1, 1).astype(float), e[m], t[m], alpha=np.zeros(1),
                             ties="breslow")
        opt.update(np.zeros(1))
        grad += opt.gradient[0] * m.sum()
        hess += opt.hessian[0, 0] * m.sum()
    return grad**2 / hess


def test_two_groups_match_lifelines_waltons():
    df = load_waltons()
    res = logrank_test(time=df["T"], event=df["E"], group=df["group"])
    m = df["group"] == "miR-137"
    ref = ll_logrank(df["T"][~m], df["T"][m], df["E"][~m], df["E"][m])
    assert res.statistic == pytest.approx(ref.test_statistic, abs=TOL)
    assert res.p_value == pytest.approx(ref.p_value, abs=TOL)
    assert res.df == 1


@pytest.mark.parametrize("loader", [_veterans, _rossi_prio, lambda: _generated(True)],
                         ids=["veterans", "rossi_prio", "generated_ties"])
def test_k_groups_match_lifelines_and_sksurv(loader):
    t, e, g = loader()
    res = logrank_test(time=t, event=e, group=g)
    ref = multivariate_logrank_test(t, g, e)
    assert res.statistic == pytest.approx(ref.test_statistic, abs=TOL)
    assert res.p_value == pytest.approx(ref.p_value, abs=TOL)
    assert res.df == ref.degrees_of_freedom
    chisq, p, stats, cov = compare_survival(Surv.from_arrays(e, t), g, return_stats=True)
    assert res.statistic == pytest.approx(chisq, abs=TOL)
    np.testing.assert_allclose(res.table["observed"], stats["observed"].to_numpy(), atol=TOL)
    np.testing.assert_allclose(res.table["expected"], stats["expected"].to_numpy(), atol=TOL)
    np.testing.assert_allclose(res.covariance, cov, atol=TOL)
    assert res.table["n"].sum() == t.size
    assert res.table["o_minus_e"].sum() == pytest.approx(0, abs=1e-9)


def test_stratified_two_groups_equals_stratified_cox_score():
    t, e, g = _generated(False, seed=11, k=2)
    centre = np.random.default_rng(5).integers(0, 2, t.size)
    res = logrank_test(time=t, event=e, group=g, strata=centre)
    assert res.stratified
    assert res.statistic == pytest.approx(_cox_score_chi2(t, e, g, centre), rel=1e-8)
    plain = logrank_test(time=t, event=e, group=g)
    assert plain.statistic != pytest.approx(res.statistic, rel=1e-6)


def test_single_stratum_equals_unstratified():
    t, e, g = _veterans()
    a = logrank_test(time=t, event=e, group=g)
    b = logrank_test(time=t, event=e, group=g, strata=np.ones(t.size))
    assert a.statistic == pytest.approx(b.statistic, rel=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
def test_trend_equals_cox_score_test_without_ties(seed):
    t, e, g = _generated(False, seed=seed, k=4)
    res = logrank_trend(time=t, event=e, group=g)
    assert res.statistic == pytest.approx(_cox_score_chi2(t, e, g), rel=1e-8)
    assert res.z > 0  # higher group index has a higher hazard in the simulation


def test_trend_custom_scores_equal_score_covariate():
    t, e, g = _generated(False, seed=4, k=3)
    scores = {0: 0.0, 1: 1.0, 2: 5.0}
    res = logrank_trend(time=t, event=e, group=g, scores=scores)
    x = np.vectorize(scores.get)(g)
    assert res.statistic == pytest.approx(_cox_score_chi2(t, e, x), rel=1e-8)
    assert res.table["score"].tolist() == [0.0, 1.0, 5.0]


def test_trend_two_groups_equals_logrank():
    df = load_waltons()
    trend = logrank_trend(time=df["T"], event=df["E"], group=df["group"])
    plain = logrank_test(time=df["T"], event=df["E"], group=df["group"])
    assert trend.statistic == pytest.approx(plain.statistic, rel=1e-10)


def test_trend_uses_categorical_order():
    t, e, g = _generated(True, seed=9, k=3)
    lab = pd.Categorical(np.array(["low", "mid", "high"])[g], categories=["low", "mid", "high"])
    a = logrank_trend(time=t, event=e, group=lab)
    b = logrank_trend(time=t, event=e, group=g)
    assert a.table["group"].tolist() == ["low", "mid", "high"]
    assert a.z == pytest.approx(b.z, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: logrank_test(time=[1, 2], event=[True, True], group=["a", "a"]), DataError,
         "at least two groups"),
        (lambda: logrank_test(time=[1, 2], event=[False, False], group=["a", "b"]), DataError,
         "at least one event"),
        (lambda: logrank_test(time=[1, 2], event=[True, True], group=None), UsageError,
         "one label per patient"),
        (lambda: logrank_test(time=[1, 2], event=[2, 1], group=["a", "b"]), DataError,
         "1/2 status"),
        (lambda: logrank_trend(time=[1, 2, 3], event=[True] * 3, group=[0, 1, 2],
                               scores=[1, 2]), UsageError, "one score per group"),
        (lambda: logrank_trend(time=[1, 2], event=[True] * 2, group=["a", "b"],
                               scores={"a": 1}), UsageError, "missing"),
        (lambda: logrank_trend(time=[1, 2], event=[True] * 2, group=["a", "b"],
                               scores=[1, 1]), UsageError, "not all equal"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
