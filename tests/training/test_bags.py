"""Patient bags read from a real feature store: slides of a patient concatenated in bag_id order,
failed and empty bags left out, inconsistent widths refused."""

from __future__ import annotations

import numpy as np
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.io.feature_store import FeatureStore, read_manifest
from hccfusion.training.bags import PatientBag, bag_dim, patient_bags

PROVENANCE = {"encoder": "test", "tile_px": 224, "target_mpp": 0.5}


def _store(tmp_path) -> FeatureStore:
    return FeatureStore(tmp_path / "features", modality="pathology", encoder="builtin",
                        spec="mpp0.5_224")


def _write(store: FeatureStore, bag_id: str, patient_id: str, n: int, *, dim: int = 4,
           fill: float = 0.0):
    features = np.full((n, dim), fill, dtype=np.float32) + np.arange(n, dtype=np.float32)[:, None]
    coords = np.stack([np.arange(n) * 224, np.full(n, 448)], axis=1).astype(np.int64)
    store.write(bag_id, patient_id=patient_id, features=features, coords=coords,
                provenance={k: v for k, v in PROVENANCE.items() if k != "encoder"})


@pytest.fixture
def store(tmp_path):
    s = _store(tmp_path)
    _write(s, "WX-0001-HE2", "WX-0001", 2, fill=200.0)
    _write(s, "WX-0001-HE1", "WX-0001", 3, fill=100.0)
    _write(s, "WX-0002-HE1", "WX-0002", 1, fill=300.0)
    _write(s, "WX-0003-HE1", "WX-0003", 0)                 # no tissue tile
    s.record_failure("WX-0004-HE1", patient_id="WX-0004", error="truncated file")
    s.write_manifest()
    return s


def test_slides_of_a_patient_form_one_bag_in_bag_id_order(store):
    bags = patient_bags(read_manifest(store.dir), store_dir=store.dir)
    assert list(bags) == ["WX-0001", "WX-0002"]             # empty and failed left out
    bag = bags["WX-0001"]
    assert isinstance(bag, PatientBag)
    assert bag.slide_ids == ("WX-0001-HE1", "WX-0001-HE2")
    assert bag.features.shape == (5, 4) and bag.features.dtype == np.float32
    np.testing.assert_array_equal(bag.slide_index, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(bag.features[:, 0], [100, 101, 102, 200, 201])
    np.testing.assert_array_equal(bag.coords, [[0, 448], [224, 448], [448, 448], [0, 448],
                                               [224, 448]])
    np.testing.assert_array_equal(bag.slide("WX-0001-HE2"), [False, False, False, True, True])
    assert bags["WX-0002"].n_instances == 1
    assert bag_dim(bags) == 4


def test_mismatched_feature_widths_name_patient_and_bag(tmp_path):
    s = _store(tmp_path)
    _write(s, "A-HE1", "A", 2, dim=4)
    _write(s, "B-HE1", "B", 2, dim=6)
    s.write_manifest()
    with pytest.raises(DataError, match=r"patient B, bag B-HE1: feature width 6 differs from "
                                        r"the other bags' 4"):
        patient_bags(read_manifest(s.dir), store_dir=s.dir)


def test_manifest_must_have_the_store_columns(store):
    frame = read_manifest(store.dir).drop(columns=["status"])
    with pytest.raises(UsageError, match=r"The 'manifest' parameter of patient_bags must have "
                                         r"the columns .* \(missing \['status'\]\)"):
        patient_bags(frame, store_dir=store.dir)
    with pytest.raises(UsageError, match=r"must be a pandas DataFrame\. Got dict instead"):
        patient_bags({}, store_dir=store.dir)


def test_a_missing_bag_file_is_a_data_error(store):
    frame = read_manifest(store.dir)
    (store.dir / "WX-0002-HE1.h5").unlink()
    with pytest.raises(DataError, match=r"WX-0002-HE1\.h5 does not exist"):
        patient_bags(frame, store_dir=store.dir)


def test_patient_bag_refuses_misaligned_arrays():
    with pytest.raises(DataError, match=r"patient P: bag arrays disagree"):
        PatientBag(patient_id="P", features=np.zeros((3, 2), np.float32),
                   slide_index=np.zeros(2, np.int64), slide_ids=("s",),
                   coords=np.zeros((3, 2), np.int64))


def test_bag_dim_refuses_mixed_widths():
    a = PatientBag(patient_id="A", features=np.zeros((1, 2), np.float32),
                   slide_index=np.zeros(1, np.int64), slide_ids=("a",),
                   coords=np.zeros((1, 2), np.int64))
    b = PatientBag(patient_id="B", features=np.zeros((1, 3), np.float32),
                   slide_index=np.zeros(1, np.int64), slide_ids=("b",),
                   coords=np.zeros((1, 2), np.int64))
    with pytest.raises(DataError, match=r"Got widths \[2, 3\] instead"):
        bag_dim({"A": a, "B": b})
