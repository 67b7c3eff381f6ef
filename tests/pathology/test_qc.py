"""Blur score and the per-slide QC row."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hccfusion.errors import UsageError
from hccfusion.pathology.qc import blur_score, slide_qc

from .conftest import glass, write_scanner_tiff


def test_blur_score_known_answers():
    flat = np.full((16, 16), 128, np.uint8)
    checker = (np.indices((16, 16)).sum(axis=0) % 2).astype(np.uint8) * 10
    # a 0/10 checkerboard: the Laplacian is ±40 everywhere inside, variance 40² = 1600
    assert blur_score(np.stack([flat, checker])) == pytest.approx([0.0, 1600.0])
    rgb = np.repeat(checker[None, ..., None], 3, axis=3)
    assert blur_score(rgb) == pytest.approx([1600.0])


def test_blur_score_of_uint8_rgb_equals_the_float32_channel_mean_formula():
    rng = np.random.default_rng(7)
    tiles = rng.integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8)
    tiles[0] = 255   # the largest channel sum (765) stays exact
    grey = tiles.astype(np.float32).mean(axis=-1)
    lap = (grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1] + grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:]
           - 4.0 * grey[:, 1:-1, 1:-1])
    expected = lap.reshape(3, -1).astype(np.float64).var(axis=1)
    assert blur_score(tiles).tobytes() == expected.tobytes()   # bit for bit
    assert blur_score(tiles.astype(np.float64)) == pytest.approx(expected, rel=1e-6)


def test_blurred_tiles_score_lower(aperio_svs):
    pytest.importorskip("openslide")
    from scipy import ndimage

    from hccfusion.pathology.slides import open_slide

    with open_slide(aperio_svs) as slide:
        tiles = np.stack([slide.read_region(location=(x, 1800), level=0, size=(224, 224))
                          for x in (1200, 1450)])
    blurred = np.stack([ndimage.gaussian_filter(t, sigma=(2, 2, 0)) for t in tiles])
    sharp, soft = blur_score(tiles), blur_score(blurred)
    assert (soft * 5 < sharp).all()


def test_blur_score_rejects_bad_shapes():
    with pytest.raises(UsageError, match="The 'tiles' parameter of blur_score must have shape"):
        blur_score(np.zeros((4, 4)))
    with pytest.raises(UsageError, match="at least 3 × 3 px"):
        blur_score(np.zeros((1, 2, 8, 3), np.uint8))


QC_KEYS = {"slide_id", "tissue_area_mm2", "pen_fraction", "n_tiles", "blur_median", "blur_p10",
           "h_od_r", "h_od_g", "h_od_b", "e_od_r", "e_od_g", "e_od_b", "h_max_conc",
           "e_max_conc", "mpp", "mpp_source", "vendor", "level_count", "level", "target_mpp",
           "tile_px"}


def test_qc_row_of_the_simulated_slide(sim_slide):
    pytest.importorskip("openslide")
    from hccfusion.pathology.slides import open_slide
    from hccfusion.pathology.tiling import tile_grid
    from hccfusion.pathology.tissue import detect_tissue

    with open_slide(sim_slide.path) as slide:
        tissue = detect_tissue(slide)
        grid = tile_grid(slide, tissue, target_mpp=0.5, tile_px=224)
        row = slide_qc(slide=slide, tissue=tissue, grid=grid)
    assert set(row) == QC_KEYS
    sc = sim_slide.sidecar
    true_area_mm2 = sc["tissue_fraction"] * sc["width"] * sc["height"] * (sc["mpp"] / 1000) ** 2
    assert row["tissue_area_mm2"] == pytest.approx(true_area_mm2, rel=0.1)
    assert row["slide_id"] == "WX-0001-B1" and row["n_tiles"] == len(grid) > 10
    assert row["blur_median"] > row["blur_p10"] > 0
    h = np.array([row["h_od_r"], row["h_od_g"], row["h_od_b"]])
    e = np.array([row["e_od_r"], row["e_od_g"], row["e_od_b"]])
    assert np.linalg.norm(h) == pytest.approx(1.0) and np.linalg.norm(e) == pytest.approx(1.0)
    assert h[0] > e[0]  # haematoxylin absorbs more red
    assert (row["mpp"], row["mpp_source"], row["level"], row["level_count"]) == (
        0.5, "metadata", 0, 3)


def test_qc_uses_a_given_tile_sample(sim_slide):
    pytest.importorskip("openslide")
    from scipy import ndimage

    from hccfusion.pathology.slides import open_slide
    from hccfusion.pathology.tiling import read_tiles, tile_grid
    from hccfusion.pathology.tissue import detect_tissue

    with open_slide(sim_slide.path) as slide:
        tissue = detect_tissue(slide)
        grid = tile_grid(slide, tissue)
        sample = read_tiles(slide, grid, range(8))
        blurred = np.stack([ndimage.gaussian_filter(t, sigma=(3, 3, 0)) for t in sample])
        sharp = slide_qc(slide=slide, tissue=tissue, grid=grid, tiles_sample=sample)
        soft = slide_qc(slide=slide, tissue=tissue, grid=grid, tiles_sample=blurred)
    assert soft["blur_median"] * 5 < sharp["blur_median"]
    assert soft["n_tiles"] == sharp["n_tiles"] == len(grid)


def test_qc_row_of_a_blank_slide_says_so(tmp_path):
    pytest.importorskip("openslide")
    from hccfusion.pathology.slides import open_slide
    from hccfusion.pathology.tiling import tile_grid
    from hccfusion.pathology.tissue import detect_tissue

    path = write_scanner_tiff(tmp_path / "blank.tiff", glass(600, 800), mpp=0.5, levels=2)
    with open_slide(path) as slide:
        tissue = detect_tissue(slide)
        row = slide_qc(slide=slide, tissue=tissue, grid=tile_grid(slide, tissue))
    assert row["n_tiles"] == 0 and row["tissue_area_mm2"] == 0.0
    assert math.isnan(row["blur_median"]) and math.isnan(row["h_od_r"])
