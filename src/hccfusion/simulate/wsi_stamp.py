"""Vectorised stamping of nuclei and disks into a region's concentration map.

Every shape of a batch is evaluated on its own small patch at once (arrays of shape
(K, P, P)); patches are merged into the region with ``np.maximum.at`` so overlapping shapes keep
the darker value. Shapes are grouped by patch size to avoid evaluating huge patches for small
nuclei.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Nuclei:
    """Nuclei of a slide, sorted by ``y``; every attribute is an array of shape (K,).

    Attributes
    ----------
    x, y : numpy.ndarray
        Centre in level-0 px (float64).
    rx, ry : numpy.ndarray
        Semi-axes (px).
    angle : numpy.ndarray
        Orientation of the ``rx`` axis (rad).
    darkness : numpy.ndarray
        Peak haematoxylin concentration (OD units).
    rim : numpy.ndarray
        Vesicular chromatin, 0 (solid) – 1 (pale centre, dark rim).
    a2, p2, a3, p3 : numpy.ndarray
        Amplitude (fraction of radius) and phase (rad) of the 2nd and 3rd radial harmonics
        of the outline (pleomorphism).
    kind : numpy.ndarray
        0 tumour cell, 1 lymphocyte, 2 fibroblast (int8).
    """

    x: np.ndarray
    y: np.ndarray
    rx: np.ndarray
    ry: np.ndarray
    angle: np.ndarray
    darkness: np.ndarray
    rim: np.ndarray
    a2: np.ndarray
    p2: np.ndarray
    a3: np.ndarray
    p3: np.ndarray
    kind: np.ndarray

    def reach(self) -> np.ndarray:
        """Largest distance (px) of each outline from its centre, shape (K,)."""
        return np.maximum(self.rx, self.ry) * (1.0 + self.a2 + self.a3)

    def take(self, index: np.ndarray) -> Nuclei:
        """A subset (or reordering) of the nuclei."""
        return Nuclei(**{k: getattr(self, k)[index] for k in self.__dataclass_fields__})

    def in_region(self, *, x0: int, y0: int, width: int, height: int, margin: float) -> Nuclei:
        """The nuclei whose patch may touch a region (``y`` must be sorted)."""
        lo = np.searchsorted(self.y, y0 - margin, side="left")
        hi = np.searchsorted(self.y, y0 + height + margin, side="right")
        xs = self.x[lo:hi]
        keep = np.nonzero((xs > x0 - margin) & (xs < x0 + width + margin))[0] + lo
        return self.take(keep)


@dataclass(frozen=True)
class Disks:
    """Round regions (lumens, lymphoid aggregates), sorted by ``y``; arrays of shape (K,).

    Attributes
    ----------
    x, y, r : numpy.ndarray
        Centre and radius in level-0 px.
    """

    x: np.ndarray
    y: np.ndarray
    r: np.ndarray

    def in_region(self, *, x0: int, y0: int, width: int, height: int) -> Disks:
        """The disks that may touch a region."""
        m = float(self.r.max()) + 2.0 if self.r.size else 0.0
        keep = (
            (self.y > y0 - m) & (self.y < y0 + height + m)
            & (self.x > x0 - m) & (self.x < x0 + width + m)
        )
        return Disks(x=self.x[keep], y=self.y[keep], r=self.r[keep])


def _scatter_max(target: np.ndarray, rows: np.ndarray, cols: np.ndarray, val: np.ndarray) -> None:
    h, w = target.shape
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w) & (val > 0)
    np.maximum.at(target.reshape(-1), rows[ok] * w + cols[ok], val[ok])


def _patch_grid(cx: np.ndarray, cy: np.ndarray, half: int):
    off = np.arange(-half, half + 1)
    ix = np.floor(cx).astype(np.int64)[:, None] + off[None, :]
    iy = np.floor(cy).astype(np.int64)[:, None] + off[None, :]
    dx = (ix + 0.5 - cx[:, None])[:, None, :]
    dy = (iy + 0.5 - cy[:, None])[:, :, None]
    rows = np.broadcast_to(iy[:, :, None], (cx.size, off.size, off.size))
    cols = np.broadcast_to(ix[:, None, :], (cx.size, off.size, off.size))
    return dx, dy, rows, cols


def _groups(reach: np.ndarray) -> list[tuple[int, np.ndarray]]:
    half = np.ceil(reach).astype(np.int64) + 1
    half = ((half + 1) // 2) * 2  # fewer distinct patch sizes
    return [(int(h), np.nonzero(half == h)[0]) for h in np.unique(half)]


def stamp_nuclei(target: np.ndarray, nuclei: Nuclei, *, x0: int, y0: int) -> None:
    """Stamp nuclei (haematoxylin concentration) into ``target`` in place.

    Parameters
    ----------
    target : numpy.ndarray
        Region map, shape (h, w), float32; its pixel (0, 0) is level-0 pixel (x0, y0).
    nuclei : Nuclei
        Nuclei to draw (those near the region).
    x0, y0 : int
        Region origin (level-0 px).
    """
    if nuclei.x.size == 0:
        return
    irregular = (nuclei.a2 > 0) | (nuclei.a3 > 0) | (nuclei.rim > 0)
    for shaped in (False, True):
        subset = np.flatnonzero(irregular == shaped)
        for half, idx in _groups(nuclei.reach()[subset]):
            _stamp_batch(target, nuclei.take(subset[idx]), half=half, x0=x0, y0=y0, shaped=shaped)


def _stamp_batch(target, n: Nuclei, *, half: int, x0: int, y0: int, shaped: bool) -> None:
    dx, dy, rows, cols = _patch_grid(n.x - x0, n.y - y0, half)
    c = np.cos(n.angle)[:, None, None].astype(np.float32)
    s = np.sin(n.angle)[:, None, None].astype(np.float32)
    dx, dy = dx.astype(np.float32), dy.astype(np.float32)
    u = (dx * c + dy * s) / n.rx[:, None, None].astype(np.float32)
    v = (dy * c - dx * s) / n.ry[:, None, None].astype(np.float32)
    rho2 = u * u + v * v + np.float32(1e-12)
    rho = np.sqrt(rho2)
    radius_px = np.sqrt(n.rx * n.ry)[:, None, None].astype(np.float32)
    if shaped:
        cos_t, sin_t = u / rho, v / rho
        cos2, sin2 = cos_t * cos_t - sin_t * sin_t, 2.0 * cos_t * sin_t
        cos3, sin3 = cos_t * (4 * cos_t**2 - 3), sin_t * (3 - 4 * sin_t**2)
        p2, p3 = n.p2[:, None, None], n.p3[:, None, None]
        a2c, a2s = (n.a2[:, None, None] * np.cos(p2)), (n.a2[:, None, None] * np.sin(p2))
        a3c, a3s = (n.a3[:, None, None] * np.cos(p3)), (n.a3[:, None, None] * np.sin(p3))
        edge = (1.0 + a2c * cos2 - a2s * sin2 + a3c * cos3 - a3s * sin3).astype(np.float32)
        inside = np.clip((edge - rho) * radius_px + 0.5, 0.0, 1.0)
        rel = np.minimum(rho2 / (edge * edge), 1.0)
        inside *= 1.0 - n.rim[:, None, None].astype(np.float32) * 0.5 * (1.0 - rel)
    else:
        inside = np.clip((1.0 - rho) * radius_px + 0.5, 0.0, 1.0)
    # chromatin grain: an integer hash of the absolute pixel, so regions tile seamlessly
    key = ((rows + y0) * 73856093) ^ ((cols + x0) * 19349663)
    grain = ((key >> 7) & 255).astype(np.float32) * np.float32(0.24 / 255.0) + np.float32(0.88)
    val = inside * grain * n.darkness[:, None, None].astype(np.float32)
    _scatter_max(target, rows, cols, val)


def stamp_disks(target: np.ndarray, disks: Disks, *, x0: int, y0: int, soft: float = 0.0) -> None:
    """Stamp disks of value 1 into ``target`` in place (``np.maximum``).

    ``soft`` > 0 gives a Gaussian-like falloff of that width (fraction of the radius) inside the
    rim instead of a hard anti-aliased edge.
    """
    if disks.x.size == 0:
        return
    for half, idx in _groups(disks.r):
        cx, cy, r = disks.x[idx] - x0, disks.y[idx] - y0, disks.r[idx][:, None, None]
        dx, dy, rows, cols = _patch_grid(cx, cy, half)
        d = np.sqrt(dx * dx + dy * dy)
        if soft > 0:
            val = np.clip((r - d) / (soft * r), 0.0, 1.0) ** 2
        else:
            val = np.clip(r - d + 0.5, 0.0, 1.0)
        _scatter_max(target, rows, cols, val.astype(np.float32))
