"""NRI (Pencina 2011 KM version) and IDI (Uno 2013 IPCW) on hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.reclassification import (
    integrated_discrimination,
    net_reclassification,
)

# (time days, event, comparator risk, model risk), horizon 10 days.
TIME = np.array([5, 12, 4, 8, 15, 20, 6, 3], dtype=float)
EVENT = np.array([True, False, False, True, False, False, True, False])
OLD = np.array([0.2, 0.3, 0.4, 0.6, 0.5, 0.7, 0.5, 0.5])
NEW = np.array([0.5, 0.6, 0.7, 0.3, 0.2, 0.4, 0.5, 0.5])


def test_category_free_nri_by_hand() -> None:
    # Up {1,2,3}: 5†, 12, 4 → KM(10) = 1/2. Down {4,5,6}: 8†, 15, 20 → 2/3.
    # All: 3, 4 censored; 5† (6 at risk), 6† (5), 8† (4) → 5/6·4/5·3/4 = 1/2.
    # NRI_e = [(1/2)(3/8) − (1/3)(3/8)] / (1/2) = 1/8; NRI_ne = [(2/3)(3/8) − (1/2)(3/8)]/(1/2)
    # = 1/8.
    r = net_reclassification(time=TIME, event=EVENT, risk_new=NEW, risk_old=OLD,
                             horizon_days=10)
    assert r.kind == "category_free"
    assert (r.n_up, r.n_down) == (3, 3)
    assert r.survival_up == pytest.approx(0.5)
    assert r.survival_down == pytest.approx(2 / 3)
    assert r.survival_all == pytest.approx(0.5)
    assert r.nri_events == pytest.approx(0.125)
    assert r.nri_nonevents == pytest.approx(0.125)
    assert r.nri == pytest.approx(0.25)


def test_category_nri_by_hand() -> None:
    # One cut-off at 0.55: up {2,3} (12, 4; no events → S 1), down {4,6} (8†, 20 → S 1/2).
    # NRI_e = [0 − (1/2)(1/4)]/(1/2) = −1/4; NRI_ne = [(1/2)(1/4) − (1)(1/4)]/(1/2) = −1/4.
    r = net_reclassification(time=TIME, event=EVENT, risk_new=NEW, risk_old=OLD,
                             horizon_days=10, cutoffs=[0.55])
    assert r.kind == "category" and r.cutoffs == (0.55,)
    assert (r.n_up, r.n_down) == (2, 2)
    assert r.nri_events == pytest.approx(-0.25)
    assert r.nri_nonevents == pytest.approx(-0.25)
    assert r.nri == pytest.approx(-0.5)


def test_nri_reduces_to_binary_without_censoring_before_t() -> None:
    rng = np.random.default_rng(6)
    n = 300
    time = rng.uniform(1, 30, n)
    event = np.ones(n, dtype=bool)
    old, new = rng.random(n), rng.random(n)
    case = time <= 10
    up, down = new > old, new < old
    binary = (np.mean(up[case]) - np.mean(down[case])) + (np.mean(down[~case])
                                                           - np.mean(up[~case]))
    r = net_reclassification(time=time, event=event, risk_new=new, risk_old=old,
                             horizon_days=10)
    assert r.nri == pytest.approx(binary, abs=1e-12)
    bands = (0.2, 0.5)
    cat_new, cat_old = np.digitize(new, bands), np.digitize(old, bands)
    up, down = cat_new > cat_old, cat_new < cat_old
    binary = (np.mean(up[case]) - np.mean(down[case])) + (np.mean(down[~case])
                                                           - np.mean(up[~case]))
    r = net_reclassification(time=time, event=event, risk_new=new, risk_old=old,
                             horizon_days=10, cutoffs=bands)
    assert r.nri == pytest.approx(binary, abs=1e-12)


def test_idi_ipcw_by_hand() -> None:
    time = TIME.copy()
    time[0] = 2.0  # first event before any censoring → weight 1
    r = integrated_discrimination(time=time, event=EVENT, risk_new=NEW, risk_old=OLD,
                                  horizon_days=10)
    # Censoring KM: at 3, 7 at risk → 6/7; at 4, 6 at risk → 5/6; G(6−) = G(8−) = 5/7.
    # Cases: t=2 (w 1), t=6 (w 7/5), t=8 (w 7/5); total weight 3.8.
    # new: (0.5 + 1.4·0.5 + 1.4·0.3)/3.8 = 1.62/3.8; old: (0.2 + 0.7 + 0.84)/3.8 = 1.74/3.8.
    # Controls (t > 10): new 0.6, 0.2, 0.4 → 0.4; old 0.3, 0.5, 0.7 → 0.5.
    assert r.mean_risk_events_new == pytest.approx(1.62 / 3.8)
    assert r.mean_risk_events_old == pytest.approx(1.74 / 3.8)
    assert r.mean_risk_nonevents_new == pytest.approx(0.4)
    assert r.mean_risk_nonevents_old == pytest.approx(0.5)
    assert r.idi == pytest.approx(0.1 - 0.12 / 3.8)
    assert r.slope_new - r.slope_old == pytest.approx(r.idi)


def test_idi_reduces_to_binary_without_censoring() -> None:
    rng = np.random.default_rng(7)
    n = 200
    time = rng.uniform(1, 30, n)
    event = np.ones(n, dtype=bool)
    old, new = rng.random(n), rng.random(n)
    case = time <= 10
    binary = ((new[case].mean() - new[~case].mean()) - (old[case].mean() - old[~case].mean()))
    r = integrated_discrimination(time=time, event=event, risk_new=new, risk_old=old,
                                  horizon_days=10)
    assert r.idi == pytest.approx(binary, abs=1e-12)


def test_identical_models_give_zero() -> None:
    r = net_reclassification(time=TIME, event=EVENT, risk_new=OLD, risk_old=OLD,
                             horizon_days=10, cutoffs=[0.3, 0.6])
    assert r.nri == 0.0 and r.n_up == r.n_down == 0
    assert integrated_discrimination(time=TIME, event=EVENT, risk_new=OLD, risk_old=OLD,
                                     horizon_days=10).idi == pytest.approx(0.0)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(UsageError, match="strictly increasing"):
        net_reclassification(time=TIME, event=EVENT, risk_new=NEW, risk_old=OLD,
                             horizon_days=10, cutoffs=[0.6, 0.3])
    with pytest.raises(DataError, match="'risk_new' parameter"):
        net_reclassification(time=TIME, event=EVENT, risk_new=NEW * 3, risk_old=OLD,
                             horizon_days=10)
    with pytest.raises(DataError, match="one patient followed beyond"):
        integrated_discrimination(time=TIME, event=EVENT, risk_new=NEW, risk_old=OLD,
                                  horizon_days=100)
    with pytest.raises(DataError, match="KM survival"):
        net_reclassification(time=TIME, event=np.zeros(8, bool), risk_new=NEW, risk_old=OLD,
                             horizon_days=10)
