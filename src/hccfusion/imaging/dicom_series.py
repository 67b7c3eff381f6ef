"""DICOM folders → series: grouping, ordering and consistency checks from the headers alone, then
the pixel data of one series as a float32 SimpleITK image in LPS geometry.

``scan_dicom`` walks a folder, reads headers only, groups files by (PatientID, StudyInstanceUID,
SeriesInstanceUID) and splits a series whose slices differ in orientation, matrix or pixel
spacing. Every file or series that cannot be used becomes an ``ImageProblem`` (its path and the
reason) and the rest of the folder is still returned. Checks on each series, along the slice
normal: duplicate positions (copies of one instance are dropped; two acquisitions in one series
are split by AcquisitionNumber), missing slices (a gap over ``GAP_FACTOR`` × the median spacing),
inconsistent spacing (a gap off the median by more than ``SPACING_TOLERANCE`` of it, at least
``SPACING_TOLERANCE_MM``), and mixed slice thickness (kept, with a note: resampling comes later).
Enhanced multi-frame objects (one file, many frames) are read through their per-frame and shared
functional groups. Reading one file's header and frames is :mod:`hccfusion.imaging.dicom_headers`
(``read_header`` and ``functional_value`` are importable from here too).
"""

from __future__ import annotations

import fnmatch
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import UsageError
from hccfusion.imaging.dicom_headers import _Frame, _frames, functional_value, read_header

if TYPE_CHECKING:
    import SimpleITK

GAP_FACTOR = 1.5
SPACING_TOLERANCE = 0.02
SPACING_TOLERANCE_MM = 0.02
DUPLICATE_MM = 0.01
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
_QUIET_NAMES = ("DICOMDIR", ".*", "Thumbs.db")
# Objects that carry pixel data (or none) but are not cross-sectional image series.
_NOT_IMAGES = ("RTDOSE", "RTPLAN", "RTRECORD", "RTIMAGE", "SR", "PR", "KO", "REG", "DOC")


@dataclass(frozen=True)
class ImageProblem:
    """A file or series that could not be used, and why.

    Attributes
    ----------
    path : pathlib.Path
        The file, or the folder of the series.
    reason : str
    """

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class SeriesInfo:
    """One readable series, from its headers.

    Attributes
    ----------
    folder : pathlib.Path
        Deepest folder holding all its files.
    files : tuple of pathlib.Path
        Its files, sorted along the slice normal (one file for a multi-frame object).
    patient_id : str or None
    study_uid, series_uid : str
    modality : str
    series_description : str
    n_slices : int
    spacing_mm : tuple of float
        Column spacing, row spacing and median slice distance (x, y, z; mm).
    multi_frame : bool
    slice_gaps : tuple of float
        Distances (mm) between consecutive slices along the normal, ``n_slices - 1`` values.
    slice_refs : tuple of (int, int)
        For each slice in order: index into ``files`` and frame index (0 for single-frame files).
    origin_mm : tuple of float
        LPS position (mm) of the first voxel of the first slice.
    direction : tuple of float
        3 × 3 direction cosines, row-major, SimpleITK order (columns: row direction, column
        direction, slice normal).
    size : tuple of int
        Voxels along x (columns), y (rows), z (slices).
    series_number : int or None
    image_type : tuple of str
    contrast_agent : str or None
        ContrastBolusAgent (None when absent, ``""`` when empty).
    contrast_start_time, acquisition_time : str or None
        DICOM TM values (AcquisitionTime, else SeriesTime).
    slice_thickness_mm : tuple of float
        The distinct SliceThickness values.
    notes : tuple of str
        What was noticed and handled (mixed thickness, dropped copies, a split).
    part : int
        0, or 1, 2, … when a series was split by orientation, matrix or acquisition.
    """

    folder: Path
    files: tuple[Path, ...]
    patient_id: str | None
    study_uid: str
    series_uid: str
    modality: str
    series_description: str
    n_slices: int
    spacing_mm: tuple[float, float, float]
    multi_frame: bool
    slice_gaps: tuple[float, ...]
    slice_refs: tuple[tuple[int, int], ...] = ()
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    size: tuple[int, int, int] = (0, 0, 0)
    series_number: int | None = None
    image_type: tuple[str, ...] = ()
    contrast_agent: str | None = None
    contrast_start_time: str | None = None
    acquisition_time: str | None = None
    slice_thickness_mm: tuple[float, ...] = ()
    notes: tuple[str, ...] = ()
    part: int = 0

    @property
    def is_localizer(self) -> bool:
        """True for scouts / topograms (ImageType LOCALIZER)."""
        return "LOCALIZER" in {t.upper() for t in self.image_type}


@dataclass(frozen=True)
class DicomScan:
    """What ``scan_dicom`` found.

    Attributes
    ----------
    series : tuple of SeriesInfo
        Usable image series, ordered by folder, series number and description.
    problems : tuple of ImageProblem
        One per unusable file or series.
    mask_files : tuple of pathlib.Path
        DICOM-SEG and RTSTRUCT files found (read them with ``masks.read_mask``).
    """

    series: tuple[SeriesInfo, ...]
    problems: tuple[ImageProblem, ...]
    mask_files: tuple[Path, ...] = ()


def _is_mask(ds: object) -> bool:
    sop = str(ds.get("SOPClassUID", ""))  # type: ignore[attr-defined]
    modality = str(ds.get("Modality", "")).upper()  # type: ignore[attr-defined]
    return sop in (SEG_SOP_CLASS, RTSTRUCT_SOP_CLASS) or modality in ("SEG", "RTSTRUCT")


def _files(folder: Path, skip_patterns: tuple[str, ...]) -> list[Path]:
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise UsageError(
            f"The 'folder' parameter of scan_dicom must be an existing folder or file. Got '{folder}' instead."
        )
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if any(fnmatch.fnmatch(name, p) for p in (*_QUIET_NAMES, *skip_patterns)):
                continue
            found.append(Path(root) / name)
    return found


def scan_dicom(folder: Path | str, *, skip_patterns: tuple[str, ...] = ()) -> DicomScan:
    """Find the image series in a DICOM folder (recursively), reading headers only.

    Parameters
    ----------
    folder : pathlib.Path or str
        A folder (walked recursively) or a single file.
    skip_patterns : tuple of str
        Glob patterns of file names to pass over silently (e.g. ``("*.nii.gz", "*.json")``);
        hidden files and DICOMDIR are always passed over. Any other non-DICOM file is a problem.

    Returns
    -------
    DicomScan

    Raises
    ------
    hccfusion.errors.UsageError
        ``folder`` does not exist.
    """
    folder = Path(folder)
    problems: list[ImageProblem] = []
    masks: list[Path] = []
    groups: dict[tuple, list[_Frame]] = defaultdict(list)
    headers: dict[Path, object] = {}
    for path in _files(folder, tuple(skip_patterns)):
        ds, problem = read_header(path)
        if problem:
            problems.append(ImageProblem(path, problem))
            continue
        if _is_mask(ds):
            masks.append(path)
            continue
        modality = str(ds.get("Modality", "") or "?")  # type: ignore[union-attr]
        if "Rows" not in ds or "Columns" not in ds or modality.upper() in _NOT_IMAGES:  # type: ignore[operator]
            problems.append(ImageProblem(path, f"not an image series (Modality {modality}); skipped"))
            continue
        if int(ds.get("SamplesPerPixel", 1) or 1) != 1:  # type: ignore[union-attr]
            problems.append(ImageProblem(path, "colour image (SamplesPerPixel > 1); only greyscale volumes are read"))
            continue
        try:
            frames = _frames(ds, path)
        except ValueError as exc:
            problems.append(ImageProblem(path, str(exc)))
            continue
        headers[path] = ds
        pid = ds.get("PatientID")  # type: ignore[union-attr]
        uids = (str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", "")))  # type: ignore[union-attr]
        key = (str(pid) if pid else None, *uids)
        for f in frames:
            matrix = (int(ds.Rows), int(ds.Columns))  # type: ignore[union-attr]
            sub = (tuple(round(v, 4) for v in f.orientation), *matrix, tuple(round(v, 3) for v in f.pixel_spacing))
            groups[(key, sub)].append(f)
    by_series: dict[tuple, list[tuple]] = defaultdict(list)
    for key, sub in groups:
        by_series[key].append(sub)
    series: list[SeriesInfo] = []
    for key, subs in by_series.items():
        for part, sub in enumerate(sorted(subs), start=1 if len(subs) > 1 else 0):
            note = (f"series split in {len(subs)} parts by orientation, matrix or pixel spacing",) if part else ()
            built, found = _build_series(groups[(key, sub)], headers, part=part, notes=note)
            series.extend(built)
            problems.extend(found)
    series.sort(key=lambda s: (str(s.folder), s.series_number or 0, s.series_description, s.part))
    return DicomScan(series=tuple(series), problems=tuple(problems), mask_files=tuple(masks))


def _normal(orientation: tuple[float, ...]) -> np.ndarray:
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    normal = np.cross(row, col)
    return normal / np.linalg.norm(normal)


def _folder(paths: list[Path]) -> Path:
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


def _build_series(
    frames: list[_Frame], headers: dict, *, part: int, notes: tuple[str, ...]
) -> tuple[list[SeriesInfo], list[ImageProblem]]:
    normal = _normal(frames[0].orientation)
    frames = sorted(frames, key=lambda f: (float(np.dot(f.position, normal)), str(f.path), f.frame))
    where = np.array([np.dot(f.position, normal) for f in frames])
    duplicates = np.flatnonzero(np.diff(where) < DUPLICATE_MM) + 1
    notes_list = list(notes)
    if duplicates.size:
        if all((frames[i].sop_uid, frames[i].frame) == (frames[i - 1].sop_uid, frames[i - 1].frame) for i in duplicates):
            notes_list.append(f"{duplicates.size} duplicate copies of instances dropped")
            frames = [f for i, f in enumerate(frames) if i not in set(duplicates.tolist())]
        elif len({f.acquisition for f in frames}) > 1:
            out: tuple[list[SeriesInfo], list[ImageProblem]] = ([], [])
            acquisitions = sorted({f.acquisition for f in frames})
            for k, acquisition in enumerate(acquisitions, start=1):
                chunk = [f for f in frames if f.acquisition == acquisition]
                built, found = _build_series(
                    chunk, headers, part=k,
                    notes=(*notes, f"series split by AcquisitionNumber ({len(acquisitions)} acquisitions "
                                   "at the same positions)"),
                )
                out[0].extend(built)
                out[1].extend(found)
            return out
        else:
            z = where[duplicates[0]]
            paths = sorted({f"{frames[i].path.name}{_frame_label(frames[i])}" for i in (duplicates[0] - 1, duplicates[0])})
            reason = f"duplicate slice positions: {' and '.join(paths)} both lie at {z:.2f} mm along the normal"
            return [], [ImageProblem(_folder([f.path for f in frames]), reason)]
    paths = list(dict.fromkeys(f.path for f in frames))
    folder = _folder(paths)
    where = np.array([np.dot(f.position, normal) for f in frames])
    gaps = np.diff(where)
    first = headers[frames[0].path]
    if gaps.size:
        median = float(np.median(gaps))
        worst = int(np.argmax(np.abs(gaps - median)))
        a, b = frames[worst], frames[worst + 1]
        between = f"between {a.path.name}{_frame_label(a)} and {b.path.name}{_frame_label(b)}"
        if gaps[worst] > GAP_FACTOR * median:
            reason = (f"missing slice(s): gap of {gaps[worst]:.2f} mm {between} "
                      f"(median spacing {median:.2f} mm)")
            return [], [ImageProblem(folder, reason)]
        if abs(gaps[worst] - median) > max(SPACING_TOLERANCE_MM, SPACING_TOLERANCE * median):
            reason = (f"inconsistent slice spacing: gaps from {gaps.min():.2f} to {gaps.max():.2f} mm "
                      f"(median {median:.2f} mm; worst {between})")
            return [], [ImageProblem(folder, reason)]
        spacing_z = median
    else:
        spacing_z = float(first.get("SpacingBetweenSlices") or frames[0].thickness or 1.0)  # type: ignore[attr-defined]
    thickness = tuple(sorted({round(f.thickness, 3) for f in frames if f.thickness is not None}))
    if len(thickness) > 1:
        notes_list.append(f"mixed slice thickness {', '.join(f'{t:g}' for t in thickness)} mm (kept; resample later)")
    row, col = np.asarray(frames[0].orientation[:3]), np.asarray(frames[0].orientation[3:])
    direction = np.column_stack([row, col, normal]).ravel()
    index = {p: i for i, p in enumerate(paths)}
    pid = first.get("PatientID")  # type: ignore[attr-defined]
    agent = first.get("ContrastBolusAgent") if "ContrastBolusAgent" in first else None  # type: ignore[attr-defined]
    number = first.get("SeriesNumber")  # type: ignore[attr-defined]
    info = SeriesInfo(
        folder=folder,
        files=tuple(paths),
        patient_id=str(pid) if pid else None,
        study_uid=str(first.get("StudyInstanceUID", "")),  # type: ignore[attr-defined]
        series_uid=str(first.get("SeriesInstanceUID", "")),  # type: ignore[attr-defined]
        modality=str(first.get("Modality", "")),  # type: ignore[attr-defined]
        series_description=str(first.get("SeriesDescription", "") or ""),  # type: ignore[attr-defined]
        n_slices=len(frames),
        spacing_mm=(frames[0].pixel_spacing[1], frames[0].pixel_spacing[0], spacing_z),
        multi_frame=int(first.get("NumberOfFrames", 1) or 1) > 1,  # type: ignore[attr-defined]
        slice_gaps=tuple(float(g) for g in gaps),
        slice_refs=tuple((index[f.path], f.frame) for f in frames),
        origin_mm=tuple(float(v) for v in frames[0].position),  # type: ignore[arg-type]
        direction=tuple(float(v) for v in direction),
        size=(int(first.Columns), int(first.Rows), len(frames)),  # type: ignore[attr-defined]
        series_number=int(number) if number not in (None, "") else None,
        image_type=tuple(str(t) for t in (first.get("ImageType") or ())),  # type: ignore[attr-defined]
        contrast_agent=None if agent is None else str(agent),
        contrast_start_time=_text(first.get("ContrastBolusStartTime")),  # type: ignore[attr-defined]
        acquisition_time=_acquisition_time(first),
        slice_thickness_mm=thickness,
        notes=tuple(notes_list),
        part=part,
    )
    return [info], []


def _frame_label(frame: _Frame) -> str:
    return f" frame {frame.frame + 1}" if frame.frame else ""


def _acquisition_time(ds: object) -> str | None:
    """AcquisitionTime, else the time part of an enhanced object's FrameAcquisitionDateTime (first
    frame), else SeriesTime."""
    if ds.get("AcquisitionTime"):  # type: ignore[attr-defined]
        return str(ds.AcquisitionTime)  # type: ignore[attr-defined]
    moment = functional_value(ds, 0, "FrameContentSequence", "FrameAcquisitionDateTime")
    if moment and len(str(moment)) >= 10:
        return str(moment)[8:].split("+")[0].split("-")[0]
    return _text(ds.get("SeriesTime"))  # type: ignore[attr-defined]


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def read_series(info: SeriesInfo) -> SimpleITK.Image:
    """The pixel data of one series as a float32 SimpleITK image (HU for CT), LPS geometry.

    RescaleSlope and RescaleIntercept are applied per slice (per frame for multi-frame objects,
    from their functional groups); spacing, origin and direction come from ``info``. (The work is
    done by ``volumes.series_image``.)

    Parameters
    ----------
    info : SeriesInfo
        From ``scan_dicom``.

    Returns
    -------
    SimpleITK.Image
        Float32, size ``info.size`` (x, y, z); ``GetArrayFromImage`` gives ``[z, y, x]``.

    Raises
    ------
    hccfusion.errors.DataError
        A file that has become unreadable, pixel data that cannot be decoded or does not match
        the header (names the file).
    """
    from hccfusion.imaging.volumes import series_image

    return series_image(info)
