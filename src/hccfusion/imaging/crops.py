"""Fixed-size multi-phase crops for the imaging encoders: one crop centred on each lesion
(:func:`lesion_crops`) and the liver's bounding box plus a margin (:func:`liver_crop`), every phase
resampled onto an isotropic LPS-aligned grid and scaled to [0, 1] (CT windowed, MR normalised).

Only the crop's own grid is resampled: SimpleITK evaluates the interpolator at the output voxels,
so a 64 mm crop of a 512 × 512 × 120 volume costs a 64 mm crop, never the whole volume. The
argument checks are shared with :mod:`hccfusion.imaging.preprocess` (which re-exports these
names) and imported from it inside the functions, as that module imports this one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import UsageError, unknown_option

if TYPE_CHECKING:
    import SimpleITK


@dataclass(frozen=True)
class LesionCrops:
    """Fixed-size multi-phase crops centred on each lesion.

    Attributes
    ----------
    arrays : numpy.ndarray
        float32 ``[n_lesions, n_phases, Z, Y, X]`` in [0, 1] (CT windowed, MR normalised).
    labels : tuple of int
        The lesion label of each crop.
    centroids_mm : numpy.ndarray
        ``[n_lesions, 3]`` lesion centroids (x, y, z LPS mm), the crops' centres.
    phases : tuple of str
        Phase of each channel.
    spacing_mm : float
        Isotropic voxel size of the crops (mm).
    """

    arrays: np.ndarray
    labels: tuple[int, ...]
    centroids_mm: np.ndarray
    phases: tuple[str, ...]
    spacing_mm: float


def _crop_grid(centre_mm: np.ndarray, size_mm: Sequence[float], spacing_mm: float) -> tuple[list[int], list[float]]:
    """Size (voxels) and origin (LPS mm, identity direction) of a crop centred on ``centre_mm``."""
    size = [max(1, int(round(s / spacing_mm))) for s in size_mm]
    origin = [c - (n - 1) * spacing_mm / 2 for c, n in zip(centre_mm, size)]
    return size, origin


def _intensity(image: SimpleITK.Image, modality: str) -> tuple[float, float]:
    """(offset, scale) mapping the phase to [0, 1]: a soft-tissue window for CT, the 1st–99th
    percentiles of the whole volume (every 4th voxel) for MR."""
    import SimpleITK as sitk

    if modality == "CT":
        return 60.0 - 200.0, 400.0
    sample = sitk.GetArrayViewFromImage(image)[::2, ::4, ::4]
    low, high = np.percentile(sample, [1.0, 99.0])
    return float(low), max(float(high - low), 1e-6)


def _phase_crops(images: Mapping[str, SimpleITK.Image], phases: Sequence[str], modality: str, *,
                 size: list[int], origin: list[float], spacing_mm: float,
                 scales: Mapping[str, tuple[float, float]]) -> np.ndarray:
    import SimpleITK as sitk

    from hccfusion.imaging.preprocess import AIR_HU

    channels = []
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    for phase in phases:
        image = images[phase]
        outside = AIR_HU if modality == "CT" else 0.0
        crop = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, origin, (spacing_mm,) * 3, identity,
                             outside, sitk.sitkFloat32)
        offset, scale = scales[phase]
        channels.append(np.clip((sitk.GetArrayViewFromImage(crop) - offset) / scale, 0.0, 1.0))
    return np.stack(channels).astype(np.float32)


def _check_phases(images: Mapping[str, SimpleITK.Image], phases: Sequence[str], modality: str, function: str) -> None:
    from hccfusion.imaging.preprocess import MODALITIES, _check_image

    if modality not in MODALITIES:
        raise unknown_option("modality", str(modality), MODALITIES)
    if not phases:
        raise UsageError(f"The 'phases' parameter of {function} must name at least one phase. Got {phases!r} instead.")
    for phase in phases:
        if phase not in images:
            raise unknown_option("phase", str(phase), tuple(images))
        _check_image(images[phase], parameter=f"images['{phase}']", function=function)


def lesion_crops(
    images: Mapping[str, SimpleITK.Image],
    labels: SimpleITK.Image,
    *,
    size_mm: Sequence[float] = (64.0, 64.0, 64.0),
    spacing_mm: float = 1.0,
    phases: Sequence[str],
    modality: str = "CT",
) -> LesionCrops:
    """One fixed-size multi-phase crop centred on each lesion's centroid, for a 3D encoder.

    Parameters
    ----------
    images : mapping of str to SimpleITK.Image
        Phase → image, all in the same physical frame (see ``registration.align_phases``).
    labels : SimpleITK.Image
        Lesion label map in that frame (any grid).
    size_mm : sequence of 3 floats
        Crop extent (mm, x y z).
    spacing_mm : float
        Isotropic output spacing (mm).
    phases : sequence of str
        Phases to stack, in channel order.
    modality : {"CT", "MR"}
        CT: windowed (level 60, width 400 HU); MR: 1st–99th percentile of each whole phase.

    Returns
    -------
    LesionCrops
        Arrays ``[n_lesions, n_phases, Z, Y, X]`` on an LPS-aligned grid; lesions in label order.
    """
    import SimpleITK as sitk

    from hccfusion.imaging.preprocess import _check_image, _spacing3

    _check_phases(images, phases, modality, "lesion_crops")
    _check_image(labels, parameter="labels", function="lesion_crops")
    spacing = _spacing3(spacing_mm, function="lesion_crops")[0]
    if len(tuple(size_mm)) != 3 or not all(s > 0 for s in size_mm):
        raise UsageError(f"The 'size_mm' parameter of lesion_crops must be three positive numbers (mm). "
                         f"Got {size_mm!r} instead.")
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(sitk.Cast(labels, sitk.sitkUInt32))
    found = tuple(int(k) for k in stats.GetLabels())
    scales = {phase: _intensity(images[phase], modality) for phase in phases}
    centroids = np.array([stats.GetCentroid(k) for k in found], dtype=float).reshape(len(found), 3)
    crops = []
    for centre in centroids:
        size, origin = _crop_grid(centre, size_mm, spacing)
        crops.append(_phase_crops(images, phases, modality, size=size, origin=origin, spacing_mm=spacing,
                                  scales=scales))
    shape = (0, len(phases), *(max(1, int(round(s / spacing))) for s in reversed(tuple(size_mm))))
    arrays = np.stack(crops) if crops else np.zeros(shape, dtype=np.float32)
    return LesionCrops(arrays=arrays, labels=found, centroids_mm=centroids, phases=tuple(phases), spacing_mm=spacing)


@dataclass(frozen=True)
class LiverCrop:
    """The liver's bounding box (plus margin), every phase resampled to an isotropic grid.

    Attributes
    ----------
    arrays : numpy.ndarray
        float32 ``[n_phases, Z, Y, X]`` in [0, 1].
    mask : numpy.ndarray
        bool ``[Z, Y, X]``, the liver on the same grid.
    origin_mm : tuple of float
        Centre of the first voxel (x, y, z LPS mm); the grid's direction is the identity.
    spacing_mm : float
    phases : tuple of str
    """

    arrays: np.ndarray
    mask: np.ndarray
    origin_mm: tuple[float, float, float]
    spacing_mm: float
    phases: tuple[str, ...]


def liver_crop(
    images: Mapping[str, SimpleITK.Image],
    liver_mask: SimpleITK.Image,
    *,
    spacing_mm: float = 1.5,
    margin_mm: float = 10.0,
    phases: Sequence[str],
    modality: str = "CT",
) -> LiverCrop:
    """Crop every phase to the liver's bounding box plus a margin on an isotropic grid.

    Parameters
    ----------
    images : mapping of str to SimpleITK.Image
        Phase → image, in one physical frame.
    liver_mask : SimpleITK.Image
        Non-zero inside the liver.
    spacing_mm : float
        Isotropic output spacing (mm).
    margin_mm : float
        Margin around the liver (mm).
    phases : sequence of str
    modality : {"CT", "MR"}

    Returns
    -------
    LiverCrop
    """
    import SimpleITK as sitk

    from hccfusion.imaging.preprocess import _bounding_box, _check_image, _spacing3

    _check_phases(images, phases, modality, "liver_crop")
    _check_image(liver_mask, parameter="liver_mask", function="liver_crop")
    spacing = _spacing3(spacing_mm, function="liver_crop")[0]
    start, size = _bounding_box(liver_mask, None, "liver_crop")
    corners = [liver_mask.TransformContinuousIndexToPhysicalPoint(
        [a - 0.5 + b * c for a, b, c in zip(start, size, pick)]) for pick in np.ndindex(2, 2, 2)]
    low = np.min(corners, axis=0) - margin_mm
    high = np.max(corners, axis=0) + margin_mm
    extent = high - low
    grid, origin = _crop_grid((low + high) / 2, extent.tolist(), spacing)
    scales = {phase: _intensity(images[phase], modality) for phase in phases}
    arrays = _phase_crops(images, phases, modality, size=grid, origin=origin, spacing_mm=spacing, scales=scales)
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    mask = sitk.Resample(sitk.Cast(liver_mask != 0, sitk.sitkUInt8), grid, sitk.Transform(), sitk.sitkNearestNeighbor,
                         origin, (spacing,) * 3, identity, 0, sitk.sitkUInt8)
    return LiverCrop(arrays=arrays, mask=sitk.GetArrayFromImage(mask).astype(bool),
                     origin_mm=tuple(float(o) for o in origin), spacing_mm=spacing, phases=tuple(phases))
