"""Model tables: estimates and bootstrap intervals against lifelines' ``concordance_index`` and
scikit-learn's ``roc_auc_score`` recomputed on the documented resamples, the paired difference
(known answers), and the named failure cases."""

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.concordance import bootstrap_harrell_c
from hccfusion.evaluation.model_table import (AVAILABILITY_COLUMNS, PAIRED_COLUMNS,
                                              PERFORMANCE_COLUMNS, _bootstrap_auc,
                                              _bootstrap_harrell_pairs,
                                              availability_pattern_table,
                                              paired_difference_table, performance_table)


def _cohort(n=120, seed=0, prefix="P"):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_ev = rng.exponential(400 * np.exp(-x))
    t_c = rng.exponential(700, n)
    orr = (rng.random(n) < 1 / (1 + np.exp(x))).astype(float)
    orr[:8] = np.nan                                  # not evaluable
    ids = [f"{prefix}{i:03d}" for i in range(n)]
    outcomes = pd.DataFrame({"patient_id": ids, "os_time": np.minimum(t_ev, t_c).round(),
                             "os_event": t_ev <= t_c, "pfs_time": np.minimum(t_ev, t_c) / 2,
                             "pfs_event": t_ev <= t_c, "orr": orr})
    return x, outcomes


def _long(model, ids, risk, endpoint="os", cohort="external NJ", split="s1"):
    return pd.DataFrame({"model": model, "split_id": split, "cohort_label": cohort,
                         "endpoint": endpoint, "patient_id": ids, "risk": risk})


def _draws(n, b, seed):
    return np.random.default_rng(seed).integers(0, n, size=(b, n))


# --------------------------------------------------------------------------- performance


def test_performance_against_lifelines_and_sklearn():
    from lifelines.utils import concordance_index
    from sklearn.metrics import roc_auc_score

    x, out = _cohort()
    rng = np.random.default_rng(1)
    ids = out["patient_id"].to_numpy()
    r_os = x + rng.normal(scale=0.8, size=x.size)
    p_orr = 1 / (1 + np.exp(x + rng.normal(scale=0.8, size=x.size)))
    preds = pd.concat([_long("fusion", ids, r_os), _long("fusion", ids, p_orr, "orr")])
    b, seed = 60, 7
    tab = performance_table(preds, out, n_resamples=b, seed=seed)
    assert tuple(tab.columns) == PERFORMANCE_COLUMNS
    row = tab.set_index("endpoint").loc["os"]
    # patients in sorted id order; the documented draws
    order = np.argsort(ids)
    t, e, r = (out["os_time"].to_numpy()[order], out["os_event"].to_numpy()[order],
               r_os[order])
    assert row["estimate"] == pytest.approx(concordance_index(t, -r, e), abs=1e-12)
    reps = [concordance_index(t[i], -r[i], e[i]) for i in _draws(len(t), b, seed)]
    assert row["ci_low"] == pytest.approx(np.quantile(reps, 0.025), abs=1e-12)
    assert row["ci_high"] == pytest.approx(np.quantile(reps, 0.975), abs=1e-12)
    assert (row["n"], row["n_events"], row["metric"]) == (120, int(e.sum()), "harrell_c")

    row = tab.set_index("endpoint").loc["orr"]
    ok = out["orr"].notna().to_numpy()
    sub = np.argsort(ids[ok])
    y, s = out["orr"].to_numpy()[ok][sub], p_orr[ok][sub]
    assert row["estimate"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    reps = [roc_auc_score(y[i], s[i]) for i in _draws(len(y), b, seed)]
    assert row["ci_low"] == pytest.approx(np.quantile(reps, 0.025), abs=1e-12)
    assert row["ci_high"] == pytest.approx(np.quantile(reps, 0.975), abs=1e-12)
    assert (row["n"], row["n_events"], row["metric"]) == (112, int(y.sum()), "roc_auc")
    assert row["estimate"] > 0.6                        # P(response) used as the score


def test_pairwise_c_bootstrap_equals_bootstrap_harrell_c_with_ties():
    # ordinal risks (clinical scores) and tied days, event vs censoring on one day
    rng = np.random.default_rng(3)
    n = 90
    t = rng.integers(1, 40, n).astype(float) * 30
    e = rng.random(n) < 0.6
    risk = np.c_[rng.integers(0, 4, n), rng.normal(size=n)].astype(float)
    ref = bootstrap_harrell_c(time=t, event=e, risk=risk, n_resamples=200, seed=11)
    got = _bootstrap_harrell_pairs(t, e, risk, _draws(n, 200, 11))
    np.testing.assert_allclose(got, ref.replicates, rtol=0, atol=1e-12)


def test_vectorised_auc_equals_sklearn_per_resample():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    n = 50
    y = rng.random(n) < 0.4
    s = np.c_[rng.integers(0, 3, n), rng.normal(size=n)].astype(float)   # with ties
    idx = _draws(n, 40, 2)
    got = _bootstrap_auc(y, s, idx)
    for b in range(40):
        for j in range(2):
            if y[idx[b]].all() or not y[idx[b]].any():
                assert np.isnan(got[b, j])
            else:
                assert got[b, j] == pytest.approx(roc_auc_score(y[idx[b]], s[idx[b], j]),
                                                  abs=1e-12)


def test_few_events_and_one_class_give_a_note_not_a_crash():
    _, out = _cohort(n=40)
    out["os_event"] = False
    out.loc[:4, "os_event"] = True                     # 5 events
    out["orr"] = 1.0                                   # one class
    ids = out["patient_id"]
    preds = pd.concat([_long("m", ids, np.arange(40.0)), _long("m", ids, np.ones(40), "orr")])
    tab = performance_table(preds, out, n_resamples=20).set_index("endpoint")
    assert np.isnan(tab.loc["os", ["estimate", "ci_low", "ci_high"]].astype(float)).all()
    assert tab.loc["os", "n_events"] == 5 and "only 5 events" in tab.loc["os", "note"]
    assert np.isnan(tab.loc["orr", "estimate"]) and "one class" in tab.loc["orr", "note"]
    paired = paired_difference_table(pd.concat([preds, preds.assign(model="k")]), out,
                                     reference="m", n_resamples=20)
    assert paired["delta"].isna().all() and (paired["note"] != "").all()


def test_missing_risks_are_excluded_and_counted():
    x, out = _cohort()
    ids = out["patient_id"]
    r = x.copy()
    r[[3, 50, 90]] = np.nan                            # clinical score not computable
    tab = performance_table(pd.concat([_long("bclc", ids, r), _long("full", ids, x)]), out,
                            n_resamples=20).set_index("model")
    assert tab.loc["bclc", "n"] == 117 and tab.loc["full", "n"] == 120
    assert "3 evaluable patient(s) without a prediction" in tab.loc["bclc", "note"]
    assert tab.loc["full", "note"] == ""


def test_models_on_the_same_patients_share_resamples():
    x, out = _cohort()
    ids = out["patient_id"]
    preds = pd.concat([_long("a", ids, x), _long("b", ids, -x)])
    tab = performance_table(preds, out, n_resamples=100, seed=3).set_index("model")
    # C(-x) = 1 − C(x) on every resample (no ties), so the intervals mirror each other
    assert tab.loc["a", "estimate"] + tab.loc["b", "estimate"] == pytest.approx(1)
    assert tab.loc["a", "ci_low"] + tab.loc["b", "ci_high"] == pytest.approx(1)


def test_cohorts_and_endpoints_are_separate_rows():
    x, out = _cohort()
    ids = out["patient_id"]
    preds = pd.concat([_long("m", ids[:60], x[:60], cohort="external NJ"),
                       _long("m", ids[60:], x[60:], cohort="temporal prospective"),
                       _long("m", ids, x, "pfs", cohort="external NJ")])
    tab = performance_table(preds, out, n_resamples=10)
    assert list(zip(tab["endpoint"], tab["cohort_label"], tab["n"])) == [
        ("os", "external NJ", 60), ("os", "temporal prospective", 60),
        ("pfs", "external NJ", 120)]


# --------------------------------------------------------------------------- paired


def _truth_vs_noise(n=150, seed=0):
    x, out = _cohort(n=n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    ids = out["patient_id"]
    good = x + rng.normal(scale=0.1, size=n)
    noise = rng.normal(size=n)
    preds = pd.concat([_long("truth", ids, good), _long("noise", ids, noise),
                       _long("same", ids, good),
                       _long("truth", ids, 1 / (1 + np.exp(good)), "orr"),
                       _long("noise", ids, noise, "orr"),
                       _long("same", ids, 1 / (1 + np.exp(good)), "orr")])
    return preds, out


def test_paired_ci_excludes_zero_for_truth_vs_noise():
    preds, out = _truth_vs_noise()
    tab = paired_difference_table(preds, out, reference="truth", n_resamples=300, seed=1)
    assert tuple(tab.columns) == PAIRED_COLUMNS
    for ep in ("os", "orr"):
        row = tab[(tab["comparator"] == "noise") & (tab["endpoint"] == ep)].iloc[0]
        assert row["ci_low"] > 0 and row["delta"] > 0.1
        assert row["p_value"] < 0.01
        assert row["p_value"] >= 2 / 301                # never reported as 0
        assert row["delta"] == pytest.approx(row["estimate"] - row["comparator_estimate"])


def test_paired_ci_covers_zero_for_the_same_risk():
    preds, out = _truth_vs_noise()
    tab = paired_difference_table(preds, out, reference="truth", comparators=["same"],
                                  n_resamples=200, seed=1)
    assert set(tab["comparator"]) == {"same"} and len(tab) == 2
    assert (tab["delta"] == 0).all()
    assert ((tab["ci_low"] <= 0) & (tab["ci_high"] >= 0)).all()
    assert (tab["p_value"] == 1).all()


def test_paired_estimates_agree_with_performance_table():
    preds, out = _truth_vs_noise()
    perf = performance_table(preds, out, n_resamples=50, seed=2).set_index(["model", "endpoint"])
    tab = paired_difference_table(preds, out, reference="truth", n_resamples=50, seed=2)
    for _, row in tab.iterrows():
        assert row["estimate"] == perf.loc[("truth", row["endpoint"]), "estimate"]
        assert row["comparator_estimate"] == perf.loc[(row["comparator"], row["endpoint"]),
                                                      "estimate"]


def test_paired_ci_is_the_percentile_of_paired_replicates():
    # reference values recomputed independently with lifelines on the documented draws
    from lifelines.utils import concordance_index

    x, out = _cohort(n=80)
    rng = np.random.default_rng(5)
    ids = out["patient_id"].to_numpy()
    a, b = x + rng.normal(size=80), rng.normal(size=80)
    tab = paired_difference_table(pd.concat([_long("a", ids, a), _long("b", ids, b)]), out,
                                  reference="a", n_resamples=80, seed=9)
    t, e = out["os_time"].to_numpy(), out["os_event"].to_numpy()
    d = np.array([concordance_index(t[i], -a[i], e[i]) - concordance_index(t[i], -b[i], e[i])
                  for i in _draws(80, 80, 9)])
    row = tab.iloc[0]
    assert row["ci_low"] == pytest.approx(np.quantile(d, 0.025), abs=1e-12)
    assert row["ci_high"] == pytest.approx(np.quantile(d, 0.975), abs=1e-12)
    expected_p = min(1, 2 * min((1 + (d <= 0).sum()) / 81, (1 + (d >= 0).sum()) / 81))
    assert row["p_value"] == pytest.approx(expected_p)


def test_paired_uses_the_shared_patients():
    x, out = _cohort()
    ids = out["patient_id"]
    preds = pd.concat([_long("full", ids, x), _long("part", ids[:70], x[:70])])
    tab = paired_difference_table(preds, out, reference="full", n_resamples=20)
    assert tab.iloc[0]["n"] == 70


def test_paired_unknown_reference():
    preds, out = _truth_vs_noise()
    with pytest.raises(UsageError, match="did you mean 'truth'"):
        paired_difference_table(preds, out, reference="trut")
    with pytest.raises(UsageError, match="comparator model 'nois'"):
        paired_difference_table(preds, out, reference="truth", comparators=["nois"])


# --------------------------------------------------------------------------- availability


def test_availability_patterns_split_the_patients():
    from lifelines.utils import concordance_index

    x, out = _cohort(n=150)
    ids = out["patient_id"].to_numpy()
    pattern = np.where(np.arange(150) < 90, "clinical+radiomics", "clinical")
    avail = pd.DataFrame({"patient_id": ids, "pattern": pattern})
    tab = availability_pattern_table(_long("m", ids, x), out, avail, n_resamples=20)
    assert tuple(tab.columns) == AVAILABILITY_COLUMNS
    assert tab["n"].sum() == 150
    row = tab.set_index("pattern").loc["clinical"]
    sel = pattern == "clinical"
    t, e = out["os_time"].to_numpy()[sel], out["os_event"].to_numpy()[sel]
    assert row["estimate"] == pytest.approx(concordance_index(t, -x[sel], e), abs=1e-12)


def test_availability_needs_every_patient():
    x, out = _cohort(n=30)
    ids = out["patient_id"]
    avail = pd.DataFrame({"patient_id": ids[:29], "pattern": "clinical"})
    with pytest.raises(DataError, match="P029"):
        availability_pattern_table(_long("m", ids, x), out, avail)
    two = pd.concat([avail, pd.DataFrame({"patient_id": ["P000"], "pattern": ["omics"]})])
    with pytest.raises(DataError, match="P000 has several availability patterns"):
        availability_pattern_table(_long("m", ids, x), out, two)


# --------------------------------------------------------------------------- failures


def test_patient_predicted_twice_in_one_cohort():
    x, out = _cohort(n=30)
    ids = out["patient_id"]
    preds = pd.concat([_long("m", ids, x, split="dev WX"), _long("m", ids[:2], x[:2],
                                                                split="dev NJ")])
    with pytest.raises(DataError, match=r"patient P000 has 2 predictions of model m.*dev NJ"):
        performance_table(preds, out)


def test_unknown_endpoint_and_missing_outcomes():
    x, out = _cohort(n=30)
    ids = out["patient_id"]
    with pytest.raises(DataError, match="endpoint 'ttp'"):
        performance_table(_long("m", ids, x, "ttp"), out)
    with pytest.raises(DataError, match="no row in 'outcomes', e.g. P029"):
        performance_table(_long("m", ids, x), out.iloc[:29])
    with pytest.raises(DataError, match="lacks column"):
        performance_table(_long("m", ids, x).drop(columns="split_id"), out)


def test_bad_outcome_values_name_the_patient():
    x, out = _cohort(n=30)
    out["orr"] = out["orr"].astype(object)
    out.loc[12, "orr"] = 2
    with pytest.raises(DataError, match="P012 has orr = 2"):
        performance_table(_long("m", out["patient_id"], x, "orr"), out)
    _, out = _cohort(n=30)
    out["os_event"] = out["os_event"].astype(int) + 1     # R-style 1/2 coding
    with pytest.raises(DataError, match="os_event"):
        performance_table(_long("m", out["patient_id"], x), out)


def test_infinite_risk_and_bad_options():
    x, out = _cohort(n=30)
    r = x.copy()
    r[4] = np.inf
    with pytest.raises(DataError, match="P004"):
        performance_table(_long("m", out["patient_id"], r), out)
    preds = _long("m", out["patient_id"], x)
    with pytest.raises(UsageError, match="The 'n_resamples' parameter of performance_table"):
        performance_table(preds, out, n_resamples=0)
    with pytest.raises(UsageError, match="The 'confidence' parameter"):
        performance_table(preds, out, confidence=95)
    with pytest.raises(UsageError, match="The 'seed' parameter"):
        performance_table(preds, out, seed=None)
