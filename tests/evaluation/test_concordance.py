"""Harrell's C, Uno's C and the bootstrap of C against scikit-survival and lifelines."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.concordance import bootstrap_harrell_c, harrell_c, uno_c

sksurv_metrics = pytest.importorskip("sksurv.metrics")
from sksurv.util import Surv  # noqa: E402


def _quiet():
    # sksurv divides 0/0 (RuntimeWarning) when there is no comparable pair
    return np.errstate(invalid="ignore", divide="ignore")


def test_domain_vector():
    res = harrell_c(time=[2, 4, 6, 8], event=[1, 1, 0, 1], risk=[0.9, 0.5, 0.7, 0.1])
    assert (res.comparable, res.concordant, res.discordant) == (5, 4, 1)
    assert res.c == pytest.approx(0.80)


def _datasets():
    from lifelines.datasets import load_rossi
    from sksurv.datasets import load_gbsg2, load_whas500
    x, y = load_whas500()
    yield "whas500", y["lenfol"], y["fstat"], x["age"].to_numpy() + 0.1 * x["bmi"].to_numpy()
    x, y = load_gbsg2()
    yield "gbsg2", y["time"], y["cens"], x["pnodes"].to_numpy() - 0.01 * x["progrec"].to_numpy()
    r = load_rossi()
    yield "rossi", r["week"].to_numpy(), r["arrest"].to_numpy().astype(bool), \
        r["prio"].to_numpy() - r["age"].to_numpy() / 10


@pytest.mark.parametrize("name", ["whas500", "gbsg2", "rossi"])
def test_harrell_parity_real_data(name):
    from lifelines.utils import concordance_index
    t, e, r = next((t, e, r) for n, t, e, r in _datasets() if n == name)
    t = np.asarray(t, dtype=float)
    e = np.asarray(e, dtype=bool)
    ours = harrell_c(time=t, event=e, risk=r)
    ref = sksurv_metrics.concordance_index_censored(e, t, r)
    assert ours.c == pytest.approx(ref[0], abs=1e-9)
    assert (ours.concordant, ours.discordant, ours.tied_risk, ours.tied_time) == tuple(ref[1:])
    # lifelines takes predicted survival times: pass -risk; it compares ties exactly
    assert harrell_c(time=t, event=e, risk=r, tied_tol=0).c == pytest.approx(
        concordance_index(t, -r, e), abs=1e-9)


def test_harrell_parity_generated_ties():
    from lifelines.utils import concordance_index
    rng = np.random.default_rng(3)
    for n in (2, 7, 50, 400):
        for _ in range(15):
            t = rng.integers(1, 12, n).astype(float)
            e = rng.random(n) < 0.6
            r = rng.integers(0, 5, n) + rng.choice([0.0, 1e-9], n)
            try:
                with _quiet():
                    ref = sksurv_metrics.concordance_index_censored(e, t, r)
                assert not np.isnan(ref[0])
            except (ZeroDivisionError, ValueError, AssertionError):
                with pytest.raises(DataError, match="no comparable pair"):
                    harrell_c(time=t, event=e, risk=r)
                continue
            ours = harrell_c(time=t, event=e, risk=r)
            assert ours.c == pytest.approx(ref[0], abs=1e-12)
            assert (ours.concordant, ours.discordant, ours.tied_risk, ours.tied_time) == \
                tuple(ref[1:])
            rr = np.round(r)
            assert harrell_c(time=t, event=e, risk=rr, tied_tol=0).c == pytest.approx(
                concordance_index(t, -rr, e), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=2, max_size=40),
       st.integers(0, 2**31))
def test_c_bounds_and_symmetry(rows, seed):
    t = np.array([r[0] for r in rows], dtype=float)
    e = np.array([r[1] for r in rows])
    risk = np.random.default_rng(seed).permutation(len(rows)).astype(float)  # no ties
    try:
        a = harrell_c(time=t, event=e, risk=risk)
    except DataError:
        return
    b = harrell_c(time=t, event=e, risk=-risk)
    assert 0.0 <= a.c <= 1.0
    assert a.c + b.c == pytest.approx(1.0)
    assert a.concordant == b.discordant and a.comparable == b.comparable


def test_uno_parity():
    rng = np.random.default_rng(7)
    from sksurv.datasets import load_gbsg2
    x, y = load_gbsg2()
    t = y["time"].astype(float)
    e = y["cens"].astype(bool)
    r = x["pnodes"].to_numpy(dtype=float)
    train = rng.random(t.shape[0]) < 0.5
    for tau in (None, 1000.0, 1800.0):
        ref = sksurv_metrics.concordance_index_ipcw(
            Surv.from_arrays(e[train], t[train]), Surv.from_arrays(e[~train], t[~train]),
            r[~train], tau=tau)
        ours = uno_c(time=t[~train], event=e[~train], risk=r[~train], train_time=t[train],
                     train_event=e[train], tau=tau)
        assert ours.c == pytest.approx(ref[0], abs=1e-9)
    for _ in range(30):
        n = 60
        tt = rng.integers(1, 15, n).astype(float)
        te = rng.random(n) < 0.6
        tt[np.argmax(tt)] = 20.0
        te[np.argmax(tt)] = True  # training follow-up reaches past the test data
        ts = rng.integers(1, 15, n).astype(float)
        es = rng.random(n) < 0.6
        rs = rng.integers(0, 6, n).astype(float)
        ref = sksurv_metrics.concordance_index_ipcw(Surv.from_arrays(te, tt),
                                                    Surv.from_arrays(es, ts), rs, tau=10)
        ours = uno_c(time=ts, event=es, risk=rs, train_time=tt, train_event=te, tau=10)
        assert ours.c == pytest.approx(ref[0], abs=1e-12)


def test_uno_zero_censoring_survival_at_tau():
    t = np.array([1.0, 2, 3, 4, 5])
    e = np.array([True, True, True, True, False])  # last training patient censored at 5
    with pytest.raises(DataError, match=r"Ĝ\(tau\) is 0"):
        uno_c(time=t, event=e, risk=t[::-1], train_time=t, train_event=e, tau=5.0)
    with pytest.raises(UsageError, match="'tau' parameter of uno_c"):
        uno_c(time=t, event=e, risk=t, train_time=t, train_event=e, tau=-1)


def test_bootstrap_matches_sksurv_per_resample_and_is_paired():
    rng = np.random.default_rng(0)
    n = 150
    t = rng.integers(1, 40, n).astype(float)
    e = rng.random(n) < 0.7
    x = rng.normal(size=n)
    risk = np.c_[x, np.round(x + rng.normal(size=n), 1)]
    res = bootstrap_harrell_c(time=t, event=e, risk=risk, n_resamples=50, seed=11,
                              model_names=["a", "b"])
    idx = np.random.default_rng(11).integers(0, n, size=(50, n))
    for b in (0, 17, 49):
        i = idx[b]
        for k in range(2):
            ref = sksurv_metrics.concordance_index_censored(e[i], t[i], risk[i, k])[0]
            assert res.replicates[b, k] == pytest.approx(ref, abs=1e-12)
    assert res.estimate[0] == pytest.approx(harrell_c(time=t, event=e, risk=x).c)
    d = res.replicates[:, 1] - res.replicates[:, 0]
    assert res.delta_ci_low[0] == pytest.approx(np.quantile(d, 0.025))
    assert res.ci_low[0] <= res.estimate[0] <= res.ci_high[0]
    frame = res.to_frame()
    assert list(frame["quantity"]) == ["c", "c", "delta_c"]


def test_bootstrap_strata_keep_sizes_and_seed_reproducible():
    rng = np.random.default_rng(1)
    n = 80
    t = rng.exponential(100, n)
    e = rng.random(n) < 0.7
    r = rng.normal(size=n)
    site = np.where(np.arange(n) < 30, "A", "B")
    a = bootstrap_harrell_c(time=t, event=e, risk=r, n_resamples=30, seed=5, strata=site)
    b = bootstrap_harrell_c(time=t, event=e, risk=r, n_resamples=30, seed=5, strata=site)
    np.testing.assert_array_equal(a.replicates, b.replicates)
    with pytest.raises(UsageError, match="'seed' parameter"):
        bootstrap_harrell_c(time=t, event=e, risk=r, seed=None)


def test_input_errors():
    with pytest.raises(DataError, match="R-style 1/2"):
        harrell_c(time=[1, 2], event=[1, 2], risk=[0, 1])
    with pytest.raises(UsageError, match="'risk' parameter of harrell_c must have shape"):
        harrell_c(time=[1, 2], event=[1, 1], risk=[0, 1, 2])
    with pytest.raises(DataError, match="must be finite"):
        harrell_c(time=[1, 2], event=[1, 1], risk=[0, np.nan])
