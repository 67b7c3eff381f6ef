"""Write a slide scene as a pyramidal, tiled, JPEG-compressed TIFF that OpenSlide reads.

Layout (what OpenSlide's "generic-tiff" vendor needs to see several levels, checked in the
tests): every level is one tiled page (256 × 256 px, JPEG/YCbCr 2×2), level 0 first, the
reduced levels as pages with ``NewSubfileType = 1`` (SubIFDs or strip-written levels are read as
one level). XResolution/YResolution are pixels per centimetre with ResolutionUnit centimetre, so
OpenSlide reports ``openslide.mpp-x``/``mpp-y``. Each level is 4× smaller than the one above.

Level 0 is drawn and written tile row by tile row; only tile runs that touch tissue are drawn,
empty glass is one cached JPEG tile. Level 1 is kept as a sparse set of tissue tiles, the smaller
levels as arrays, so memory stays bounded by the tissue area / 16 rather than the slide area.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hccfusion.simulate.wsi_geometry import TILE_PX
from hccfusion.simulate.wsi_render import SlideScene

LEVEL_FACTOR = 4
"""Downsample factor between consecutive pyramid levels."""

_MIN_TOP_LEVEL_PX = 512  # stop adding levels once the smallest level fits in this
_MAX_RUN_TILES = 4  # tiles drawn together: long enough to amortise, short enough to crop well


@dataclass(frozen=True)
class PyramidInfo:
    """What was written.

    Attributes
    ----------
    level_dimensions : tuple of (int, int)
        ``(width, height)`` of every level (px).
    tissue_px : float
        Tissue area at level 0 (px).
    """

    level_dimensions: tuple[tuple[int, int], ...]
    tissue_px: float


def level_dimensions(*, width: int, height: int) -> tuple[tuple[int, int], ...]:
    """Sizes of the pyramid levels for a level-0 size (each level ⌈/4⌉ of the one above)."""
    dims = [(width, height)]
    while max(dims[-1]) > _MIN_TOP_LEVEL_PX:
        w, h = dims[-1]
        dims.append((-(-w // LEVEL_FACTOR), -(-h // LEVEL_FACTOR)))
    return tuple(dims)


def _shrink(img: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Block mean by LEVEL_FACTOR, padding with ``fill``; uint8 (h, w, 3) → uint8."""
    f = LEVEL_FACTOR
    h, w = img.shape[:2]
    ph, pw = -h % f, -w % f
    if ph or pw:
        padded = np.empty((h + ph, w + pw, 3), dtype=np.uint8)
        padded[...] = fill
        padded[:h, :w] = img
        img = padded
    a = img.astype(np.uint16)
    rows = sum(a[k::f] for k in range(f))
    s = sum(rows[:, k::f] for k in range(f))
    return ((s + f * f // 2) // (f * f)).astype(np.uint8)


class _SparseLevel:
    """Tiles of a level that hold tissue; all other tiles are background."""

    def __init__(self, fill: np.ndarray) -> None:
        self.fill = fill
        self.tiles: dict[tuple[int, int], np.ndarray] = {}

    def paste(self, img: np.ndarray, *, x0: int, y0: int) -> None:
        h, w = img.shape[:2]
        for ty in range(y0 // TILE_PX, (y0 + h - 1) // TILE_PX + 1):
            for tx in range(x0 // TILE_PX, (x0 + w - 1) // TILE_PX + 1):
                tile = self.tiles.get((ty, tx))
                if tile is None:
                    tile = np.empty((TILE_PX, TILE_PX, 3), dtype=np.uint8)
                    tile[...] = self.fill
                    self.tiles[(ty, tx)] = tile
                ay0, ax0 = max(y0, ty * TILE_PX), max(x0, tx * TILE_PX)
                ay1, ax1 = min(y0 + h, (ty + 1) * TILE_PX), min(x0 + w, (tx + 1) * TILE_PX)
                tile[ay0 - ty * TILE_PX : ay1 - ty * TILE_PX, ax0 - tx * TILE_PX : ax1 - tx * TILE_PX] = (
                    img[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
                )


def write_pyramid(
    *,
    path: Path,
    scene: SlideScene,
    width: int,
    height: int,
    mpp: float,
    description: str,
    jpeg_quality: int,
) -> PyramidInfo:
    """Draw ``scene`` and write it as a pyramidal TIFF.

    Parameters
    ----------
    path : pathlib.Path
        Output file (overwritten).
    scene : SlideScene
        What to draw.
    width, height : int
        Level-0 size (px), multiples of :data:`~hccfusion.simulate.wsi_geometry.TILE_PX`.
    mpp : float
        Level-0 resolution (µm/px).
    description : str
        ImageDescription of level 0 (OpenSlide: ``openslide.comment``).
    jpeg_quality : int
        JPEG quality, 1–100.
    """
    import imagecodecs
    import tifffile

    fill = np.asarray(scene.stain.background_rgb, dtype=np.uint8)
    # optimised Huffman tables: an empty-glass tile drops from 1.6 kB to 0.7 kB
    jpeg = dict(level=jpeg_quality, colorspace="RGB", outcolorspace="YCBCR", subsampling=(2, 2),
                optimize=True)

    def encode(tile: np.ndarray) -> bytes:
        return imagecodecs.jpeg8_encode(np.ascontiguousarray(tile), **jpeg)

    blank = encode(scene.background(width=TILE_PX, height=TILE_PX))
    dims = level_dimensions(width=width, height=height)
    level1 = _SparseLevel(fill)
    tissue_px = 0.0

    def level0_tiles() -> Iterator[bytes]:
        nonlocal tissue_px
        n_tx = width // TILE_PX
        for ty in range(height // TILE_PX):
            y0 = ty * TILE_PX
            has = [scene.has_tissue(x0=tx * TILE_PX, y0=y0, width=TILE_PX, height=TILE_PX)
                   for tx in range(n_tx)]
            tx = 0
            while tx < n_tx:
                if not has[tx]:
                    yield blank
                    tx += 1
                    continue
                end = tx
                while end < n_tx and has[end] and end - tx < _MAX_RUN_TILES:
                    end += 1
                x0 = tx * TILE_PX
                region = scene.render(x0=x0, y0=y0, width=(end - tx) * TILE_PX, height=TILE_PX)
                tissue_px += region.tissue_px
                if region.tissue_px > 0:
                    level1.paste(_shrink(region.rgb, fill), x0=x0 // LEVEL_FACTOR,
                                 y0=y0 // LEVEL_FACTOR)
                for k in range(end - tx):
                    if region.tissue_px == 0:
                        yield blank
                    else:
                        yield encode(region.rgb[:, k * TILE_PX : (k + 1) * TILE_PX])
                tx = end

    def dense_tiles(img: np.ndarray) -> Iterator[bytes]:
        h, w = img.shape[:2]
        for y0 in range(0, h, TILE_PX):
            for x0 in range(0, w, TILE_PX):
                tile = img[y0 : y0 + TILE_PX, x0 : x0 + TILE_PX]
                if tile.shape[:2] != (TILE_PX, TILE_PX):
                    padded = np.empty((TILE_PX, TILE_PX, 3), dtype=np.uint8)
                    padded[...] = fill
                    padded[: tile.shape[0], : tile.shape[1]] = tile
                    tile = padded
                yield encode(tile)

    def sparse_tiles(level: _SparseLevel, w: int, h: int) -> Iterator[bytes]:
        for ty in range(-(-h // TILE_PX)):
            for tx in range(-(-w // TILE_PX)):
                tile = level.tiles.get((ty, tx))
                yield blank if tile is None else encode(tile)

    def resolution(level: int) -> tuple[float, float]:
        px_per_cm = 1e4 / (mpp * LEVEL_FACTOR**level)
        return (px_per_cm, px_per_cm)

    common = dict(
        dtype=np.uint8, tile=(TILE_PX, TILE_PX), photometric="rgb", compression="jpeg",
        compressionargs={"level": jpeg_quality}, resolutionunit="CENTIMETER", metadata=None,
        software="hccfusion",
    )
    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        tif.write(level0_tiles(), shape=(height, width, 3), resolution=resolution(0),
                  description=description, **common)
        previous: np.ndarray | None = None
        for level, (w, h) in enumerate(dims[1:], start=1):
            if level == 1:
                data: Iterator[bytes] = sparse_tiles(level1, w, h)
            else:
                if previous is None:  # level 2: shrink the sparse level 1 tile by tile
                    q = TILE_PX // LEVEL_FACTOR
                    n_ty, n_tx = -(-dims[1][1] // TILE_PX), -(-dims[1][0] // TILE_PX)
                    previous = np.empty((n_ty * q, n_tx * q, 3), dtype=np.uint8)
                    previous[...] = fill
                    for (ty, tx), tile in level1.tiles.items():
                        previous[ty * q : (ty + 1) * q, tx * q : (tx + 1) * q] = _shrink(tile, fill)
                    previous = previous[:h, :w]
                else:
                    previous = _shrink(previous, fill)[:h, :w]
                data = dense_tiles(previous)
            tif.write(data, shape=(h, w, 3), resolution=resolution(level), subfiletype=1,
                      **common)
    return PyramidInfo(level_dimensions=dims, tissue_px=tissue_px)
