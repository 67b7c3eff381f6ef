"""Smooth random fields over a whole slide that can be evaluated on any region.

A field is a coarse grid of standard-normal values interpolated with cubic B-spline weights.
Interpolation is separable, so a region is ``Wy @ G @ Wx.T`` — two small matrix products — and
the value at a pixel does not depend on which region it is rendered in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _bspline(t: np.ndarray) -> np.ndarray:
    """Cubic B-spline kernel, support (-2, 2)."""
    a = np.abs(t)
    out = np.where(a < 1.0, 2.0 / 3.0 - a**2 + 0.5 * a**3, 0.0)
    return np.where((a >= 1.0) & (a < 2.0), (2.0 - a) ** 3 / 6.0, out)


# Var of a B-spline interpolant of unit-variance white knots at a knot: (1/6)^2*2 + (2/3)^2.
# Dividing by the mean over a cell keeps the field close to unit variance everywhere.
_BSPLINE_STD = float(np.sqrt(np.mean([np.sum(_bspline(np.arange(-2, 3) - f) ** 2)
                                      for f in np.linspace(0, 1, 16, endpoint=False)])))


@dataclass(frozen=True)
class SmoothField:
    """A smooth, approximately standard-normal random field.

    Attributes
    ----------
    grid : numpy.ndarray
        Knot values, shape (ny, nx), float32.
    spacing_x, spacing_y : float
        Knot spacing (level-0 px) along x and y; unequal spacings give streaks.
    """

    grid: np.ndarray
    spacing_x: float
    spacing_y: float

    @classmethod
    def random(
        cls,
        *,
        rng: np.random.Generator,
        width: int,
        height: int,
        spacing_x: float,
        spacing_y: float | None = None,
    ) -> SmoothField:
        """Draw a field covering a ``width`` × ``height`` px slide."""
        sy = spacing_x if spacing_y is None else spacing_y
        nx = int(np.ceil(width / spacing_x)) + 4
        ny = int(np.ceil(height / sy)) + 4
        grid = rng.standard_normal((ny, nx)).astype(np.float32)
        return cls(grid=grid, spacing_x=spacing_x, spacing_y=sy)

    @staticmethod
    def _taps(start: int, n: int, spacing: float, n_knots: int) -> tuple[np.ndarray, np.ndarray]:
        """First knot (n,) and the 4 B-spline weights (n, 4) of each pixel centre on an axis."""
        pos = (np.arange(start, start + n, dtype=np.float64) + 0.5) / spacing + 1.0
        first = np.floor(pos).astype(np.int64) - 1
        weights = _bspline(pos[:, None] - (first[:, None] + np.arange(4)[None, :]))
        return np.clip(first, 0, n_knots - 4), weights

    def region(self, *, x0: int, y0: int, width: int, height: int) -> np.ndarray:
        """Field values on a region, shape (height, width), float32."""
        ny, nx = self.grid.shape
        kx, wx = self._taps(x0, width, self.spacing_x, nx)
        ky, wy = self._taps(y0, height, self.spacing_y, ny)
        cx0, cx1 = int(kx.min()), int(kx.max()) + 4
        # y pass: 4 weighted knot rows per output row, restricted to the knot columns in use
        sub = self.grid[:, cx0:cx1]
        wy = wy.astype(np.float32)
        rows = sum(wy[:, d, None] * sub[ky + d] for d in range(4))
        n_cols = cx1 - cx0
        if n_cols > 256:
            # fine field: 4-tap gather along x
            cols = kx - cx0
            wx = wx.astype(np.float32)
            out = sum(rows[:, cols + d] * wx[None, :, d] for d in range(4))
        else:
            # coarse field: a small dense weight matrix and one matrix product
            dense = np.zeros((width, n_cols), dtype=np.float32)
            for d in range(4):
                dense[np.arange(width), kx - cx0 + d] = wx[:, d]
            out = rows @ dense.T
        return out * np.float32(1.0 / _BSPLINE_STD)

    def at(self, *, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Field values at scattered points (px), shape of ``x``."""
        px = np.asarray(x, dtype=np.float64) / self.spacing_x + 1.0
        py = np.asarray(y, dtype=np.float64) / self.spacing_y + 1.0
        ix = np.floor(px).astype(np.int64)
        iy = np.floor(py).astype(np.int64)
        ny, nx = self.grid.shape
        wx = [_bspline(px - (ix + dx)) for dx in range(-1, 3)]
        out = np.zeros(px.shape, dtype=np.float64)
        for dy in range(-1, 3):
            wy = _bspline(py - (iy + dy))
            jy = np.clip(iy + dy, 0, ny - 1)
            for dx in range(-1, 3):
                out += wy * wx[dx + 1] * self.grid[jy, np.clip(ix + dx, 0, nx - 1)]
        return out / _BSPLINE_STD
