"""Per-slide extraction: the DataLoader path gives the same features as reading in-process and
as encoding the grid's tiles directly; bad slides raise named errors."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest

from hccfusion.errors import DataError, UsageError


@pytest.fixture(scope="module")
def encoder():
    from hccfusion.pathology.encoders import get_tile_encoder

    return get_tile_encoder("hcc_stats")


def _settings(**kw):
    from hccfusion.pathology.extract import TileSettings

    base = {"target_mpp": 0.5, "tile_px": 224, "batch_size": 8, "num_workers": 0}
    return TileSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def in_process(sim_slide, encoder):
    """The simulated slide extracted with tiles read in this process."""
    from hccfusion.pathology.extract import extract_slide

    return extract_slide(sim_slide.path, encoder=encoder, settings=_settings(num_workers=0))


def test_features_are_the_encoding_of_the_grid_tiles(sim_slide, encoder, in_process):
    from hccfusion.pathology.slides import open_slide
    from hccfusion.pathology.tiling import read_tiles, tile_grid
    from hccfusion.pathology.tissue import detect_tissue

    result = in_process
    with open_slide(sim_slide.path) as slide:
        grid = tile_grid(slide, detect_tissue(slide), target_mpp=0.5, tile_px=224)
        tiles = read_tiles(slide, grid, np.arange(len(grid.coords)))
    assert result.n_tiles == len(grid.coords) > 5
    np.testing.assert_array_equal(result.coords, grid.coords)
    np.testing.assert_allclose(result.features, encoder.encode(tiles), rtol=0, atol=1e-6)
    assert result.features.dtype == np.float32 and result.features.shape[1] == encoder.spec.dim
    p = result.provenance
    head = hashlib.sha256(sim_slide.path.read_bytes()[: 1 << 20]).hexdigest()
    assert p["source_sha256_head"] == head and p["source_name"] == sim_slide.path.name
    assert (p["encoder"], p["tile_px"], p["tile_um"], p["n_tiles"]) == (
        "hcc_stats", 224, 112.0, result.n_tiles)
    assert result.qc  # the slide_qc row travels with the features


def test_reader_workers_give_identical_features(sim_slide, encoder, in_process):
    from hccfusion.pathology.extract import extract_slide

    seen = []
    alone = in_process
    pooled = extract_slide(sim_slide.path, encoder=encoder, settings=_settings(num_workers=2),
                           on_tiles=seen.append)
    assert alone.features.tobytes() == pooled.features.tobytes()
    np.testing.assert_array_equal(alone.coords, pooled.coords)
    assert sum(seen) == alone.n_tiles and max(seen) == 8  # one call per chunk of batch_size


def test_a_missing_file_is_a_named_error(tmp_path, encoder):
    from hccfusion.pathology.extract import SlideExtractionError, extract_slide

    with pytest.raises(SlideExtractionError, match="does not exist") as info:
        extract_slide(tmp_path / "none.svs", encoder=encoder, settings=_settings())
    assert info.value.kind == "missing" and isinstance(info.value, DataError)


def test_a_blank_slide_has_no_tissue(tmp_path, encoder, write_pyramid_tiff):
    from hccfusion.pathology.extract import SlideExtractionError, extract_slide

    path = write_pyramid_tiff(tmp_path / "blank.tiff", np.full((1024, 1024, 3), 242, np.uint8),
                              mpp=0.5)
    with pytest.raises(SlideExtractionError, match="no tile with at least 25% tissue") as info:
        extract_slide(path, encoder=encoder, settings=_settings())
    assert info.value.kind == "no_tissue"


def test_a_slide_without_mpp_needs_the_override(tmp_path, encoder, write_pyramid_tiff, he_image):
    from hccfusion.pathology.extract import SlideExtractionError, extract_slide

    path = write_pyramid_tiff(tmp_path / "nompp.tiff", he_image(768, 768, seed=1), mpp=None)
    with pytest.raises(SlideExtractionError, match="--mpp") as info:
        extract_slide(path, encoder=encoder, settings=_settings())
    assert info.value.kind == "no_mpp"
    result = extract_slide(path, encoder=encoder, settings=_settings(), mpp=0.5)
    assert result.provenance["slide_mpp_source"] == "override" and result.n_tiles > 0


def test_a_damaged_level_comes_back_from_the_workers_with_its_kind(sim_slide, tmp_path, encoder):
    from hccfusion.pathology.extract import SlideExtractionError, extract_slide
    from tests.pipeline.test_features_pathology import _corrupt_level0

    path = _corrupt_level0(sim_slide.path, tmp_path / "damaged.tiff")
    with pytest.raises(SlideExtractionError, match="level 0") as info:
        extract_slide(path, encoder=encoder, settings=_settings(num_workers=2))
    assert info.value.kind == "unreadable_level"


def test_the_error_keeps_its_kind_through_pickling():
    from hccfusion.pathology.extract import SlideExtractionError

    err = pickle.loads(pickle.dumps(SlideExtractionError("blank", kind="no_tissue")))
    assert (err.kind, str(err)) == ("no_tissue", "blank")


def test_the_tile_dataset_pickles_without_its_handle(sim_slide):
    from hccfusion.pathology.slides import open_slide
    from hccfusion.pathology.tile_dataset import TileChunk, TileDataset
    from hccfusion.pathology.tiling import tile_grid
    from hccfusion.pathology.tissue import detect_tissue

    with open_slide(sim_slide.path) as slide:
        grid = tile_grid(slide, detect_tissue(slide), target_mpp=0.5, tile_px=224)
    ds = TileDataset(slide_path=sim_slide.path, grid=grid, chunk_tiles=4)
    first = ds[0]
    assert isinstance(first, TileChunk) and first.tiles.shape == (4, 224, 224, 3)
    assert ds._slide is not None
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._slide is None and np.array_equal(clone[0].tiles, first.tiles)
    assert len(ds) == -(-len(grid.coords) // 4)
    with pytest.raises(IndexError):
        ds[len(ds)]
    ds.close()
    clone.close()


@pytest.mark.parametrize(("kw", "words"), [({"tile_px": 4}, "'tile_px'"),
                                           ({"min_tissue": 1.5}, "'min_tissue'"),
                                           ({"overlap_px": 224}, "'overlap_px'"),
                                           ({"batch_size": 0}, "'batch_size'")])
def test_tile_settings_refuse_bad_values(kw, words):
    with pytest.raises(UsageError, match=words):
        _settings(**kw)
