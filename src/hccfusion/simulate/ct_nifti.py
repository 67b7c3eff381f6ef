"""Write simulated volumes as NIfTI-1 (``.nii.gz``) with the scanner affine."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from hccfusion.simulate.ct_grid import CtGrid


def nifti_affine(*, grid: CtGrid) -> np.ndarray:
    """The voxel-to-RAS affine (mm) of an axial LPS grid, shape ``(4, 4)``.

    NIfTI world coordinates are RAS, DICOM's are LPS: the x and y rows change sign.
    """
    affine = np.diag([-grid.spacing_mm[0], -grid.spacing_mm[1], grid.spacing_mm[2], 1.0])
    affine[:3, 3] = [-grid.origin_mm[0], -grid.origin_mm[1], grid.origin_mm[2]]
    return affine


def write_nifti(*, path: Path, volume_zyx: np.ndarray, grid: CtGrid, description: str) -> None:
    """Write a volume indexed ``[z, y, x]`` to ``path`` (``.nii.gz``).

    Parameters
    ----------
    path : pathlib.Path
        Output file, gzip-compressed (``.nii.gz``) with a zero timestamp so that the same volume
        always gives the same bytes.
    volume_zyx : numpy.ndarray
        Shape ``grid.shape_zyx``; stored with its own dtype (int16 HU, uint8 masks) and no
        scaling.
    grid : CtGrid
    description : str
        Written to the header's ``descrip`` field (at most 79 characters).
    """
    import nibabel as nib

    if volume_zyx.shape != grid.shape_zyx:
        raise ValueError(f"volume shape {volume_zyx.shape} does not match the grid {grid.shape_zyx}")
    affine = nifti_affine(grid=grid)
    image = nib.Nifti1Image(volume_zyx.transpose(2, 1, 0), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    header = image.header
    header.set_xyzt_units(xyz="mm")
    header.set_slope_inter(1.0, 0.0)
    header["descrip"] = description[:79].encode("ascii", "replace")
    path.write_bytes(gzip.compress(image.to_bytes(), compresslevel=4, mtime=0))
