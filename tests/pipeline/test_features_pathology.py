"""The pathology feature job on a tiny simulated cohort: bags for every good slide, named
failures for the bad ones (the batch goes on), resume, interruption, and Ray = local."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from tests.pathology.conftest import write_scanner_tiff

GOOD = (("WX-0001", "WX-0001-HE1", 1), ("WX-0001", "WX-0001-HE2", 2), ("NJ-0002", "NJ-0002-HE1", 3))
BAD_KINDS = {"NJ-0003-HE1": "truncated", "NJ-0004-HE1": "no_mpp", "NJ-0005-HE1": "no_tissue",
             "NJ-0006-HE1": "unreadable_level", "NJ-0007-HE1": "missing"}


def _corrupt_level0(src: Path, dst: Path) -> Path:
    """A copy of ``src`` whose level-0 JPEG tiles are zeroed (headers kept): the file opens and
    the coarse levels read, level 0 does not."""
    import tifffile

    shutil.copyfile(src, dst)
    with tifffile.TiffFile(dst) as tif:
        spans = list(zip(tif.pages[0].dataoffsets, tif.pages[0].databytecounts))
    with open(dst, "r+b") as fh:
        for offset, count in spans:
            fh.seek(offset + 2)
            fh.write(b"\x00" * (count - 4))
    return dst


def write_tiny_cohort(folder: Path, *, good=GOOD, bad: bool = True) -> pd.DataFrame:
    """Simulated slides (three of two patients by default) plus one of each bad kind; a
    specimens table with paths relative to ``folder`` (the data root), and a blood sample that
    is not a slide."""
    from hccfusion.simulate.wsi import write_biopsy_slide

    rows = []
    for patient_id, slide_id, seed in good:
        write_biopsy_slide(path=folder / "wsi" / f"{slide_id}.tiff", slide_id=slide_id,
                           immune=0.5 * seed - 1.0, proliferation=0.0, hypoxia=0.0, wnt=False,
                           center=patient_id[:2], seed=seed)
        rows.append((patient_id, slide_id, f"wsi/{slide_id}.tiff"))
    if bad:
        good = folder / "wsi" / f"{rows[0][1]}.tiff"
        data = good.read_bytes()
        (folder / "wsi" / "NJ-0003-HE1.tiff").write_bytes(data[: int(len(data) * 0.6)])
        rng = np.random.default_rng(0)
        tissue_like = rng.integers(90, 200, size=(1024, 1536, 3), dtype=np.uint8)
        write_scanner_tiff(folder / "wsi" / "NJ-0004-HE1.tiff", tissue_like, mpp=None)
        write_scanner_tiff(folder / "wsi" / "NJ-0005-HE1.tiff",
                           np.full((1024, 1536, 3), 242, np.uint8), mpp=0.5)
        _corrupt_level0(good, folder / "wsi" / "NJ-0006-HE1.tiff")
        rows += [(sid[:7], sid, f"wsi/{sid}.tiff") for sid in BAD_KINDS]
    specimens = pd.DataFrame(rows, columns=["patient_id", "slide_id", "path"])
    specimens["kind"] = "biopsy_wsi"
    blood = pd.DataFrame([{"patient_id": "WX-0001", "slide_id": None, "path": None,
                           "kind": "blood"}])
    return pd.concat([specimens, blood], ignore_index=True)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_cohort")
    return folder, write_tiny_cohort(folder)


@pytest.fixture(scope="module")
def first_run(cohort, tmp_path_factory):
    """One run over the whole tiny cohort (shared: later tests work on copies of its output)."""
    return _run(cohort, tmp_path_factory.mktemp("first") / "features")


def _run(cohort, out, **kw):
    from hccfusion.pipeline.features_pathology import extract_pathology_features

    folder, specimens = cohort
    kw.setdefault("num_workers", 0)
    return extract_pathology_features(specimens, out=out, encoder="hcc_stats", data_root=folder,
                                      device="cpu", **kw)


def test_bags_for_every_good_slide_and_named_failures_for_the_bad_ones(cohort, first_run):
    from hccfusion.io.feature_store import read_bag, read_manifest

    run = first_run
    assert run.store_dir.relative_to(run.store_dir.parents[3]) == Path(
        "features/pathology/hcc_stats/mpp0.50-px224")
    assert sorted(run.written) == sorted(g[1] for g in GOOD) and run.skipped == ()
    assert dict(zip(run.failures["slide_id"], run.failures["kind"])) == BAD_KINDS
    reasons = dict(zip(run.failures["slide_id"], run.failures["reason"]))
    assert "--mpp" in reasons["NJ-0004-HE1"] and "truncated" in reasons["NJ-0003-HE1"]
    assert "level 0" in reasons["NJ-0006-HE1"] and "tissue" in reasons["NJ-0005-HE1"]
    assert not run.all_failed and run.n_slides == 8

    manifest = read_manifest(run.store_dir)
    assert list(manifest["patient_id"]) == sorted(manifest["patient_id"])
    ok = manifest[manifest["status"] == "ok"].set_index("bag_id")
    assert sorted(ok.index) == sorted(g[1] for g in GOOD)
    assert set(manifest.loc[manifest["status"] == "failed", "bag_id"]) == set(BAD_KINDS)
    from hccfusion.pathology.encoders import TILE_ENCODERS

    dim = TILE_ENCODERS["hcc_stats"].spec.dim
    assert (ok["dim"] == dim).all() and (ok["n_instances"] > 5).all()

    bag = read_bag(run.store_dir / "WX-0001-HE2.h5")
    p = bag.provenance
    assert bag.features.shape == (p["n_tiles"], dim) and bag.coords.dtype == np.int64
    assert p["encoder"] == "hcc_stats" and p["patient_id"] == "WX-0001"
    assert (p["target_mpp"], p["tile_px"], p["tile_um"], p["level"]) == (0.5, 224, 112.0, 0)
    assert (p["slide_mpp"], p["slide_mpp_source"], p["stain_norm"]) == (0.5, "metadata", "none")
    src = cohort[0] / "wsi" / "WX-0001-HE2.tiff"
    import hashlib

    assert p["source_sha256_head"] == hashlib.sha256(src.read_bytes()[: 1 << 20]).hexdigest()
    assert p["source_size_bytes"] == src.stat().st_size and p["seed"] == 0
    # tile corners on the grid, inside the slide
    assert p["overlap_px"] == 0 and p["size_level0_px"] == 224
    assert (bag.coords % 224 == 0).all()
    assert (bag.coords[:, 0] < 4096).all() and (bag.coords[:, 1] < 1536).all()

    qc = pd.read_parquet(run.qc_path)
    assert sorted(qc["slide_id"]) == sorted(g[1] for g in GOOD)
    assert dict(zip(qc["slide_id"], qc["n_tiles"]))["WX-0001-HE2"] == p["n_tiles"]
    # per-centre stain statistics: one row per centre of the good slides, unit H and E vectors
    stain = pd.read_parquet(run.store_dir / "stain_by_centre.parquet")
    assert set(stain["center"]) == set(qc["center"].dropna())
    assert stain["n_slides"].sum() == qc["center"].notna().sum()


def test_a_second_run_skips_done_bags_and_retries_failures(cohort, first_run, tmp_path):
    shutil.copytree(first_run.store_dir.parents[2], tmp_path / "f")
    store = tmp_path / "f" / "pathology" / "hcc_stats" / "mpp0.50-px224"
    mtimes = {p.name: p.stat().st_mtime_ns for p in store.glob("*.h5")}
    assert len(mtimes) == 3
    second = _run(cohort, tmp_path / "f")
    assert second.written == () and sorted(second.skipped) == sorted(g[1] for g in GOOD)
    assert {p.name: p.stat().st_mtime_ns for p in second.store_dir.glob("*.h5")} == mtimes
    assert set(second.failures["slide_id"]) == set(BAD_KINDS)  # failures are tried again
    assert sorted(pd.read_parquet(second.qc_path)["slide_id"]) == sorted(g[1] for g in GOOD)


def test_a_bag_from_another_encoder_definition_is_made_again(cohort, first_run, tmp_path):
    """hcc_stats records the fingerprint of its feature definitions as its weights_sha256; a
    bag carrying another (an older definition) is extracted again, the others are skipped."""
    import h5py

    from hccfusion.io.feature_store import read_bag
    from hccfusion.pathology.encoders.builtin import HCC_STATS_DEFINITION_SHA256

    shutil.copytree(first_run.store_dir.parents[2], tmp_path / "f")
    store = tmp_path / "f" / "pathology" / "hcc_stats" / "mpp0.50-px224"
    stale = store / f"{GOOD[0][1]}.h5"
    assert read_bag(stale).provenance["weights_sha256"] == HCC_STATS_DEFINITION_SHA256
    with h5py.File(stale, "r+") as h5:
        h5.attrs["weights_sha256"] = ""            # as written before definitions were versioned
    again = _run(cohort, tmp_path / "f")
    assert again.written == (GOOD[0][1],)
    assert sorted(again.skipped) == sorted(g[1] for g in GOOD[1:])
    assert read_bag(stale).provenance["weights_sha256"] == HCC_STATS_DEFINITION_SHA256
    np.testing.assert_array_equal(read_bag(stale).features,
                                  read_bag(first_run.store_dir / stale.name).features)


def test_an_interrupted_run_leaves_no_partial_bag_and_resumes(cohort, tmp_path, monkeypatch):
    import hccfusion.pathology.extract as extract

    real = extract.extract_slide
    finished = []

    def interrupted(*args, **kwargs):
        if finished:   # after the first good slide, the next one is cut short mid-way
            kwargs["on_tiles"] = _raise_interrupt
        result = real(*args, **kwargs)
        finished.append(args[0])
        return result

    monkeypatch.setattr(extract, "extract_slide", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(cohort, tmp_path / "f")
    store = tmp_path / "f" / "pathology" / "hcc_stats" / "mpp0.50-px224"
    # the bad slides (NJ-0003 … NJ-0007) come before WX-0001 and fail as usual; WX-0001-HE1 is
    # interrupted while encoding and leaves nothing, not even a temporary file
    assert sorted(p.name for p in store.iterdir()) == ["NJ-0002-HE1.h5", "failures.json"]
    first_mtime = (store / "NJ-0002-HE1.h5").stat().st_mtime_ns
    monkeypatch.setattr(extract, "extract_slide", real)
    run = _run(cohort, tmp_path / "f")
    assert run.skipped == ("NJ-0002-HE1",)
    assert sorted(run.written) == ["WX-0001-HE1", "WX-0001-HE2"]
    assert (store / "NJ-0002-HE1.h5").stat().st_mtime_ns == first_mtime


def _raise_interrupt(n_tiles: int) -> None:
    raise KeyboardInterrupt


def test_stain_normalisation_gets_its_own_spec_folder_and_provenance(cohort, first_run, tmp_path):
    import json

    from hccfusion.io.feature_store import read_bag

    folder, specimens = cohort
    one = (folder, specimens[specimens["slide_id"] == "NJ-0002-HE1"])
    target = folder / "wsi" / "WX-0001-HE1.tiff"
    plain = first_run
    normed = _run(one, tmp_path, stain_norm="macenko", stain_target=target)
    assert normed.store_dir.name == "mpp0.50-px224-macenko" and normed.written == ("NJ-0002-HE1",)
    a, b = (read_bag(r.store_dir / "NJ-0002-HE1.h5") for r in (plain, normed))
    assert b.provenance["stain_norm"] == "macenko" and a.provenance["stain_norm"] == "none"
    stored = json.loads(b.provenance["stain_target"])
    assert stored["method"] == "macenko" and np.asarray(stored["he"]).shape == (2, 3)
    np.testing.assert_array_equal(a.coords, b.coords)   # same tiles, other colours
    assert not np.allclose(a.features, b.features)
    with pytest.raises(UsageError, match="stain_target"):
        _run(one, tmp_path, stain_norm="macenko")


def test_every_slide_failing_is_reported_as_such(cohort, tmp_path):
    folder, specimens = cohort
    only_bad = specimens[specimens["slide_id"].isin(list(BAD_KINDS))]
    from hccfusion.pipeline.features_pathology import extract_pathology_features

    run = extract_pathology_features(only_bad, out=tmp_path, encoder="hcc_stats",
                                     data_root=folder, num_workers=0, device="cpu")
    assert run.all_failed and len(run.failures) == 5 and run.n_tiles == 0


def test_slide_table_resolves_paths_and_maps_centres(tmp_path):
    from hccfusion.pipeline.features_pathology import slide_table

    specimens = pd.DataFrame({"patient_id": ["B", "A", "A"], "slide_id": ["b1", "a2", "a1"],
                              "path": ["x/b1.svs", "/abs/a2.svs", "a1.svs"],
                              "kind": ["biopsy_wsi"] * 3})
    patients = pd.DataFrame({"patient_id": ["A", "B"], "center": ["WX", "NJ"]})
    table = slide_table({"specimens": specimens, "patients": patients}, data_root=tmp_path)
    assert list(table["slide_id"]) == ["a1", "a2", "b1"]
    assert list(table["path"]) == [tmp_path / "a1.svs", Path("/abs/a2.svs"), tmp_path / "x/b1.svs"]
    assert list(table["center"]) == ["WX", "WX", "NJ"]


def test_slide_table_reads_a_specimens_csv(tmp_path):
    from hccfusion.pipeline.features_pathology import slide_table

    pd.DataFrame({"patient_id": ["A"], "slide_id": ["a1"], "path": ["a1.svs"],
                  "kind": ["biopsy_wsi"]}).to_csv(tmp_path / "specimens.csv", index=False)
    table = slide_table(tmp_path / "specimens.csv", data_root="/data")
    assert list(table["path"]) == [Path("/data/a1.svs")]


@pytest.mark.parametrize(("frame", "error", "words"), [
    (pd.DataFrame({"patient_id": ["A"], "path": ["a.svs"]}), UsageError, "slide_id"),
    (pd.DataFrame({"patient_id": ["A", "A"], "slide_id": ["a", "a"], "path": ["a", "b"]}),
     DataError, "more than once"),
    (pd.DataFrame({"patient_id": ["A"], "slide_id": ["a"], "path": [None]}), DataError,
     "no slide_id or no path"),
])
def test_slide_table_refuses_bad_specimens(frame, error, words):
    from hccfusion.pipeline.features_pathology import slide_table

    with pytest.raises(error, match=words):
        slide_table(frame)


def test_spec_name_encodes_what_changes_the_features():
    from hccfusion.pipeline.features_pathology import spec_name

    assert spec_name(target_mpp=0.5, tile_px=224) == "mpp0.50-px224"
    assert spec_name(target_mpp=1, tile_px=256, stain_norm="macenko") == "mpp1.00-px256-macenko"
    assert spec_name(target_mpp=0.25, tile_px=224, overlap_px=32) == "mpp0.25-px224-ov32"


@pytest.mark.parametrize(("kw", "words"), [
    ({"backend": "dask"}, "unknown backend 'dask'"),
    ({"stain_norm": "vahadane"}, "stain normalisation"),
    ({"encoder": "uni_v3"}, "unknown"),
    ({"slide_backend": "tifslide"}, "unknown slide backend 'tifslide'; did you mean 'tiffslide'"),
    ({"slide_workers": 0}, "The 'slide_workers' parameter of extract_pathology_features must be "
                           "a positive integer"),
    ({"slide_workers": 2, "device": "cuda"}, "must be 1 unless backend is 'local' and the device "
                                             "is the CPU. Got 2 with backend 'local' on 'cuda'"),
    ({"slide_workers": 2, "backend": "ray"}, "Got 2 with backend 'ray'"),
])
def test_unknown_options_are_usage_errors(cohort, tmp_path, kw, words):
    from hccfusion.pipeline.features_pathology import extract_pathology_features

    folder, specimens = cohort
    args = {"out": tmp_path, "encoder": "hcc_stats", "data_root": folder, **kw}
    with pytest.raises(UsageError, match=words):
        extract_pathology_features(specimens, **args)


def _same_bags(a, b) -> None:
    """Two runs wrote the same slides with the same bytes, provenance and QC rows."""
    from hccfusion.io.feature_store import read_bag

    assert sorted(a.written) == sorted(b.written)
    for slide_id in a.written:
        x, y = read_bag(a.store_dir / f"{slide_id}.h5"), read_bag(b.store_dir / f"{slide_id}.h5")
        assert x.features.tobytes() == y.features.tobytes(), slide_id
        assert np.array_equal(x.coords, y.coords), slide_id
        assert ({k: v for k, v in x.provenance.items() if k != "created_at"}
                == {k: v for k, v in y.provenance.items() if k != "created_at"}), slide_id
    pd.testing.assert_frame_equal(pd.read_parquet(a.qc_path).drop(columns="seconds"),
                                  pd.read_parquet(b.qc_path).drop(columns="seconds"))


def test_slide_workers_give_the_same_bags_failures_and_qc(cohort, first_run, tmp_path):
    from hccfusion.io.feature_store import read_manifest

    pooled = _run(cohort, tmp_path / "pooled", slide_workers=2)
    assert sorted(pooled.written) == sorted(g[1] for g in GOOD)
    assert dict(zip(pooled.failures["slide_id"], pooled.failures["kind"])) == BAD_KINDS
    assert pooled.n_tiles == first_run.n_tiles > 0
    _same_bags(first_run, pooled)
    a, b = (read_manifest(r.store_dir).drop(columns="created_at") for r in (first_run, pooled))
    pd.testing.assert_frame_equal(a, b)


def test_the_tiffslide_reader_gives_the_same_bags(cohort, first_run, tmp_path):
    pytest.importorskip("tiffslide")
    folder, specimens = cohort
    good = (folder, specimens[specimens["slide_id"].isin([g[1] for g in GOOD])])
    run = _run(good, tmp_path / "tiffslide", slide_backend="tiffslide")
    assert sorted(run.written) == sorted(g[1] for g in GOOD) and run.failures.empty
    _same_bags(first_run, run)


@pytest.mark.slow
def test_ray_path_gives_the_same_bags_as_the_local_path(cohort, first_run, tmp_path):
    pytest.importorskip("ray", reason="ray is in the optional 'distributed' extra")
    from hccfusion.io.feature_store import read_bag

    folder, specimens = cohort
    # the good slides plus two bad ones: a failure inside a task and one before any reading
    keep = [g[1] for g in GOOD] + ["NJ-0003-HE1", "NJ-0007-HE1"]
    subset = (folder, specimens[specimens["slide_id"].isin(keep)])
    local = first_run
    remote = _run(subset, tmp_path / "ray", backend="ray", num_cpus=2)
    assert sorted(remote.written) == sorted(local.written) == sorted(g[1] for g in GOOD)
    assert dict(zip(remote.failures["slide_id"], remote.failures["kind"])) == {
        "NJ-0003-HE1": "truncated", "NJ-0007-HE1": "missing"}
    for slide_id in local.written:
        a = read_bag(local.store_dir / f"{slide_id}.h5")
        b = read_bag(remote.store_dir / f"{slide_id}.h5")
        assert a.features.tobytes() == b.features.tobytes()
        assert np.array_equal(a.coords, b.coords)
        drop = ("created_at",)
        assert ({k: v for k, v in a.provenance.items() if k not in drop}
                == {k: v for k, v in b.provenance.items() if k not in drop})
    qa = pd.read_parquet(local.qc_path).drop(columns="seconds")
    qb = pd.read_parquet(remote.qc_path).drop(columns="seconds")
    pd.testing.assert_frame_equal(qa, qb)
