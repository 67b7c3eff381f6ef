"""Metabolomics preprocessing, volcano table and metabolite-set over-representation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.metabolite_sets import over_representation, read_metabolite_sets
from hccfusion.omics.metabolomics import (
    FeatureFilter,
    HalfMinimumImputer,
    LogParetoScaler,
    PQNNormalizer,
    check_intensities,
    pca,
    qc_rsd,
    volcano_table,
)


def _table(values, samples=None, features=None) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    samples = samples or [f"S{i}" for i in range(values.shape[0])]
    features = features or [f"F{j}" for j in range(values.shape[1])]
    return pd.DataFrame(values, index=pd.Index(samples, name="sample_id"), columns=features)


@pytest.fixture
def peaks() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return _table(np.exp(rng.normal(8.0, 1.0, (12, 6))))


# --- bad input ----------------------------------------------------------------------------

def test_negative_intensity_names_sample_and_feature(peaks):
    peaks.iloc[3, 2] = -5.0
    with pytest.raises(DataError, match=r"sample_id 'S3', feature 'F2'.*negative"):
        check_intensities(peaks)
    with pytest.raises(DataError, match="negative"):
        HalfMinimumImputer().fit(peaks)


def test_all_nan_feature_is_reported_by_the_filter_and_refused_later(peaks):
    peaks["F4"] = np.nan
    flt = FeatureFilter(max_qc_rsd=None, max_missing=1.0).fit(peaks)
    assert "F4" not in flt.keep_
    assert flt.report_.set_index("feature").loc["F4", "reason"] == "all_missing"
    with pytest.raises(DataError, match=r"feature 'F4' is missing \(NaN\) in every sample"):
        HalfMinimumImputer().fit(peaks)


def test_not_a_dataframe_is_a_usage_error():
    with pytest.raises(UsageError, match="must be a pandas DataFrame"):
        check_intensities(np.ones((3, 3)))


def test_pqn_and_log_refuse_missing_values(peaks):
    peaks.iloc[0, 0] = np.nan
    with pytest.raises(DataError, match=r"sample_id 'S0', feature 'F0'.*impute"):
        PQNNormalizer().fit(peaks)
    with pytest.raises(DataError, match="impute missing values first"):
        LogParetoScaler().fit(peaks)


# --- filtering ------------------------------------------------------------------------------

def test_qc_rsd_matches_pandas():
    qc = _table([[10, 100, np.nan], [12, 50, np.nan], [11, 160, 4.0]])
    rsd = qc_rsd(qc)
    expected = qc.std(ddof=1) / qc.mean()
    np.testing.assert_allclose(rsd.iloc[:2], expected.iloc[:2], rtol=1e-12)
    assert np.isnan(rsd.iloc[2])  # one QC value: no RSD, and the filter drops it


def test_feature_filter_drops_by_rsd_and_missingness():
    samples = _table([[1, 1, np.nan, 5], [2, 2, np.nan, 5], [3, 3, np.nan, np.nan],
                      [4, np.nan, 1, 5], [5, np.nan, 2, np.nan], [6, np.nan, 3, np.nan]])
    qc = _table([[10, 10, 10, 10], [10.5, 10, 10, 10], [9.5, 30, 10, 10]])
    flt = FeatureFilter(max_qc_rsd=0.3, max_missing=0.5).fit(samples, qc=qc)
    assert list(flt.keep_) == ["F0", "F2", "F3"]
    assert flt.report_.set_index("feature").loc["F1", "reason"] == "qc_rsd"
    strict = FeatureFilter(max_qc_rsd=None, max_missing=0.4).fit(samples)
    assert list(strict.keep_) == ["F0"]
    # The per-group rule keeps F2 and F3 (complete in one group, absent in the other).
    groups = pd.Series(["a"] * 3 + ["b"] * 3, index=samples.index)
    per_group = FeatureFilter(max_qc_rsd=None, max_missing=0.4, max_missing_group=0.2)
    assert list(per_group.fit(samples, groups=groups).keep_) == ["F0", "F1", "F2"]
    assert list(per_group.transform(samples).columns) == ["F0", "F1", "F2"]


def test_feature_filter_needs_qc_when_rsd_is_set(peaks):
    with pytest.raises(UsageError, match="'qc' parameter of FeatureFilter.fit"):
        FeatureFilter().fit(peaks)


# --- fitted steps: hand values and no leakage from test samples --------------------------------

def test_half_minimum_imputation(peaks):
    peaks.iloc[[1, 5], 0] = np.nan
    imputer = HalfMinimumImputer().fit(peaks)
    assert imputer.fill_["F0"] == pytest.approx(np.nanmin(peaks["F0"]) / 2)
    out = imputer.transform(peaks)
    assert out.loc[["S1", "S5"], "F0"].tolist() == [imputer.fill_["F0"]] * 2
    assert not out.isna().any().any()


def test_pqn_hand_computation_and_dilution_recovery():
    x = _table([[1.0, 2.0, 4.0], [2.0, 2.0, 2.0], [3.0, 6.0, 3.0]])
    pqn = PQNNormalizer().fit(x)
    np.testing.assert_allclose(pqn.reference_, [2.0, 2.0, 3.0])
    # Quotients: S0 (0.5, 1, 4/3) → median 1; S1 (1, 1, 2/3) → 1; S2 (1.5, 3, 1) → 1.5.
    np.testing.assert_allclose(pqn.dilution_factors(x), [1.0, 1.0, 1.5])
    diluted = _table(np.outer([0.5, 2.0, 7.0], pqn.reference_.to_numpy()))
    np.testing.assert_allclose(pqn.dilution_factors(diluted), [0.5, 2.0, 7.0])
    np.testing.assert_allclose(pqn.transform(diluted), np.tile(pqn.reference_, (3, 1)))


def test_log_pareto_hand_computation(peaks):
    scaler = LogParetoScaler().fit(peaks)
    logged = np.log2(peaks.to_numpy())
    np.testing.assert_allclose(scaler.mean_, logged.mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, np.sqrt(logged.std(axis=0, ddof=1)))
    out = scaler.transform(peaks).to_numpy()
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0, ddof=1) ** 2, logged.std(axis=0, ddof=1))


def test_fitted_values_do_not_move_when_a_test_sample_is_corrupted(peaks):
    train, test = peaks.iloc[:8].copy(), peaks.iloc[8:].copy()
    train.iloc[2, 1] = np.nan

    def fitted(test_table):
        imputer = HalfMinimumImputer().fit(train)
        complete = imputer.transform(train)
        pqn = PQNNormalizer().fit(complete)
        scaler = LogParetoScaler().fit(pqn.transform(complete))
        scaled = scaler.transform(pqn.transform(imputer.transform(test_table)))
        return imputer.fill_, pqn.reference_, scaler.mean_, scaler.scale_, scaled

    before = fitted(test)
    corrupted = test.copy()
    corrupted.iloc[0] = corrupted.iloc[0] * 1e6
    corrupted.iloc[1, 3] = np.nan
    after = fitted(corrupted)
    for a, b in zip(before[:4], after[:4]):
        pd.testing.assert_series_equal(a, b)
    # Untouched test samples are transformed identically.
    pd.testing.assert_frame_equal(before[4].iloc[2:], after[4].iloc[2:])


# --- PCA ---------------------------------------------------------------------------------------

def test_pca_matches_scikit_learn(peaks):
    from sklearn.decomposition import PCA

    scaled = LogParetoScaler().fit(peaks).transform(peaks)
    ours = pca(scaled, n_components=3)
    ref = PCA(n_components=3).fit(scaled.to_numpy())
    np.testing.assert_allclose(ours.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-10)
    ref_scores = ref.transform(scaled.to_numpy())
    np.testing.assert_allclose(np.abs(ours.scores.to_numpy()), np.abs(ref_scores), atol=1e-10)
    with pytest.raises(UsageError, match="'n_components' parameter of pca"):
        pca(scaled, n_components=0)


# --- volcano -----------------------------------------------------------------------------------

def test_volcano_flags_a_planted_difference_and_reports_small_groups():
    rng = np.random.default_rng(1)
    x = np.exp(rng.normal(5.0, 0.2, (20, 5)))
    x[10:, 0] *= 4.0  # log2 FC ≈ 2 in group b
    table = _table(x)
    groups = pd.Series(["a"] * 10 + ["b"] * 10, index=table.index)
    vip = pd.Series([2.0, 1.5, 0.5, 0.5, 0.5], index=table.columns)
    out = volcano_table(table, groups, order=("a", "b"), vip=vip).set_index("feature")
    assert out.loc["F0", "differential"] and out.loc["F0", "q"] < 0.05
    assert out.loc["F0", "log2_fc"] == pytest.approx(2.0, abs=0.3)
    assert out["differential"].sum() == 1
    assert out.loc["F0", "neg_log10_q"] == pytest.approx(-np.log10(out.loc["F0", "q"]))
    tiny = pd.Series(["a"] * 18 + ["b"] * 2, index=table.index)
    small = volcano_table(table, tiny, order=("a", "b"))
    assert (small["status"] == "too_few_samples").all() and small["q"].isna().all()
    assert not small["differential"].any()


# --- metabolite sets ---------------------------------------------------------------------------

GMT = ("# test sets\n"
       "glycolysis\tKEGG map00010\tlactate\tpyruvate\tglucose\tsuccinate\n"
       "\n"
       "tryptophan\t\tkynurenine\ttryptophan\tserotonin\n"
       "bile_acids\tbile\tglycocholic acid\ttaurocholic acid\tcholic acid\tnot measured\n"
       "lonely\tone member\tcitrate\n")


def test_read_metabolite_sets(tmp_path):
    path = tmp_path / "sets.gmt"
    path.write_text(GMT, encoding="utf-8")
    sets = read_metabolite_sets(path)
    assert list(sets) == ["glycolysis", "tryptophan", "bile_acids", "lonely"]
    assert sets["tryptophan"] == ("kynurenine", "tryptophan", "serotonin")


@pytest.mark.parametrize("text, message", [
    ("a\tdesc\tx\na\tdesc\ty\n", r"line 2: set 'a' is defined twice"),
    ("a\tonly two fields\n", r"line 1: expected .* got 2"),
    ("# nothing\n", "no metabolite set found"),
])
def test_read_metabolite_sets_failures(tmp_path, text, message):
    path = tmp_path / "bad.gmt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_metabolite_sets(path)


def test_read_metabolite_sets_missing_file(tmp_path):
    with pytest.raises(UsageError, match="must be an existing file"):
        read_metabolite_sets(tmp_path / "absent.gmt")


def test_over_representation_matches_fisher_exact(tmp_path):
    from scipy.stats import fisher_exact

    path = tmp_path / "sets.gmt"
    path.write_text(GMT, encoding="utf-8")
    sets = read_metabolite_sets(path)
    background = ["lactate", "pyruvate", "glucose", "succinate", "kynurenine", "tryptophan",
                  "serotonin", "glycocholic acid", "taurocholic acid", "cholic acid",
                  "citrate"] + [f"m{i}" for i in range(29)]
    hits = ["lactate", "pyruvate", "succinate", "kynurenine", "m1"]
    out = over_representation(hits, background=background, sets=sets).set_index("set")
    n_universe, n_hits = len(background), len(hits)
    for name, big_k, k in [("glycolysis", 4, 3), ("tryptophan", 3, 1), ("bile_acids", 3, 0)]:
        table = [[k, n_hits - k], [big_k - k, n_universe - big_k - (n_hits - k)]]
        assert out.loc[name, "p"] == pytest.approx(fisher_exact(table, "greater")[1], rel=1e-10)
        assert out.loc[name, "n_background"] == big_k and out.loc[name, "n_hits"] == k
    assert out.loc["lonely", "status"] == "too_small" and np.isnan(out.loc["lonely", "p"])
    p = out.loc[["glycolysis", "tryptophan", "bile_acids"], "p"].to_numpy()
    order = np.argsort(p)
    hand = np.minimum.accumulate((p[order] * 3 / np.arange(1, 4))[::-1])[::-1]
    np.testing.assert_allclose(out.loc[["glycolysis", "tryptophan", "bile_acids"], "q"]
                               .to_numpy()[order], np.minimum(hand, 1.0))
    assert out.index[0] == "glycolysis"
    assert out.loc["glycolysis", "hit_members"] == "lactate;pyruvate;succinate"


def test_over_representation_rejects_hits_outside_background():
    with pytest.raises(DataError, match="hit 'x' is not in the background"):
        over_representation(["x"], background=["a", "b"], sets={"s": ["a", "b"]})
