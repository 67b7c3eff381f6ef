"""Baselines: the clinical-score mapping against the scoring code, Cox / penalised Cox /
random survival forest / logistic regression against lifelines, scikit-survival and
scikit-learn, and known answers on data simulated from the model."""

import sys

import numpy as np
import pandas as pd
import pytest

from hccfusion.clinical import scores as sc
from hccfusion.clinical.scores_staging import bclc_2022, cnlc
from hccfusion.errors import DataError, UsageError
from hccfusion.training.baselines import (CLINICAL_SCORES, ClinicalScoreBaseline, CoxBaseline,
                                          LogisticBaseline, PenalisedCoxBaseline,
                                          RandomSurvivalForestBaseline, _stratified_folds,
                                          score_risk)


# --------------------------------------------------------------------------- clinical scores


def _scored_cohort(n=400, seed=0):
    """Every published score computed by the package's own scoring code on a random cohort."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.5, 15, n).round(1)
    num = rng.integers(1, 12, n)
    alb = rng.uniform(25, 48, n)
    bili = rng.uniform(5, 60, n)
    afp = np.exp(rng.uniform(0, 9, n))
    crp = rng.uniform(0, 40, n)
    ecog = rng.integers(0, 4, n)
    cp = rng.choice(["A", "B", "C"], n)
    mvi = rng.random(n) < 0.3
    ehs = rng.random(n) < 0.2
    stage = dict(ecog=ecog, child_pugh_class=cp, tumour_number=num, largest_diameter_cm=d,
                 macrovascular_invasion=mvi, extrahepatic_spread=ehs)
    parts = [
        sc.albi(bilirubin_umol_l=bili, albumin_g_l=alb),
        sc.tumour_burden(largest_diameter_cm=d, tumour_number=num),
        sc.hap(albumin_g_l=alb, afp_ng_ml=afp, bilirubin_umol_l=bili, largest_diameter_cm=d,
               tumour_number=num),
        sc.albi_tae(bilirubin_umol_l=bili, albumin_g_l=alb, afp_ng_ml=afp,
                    largest_diameter_cm=d, tumour_number=num),
        sc.state(albumin_g_l=alb, crp_mg_l=crp, largest_diameter_cm=d, tumour_number=num),
        sc.crafity(afp_ng_ml=afp, crp_mg_l=crp),
        sc.inflammation_ratios(neutrophils_10e9_l=rng.uniform(1, 9, n),
                               lymphocytes_10e9_l=rng.uniform(0.3, 3, n),
                               platelets_10e9_l=rng.uniform(50, 400, n)),
        bclc_2022(**stage).rename(columns={"bclc": "bclc_2022"}),
        cnlc(**stage),
        pd.DataFrame({"child_pugh_class": cp}),
    ]
    frame = pd.concat(parts, axis=1)
    frame.insert(0, "patient_id", [f"P{i:03d}" for i in range(n)])
    return frame


def test_every_category_of_the_scoring_code_is_mapped():
    frame = _scored_cohort()
    for name, spec in CLINICAL_SCORES.items():
        produced = set(frame[spec.column].dropna().astype(str))
        assert produced <= set(spec.levels), name
        risk = score_risk(frame, name)
        assert risk.notna().sum() == frame[spec.column].notna().sum()
    # the cohort exercises the extremes of the ordinal scales
    assert set(frame["bclc_2022"].dropna()) >= {"A", "B", "C", "D"}


@pytest.mark.parametrize("score, points", [("hap", "hap_points"), ("mhap2", "mhap2_points"),
                                           ("albi_tae", "albi_tae_points"),
                                           ("crafity", "crafity_points")])
def test_point_scores_rank_like_their_points(score, points):
    # known answer: the letters/groups are the points capped at the top group (A0 B1 C2 D>=3)
    frame = _scored_cohort(seed=1)
    top = len(CLINICAL_SCORES[score].levels) - 1
    expected = frame[points].astype(float).clip(upper=top)
    np.testing.assert_array_equal(score_risk(frame, score).to_numpy(), expected.to_numpy())


def test_tumour_burden_orders_follow_the_sum():
    frame = _scored_cohort(seed=2)
    s = frame["d_plus_n"].to_numpy()
    np.testing.assert_array_equal(score_risk(frame, "six_and_twelve"),
                                  np.where(s <= 6, 0, np.where(s <= 12, 1, 2)))
    np.testing.assert_array_equal(score_risk(frame, "up_to_7"), (s > 7).astype(float))
    np.testing.assert_array_equal(score_risk(frame, "seven_eleven"),
                                  np.where(s <= 7, 0, np.where(s <= 11, 1, 2)))


def test_staging_orders():
    f = pd.DataFrame({"patient_id": list("abcdefg"),
                      "bclc_2022": ["0", "A", "B", "C", "D", None, "B"],
                      "cnlc": ["Ia", "Ib", "IIa", "IIb", "IIIa", "IIIb", "IV"]})
    np.testing.assert_array_equal(score_risk(f, "bclc_2022"), [0, 1, 2, 3, 4, np.nan, 2])
    np.testing.assert_array_equal(score_risk(f, "cnlc"), np.arange(7.0))


def test_score_risk_keeps_index_and_reads_numeric_grades():
    f = pd.DataFrame({"albi_grade": [1.0, 3.0, np.nan, 2]}, index=["p1", "p2", "p3", "p4"])
    r = score_risk(f, "albi_grade")
    assert list(r.index) == ["p1", "p2", "p3", "p4"]
    np.testing.assert_array_equal(r, [0, 2, np.nan, 1])


def test_unknown_category_names_patient_and_value():
    f = pd.DataFrame({"patient_id": ["WX-1", "WX-2"], "crafity": ["low", "very high"]})
    with pytest.raises(DataError, match=r"WX-2.*'very high'.*low, intermediate, high"):
        score_risk(f, "crafity")


def test_unknown_score_suggests_nearest():
    with pytest.raises(UsageError, match="did you mean 'crafity'"):
        score_risk(pd.DataFrame({"crafity": ["low"]}), "crafty")


def test_missing_score_column():
    with pytest.raises(DataError, match="no column 'hap'"):
        score_risk(pd.DataFrame({"patient_id": ["a"]}), "hap")


def test_clinical_score_baseline():
    f = pd.DataFrame({"patient_id": ["a", "b"], "hap": ["D", "A"]})
    model = ClinicalScoreBaseline("hap")
    assert model.fit() is model
    assert model.levels_ == ("A", "B", "C", "D")
    np.testing.assert_array_equal(model.predict(f), [3.0, 0.0])
    with pytest.raises(UsageError, match="did you mean 'hap'"):
        ClinicalScoreBaseline("happ").fit()


# --------------------------------------------------------------------------- survival data


def _cox_data(n=300, p=4, beta=(1.0, -0.7, 0.0, 0.0), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    lp = x @ np.asarray(beta)
    t_event = rng.exponential(365 * np.exp(-lp))
    t_cens = rng.exponential(600, n)
    return x, np.minimum(t_event, t_cens), t_event <= t_cens


def _held_out_c(time, event, risk):
    from lifelines.utils import concordance_index

    return concordance_index(time, -risk, event)


def test_cox_matches_lifelines_and_recovers_the_signs():
    from lifelines import CoxPHFitter

    x, t, e = _cox_data()
    names = ["afp", "albumin", "noise1", "noise2"]
    model = CoxBaseline(columns=names).fit(X=x[:200], time=t[:200], event=e[:200])
    df = pd.DataFrame(x[:200], columns=names).assign(T=t[:200], E=e[:200].astype(int))
    ref = CoxPHFitter().fit(df, "T", "E").params_[names].to_numpy()
    np.testing.assert_allclose(model.coef_, ref, rtol=1e-6)
    assert model.coef_[0] > 0.5 and model.coef_[1] < -0.3
    risk = model.predict(x[200:])
    np.testing.assert_allclose(risk, x[200:] @ ref, rtol=1e-6)
    assert _held_out_c(t[200:], e[200:], risk) > 0.6


def test_cox_penalizer_shrinks():
    x, t, e = _cox_data(n=150)
    plain = CoxBaseline().fit(X=x, time=t, event=e)
    ridge = CoxBaseline(penalizer=1.0).fit(X=x, time=t, event=e)
    assert np.abs(ridge.coef_).sum() < np.abs(plain.coef_).sum()


def test_penalised_cox_inner_cv():
    x, t, e = _cox_data(n=240, seed=3)
    grid = (0.01, 0.1, 1.0)
    model = PenalisedCoxBaseline(penalizers=grid, inner_folds=3, seed=0)
    model.fit(X=x[:160], time=t[:160], event=e[:160])
    cv = model.cv_results_
    assert list(cv.columns) == ["penalizer", "mean_c", "std_c", "n_folds", "chosen"]
    assert cv["chosen"].sum() == 1
    assert model.penalizer_ == cv.loc[cv["mean_c"].idxmax(), "penalizer"]
    assert (cv["n_folds"] == 3).all() and cv["mean_c"].between(0.5, 1).all()
    # the refit equals a plain lifelines fit with the chosen penalizer on all training rows
    ref = CoxBaseline(penalizer=model.penalizer_).fit(X=x[:160], time=t[:160], event=e[:160])
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-6)
    assert _held_out_c(t[160:], e[160:], model.predict(x[160:])) > 0.6


def test_penalised_cox_is_reproducible():
    x, t, e = _cox_data(n=200, seed=4)
    a = PenalisedCoxBaseline(penalizers=(0.05, 0.5)).fit(X=x[:150], time=t[:150],
                                                         event=e[:150])
    b = PenalisedCoxBaseline(penalizers=(0.05, 0.5)).fit(X=x[:150], time=t[:150],
                                                         event=e[:150])
    pd.testing.assert_frame_equal(a.cv_results_, b.cv_results_)
    c = PenalisedCoxBaseline(penalizers=(0.05, 0.5), seed=1).fit(X=x[:150], time=t[:150],
                                                                 event=e[:150])
    assert not np.allclose(a.cv_results_["mean_c"], c.cv_results_["mean_c"])  # other folds


def test_stratified_folds_spread_events():
    labels = np.r_[np.ones(30, int), np.zeros(60, int)]
    folds = _stratified_folds(labels, 3, seed=0)
    for k in range(3):
        assert (labels[folds == k] == 1).sum() == 10
        assert (folds == k).sum() == 30


def test_penalised_cox_too_few_events():
    x, t, _ = _cox_data(n=40)
    e = np.zeros(40, bool)
    e[:2] = True
    with pytest.raises(DataError, match="2 event"):
        PenalisedCoxBaseline(inner_folds=3).fit(X=x, time=t, event=e)


# --------------------------------------------------------------------------- random forest


def test_random_survival_forest_matches_sksurv_and_learns():
    pytest.importorskip("sksurv")
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.util import Surv

    x, t, e = _cox_data(n=260, seed=5)
    model = RandomSurvivalForestBaseline(n_estimators=40, min_samples_leaf=10, seed=1)
    model.fit(X=x[:180], time=t[:180], event=e[:180])
    ref = RandomSurvivalForest(n_estimators=40, min_samples_leaf=10, max_features="sqrt",
                               random_state=1, n_jobs=1)
    ref.fit(x[:180], Surv.from_arrays(event=e[:180], time=t[:180]))
    np.testing.assert_allclose(model.predict(x[180:]), ref.predict(x[180:]))
    assert _held_out_c(t[180:], e[180:], model.predict(x[180:])) > 0.6


def test_random_survival_forest_without_sksurv(monkeypatch):
    monkeypatch.setitem(sys.modules, "sksurv.ensemble", None)
    x, t, e = _cox_data(n=30)
    with pytest.raises(UsageError, match=r"pip install 'hccfusion\[survival-baselines\]'"):
        RandomSurvivalForestBaseline().fit(X=x, time=t, event=e)


# --------------------------------------------------------------------------- logistic


def _response_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    p = 1 / (1 + np.exp(-(x[:, 0] * 1.5 - x[:, 1] - 0.3)))
    return x, (rng.random(n) < p).astype(float)


def test_logistic_learns_and_matches_sklearn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    x, y = _response_data()
    model = LogisticBaseline(Cs=(0.01, 1.0), inner_folds=3, seed=0).fit(X=x[:200], y=y[:200])
    assert model.C_ in (0.01, 1.0)
    cv = model.cv_results_
    assert list(cv.columns) == ["C", "mean_auc", "std_auc", "n_folds", "chosen"]
    assert model.C_ == cv.loc[cv["mean_auc"].idxmax(), "C"]
    ref = LogisticRegression(C=model.C_, max_iter=2000).fit(x[:200], y[:200])
    prob = model.predict(x[200:])
    np.testing.assert_allclose(prob, ref.predict_proba(x[200:])[:, 1], rtol=1e-6)
    assert ((prob >= 0) & (prob <= 1)).all()
    assert roc_auc_score(y[200:], prob) > 0.7
    assert model.coef_[0] > 0 and model.coef_[1] < 0


def test_logistic_rejects_missing_response():
    x, y = _response_data(n=50)
    y[3] = np.nan
    with pytest.raises(DataError, match="row 3"):
        LogisticBaseline().fit(X=x, y=y)


def test_logistic_needs_both_classes_in_every_fold():
    x, _ = _response_data(n=30)
    y = np.zeros(30)
    y[:2] = 1
    with pytest.raises(DataError, match="smaller class has 2"):
        LogisticBaseline(inner_folds=3).fit(X=x, y=y)


# --------------------------------------------------------------------------- shared failures


def _fits():
    x, t, e = _cox_data(n=60)
    _, y = _response_data(n=60)
    return [
        (CoxBaseline(), dict(time=t, event=e)),
        (PenalisedCoxBaseline(penalizers=(0.1,)), dict(time=t, event=e)),
        (RandomSurvivalForestBaseline(n_estimators=5), dict(time=t, event=e)),
        (LogisticBaseline(Cs=(1.0,)), dict(y=y)),
    ]


@pytest.mark.parametrize("k", range(4))
def test_nan_in_X_is_a_data_error(k):
    if k == 2:
        pytest.importorskip("sksurv")
    est, kw = _fits()[k]
    x, _, _ = _cox_data(n=60)
    x[7, 2] = np.nan
    with pytest.raises(DataError, match="row 7"):
        est.fit(X=x, **kw)


@pytest.mark.parametrize("k", range(4))
def test_predict_before_fit_and_wrong_width(k):
    if k == 2:
        pytest.importorskip("sksurv")
    est, kw = _fits()[k]
    x, _, _ = _cox_data(n=60)
    with pytest.raises(UsageError, match="not fitted"):
        est.predict(x)
    est.fit(X=x, **kw)
    with pytest.raises(UsageError, match="4 columns"):
        est.predict(x[:, :3])
    bad = x[:5].copy()
    bad[1, 0] = np.inf
    with pytest.raises(DataError, match="row 1"):
        est.predict(bad)


def test_bad_parameters():
    x, t, e = _cox_data(n=60)
    with pytest.raises(UsageError, match="The 'penalizer' parameter of CoxBaseline"):
        CoxBaseline(penalizer=-1).fit(X=x, time=t, event=e)
    with pytest.raises(UsageError, match="The 'l1_ratio' parameter"):
        CoxBaseline(l1_ratio=2).fit(X=x, time=t, event=e)
    with pytest.raises(UsageError, match="The 'columns' parameter"):
        CoxBaseline(columns=["a"]).fit(X=x, time=t, event=e)
    with pytest.raises(UsageError, match="The 'penalizers' parameter"):
        PenalisedCoxBaseline(penalizers=()).fit(X=x, time=t, event=e)
    with pytest.raises(UsageError, match="The 'inner_folds' parameter"):
        PenalisedCoxBaseline(inner_folds=1).fit(X=x, time=t, event=e)
    with pytest.raises(DataError, match="no event"):
        CoxBaseline().fit(X=x, time=t, event=np.zeros(60, bool))
    with pytest.raises(UsageError, match="one value per row"):
        CoxBaseline().fit(X=x, time=t[:10], event=e[:10])
