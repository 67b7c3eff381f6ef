"""Calibration at a horizon: KM against lifelines, slope against scikit-survival, ICI against an
independent spline + scikit-survival fit, and hand-computed group tables."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_rossi

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.calibration import (
    calibration_in_the_large,
    calibration_slope,
    calibration_table,
    km_at,
    smoothed_calibration,
)

HORIZON = 365.0
BASE_HAZARD = 1 / 500  # per day, exponential baseline


def _cohort(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exponential survival with a known linear predictor; the true S(t) is exp(−λ t e^lp)."""
    rng = np.random.default_rng(seed)
    lp = 0.8 * rng.normal(size=n)
    event_time = rng.exponential(1 / (BASE_HAZARD * np.exp(lp)))
    censor = rng.uniform(100, 1500, n)
    return np.minimum(event_time, censor), event_time <= censor, lp


def _true_survival(lp: np.ndarray) -> np.ndarray:
    return np.exp(-BASE_HAZARD * HORIZON * np.exp(lp))


def test_km_at_matches_lifelines_with_ci() -> None:
    rossi = load_rossi()
    kmf = KaplanMeierFitter().fit(rossi["week"], rossi["arrest"])
    for horizon in (10.0, 26.0, 52.0):
        s, lo, hi = km_at(rossi["week"].to_numpy(), rossi["arrest"].to_numpy(bool), horizon)
        assert s == pytest.approx(float(kmf.predict(horizon)), rel=1e-12)
        ci = kmf.confidence_interval_survival_function_.loc[:horizon].iloc[-1]
        assert lo == pytest.approx(ci.iloc[0], rel=1e-10)
        assert hi == pytest.approx(ci.iloc[1], rel=1e-10)


def test_calibration_table_groups_by_hand() -> None:
    # 6 patients, 3 groups of 2 by predicted risk (1 − S).
    time = np.array([100, 400, 50, 500, 30, 80], dtype=float)
    event = np.array([False, False, True, False, True, True])
    surv = np.array([0.9, 0.8, 0.6, 0.5, 0.2, 0.1])
    table = calibration_table(time=time, event=event, survival=surv, horizon_days=365,
                              n_groups=3)
    assert list(table["group"]) == [1, 2, 3]
    assert list(table["n"]) == [2, 2, 2]
    np.testing.assert_allclose(table["predicted_survival"], [0.85, 0.55, 0.15])
    # Group 1: no events → KM 1. Group 2: event at 50 with 2 at risk → 1/2.
    # Group 3: events at 30 and 80 → 0.
    np.testing.assert_allclose(table["observed_survival"], [1.0, 0.5, 0.0])
    assert list(table["events"]) == [0, 1, 2]
    assert list(table["censored_before_horizon"]) == [1, 0, 0]
    np.testing.assert_allclose(table["observed_risk"], 1 - table["observed_survival"])


def test_calibration_table_observed_equals_lifelines_km_per_quintile() -> None:
    time, event, lp = _cohort()
    surv = _true_survival(lp)
    table = calibration_table(time=time, event=event, survival=surv, horizon_days=HORIZON,
                              n_groups=5)
    order = np.argsort(1 - surv, kind="stable")
    for g, idx in enumerate(np.array_split(order, 5), start=1):
        kmf = KaplanMeierFitter().fit(time[idx], event[idx])
        row = table.loc[table["group"] == g].iloc[0]
        assert row["n"] == len(idx)
        assert row["observed_survival"] == pytest.approx(float(kmf.predict(HORIZON)), rel=1e-12)
        assert row["predicted_survival"] == pytest.approx(surv[idx].mean())
    # Well-specified predictions: every group's CI covers or nearly covers the prediction.
    assert np.all(np.abs(table["observed_survival"] - table["predicted_survival"]) < 0.12)
    assert table["predicted_survival"].is_monotonic_decreasing


def test_calibration_in_the_large_by_hand() -> None:
    time = np.array([100, 200, 300, 400], dtype=float)
    event = np.array([True, False, True, False])
    surv = np.array([0.5, 0.6, 0.7, 0.8])
    result = calibration_in_the_large(time=time, event=event, survival=surv, horizon_days=350)
    # KM: 3/4 at 100; 2 at risk at 300 → 3/4 · 1/2 = 0.375.
    assert result.observed_survival == pytest.approx(0.375)
    assert result.predicted_survival == pytest.approx(0.65)
    assert result.difference == pytest.approx(0.375 - 0.65)
    assert result.observed_expected == pytest.approx(0.625 / 0.35)


def test_calibration_slope_matches_scikit_survival_and_recovers_truth() -> None:
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    time, event, lp = _cohort()
    result = calibration_slope(time=time, event=event, linear_predictor=lp)
    ref = CoxPHSurvivalAnalysis(ties="efron").fit(lp[:, None],
                                                  Surv.from_arrays(event=event, time=time))
    assert result.slope == pytest.approx(float(ref.coef_[0]), abs=1e-4)
    assert result.ci_low < 1 < result.ci_high
    doubled = calibration_slope(time=time, event=event, linear_predictor=2 * lp)
    assert doubled.slope == pytest.approx(result.slope / 2, rel=1e-6)
    assert doubled.p_value < 1e-6
    assert result.events == int(event.sum()) and result.n == len(time)


def test_calibration_slope_with_horizon_censors_administratively() -> None:
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    time, event, lp = _cohort(seed=1)
    result = calibration_slope(time=time, event=event, linear_predictor=lp,
                               horizon_days=HORIZON)
    t_h, e_h = np.minimum(time, HORIZON), event & (time <= HORIZON)
    ref = CoxPHSurvivalAnalysis(ties="efron").fit(lp[:, None],
                                                  Surv.from_arrays(event=e_h, time=t_h))
    assert result.slope == pytest.approx(float(ref.coef_[0]), abs=1e-4)
    assert result.events == int(e_h.sum()) and result.horizon_days == HORIZON


def _harrell_rcs_3(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """rcspline.eval(x, knots, inclx=TRUE) of R's Hmisc for 3 knots, written out."""
    t1, t2, t3 = k
    cube = lambda v: np.maximum(v, 0) ** 3  # noqa: E731
    nonlinear = (cube(x - t1) - cube(x - t2) * (t3 - t1) / (t3 - t2)
                 + cube(x - t3) * (t2 - t1) / (t3 - t2)) / (t3 - t1) ** 2
    return np.column_stack([x, nonlinear])


def test_ici_matches_independent_scikit_survival_fit() -> None:
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    time, event, lp = _cohort(seed=2)
    surv = _true_survival(lp) ** 1.5  # miscalibrated: too pessimistic
    result = smoothed_calibration(time=time, event=event, survival=surv, horizon_days=HORIZON)
    cll = np.log(-np.log(surv))
    basis = _harrell_rcs_3(cll, np.quantile(cll, [0.1, 0.5, 0.9]))
    ref = CoxPHSurvivalAnalysis(ties="efron").fit(basis, Surv.from_arrays(event=event, time=time))
    observed = 1 - np.array([f(HORIZON) for f in ref.predict_survival_function(basis)])
    gap = np.abs(observed - (1 - surv))
    # sksurv's Breslow baseline vs lifelines' — agree to a few 1e-4 on 600 patients.
    assert result.ici == pytest.approx(gap.mean(), abs=2e-3)
    assert result.e50 == pytest.approx(np.median(gap), abs=2e-3)
    assert result.e90 == pytest.approx(np.quantile(gap, 0.9), abs=2e-3)
    assert result.e50 <= result.e90 <= result.emax


def test_ici_small_for_true_model_and_large_for_miscalibrated() -> None:
    time, event, lp = _cohort(seed=3)
    good = smoothed_calibration(time=time, event=event, survival=_true_survival(lp),
                                horizon_days=HORIZON)
    bad = smoothed_calibration(time=time, event=event, survival=_true_survival(lp) ** 2,
                               horizon_days=HORIZON)
    assert good.ici < 0.04
    assert bad.ici > 0.12
    assert list(good.curve.columns) == ["predicted_risk", "observed_risk"]
    assert good.curve["predicted_risk"].is_monotonic_increasing


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.sampled_from([2, 5, 10]))
def test_group_sizes_sum_to_n_and_ci_brackets_km(seed: int, n_groups: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    time = rng.uniform(1, 800, n)
    event = rng.random(n) < 0.6
    surv = rng.random(n)
    table = calibration_table(time=time, event=event, survival=surv, horizon_days=HORIZON,
                              n_groups=n_groups)
    assert table["n"].sum() == n
    ok = table["ci_low"].notna()
    assert np.all(table.loc[ok, "ci_low"] <= table.loc[ok, "observed_survival"])
    assert np.all(table.loc[ok, "observed_survival"] <= table.loc[ok, "ci_high"])


def test_bad_inputs_are_named() -> None:
    time, event, lp = _cohort(n=50)
    with pytest.raises(DataError, match="'survival' parameter of calibration_table"):
        calibration_table(time=time, event=event, survival=lp, horizon_days=HORIZON)
    with pytest.raises(UsageError, match="'n_groups' parameter"):
        calibration_table(time=time, event=event, survival=_true_survival(lp),
                          horizon_days=HORIZON, n_groups=0)
    with pytest.raises(UsageError, match="'horizon_days' parameter"):
        calibration_in_the_large(time=time, event=event, survival=_true_survival(lp),
                                 horizon_days=-1)
    with pytest.raises(DataError, match="must be boolean"):
        calibration_slope(time=time, event=event.astype(int) + 1, linear_predictor=lp)
    with pytest.raises(UsageError, match="same length"):
        calibration_slope(time=time[:-1], event=event, linear_predictor=lp)
    with pytest.raises(UsageError, match="'n_knots' parameter"):
        smoothed_calibration(time=time, event=event, survival=_true_survival(lp),
                             horizon_days=HORIZON, n_knots=7)
