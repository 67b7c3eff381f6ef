"""Fitted preprocessing: known answers, no leakage from test rows, exact JSON round trips, and
named failure cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hccfusion.errors import DataError, SchemaVersionError, UsageError
from hccfusion.training.preprocess import (
    CategoryEncoder,
    TabularPreprocessor,
    TimeBins,
    VectorPreprocessor,
    preprocessor_from_dict,
)


def clinical(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age_years": rng.normal(58, 10, n),
        "afp_ng_ml": rng.lognormal(4, 2, n),
        "albumin_g_l": rng.normal(38, 5, n),
        "sex": rng.choice(["M", "F"], n, p=[0.8, 0.2]),
        "ecog": rng.choice([0.0, 1.0, 2.0], n),
        "etiology": rng.choice(["HBV", "HCV", "alcohol", "NASH"], n, p=[0.7, 0.1, 0.1, 0.1]),
    }, index=pd.Index([f"P{i:03d}" for i in range(n)], name="patient_id"))
    frame.loc[frame.index[::7], "afp_ng_ml"] = np.nan
    frame.loc[frame.index[3], "etiology"] = None
    return frame


def tabular() -> TabularPreprocessor:
    return TabularPreprocessor(numeric=["age_years", "afp_ng_ml", "albumin_g_l"],
                               categorical=["sex", "ecog", "etiology"], log=["afp_ng_ml"])


def radiomics(n: int = 30, p: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) * np.arange(1, p + 1)
    frame = pd.DataFrame(x, columns=[f"f{j}" for j in range(p)],
                         index=pd.Index([f"P{i:03d}" for i in range(n)], name="patient_id"))
    frame["f0"] = 3.0                                  # constant
    frame.loc[frame.index[: n // 2], "f1"] = np.nan    # 50 % missing
    frame.loc[frame.index[2], "f5"] = np.nan           # a little missing
    return frame


def fitted_state(obj) -> str:
    return json.dumps(obj.to_dict(), sort_keys=True)


# --------------------------------------------------------------------------- tabular

def test_tabular_known_answer() -> None:
    frame = pd.DataFrame({"x": [1.0, 3.0, np.nan, 5.0], "c": ["a", "b", "a", None]},
                         index=list("pqrs"))
    pre = TabularPreprocessor(numeric=["x"], categorical=["c"]).fit(frame)
    # median 3 imputes the NaN: imputed values 1, 3, 3, 5 → mean 3, sd sqrt(2)
    assert pre.medians_ == {"x": 3.0}
    assert pre.means_["x"] == pytest.approx(3.0)
    assert pre.scales_["x"] == pytest.approx(np.sqrt(2.0))
    assert pre.feature_names_out_ == ["x", "x__missing", "c=a", "c=b", "c__missing"]
    out = pre.transform(frame)
    expected = np.array([[-np.sqrt(2), 0, 1, 0, 0],
                         [0, 0, 0, 1, 0],
                         [0, 1, 1, 0, 0],
                         [np.sqrt(2), 0, 0, 0, 1]], dtype=np.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.dtype == np.float32


def test_tabular_log_then_standardise_and_clip() -> None:
    frame = pd.DataFrame({"afp": [0.0, np.e - 1, np.e ** 2 - 1]})
    pre = TabularPreprocessor(numeric=["afp"], log=["afp"], clip_z=1.0).fit(frame)
    assert pre.means_["afp"] == pytest.approx(1.0)      # log1p → 0, 1, 2
    assert "afp__missing" not in pre.feature_names_out_
    out = pre.transform(pd.DataFrame({"afp": [np.e ** 10 - 1, 0.0]}))
    np.testing.assert_allclose(out[:, 0], [1.0, -1.0])  # clipped to ±1


def test_tabular_constant_column_scale_one() -> None:
    pre = TabularPreprocessor(numeric=["x"]).fit(pd.DataFrame({"x": [2.0, 2.0, 2.0]}))
    assert pre.scales_["x"] == 1.0
    np.testing.assert_allclose(pre.transform(pd.DataFrame({"x": [3.0]})), [[1.0]])


def test_tabular_missing_indicator_only_where_training_had_missingness() -> None:
    train = clinical()
    pre = tabular().fit(train)
    assert "afp_ng_ml__missing" in pre.feature_names_out_
    assert "age_years__missing" not in pre.feature_names_out_
    assert "etiology__missing" in pre.feature_names_out_
    test = train.iloc[:3].copy()
    test["age_years"] = np.nan
    out = pre.transform(test)
    j = pre.feature_names_out_.index("age_years")
    expected = (pre.medians_["age_years"] - pre.means_["age_years"]) / pre.scales_["age_years"]
    np.testing.assert_allclose(out[:, j], expected, rtol=1e-6)
    assert pre.transform_report_["imputed_without_indicator"] == {"age_years": 3}


def test_tabular_unknown_category_is_zero_row_and_reported() -> None:
    pre = tabular().fit(clinical())
    test = clinical().iloc[:2].copy()
    test["etiology"] = ["schistosomiasis", None]
    out = pre.transform(test)
    cols = [i for i, n in enumerate(pre.feature_names_out_) if n.startswith("etiology=")]
    assert out[0, cols].sum() == 0 and out[1, cols].sum() == 0
    missing = pre.feature_names_out_.index("etiology__missing")
    assert out[0, missing] == 0 and out[1, missing] == 1
    assert pre.transform_report_["unknown_levels"] == {"etiology": {"schistosomiasis": 1}}


def test_tabular_numeric_like_levels_are_one_level() -> None:
    pre = TabularPreprocessor(categorical=["ecog"]).fit(pd.DataFrame({"ecog": [0.0, 1.0, 1.0]}))
    assert pre.levels_ == {"ecog": ["0", "1"]}
    out = pre.transform(pd.DataFrame({"ecog": [1, "0", "1"]}))
    np.testing.assert_array_equal(out, [[0, 1], [1, 0], [0, 1]])


def test_tabular_rare_levels_pooled_into_other() -> None:
    frame = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 5 + ["c", "d"]})
    pre = TabularPreprocessor(categorical=["c"], min_count=2).fit(frame)
    assert pre.levels_["c"] == ["a", "b"] and pre.pooled_["c"] == ["c", "d"]
    assert pre.feature_names_out_ == ["c=a", "c=b", "c=other"]
    np.testing.assert_array_equal(pre.transform(pd.DataFrame({"c": ["d", "zzz"]})),
                                  [[0, 0, 1], [0, 0, 0]])


@pytest.mark.parametrize("corruption", [1000.0, np.nan, -1e6])
def test_tabular_fitted_values_do_not_see_test_rows(corruption: float) -> None:
    """Leakage: the state fitted on the training rows is unchanged when every test-row value is
    corrupted, and transforming the corrupted test rows does not alter it either."""
    frame = clinical(60)
    train, test = frame.iloc[:40], frame.iloc[40:].copy()
    pre = tabular().fit(train)
    before = fitted_state(pre)
    for col in ("age_years", "albumin_g_l"):
        test[col] = corruption
    test["etiology"] = "corrupted"
    pre.transform(test)
    assert fitted_state(pre) == before
    # refitting on the training rows of the corrupted full frame gives the same state
    corrupted = pd.concat([train, test])
    assert fitted_state(tabular().fit(corrupted.loc[train.index])) == before
    # and fitting on everything would have moved it (the test can fail)
    assert fitted_state(tabular().fit(corrupted)) != before


def test_tabular_round_trip_is_exact() -> None:
    frame = clinical(50)
    pre = tabular().fit(frame.iloc[:30])
    loaded = TabularPreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(loaded.transform(frame), pre.transform(frame))
    assert loaded.feature_names_out_ == pre.feature_names_out_
    assert isinstance(preprocessor_from_dict(pre.to_dict()), TabularPreprocessor)


def test_tabular_extra_columns_ignored_and_order_free() -> None:
    frame = clinical()
    pre = tabular().fit(frame)
    shuffled = frame[frame.columns[::-1]].assign(extra=1.0)
    np.testing.assert_array_equal(pre.transform(shuffled), pre.transform(frame))


def test_tabular_missing_column_names_it() -> None:
    pre = tabular().fit(clinical())
    with pytest.raises(DataError, match="albumin_g_l"):
        pre.transform(clinical().drop(columns="albumin_g_l"))
    with pytest.raises(DataError, match="etiology"):
        tabular().fit(clinical().drop(columns="etiology"))


def test_tabular_transform_before_fit() -> None:
    with pytest.raises(UsageError, match="not fitted"):
        tabular().transform(clinical())
    with pytest.raises(UsageError, match="not fitted"):
        tabular().to_dict()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"numeric": ["a"], "categorical": ["a"]}, "disjoint"),
    ({"numeric": ["a"], "log": ["b"]}, "'log' parameter"),
    ({"numeric": ["a"], "clip_z": 0}, "'clip_z' parameter"),
    ({"numeric": ["a"], "min_count": 0}, "'min_count' parameter"),
    ({"numeric": "a"}, "'numeric' parameter"),
    ({"numeric": ["a", "a"]}, "more than once"),
    ({}, "at least one column"),
])
def test_tabular_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        TabularPreprocessor(**kwargs).fit(pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0]}))


def test_tabular_bad_data_names_patient_and_column() -> None:
    frame = pd.DataFrame({"afp": [1.0, "high", 3.0]}, index=["P1", "P2", "P3"])
    with pytest.raises(DataError, match=r"'afp'.*P2"):
        TabularPreprocessor(numeric=["afp"]).fit(frame)
    negative = pd.DataFrame({"afp": [1.0, -2.0]}, index=["P1", "P2"])
    with pytest.raises(DataError, match=r"log1p.*P2"):
        TabularPreprocessor(numeric=["afp"], log=["afp"]).fit(negative)
    with pytest.raises(DataError, match="no observed value"):
        TabularPreprocessor(numeric=["afp"]).fit(pd.DataFrame({"afp": [np.nan, np.nan]}))
    with pytest.raises(DataError, match="no rows"):
        TabularPreprocessor(numeric=["afp"]).fit(pd.DataFrame({"afp": []}))


def test_tabular_transform_reads_mixed_dtypes_and_names_bad_values() -> None:
    """The vectorised read of the numeric columns gives what a column-by-column read gives,
    whatever mix of numeric, text-typed and boolean columns the frame holds."""
    train = clinical()
    pre = tabular().fit(train)
    mixed = train.copy()
    mixed["albumin_g_l"] = mixed["albumin_g_l"].astype(object)    # numbers in an object column
    np.testing.assert_array_equal(pre.transform(mixed), pre.transform(train))
    text = mixed.copy()
    text.loc["P004", "albumin_g_l"] = "n/a"
    with pytest.raises(DataError, match=r"'albumin_g_l' must be numeric; patient\(s\) \['P004'\]"):
        pre.transform(text)
    infinite = train.copy()
    infinite.loc["P006", "age_years"] = np.inf
    with pytest.raises(DataError, match=r"'age_years' holds infinite values for patient 'P006'"):
        pre.transform(infinite)
    flags = pd.DataFrame({"flag": [True, False, True]}, index=["P1", "P2", "P3"])
    fitted = TabularPreprocessor(numeric=["flag"]).fit(flags)
    np.testing.assert_allclose(fitted.transform(flags)[:, 0], [1.0, -2.0, 1.0] / np.sqrt(2),
                               rtol=1e-6)


def test_tabular_from_dict_refuses_other_version_and_kind() -> None:
    d = tabular().fit(clinical()).to_dict()
    with pytest.raises(SchemaVersionError, match="version"):
        TabularPreprocessor.from_dict({**d, "version": 99})
    with pytest.raises(DataError, match="kind 'tabular'"):
        TabularPreprocessor.from_dict({**d, "kind": "vector"})
    with pytest.raises(DataError, match="feature_names_out"):
        TabularPreprocessor.from_dict({**d, "feature_names_out": ["x"]})


@given(st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=2, max_size=30))
def test_tabular_property_finite_and_bounded(values: list) -> None:
    frame = pd.DataFrame({"x": values}, dtype=float)
    if frame["x"].isna().all():
        return
    pre = TabularPreprocessor(numeric=["x"], clip_z=3.0).fit(frame)
    out = pre.transform(frame)
    assert np.isfinite(out).all() and np.abs(out[:, 0]).max() <= 3.0
    np.testing.assert_array_equal(TabularPreprocessor.from_dict(pre.to_dict()).transform(frame),
                                  out)


# --------------------------------------------------------------------------- vector

def test_vector_filters_and_standardises() -> None:
    frame = radiomics()
    pre = VectorPreprocessor(max_missing=0.2).fit(frame)
    assert pre.dropped_["variance"] == ["f0"]
    assert pre.dropped_["missing"] == ["f1"]
    assert pre.kept_ == [f"f{j}" for j in range(2, 12)]
    out = pre.transform(frame)
    assert out.shape == (30, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)
    f5 = pre.kept_.index("f5")
    assert pre.medians_[f5] == np.nanmedian(frame["f5"])


def test_vector_max_features_keeps_highest_variance() -> None:
    pre = VectorPreprocessor(max_features=3).fit(radiomics())
    # column j has sd ∝ j + 1, so the last three columns have the largest variance
    assert pre.kept_ == ["f9", "f10", "f11"]
    assert set(pre.dropped_["max_features"]) == {f"f{j}" for j in range(2, 9)}


def test_vector_pca_matches_covariance_eigenvectors() -> None:
    """Reference: eigenvectors of the covariance matrix of the standardised training data
    (an independent route to the principal components than the SVD used in the code)."""
    frame = radiomics(40).drop(columns=["f0", "f1"]).fillna(0.0)
    pre = VectorPreprocessor(pca=3, clip_quantile=None).fit(frame)
    x = frame.to_numpy()
    z = (x - x.mean(0)) / x.std(0)
    eigval, eigvec = np.linalg.eigh(z.T @ z / len(z))
    top = np.argsort(eigval)[::-1][:3]
    np.testing.assert_allclose(np.abs(pre.components_), np.abs(eigvec[:, top].T), atol=1e-8)
    np.testing.assert_allclose(pre.explained_variance_ratio_, eigval[top] / eigval.sum(),
                               rtol=1e-8)
    out = pre.transform(frame)
    assert pre.feature_names_out_ == ["pc1", "pc2", "pc3"]
    np.testing.assert_allclose(np.abs(out), np.abs(z @ eigvec[:, top]), rtol=1e-4, atol=1e-5)
    # sign convention: the largest loading of each component is positive
    rows = np.arange(3)
    assert (pre.components_[rows, np.abs(pre.components_).argmax(1)] > 0).all()


def test_vector_clips_to_training_quantiles() -> None:
    """An extreme value (PyRadiomics writes NGTDM coarseness as 1e6 for a flat region) is
    clipped to the training column's quantiles before it is standardised; the bounds are
    numpy's quantiles of the observed training values and the transform counts the clips."""
    frame = radiomics(50)
    train, test = frame.iloc[:40].copy(), frame.iloc[40:].copy()
    train.iloc[3, 5] = 1e6                                    # a training outlier, column f5
    pre = VectorPreprocessor(clip_quantile=0.05).fit(train)
    f5 = pre.kept_.index("f5")
    observed = train["f5"].dropna().to_numpy()
    assert pre.lower_[f5] == np.quantile(observed, 0.05)
    assert pre.upper_[f5] == np.quantile(observed, 0.95)
    assert pre.upper_[f5] < 1e3                               # the outlier set no bound
    within = pre.transform(test)
    test.iloc[0, 5] = 1e6
    test.iloc[1, 5] = -1e6
    out = pre.transform(test)
    assert pre.transform_report_["clipped_values"] >= 2
    np.testing.assert_allclose(out[0, f5], (pre.upper_[f5] - pre.means_[f5]) / pre.scales_[f5],
                               rtol=1e-6)
    np.testing.assert_allclose(out[1, f5], (pre.lower_[f5] - pre.means_[f5]) / pre.scales_[f5],
                               rtol=1e-6)
    others = [j for j in range(out.shape[1]) if j != f5]
    np.testing.assert_array_equal(out[:, others], within[:, others])
    # without clipping, the one training outlier dominates the column's scale
    loose = VectorPreprocessor(clip_quantile=None).fit(train)
    assert loose.lower_ is None and loose.scales_[f5] > 100 * pre.scales_[f5]


def test_vector_dict_without_clipping_bounds_clips_nothing() -> None:
    """A preprocessor written before clipping existed (no 'clip_quantile', no 'clip') still
    loads, and transforms exactly as an unclipped one."""
    frame = radiomics(40)
    pre = VectorPreprocessor(clip_quantile=None).fit(frame.iloc[:25])
    old = pre.to_dict()
    del old["params"]["clip_quantile"], old["clip"]
    loaded = preprocessor_from_dict(old)
    assert loaded.clip_quantile is None
    np.testing.assert_array_equal(loaded.transform(frame), pre.transform(frame))
    edited = VectorPreprocessor().fit(frame.iloc[:25]).to_dict()
    edited["clip"]["upper"] = edited["clip"]["upper"][:-1]
    with pytest.raises(DataError, match="clipping bounds"):
        preprocessor_from_dict(edited)


@pytest.mark.parametrize("corruption", [1000.0, np.nan])
def test_vector_fitted_values_do_not_see_test_rows(corruption: float) -> None:
    frame = radiomics(50)
    train, test = frame.iloc[:30], frame.iloc[30:].copy()
    def make() -> VectorPreprocessor:
        return VectorPreprocessor(max_missing=0.5, pca=4)

    pre = make().fit(train)
    before = fitted_state(pre)
    test.loc[:, :] = corruption
    pre.transform(test)
    assert fitted_state(pre) == before
    corrupted = pd.concat([train, test])
    assert fitted_state(make().fit(corrupted.loc[train.index])) == before
    assert fitted_state(make().fit(corrupted)) != before


def test_vector_transform_imputes_and_reports() -> None:
    frame = radiomics()
    pre = VectorPreprocessor().fit(frame)
    test = frame.iloc[:2].copy()
    test.loc[test.index[0], :] = np.nan
    out = pre.transform(test)
    np.testing.assert_allclose(out[0], (pre.medians_ - pre.means_) / pre.scales_, rtol=1e-6)
    assert pre.transform_report_["all_missing_rows"] == [test.index[0]]


def test_vector_round_trip_is_exact() -> None:
    frame = radiomics(40)
    for pre in (VectorPreprocessor().fit(frame.iloc[:25]),
                VectorPreprocessor(pca=3).fit(frame.iloc[:25])):
        loaded = preprocessor_from_dict(json.loads(json.dumps(pre.to_dict())))
        assert isinstance(loaded, VectorPreprocessor)
        np.testing.assert_array_equal(loaded.transform(frame), pre.transform(frame))


def test_vector_missing_column_and_errors() -> None:
    pre = VectorPreprocessor().fit(radiomics())
    with pytest.raises(DataError, match="f7"):
        pre.transform(radiomics().drop(columns="f7"))
    pre.transform(radiomics().drop(columns="f1"))      # a dropped column is not needed
    with pytest.raises(UsageError, match="not fitted"):
        VectorPreprocessor().transform(radiomics())
    with pytest.raises(DataError, match="no column is left"):
        VectorPreprocessor().fit(pd.DataFrame({"a": [1.0, 1.0], "b": [np.nan, 2.0]}))
    with pytest.raises(DataError, match="Lower 'pca'"):
        VectorPreprocessor(pca=20).fit(radiomics(10))
    with pytest.raises(UsageError, match="'max_missing' parameter"):
        VectorPreprocessor(max_missing=1.5).fit(radiomics())
    with pytest.raises(UsageError, match="'pca' parameter"):
        VectorPreprocessor(pca=0).fit(radiomics())
    with pytest.raises(UsageError, match="'clip_quantile' parameter"):
        VectorPreprocessor(clip_quantile=0.5).fit(radiomics())


# --------------------------------------------------------------------------- category codes

def test_category_encoder_codes() -> None:
    train = pd.DataFrame({"ia_modality": ["TACE", "HAIC", "TACE"],
                          "tki_agent": ["lenvatinib", None, "sorafenib"]})
    enc = CategoryEncoder(columns=["ia_modality", "tki_agent"]).fit(train)
    assert enc.levels_ == {"ia_modality": ["HAIC", "TACE"],
                           "tki_agent": ["lenvatinib", "sorafenib"]}
    assert enc.cardinalities_ == [3, 3]
    test = pd.DataFrame({"ia_modality": ["HAIC", "RFA", None],
                         "tki_agent": ["sorafenib", "donafenib", "lenvatinib"], "x": 1})
    codes = enc.transform(test)
    np.testing.assert_array_equal(codes, [[1, 2], [0, 0], [0, 1]])
    assert codes.dtype == np.int64
    assert enc.transform_report_["unknown_levels"] == {"ia_modality": {"RFA": 1},
                                                       "tki_agent": {"donafenib": 1}}
    loaded = preprocessor_from_dict(json.loads(json.dumps(enc.to_dict())))
    np.testing.assert_array_equal(loaded.transform(test), codes)


def test_category_encoder_leakage_and_errors() -> None:
    train = pd.DataFrame({"pd1_agent": ["a", "b", "a"]})
    enc = CategoryEncoder(columns=["pd1_agent"]).fit(train)
    before = fitted_state(enc)
    enc.transform(pd.DataFrame({"pd1_agent": ["zzz", "yyy"]}))
    assert fitted_state(enc) == before
    with pytest.raises(DataError, match="pd1_agent"):
        enc.transform(pd.DataFrame({"other": [1]}))
    with pytest.raises(UsageError, match="not fitted"):
        CategoryEncoder(columns=["pd1_agent"]).transform(train)
    with pytest.raises(UsageError, match="at least one column"):
        CategoryEncoder().fit(train)


# --------------------------------------------------------------------------- time bins

def test_time_bins_quantiles_of_event_times_only() -> None:
    time = np.array([10.0, 20, 30, 40, 50, 60, 70, 80, 500, 900])
    event = np.array([True] * 8 + [False, False])
    bins = TimeBins(n_bins=4).fit(time=time, event=event)
    # events 10..80: quartiles at 27.5, 45, 62.5 (linear interpolation); last edge = max time
    np.testing.assert_allclose(bins.edges_, [0, 27.5, 45, 62.5, 900])
    assert bins.n_bins_ == 4
    # moving censored times (below the max) does not shift the interior edges
    moved = time.copy()
    moved[8] = 15.0
    np.testing.assert_allclose(TimeBins(n_bins=4).fit(time=moved, event=event).edges_,
                               bins.edges_)
    # a censored time beyond every event moves only the last edge
    longer = time.copy()
    longer[9] = 2000.0
    np.testing.assert_allclose(TimeBins(n_bins=4).fit(time=longer, event=event).edges_[:-1],
                               bins.edges_[:-1])
    assert TimeBins(n_bins=4).fit(time=longer, event=event).edges_[-1] == 2000.0


def test_time_bins_index_convention() -> None:
    bins = TimeBins(n_bins=4).fit(time=[10.0, 20, 30, 40, 50, 60, 70, 80, 900],
                                  event=[1, 1, 1, 1, 1, 1, 1, 1, 0])
    # bins are (e_k, e_{k+1}]; time 0 in bin 0; beyond the last edge → last bin
    idx = bins.bin_index([0.0, 27.5, 27.6, 45, 62.5, 63, 900, 5000])
    np.testing.assert_array_equal(idx, [0, 0, 1, 1, 2, 3, 3, 3])


def test_time_bins_ties_merge_edges() -> None:
    bins = TimeBins(n_bins=4).fit(time=[5.0, 5, 5, 5, 100], event=[True] * 4 + [False])
    np.testing.assert_allclose(bins.edges_, [0, 5, 100])
    assert bins.n_bins_ == 2


def test_time_bins_uniform_and_round_trip() -> None:
    bins = TimeBins(n_bins=4, scheme="uniform").fit(time=[100.0, 400], event=[False, False])
    np.testing.assert_allclose(bins.edges_, [0, 100, 200, 300, 400])
    loaded = preprocessor_from_dict(json.loads(json.dumps(bins.to_dict())))
    t = np.linspace(0, 500, 101)
    np.testing.assert_array_equal(loaded.bin_index(t), bins.bin_index(t))
    np.testing.assert_array_equal(loaded.edges_, bins.edges_)


def test_time_bins_leakage() -> None:
    rng = np.random.default_rng(1)
    time = rng.exponential(300, 80)
    event = rng.random(80) < 0.7
    train = np.arange(50)
    bins = TimeBins().fit(time=time[train], event=event[train])
    corrupted = time.copy()
    corrupted[50:] *= 1000
    again = TimeBins().fit(time=corrupted[train], event=event[train])
    np.testing.assert_array_equal(again.edges_, bins.edges_)
    assert TimeBins().fit(time=corrupted, event=event).edges_[-1] != bins.edges_[-1]


@given(st.lists(st.tuples(st.floats(0, 5000), st.booleans()), min_size=1, max_size=40),
       st.integers(1, 10))
def test_time_bins_property(rows: list, n_bins: int) -> None:
    time = np.array([t for t, _ in rows])
    event = np.array([e for _, e in rows])
    if not event.any() or time.max() <= 0:
        return
    bins = TimeBins(n_bins=n_bins).fit(time=time, event=event)
    assert bins.edges_[0] == 0 and bins.edges_[-1] == time.max()
    assert np.all(np.diff(bins.edges_) > 0) and 1 <= bins.n_bins_ <= n_bins
    idx = bins.bin_index(time)
    assert idx.min() >= 0 and idx.max() < bins.n_bins_
    # each time lies in its bin: edges_[k] < t <= edges_[k+1] (bin 0 includes 0)
    assert np.all(time <= bins.edges_[idx + 1])
    assert np.all((time > bins.edges_[idx]) | (idx == 0))


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: TimeBins(n_bins=0).fit(time=[1.0], event=[True]), UsageError, "'n_bins'"),
    (lambda: TimeBins(scheme="quantiles").fit(time=[1.0], event=[True]), UsageError,
     "did you mean 'quantile'"),
    (lambda: TimeBins().fit(time=[1.0, 2.0], event=[False, False]), DataError, "at least one "
     "event"),
    (lambda: TimeBins().fit(time=[1.0, -2.0], event=[True, True]), DataError, ">= 0"),
    (lambda: TimeBins().fit(time=[1.0, 2.0], event=[1, 2]), UsageError, "1/2"),
    (lambda: TimeBins().fit(time=[1.0, 2.0], event=[True]), UsageError, "one value per time"),
    (lambda: TimeBins().bin_index([1.0]), UsageError, "not fitted"),
    (lambda: TimeBins.from_dict({"kind": "time_bins", "version": 1,
                                 "params": {"n_bins": 2, "scheme": "quantile"},
                                 "edges": [0, 5, 3]}), DataError, "increase"),
])
def test_time_bins_failures(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_preprocessor_from_dict_unknown_kind() -> None:
    with pytest.raises(DataError, match="did you mean 'vector'"):
        preprocessor_from_dict({"kind": "vectr"})
    with pytest.raises(DataError, match="'kind' key"):
        preprocessor_from_dict({"edges": []})


def test_vector_integer_column_names_and_all_missing_column() -> None:
    x = np.random.default_rng(0).normal(size=(10, 3))
    frame = pd.DataFrame(x)                               # columns 0, 1, 2 (ints)
    frame[3] = np.nan
    pre = VectorPreprocessor(max_missing=1.0).fit(frame)
    assert pre.kept_ == ["0", "1", "2"] and pre.dropped_["variance"] == ["3"]
    loaded = VectorPreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(loaded.transform(frame), pre.transform(frame))
