"""Tile grids: physical size, best level, level-0 coordinates, overlap, tissue share."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("openslide")

from hccfusion.errors import UsageError  # noqa: E402
from hccfusion.pathology.slides import open_slide  # noqa: E402
from hccfusion.pathology.tiling import read_tiles, tile_grid  # noqa: E402
from hccfusion.pathology.tissue import TissueMask, detect_tissue  # noqa: E402

from .conftest import PAINT_BOX, PAINT_RGB, glass, write_scanner_tiff  # noqa: E402


def full_mask(slide, *, downsample: float = 16.0) -> TissueMask:
    w, h = slide.dimensions
    shape = (int(np.ceil(h / downsample)), int(np.ceil(w / downsample)))
    return TissueMask(mask=np.ones(shape, bool), mpp=slide.mpp * downsample,
                      downsample=downsample, pen_fraction=0.0)


def test_grid_geometry_at_half_micron(scanner_pyramid):
    with open_slide(scanner_pyramid) as slide:
        grid = tile_grid(slide, full_mask(slide), target_mpp=0.5, tile_px=224)
    assert grid.tile_um == pytest.approx(112.0)
    assert grid.size_level0_px == 448  # 112 µm at 0.25 µm/px
    assert grid.level == 1 and grid.read_px == 224  # level 1 is 0.5 µm/px: no resampling
    assert grid.coords.dtype == np.int64 and grid.coords.shape == (4 * 3, 2)
    assert set(grid.coords[:, 0]) == {0, 448, 896, 1344}
    assert set(grid.coords[:, 1]) == {0, 448, 896}
    assert np.array_equal(grid.coords[:4, 1], [0, 0, 0, 0])  # row-major
    assert np.allclose(grid.tissue_fraction, 1.0)


def test_tiles_from_the_best_level_match_tiles_from_level_zero(scanner_pyramid):
    with open_slide(scanner_pyramid) as slide:
        grid = tile_grid(slide, full_mask(slide), target_mpp=0.5, tile_px=224)
        from_level1 = read_tiles(slide, grid, range(len(grid)))
        via_level0 = dataclasses.replace(grid, level=0, read_px=448)
        from_level0 = read_tiles(slide, via_level0, range(len(grid)))
    assert from_level1.shape == from_level0.shape == (12, 224, 224, 3)
    diff = np.abs(from_level1.astype(int) - from_level0.astype(int))
    other = np.abs(from_level1.astype(int) - np.roll(from_level0, 1, axis=0).astype(int))
    assert diff.mean() < 3.0  # same tissue, same scale
    assert other.mean() > 4 * diff.mean()  # a different tile is far off


def test_coordinates_are_level_zero_pixels(scanner_pyramid):
    x0, y0, x1, y1 = PAINT_BOX
    with open_slide(scanner_pyramid) as slide:
        grid = tile_grid(slide, full_mask(slide), target_mpp=0.5, tile_px=224)
        size = grid.size_level0_px
        inside = [i for i, (x, y) in enumerate(grid.coords)
                  if x <= x0 and x1 <= x + size and y <= y0 and y1 <= y + size]
        assert len(inside) == 1
        (tile,) = read_tiles(slide, grid, inside)
    x, y = grid.coords[inside[0]]
    scale = grid.tile_px / size  # tile px per level-0 px
    r0, r1 = round((y0 - y) * scale), round((y1 - y) * scale)
    c0, c1 = round((x0 - x) * scale), round((x1 - x) * scale)
    painted = tile[r0 + 4 : r1 - 4, c0 + 4 : c1 - 4].reshape(-1, 3).astype(int)
    assert np.abs(painted - PAINT_RGB).max() <= 20  # JPEG chroma error
    is_paint = np.abs(tile.astype(int) - PAINT_RGB).max(axis=2) <= 25
    rows, cols = np.nonzero(is_paint)
    assert abs(rows.min() - r0) <= 2 and abs(rows.max() + 1 - r1) <= 2
    assert abs(cols.min() - c0) <= 2 and abs(cols.max() + 1 - c1) <= 2


def test_overlap_shifts_by_the_stride_and_neighbours_share_pixels(scanner_pyramid):
    with open_slide(scanner_pyramid) as slide:
        grid = tile_grid(slide, full_mask(slide), target_mpp=0.5, tile_px=224, overlap_px=112)
        assert grid.overlap_px == 112 and grid.stride_level0_px == 224
        # (2048 − 448) / 224 + 1 columns by (1536 − 448) / 224 + 1 rows
        assert grid.coords.shape == (8 * 5, 2)
        first, second = read_tiles(slide, grid, [0, 1])
    assert tuple(grid.coords[1] - grid.coords[0]) == (224, 0)
    assert np.array_equal(first[:, 112:], second[:, :112])


def test_tissue_share_decides_which_tiles_are_kept(scanner_pyramid):
    with open_slide(scanner_pyramid) as slide:
        mask = full_mask(slide)
        half = mask.mask.copy()
        half[:, 56:] = False  # tissue on level-0 x < 896 only
        tissue = dataclasses.replace(mask, mask=half)
        grid = tile_grid(slide, tissue, target_mpp=0.5, tile_px=224, min_tissue=0.25)
        every = tile_grid(slide, tissue, target_mpp=0.5, tile_px=224, min_tissue=0.0)
    assert set(grid.coords[:, 0]) == {0, 448}
    assert np.allclose(grid.tissue_fraction, 1.0)
    assert len(every) == 12
    assert sorted(set(np.round(every.tissue_fraction, 6))) == [0.0, 1.0]


def test_resampled_tiles_from_the_real_slide(aperio_svs):
    with open_slide(aperio_svs) as slide:
        tissue = detect_tissue(slide)
        grid = tile_grid(slide, tissue, target_mpp=1.0, tile_px=112, min_tissue=0.5)
        assert grid.level == 0 and grid.size_level0_px == round(112 / 0.499)
        assert grid.read_px == grid.size_level0_px  # one level: read at 0.499, shrink ×2
        tiles = read_tiles(slide, grid, slice(0, 3))
        x, y = grid.coords[0]
        region = slide.read_region(location=(int(x), int(y)), level=0,
                                   size=(grid.read_px, grid.read_px))
    assert tiles.shape == (3, 112, 112, 3) and tiles.dtype == np.uint8
    assert len(grid) > 20 and (grid.tissue_fraction >= 0.5).all()
    # the resampled tile keeps the tissue's colour
    assert np.abs(tiles[0].reshape(-1, 3).mean(0) - region.reshape(-1, 3).mean(0)).max() < 2


def test_blank_slide_gives_an_empty_grid(tmp_path):
    path = write_scanner_tiff(tmp_path / "blank.tiff", glass(600, 800), mpp=0.5, levels=2)
    with open_slide(path) as slide:
        grid = tile_grid(slide, detect_tissue(slide))
    assert grid.coords.shape == (0, 2) and grid.coords.dtype == np.int64
    assert grid.tissue_fraction.shape == (0,)


def test_bad_parameters(scanner_pyramid):
    with open_slide(scanner_pyramid) as slide:
        mask = full_mask(slide)
        with pytest.raises(UsageError, match=r"The 'overlap_px' parameter of tile_grid must be "
                                             r"an integer between 0 and 223. Got 224 instead."):
            tile_grid(slide, mask, overlap_px=224)
        with pytest.raises(UsageError, match="The 'target_mpp' parameter of tile_grid"):
            tile_grid(slide, mask, target_mpp=-1)
        with pytest.raises(UsageError, match="The 'min_tissue' parameter of tile_grid"):
            tile_grid(slide, mask, min_tissue=1.5)
        with pytest.raises(UsageError, match="The 'tissue' parameter of tile_grid must be the "
                                             "mask of this slide"):
            tile_grid(slide, TissueMask(mask=np.ones((10, 10), bool), mpp=8.0, downsample=32.0,
                                        pen_fraction=0.0))
        grid = tile_grid(slide, mask)
        with pytest.raises(UsageError, match="The 'indices' parameter of read_tiles"):
            read_tiles(slide, grid, [len(grid)])


def test_grid_invariants_hold_for_any_size_and_overlap(scanner_pyramid):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    slide = open_slide(scanner_pyramid)
    mask = full_mask(slide)

    @settings(max_examples=40, deadline=None)
    @given(target_mpp=st.floats(0.2, 3.0), tile_px=st.integers(16, 256),
           overlap=st.floats(0.0, 0.9))
    def check(target_mpp, tile_px, overlap):
        overlap_px = min(int(overlap * tile_px), tile_px - 1)
        grid = tile_grid(slide, mask, target_mpp=target_mpp, tile_px=tile_px,
                         overlap_px=overlap_px, min_tissue=0.0)
        size = grid.size_level0_px
        assert size == max(1, round(tile_px * target_mpp / slide.mpp))
        assert slide.level_mpp(grid.level) <= target_mpp * 1.02 or grid.level == 0
        assert abs(grid.read_px * slide.level_downsamples[grid.level] - size) <= (
            slide.level_downsamples[grid.level])
        if len(grid):
            assert grid.coords.min() >= 0
            assert (grid.coords[:, 0] + size <= 2048).all()
            assert (grid.coords[:, 1] + size <= 1536).all()
            assert (grid.coords % grid.stride_level0_px == 0).all()
            # every position that fits is there: the grid is complete
            n_x = (2048 - size) // grid.stride_level0_px + 1
            n_y = (1536 - size) // grid.stride_level0_px + 1
            assert len(grid) == n_x * n_y
        else:
            assert size > 1536

    try:
        check()
    finally:
        slide.close()


@pytest.mark.parametrize("target_mpp, tile_px", [(0.5, 224), (0.25, 200), (0.4, 128)])
def test_strip_reads_equal_tile_by_tile_reads(scanner_pyramid, target_mpp, tile_px):
    """read_tiles reads side-by-side tiles of a row as one strip; the pixels must be exactly
    those of one read per tile (level 1 without resizing, level 0, and a resized read)."""
    with open_slide(scanner_pyramid) as slide:
        grid = tile_grid(slide, full_mask(slide), target_mpp=target_mpp, tile_px=tile_px)
        together = read_tiles(slide, grid, range(len(grid)))
        apart = np.stack([read_tiles(slide, grid, [i])[0] for i in range(len(grid))])
        shuffled = read_tiles(slide, grid, [3, 0, 1, 2, 5])
    assert len(grid) > 4
    np.testing.assert_array_equal(together, apart)
    np.testing.assert_array_equal(shuffled, apart[[3, 0, 1, 2, 5]])
