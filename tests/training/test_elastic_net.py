"""Elastic-net Cox: the Breslow objective, the path against scikit-survival, the CV choice."""

from __future__ import annotations

import numpy as np
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.training.elastic_net import _Breslow, coxnet_path, fit_coxnet_cv


def _data(n=200, p=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    beta = np.zeros(p)
    beta[:3] = [0.8, -0.6, 0.4]
    time = np.round(rng.exponential(300 * np.exp(-X @ beta)), 0) + 1  # rounded: ties
    event = rng.random(n) < 0.8
    return X, time, event, beta


def test_breslow_loss_by_hand_and_gradient_by_finite_differences():
    X, time, event, _ = _data(n=30, p=3)
    beta = np.array([0.3, -0.2, 0.1])
    eta = X @ beta
    by_hand = 0.0
    for i in np.flatnonzero(event):
        at_risk = time >= time[i]                     # Breslow: tied times share a risk set
        by_hand += eta[i] - np.log(np.exp(eta[at_risk]).sum())
    f = _Breslow(X, time, event)
    loss, grad = f(beta)
    assert loss == pytest.approx(-by_hand / len(X), rel=1e-12)
    h = 1e-6
    numeric = [(f(beta + h * e, grad=False)[0] - f(beta - h * e, grad=False)[0]) / (2 * h)
               for e in np.eye(3)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_path_matches_scikit_survival_coxnet():
    """Reference: scikit-survival's CoxnetSurvivalAnalysis (glmnet's coordinate descent, the
    same objective, Breslow ties), unnormalised, at the same penalties."""
    sksurv = pytest.importorskip("sksurv.linear_model")
    from sksurv.util import Surv

    X, time, event, _ = _data()
    coefs, alphas = coxnet_path(X, time, event, l1_ratio=0.9, n_alphas=12)
    ref = sksurv.CoxnetSurvivalAnalysis(l1_ratio=0.9, alphas=alphas, normalize=False,
                                        tol=1e-10, max_iter=100_000)
    ref.fit(X, Surv.from_arrays(event, time))
    np.testing.assert_allclose(coefs, ref.coef_.T, atol=2e-4)
    assert np.all(coefs[0] == 0)                      # alpha_max keeps every coefficient at 0
    assert np.count_nonzero(coefs[-1]) > np.count_nonzero(coefs[3])


def test_cv_chooses_a_penalty_keeps_the_signal_and_refits_on_all_rows():
    X, time, event, beta = _data(n=300)
    fit = fit_coxnet_cv(X, time, event, seed=1)
    assert fit.cv_c == pytest.approx(np.nanmax(fit.mean_c))
    best = int(np.nanargmax(fit.mean_c))
    assert fit.alpha == fit.alphas[best]
    again, _ = coxnet_path(X, time, event, alphas=fit.alphas[: best + 1])
    np.testing.assert_array_equal(fit.coef, again[-1])
    assert np.all(np.sign(fit.coef[:3]) == np.sign(beta[:3]))
    assert np.abs(fit.coef[3:]).max() < np.abs(fit.coef[:3]).min()   # noise shrunk or dropped
    assert 0.6 < fit.cv_c < 0.8


def test_cv_scores_the_same_held_out_risks_against_another_outcome():
    """cv_c_also: the chosen α's held-out risks, fold by fold, against another outcome of the
    same rows (by hand: refit each fold at that α)."""
    from hccfusion.training.baseline_checks import _stratified_folds
    from hccfusion.training.metrics import harrell_c

    X, time, event, beta = _data(n=240, seed=2)
    rng = np.random.default_rng(5)
    other_time = np.round(rng.exponential(200 * np.exp(-0.5 * X @ beta)), 0) + 1
    other_event = rng.random(240) < 0.7
    fit = fit_coxnet_cv(X, time, event, seed=3,
                        also={"same": (time, event), "other": (other_time, other_event)})
    assert fit.cv_c_also["same"] == pytest.approx(fit.cv_c, abs=1e-12)
    best = int(np.nanargmax(fit.mean_c))
    fold = _stratified_folds(event.astype(int), 5, 3)
    by_hand = []
    for k in range(5):
        coefs, _ = coxnet_path(X[fold != k], time[fold != k], event[fold != k],
                               alphas=fit.alphas)
        test = fold == k
        by_hand.append(harrell_c(time=other_time[test], event=other_event[test],
                                 risk=X[test] @ coefs[best]))
    assert fit.cv_c_also["other"] == pytest.approx(np.mean(by_hand), abs=1e-12)
    assert 0.5 < fit.cv_c_also["other"] < fit.cv_c     # a weaker, real signal
    assert fit_coxnet_cv(X, time, event, seed=3).cv_c_also == {}
    with pytest.raises(UsageError, match="also .other."):
        fit_coxnet_cv(X, time, event, also={"other": (other_time[:10], other_event[:10])})


def test_bad_input_is_named():
    X, time, event, _ = _data(n=40)
    with pytest.raises(DataError, match="no event"):
        coxnet_path(X, time, np.zeros(40, bool))
    with pytest.raises(UsageError, match="l1_ratio"):
        coxnet_path(X, time, event, l1_ratio=0.0)
    X[3, 1] = np.nan
    with pytest.raises(DataError, match="finite"):
        fit_coxnet_cv(X, time, event)
    with pytest.raises(DataError, match="cannot be spread over 5 folds"):
        fit_coxnet_cv(np.ones((10, 2)), np.arange(10.0) + 1, np.arange(10) < 3)


def test_logistic_path_matches_scikit_learn_and_cv_refits():
    """Reference: scikit-learn's saga elastic-net logistic regression, whose objective
    ½‖β‖²·(1 − l1)/C + l1‖β‖₁/C + Σ log-loss equals n/C-scaled glmnet's at α = 1/(n·C)."""
    from sklearn.linear_model import LogisticRegression

    from hccfusion.training.elastic_net import fit_logistic_cv, logistic_path

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6))
    y = (rng.random(300) < 1 / (1 + np.exp(-(X[:, 0] - 0.7 * X[:, 1] + 0.3)))).astype(float)
    coefs, alphas = logistic_path(X, y, l1_ratio=0.9, n_alphas=8)
    assert np.all(coefs[0, :-1] == 0)
    assert coefs[0, -1] == pytest.approx(np.log(y.mean() / (1 - y.mean())), abs=1e-6)
    alpha = alphas[5]
    ref = LogisticRegression(C=1 / (len(y) * alpha), l1_ratio=0.9, solver="saga", tol=1e-10,
                             max_iter=100_000)
    import sklearn

    if tuple(int(v) for v in sklearn.__version__.split(".")[:2]) < (1, 8):
        ref.set_params(penalty="elasticnet")           # since 1.8, l1_ratio alone says so
    ref.fit(X, y)
    np.testing.assert_allclose(coefs[5, :-1], ref.coef_[0], atol=2e-4)
    assert coefs[5, -1] == pytest.approx(ref.intercept_[0], abs=2e-4)
    fit = fit_logistic_cv(X, y, seed=0)
    best = int(np.nanargmax(fit.mean_auc))
    again, _ = logistic_path(X, y, alphas=fit.alphas[: best + 1])
    np.testing.assert_array_equal(fit.coef, again[-1][:-1])
    assert fit.coef[0] > 0 > fit.coef[1] and 0.6 < fit.cv_auc < 0.9
    with pytest.raises(DataError, match="cannot be spread over 5 folds"):
        fit_logistic_cv(X[:20], (np.arange(20) < 3).astype(float))


def test_held_out_values_are_each_folds_model_at_the_chosen_penalty():
    """``held_out`` scores every row with the model that did not see its fold: their per-fold
    C (Cox) and AUC (logistic) average to the cross-validated skill."""
    from hccfusion.training.baseline_checks import _stratified_folds
    from hccfusion.training.elastic_net import fit_logistic_cv
    from hccfusion.training.metrics import auc_score, harrell_c

    X, time, event, _ = _data()
    fit = fit_coxnet_cv(X, time, event, folds=5, seed=2)
    assert fit.held_out.shape == (len(time),) and np.isfinite(fit.held_out).all()
    fold = _stratified_folds(event.astype(int), 5, 2)
    per_fold = [harrell_c(time=time[fold == k], event=event[fold == k],
                          risk=fit.held_out[fold == k]) for k in range(5)]
    assert np.mean(per_fold) == pytest.approx(fit.cv_c, abs=1e-12)
    assert not np.allclose(fit.held_out, X @ fit.coef)      # not the refit's risks
    y = (X[:, 0] + np.random.default_rng(1).normal(size=len(X)) > 0).astype(float)
    logit = fit_logistic_cv(X, y, folds=5, seed=2)
    fold = _stratified_folds(y.astype(int), 5, 2)
    per_fold = [auc_score(y_true=y[fold == k], score=logit.held_out[fold == k])
                for k in range(5)]
    assert np.mean(per_fold) == pytest.approx(logit.cv_auc, abs=1e-12)
    # the intercept is included: held-out logits sit around the log-odds of the rows
    assert abs(np.mean(logit.held_out) - np.log(y.mean() / (1 - y.mean()))) < 0.5
