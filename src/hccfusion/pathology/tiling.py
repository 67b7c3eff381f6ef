"""Tile coordinates at a physical resolution, and the tiles themselves.

A tile is ``tile_px`` × ``tile_px`` px at ``target_mpp`` µm/px, i.e. ``tile_um = tile_px ·
target_mpp`` µm wide whatever the scanner. Coordinates are the level-0 px of each tile's top-left
corner; a tile covers ``size_level0_px`` level-0 px. It is read from the coarsest pyramid level
still at least as fine as the target (:meth:`Slide.best_level_for`), ``read_px`` px of that
level, and resampled to ``tile_px`` (Lanczos, antialiased).

Tiles lie entirely inside the slide, on a regular grid from (0, 0) with stride
``size_level0_px − overlap`` (level-0 px); only those whose tissue share, measured on the tissue
mask, reaches ``min_tissue`` are kept, in row-major order.

Example
-------
>>> grid = tile_grid(slide, detect_tissue(slide), target_mpp=0.5, tile_px=224)  # doctest: +SKIP
>>> tiles = read_tiles(slide, grid, range(8))  # uint8 [8, 224, 224, 3]  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import UsageError

if TYPE_CHECKING:
    from hccfusion.pathology.slides import Slide
    from hccfusion.pathology.tissue import TissueMask


@dataclass(frozen=True)
class TileGrid:
    """The tiles of one slide.

    Attributes
    ----------
    coords : numpy.ndarray
        int64, shape ``(n, 2)``: level-0 ``(x, y)`` of each tile's top-left corner.
    target_mpp : float
        Resolution of the tiles (µm/px).
    tile_px : int
        Tile side at ``target_mpp`` (px).
    tile_um : float
        Tile side (µm).
    level : int
        Pyramid level the tiles are read from.
    read_px : int
        Side of the square read at ``level`` (px), resampled to ``tile_px``.
    size_level0_px : int
        Tile side in level-0 px.
    overlap_px : int
        Overlap of neighbouring tiles at ``target_mpp`` (px).
    tissue_fraction : numpy.ndarray
        float, shape ``(n,)``: share of each tile covered by the tissue mask, 0–1.
    """

    coords: np.ndarray
    target_mpp: float
    tile_px: int
    tile_um: float
    level: int
    read_px: int
    size_level0_px: int
    overlap_px: int
    tissue_fraction: np.ndarray

    def __len__(self) -> int:
        return int(len(self.coords))

    @property
    def stride_level0_px(self) -> int:
        """Distance between neighbouring tiles (level-0 px)."""
        overlap0 = round(self.overlap_px * self.size_level0_px / self.tile_px)
        return max(1, self.size_level0_px - overlap0)


def _int_param(name: str, value: object, low: int, high: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UsageError(f"The '{name}' parameter of tile_grid must be an integer {bound}. "
                         f"Got {value!r} instead.")
    return int(value)


def _tissue_share(mask: np.ndarray, downsample: float, coords: np.ndarray,
                  size: int) -> np.ndarray:
    """Share of mask px whose centre lies inside each tile (at least the px at its centre)."""
    h, w = mask.shape
    table = np.zeros((h + 1, w + 1), dtype=np.int64)
    table[1:, 1:] = mask.astype(np.int64).cumsum(axis=0).cumsum(axis=1)

    def span(start: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        lo = np.ceil(start / downsample - 0.5).astype(np.int64)
        hi = np.ceil((start + size) / downsample - 0.5).astype(np.int64)
        centre = np.floor((start + size / 2) / downsample).astype(np.int64)
        empty = hi <= lo
        lo = np.where(empty, centre, lo)
        hi = np.where(empty, centre + 1, hi)
        return np.clip(lo, 0, limit), np.clip(hi, 0, limit)

    x0, x1 = span(coords[:, 0].astype(np.float64), w)
    y0, y1 = span(coords[:, 1].astype(np.float64), h)
    inside = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    return inside / area


def tile_grid(slide: Slide, tissue: TissueMask, *, target_mpp: float = 0.5, tile_px: int = 224,
              overlap_px: int = 0, min_tissue: float = 0.25) -> TileGrid:
    """Tile coordinates covering the tissue of a slide.

    Parameters
    ----------
    slide : Slide
        An open slide.
    tissue : TissueMask
        Its tissue mask (:func:`hccfusion.pathology.tissue.detect_tissue`).
    target_mpp : float
        Resolution of the tiles (µm/px), e.g. 0.5 (20×).
    tile_px : int
        Tile side at ``target_mpp`` (px), e.g. 224.
    overlap_px : int
        Overlap of neighbouring tiles (px at ``target_mpp``), 0 to ``tile_px − 1``.
    min_tissue : float
        Smallest tissue share of a kept tile, 0–1.

    Returns
    -------
    TileGrid
        Possibly with no tile (a blank slide): the caller reports it.
    """
    if not (isinstance(target_mpp, (int, float)) and math.isfinite(target_mpp)
            and target_mpp > 0):
        raise UsageError("The 'target_mpp' parameter of tile_grid must be a positive "
                         f"resolution in µm/px. Got {target_mpp!r} instead.")
    tile_px = _int_param("tile_px", tile_px, 1)
    overlap_px = _int_param("overlap_px", overlap_px, 0, tile_px - 1)
    if not (isinstance(min_tissue, (int, float)) and 0.0 <= min_tissue <= 1.0):
        raise UsageError("The 'min_tissue' parameter of tile_grid must be a share between 0 "
                         f"and 1. Got {min_tissue!r} instead.")
    target_mpp = float(target_mpp)
    tile_um = tile_px * target_mpp
    size0 = max(1, round(tile_um / slide.mpp))
    level = slide.best_level_for(target_mpp=target_mpp)
    read_px = max(1, round(size0 / slide.level_downsamples[level]))
    overlap0 = round(overlap_px * size0 / tile_px)
    stride = max(1, size0 - overlap0)

    w0, h0 = slide.dimensions
    expected = (math.ceil(h0 / tissue.downsample), math.ceil(w0 / tissue.downsample))
    if tissue.mask.shape != expected:
        raise UsageError(f"The 'tissue' parameter of tile_grid must be the mask of this slide "
                         f"({expected[0]} × {expected[1]} px at downsample "
                         f"{tissue.downsample:g}). Got {tissue.mask.shape} instead.")
    xs = np.arange(0, w0 - size0 + 1, stride, dtype=np.int64)
    ys = np.arange(0, h0 - size0 + 1, stride, dtype=np.int64)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    coords = np.stack([xx.ravel(), yy.ravel()], axis=1)
    share = (_tissue_share(tissue.mask, tissue.downsample, coords, size0) if len(coords)
             else np.zeros(0))
    keep = share >= min_tissue
    return TileGrid(coords=np.ascontiguousarray(coords[keep], dtype=np.int64),
                    target_mpp=target_mpp, tile_px=tile_px, tile_um=tile_um, level=level,
                    read_px=read_px, size_level0_px=size0, overlap_px=overlap_px,
                    tissue_fraction=share[keep].astype(np.float64))


#: Most tiles read in one strip by :func:`read_tiles` (bounds the strip's memory).
MAX_RUN = 16


def read_tiles(slide: Slide, grid: TileGrid, indices: Iterable[int] | np.ndarray | slice
               ) -> np.ndarray:
    """Read tiles of a grid.

    Parameters
    ----------
    slide : Slide
        The slide the grid was made for.
    grid : TileGrid
        Its tile grid.
    indices : iterable of int, numpy.ndarray or slice
        Which tiles (positions in ``grid.coords``).

    Returns
    -------
    numpy.ndarray
        uint8, shape ``(n, tile_px, tile_px, 3)``: one read of ``read_px`` px per tile at
        ``grid.level``, resampled to ``tile_px``.

    Raises
    ------
    hccfusion.pathology.slides.SlideError
        ``unreadable_level`` if the level's data cannot be decoded.
    """
    n = len(grid.coords)
    if isinstance(indices, slice):
        idx = np.arange(n)[indices]
    else:
        idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
        if idx.size and (idx.dtype.kind not in "iu" or idx.min() < -n or idx.max() >= n):
            raise UsageError(f"The 'indices' parameter of read_tiles must hold tile positions "
                             f"between 0 and {n - 1}. Got {idx!r} instead.")
        idx = idx.astype(np.int64).ravel()
    out = np.empty((len(idx), grid.tile_px, grid.tile_px, 3), dtype=np.uint8)
    px = grid.read_px
    for start, stop in _row_runs(slide, grid, idx):
        x, y = grid.coords[idx[start]]
        strip = slide.read_region(location=(int(x), int(y)), level=grid.level,
                                  size=(px * (stop - start), px))
        for k in range(start, stop):
            region = strip[:, (k - start) * px:(k - start + 1) * px]
            out[k] = resize_rgb(region, width=grid.tile_px, height=grid.tile_px)
    return out


def _row_runs(slide: Slide, grid: TileGrid, idx: np.ndarray) -> list[tuple[int, int]]:
    """Split ``idx`` into runs of side-by-side tiles of one row, each read as one strip.

    Neighbouring tiles share the slide's JPEG tiles: one strip read decodes each of them once
    instead of once per grid tile (≈ 2× less reading CPU). Runs are formed only where a strip is
    pixel-identical to the separate reads: no overlap, and tile positions that fall on whole
    pixels of the level read (always at level 0). At most ``MAX_RUN`` tiles per strip.
    """
    ds = float(slide.level_downsamples[grid.level])
    exact = grid.overlap_px == 0 and grid.stride_level0_px == grid.size_level0_px and (
        grid.level == 0 or (ds.is_integer() and grid.size_level0_px == grid.read_px * ds))
    runs, start = [], 0
    for k in range(1, len(idx) + 1):
        if k < len(idx) and exact and k - start < MAX_RUN:
            (x0, y0), (x1, y1) = grid.coords[idx[k - 1]], grid.coords[idx[k]]
            if y1 == y0 and x1 - x0 == grid.size_level0_px and (grid.level == 0 or x0 % ds == 0):
                continue
        runs.append((start, k))
        start = k
    return runs


def block_mean(img: np.ndarray, k: int) -> np.ndarray:
    """Average ``k × k`` blocks of a uint8 RGB image (edge blocks over what exists)."""
    if k <= 1:
        return img
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).reduce(int(k)))


def resize_rgb(img: np.ndarray, *, width: int, height: int) -> np.ndarray:
    """Resample a uint8 RGB image to ``(height, width, 3)`` (Lanczos, antialiased on
    downsampling; unchanged if already that size)."""
    if img.shape[0] == height and img.shape[1] == width:
        return img
    from PIL import Image

    out = Image.fromarray(np.ascontiguousarray(img)).resize(
        (int(width), int(height)), Image.Resampling.LANCZOS)
    return np.asarray(out)
