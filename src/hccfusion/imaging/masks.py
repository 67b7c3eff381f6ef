"""Liver and tumour masks from supplied files, as uint8 label maps on a volume's grid.

Three formats: a NIfTI label map (must share the volume's grid), a DICOM Segmentation (each
segment becomes its segment number; frames are placed on the volume by their
ImagePositionPatient, so a SEG that covers only some slices, or a crop, still lands in place), and
an RTSTRUCT (closed planar contours are rasterised on the volume's slices: a voxel is inside when
its centre is, and nested contours of one ROI on one slice cut holes). A mask whose geometry does
not fit its volume beyond ``tolerance_mm`` is a ``DataError`` naming both and the mismatch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import SimpleITK

_DIRECTION_TOLERANCE = 1e-3


@dataclass(frozen=True)
class MaskSegment:
    """One segment (SEG segment, RTSTRUCT ROI or NIfTI label) on the reference grid.

    Attributes
    ----------
    label : int
        Its value in the label map (1–255).
    name : str
        SegmentLabel, ROIName, or ``"label k"`` for NIfTI.
    mask : numpy.ndarray
        Bool, shape ``(z, y, x)`` of the reference.
    """

    label: int
    name: str
    mask: np.ndarray


def _reference(reference: object, reference_name: str | None) -> tuple[SimpleITK.Image, str]:
    import SimpleITK as sitk

    if isinstance(reference, sitk.Image):
        return reference, reference_name or "the reference image"
    if hasattr(reference, "image") and hasattr(reference, "source"):
        return reference.image, reference_name or str(reference.source)  # type: ignore[attr-defined]
    if isinstance(reference, (str, Path)):
        from hccfusion.imaging.volumes import read_volume

        return read_volume(reference).image, reference_name or str(reference)
    raise UsageError(
        "The 'reference' parameter of read_mask must be a SimpleITK.Image, a Volume or a path. "
        f"Got {type(reference).__name__} instead."
    )


def _mismatch(path: Path, ref_name: str, detail: str) -> DataError:
    return DataError(f"mask {path} does not match its volume {ref_name}: {detail}")


def _nifti_segments(path: Path, ref: SimpleITK.Image, ref_name: str, tolerance_mm: float) -> list[MaskSegment]:
    import SimpleITK as sitk

    from hccfusion.imaging.volumes import grid_mismatch

    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise DataError(f"mask {path}: cannot read ({str(exc).strip().splitlines()[-1]})") from exc
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise DataError(f"mask {path}: expected a 3-D single-channel label map")
    mismatch = grid_mismatch(image, ref, tolerance_mm=tolerance_mm)
    if mismatch:
        raise _mismatch(path, ref_name, mismatch)
    values = sitk.GetArrayFromImage(image)
    labels = np.unique(values)
    if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() > 255:
        raise DataError(f"mask {path}: label values must be integers 0–255; found {labels.min()}–{labels.max()}")
    return [MaskSegment(int(v), f"label {int(v)}", values == v) for v in labels if v > 0]


def _axes(ref: SimpleITK.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Origin (3,), spacing (3,) and the matrix from LPS mm to continuous index (3, 3)."""
    direction = np.array(ref.GetDirection()).reshape(3, 3)
    spacing = np.array(ref.GetSpacing())
    return np.array(ref.GetOrigin()), spacing, np.linalg.inv(direction @ np.diag(spacing))


def _seg_segments(
    ds: object, path: Path, ref: SimpleITK.Image, ref_name: str, tolerance_mm: float
) -> list[MaskSegment]:
    from hccfusion.imaging.dicom_series import functional_value
    from hccfusion.imaging.volumes import format_mm

    names = {int(s.SegmentNumber): str(s.get("SegmentLabel", "") or f"segment {int(s.SegmentNumber)}")
             for s in ds.SegmentSequence}  # type: ignore[attr-defined]
    pixels = np.asarray(ds.pixel_array)  # type: ignore[attr-defined]
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)  # type: ignore[attr-defined]
    pixels = pixels.reshape((n_frames, *pixels.shape[-2:]))
    if str(ds.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL":  # type: ignore[attr-defined]
        pixels = pixels >= float(ds.get("MaximumFractionalValue", 255)) / 2.0  # type: ignore[attr-defined]
    else:
        pixels = pixels > 0
    origin, spacing, to_index = _axes(ref)
    direction = np.array(ref.GetDirection()).reshape(3, 3)
    nx, ny, nz = ref.GetSize()
    masks = {n: np.zeros((nz, ny, nx), dtype=bool) for n in names}
    rows, cols = pixels.shape[1:]
    for k in range(n_frames):
        where = f"frame {k + 1}"
        number = functional_value(ds, k, "SegmentIdentificationSequence", "ReferencedSegmentNumber")
        if number is None or int(number) not in masks:
            raise DataError(f"mask {path}: {where} refers to segment {number}, which the SegmentSequence lacks")
        orientation = functional_value(ds, k, "PlaneOrientationSequence", "ImageOrientationPatient")
        position = functional_value(ds, k, "PlanePositionSequence", "ImagePositionPatient")
        pixel_spacing = functional_value(ds, k, "PixelMeasuresSequence", "PixelSpacing")
        if orientation is None or position is None or pixel_spacing is None:
            raise DataError(f"mask {path}: {where} lacks its orientation, position or pixel spacing")
        orientation = np.array([float(v) for v in orientation])
        if np.max(np.abs(orientation - direction[:, :2].T.ravel())) > _DIRECTION_TOLERANCE:
            raise _mismatch(path, ref_name, f"{where} orientation {format_mm(orientation, 3)} vs "
                            f"{format_mm(direction[:, :2].T.ravel(), 3)}")
        seg_spacing = np.array([float(pixel_spacing[1]), float(pixel_spacing[0])])
        if np.any(np.abs(seg_spacing - spacing[:2]) * np.array([cols, rows]) > tolerance_mm):
            raise _mismatch(path, ref_name, f"pixel spacing {format_mm(seg_spacing, 4)} vs {format_mm(spacing[:2], 4)} mm")
        index = to_index @ (np.array([float(v) for v in position]) - origin)
        off = np.abs(index - np.round(index)) * spacing
        if np.any(off > tolerance_mm):
            raise _mismatch(path, ref_name, f"{where} at {format_mm(position)} mm lies "
                            f"{off.max():.2f} mm off the volume's voxel grid")
        i0, j0, k0 = (int(v) for v in np.round(index))
        if not (0 <= k0 < nz and 0 <= i0 and 0 <= j0 and i0 + cols <= nx and j0 + rows <= ny):
            raise _mismatch(path, ref_name, f"{where} ({rows}×{cols} at voxel {(i0, j0, k0)}) falls outside the "
                            f"volume of {(nx, ny, nz)} voxels")
        masks[int(number)][k0, j0:j0 + rows, i0:i0 + cols] |= pixels[k]
    return [MaskSegment(n, names[n], masks[n]) for n in sorted(masks)]


def _inside_polygon(vertices: np.ndarray, *, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of a ``shape`` (rows, columns) slice whose centre lies inside the polygon whose
    ``vertices`` are continuous (column, row) indices, shape ``(n, 2)``."""
    from matplotlib.path import Path as PolygonPath

    inside = np.zeros(shape, dtype=bool)
    low = np.clip(np.floor(vertices.min(axis=0)).astype(int), 0, None)
    high = np.minimum(np.ceil(vertices.max(axis=0)).astype(int), np.array(shape[::-1]) - 1)
    if np.any(high < low):
        return inside
    cols, rows = np.meshgrid(np.arange(low[0], high[0] + 1), np.arange(low[1], high[1] + 1))
    # closed=True makes matplotlib drop the last vertex (it becomes CLOSEPOLY): repeat the first.
    hits = PolygonPath(np.vstack([vertices, vertices[:1]]), closed=True).contains_points(np.column_stack([cols.ravel(), rows.ravel()]))
    inside[rows.ravel()[hits], cols.ravel()[hits]] = True
    return inside


def _rtstruct_segments(
    ds: object, path: Path, ref: SimpleITK.Image, ref_name: str, tolerance_mm: float
) -> list[MaskSegment]:
    rois = [(int(r.ROINumber), str(r.get("ROIName", "") or f"ROI {int(r.ROINumber)}"))
            for r in ds.StructureSetROISequence]  # type: ignore[attr-defined]
    use_numbers = all(1 <= n <= 255 for n, _ in rois)
    label_of = {n: (n if use_numbers else k) for k, (n, _) in enumerate(rois, start=1)}
    name_of = dict(rois)
    origin, spacing, to_index = _axes(ref)
    nx, ny, nz = ref.GetSize()
    segments = []
    for item in ds.get("ROIContourSequence", []):  # type: ignore[attr-defined]
        number = int(item.ReferencedROINumber)
        if number not in label_of:
            raise DataError(f"mask {path}: contours refer to ROI {number}, which the StructureSetROISequence lacks")
        mask = np.zeros((nz, ny, nx), dtype=bool)
        drawn = 0
        for c, contour in enumerate(item.get("ContourSequence", []), start=1):
            if str(contour.get("ContourGeometricType", "")).upper() != "CLOSED_PLANAR":
                continue
            points = np.array([float(v) for v in contour.ContourData]).reshape(-1, 3)
            index = (to_index @ (points - origin).T).T
            where = f"ROI '{name_of[number]}' contour {c}"
            k = float(np.round(np.mean(index[:, 2])))
            off = float(np.max(np.abs(index[:, 2] - k))) * spacing[2]
            if off > tolerance_mm:
                raise _mismatch(path, ref_name, f"{where} lies {off:.2f} mm off the volume's slice planes")
            low = np.min(index[:, :2], axis=0) * spacing[:2]
            high = (np.max(index[:, :2], axis=0) - np.array([nx - 1, ny - 1])) * spacing[:2]
            margin = tolerance_mm + spacing[:2] / 2
            if not 0 <= k < nz or np.any(low < -margin) or np.any(high > margin):
                raise _mismatch(path, ref_name, f"{where} extends outside the volume of {(nx, ny, nz)} voxels")
            mask[int(k)] ^= _inside_polygon(index[:, :2], shape=(ny, nx))
            drawn += 1
        if drawn:
            segments.append(MaskSegment(label_of[number], name_of[number], mask))
    return sorted(segments, key=lambda s: s.label)


def read_mask_segments(
    path: Path | str, *, reference: object, tolerance_mm: float = 0.5, reference_name: str | None = None
) -> tuple[MaskSegment, ...]:
    """The segments of a mask file on the reference grid (see ``read_mask``), one per label."""
    from hccfusion.imaging.dicom_series import RTSTRUCT_SOP_CLASS, SEG_SOP_CLASS
    from hccfusion.imaging.volumes import is_nifti

    path = Path(path)
    if isinstance(tolerance_mm, bool) or not isinstance(tolerance_mm, (int, float)) or tolerance_mm < 0:
        raise UsageError(f"The 'tolerance_mm' parameter of read_mask must be a number ≥ 0. Got {tolerance_mm!r} instead.")
    if not path.is_file():
        raise UsageError(f"The 'path' parameter of read_mask must be an existing file. Got '{path}' instead.")
    ref, ref_name = _reference(reference, reference_name)
    if is_nifti(path):
        return tuple(_nifti_segments(path, ref, ref_name, float(tolerance_mm)))
    import pydicom

    try:
        ds = pydicom.dcmread(path, force=True)
        sop = str(ds.get("SOPClassUID", ""))
        modality = str(ds.get("Modality", "")).upper()
    except Exception as exc:  # noqa: BLE001 - any read failure of a user's file is bad data
        raise DataError(f"mask {path}: cannot read as DICOM ({type(exc).__name__}: {exc})") from exc
    try:
        if sop == SEG_SOP_CLASS or modality == "SEG":
            return tuple(_seg_segments(ds, path, ref, ref_name, float(tolerance_mm)))
        if sop == RTSTRUCT_SOP_CLASS or modality == "RTSTRUCT":
            return tuple(_rtstruct_segments(ds, path, ref, ref_name, float(tolerance_mm)))
    except (AttributeError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"mask {path}: malformed {modality or 'DICOM'} object ({type(exc).__name__}: {exc})") from exc
    raise DataError(f"mask {path}: not a NIfTI label map, DICOM-SEG or RTSTRUCT (Modality {modality or '?'})")


def read_mask(
    path: Path | str, *, reference: object, tolerance_mm: float = 0.5, reference_name: str | None = None
) -> SimpleITK.Image:
    """A mask file as a uint8 label map on the grid of its volume.

    Parameters
    ----------
    path : pathlib.Path or str
        NIfTI label map, DICOM-SEG or RTSTRUCT file.
    reference : SimpleITK.Image, Volume or path
        The volume the mask belongs to (a path is read with ``volumes.read_volume``).
    tolerance_mm : float
        Largest allowed displacement (mm) between the mask's and the volume's voxel positions.
    reference_name : str or None
        How to name the volume in errors (defaults to the Volume's source or the path).

    Returns
    -------
    SimpleITK.Image
        uint8, the reference's size, spacing, origin and direction. Label values: NIfTI values as
        stored; SEG segment numbers; RTSTRUCT ROI numbers (ordinals when a number exceeds 255).
        Where segments overlap, the higher label wins.

    Raises
    ------
    hccfusion.errors.DataError
        The mask's geometry does not match the volume (names both and the mismatch), or the file
        is not a readable label map / SEG / RTSTRUCT.
    hccfusion.errors.UsageError
        A missing file, a negative tolerance, a reference of the wrong type.
    """
    import SimpleITK as sitk

    ref, ref_name = _reference(reference, reference_name)
    segments = read_mask_segments(path, reference=ref, tolerance_mm=tolerance_mm, reference_name=ref_name)
    labels = np.zeros(tuple(reversed(ref.GetSize())), dtype=np.uint8)
    for segment in segments:
        labels[segment.mask] = segment.label
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(ref)
    return image


def lesion_label_map(sidecar_json: Path | str | Mapping) -> dict[int, str]:
    """Label value → ``lesion_id`` from a lesion-label sidecar (``lesion_labels.json``).

    Parameters
    ----------
    sidecar_json : pathlib.Path, str or mapping
        The file, or its parsed content: ``{"lesions": [{"label": 1, "lesion_id": "L1"}, …]}``.

    Raises
    ------
    hccfusion.errors.DataError
        Unreadable JSON, a missing ``lesions`` list or key, a duplicate label or lesion id.
    """
    where = "sidecar" if isinstance(sidecar_json, Mapping) else str(sidecar_json)
    if isinstance(sidecar_json, Mapping):
        content = sidecar_json
    else:
        try:
            content = json.loads(Path(sidecar_json).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{where}: cannot read the lesion-label sidecar ({exc})") from exc
    lesions = content.get("lesions") if isinstance(content, Mapping) else None
    if not isinstance(lesions, list):
        raise DataError(f"{where}: expected a 'lesions' list of {{label, lesion_id}} entries")
    mapping: dict[int, str] = {}
    for k, entry in enumerate(lesions, start=1):
        try:
            label, lesion_id = int(entry["label"]), str(entry["lesion_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: lesion entry {k} needs an integer 'label' and a 'lesion_id' ({exc})") from exc
        if label in mapping or lesion_id in mapping.values():
            raise DataError(f"{where}: lesion entry {k} repeats label {label} or lesion id '{lesion_id}'")
        mapping[label] = lesion_id
    return mapping


def label_volumes_ml(labels: SimpleITK.Image) -> dict[int, float]:
    """Volume (mL) of every non-zero label present: voxel count × voxel volume.

    Parameters
    ----------
    labels : SimpleITK.Image
        Integer label map.

    Returns
    -------
    dict of int to float
        Label value → volume in mL (labels with no voxel are absent).
    """
    import SimpleITK as sitk

    values = sitk.GetArrayFromImage(labels).ravel()
    if values.size and (values.min() < 0 or values.dtype.kind not in "iub"):
        raise UsageError(f"The 'labels' parameter of label_volumes_ml must be a non-negative integer label map. "
                         f"Got pixel type {labels.GetPixelIDTypeAsString()} instead.")
    counts = np.bincount(values.astype(np.int64))
    voxel_ml = float(np.prod(labels.GetSpacing())) / 1000.0
    return {int(v): float(counts[v]) * voxel_ml for v in np.flatnonzero(counts) if v > 0}
