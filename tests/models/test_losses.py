"""Losses: hand-computed known values, lifelines parity for the Cox partial likelihood, and
properties (finite, permutation invariant)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hccfusion.errors import UsageError
from hccfusion.models.losses import (
    binary_nll,
    cox_nll,
    discrete_time_nll,
    ordinal_nll,
    survival_from_hazards,
)

HAZARD = torch.tensor([0.2, 0.5, 0.25])
LOGITS = torch.logit(HAZARD)[None, :]


# --------------------------------------------------------------------------- discrete time


def test_survival_from_hazards_known_values():
    assert survival_from_hazards(LOGITS)[0].tolist() == pytest.approx([0.8, 0.4, 0.3])


@pytest.mark.parametrize("bin_index, event, expected", [
    (0, True, -math.log(0.2)),
    (1, True, -math.log(0.8) - math.log(0.5)),
    (2, True, -math.log(0.8) - math.log(0.5) - math.log(0.25)),
    # censored in bin j: survived the bins before j only
    (0, False, 0.0),
    (1, False, -math.log(0.8)),
    (2, False, -math.log(0.8) - math.log(0.5)),
])
def test_discrete_time_nll_known_values(bin_index, event, expected):
    loss = discrete_time_nll(hazard_logits=LOGITS, bin_index=torch.tensor([bin_index]),
                             event=torch.tensor([event]))
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_discrete_time_nll_reductions():
    logits = LOGITS.expand(3, 3)
    kw = {"hazard_logits": logits, "bin_index": torch.tensor([0, 1, 2]),
          "event": torch.tensor([True, False, True])}
    per_patient = discrete_time_nll(**kw, reduction="none")
    expected = [-math.log(0.2), -math.log(0.8),
                -math.log(0.8) - math.log(0.5) - math.log(0.25)]
    assert per_patient.tolist() == pytest.approx(expected, abs=1e-6)
    assert discrete_time_nll(**kw, reduction="sum").item() == pytest.approx(sum(expected))
    assert discrete_time_nll(**kw).item() == pytest.approx(sum(expected) / 3)
    with pytest.raises(UsageError, match=r"The 'reduction' parameter of discrete_time_nll must "
                                         r"be one of"):
        discrete_time_nll(**kw, reduction="avg")


def test_discrete_time_nll_is_the_likelihood_of_the_survival_curve():
    # an event in bin j has likelihood S(t_{j-1}) − S(t_j); censoring in bin j, S(t_{j-1})
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=g)
    surv = survival_from_hazards(logits)
    before = torch.cat([torch.ones(5, 1), surv[:, :-1]], dim=1)
    bins = torch.tensor([0, 1, 3, 2, 3])
    events = torch.tensor([True, False, True, True, False])
    loss = discrete_time_nll(hazard_logits=logits, bin_index=bins, event=events,
                             reduction="none")
    rows = torch.arange(5)
    likelihood = torch.where(events, before[rows, bins] - surv[rows, bins], before[rows, bins])
    assert torch.allclose(loss, -likelihood.log(), atol=1e-5)


@pytest.mark.parametrize("kw, pattern", [
    ({"bin_index": torch.tensor([3])}, r"'bin_index' parameter of discrete_time_nll must hold "
                                       r"integers in \[0, 3\)"),
    ({"bin_index": torch.tensor([1.0])}, r"'bin_index' .* integers"),
    ({"event": torch.tensor([1])}, r"'event' parameter of discrete_time_nll must be a bool "
                                   r"tensor"),
    ({"event": torch.tensor([True, False])}, r"'event' parameter .* shape \[1\]\. Got \(2,\)"),
    ({"hazard_logits": torch.zeros(3)}, r"'hazard_logits' parameter .* shape \[B, K\]"),
])
def test_discrete_time_nll_bad_arguments(kw, pattern):
    args = {"hazard_logits": LOGITS, "bin_index": torch.tensor([1]),
            "event": torch.tensor([True]), **kw}
    with pytest.raises(UsageError, match=pattern):
        discrete_time_nll(**args)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), b=st.integers(1, 12), k=st.integers(1, 6),
       scale=st.sampled_from([0.1, 1.0, 30.0]))
def test_discrete_time_nll_is_finite_and_non_negative(seed, b, k, scale):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(b, k, generator=g) * scale).requires_grad_(True)
    loss = discrete_time_nll(hazard_logits=logits, bin_index=torch.randint(0, k, (b,),
                                                                            generator=g),
                             event=torch.rand(b, generator=g) < 0.5)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() >= 0
    assert torch.isfinite(logits.grad).all()


# --------------------------------------------------------------------------- Cox


def test_cox_nll_known_value_without_ties():
    # risk 0 for all: the event at t=1 has 3 at risk, at t=2 2, at t=3 1
    loss = cox_nll(risk=torch.zeros(3), time=torch.tensor([1.0, 2.0, 3.0]),
                   event=torch.tensor([True, True, True]))
    assert loss.item() == pytest.approx((math.log(3) + math.log(2)) / 3)


def test_cox_nll_breslow_ties_and_censoring():
    r = torch.tensor([0.3, -0.2, 0.7, 0.1])
    time = torch.tensor([5.0, 5.0, 9.0, 7.0])
    event = torch.tensor([True, True, False, True])
    # Breslow: both tied events at t=5 see the full risk set {all four}; the event at 7 sees
    # {7, 9}; the censored patient adds no term
    lse_all = math.log(sum(math.exp(v) for v in r.tolist()))
    lse_late = math.log(math.exp(0.7) + math.exp(0.1))
    expected = -((0.3 - lse_all) + (-0.2 - lse_all) + (0.1 - lse_late)) / 3
    assert cox_nll(risk=r, time=time, event=event).item() == pytest.approx(expected, abs=1e-6)


def test_cox_nll_without_events_is_zero_and_differentiable():
    risk = torch.randn(4, requires_grad=True)
    loss = cox_nll(risk=risk, time=torch.arange(4.0), event=torch.zeros(4, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(risk.grad, torch.zeros(4))


def test_cox_nll_matches_lifelines_partial_likelihood():
    lifelines = pytest.importorskip("lifelines")
    rng = np.random.default_rng(7)
    n = 40
    x = rng.normal(size=n)
    time = rng.exponential(scale=np.exp(-0.8 * x)) * 365.0      # continuous: no ties
    censor = rng.exponential(scale=1.5, size=n) * 365.0
    observed = time <= censor
    frame = pd.DataFrame({"x": x, "time": np.minimum(time, censor), "event": observed})
    assert frame["time"].is_unique
    fitter = lifelines.CoxPHFitter().fit(frame, duration_col="time", event_col="event")
    beta = float(fitter.params_["x"])
    ours = cox_nll(risk=torch.tensor(beta * x, dtype=torch.float64),
                   time=torch.tensor(frame["time"].to_numpy()),
                   event=torch.tensor(observed))
    # ours is the mean over events of the negative log partial likelihood
    assert -ours.item() * observed.sum() == pytest.approx(fitter.log_likelihood_, rel=1e-7)
    # and the lifelines estimate is where our loss is smallest
    for shifted in (beta - 0.05, beta + 0.05):
        other = cox_nll(risk=torch.tensor(shifted * x, dtype=torch.float64),
                        time=torch.tensor(frame["time"].to_numpy()),
                        event=torch.tensor(observed))
        assert other.item() > ours.item()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 20))
def test_cox_nll_is_invariant_to_patient_order_and_a_risk_shift(seed, n):
    g = torch.Generator().manual_seed(seed)
    risk = torch.randn(n, generator=g, dtype=torch.float64) * 3
    time = torch.randint(1, 6, (n,), generator=g).double()          # many ties
    event = torch.rand(n, generator=g) < 0.6
    perm = torch.randperm(n, generator=g)
    loss = cox_nll(risk=risk, time=time, event=event)
    assert torch.isfinite(loss) and loss.item() >= 0
    assert cox_nll(risk=risk[perm], time=time[perm], event=event[perm]).item() == \
        pytest.approx(loss.item(), abs=1e-9)
    assert cox_nll(risk=risk + 4.0, time=time, event=event).item() == \
        pytest.approx(loss.item(), abs=1e-9)


def test_cox_nll_bad_arguments():
    with pytest.raises(UsageError, match=r"The 'time' parameter of cox_nll must be a 1-d tensor "
                                         r"of shape \[3\]\. Got \(2,\) instead"):
        cox_nll(risk=torch.zeros(3), time=torch.zeros(2), event=torch.ones(3, dtype=torch.bool))
    with pytest.raises(UsageError, match=r"'event' parameter of cox_nll must be a bool tensor"):
        cox_nll(risk=torch.zeros(3), time=torch.zeros(3), event=torch.ones(3))
    with pytest.raises(TypeError):
        cox_nll(torch.zeros(3), torch.zeros(3),  # type: ignore[misc]
                torch.ones(3, dtype=torch.bool))


# --------------------------------------------------------------------------- binary


def test_binary_nll_known_values_and_ignores_nan():
    logit = torch.tensor([0.0, math.log(3.0), 5.0, -1.0])
    target = torch.tensor([1.0, 0.0, float("nan"), 1.0])
    expected = (math.log(2.0) + math.log(4.0) + math.log(1 + math.e)) / 3
    assert binary_nll(logit=logit, target=target).item() == pytest.approx(expected, abs=1e-6)
    # integer targets: a negative code is "not evaluable"
    assert binary_nll(logit=logit, target=torch.tensor([1, 0, -1, 1])).item() == \
        pytest.approx(expected, abs=1e-6)


def test_binary_nll_all_missing_is_zero_and_differentiable():
    logit = torch.randn(3, requires_grad=True)
    loss = binary_nll(logit=logit, target=torch.full((3,), float("nan")))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logit.grad, torch.zeros(3))


def test_binary_nll_rejects_other_values():
    with pytest.raises(UsageError, match=r"The 'target' parameter of binary_nll must hold 1, 0 "
                                         r"or NaN\. Got values \[0\.0, 2\.0\]"):
        binary_nll(logit=torch.zeros(2), target=torch.tensor([2.0, 0.0]))


# --------------------------------------------------------------------------- ordinal


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


@pytest.mark.parametrize("target, probability", [
    (0, _sigmoid(-1.0)),
    (1, _sigmoid(0.5) - _sigmoid(-1.0)),
    (2, _sigmoid(2.0) - _sigmoid(0.5)),
    (3, 1.0 - _sigmoid(2.0)),
])
def test_ordinal_nll_known_values(target, probability):
    logits = torch.tensor([[-1.0, 0.5, 2.0]])
    loss = ordinal_nll(logits=logits, target=torch.tensor([float(target)]))
    assert loss.item() == pytest.approx(-math.log(probability), abs=1e-6)


def test_ordinal_nll_mean_ignores_missing():
    logits = torch.tensor([[-1.0, 0.5, 2.0], [0.0, 1.0, 2.0], [-3.0, -2.0, 4.0]])
    expected = (-math.log(_sigmoid(-1.0)) - math.log(1 - _sigmoid(4.0))) / 2
    assert ordinal_nll(logits=logits, target=torch.tensor([0.0, float("nan"), 3.0])).item() == \
        pytest.approx(expected, abs=1e-6)
    assert ordinal_nll(logits=logits, target=torch.tensor([0, -1, 3])).item() == \
        pytest.approx(expected, abs=1e-6)
    empty = ordinal_nll(logits=logits.requires_grad_(True), target=torch.full((3,), float("nan")))
    assert empty.item() == 0.0
    empty.backward()


def test_ordinal_nll_probabilities_sum_to_one():
    logits = torch.tensor([[-0.7, 0.2, 1.9]])
    total = sum(math.exp(-ordinal_nll(logits=logits, target=torch.tensor([float(k)])).item())
                for k in range(4))
    assert total == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("target", [[4.0], [1.5], [-2.0]])
def test_ordinal_nll_rejects_bad_codes(target):
    with pytest.raises(UsageError, match=r"The 'target' parameter of ordinal_nll must hold "
                                         r"class codes in 0\.\.3"):
        ordinal_nll(logits=torch.zeros(1, 3), target=torch.tensor(target))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), b=st.integers(1, 10), scale=st.sampled_from([0.01, 1, 50]))
def test_ordinal_nll_is_finite_with_finite_gradients(seed, b, scale):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(b, 1, generator=g) * scale
    gaps = torch.rand(b, 2, generator=g) * scale + 1e-4
    logits = torch.cat([base, base + gaps.cumsum(1)], dim=1).requires_grad_(True)
    target = torch.randint(0, 4, (b,), generator=g).float()
    loss = ordinal_nll(logits=logits, target=target)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() >= 0
    assert torch.isfinite(logits.grad).all()
