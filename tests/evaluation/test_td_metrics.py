"""Time-dependent AUC and Brier scores against scikit-survival."""

import numpy as np
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.td_metrics import (
    brier_score,
    cumulative_dynamic_auc,
    integrated_brier_score,
)

sksurv_metrics = pytest.importorskip("sksurv.metrics")
from sksurv.util import Surv  # noqa: E402


def _split():
    from sksurv.datasets import load_gbsg2
    x, y = load_gbsg2()
    rng = np.random.default_rng(2)
    t = y["time"].astype(float)
    e = y["cens"].astype(bool)
    r = x["pnodes"].to_numpy(dtype=float) + 0.02 * x["tsize"].to_numpy(dtype=float)
    train = rng.random(t.shape[0]) < 0.5
    return t[train], e[train], t[~train], e[~train], r[~train]


def test_cumulative_dynamic_auc_parity():
    tt, te, t, e, r = _split()
    times = np.array([365.0, 730.0, 1095.0, 1460.0])
    ref_auc, ref_mean = sksurv_metrics.cumulative_dynamic_auc(
        Surv.from_arrays(te, tt), Surv.from_arrays(e, t), r, times)
    res = cumulative_dynamic_auc(time=t, event=e, risk=r, train_time=tt, train_event=te,
                                 times=times)
    np.testing.assert_allclose(res.auc, ref_auc, atol=1e-9)
    assert res.mean_auc == pytest.approx(ref_mean, abs=1e-9)
    # time-varying risk (one column per horizon) and tied, rounded risks
    r2 = np.round(np.c_[r, r * 2, -r, r ** 0.5], 0)
    ref2, m2 = sksurv_metrics.cumulative_dynamic_auc(
        Surv.from_arrays(te, tt), Surv.from_arrays(e, t), r2, times)
    res2 = cumulative_dynamic_auc(time=t, event=e, risk=r2, train_time=tt, train_event=te,
                                  times=times)
    np.testing.assert_allclose(res2.auc, ref2, atol=1e-9)
    assert res2.mean_auc == pytest.approx(m2, abs=1e-9)


def test_brier_and_ibs_parity():
    tt, te, t, e, r = _split()
    times = np.linspace(200.0, 1800.0, 9)
    surv = np.exp(-np.outer(np.exp(0.1 * r), times) / 3000.0)
    _, ref = sksurv_metrics.brier_score(Surv.from_arrays(te, tt), Surv.from_arrays(e, t),
                                        surv, times)
    res = brier_score(time=t, event=e, surv_prob=surv, train_time=tt, train_event=te,
                      times=times)
    np.testing.assert_allclose(res.brier, ref, atol=1e-12)
    ref_ibs = sksurv_metrics.integrated_brier_score(Surv.from_arrays(te, tt),
                                                    Surv.from_arrays(e, t), surv, times)
    ibs = integrated_brier_score(time=t, event=e, surv_prob=surv, train_time=tt,
                                 train_event=te, times=times)
    assert ibs.ibs == pytest.approx(ref_ibs, abs=1e-12)
    # the KM null model equals sksurv's Brier of a constant training-KM prediction
    from sksurv.nonparametric import kaplan_meier_estimator
    ut, s = kaplan_meier_estimator(te, tt)
    km = s[np.searchsorted(ut, times, side="right") - 1]
    _, ref_null = sksurv_metrics.brier_score(Surv.from_arrays(te, tt), Surv.from_arrays(e, t),
                                             np.tile(km, (t.shape[0], 1)), times)
    np.testing.assert_allclose(res.null_brier, ref_null, atol=1e-12)


def test_td_errors():
    tt, te, t, e, r = _split()
    with pytest.raises(DataError, match="within the test follow-up"):
        cumulative_dynamic_auc(time=t, event=e, risk=r, train_time=tt, train_event=te,
                               times=[t.max() + 1])
    with pytest.raises(UsageError, match="strictly increasing"):
        brier_score(time=t, event=e, surv_prob=np.ones((t.shape[0], 2)), train_time=tt,
                    train_event=te, times=[500, 400])
    with pytest.raises(DataError, match=r"probabilities in \[0, 1\]"):
        brier_score(time=t, event=e, surv_prob=np.full(t.shape[0], 1.5), train_time=tt,
                    train_event=te, times=[500])
    with pytest.raises(UsageError, match="at least two times"):
        integrated_brier_score(time=t, event=e, surv_prob=np.ones((t.shape[0], 1)),
                               train_time=tt, train_event=te, times=[500])
