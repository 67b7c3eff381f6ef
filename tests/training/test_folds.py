"""Patient-level splits: no patient in two roles, stratification, reproducibility by seed,
small strata, and named failure cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hccfusion.errors import DataError, UsageError
from hccfusion.training.folds import SPLIT_COLUMNS, check_splits, make_splits, split_frame


def cohort(n_wx: int = 80, n_nj: int = 50, n_prosp: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for centre, n, kind in (("WX", n_wx, "retrospective"), ("NJ", n_nj, "retrospective"),
                            ("WX", n_prosp // 2, "prospective"),
                            ("NJ", n_prosp - n_prosp // 2, "prospective")):
        for _ in range(n):
            rows.append({"patient_id": f"{centre}{len(rows):04d}", "center": centre,
                         "cohort": kind, "os_event": bool(rng.random() < 0.6)})
    return pd.DataFrame(rows)


def role_sets(splits: pd.DataFrame, split_id: str) -> dict[str, set]:
    return {r: set(split_frame(splits, split_id, r)) for r in ("train", "val", "test")}


# --------------------------------------------------------------------------- external

def test_external_every_centre_in_turn() -> None:
    patients = cohort()
    splits = make_splits(patients, scheme="external")
    assert list(splits.columns) == list(SPLIT_COLUMNS)
    assert sorted(splits["split_id"].unique()) == ["external-NJ", "external-WX"]
    retro = patients[patients["cohort"] == "retrospective"]
    prosp = set(patients.loc[patients["cohort"] == "prospective", "patient_id"])
    for dev, other in (("WX", "NJ"), ("NJ", "WX")):
        split = splits[splits["split_id"] == f"external-{dev}"]
        roles = role_sets(splits, f"external-{dev}")
        assert roles["train"] | roles["val"] == set(retro.loc[retro["center"] == dev,
                                                              "patient_id"])
        labels = split.groupby("cohort_label")["patient_id"].apply(set)
        assert labels[f"external {other}"] == set(retro.loc[retro["center"] == other,
                                                            "patient_id"])
        assert labels["temporal prospective"] == prosp
        assert set(split.loc[split["role"] != "test", "cohort_label"]) == {f"development {dev}"}
    only = make_splits(patients, scheme="external", development="NJ")
    assert list(only["split_id"].unique()) == ["external-NJ"]


def test_val_share_is_stratified_by_event() -> None:
    patients = cohort(n_wx=200)
    splits = make_splits(patients, scheme="external", development="WX", val_fraction=0.25)
    dev = splits[(splits["split_id"] == "external-WX") & (splits["role"] != "test")]
    event = patients.set_index("patient_id")["os_event"]
    n_val = (dev["role"] == "val").sum()
    assert abs(n_val - 0.25 * len(dev)) <= 1
    val_rate = event[split_frame(splits, "external-WX", "val")].mean()
    train_rate = event[split_frame(splits, "external-WX", "train")].mean()
    assert abs(val_rate - train_rate) < 0.03          # a random split would differ more often
    for flag in (True, False):
        n_flag = (event[dev["patient_id"]] == flag).sum()
        n_flag_val = (event[split_frame(splits, "external-WX", "val")] == flag).sum()
        assert abs(n_flag_val - 0.25 * n_flag) <= 1


def test_val_fraction_zero_gives_no_val_rows() -> None:
    splits = make_splits(cohort(), scheme="external", val_fraction=0.0)
    assert not (splits["role"] == "val").any()


# --------------------------------------------------------------------------- nested CV

def test_nested_cv_folds_partition_the_development_centre() -> None:
    patients = cohort()
    splits = make_splits(patients, scheme="nested_cv", development="WX", n_outer=5)
    wx_retro = set(patients.loc[(patients["center"] == "WX")
                                & (patients["cohort"] == "retrospective"), "patient_id"])
    ids = [f"cv-WX-{k}" for k in range(5)]
    assert list(splits["split_id"].unique()) == ids
    tests = [set(split_frame(splits, s, "test")) for s in ids]
    assert set().union(*tests) == wx_retro                  # every patient tested once
    assert sum(len(t) for t in tests) == len(wx_retro)      # and only once
    assert max(map(len, tests)) - min(map(len, tests)) <= 1
    for s, test in zip(ids, tests, strict=True):
        roles = role_sets(splits, s)
        assert roles["train"] | roles["val"] == wx_retro - test
        assert set(splits.loc[splits["split_id"] == s, "outer_fold"]) == {int(s[-1])}
    assert set(splits.loc[splits["role"] == "test", "cohort_label"]) == {"internal CV (WX)"}
    event = patients.set_index("patient_id")["os_event"]
    n_events = [int(event[list(t)].sum()) for t in tests]
    assert max(n_events) - min(n_events) <= 1              # events spread evenly


def test_nested_cv_pooled_centres_stratified_by_centre_and_event() -> None:
    patients = cohort()
    splits = make_splits(patients, scheme="nested_cv", n_outer=4)
    info = patients.set_index("patient_id")
    test = splits[splits["role"] == "test"].join(info, on="patient_id")
    assert set(test["cohort_label"]) == {"internal CV (NJ+WX)"}
    counts = test.groupby(["outer_fold", "center", "os_event"]).size().unstack([1, 2])
    assert (counts.max() - counts.min()).max() <= 1


def test_inner_folds_never_touch_the_test_fold() -> None:
    splits = make_splits(cohort(), scheme="nested_cv", development="WX", n_outer=4,
                         inner_folds=3)
    test = splits["role"] == "test"
    assert (splits.loc[test, "inner_fold"] == -1).all()
    assert set(splits.loc[~test, "inner_fold"]) == {0, 1, 2}
    for _, split in splits[~test].groupby("split_id"):
        sizes = split["inner_fold"].value_counts()
        assert sizes.max() - sizes.min() <= 1
    no_inner = make_splits(cohort(), scheme="nested_cv", development="WX", n_outer=4)
    assert (no_inner["inner_fold"] == -1).all()


def test_small_strata_are_handled() -> None:
    """Fewer events than folds (2 events, 5 folds) and a one-patient stratum do not crash;
    the two events land in different folds."""
    patients = pd.DataFrame({"patient_id": [f"P{i}" for i in range(12)], "center": "WX",
                             "cohort": "retrospective",
                             "os_event": [True, True] + [False] * 10})
    splits = make_splits(patients, scheme="nested_cv", n_outer=5, inner_folds=2)
    folds = splits[splits["role"] == "test"].set_index("patient_id")["outer_fold"]
    assert folds["P0"] != folds["P1"]
    one = patients.assign(os_event=[True] + [False] * 11, center=["NJ"] + ["WX"] * 11)
    make_splits(one, scheme="nested_cv", n_outer=5)


# --------------------------------------------------------------------------- temporal

def test_temporal_trains_on_retrospective_tests_prospective() -> None:
    patients = cohort()
    splits = make_splits(patients, scheme="temporal")
    info = patients.set_index("patient_id")
    cohort_of = splits.join(info, on="patient_id")
    assert set(cohort_of.loc[cohort_of["role"] == "test", "cohort"]) == {"prospective"}
    assert set(cohort_of.loc[cohort_of["role"] != "test", "cohort"]) == {"retrospective"}
    assert set(splits.loc[splits["role"] == "test", "cohort_label"]) == {"temporal prospective"}
    assert len(splits) == len(patients)
    dev = make_splits(patients, scheme="temporal", development="NJ")
    assert set(dev.join(info, on="patient_id").query("role != 'test'")["center"]) == {"NJ"}


# --------------------------------------------------------------------------- invariants

@pytest.mark.parametrize("scheme", ["external", "nested_cv", "temporal"])
def test_no_patient_in_two_roles(scheme: str) -> None:
    splits = make_splits(cohort(), scheme=scheme, inner_folds=2)
    assert not splits.duplicated(["split_id", "patient_id"]).any()
    for split_id in splits["split_id"].unique():
        roles = role_sets(splits, split_id)
        assert not roles["train"] & roles["test"]
        assert not roles["val"] & roles["test"]
        assert not roles["train"] & roles["val"]


@pytest.mark.parametrize("scheme", ["external", "nested_cv", "temporal"])
def test_reproducible_by_seed_and_different_across_seeds(scheme: str) -> None:
    patients = cohort()
    a = make_splits(patients, scheme=scheme, seed=3, inner_folds=2)
    b = make_splits(patients.sample(frac=1.0, random_state=1), scheme=scheme, seed=3,
                    inner_folds=2)
    pd.testing.assert_frame_equal(a, b)    # same seed → same splits, whatever the row order
    c = make_splits(patients, scheme=scheme, seed=4, inner_folds=2)
    assert not a.equals(c)
    assert set(a["patient_id"]) == set(c["patient_id"])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(5, 40), n_events=st.integers(0, 40), n_outer=st.integers(2, 5),
       seed=st.integers(0, 2 ** 31 - 1), val_fraction=st.sampled_from([0.0, 0.1, 0.3, 0.5]))
def test_property_nested_cv_partition(n: int, n_events: int, n_outer: int, seed: int,
                                      val_fraction: float) -> None:
    patients = pd.DataFrame({"patient_id": [f"P{i}" for i in range(n)], "center": "WX",
                             "cohort": "retrospective",
                             "os_event": [i < n_events for i in range(n)]})
    splits = make_splits(patients, scheme="nested_cv", n_outer=n_outer, seed=seed,
                         val_fraction=val_fraction)
    test = splits[splits["role"] == "test"]
    assert sorted(test["patient_id"]) == sorted(patients["patient_id"])
    sizes = test["outer_fold"].value_counts()
    assert len(sizes) == n_outer and sizes.max() - sizes.min() <= 1
    events = test.assign(e=test["patient_id"].str[1:].astype(int) < n_events)
    per_fold = events.groupby("outer_fold")["e"].sum()
    assert per_fold.max() - per_fold.min() <= 1          # stratified by event
    for _, split in splits.groupby("split_id"):
        assert len(split) == n and split["patient_id"].is_unique
        assert (split["role"] == "train").any()
        if val_fraction > 0:
            assert (split["role"] == "val").any()


# --------------------------------------------------------------------------- check_splits

def test_check_splits_catches_a_test_patient_in_training() -> None:
    splits = make_splits(cohort(), scheme="external", development="WX")
    leaked = splits[splits["role"] == "test"].iloc[[0]].assign(role="train")
    pid = leaked["patient_id"].iloc[0]
    with pytest.raises(DataError, match=rf"patient '{pid}'.*'external-WX'.*one role"):
        check_splits(pd.concat([splits, leaked], ignore_index=True))


def test_check_splits_other_failures() -> None:
    splits = make_splits(cohort(), scheme="nested_cv", development="WX", inner_folds=2)
    with pytest.raises(DataError, match="inner_fold"):
        check_splits(splits.assign(inner_fold=0))
    with pytest.raises(DataError, match="role must be one of"):
        check_splits(splits.assign(role="holdout"))
    with pytest.raises(DataError, match="lacks column"):
        check_splits(splits.drop(columns="cohort_label"))
    check_splits(splits)


def test_split_frame_errors() -> None:
    splits = make_splits(cohort(), scheme="external")
    with pytest.raises(UsageError, match="did you mean 'external-WX'"):
        split_frame(splits, "external-WY", "test")
    with pytest.raises(UsageError, match="did you mean 'test'"):
        split_frame(splits, "external-WX", "tests")


# --------------------------------------------------------------------------- input validation

def test_duplicate_patient_ids_named() -> None:
    patients = cohort()
    patients.loc[5, "patient_id"] = patients.loc[4, "patient_id"]
    with pytest.raises(DataError, match=patients.loc[4, "patient_id"]):
        make_splits(patients, scheme="external")


def test_patient_id_as_index_accepted() -> None:
    patients = cohort()
    a = make_splits(patients, scheme="temporal")
    b = make_splits(patients.set_index("patient_id"), scheme="temporal")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"scheme": "nested-cv"}, UsageError, "did you mean 'nested_cv'"),
    ({"scheme": "external", "development": "WXX"}, UsageError, "did you mean 'WX'"),
    ({"scheme": "nested_cv", "n_outer": 1}, UsageError, "'n_outer' parameter"),
    ({"scheme": "external", "val_fraction": 1.0}, UsageError, "'val_fraction' parameter"),
    ({"scheme": "external", "inner_folds": 1}, UsageError, "'inner_folds' parameter"),
    ({"scheme": "external", "seed": 1.5}, UsageError, "'seed' parameter"),
    ({"scheme": "nested_cv", "development": "NJ", "n_outer": 100}, DataError, "Lower 'n_outer'"),
])
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_splits(cohort(), **kwargs)


def test_bad_patient_tables() -> None:
    patients = cohort()
    with pytest.raises(DataError, match=r"lacks column\(s\) \['os_event'\]"):
        make_splits(patients.drop(columns="os_event"), scheme="external")
    bad_event = patients.assign(os_event=patients["os_event"].astype(int) + 1)
    with pytest.raises(DataError, match="1/2 status"):
        make_splits(bad_event, scheme="external")
    bad_cohort = patients.copy()
    bad_cohort.loc[0, "cohort"] = "retro"
    with pytest.raises(DataError, match=rf"{patients.loc[0, 'patient_id']}.*retro"):
        make_splits(bad_cohort, scheme="external")
    with pytest.raises(DataError, match="at least two centres"):
        make_splits(patients[patients["center"] == "WX"], scheme="external")
    with pytest.raises(DataError, match="prospective patients"):
        make_splits(patients[patients["cohort"] == "retrospective"], scheme="temporal")
    with pytest.raises(UsageError, match="'patients' parameter"):
        make_splits(patients.to_dict(), scheme="external")
