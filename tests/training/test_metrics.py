"""The training layer's selection metrics give exactly the reported metrics' point estimates
(``hccfusion.evaluation``), including tied times, tied risks and censoring, and NaN where the
reported metric calls the value undefined."""

from __future__ import annotations

import numpy as np
import pytest

from hccfusion.errors import DataError
from hccfusion.evaluation.binary import roc_auc
from hccfusion.evaluation.concordance import harrell_c as reported_harrell_c
from hccfusion.training.metrics import auc_score, harrell_c


@pytest.mark.parametrize("seed", range(40))
def test_harrell_c_equals_the_reported_c_with_ties_and_censoring(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    time = rng.integers(0, max(2, n // 4), n).astype(float)  # many tied days
    event = rng.random(n) < rng.uniform(0.05, 0.95)
    risk = np.round(rng.normal(size=n), int(rng.integers(0, 3)))  # many tied risks
    if seed % 5 == 0:
        risk = risk + rng.uniform(-5e-9, 5e-9, n)  # ties only within the tolerance
    ours = harrell_c(time=time, event=event, risk=risk)
    try:
        expected = reported_harrell_c(time=time, event=event, risk=risk).c
    except DataError:
        assert np.isnan(ours)
        return
    assert ours == expected


def test_harrell_c_counts_an_event_before_a_censoring_on_the_same_day():
    # (0 event, 1 censored) on day 5 are comparable; (2, 3) both events on day 7 are not
    time = np.array([5.0, 5.0, 7.0, 7.0])
    event = np.array([True, False, True, True])
    risk = np.array([0.3, 0.1, 0.5, 0.5])  # 0 beats 1, loses to 2 and 3: 1 of 3
    assert harrell_c(time=time, event=event, risk=risk) \
        == reported_harrell_c(time=time, event=event, risk=risk).c == 1 / 3


def test_harrell_c_is_nan_without_a_comparable_pair():
    assert np.isnan(harrell_c(time=np.array([1.0, 2.0]), event=np.array([False, False]),
                              risk=np.array([0.1, 0.2])))
    # the only event is on the last day, shared with another event
    assert np.isnan(harrell_c(time=np.array([1.0, 3.0, 3.0]), event=np.array([0, 1, 1]),
                              risk=np.array([0.1, 0.2, 0.3])))


@pytest.mark.parametrize("seed", range(40))
def test_auc_score_equals_the_reported_auc(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 400))
    y = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(int)
    score = np.round(rng.normal(size=n) + y, int(rng.integers(0, 3)))
    if y.all() or not y.any():
        assert np.isnan(auc_score(y_true=y, score=score))
        return
    assert auc_score(y_true=y, score=score) == roc_auc(y_true=y, score=score).auc


def test_auc_score_known_values_and_one_class():
    assert auc_score(y_true=np.array([0, 0, 1, 1]), score=np.array([0.1, 0.4, 0.35, 0.8])) \
        == 0.75
    assert auc_score(y_true=np.array([0, 1, 1]), score=np.array([0.5, 0.5, 0.2])) == 0.25
    assert np.isnan(auc_score(y_true=np.array([1, 1]), score=np.array([0.1, 0.2])))
