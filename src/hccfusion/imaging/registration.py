"""Rigid registration of contrast phases with SimpleITK (Mattes mutual information, Euler 3D).

Phases of one exam are usually acquired in one breath-hold and share the scanner frame; a phase
is only transformed when it is not aligned: when the registration found moves some corner of the
body's bounding box by more than the tolerance. Otherwise its voxels are kept as they are
(resampled without a transform only when its grid differs from the reference's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hccfusion.errors import UsageError, unknown_option

if TYPE_CHECKING:
    import SimpleITK

_SEED = 20240601  # metric sampling seed: registrations are reproducible


@dataclass(frozen=True)
class RigidRegistration:
    """Result of ``register_rigid``.

    Attributes
    ----------
    transform : SimpleITK.Euler3DTransform
        Maps fixed-image points (LPS mm) to moving-image points; rotation about the fixed
        image's centre.
    metric_before, metric_after : float
        Mattes mutual information (negated by ITK: lower is better) at identity and after.
    translation_mm : tuple of float
        The transform's translation (x, y, z mm).
    rotation_deg : tuple of float
        Its rotation angles about x, y, z (degrees).
    moved : SimpleITK.Image
        The moving image resampled onto the fixed grid (linear).
    """

    transform: Any
    metric_before: float
    metric_after: float
    translation_mm: tuple[float, float, float]
    rotation_deg: tuple[float, float, float]
    moved: Any


def _check(value: object, parameter: str, function: str) -> None:
    import SimpleITK as sitk

    if not isinstance(value, sitk.Image) or value.GetDimension() != 3:
        raise UsageError(f"The '{parameter}' parameter of {function} must be a 3D SimpleITK.Image. "
                         f"Got {type(value).__name__} instead.")


def _fill_value(image: SimpleITK.Image) -> float:
    import SimpleITK as sitk

    stats = sitk.MinimumMaximumImageFilter()
    stats.Execute(image)
    return float(stats.GetMinimum())


_RIM_MM = 20.0


def _default_mask(fixed: SimpleITK.Image) -> SimpleITK.Image:
    """The body (Otsu foreground) without a rim of 20 mm (at least 2 voxels) at every face of
    the volume, so that anatomy that enters or leaves the field of view after a shift (the slab
    of air at the end of a moved series) does not steer the metric."""
    import SimpleITK as sitk

    body = sitk.OtsuThreshold(sitk.Cast(fixed, sitk.sitkFloat32), 0, 1)
    rim = [min(max(2, math.ceil(_RIM_MM / s)), (n - 1) // 2) for s, n in zip(fixed.GetSpacing(), fixed.GetSize())]
    inner = [n - 2 * r for n, r in zip(fixed.GetSize(), rim)]
    frame = sitk.Image(fixed.GetSize(), sitk.sitkUInt8)
    frame.CopyInformation(fixed)
    frame = sitk.Paste(frame, sitk.Image(inner, sitk.sitkUInt8) + 1, inner, [0, 0, 0], rim)
    return sitk.Cast(body * frame, sitk.sitkUInt8)


def _method(*, factors: Sequence[int], spacing_mm: float, sampling_fraction: float, mask: Any) -> Any:
    import SimpleITK as sitk

    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(float(sampling_fraction), _SEED)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-3, numberOfIterations=100,
                                                    relaxationFactor=0.5)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(factors))
    method.SetSmoothingSigmasPerLevel([f * spacing_mm / 2.0 if f > 1 else 0.0 for f in factors])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetMetricFixedMask(mask)
    return method


def register_rigid(
    *,
    fixed: SimpleITK.Image,
    moving: SimpleITK.Image,
    fixed_mask: SimpleITK.Image | None = None,
    shrink_factors: Sequence[int] = (4, 2, 1),
    sampling_fraction: float = 0.1,
) -> RigidRegistration:
    """Register ``moving`` to ``fixed`` with a rigid (rotation + translation) transform.

    Parameters
    ----------
    fixed, moving : SimpleITK.Image
        3D images in physical (LPS mm) coordinates; the search starts at identity, i.e. it
        trusts the scanner frame.
    fixed_mask : SimpleITK.Image, optional
        Non-zero where the metric is evaluated on the fixed grid. Default: the body (Otsu
        foreground) minus a 20 mm rim at the faces of the volume.
    shrink_factors : sequence of int
        Multi-resolution pyramid (voxels), coarse to fine; levels that leave fewer than 8
        voxels along the thinnest axis are skipped.
    sampling_fraction : float
        Share of fixed voxels sampled (reproducibly) per metric evaluation, in (0, 1].

    Returns
    -------
    RigidRegistration
    """
    import SimpleITK as sitk

    _check(fixed, "fixed", "register_rigid")
    _check(moving, "moving", "register_rigid")
    if fixed_mask is not None:
        _check(fixed_mask, "fixed_mask", "register_rigid")
    if not 0 < sampling_fraction <= 1:
        raise UsageError(f"The 'sampling_fraction' parameter of register_rigid must lie in (0, 1]. "
                         f"Got {sampling_fraction!r} instead.")
    fixed_f = sitk.Cast(fixed, sitk.sitkFloat32)
    moving_f = sitk.Cast(moving, sitk.sitkFloat32)
    # Levels with fewer than 8 voxels along the thinnest axis lose the slices of thick series.
    factors = [int(f) for f in shrink_factors if min(fixed.GetSize()) / int(f) >= 8] or [1]
    mask = _default_mask(fixed) if fixed_mask is None else sitk.Cast(fixed_mask != 0, sitk.sitkUInt8)
    settings = dict(factors=factors, spacing_mm=min(fixed.GetSpacing()), sampling_fraction=sampling_fraction, mask=mask)
    initial = sitk.Euler3DTransform()
    initial.SetCenter(fixed.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in fixed.GetSize()]))
    method = _method(**settings)
    method.SetInitialTransform(initial, inPlace=False)
    metric_before = float(method.MetricEvaluate(fixed_f, moving_f))
    result = method.Execute(fixed_f, moving_f)
    if isinstance(result, sitk.CompositeTransform):
        result = result.GetNthTransform(result.GetNumberOfTransforms() - 1)
    transform = sitk.Euler3DTransform(result)
    after = _method(**settings)
    after.SetInitialTransform(transform, inPlace=False)
    metric_after = float(after.MetricEvaluate(fixed_f, moving_f))
    params = transform.GetParameters()
    moved = sitk.Resample(moving, fixed, transform, sitk.sitkLinear, _fill_value(moving), moving.GetPixelID())
    return RigidRegistration(
        transform=transform, metric_before=metric_before, metric_after=metric_after,
        translation_mm=tuple(float(t) for t in params[3:]),  # type: ignore[arg-type]
        rotation_deg=tuple(math.degrees(a) for a in params[:3]),  # type: ignore[arg-type]
        moved=moved,
    )


def max_displacement_mm(transform: Any, image: SimpleITK.Image, *, mask: SimpleITK.Image | None = None) -> float:
    """Largest distance (mm) the transform moves a corner of the image's field of view, or of the
    bounding box of ``mask`` (non-zero voxels) when given."""
    import SimpleITK as sitk

    start, size = [0, 0, 0], list(image.GetSize())
    if mask is not None:
        stats = sitk.LabelShapeStatisticsImageFilter()
        stats.Execute(sitk.Cast(mask != 0, sitk.sitkUInt8))
        if 1 in stats.GetLabels():
            box = stats.GetBoundingBox(1)
            start, size = list(box[:3]), list(box[3:])
    corners = [image.TransformContinuousIndexToPhysicalPoint([a + c * (n - 1) for a, c, n in zip(start, pick, size)])
               for pick in np.ndindex(2, 2, 2)]
    return max(float(np.linalg.norm(np.subtract(transform.TransformPoint(p), p))) for p in corners)


def _same_grid(a: SimpleITK.Image, b: SimpleITK.Image) -> bool:
    return (a.GetSize() == b.GetSize() and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-4)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-3)
            and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-5))


@dataclass(frozen=True)
class PhaseAlignment:
    """What ``align_phases`` did to one phase.

    Attributes
    ----------
    phase : str
    action : {"reference", "kept", "resampled", "registered"}
        ``kept``: already aligned, returned unchanged; ``resampled``: another grid but no shift,
        resampled onto the reference grid; ``registered``: rigidly registered and resampled.
    detected_shift_mm : float
        Largest displacement (mm) of a corner of the body's bounding box under the registration
        found (0 for the reference).
    translation_mm, rotation_deg : tuple of float
        Of the final transform (zeros unless registered).
    """

    phase: str
    action: str
    detected_shift_mm: float
    translation_mm: tuple[float, float, float]
    rotation_deg: tuple[float, float, float]


@dataclass(frozen=True)
class AlignedPhases:
    """Phases on the reference phase's grid, and what was done to each.

    Attributes
    ----------
    images : dict of str to SimpleITK.Image
    steps : dict of str to PhaseAlignment
    reference_phase : str
    """

    images: dict[str, Any]
    steps: dict[str, PhaseAlignment]
    reference_phase: str


def align_phases(
    images: Mapping[str, SimpleITK.Image], *, reference_phase: str, tolerance_mm: float = 1.0
) -> AlignedPhases:
    """Bring every phase onto the reference phase's grid, registering only those that moved.

    Parameters
    ----------
    images : mapping of str to SimpleITK.Image
        Phase → image of one exam.
    reference_phase : str
        The phase the others are aligned to (its image is returned as is).
    tolerance_mm : float
        A phase whose registration moves no corner of the body's bounding box by more than
        this (mm) counts as aligned and is not transformed.

    Returns
    -------
    AlignedPhases
    """
    import SimpleITK as sitk

    if reference_phase not in images:
        raise unknown_option("phase", str(reference_phase), tuple(images))
    if not (isinstance(tolerance_mm, (int, float)) and tolerance_mm > 0):
        raise UsageError(f"The 'tolerance_mm' parameter of align_phases must be a positive number (mm). "
                         f"Got {tolerance_mm!r} instead.")
    for phase, image in images.items():
        _check(image, f"images['{phase}']", "align_phases")
    reference = images[reference_phase]
    zero = (0.0, 0.0, 0.0)
    out = {reference_phase: reference}
    steps = {reference_phase: PhaseAlignment(reference_phase, "reference", 0.0, zero, zero)}
    for phase, image in images.items():
        if phase == reference_phase:
            continue
        same = _same_grid(image, reference)
        found = register_rigid(fixed=reference, moving=image)
        shift = max_displacement_mm(found.transform, reference, mask=_default_mask(reference))
        if shift <= tolerance_mm:
            # Aligned already: keep the voxels (no interpolation), only change grid if needed.
            out[phase] = image if same else sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear,
                                                          _fill_value(image), image.GetPixelID())
            steps[phase] = PhaseAlignment(phase, "kept" if same else "resampled", shift, zero, zero)
        else:
            out[phase] = found.moved
            steps[phase] = PhaseAlignment(phase, "registered", shift, found.translation_mm, found.rotation_deg)
    return AlignedPhases(images=out, steps=steps, reference_phase=reference_phase)
