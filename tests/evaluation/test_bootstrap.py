"""Patient-level bootstrap: reproducibility, patient grouping, strata, shared resamples.

Reference values: replicates are recomputed independently from the returned draws with plain
numpy; the percentile interval is compared with ``numpy.quantile`` of those; the interval of a
mean is compared with scipy ``stats.bootstrap`` (percentile method) within Monte-Carlo error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.bootstrap import bootstrap, paired_bootstrap, resample_patients


def _cohort(n=80, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.5
    return pd.DataFrame({
        "patient_id": [f"P{i:03d}" for i in range(n)],
        "center": np.where(np.arange(n) < 50, "A", "B"),
        "y": y,
        "x": rng.normal(size=n) + 2.0 * (np.arange(n) >= 50),
        "model": rng.normal(size=n) + 1.2 * y,
        "clinical": rng.normal(size=n) + 0.4 * y,
    })


def test_replicates_match_independent_recomputation_and_quantiles():
    df = _cohort()
    res = bootstrap(lambda d: d["x"].mean(), data=df, n_resamples=200, seed=5)
    x = df["x"].to_numpy()
    ref = x[res.resamples.indices].mean(axis=1)
    np.testing.assert_allclose(res.replicates, ref, rtol=1e-12)
    assert res.estimate == pytest.approx(x.mean())
    lo, hi = np.quantile(ref, [0.025, 0.975])
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi))
    assert res.resamples.indices.shape == (200, 80)


def test_interval_agrees_with_scipy_bootstrap_within_monte_carlo_error():
    df = _cohort(n=60, seed=2)
    res = bootstrap(lambda d: d["x"].mean(), data=df, n_resamples=1500, seed=1)
    ref = stats.bootstrap((df["x"].to_numpy(),), np.mean, n_resamples=3000, method="percentile",
                          random_state=np.random.default_rng(9)).confidence_interval
    width = ref.high - ref.low
    assert res.ci_low == pytest.approx(ref.low, abs=0.08 * width)
    assert res.ci_high == pytest.approx(ref.high, abs=0.08 * width)


def test_same_seed_same_draws_other_seed_other_draws():
    df = _cohort()
    a = resample_patients(data=df, n_resamples=50, seed=3)
    b = resample_patients(data=df, n_resamples=50, seed=3)
    c = resample_patients(data=df, n_resamples=50, seed=4)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)


def test_patient_is_the_unit_with_several_rows_per_patient():
    # Each patient has 3 rows (e.g. 3 slides) sharing a value; a resample must carry whole
    # patients: every drawn patient contributes exactly 3 rows per draw.
    base = _cohort(n=20)
    long = base.loc[base.index.repeat(3)].reset_index(drop=True)
    long["slide"] = np.tile([0, 1, 2], 20)
    seen = []

    def stat(d):
        counts = d.groupby("patient_id").size()
        seen.append(bool((counts % 3 == 0).all()) and len(d) == 60)
        return float(d["x"].mean())

    res = bootstrap(stat, data=long, n_resamples=30, seed=0)
    assert all(seen)
    ref = base["x"].to_numpy()[res.resamples.indices].mean(axis=1)
    np.testing.assert_allclose(res.replicates, ref)


def test_stratified_draws_keep_the_centre_sizes():
    df = _cohort()
    rs = resample_patients(data=df, n_resamples=100, seed=1, strata="center")
    centres = df["center"].to_numpy()[rs.indices]
    assert ((centres == "A").sum(axis=1) == 50).all()
    assert ((centres == "B").sum(axis=1) == 30).all()
    # Unstratified draws do vary the mix.
    free = df["center"].to_numpy()[resample_patients(data=df, n_resamples=100, seed=1).indices]
    assert len(set((free == "A").sum(axis=1))) > 1


def test_stratification_narrows_interval_when_strata_differ():
    df = _cohort(n=80)
    plain = bootstrap(lambda d: d["x"].mean(), data=df, n_resamples=400, seed=2)
    strat = bootstrap(lambda d: d["x"].mean(), data=df, n_resamples=400, seed=2,
                      strata="center")
    assert strat.ci_high - strat.ci_low < plain.ci_high - plain.ci_low


def test_paired_bootstrap_reuses_the_same_resamples():
    df = _cohort()

    def auc(d, m):
        # Mann–Whitney AUC (fast); checked against sklearn on the full data below.
        y, s = d["y"].to_numpy(), d[m].to_numpy()
        if y.all() or not y.any():
            return float("nan")
        diff = s[y][:, None] - s[~y][None, :]
        return float(np.mean((diff > 0) + 0.5 * (diff == 0)))

    res = paired_bootstrap(auc, data=df, models=("model", "clinical"), n_resamples=150, seed=8)
    y, a, b = (df[c].to_numpy() for c in ("y", "model", "clinical"))
    assert auc(df, "model") == pytest.approx(roc_auc_score(y, a))
    idx = res.resamples.indices
    ref_a = np.array([roc_auc_score(y[i], a[i]) for i in idx[:20]])
    ref_b = np.array([roc_auc_score(y[i], b[i]) for i in idx[:20]])
    np.testing.assert_allclose(res.replicates_a[:20], ref_a)
    np.testing.assert_allclose(res.replicates_b[:20], ref_b)
    assert res.difference == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    delta = np.array([auc(df.iloc[i], "model") - auc(df.iloc[i], "clinical") for i in idx])
    lo, hi = np.quantile(delta, [0.025, 0.975])
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi))
    # Reusing the draws in bootstrap() gives the same replicates for model a.
    single = bootstrap(lambda d: auc(d, "model"), data=df, resamples=res.resamples)
    np.testing.assert_allclose(single.replicates, res.replicates_a)
    # The paired interval of a model against itself collapses to 0.
    same = paired_bootstrap(auc, data=df, models=("model", "model"), resamples=res.resamples)
    assert same.ci_low == same.ci_high == 0.0


def test_nan_replicates_are_counted_and_excluded():
    df = _cohort(n=10)
    res = bootstrap(lambda d: float("nan") if d["y"].sum() < 5 else d["x"].mean(), data=df,
                    n_resamples=200, seed=0)
    assert 0 < res.n_failed < 200
    finite = res.replicates[np.isfinite(res.replicates)]
    assert res.ci_low == pytest.approx(np.quantile(finite, 0.025))


def test_failures():
    df = _cohort()
    with pytest.raises(UsageError, match="'seed' parameter of bootstrap"):
        bootstrap(lambda d: 0.0, data=df, n_resamples=10)
    with pytest.raises(UsageError, match="'strata' parameter .* 'centre', which is not"):
        bootstrap(lambda d: 0.0, data=df, n_resamples=10, seed=1, strata="centre")
    with pytest.raises(UsageError, match="'models' parameter of paired_bootstrap"):
        paired_bootstrap(lambda d, m: 0.0, data=df, models=("model",), seed=1)
    with pytest.raises(UsageError, match="'n_resamples' parameter"):
        resample_patients(data=df, n_resamples=0, seed=1)
    rs = resample_patients(data=df, n_resamples=5, seed=1)
    with pytest.raises(DataError, match="drawn for other patients"):
        bootstrap(lambda d: 0.0, data=df.iloc[1:], resamples=rs)
    bad = df.copy()
    bad.loc[1, "patient_id"] = "P000"
    bad.loc[1, "center"] = "B"
    with pytest.raises(DataError, match="varies within patients"):
        resample_patients(data=bad, n_resamples=5, seed=1, strata="center")
