"""Volume preprocessing with SimpleITK: reorientation, isotropic resampling, cropping to a label,
HU windowing and MR intensity normalisation. The fixed-size multi-phase crops around each lesion
and the liver are in :mod:`hccfusion.imaging.crops` (``LesionCrops``, ``lesion_crops``,
``LiverCrop`` and ``liver_crop`` are importable from here too).

Every function takes and returns ``SimpleITK.Image`` objects (physical frame: LPS mm) or numpy
arrays indexed ``[z, y, x]`` as ``SimpleITK.GetArrayFromImage`` gives them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import UsageError, unknown_option
from hccfusion.imaging.crops import LesionCrops, LiverCrop, lesion_crops, liver_crop  # noqa: F401 - re-exported

if TYPE_CHECKING:
    import SimpleITK

INTERPOLATORS = ("bspline", "linear", "nearest")
MODALITIES = ("CT", "MR")
AIR_HU = -1024.0


def _sitk_interpolator(name: str) -> int:
    import SimpleITK as sitk

    if name not in INTERPOLATORS:
        raise unknown_option("interpolator", str(name), INTERPOLATORS)
    return {"bspline": sitk.sitkBSpline, "linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor}[name]


def _check_image(value: object, *, parameter: str, function: str) -> None:
    import SimpleITK as sitk

    if not isinstance(value, sitk.Image) or value.GetDimension() != 3:
        raise UsageError(f"The '{parameter}' parameter of {function} must be a 3D SimpleITK.Image. "
                         f"Got {type(value).__name__} instead.")


def _spacing3(spacing_mm: float | Sequence[float], *, function: str) -> tuple[float, float, float]:
    values = (spacing_mm,) * 3 if isinstance(spacing_mm, (int, float)) else tuple(spacing_mm)
    if len(values) != 3 or not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values):
        raise UsageError(f"The 'spacing_mm' parameter of {function} must be a positive number or three of them "
                         f"(x, y, z mm). Got {spacing_mm!r} instead.")
    return tuple(float(v) for v in values)  # type: ignore[return-value]


def reorient(image: SimpleITK.Image, *, orientation: str = "LPS") -> SimpleITK.Image:
    """Permute and flip the axes so that they run along ``orientation`` (no interpolation).

    Parameters
    ----------
    image : SimpleITK.Image
    orientation : str
        Three letters, one of R/L, A/P, S/I each, e.g. ``"LPS"`` (DICOM) or ``"RAS"``.

    Returns
    -------
    SimpleITK.Image
        The same voxels and physical positions with the direction matrix of ``orientation``.
    """
    import SimpleITK as sitk

    _check_image(image, parameter="image", function="reorient")
    letters = str(orientation).upper()
    if len(letters) != 3 or any(sum(c in axis for c in letters) != 1 for axis in ("RL", "AP", "SI")):
        raise UsageError(f"The 'orientation' parameter of reorient must be three letters with one of R/L, "
                         f"A/P and S/I each, such as 'LPS' or 'RAS'. Got {orientation!r} instead.")
    return sitk.DICOMOrient(image, letters)


def resample(
    image: SimpleITK.Image,
    *,
    spacing_mm: float | Sequence[float] = 1.0,
    interpolator: str = "bspline",
    reference: SimpleITK.Image | None = None,
    default_value: float = AIR_HU,
) -> SimpleITK.Image:
    """Resample to a (by default isotropic) spacing, keeping the physical extent, or onto a
    reference grid.

    Parameters
    ----------
    image : SimpleITK.Image
    spacing_mm : float or sequence of 3 floats
        Output spacing (mm, x y z); ignored when ``reference`` is given.
    interpolator : {"bspline", "linear", "nearest"}
        ``nearest`` for label maps and masks.
    reference : SimpleITK.Image, optional
        Resample onto this image's grid (size, spacing, origin, direction).
    default_value : float
        Value outside the input (HU of air for CT; use 0 for labels).

    Returns
    -------
    SimpleITK.Image
        Same pixel type as ``image``. Without a reference, the output covers the input's
        physical extent (its first voxel's outer corner coincides with the input's) with
        ``round(size × spacing / spacing_mm)`` voxels per axis.
    """
    import SimpleITK as sitk

    _check_image(image, parameter="image", function="resample")
    method = _sitk_interpolator(interpolator)
    if reference is not None:
        _check_image(reference, parameter="reference", function="resample")
        return sitk.Resample(image, reference, sitk.Transform(), method, float(default_value), image.GetPixelID())
    new_spacing = np.array(_spacing3(spacing_mm, function="resample"))
    old_spacing = np.array(image.GetSpacing())
    new_size = [max(1, int(round(n * s / t))) for n, s, t in zip(image.GetSize(), old_spacing, new_spacing)]
    direction = np.array(image.GetDirection()).reshape(3, 3)
    # Keep the outer corner of the first voxel where it was.
    corner = np.array(image.GetOrigin()) - direction @ (old_spacing / 2)
    origin = corner + direction @ (new_spacing / 2)
    return sitk.Resample(image, new_size, sitk.Transform(), method, origin.tolist(), new_spacing.tolist(),
                         image.GetDirection(), float(default_value), image.GetPixelID())


def _bounding_box(labels: SimpleITK.Image, label: int | None, function: str) -> tuple[list[int], list[int]]:
    import SimpleITK as sitk

    mask = labels != 0 if label is None else labels == int(label)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(sitk.Cast(mask, sitk.sitkUInt8))
    if 1 not in stats.GetLabels():
        what = "any non-zero label" if label is None else f"label {label}"
        raise UsageError(f"The 'labels' parameter of {function} must contain {what}. Got an empty mask instead.")
    box = stats.GetBoundingBox(1)
    return list(box[:3]), list(box[3:])


def crop_to_label(
    image: SimpleITK.Image, labels: SimpleITK.Image, *, label: int | None = None, margin_mm: float = 10.0
) -> tuple[SimpleITK.Image, SimpleITK.Image]:
    """Crop image and label map to one label's bounding box (or all non-zero labels) plus a margin.

    Parameters
    ----------
    image, labels : SimpleITK.Image
        On the same grid.
    label : int, optional
        The label to crop around; None for every non-zero voxel.
    margin_mm : float
        Margin (mm) added on every side, clipped to the volume.

    Returns
    -------
    (SimpleITK.Image, SimpleITK.Image)
        The cropped image and label map (``RegionOfInterest``: no resampling, positions kept).
    """
    import SimpleITK as sitk

    _check_image(image, parameter="image", function="crop_to_label")
    _check_image(labels, parameter="labels", function="crop_to_label")
    if image.GetSize() != labels.GetSize() or not np.allclose(image.GetOrigin(), labels.GetOrigin(), atol=1e-3):
        raise UsageError("The 'labels' parameter of crop_to_label must share the image's grid. Got size "
                         f"{labels.GetSize()} for an image of size {image.GetSize()} instead.")
    if not (isinstance(margin_mm, (int, float)) and margin_mm >= 0):
        raise UsageError(f"The 'margin_mm' parameter of crop_to_label must be a number ≥ 0. "
                         f"Got {margin_mm!r} instead.")
    start, size = _bounding_box(labels, label, "crop_to_label")
    margin = [math.ceil(margin_mm / s) for s in image.GetSpacing()]
    first = [max(0, a - m) for a, m in zip(start, margin)]
    last = [min(n, a + b + m) for a, b, m, n in zip(start, size, margin, image.GetSize())]
    extent = [b - a for a, b in zip(first, last)]
    return sitk.RegionOfInterest(image, extent, first), sitk.RegionOfInterest(labels, extent, first)


def window_hu(array: np.ndarray, *, level: float = 60.0, width: float = 400.0) -> np.ndarray:
    """Map HU to [0, 1] through a window: ``clip((hu - (level - width/2)) / width, 0, 1)``.

    Parameters
    ----------
    array : numpy.ndarray
        HU values, any shape.
    level, width : float
        Window centre and width (HU); the default (60, 400) is an abdominal soft-tissue window.

    Returns
    -------
    numpy.ndarray
        float32, same shape, in [0, 1].
    """
    if not (isinstance(width, (int, float)) and width > 0):
        raise UsageError(f"The 'width' parameter of window_hu must be a positive number (HU). Got {width!r} instead.")
    values = np.asarray(array, dtype=np.float32)
    return np.clip((values - (level - width / 2.0)) / width, 0.0, 1.0).astype(np.float32)


def normalise_mri(array: np.ndarray, *, mask: np.ndarray | None = None,
                  percentiles: tuple[float, float] = (1.0, 99.0)) -> np.ndarray:
    """Scale MR intensities to [0, 1] between two percentiles (inside ``mask`` when given).

    Parameters
    ----------
    array : numpy.ndarray
        MR intensities, any shape.
    mask : numpy.ndarray of bool, optional
        Same shape; the voxels whose percentiles set the scale (e.g. the liver or the body).
    percentiles : (float, float)
        Lower and upper percentiles (0–100) mapped to 0 and 1; values beyond are clipped.

    Returns
    -------
    numpy.ndarray
        float32, same shape, in [0, 1].
    """
    values = np.asarray(array, dtype=np.float32)
    low_pct, high_pct = percentiles
    if not 0 <= low_pct < high_pct <= 100:
        raise UsageError(f"The 'percentiles' parameter of normalise_mri must be two numbers 0 ≤ low < high ≤ "
                         f"100. Got {percentiles!r} instead.")
    sample = values if mask is None else values[np.asarray(mask, dtype=bool)]
    if sample.size == 0:
        raise UsageError("The 'mask' parameter of normalise_mri must select at least one voxel. "
                         "Got an empty mask instead.")
    low, high = np.percentile(sample, [low_pct, high_pct])
    return np.clip((values - low) / max(float(high - low), 1e-6), 0.0, 1.0).astype(np.float32)
