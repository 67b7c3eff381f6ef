"""The voxel grid of a simulated CT exam.

Coordinates are DICOM patient coordinates (LPS, mm): +x towards the patient's left, +y
posterior, +z superior. The series is axial with identity direction cosines; arrays are indexed
``[z, y, x]`` (SimpleITK's ``GetArrayFromImage`` order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from hccfusion.simulate.ct_center import CenterProfile

SMALL_SHAPE_XYZ = (96, 96, 24)
SMALL_SPACING_MM = (4.0, 4.0, 8.0)
SMALL_NOISE_FACTOR = 0.5
FULL_MATRIX = 512
FULL_FIELD_OF_VIEW_Z_MM = 240.0
TOP_SLICE_Z_MM = {"small": 92.0, "full": 100.0}


@dataclass(frozen=True)
class CtGrid:
    """An axial voxel grid.

    Attributes
    ----------
    shape_xyz : tuple of int
        Number of voxels along x, y, z (SimpleITK ``GetSize`` / nibabel order).
    spacing_mm : tuple of float
        Voxel spacing along x, y, z (mm).
    origin_mm : tuple of float
        LPS position (mm) of the centre of voxel ``[0, 0, 0]``.
    noise_factor : float
        Image noise relative to the centre's clinical protocol on this grid (the small grid is
        imaged at a higher virtual dose, so its files stay small).
    """

    shape_xyz: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    noise_factor: float = 1.0

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """Array shape ``(nz, ny, nx)``."""
        nx, ny, nz = self.shape_xyz
        return (nz, ny, nx)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel (mL)."""
        return float(np.prod(self.spacing_mm)) / 1000.0

    def axis_mm(self, axis: int) -> np.ndarray:
        """LPS coordinates (mm) of the voxel centres along ``axis`` (0 = x, 1 = y, 2 = z), shape ``(n,)``."""
        n = self.shape_xyz[axis]
        return self.origin_mm[axis] + self.spacing_mm[axis] * np.arange(n, dtype=np.float64)

    def index_range(self, *, axis: int, low_mm: float, high_mm: float) -> tuple[int, int]:
        """Half-open index range of the voxel centres that lie within ``[low_mm, high_mm]`` on ``axis``."""
        n = self.shape_xyz[axis]
        start = np.clip(np.ceil((low_mm - self.origin_mm[axis]) / self.spacing_mm[axis]), 0, n)
        stop = np.clip(np.floor((high_mm - self.origin_mm[axis]) / self.spacing_mm[axis]) + 1, 0, n)
        return (int(start), int(stop))


def ct_grid(*, size: Literal["small", "full"], profile: CenterProfile) -> CtGrid:
    """The grid of an exam of the given size at a centre.

    ``small`` is 96 × 96 × 24 voxels of 4 × 4 × 8 mm (384 × 384 × 192 mm, liver to kidneys) at
    every centre, with half the clinical noise: a coarse grid for tests and the demo on which a
    10 mm lesion still covers whole voxels and an exam takes about 0.3 MB in both formats.
    ``full`` is a 512 × 512 matrix with the centre's pixel size and slice spacing over a 240 mm
    long abdomen (120–200 slices) and the clinical noise.
    """
    if size == "small":
        shape, spacing, noise_factor = SMALL_SHAPE_XYZ, SMALL_SPACING_MM, SMALL_NOISE_FACTOR
    else:
        nz = int(round(FULL_FIELD_OF_VIEW_Z_MM / profile.full_slice_mm))
        shape = (FULL_MATRIX, FULL_MATRIX, nz)
        spacing = (profile.full_pixel_mm, profile.full_pixel_mm, profile.full_slice_mm)
        noise_factor = 1.0
    origin = (
        -(shape[0] - 1) / 2.0 * spacing[0],
        -(shape[1] - 1) / 2.0 * spacing[1],
        TOP_SLICE_Z_MM[size] - (shape[2] - 1) * spacing[2],
    )
    return CtGrid(shape_xyz=shape, spacing_mm=spacing, origin_mm=origin, noise_factor=noise_factor)  # type: ignore[arg-type]
