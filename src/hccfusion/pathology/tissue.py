"""Tissue mask of a slide at low resolution: stained tissue in, glass and pen marks out.

The slide is read at ``mask_mpp`` (8 µm/px by default: a 20 × 5 mm slide is 2500 × 625 px),
white-balanced against its own glass colour, and thresholded on HSV saturation (Otsu, kept
between ``min_saturation`` and ``max_saturation`` so a blank slide stays blank and a slide full
of tissue keeps its pale parts), with a minimum chroma so that dark neutral px are not tissue. Morphology is chosen so that thin needle cores survive: a small
closing bridges the gaps between cells, holes are filled, and specks are removed by *area*
(``min_area_um2``), never by an opening that would erase a structure narrower than its disk.

Pen marks: green, blue and cyan inks absorb red more than green — the reverse of haematoxylin
and eosin, whose green absorption is the highest — so strongly saturated pixels with
``G − R ≥ pen_margin`` that form a stroke-sized region (``min_pen_area_um2``) are pen, and are
removed from the mask (with a margin). Black ink is neutral and falls below the saturation
or chroma threshold with the glass. Red ink is indistinguishable from eosin by colour and is not removed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import UsageError

if TYPE_CHECKING:
    from hccfusion.pathology.slides import Slide


@dataclass(frozen=True)
class TissueMask:
    """Where the tissue is.

    Attributes
    ----------
    mask : numpy.ndarray
        bool, shape ``(h, w)``; mask pixel ``(i, j)`` covers level-0 px
        ``[j·downsample, (j+1)·downsample) × [i·downsample, (i+1)·downsample)``.
    mpp : float
        Resolution of the mask (µm/px).
    downsample : float
        Level-0 px per mask px.
    pen_fraction : float
        Share of the marked (non-glass) area that is pen, 0–1.
    """

    mask: np.ndarray
    mpp: float
    downsample: float
    pen_fraction: float

    @property
    def area_mm2(self) -> float:
        """Tissue area (mm²)."""
        return float(self.mask.sum()) * (self.mpp / 1000.0) ** 2


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold (Otsu 1979) of values in [0, 1], 256 bins."""
    hist, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = np.divide(m0, w0, out=np.zeros_like(m0), where=w0 > 0)
    mu1 = np.divide(m0[-1] - m0, w1, out=np.zeros_like(m0), where=w1 > 0)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(centres[int(np.argmax(between))])


def _white_balance(rgb: np.ndarray) -> np.ndarray:
    """Divide by the glass colour (median of the brightest 5 %), float in [0, 1]."""
    img = rgb.astype(np.float32)
    brightness = img.mean(axis=2)
    bright = img[brightness >= np.percentile(brightness, 95)]
    glass = np.median(bright, axis=0)
    if glass.mean() < 200:  # no glass on this slide (or a dark scan): leave colours as they are
        glass = np.full(3, 255.0, dtype=np.float32)
    return np.clip(img / np.maximum(glass, 1.0), 0.0, 1.0)


def _disk(radius: int) -> np.ndarray:
    r = max(int(radius), 0)
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def _drop_small(mask: np.ndarray, min_px: float) -> np.ndarray:
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_px
    keep[0] = False
    return keep[labels]


def _fill_small_holes(mask: np.ndarray, max_px: float) -> np.ndarray:
    from scipy import ndimage

    holes = ndimage.binary_fill_holes(mask) & ~mask
    labels, n = ndimage.label(holes)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    fill = sizes <= max_px
    fill[0] = False
    return mask | fill[labels]


def _positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value < 0 if allow_zero else value <= 0):
        kind = "non-negative" if allow_zero else "positive"
        raise UsageError(f"The '{name}' parameter of detect_tissue must be a {kind} number. "
                         f"Got {value!r} instead.")
    return float(value)


def detect_tissue(
    slide: Slide,
    *,
    mask_mpp: float = 8.0,
    min_area_um2: float = 20_000.0,
    max_hole_um2: float = 50_000.0,
    closing_um: float = 16.0,
    min_saturation: float = 0.05,
    max_saturation: float = 0.15,
    min_chroma: float = 0.04,
    exclude_pen: bool = True,
    pen_margin: float = 20.0,
    min_pen_area_um2: float = 20_000.0,
) -> TissueMask:
    """Detect tissue on a slide at low resolution.

    Parameters
    ----------
    slide : Slide
        An open slide.
    mask_mpp : float
        Resolution of the mask (µm/px); a slide coarser than this is masked at its own.
    min_area_um2 : float
        Tissue pieces smaller than this (µm²) are dropped as debris; 20,000 µm² is a
        140 × 140 µm square, far below a 1-mm-wide core.
    max_hole_um2 : float
        Holes inside tissue up to this area (µm²; vessels, lumens) are filled.
    closing_um : float
        Radius (µm) of the closing that joins cells into tissue.
    min_saturation, max_saturation : float
        Bounds of the saturation threshold (0–1) around Otsu's value.
    min_chroma : float
        Smallest ``max(R, G, B) − min(R, G, B)`` (0–1, white-balanced) of a tissue px; keeps
        black ink and dark shadows, whose saturation is noisy, out of the mask.
    exclude_pen : bool
        Remove green/blue/cyan pen marks from the mask.
    pen_margin : float
        How much brighter green must be than red (0–255 scale) for a pen pixel.
    min_pen_area_um2 : float
        Smallest pen stroke (µm²); smaller blue-green specks stay tissue.

    Returns
    -------
    TissueMask
        An empty mask (``mask.any()`` false) for a blank slide; the caller reports it.
    """
    from scipy import ndimage

    mask_mpp = _positive("mask_mpp", mask_mpp)
    min_area = _positive("min_area_um2", min_area_um2, allow_zero=True)
    max_hole = _positive("max_hole_um2", max_hole_um2, allow_zero=True)
    closing = _positive("closing_um", closing_um, allow_zero=True)
    min_pen_area = _positive("min_pen_area_um2", min_pen_area_um2, allow_zero=True)
    if not 0.0 <= min_saturation <= max_saturation <= 1.0:
        raise UsageError("The 'min_saturation' and 'max_saturation' parameters of "
                         "detect_tissue must satisfy 0 <= min <= max <= 1. Got "
                         f"{min_saturation!r} and {max_saturation!r} instead.")

    downsample = max(mask_mpp / slide.mpp, 1.0)
    mpp = slide.mpp * downsample
    px_area_um2 = mpp * mpp
    rgb = slide.read_downsampled(downsample=downsample)
    img = _white_balance(rgb)
    mx, mn = img.max(axis=2), img.min(axis=2)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    sat = ndimage.gaussian_filter(sat, 0.7)
    threshold = min(max(_otsu(sat), min_saturation), max_saturation)
    # saturation alone is unstable for dark neutral px (black ink, shadows): ask for colour too
    stained = (sat >= threshold) & (ndimage.gaussian_filter(mx - mn, 0.7) >= min_chroma)

    pen = np.zeros_like(stained)
    if exclude_pen:
        g_minus_r = (img[..., 1] - img[..., 0]) * 255.0
        pen = stained & (g_minus_r >= pen_margin)
        pen = _drop_small(pen, min_pen_area / px_area_um2)
        if pen.any():
            pen = ndimage.binary_dilation(pen, structure=_disk(2))

    tissue = stained & ~pen
    radius = round(closing / mpp)
    if radius >= 1:
        padded = np.pad(tissue, radius)
        tissue = ndimage.binary_closing(padded, structure=_disk(radius))[radius:-radius,
                                                                          radius:-radius]
    tissue = _fill_small_holes(tissue, max_hole / px_area_um2)
    tissue &= ~pen
    tissue = _drop_small(tissue, min_area / px_area_um2)

    marked = float((stained | pen).sum())
    pen_fraction = float(pen.sum()) / marked if marked else 0.0
    return TissueMask(mask=tissue, mpp=mpp, downsample=downsample, pen_fraction=pen_fraction)
