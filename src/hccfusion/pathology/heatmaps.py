"""Attention heatmaps of a slide: a PNG over the thumbnail and a GeoJSON for QuPath.

Both are computed tile by tile, so memory does not grow with the slide:

- :func:`attention_heatmap` paints each tile's score, one small rectangle at a time, onto a
  canvas the size of the slide's thumbnail (never level 0), colours it with a matplotlib
  colormap and blends it over ``slide.thumbnail(max_px=...)``.
- :func:`attention_geojson` streams one GeoJSON Feature per tile to the file: a closed square
  polygon in level-0 pixels (QuPath's image coordinates) with the measurement
  ``{"attention": score}``, a classification and a colour, importable with QuPath's
  *File › Import objects* (then *Measure › Show measurement maps* colours tiles by attention).

Compute, draw, report — separately (STYLE.md habit 9): the scores come from elsewhere (e.g.
:func:`hccfusion.training.mil.attention_scores`); these functions only draw and export.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from hccfusion.errors import UsageError, unknown_option

__all__ = ["attention_heatmap", "attention_geojson", "paint_tiles"]


class _Slide(Protocol):
    dimensions: tuple[int, int]

    def thumbnail(self, *, max_px: int) -> object: ...


def _check_tiles(coords: object, scores: object, tile_size_level0_px: object, where: str
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    xy = np.asarray(coords)
    if xy.ndim != 2 or xy.shape[1] < 2 or not np.issubdtype(xy.dtype, np.number) \
            or not np.isfinite(xy).all():
        raise UsageError(f"The 'coords' parameter of {where} must be an [N, 2] array of finite "
                         f"level-0 (x, y) px. Got shape {xy.shape} instead.")
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (xy.shape[0],) or not np.isfinite(s).all():
        raise UsageError(f"The 'scores' parameter of {where} must be {xy.shape[0]} finite "
                         f"values, one per tile. Got shape {s.shape} instead.")
    tile = tile_size_level0_px
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1:
        raise UsageError(f"The 'tile_size_level0_px' parameter of {where} must be a positive "
                         f"int (tile side in level-0 px). Got {tile!r} instead.")
    return xy[:, :2].astype(np.float64), s, int(tile)


def _unit_scores(scores: np.ndarray) -> np.ndarray:
    """Min–max scale to [0, 1]; constant scores map to 1 (all equally attended)."""
    lo, hi = float(scores.min(initial=0.0)), float(scores.max(initial=0.0))
    if hi - lo <= 0:
        return np.ones_like(scores)
    return (scores - lo) / (hi - lo)


def paint_tiles(*, coords: np.ndarray, tile_size_level0_px: int, values: np.ndarray,
                canvas_hw: tuple[int, int], scale_xy: tuple[float, float]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Paint tile values onto a small canvas, one rectangle per tile.

    Parameters
    ----------
    coords : numpy.ndarray
        Shape ``[N, 2]``, level-0 (x, y) px of each tile's top-left corner.
    tile_size_level0_px : int
        Tile side at level 0 (px).
    values : numpy.ndarray
        Shape ``[N]``, the value painted for each tile.
    canvas_hw : tuple of int
        Canvas (height, width) px.
    scale_xy : tuple of float
        Canvas px per level-0 px along x and y.

    Returns
    -------
    mean : numpy.ndarray
        Shape ``canvas_hw``, float32, the mean value of the tiles covering each canvas pixel
        (overlapping tiles average), NaN where no tile falls.
    count : numpy.ndarray
        Shape ``canvas_hw``, float32, number of tiles covering each canvas pixel.

    Notes
    -----
    Memory is two float32 canvases, whatever the slide size; a tile smaller than a canvas
    pixel still colours the pixel it falls in.
    """
    height, width = canvas_hw
    sx, sy = scale_xy
    total = np.zeros((height, width), dtype=np.float32)
    count = np.zeros((height, width), dtype=np.float32)
    for (x, y), value in zip(coords, values, strict=True):
        x0 = min(max(int(math.floor(x * sx)), 0), width - 1)
        y0 = min(max(int(math.floor(y * sy)), 0), height - 1)
        x1 = min(max(int(math.ceil((x + tile_size_level0_px) * sx)), x0 + 1), width)
        y1 = min(max(int(math.ceil((y + tile_size_level0_px) * sy)), y0 + 1), height)
        total[y0:y1, x0:x1] += value
        count[y0:y1, x0:x1] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan).astype(np.float32)
    return mean, count


def _colormap_lut(cmap: str) -> np.ndarray:
    import matplotlib

    if not isinstance(cmap, str) or cmap not in matplotlib.colormaps:
        raise unknown_option("colormap", str(cmap), tuple(sorted(matplotlib.colormaps)))
    lut = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(lut * 255).astype(np.uint8)                              # [256, 3]


def _rgb(thumbnail: object) -> np.ndarray:
    image = np.asarray(thumbnail)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise UsageError(f"The 'slide' parameter of attention_heatmap must return an RGB(A) "
                         f"thumbnail. Got an array of shape {image.shape} instead.")
    return image[:, :, :3].astype(np.uint8)


def attention_heatmap(*, slide: _Slide, coords: np.ndarray, tile_size_level0_px: int,
                      scores: np.ndarray, out_png: Path | str, max_px: int = 2048,
                      alpha: float = 0.5, cmap: str = "inferno") -> Path:
    """Render tile scores as a colour overlay on the slide thumbnail and save a PNG.

    Parameters
    ----------
    slide
        An open slide (``hccfusion.pathology.slides.open_slide``): ``dimensions`` (level-0
        width, height px) and ``thumbnail(max_px=...)`` (an RGB image, PIL or array).
    coords : numpy.ndarray
        Shape ``[N, 2]``, level-0 (x, y) px of each tile's top-left corner (bag ``coords``).
    tile_size_level0_px : int
        Tile side at level 0 (px).
    scores : numpy.ndarray
        Shape ``[N]``, e.g. MIL attention; min–max scaled to the colormap's range.
    out_png : path-like
        Output PNG; parent folders are created.
    max_px : int
        Longest side of the thumbnail (px) — the heatmap's resolution.
    alpha : float
        Opacity of the overlay on tiles, 0–1; areas without tiles show the thumbnail.
    cmap : str
        A matplotlib colormap name (high scores take its bright end for ``inferno``).

    Returns
    -------
    pathlib.Path
        ``out_png``.

    Raises
    ------
    hccfusion.errors.UsageError
        For misshapen coords or scores, a non-positive tile size or ``max_px``, ``alpha``
        outside [0, 1] or an unknown colormap.
    """
    from PIL import Image

    where = "attention_heatmap"
    xy, s, tile = _check_tiles(coords, scores, tile_size_level0_px, where)
    if isinstance(max_px, bool) or not isinstance(max_px, int) or max_px < 1:
        raise UsageError(f"The 'max_px' parameter of {where} must be a positive int. "
                         f"Got {max_px!r} instead.")
    if not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise UsageError(f"The 'alpha' parameter of {where} must be a float in [0, 1]. "
                         f"Got {alpha!r} instead.")
    lut = _colormap_lut(cmap)
    width0, height0 = (int(v) for v in slide.dimensions)
    base = _rgb(slide.thumbnail(max_px=max_px))
    height, width = base.shape[:2]
    mean, count = paint_tiles(coords=xy, tile_size_level0_px=tile, values=_unit_scores(s),
                              canvas_hw=(height, width),
                              scale_xy=(width / width0, height / height0))
    painted = count > 0
    colour = lut[np.round(np.nan_to_num(mean) * 255).astype(np.uint8)]      # [H, W, 3]
    blended = base.astype(np.float32)
    blended[painted] = (1 - alpha) * blended[painted] + alpha * colour[painted]
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(blended).clip(0, 255).astype(np.uint8)).save(out_png)
    return out_png


def attention_geojson(*, coords: np.ndarray, tile_size_level0_px: int, scores: np.ndarray,
                      out: Path | str, name: str = "attention", cmap: str = "inferno") -> Path:
    """Export tile scores as a QuPath-importable GeoJSON FeatureCollection.

    Each tile becomes a ``Feature`` whose geometry is the closed square ring
    ``[[x, y], [x + t, y], [x + t, y + t], [x, y + t], [x, y]]`` in level-0 px, with properties
    ``objectType: "detection"``, ``classification: {"name": name, "color": [r, g, b]}``,
    ``color`` (the tile's colormap colour) and ``measurements: {"attention": score}`` (the raw
    score). Features are written one at a time (atomic: temp file, then rename).

    Parameters
    ----------
    coords : numpy.ndarray
        Shape ``[N, 2]``, level-0 (x, y) px of each tile's top-left corner.
    tile_size_level0_px : int
        Tile side at level 0 (px).
    scores : numpy.ndarray
        Shape ``[N]``, the score of each tile.
    out : path-like
        Output ``.geojson`` file; parent folders are created.
    name : str
        Classification name of the tiles in QuPath.
    cmap : str
        Matplotlib colormap for the per-tile colour.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    where = "attention_geojson"
    xy, s, tile = _check_tiles(coords, scores, tile_size_level0_px, where)
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"The 'name' parameter of {where} must be a non-empty string. "
                         f"Got {name!r} instead.")
    lut = _colormap_lut(cmap)
    colours = lut[np.round(_unit_scores(s) * 255).astype(np.uint8)]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write('{"type":"FeatureCollection","features":[')
            for i, ((x, y), score, colour) in enumerate(zip(xy, s, colours, strict=True)):
                x0, y0 = _number(x), _number(y)
                x1, y1 = _number(x + tile), _number(y + tile)
                feature = {
                    "type": "Feature",
                    "geometry": {"type": "Polygon",
                                 "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1],
                                                  [x0, y0]]]},
                    "properties": {"objectType": "detection",
                                   "classification": {"name": name, "color": [255, 128, 0]},
                                   "color": [int(c) for c in colour],
                                   "measurements": {"attention": float(score)}},
                }
                fh.write(("," if i else "") + json.dumps(feature, separators=(",", ":")))
            fh.write("]}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _number(value: float) -> int | float:
    """Integral coordinates as ints (QuPath's pixel grid), others as floats."""
    return int(value) if float(value).is_integer() else float(value)
