"""Kaplan–Meier, median survival and reverse-KM follow-up against lifelines and scikit-survival."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_rossi, load_waltons
from lifelines.utils import median_survival_times, qth_survival_time
from sksurv.datasets import load_veterans_lung_cancer
from sksurv.nonparametric import kaplan_meier_estimator

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.survival_curves import (
    kaplan_meier,
    median_survival,
    reverse_km_followup,
)

TOL = 1e-6


def _waltons():
    df = load_waltons()
    return df["T"].to_numpy(float), df["E"].to_numpy(bool), df["group"].to_numpy()


def _rossi():
    df = load_rossi()
    return df["week"].to_numpy(float), df["arrest"].to_numpy(bool), df["fin"].to_numpy()


def _veterans():
    x, y = load_veterans_lung_cancer()
    return (y["Survival_in_days"].astype(float), y["Status"].astype(bool),
            x["Celltype"].astype(str).to_numpy())


def _generated():
    rng = np.random.default_rng(7)
    n = 300
    g = rng.choice(np.array(["A", "B", "C"]), n)
    death = rng.exponential(np.where(g == "A", 400.0, np.where(g == "B", 700.0, 1000.0)))
    censor = rng.uniform(30, 1500, n)
    # rounding to whole days creates ties between events and censorings
    return np.round(np.minimum(death, censor)), death <= censor, g


DATASETS = {"waltons": _waltons, "rossi": _rossi, "veterans": _veterans, "generated": _generated}


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_km_matches_lifelines(name, confidence):
    t, e, g = DATASETS[name]()
    km = kaplan_meier(time=t, event=e, group=g, confidence=confidence)
    assert km.groups == tuple(sorted(set(g)))
    for level in km.groups:
        m = g == level
        kmf = KaplanMeierFitter(alpha=1 - confidence).fit(t[m], e[m])
        sub = km.table[km.table["group"] == level]
        np.testing.assert_allclose(sub["time"], kmf.survival_function_.index, atol=0)
        np.testing.assert_allclose(sub["surv"], kmf.survival_function_.iloc[:, 0], atol=TOL)
        np.testing.assert_allclose(sub["ci_low"], kmf.confidence_interval_.iloc[:, 0], atol=TOL)
        np.testing.assert_allclose(sub["ci_high"], kmf.confidence_interval_.iloc[:, 1], atol=TOL)
        et = kmf.event_table
        np.testing.assert_array_equal(sub["n_at_risk"], et["at_risk"])
        np.testing.assert_array_equal(sub["n_events"], et["observed"])
        np.testing.assert_array_equal(sub["n_censored"], et["censored"])


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_km_matches_sksurv_loglog(name):
    t, e, g = DATASETS[name]()
    km = kaplan_meier(time=t, event=e, group=g)
    for level in km.groups:
        m = g == level
        x, s, ci = kaplan_meier_estimator(e[m], t[m], conf_type="log-log")
        sub = km.table[(km.table["group"] == level) & km.table["time"].isin(x)]
        np.testing.assert_array_equal(sub["time"], x)
        np.testing.assert_allclose(sub["surv"], s, atol=TOL)
        np.testing.assert_allclose(sub["ci_low"], ci[0], atol=TOL)
        np.testing.assert_allclose(sub["ci_high"], ci[1], atol=TOL)


def test_single_group_and_time_zero_row():
    km = kaplan_meier(time=[5, 8, 8, 12], event=[True, True, False, True])
    tab = km.table
    assert tab["group"].unique().tolist() == ["all"]
    assert tab["time"].tolist() == [0, 5, 8, 12]
    np.testing.assert_allclose(tab["surv"], [1, 0.75, 0.5, 0.0])
    assert tab.iloc[-1][["ci_low", "ci_high"]].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_median_and_ci_match_lifelines(name):
    t, e, g = DATASETS[name]()
    med = median_survival(time=t, event=e, group=g).table
    for _, row in med.iterrows():
        m = g == row["group"]
        kmf = KaplanMeierFitter().fit(t[m], e[m])
        ref_ci = median_survival_times(kmf.confidence_interval_)
        ref = [kmf.median_survival_time_, ref_ci.iloc[0, 0], ref_ci.iloc[0, 1]]
        ref = [np.nan if np.isinf(v) else v for v in ref]
        np.testing.assert_allclose([row["median"], row["ci_low"], row["ci_high"]], ref)
        assert row["n"] == m.sum() and row["n_events"] == e[m].sum()


def test_median_flat_at_half_uses_r_midpoint_rule():
    # R: print(survfit(Surv(1:4, rep(1, 4)) ~ 1)) reports median 2.5 (S = 0.5 on [2, 3)).
    # lifelines reports 2.0, so this is the one place we deliberately follow R instead.
    med = median_survival(time=[1, 2, 3, 4], event=[True] * 4).table
    assert med["median"].item() == 2.5


def test_median_not_reached_is_nan():
    med = median_survival(time=[1, 2, 3, 4, 5], event=[True, False, False, False, False]).table
    assert np.isnan(med["median"].item()) and np.isnan(med["ci_high"].item())


@pytest.mark.parametrize("name", ["rossi", "generated"])
def test_reverse_km_followup_matches_lifelines(name):
    t, e, _ = DATASETS[name]()
    fu = reverse_km_followup(time=t, event=e)
    kmf = KaplanMeierFitter().fit(t, ~e)
    assert fu.median_days == pytest.approx(kmf.median_survival_time_)
    assert fu.q1_days == pytest.approx(qth_survival_time(0.75, kmf.survival_function_))
    assert fu.q3_days == pytest.approx(qth_survival_time(0.25, kmf.survival_function_))
    ci = median_survival_times(kmf.confidence_interval_)
    assert [fu.ci_low, fu.ci_high] == pytest.approx([ci.iloc[0, 0], ci.iloc[0, 1]], nan_ok=True)
    assert fu.n == t.size and fu.n_censored == (~e).sum()


def test_rossi_reverse_followup_is_the_study_length():
    t, e, _ = _rossi()
    assert reverse_km_followup(time=t, event=e).median_days == 52.0


def test_at_risk_counts_and_partition():
    t, e, g = _veterans()
    km = kaplan_meier(time=t, event=e, group=g)
    months = np.arange(0, 37, 6) * 30.4375
    ar = km.at_risk(months)
    assert list(ar.columns) == ["group", "time", "n_at_risk", "n_events", "n_censored"]
    for _, row in ar.iterrows():
        m = g == row["group"]
        assert row["n_at_risk"] == (t[m] >= row["time"]).sum()
        assert row["n_events"] == (e[m] & (t[m] < row["time"])).sum()
        assert row["n_at_risk"] + row["n_events"] + row["n_censored"] == m.sum()


def test_survival_at_matches_lifelines_predict():
    t, e, g = _waltons()
    km = kaplan_meier(time=t, event=e, group=g)
    times = np.array([0.0, 10.5, 30.0, 58.0, 60.0])
    got = km.survival_at(times)
    for level in km.groups:
        m = g == level
        kmf = KaplanMeierFitter().fit(t[m], e[m])
        sub = got[got["group"] == level]
        np.testing.assert_allclose(sub["surv"], kmf.predict(times), atol=TOL)
        band = kmf.confidence_interval_
        for x, lo in zip(times, sub["ci_low"]):
            assert lo == pytest.approx(band[band.index <= x].iloc[-1, 0], abs=TOL)


def test_survival_beyond_last_censored_time_is_nan():
    km = kaplan_meier(time=[2, 4, 6], event=[True, False, False])
    got = km.survival_at([5, 7])
    assert got["surv"].iloc[0] == pytest.approx(2 / 3)
    assert np.isnan(got["surv"].iloc[1])
    km0 = kaplan_meier(time=[2, 4], event=[True, True])
    assert km0.survival_at([10])["surv"].item() == 0.0


def test_at_times_rows_added_without_events():
    t, e, _ = _rossi()
    km = kaplan_meier(time=t, event=e, at_times=[10.5, 26.5])
    tab = km.table.set_index("time")
    assert tab.loc[10.5, "n_events"] == 0 and tab.loc[10.5, "n_censored"] == 0
    assert tab.loc[10.5, "surv"] == tab.loc[10.0, "surv"]
    assert tab.loc[26.5, "n_at_risk"] == (t >= 26.5).sum()
    # the added rows must not disturb the estimate itself
    plain = kaplan_meier(time=t, event=e).table.set_index("time")
    pd.testing.assert_series_equal(tab.loc[plain.index, "surv"], plain["surv"])


def test_categorical_group_keeps_category_order():
    g = pd.Categorical(["low", "high", "mid", "low"], categories=["low", "mid", "high"])
    km = kaplan_meier(time=[1, 2, 3, 4], event=[True] * 4, group=g)
    assert km.groups == ("low", "mid", "high")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(time=[1, 2], event=[1, 2]), DataError, "1/2 status codes"),
        (dict(time=[1, -2], event=[True, True]), DataError, "finite and >= 0"),
        (dict(time=[1, np.nan], event=[True, True]), DataError, "position 1"),
        (dict(time=[1, 2, 3], event=[True, True]), UsageError, "same length"),
        (dict(time=[], event=[]), DataError, "at least one patient"),
        (dict(time=[1, 2], event=["yes", "no"]), UsageError, "must be bool"),
        (dict(time=[1, 2], event=[True, True], confidence=1.5), UsageError, r"in \(0, 1\)"),
        (dict(time=[1, 2], event=[True, True], group=["a", None]), DataError, "missing"),
        (dict(time=[1, 2], event=[True, True], group=["a"]), UsageError, "one label per patient"),
    ],
)
def test_bad_input_is_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        kaplan_meier(**kwargs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.booleans()), min_size=1, max_size=40),
       st.floats(0.5, 0.99))
def test_km_properties(data, confidence):
    t = np.array([d[0] for d in data], float)
    e = np.array([d[1] for d in data])
    tab = kaplan_meier(time=t, event=e, confidence=confidence).table
    s = tab["surv"].to_numpy()
    assert np.all((s >= 0) & (s <= 1))
    assert np.all(np.diff(s) <= 1e-12)
    assert np.all(tab["ci_low"] <= s + 1e-12) and np.all(s <= tab["ci_high"] + 1e-12)
    assert np.all((tab["ci_low"] >= 0) & (tab["ci_high"] <= 1))
    assert tab["n_events"].sum() == e.sum() and tab["n_censored"].sum() == (~e).sum()
    med = median_survival(time=t, event=e, confidence=confidence).table.iloc[0]
    if not np.isnan(med["median"]):
        assert med["ci_low"] <= med["median"]
        assert np.isnan(med["ci_high"]) or med["median"] <= med["ci_high"]
