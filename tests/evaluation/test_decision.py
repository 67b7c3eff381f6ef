"""Net benefit: the domain.md §7.5 test vector, a hand-worked survival example, and the
reduction of the survival form to the binary form when nobody is censored before t."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from hccfusion.errors import UsageError
from hccfusion.evaluation.decision import DECISION_CURVE_COLUMNS, decision_curve, net_benefit

# (time days, event, predicted risk by t)
TIME = np.array([5, 12, 4, 8, 15, 20, 6, 3], dtype=float)
EVENT = np.array([True, False, False, True, False, False, True, False])
RISK = np.array([0.5, 0.6, 0.7, 0.3, 0.2, 0.4, 0.5, 0.5])


def test_binary_test_vector_from_domain_md() -> None:
    assert net_benefit(true_positives=30, false_positives=20, n=100,
                       threshold=0.2) == pytest.approx(0.25)


def test_survival_net_benefit_by_hand() -> None:
    curve = decision_curve(time=TIME, event=EVENT, risk=RISK, horizon_days=10,
                           thresholds=[0.45])
    assert list(curve.columns) == list(DECISION_CURVE_COLUMNS)
    model = curve.loc[curve["strategy"] == "model"].iloc[0]
    # Treated (risk >= 0.45): times 5†, 12, 4, 6†, 3 → q = 5/8. KM: censored at 3, 4; at 5,
    # 3 at risk → 2/3; at 6, 2 at risk → 1/2; S_q(10) = 1/3.
    # NB = (2/3)(5/8) − (1/3)(5/8)(0.45/0.55) = 65/264.
    assert model["share_treated"] == pytest.approx(5 / 8)
    assert model["survival_treated"] == pytest.approx(1 / 3)
    assert model["net_benefit"] == pytest.approx(65 / 264)
    # Treat all: cohort KM at 10 = 5/6 · 4/5 · 3/4 = 1/2 → NB = 1/2 − 1/2 · 9/11 = 1/11.
    treat_all = curve.loc[curve["strategy"] == "treat_all"].iloc[0]
    assert treat_all["net_benefit"] == pytest.approx(1 / 11)
    assert curve.loc[curve["strategy"] == "treat_none", "net_benefit"].iloc[0] == 0.0


def test_treat_all_uses_lifelines_km() -> None:
    rng = np.random.default_rng(4)
    time = rng.exponential(400, 300) + 1
    event = rng.random(300) < 0.7
    risk = rng.random(300)
    thresholds = np.array([0.1, 0.3, 0.5])
    curve = decision_curve(time=time, event=event, risk=risk, horizon_days=365,
                           thresholds=thresholds)
    s = float(KaplanMeierFitter().fit(time, event).predict(365.0))
    expected = (1 - s) - s * thresholds / (1 - thresholds)
    np.testing.assert_allclose(curve.loc[curve["strategy"] == "treat_all", "net_benefit"],
                               expected, rtol=1e-12)


def test_survival_form_reduces_to_binary_form_without_censoring() -> None:
    rng = np.random.default_rng(5)
    n = 200
    time = rng.exponential(300, n) + 1
    event = np.ones(n, dtype=bool)  # nobody censored
    risk = np.clip(1 - np.exp(-365 / (time + rng.normal(0, 150, n)).clip(10)), 0, 1)
    thresholds = [0.2, 0.5, 0.8]
    curve = decision_curve(time=time, event=event, risk=risk, horizon_days=365,
                           thresholds=thresholds)
    dead_by_t = time <= 365
    for p_t in thresholds:
        treated = risk >= p_t
        binary = net_benefit(true_positives=int(np.sum(treated & dead_by_t)),
                             false_positives=int(np.sum(treated & ~dead_by_t)), n=n,
                             threshold=p_t)
        row = curve[(curve["strategy"] == "model") & (curve["threshold"] == p_t)].iloc[0]
        assert row["net_benefit"] == pytest.approx(binary, abs=1e-12)


def test_nobody_treated_gives_zero_and_default_grid() -> None:
    curve = decision_curve(time=TIME, event=EVENT, risk=np.zeros(8), horizon_days=10)
    model = curve[curve["strategy"] == "model"]
    assert len(model) == 99
    assert (model["net_benefit"] == 0.0).all() and (model["n_treated"] == 0).all()


def test_bad_thresholds_and_counts_are_refused() -> None:
    with pytest.raises(UsageError, match=r"threshold probabilities of decision_curve"):
        decision_curve(time=TIME, event=EVENT, risk=RISK, horizon_days=10, thresholds=[0, 0.5])
    with pytest.raises(UsageError, match="TP \\+ FP <= n"):
        net_benefit(true_positives=80, false_positives=30, n=100, threshold=0.2)
    with pytest.raises(UsageError, match="threshold probabilities of net_benefit"):
        net_benefit(true_positives=30, false_positives=20, n=100, threshold=1.0)
