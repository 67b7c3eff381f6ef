"""One imaging volume — a NIfTI file or a DICOM series — as a float32 SimpleITK image in LPS
geometry, with its contrast phase and where it came from; and the grid comparison that masks and
exams use.

SimpleITK reports NIfTI files in LPS (it flips NIfTI's RAS x and y), the same frame as DICOM, so a
series and its NIfTI export compare directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import SimpleITK

    from hccfusion.imaging.dicom_series import SeriesInfo

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True)
class Volume:
    """A volume ready for preprocessing.

    Attributes
    ----------
    image : SimpleITK.Image
        Float32 (HU for CT), LPS geometry.
    phase : str or None
        Contrast phase (``phases.PHASES``) or None when undecided.
    phase_reason : str
        Why this phase (``phases.PhaseChoice.reason``).
    source : pathlib.Path
        The NIfTI file or the series folder.
    series_uid : str or None
        SeriesInstanceUID (None for NIfTI).
    modality : str
        ``"CT"``, ``"MR"``, or ``""`` when unknown (NIfTI).
    spacing_mm : tuple of float
        Voxel spacing along x, y, z (mm).
    shape : tuple of int
        Voxels along x, y, z (``image.GetSize()``; the numpy array is ``shape[::-1]``).
    phase_source : str
        ``phases.PhaseChoice.source`` (``"caller"`` when the phase was passed in).
    """

    image: SimpleITK.Image
    phase: str | None
    phase_reason: str
    source: Path
    series_uid: str | None
    modality: str
    spacing_mm: tuple[float, float, float]
    shape: tuple[int, int, int]
    phase_source: str = "none"


def is_nifti(path: Path | str) -> bool:
    """True for a ``.nii`` or ``.nii.gz`` file name."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def read_nifti(path: Path | str) -> SimpleITK.Image:
    """A NIfTI file as a float32 SimpleITK image (scaling applied), LPS geometry.

    Raises
    ------
    hccfusion.errors.DataError
        The file cannot be read as NIfTI (names it and SimpleITK's reason).
    """
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path), sitk.sitkFloat32)
    except RuntimeError as exc:
        raise DataError(f"{path}: cannot read as NIfTI ({str(exc).strip().splitlines()[-1]})") from exc
    if image.GetDimension() != 3:
        raise DataError(f"{path}: expected a 3-D volume, found {image.GetDimension()} dimensions")
    return image


def format_mm(values: object, digits: int = 2) -> str:
    """``(a, b, c)`` with each value rounded to ``digits`` (for messages)."""
    return "(" + ", ".join(f"{round(float(v), digits):g}" for v in values) + ")"


def _corners_mm(image: SimpleITK.Image) -> np.ndarray:
    size = image.GetSize()
    corners = [(i, j, k) for i in (0, size[0] - 1) for j in (0, size[1] - 1) for k in (0, size[2] - 1)]
    return np.array([image.TransformIndexToPhysicalPoint(c) for c in corners])


def grid_mismatch(image: SimpleITK.Image, reference: SimpleITK.Image, *, tolerance_mm: float) -> str | None:
    """How the grid of ``image`` differs from ``reference`` beyond ``tolerance_mm``, or None.

    Sizes must be equal; spacing, origin and direction are compared through the positions of the
    eight corner voxels, which must lie within ``tolerance_mm`` of each other (so a small spacing
    error that adds up across the volume is caught).
    """
    if tuple(image.GetSize()) != tuple(reference.GetSize()):
        return f"size {tuple(image.GetSize())} vs {tuple(reference.GetSize())} voxels"
    shift = float(np.max(np.linalg.norm(_corners_mm(image) - _corners_mm(reference), axis=1)))
    if shift <= tolerance_mm:
        return None
    parts = []
    spacing, ref_spacing = np.array(image.GetSpacing()), np.array(reference.GetSpacing())
    if np.any(np.abs(spacing - ref_spacing) * np.array(image.GetSize()) > tolerance_mm):
        parts.append(f"spacing {format_mm(spacing, 4)} vs {format_mm(ref_spacing, 4)} mm")
    origin, ref_origin = np.array(image.GetOrigin()), np.array(reference.GetOrigin())
    if np.linalg.norm(origin - ref_origin) > tolerance_mm:
        parts.append(f"origin {format_mm(origin)} vs {format_mm(ref_origin)} mm")
    if np.max(np.abs(np.array(image.GetDirection()) - np.array(reference.GetDirection()))) > 1e-3:
        parts.append(f"direction {format_mm(image.GetDirection(), 3)} vs {format_mm(reference.GetDirection(), 3)}")
    detail = "; ".join(parts) or "geometry"
    return f"{detail} (corner voxels up to {shift:.2f} mm apart, tolerance {tolerance_mm} mm)"


def _pixels(path: Path) -> tuple[object, np.ndarray, bool]:
    """The full dataset, its stored pixel values (frames, rows, columns) and whether they are
    already rescaled (the SimpleITK fallback for transfer syntaxes pydicom cannot decode)."""
    import pydicom

    ds = pydicom.dcmread(path, force=True)
    try:
        array = np.asarray(ds.pixel_array)
        rescaled = False
    except Exception as first_error:  # noqa: BLE001 - missing decoder plugins raise several types
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise DataError(f"{path}: cannot decode the pixel data ({first_error})") from first_error
        import SimpleITK as sitk

        try:
            array = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        except RuntimeError as exc:
            raise DataError(f"{path}: cannot decode the pixel data ({first_error}; SimpleITK: {exc})") from exc
        rescaled = True
    if int(ds.get("NumberOfFrames", 1) or 1) == 1:
        array = array.reshape((1, *array.shape[-2:]))
    return ds, array, rescaled


def series_image(info: SeriesInfo) -> SimpleITK.Image:
    """``dicom_series.read_series``: the pixels of a ``SeriesInfo`` as float32, rescaled, in LPS."""
    import SimpleITK as sitk

    from hccfusion.imaging.dicom_series import functional_value

    nx, ny, nz = info.size
    volume = np.empty((nz, ny, nx), dtype=np.float32)
    cache: dict[int, tuple[object, np.ndarray, bool]] = {}
    for k, (file_index, frame) in enumerate(info.slice_refs):
        if file_index not in cache:
            path = info.files[file_index]
            try:
                cache = {file_index: _pixels(path)}
            except DataError:
                raise
            except Exception as exc:  # noqa: BLE001 - report any decoding failure with its file
                raise DataError(f"{path}: cannot read the pixel data ({type(exc).__name__}: {exc})") from exc
        ds, array, rescaled = cache[file_index]
        if array.shape[-2:] != (ny, nx) or frame >= array.shape[0]:
            raise DataError(f"{info.files[file_index]}: pixel data of shape {array.shape} does not match the header")
        values = array[frame].astype(np.float32)
        if not rescaled:
            slope = functional_value(ds, frame, "PixelValueTransformationSequence", "RescaleSlope")
            intercept = functional_value(ds, frame, "PixelValueTransformationSequence", "RescaleIntercept")
            values = values * np.float32(float(slope) if slope not in (None, "") else 1.0)
            values += np.float32(float(intercept) if intercept not in (None, "") else 0.0)
        volume[k] = values
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing(tuple(float(v) for v in info.spacing_mm))
    image.SetOrigin(info.origin_mm)
    image.SetDirection(info.direction)
    return image


def _check_phase(phase: str | None) -> None:
    from hccfusion.errors import unknown_option
    from hccfusion.imaging.phases import PHASES

    if phase is not None and phase not in PHASES:
        raise unknown_option("phase", str(phase), PHASES)


def volume_from_series(
    info: SeriesInfo, *, phase: str | None = None, exams_phases: tuple[str, ...] | None = None
) -> Volume:
    """Read a ``dicom_series.SeriesInfo`` into a Volume; its phase from ``phase`` when given,
    else from its tags and description (``phases.identify_phase``)."""
    from hccfusion.imaging.phases import identify_phase

    image = series_image(info)
    if phase is not None:
        chosen = (phase, "given by the caller", "caller")
    else:
        choice = identify_phase(
            series_description=info.series_description,
            contrast_agent=info.contrast_agent,
            acquisition_time=info.acquisition_time,
            contrast_start_time=info.contrast_start_time,
            modality=info.modality,
            file_name=info.folder.name,
            exams_phases=exams_phases,
        )
        chosen = (choice.phase, choice.reason, choice.source)
    return Volume(
        image=image,
        phase=chosen[0],
        phase_reason=chosen[1],
        source=info.folder,
        series_uid=info.series_uid,
        modality=info.modality,
        spacing_mm=tuple(float(v) for v in image.GetSpacing()),  # type: ignore[arg-type]
        shape=tuple(int(v) for v in image.GetSize()),  # type: ignore[arg-type]
        phase_source=chosen[2],
    )


def volume_from_nifti(path: Path, *, phase: str | None = None, exams_phases: tuple[str, ...] | None = None) -> Volume:
    """Read a NIfTI file into a Volume; its phase from ``phase`` when given, else from its name."""
    from hccfusion.imaging.phases import identify_phase

    image = read_nifti(path)
    if phase is not None:
        chosen = (phase, "given by the caller", "caller")
    else:
        choice = identify_phase(file_name=Path(path).name, exams_phases=exams_phases)
        chosen = (choice.phase, choice.reason, choice.source)
    return Volume(
        image=image,
        phase=chosen[0],
        phase_reason=chosen[1],
        source=Path(path),
        series_uid=None,
        modality="",
        spacing_mm=tuple(float(v) for v in image.GetSpacing()),  # type: ignore[arg-type]
        shape=tuple(int(v) for v in image.GetSize()),  # type: ignore[arg-type]
        phase_source=chosen[2],
    )


def read_volume(path: Path | str, *, phase: str | None = None) -> Volume:
    """Read one volume: a NIfTI file, a DICOM series folder, or one (multi-frame) DICOM file.

    Parameters
    ----------
    path : pathlib.Path or str
        ``.nii``/``.nii.gz`` file, or a folder holding exactly one image series (searched
        recursively), or a single DICOM file.
    phase : str or None
        The contrast phase when known (one of ``phases.PHASES``); otherwise it is identified
        from the DICOM tags and description, or the file name.

    Returns
    -------
    Volume

    Raises
    ------
    hccfusion.errors.UsageError
        ``path`` does not exist, or ``phase`` is unknown.
    hccfusion.errors.DataError
        The folder holds no usable series (lists the problems) or several series (use
        ``exam.read_exam`` or ``dicom_series.scan_dicom``), or the file cannot be read.

    Examples
    --------
    >>> vol = read_volume("exam/arterial.nii.gz")  # doctest: +SKIP
    >>> vol.phase, vol.spacing_mm  # doctest: +SKIP
    ('arterial', (4.0, 4.0, 8.0))
    """
    from hccfusion.imaging.dicom_series import scan_dicom

    path = Path(path)
    _check_phase(phase)
    if not path.exists():
        raise UsageError(
            f"The 'path' parameter of read_volume must be an existing file or folder. Got '{path}' instead."
        )
    if path.is_file() and is_nifti(path):
        return volume_from_nifti(path, phase=phase)
    scan = scan_dicom(path, skip_patterns=("*.nii", "*.nii.gz", "*.json"))
    series = [s for s in scan.series if not s.is_localizer] or list(scan.series)
    if not series:
        found = "; ".join(str(p) for p in scan.problems[:5]) or "no DICOM files"
        raise DataError(f"{path}: no readable image series ({found})")
    if len(series) > 1:
        names = ", ".join(f"'{s.series_description or s.folder.name}' ({s.n_slices} slices)" for s in series)
        raise DataError(f"{path}: holds {len(series)} series ({names}); read one folder per series, "
                        "or use hccfusion.imaging.exam.read_exam for a whole exam")
    return volume_from_series(series[0], phase=phase)
