"""From tissue codes to a CT image: partial volume, kernel blur, centre offset, noise, HU integers."""

from __future__ import annotations

import numpy as np

from hccfusion.simulate.ct_center import REFERENCE_VOXEL_MM3, CenterProfile
from hccfusion.simulate.ct_grid import CtGrid

HU_MIN, HU_MAX = -1024, 3071
_BOX_STD = 1.0 / np.sqrt(12.0)
_MIN_FILTER_SIGMA = 0.3


def noise_sd_hu(*, profile: CenterProfile, grid: CtGrid) -> float:
    """Noise standard deviation (HU) of the centre's scanner on this grid.

    Scales as ``1/sqrt(voxel volume)`` from the profile's reference voxel, times the grid's
    ``noise_factor``.
    """
    voxel_mm3 = float(np.prod(grid.spacing_mm))
    return profile.noise_ref_hu * grid.noise_factor * float(np.sqrt(REFERENCE_VOXEL_MM3 / voxel_mm3))


def _blur(volume: np.ndarray, sigma_voxels_zyx: tuple[float, float, float]) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    sigma = tuple(s if s >= _MIN_FILTER_SIGMA else 0.0 for s in sigma_voxels_zyx)
    if not any(sigma):
        return volume
    return gaussian_filter(volume, sigma=sigma, mode="nearest", truncate=3.0)


def _correlated_noise(shape: tuple[int, ...], sigma_voxels_zyx: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian noise, correlated by the reconstruction kernel."""
    white = rng.standard_normal(size=shape, dtype=np.float32)
    sigma = tuple(s if s >= _MIN_FILTER_SIGMA else 0.0 for s in sigma_voxels_zyx)
    if not any(sigma):
        return white
    from scipy.ndimage import gaussian_filter

    impulse = np.zeros((15, 15, 15), dtype=np.float64)
    impulse[7, 7, 7] = 1.0
    gain = float(np.sqrt((gaussian_filter(impulse, sigma=sigma, mode="constant", truncate=3.0) ** 2).sum()))
    noise = gaussian_filter(white, sigma=sigma, mode="nearest", truncate=3.0)
    noise /= gain
    return noise


def synthesize_image(
    *,
    codes: np.ndarray,
    table: np.ndarray,
    body: np.ndarray,
    grid: CtGrid,
    profile: CenterProfile,
    rng: np.random.Generator,
) -> np.ndarray:
    """One phase's image in HU.

    Parameters
    ----------
    codes : numpy.ndarray
        Tissue codes, uint8, shape ``grid.shape_zyx``.
    table : numpy.ndarray
        HU of each code, shape ``(256,)``.
    body : numpy.ndarray
        Boolean body mask, shape ``grid.shape_zyx``: noise and the centre's HU offset apply
        inside it (the air around the patient stays a clean -1000 HU, which also keeps the files
        small).
    grid : CtGrid
    profile : CenterProfile
        Kernel blur, noise level and HU offset.
    rng : numpy.random.Generator
        Noise stream of this exam and phase.

    Returns
    -------
    numpy.ndarray
        int16 HU clipped to [-1024, 3071], shape ``grid.shape_zyx``.
    """
    spacing_zyx = grid.spacing_mm[::-1]
    # Voxel averaging (a box of one voxel, SD spacing/sqrt(12)) combined with the kernel's PSF.
    blur = tuple(float(np.hypot(profile.kernel_blur_mm, _BOX_STD * s)) / s for s in spacing_zyx)
    image = _blur(table[codes], blur)  # type: ignore[arg-type]
    kernel = tuple(profile.kernel_blur_mm / s for s in spacing_zyx)
    noise = _correlated_noise(codes.shape, kernel, rng)  # type: ignore[arg-type]
    image += np.where(body, noise * np.float32(noise_sd_hu(profile=profile, grid=grid)) + np.float32(profile.hu_offset), np.float32(0.0))
    np.rint(image, out=image)
    np.clip(image, HU_MIN, HU_MAX, out=image)
    return image.astype(np.int16)
