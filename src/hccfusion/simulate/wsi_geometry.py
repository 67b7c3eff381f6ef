"""Geometry of simulated needle-core biopsies: slide size and slightly curved tissue cores.

A core is a long thin band along the slide's x axis. Its centre line and half-width are smooth
functions of x (sums of a few sinusoids), so the tissue mask can be evaluated at any pixel of
any region without a global raster, and its outline is a polygon sampled from the same functions.
All coordinates are level-0 pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

TILE_PX = 256
"""Side of the TIFF tiles (px); slide dimensions are multiples of it."""

# `small` keeps fixed pixel dimensions (the budget is per pixel, whatever the mpp), `full` is a
# realistic slide in physical units.
_SMALL_SLIDE_PX = (4096, 1536)
_SMALL_CORE_LENGTH_PX = (3300.0, 3700.0)
_SMALL_CORE_WIDTH_PX = (300.0, 360.0)
_FULL_SLIDE_UM = (20_000.0, 5_000.0)
_FULL_CORE_LENGTH_UM = (10_000.0, 15_000.0)
_FULL_CORE_WIDTH_UM = (800.0, 1_200.0)


@dataclass(frozen=True)
class CoreGeometry:
    """One tissue core, in level-0 pixels.

    Attributes
    ----------
    x_start, x_end : float
        Extent of the core along x (px).
    y_mid : float
        Mean y of the centre line (px).
    tilt : float
        Slope of the centre line (px per px).
    bend_amp, bend_freq, bend_phase : tuple of float
        Sinusoidal bends of the centre line: amplitude (px), cycles over the core length, phase
        (rad).
    half_width : float
        Mean half-width of the core (px).
    rag_amp, rag_freq, rag_phase : tuple of float
        Relative ragged-edge modulation of the half-width: amplitude (fraction), cycles over the
        core length, phase (rad).
    """

    x_start: float
    x_end: float
    y_mid: float
    tilt: float
    bend_amp: tuple[float, ...]
    bend_freq: tuple[float, ...]
    bend_phase: tuple[float, ...]
    half_width: float
    rag_amp: tuple[float, ...]
    rag_freq: tuple[float, ...]
    rag_phase: tuple[float, ...]

    @property
    def length(self) -> float:
        """Core length along x (px)."""
        return self.x_end - self.x_start

    def _phase(self, x: np.ndarray) -> np.ndarray:
        return 2.0 * np.pi * (x - self.x_start) / self.length

    def centre_y(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre-line y (px) and its slope dy/dx at the given x, shape of ``x``."""
        t = self._phase(x)
        y = self.y_mid + self.tilt * (x - 0.5 * (self.x_start + self.x_end))
        dy = np.full_like(t, self.tilt)
        for a, f, p in zip(self.bend_amp, self.bend_freq, self.bend_phase, strict=True):
            y = y + a * np.sin(f * t + p)
            dy = dy + a * f * 2.0 * np.pi / self.length * np.cos(f * t + p)
        return y, dy

    def local_half_width(self, x: np.ndarray) -> np.ndarray:
        """Half-width (px) at x, zero outside the core, with rounded ends; shape of ``x``."""
        t = self._phase(x)
        rel = np.ones_like(t)
        for a, f, p in zip(self.rag_amp, self.rag_freq, self.rag_phase, strict=True):
            rel = rel + a * np.sin(f * t + p)
        hw = self.half_width * rel
        end = np.clip(np.minimum(x - self.x_start, self.x_end - x) / self.half_width, 0.0, 1.0)
        return hw * np.sqrt(1.0 - (1.0 - end) ** 2)

    def mask(self, *, x0: int, y0: int, width: int, height: int) -> np.ndarray:
        """Anti-aliased tissue membership in [0, 1] over a region, shape (height, width), float32."""
        xs = np.arange(x0, x0 + width, dtype=np.float64) + 0.5
        ys = np.arange(y0, y0 + height, dtype=np.float64) + 0.5
        cy, slope = self.centre_y(xs)
        hw = self.local_half_width(xs)
        inv = (1.0 / np.sqrt(1.0 + slope**2)).astype(np.float32)[None, :]
        dist = np.abs(ys.astype(np.float32)[:, None] - cy.astype(np.float32)[None, :]) * inv
        hw32 = hw.astype(np.float32)[None, :]
        inside = np.clip(hw32 + np.float32(0.5) - dist, 0.0, 1.0)
        inside[:, hw <= 0.0] = 0.0
        return inside

    def contains(self, *, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether points (px) lie inside the core, boolean array of the points' shape."""
        cy, slope = self.centre_y(x)
        return np.abs(y - cy) / np.sqrt(1.0 + slope**2) < self.local_half_width(x)

    def touches(self, *, x0: int, y0: int, width: int, height: int) -> bool:
        """Whether the core may cover any pixel of a region (conservative, 2 px slack)."""
        lo, hi = max(x0, self.x_start), min(x0 + width, self.x_end)
        if lo >= hi:
            return False
        xs = np.linspace(lo, hi, max(2, int((hi - lo) / 8.0) + 2))
        cy, slope = self.centre_y(xs)
        reach = self.local_half_width(xs) * np.sqrt(1.0 + slope**2) + 10.0
        return bool(np.any((cy + reach > y0) & (cy - reach < y0 + height)))

    def bbox(self) -> tuple[int, int, int, int]:
        """Bounding box ``(x0, y0, x1, y1)`` in px (exclusive end), slightly padded."""
        xs = np.linspace(self.x_start, self.x_end, 512)
        cy, _ = self.centre_y(xs)
        reach = self.half_width * (1.0 + sum(self.rag_amp)) + 2.0
        return (
            int(np.floor(self.x_start)) - 1,
            int(np.floor(cy.min() - reach)),
            int(np.ceil(self.x_end)) + 1,
            int(np.ceil(cy.max() + reach)),
        )

    def polygon(self) -> list[list[float]]:
        """Closed outline as ``[[x, y], ...]`` (px): upper edge left to right, lower edge back.

        Sampled every half_width / 16 px; the outline lies within about 1 px of the mask edge.
        """
        step = max(2.0, self.half_width / 16.0)
        n = int(np.ceil(self.length / step)) + 1
        # the rounded ends bend fast: add samples spaced evenly in angle there
        cap = self.half_width * (1.0 - np.cos(np.linspace(0.0, np.pi / 2, 24)))
        xs = np.unique(np.concatenate([
            np.linspace(self.x_start, self.x_end, n), self.x_start + cap, self.x_end - cap,
        ]))
        cy, slope = self.centre_y(xs)
        off = self.local_half_width(xs) * np.sqrt(1.0 + slope**2)
        upper = np.stack([xs, cy - off], axis=1)
        lower = np.stack([xs, cy + off], axis=1)[::-1]
        pts = np.concatenate([upper, lower[1:-1]], axis=0)
        return np.round(pts, 1).tolist()


def slide_dimensions(*, size: Literal["small", "full"], mpp: float) -> tuple[int, int]:
    """Level-0 slide size ``(width, height)`` in px, multiples of :data:`TILE_PX`."""
    if size == "small":
        return _SMALL_SLIDE_PX
    w = int(np.ceil(_FULL_SLIDE_UM[0] / mpp / TILE_PX)) * TILE_PX
    h = int(np.ceil(_FULL_SLIDE_UM[1] / mpp / TILE_PX)) * TILE_PX
    return w, h


def layout_cores(
    *,
    rng: np.random.Generator,
    size: Literal["small", "full"],
    mpp: float,
    slide_width: int,
    slide_height: int,
) -> tuple[CoreGeometry, ...]:
    """Place one or two cores along the slide, stacked in y without touching.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    size : {"small", "full"}
        Slide size class; sets the core dimensions.
    mpp : float
        Level-0 resolution (µm/px), used for the physical dimensions of ``full`` cores.
    slide_width, slide_height : int
        Slide size (px).

    Returns
    -------
    tuple of CoreGeometry
        One or two cores, top to bottom.
    """
    if size == "small":
        lengths, widths = _SMALL_CORE_LENGTH_PX, _SMALL_CORE_WIDTH_PX
    else:
        lengths = tuple(v / mpp for v in _FULL_CORE_LENGTH_UM)
        widths = tuple(v / mpp for v in _FULL_CORE_WIDTH_UM)
    n_cores = 1 + int(rng.random() < 0.5)
    band = slide_height / n_cores
    cores = []
    for i in range(n_cores):
        length = float(rng.uniform(*lengths))
        half_width = float(rng.uniform(*widths)) / 2.0
        x_start = float(rng.uniform(0.03, 0.97 - length / slide_width) * slide_width)
        n_bends = 2
        bend_amp = tuple(float(a) for a in rng.uniform(0.1, 0.35, n_bends) * half_width)
        # free room in the band after the core, its bends and its ragged edge
        room = band / 2.0 - half_width * 1.25 - sum(bend_amp) - 0.03 * slide_height
        tilt_room = max(room, 0.0) * 0.5
        tilt = float(rng.uniform(-1.0, 1.0) * tilt_room / (length / 2.0))
        y_jitter = float(rng.uniform(-1.0, 1.0) * max(room - tilt_room, 0.0))
        cores.append(
            CoreGeometry(
                x_start=x_start,
                x_end=x_start + length,
                y_mid=band * (i + 0.5) + y_jitter,
                tilt=tilt,
                bend_amp=bend_amp,
                bend_freq=tuple(float(f) for f in rng.uniform(0.4, 1.6, n_bends)),
                bend_phase=tuple(float(p) for p in rng.uniform(0, 2 * np.pi, n_bends)),
                half_width=half_width,
                rag_amp=tuple(float(a) for a in rng.uniform(0.02, 0.07, 3)),
                rag_freq=tuple(
                    float(f) for f in length / half_width / rng.uniform(2.0, 8.0, 3)
                ),
                rag_phase=tuple(float(p) for p in rng.uniform(0, 2 * np.pi, 3)),
            )
        )
    return tuple(cores)
