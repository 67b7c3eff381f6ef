"""Risk cut-offs: log-rank parity with lifelines, brute-force optimum, Lausen–Schumacher p,
leakage (validation risks never move a fitted cut-off), JSON round trip, failure cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from lifelines.statistics import logrank_test, multivariate_logrank_test
from scipy.stats import norm

from hccfusion.errors import DataError, SchemaVersionError, UsageError
from hccfusion.evaluation.cutoffs import (
    MaxStatCutoff,
    MedianCutoff,
    TertileCutoff,
    XTileCutoff,
    cutoff_from_dict,
    lausen_schumacher_p,
    logrank_splits,
)


def _cohort(n=90, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    hazard = np.exp(1.5 * (risk > 0.4))  # true change point at 0.4
    t = rng.exponential(365 / hazard)
    c = rng.uniform(100, 900, size=n)
    time, event = np.minimum(t, c), t <= c
    if ties:
        time = np.ceil(time / 30) * 30
        risk = np.round(risk, 1)
    return time, event, risk


def _lifelines_chi2(time, event, group_low):
    return logrank_test(time[group_low], time[~group_low], event[group_low],
                        event[~group_low]).test_statistic


@pytest.mark.parametrize("ties", [False, True])
def test_logrank_splits_match_lifelines(ties):
    time, event, risk = _cohort(ties=ties)
    cuts = np.quantile(risk, [0.2, 0.5, 0.8])
    ours = logrank_splits(time=time, event=event, risk=risk, cutoffs=cuts)
    ref = [_lifelines_chi2(time, event, risk <= c) for c in cuts]
    np.testing.assert_allclose(ours, ref, rtol=1e-8)


@pytest.mark.parametrize("ties", [False, True])
def test_maxstat_is_the_brute_force_maximum_over_admissible_cuts(ties):
    time, event, risk = _cohort(n=60, ties=ties)
    fit = MaxStatCutoff().fit(time=time, event=event, risk=risk)
    n = risk.size
    # exactRankTests::cscores log-rank scores, written out patient by patient: the risk set of a
    # tied time counts from after its last tied member (R's irank gives ties the max rank)
    scores = np.empty(n)
    for i in range(n):
        h = sum(event[time == s].sum() / (n - (time <= s).sum() + 1)
                for s in np.unique(time[time <= time[i]]))
        scores[i] = event[i] - h
    best, best_c = -1.0, None
    for c in np.unique(risk)[:-1]:
        lower = risk <= c
        m = lower.sum()
        if max(1, np.floor(0.1 * n)) <= m <= np.floor(0.9 * n):
            var = m * (n - m) / (n * n * (n - 1)) * (n * (scores ** 2).sum() - scores.sum() ** 2)
            stat = abs(scores[lower].sum() - m * scores.mean()) / np.sqrt(var)
            if stat > best:
                best, best_c = stat, c
    assert fit.cutoffs_[0] == best_c
    assert fit.statistic_ == pytest.approx(best, rel=1e-8)
    assert fit.p_value_ == pytest.approx(lausen_schumacher_p(fit.statistic_))
    # the true change point (0.4) is recovered approximately
    assert abs(fit.cutoffs_[0] - 0.4) < 0.8


def test_lausen_schumacher_hand_value():
    # b = 3: φ(3) = 0.004431848; log(0.9·0.9 / (0.1·0.1)) = log 81 = 4.394449.
    # p = 4·0.004431848/3 + 0.004431848·(3 − 1/3)·4.394449 = 0.005909 + 0.051935 = 0.057844.
    assert lausen_schumacher_p(3.0) == pytest.approx(0.057844, abs=2e-6)
    b = 2.5
    expect = 4 * norm.pdf(b) / b + norm.pdf(b) * (b - 1 / b) * np.log(81)
    assert lausen_schumacher_p(b) == pytest.approx(min(expect, 1.0))
    # Below b = 1 the asymptotic formula is not monotone in b; we report 1.
    assert lausen_schumacher_p(0.5) == 1.0
    # narrower admissible range → smaller penalty
    assert lausen_schumacher_p(3.0, minprop=0.25, maxprop=0.75) < lausen_schumacher_p(3.0)


def test_xtile_two_groups_brute_force():
    time, event, risk = _cohort(n=70, seed=3)
    fit = XTileCutoff(min_prop=0.1).fit(time=time, event=event, risk=risk)
    n = risk.size
    ref = max((_lifelines_chi2(time, event, risk <= c), c) for c in np.unique(risk)[:-1]
              if 0.1 * n <= (risk <= c).sum() <= 0.9 * n)
    assert fit.statistic_ == pytest.approx(ref[0], rel=1e-8)
    assert fit.cutoffs_[0] == ref[1]
    assert fit.labels_ == ("low", "high")


def test_xtile_three_groups_brute_force_against_lifelines_multivariate():
    time, event, risk = _cohort(n=26, seed=5)
    fit = XTileCutoff(n_groups=3, min_prop=0.2).fit(time=time, event=event, risk=risk)
    n = risk.size
    values = np.unique(risk)[:-1]
    best = (-1.0, None)
    for i, c1 in enumerate(values):
        for c2 in values[i + 1:]:
            g = np.searchsorted([c1, c2], risk, side="left")
            if np.min(np.bincount(g, minlength=3)) < 0.2 * n:
                continue
            s = multivariate_logrank_test(time, g, event).test_statistic
            if s > best[0]:
                best = (s, (c1, c2))
    assert fit.statistic_ == pytest.approx(best[0], rel=1e-6)
    assert tuple(fit.cutoffs_) == best[1]
    assert set(fit.transform(risk)) == {"low", "intermediate", "high"}


def test_median_and_tertile_groups_and_statistics():
    time, event, risk = _cohort()
    med = MedianCutoff().fit(time=time, event=event, risk=risk)
    assert med.cutoffs_[0] == np.median(risk)
    labels = med.transform(risk)
    assert (labels == "high").sum() == 45
    assert med.statistic_ == pytest.approx(_lifelines_chi2(time, event, risk <= np.median(risk)))
    ter = TertileCutoff().fit(time=time, event=event, risk=risk)
    groups = ter.transform(risk)
    assert [int((groups == g).sum()) for g in ter.labels_] == [30, 30, 30]
    g = np.searchsorted(ter.cutoffs_, risk, side="left")
    ref = multivariate_logrank_test(time, g, event)
    assert ter.statistic_ == pytest.approx(ref.test_statistic, rel=1e-8)
    assert ter.p_value_ == pytest.approx(ref.p_value, rel=1e-6)


def test_boundary_value_goes_to_the_lower_group():
    time, event, risk = _cohort()
    fit = MaxStatCutoff().fit(time=time, event=event, risk=risk)
    c = fit.cutoffs_[0]
    assert list(fit.transform([c, np.nextafter(c, np.inf)])) == ["low", "high"]


@pytest.mark.parametrize("make", [MedianCutoff, TertileCutoff, XTileCutoff, MaxStatCutoff])
def test_leakage_validation_risks_never_move_the_fitted_cutoff(make):
    time, event, risk = _cohort(seed=1)
    fit = make().fit(time=time, event=event, risk=risk)
    frozen = fit.to_dict()
    rng = np.random.default_rng(0)
    validation = rng.normal(size=50)
    before = fit.transform(validation)
    for corrupt in (validation * 100 + 7, -validation, np.full(50, 1e6)):
        fit.transform(corrupt)
    assert fit.to_dict() == frozen
    np.testing.assert_array_equal(fit.transform(validation), before)
    with pytest.raises(UsageError, match="already fitted and frozen"):
        fit.fit(time=time[:50], event=event[:50], risk=validation)
    assert fit.to_dict() == frozen
    assert not hasattr(fit, "fit_transform")


@pytest.mark.parametrize("make", [MedianCutoff, TertileCutoff,
                                  lambda: XTileCutoff(n_groups=3), MaxStatCutoff])
def test_json_round_trip(make):
    time, event, risk = _cohort(seed=2)
    fit = make().fit(time=time, event=event, risk=risk)
    payload = json.loads(json.dumps(fit.to_dict()))
    back = cutoff_from_dict(payload)
    assert type(back) is type(fit)
    assert back.get_params() == fit.get_params()
    np.testing.assert_array_equal(back.cutoffs_, fit.cutoffs_)
    assert (back.statistic_, back.p_value_, back.n_train_) == (
        fit.statistic_, fit.p_value_, fit.n_train_)
    np.testing.assert_array_equal(back.transform(risk), fit.transform(risk))
    assert type(type(fit).from_dict(payload)) is type(fit)
    with pytest.raises(UsageError, match="already fitted"):
        back.fit(time=time, event=event, risk=risk)


def test_from_dict_failures():
    time, event, risk = _cohort()
    payload = MedianCutoff().fit(time=time, event=event, risk=risk).to_dict()
    with pytest.raises(SchemaVersionError, match="format_version 99"):
        cutoff_from_dict({**payload, "format_version": 99})
    with pytest.raises(UsageError, match="did you mean 'median'"):
        cutoff_from_dict({**payload, "kind": "medain"})
    with pytest.raises(UsageError, match="malformed"):
        cutoff_from_dict({**payload, "labels": ["low"]})
    with pytest.raises(UsageError, match="got a 'median' cut-off"):
        MaxStatCutoff.from_dict(payload)


def test_input_failures():
    time, event, risk = _cohort()
    with pytest.raises(UsageError, match="not fitted yet"):
        MedianCutoff().transform(risk)
    with pytest.raises(UsageError, match="'event' parameter .* 1/2"):
        MedianCutoff().fit(time=time, event=event.astype(int) + 1, risk=risk)
    with pytest.raises(DataError, match="at least one event"):
        MedianCutoff().fit(time=time, event=np.zeros_like(event), risk=risk)
    with pytest.raises(DataError, match="NaN"):
        MaxStatCutoff().fit(time=time, event=event, risk=np.where(risk > 1, np.nan, risk))
    with pytest.raises(UsageError, match="'minprop' parameter of MaxStatCutoff"):
        MaxStatCutoff(minprop=0.7).fit(time=time, event=event, risk=risk)
    with pytest.raises(UsageError, match="'n_groups' parameter of XTileCutoff"):
        XTileCutoff(n_groups=4).fit(time=time, event=event, risk=risk)
    with pytest.raises(DataError, match="constant"):
        MedianCutoff().fit(time=time, event=event, risk=np.ones_like(risk))


def test_logrank_scores_equal_exactranktests_cscores():
    # R: exactRankTests::cscores(Surv(c(1,2,2,2,3,4), c(1,1,1,0,1,0))) printed
    # 0.8333333 0.1666667 0.1666667 -0.8333333 -0.3333333 -1.3333333 (R 4.2.2, this session).
    from hccfusion.evaluation.cutoffs import logrank_scores

    got = logrank_scores(time=np.array([1, 2, 2, 2, 3, 4.0]), event=np.array([1, 1, 1, 0, 1, 0.0]))
    expected = [5 / 6, 1 / 6, 1 / 6, -5 / 6, -1 / 3, -4 / 3]
    assert got == pytest.approx(expected, abs=1e-7)
