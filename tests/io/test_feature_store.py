"""The feature store: bag round trip, CLAM/TRIDENT compatibility, atomic writes, resume,
failures and the manifest."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, SchemaVersionError, UsageError
from hccfusion.io.feature_store import (BAG_FORMAT_VERSION, FeatureStore, read_bag,
                                        read_manifest, write_bag)


def _arrays(n=5, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 10_000, size=(n, 2))


def test_bag_round_trip_keeps_arrays_instances_and_provenance(tmp_path):
    feats, coords = _arrays()
    path = write_bag(tmp_path / "a.h5", features=feats, coords=coords,
                     provenance={"encoder": "hcc_stats", "target_mpp": 0.5, "tile_px": 224,
                                 "stain_norm": False, "levels": [0, 1]},
                     instances={"lesion_id": np.array(["L1", "L2", "L3", "L4", "L5"], dtype=object),
                                "slide_index": np.arange(5)})
    bag = read_bag(path)
    np.testing.assert_array_equal(bag.features, feats)
    np.testing.assert_array_equal(bag.coords, coords)
    assert bag.provenance["target_mpp"] == 0.5 and bag.provenance["tile_px"] == 224
    assert bag.provenance["stain_norm"] is False or bag.provenance["stain_norm"] == 0
    assert bag.provenance["levels"] == "[0, 1]"
    assert bag.provenance["format_version"] == BAG_FORMAT_VERSION
    assert list(bag.instances["lesion_id"]) == ["L1", "L2", "L3", "L4", "L5"]
    np.testing.assert_array_equal(bag.instances["slide_index"], np.arange(5))
    assert bag.n_instances == 5


def test_our_bag_has_the_clam_layout(tmp_path):
    feats, coords = _arrays()
    path = write_bag(tmp_path / "a.h5", features=feats, coords=coords, provenance={})
    with h5py.File(path, "r") as h5:
        assert h5["features"].shape == (5, 4) and h5["features"].dtype == np.float32
        assert h5["coords"].shape == (5, 2)


def test_reads_a_trident_style_file_without_our_attributes(tmp_path):
    feats, coords = _arrays(n=3, d=8)
    with h5py.File(tmp_path / "t.h5", "w") as h5:
        h5.create_dataset("features", data=feats[None])   # batch axis, as some tools write
        ds = h5.create_dataset("coords", data=coords[:3][None])
        ds.attrs["patch_size"] = 256
    bag = read_bag(tmp_path / "t.h5")
    assert bag.features.shape == (3, 8) and bag.coords.shape == (3, 2)
    assert bag.provenance["source_format"] == "clam"
    assert bag.provenance["coords.patch_size"] == 256


def test_refuses_newer_format_and_non_bags(tmp_path):
    feats, coords = _arrays()
    path = write_bag(tmp_path / "a.h5", features=feats, coords=coords, provenance={})
    with h5py.File(path, "r+") as h5:
        h5.attrs["format_version"] = BAG_FORMAT_VERSION + 1
    with pytest.raises(SchemaVersionError, match="format version"):
        read_bag(path)
    with h5py.File(tmp_path / "x.h5", "w") as h5:
        h5.create_dataset("other", data=[1])
    with pytest.raises(DataError, match="no 'features' dataset"):
        read_bag(tmp_path / "x.h5")
    (tmp_path / "trunc.h5").write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="truncated or not a bag"):
        read_bag(tmp_path / "trunc.h5")


@pytest.mark.parametrize("features, coords, match", [
    (np.zeros(4), np.zeros((4, 2)), "must be 2-D"),
    (np.zeros((4, 3)), np.zeros((3, 2)), "one row per instance"),
    (np.array([[np.nan, 1.0]]), np.zeros((1, 2)), "NaN or infinite"),
])
def test_write_bag_rejects_bad_arrays(tmp_path, features, coords, match):
    with pytest.raises(UsageError, match=match):
        write_bag(tmp_path / "a.h5", features=features, coords=coords, provenance={})
    assert not list(tmp_path.iterdir())   # nothing half-written


def test_a_failed_write_leaves_no_bag(tmp_path, monkeypatch):
    feats, coords = _arrays()
    with pytest.raises(UsageError, match="instance column"):
        write_bag(tmp_path / "a.h5", features=feats, coords=coords, provenance={},
                  instances={"x": np.arange(3)})
    assert not any(p.suffix == ".h5" for p in tmp_path.iterdir())
    assert not list(tmp_path.glob(".*tmp*"))


def test_store_resume_failures_and_manifest(tmp_path):
    store = FeatureStore(tmp_path, modality="pathology", encoder="hcc_stats", spec="mpp0.50-px224")
    assert store.dir == tmp_path / "pathology" / "hcc_stats" / "mpp0.50-px224"
    feats, coords = _arrays()
    assert not store.done("S1")
    store.write("S1", patient_id="P1", features=feats, coords=coords, provenance={"tile_px": 224})
    store.record_failure("S2", patient_id="P1", error="truncated: file ends early")
    store.record_failure("S3", patient_id="P2", error="no tissue")
    assert store.done("S1") and not store.done("S2")
    # done only if the bag records the given provenance (another encoder version: not done)
    assert store.done("S1", provenance={"tile_px": 224, "encoder": "hcc_stats"})
    assert not store.done("S1", provenance={"tile_px": 448})
    assert not store.done("S1", provenance={"weights_sha256": "ab12"})   # not recorded at all
    assert not store.done("S2", provenance={"tile_px": 224})
    mtime = store.bag_path("S1").stat().st_mtime_ns
    # a later run fixes S3: its failure disappears
    store.write("S3", patient_id="P2", features=feats[:2], coords=coords[:2], provenance={})
    assert set(store.failures()) == {"S2"}
    path = store.write_manifest()
    man = read_manifest(store.dir)
    assert path.name == "manifest.parquet"
    assert list(man["bag_id"]) == ["S1", "S2", "S3"]
    assert list(man["status"]) == ["ok", "failed", "ok"]
    assert list(man["n_instances"]) == [5, 0, 2]
    assert man.loc[man["bag_id"] == "S2", "error"].item() == "truncated: file ends early"
    assert man.loc[0, "encoder"] == "hcc_stats" and man.loc[0, "patient_id"] == "P1"
    assert store.bag_path("S1").stat().st_mtime_ns == mtime
    assert read_bag(store.bag_path("S3")).provenance["bag_id"] == "S3"


def test_store_rejects_bad_names_and_reserved_keys(tmp_path):
    with pytest.raises(UsageError, match="'spec' parameter"):
        FeatureStore(tmp_path, modality="pathology", encoder="x", spec="a/b")
    with pytest.raises(UsageError, match="did you mean 'pathology'"):
        FeatureStore(tmp_path, modality="patology", encoder="x", spec="s")
    store = FeatureStore(tmp_path, modality="imaging", encoder="x", spec="s")
    feats, coords = _arrays()
    with pytest.raises(UsageError, match="set by the feature store"):
        store.write("P1", patient_id="P1", features=feats, coords=coords,
                    provenance={"patient_id": "P9"})
    with pytest.raises(UsageError, match="'bag_id' parameter"):
        store.bag_path("../escape")


def test_manifest_of_empty_store_and_missing_manifest(tmp_path):
    store = FeatureStore(tmp_path, modality="imaging", encoder="x", spec="s")
    assert store.manifest().empty
    with pytest.raises(DataError, match="no manifest.parquet"):
        read_manifest(store.dir)
    store.write_manifest()
    assert isinstance(read_manifest(store.dir), pd.DataFrame)
