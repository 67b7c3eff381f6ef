"""One imaging exam folder (what ``exams.image_path`` points at) → one volume per contrast phase,
the liver mask and the lesion label map, with a report of what became what and why.

The folder convention (written by ``hccfusion.simulate.ct.write_ct_exam``)::

    <exam_dir>/<phase>.nii.gz …                 one NIfTI per phase (phase from the file name)
    <exam_dir>/dicom/<phase>/*.dcm …            and/or one DICOM series per phase
    <exam_dir>/liver_mask.nii.gz                uint8, 1 = liver
    <exam_dir>/lesion_labels.nii.gz + .json     uint8 labels + sidecar (label → lesion_id)

Any other DICOM folder works too: series are grouped by UID, phases come from the exams table,
descriptions, tags and acquisition order (``phases.identify_study_phases``), and DICOM-SEG /
RTSTRUCT files in it supply the masks (segments named like the liver → liver mask; tumour, lesion,
HCC, mass → lesion labels 1, 2, … in segment order). A series or mask that cannot be used is a
problem in the result; the rest of the exam is still read.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hccfusion.errors import DataError, UsageError, unknown_option
from hccfusion.imaging.dicom_series import ImageProblem

if TYPE_CHECKING:
    import SimpleITK

    from hccfusion.imaging.volumes import Volume

PREFER = ("nifti", "dicom")
LIVER_NAMES = ("liver_mask.nii.gz", "liver_mask.nii")
LESION_NAMES = ("lesion_labels.nii.gz", "lesion_labels.nii")
SIDECAR_NAME = "lesion_labels.json"
_MASK_WORDS = re.compile(r"mask|label|seg", re.IGNORECASE)
_LIVER = re.compile(r"liver|肝脏|^肝$", re.IGNORECASE)
_TUMOUR = re.compile(r"tumou?r|lesion|hcc|mass|nodule|cancer|肿瘤|病灶|癌", re.IGNORECASE)
_SKIP = ("*.nii", "*.nii.gz", "*.json", "*.csv", "*.txt", "*.md", "*.parquet")


@dataclass(frozen=True)
class ExamImages:
    """The images of one exam.

    Attributes
    ----------
    exam_dir : pathlib.Path
    volumes : dict of str to Volume
        Phase → volume (float32 HU, LPS), in the order of ``phases.PHASES``.
    liver_mask : SimpleITK.Image or None
        uint8, 1 = liver, on the grid of ``volumes[mask_phase]``.
    lesion_labels : SimpleITK.Image or None
        uint8, k = lesion ``lesion_ids[k]``, same grid.
    lesion_ids : dict of int to str
        Label value → lesion_id.
    phase_report : tuple of str
        Human lines: which file or series became which phase and why, what was left out.
    problems : tuple of ImageProblem
        Files, series and masks that could not be used (path and reason).
    mask_phase : str or None
        The phase whose grid the masks lie on.
    """

    exam_dir: Path
    volumes: dict[str, Volume]
    liver_mask: SimpleITK.Image | None
    lesion_labels: SimpleITK.Image | None
    lesion_ids: dict[int, str]
    phase_report: tuple[str, ...]
    problems: tuple[ImageProblem, ...]
    mask_phase: str | None = None


@dataclass
class _Candidate:
    kind: str  # "nifti" | "dicom"
    label: str
    phase: str | None
    reason: str
    source: str
    path: Path
    info: object = None
    rank: tuple = field(default=())


def _nifti_candidates(exam_dir: Path, table: tuple[str, ...] | None, report: list[str]) -> list[_Candidate]:
    from hccfusion.imaging.phases import PhaseEvidence, identify_study_phases
    from hccfusion.imaging.volumes import is_nifti

    files = sorted(p for p in exam_dir.iterdir() if p.is_file() and is_nifti(p))
    images = []
    for path in files:
        if path.name in (*LIVER_NAMES, *LESION_NAMES):
            continue
        if _MASK_WORDS.search(path.name):
            report.append(f"not used: {path.name} (looks like a mask, not an image)")
            continue
        images.append(path)
    choices = identify_study_phases([PhaseEvidence(label=p.name, file_name=p.name) for p in images], exams_phases=table)
    return [_Candidate("nifti", p.name, c.phase, c.reason, c.source, p, rank=(0, 0, 0)) for p, c in zip(images, choices)]


def _dicom_candidates(
    exam_dir: Path, scan: object, table: tuple[str, ...] | None, report: list[str]
) -> list[_Candidate]:
    from hccfusion.imaging.phases import PhaseEvidence, identify_study_phases

    usable = []
    for info in scan.series:  # type: ignore[attr-defined]
        label = _relative(info.folder, exam_dir) + (f" part {info.part}" if info.part else "")
        if info.is_localizer or info.n_slices < 3:
            what = f"'{info.series_description}', {info.n_slices} slices"
            report.append(f"not used: {label} ({what}): localizer or too few slices")
            continue
        usable.append((label, info))
    candidates = []
    for study in dict.fromkeys(info.study_uid for _, info in usable):
        members = [(label, info) for label, info in usable if info.study_uid == study]
        evidence = [
            PhaseEvidence(label=label, series_description=i.series_description, contrast_agent=i.contrast_agent,
                          acquisition_time=i.acquisition_time, contrast_start_time=i.contrast_start_time,
                          modality=i.modality, file_name=i.folder.name)
            for label, i in members
        ]
        for (label, info), choice in zip(members, identify_study_phases(evidence, exams_phases=table)):
            normal = np.array(info.direction).reshape(3, 3)[:, 2]
            rank = (-round(abs(float(normal[2])), 2), 0 if "ORIGINAL" in info.image_type else 1, -info.n_slices)
            candidates.append(
                _Candidate("dicom", label, choice.phase, choice.reason, choice.source, info.folder, info, rank)
            )
    return candidates


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def _read(candidate: _Candidate) -> Volume:
    from hccfusion.imaging.volumes import volume_from_nifti, volume_from_series

    if candidate.kind == "nifti":
        volume = volume_from_nifti(candidate.path, phase=candidate.phase)
    else:
        volume = volume_from_series(candidate.info, phase=candidate.phase)
    return dataclasses.replace(volume, phase_reason=candidate.reason, phase_source=candidate.source)


def _choose_volumes(
    candidates: list[_Candidate], prefer: str, report: list[str], problems: list[ImageProblem]
) -> dict[str, Volume]:
    from hccfusion.imaging.phases import PHASES

    for c in candidates:
        if c.phase is None:
            report.append(f"not used: {c.label} ({c.kind}) — {c.reason}")
    volumes: dict[str, Volume] = {}
    for phase in PHASES:
        options = [c for c in candidates if c.phase == phase]
        options.sort(key=lambda c: (c.kind != prefer, c.rank, c.label))
        for option in options:
            try:
                volumes[phase] = _read(option)
            except DataError as exc:
                problems.append(ImageProblem(option.path, f"{phase} not readable: {exc}"))
                continue
            others = [f"{o.label} ({o.kind})" for o in options if o is not option]
            also = f"; also found {', '.join(others)}, not used (prefer={prefer})" if others else ""
            report.append(f"{phase}: {option.label} ({option.kind}) — {option.reason}{also}")
            break
    return volumes


def _match_grid(
    mask_path: Path,
    volumes: dict[str, Volume],
    read: object,
    problems: list[ImageProblem],
    *,
    series_uid: str | None = None,
    first: str | None = None,
) -> tuple[str | None, object]:
    """Read a mask against the first volume whose grid fits: the referenced series, then the
    phase ``first`` (where the other mask went), then in phase order."""
    order = sorted(volumes, key=lambda p: (bool(series_uid) and volumes[p].series_uid != series_uid, p != first))
    first_error = None
    for phase in order:
        try:
            return phase, read(volumes[phase])  # type: ignore[operator]
        except DataError as exc:
            first_error = first_error or exc
    reason = str(first_error) if first_error else "no volume was read to place it on"
    problems.append(ImageProblem(mask_path, reason))
    return None, None


def _nifti_masks(
    exam_dir: Path, volumes: dict[str, Volume], report: list[str], problems: list[ImageProblem]
) -> tuple:
    from hccfusion.imaging.masks import lesion_label_map, read_mask

    liver = lesions = None
    liver_phase = lesion_phase = None
    ids: dict[int, str] = {}
    for name in LIVER_NAMES:
        if (exam_dir / name).is_file():
            liver_phase, liver = _match_grid(
                exam_dir / name, volumes, lambda v, p=exam_dir / name: read_mask(p, reference=v), problems
            )
            if liver is not None:
                liver = liver > 0
                report.append(f"liver mask: {name} on the {liver_phase} grid")
            break
    for name in LESION_NAMES:
        if (exam_dir / name).is_file():
            lesion_phase, lesions = _match_grid(
                exam_dir / name, volumes, lambda v, p=exam_dir / name: read_mask(p, reference=v), problems,
                first=liver_phase,
            )
            sidecar = exam_dir / SIDECAR_NAME
            if lesions is not None:
                if sidecar.is_file():
                    try:
                        ids = lesion_label_map(sidecar)
                    except DataError as exc:
                        problems.append(ImageProblem(sidecar, str(exc)))
                else:
                    problems.append(ImageProblem(sidecar, "missing: lesion labels have no lesion ids"))
                report.append(f"lesion labels: {name} on the {lesion_phase} grid, {len(ids)} lesion ids from {SIDECAR_NAME}")
            break
    return liver, lesions, ids, lesion_phase or liver_phase


def _dicom_masks(
    mask_files: tuple[Path, ...], volumes: dict[str, Volume], report: list[str], problems: list[ImageProblem]
) -> tuple:
    import SimpleITK as sitk

    from hccfusion.imaging.masks import read_mask_segments

    liver = lesions = None
    ids: dict[int, str] = {}
    mask_phase = None
    for path in mask_files:
        phase, segments = _match_grid(path, volumes, lambda v, p=path: read_mask_segments(p, reference=v), problems,
                                      series_uid=_referenced_series(path))
        if segments is None:
            continue
        reference = volumes[phase].image  # type: ignore[index]
        liver_parts = [s for s in segments if _LIVER.search(s.name)]
        liver_labels = {s.label for s in liver_parts}
        tumour_parts = [s for s in segments if _TUMOUR.search(s.name) and s.label not in liver_labels]
        used = liver_labels | {s.label for s in tumour_parts}
        if liver_parts and liver is None:
            array = np.any([s.mask for s in liver_parts], axis=0).astype(np.uint8)
            liver = sitk.GetImageFromArray(array)
            liver.CopyInformation(reference)
            names = ", ".join(repr(s.name) for s in liver_parts)
            report.append(f"liver mask: {path.name} segments {names} on the {phase} grid")
            mask_phase = mask_phase or phase
        if tumour_parts and lesions is None:
            array = np.zeros(tumour_parts[0].mask.shape, dtype=np.uint8)
            for k, segment in enumerate(tumour_parts, start=1):
                array[segment.mask] = k
                ids[k] = segment.name
            lesions = sitk.GetImageFromArray(array)
            lesions.CopyInformation(reference)
            names = ", ".join(repr(s.name) for s in tumour_parts)
            report.append(f"lesion labels: {path.name} segments {names} on the {phase} grid")
            mask_phase = phase
        ignored = [s.name for s in segments if s.label not in used]
        if ignored:
            names = ", ".join(repr(n) for n in ignored)
            report.append(f"not used: {path.name} segments {names} (neither liver nor tumour)")
    return liver, lesions, ids, mask_phase


def _referenced_series(path: Path) -> str | None:
    from hccfusion.imaging.dicom_series import read_header

    ds, _ = read_header(path)
    if ds is None:
        return None
    for item in ds.get("ReferencedSeriesSequence", []) or []:  # type: ignore[attr-defined]
        return str(item.get("SeriesInstanceUID", "")) or None
    for frame in ds.get("ReferencedFrameOfReferenceSequence", []) or []:  # type: ignore[attr-defined]
        for study in frame.get("RTReferencedStudySequence", []) or []:
            for series in study.get("RTReferencedSeriesSequence", []) or []:
                return str(series.get("SeriesInstanceUID", "")) or None
    return None


def _needs_dicom(exam_dir: Path, nifti: list[_Candidate], table: tuple[str, ...] | None, prefer: str) -> bool:
    """Whether DICOM must be scanned: always unless NIfTI is preferred and already gives every
    phase (all decided, all listed ones present) and both masks (scanning a full exam's headers
    takes seconds)."""
    if prefer == "dicom" or not nifti or any(c.phase is None for c in nifti):
        return True
    if table is not None and set(table) - {c.phase for c in nifti}:
        return True
    has = [any((exam_dir / n).is_file() for n in names) for names in (LIVER_NAMES, LESION_NAMES)]
    return not all(has)


def read_exam(exam_dir: Path | str, *, phases: tuple[str, ...] | None = None, prefer: str = "nifti") -> ExamImages:
    """Read one exam folder: a volume per phase, the liver mask and the lesion labels.

    Parameters
    ----------
    exam_dir : pathlib.Path or str
        The exam folder (see the module docstring for the layout; any DICOM folder also works).
    phases : tuple of str or None
        The phases the ``exams`` table lists for this exam (codes of ``phases.PHASES``, or the
        table's comma-separated string); they win over what the images say.
    prefer : {"nifti", "dicom"}
        Which format to read when a phase exists in both.

    Returns
    -------
    ExamImages

    Raises
    ------
    hccfusion.errors.UsageError
        ``exam_dir`` is not a folder; an unknown ``prefer`` or phase.
    hccfusion.errors.DataError
        The folder holds no readable image at all (lists the problems found).
    """
    from hccfusion.imaging.dicom_series import DicomScan, scan_dicom
    from hccfusion.imaging.phases import PHASES, identify_phase

    exam_dir = Path(exam_dir)
    if not exam_dir.is_dir():
        raise UsageError(f"The 'exam_dir' parameter of read_exam must be an existing folder. Got '{exam_dir}' instead.")
    if prefer not in PREFER:
        raise unknown_option("prefer", str(prefer), PREFER)
    if phases is not None:
        identify_phase(exams_phases=phases)  # validates the codes
        phases = tuple(p for p in re.split(r"[,;|\s]+", phases) if p) if isinstance(phases, str) else tuple(phases)
    report: list[str] = []
    candidates = _nifti_candidates(exam_dir, phases, report)
    dicom_root = exam_dir / "dicom" if (exam_dir / "dicom").is_dir() else exam_dir
    if _needs_dicom(exam_dir, candidates, phases, prefer):
        scan = scan_dicom(dicom_root, skip_patterns=_SKIP)
        candidates += _dicom_candidates(exam_dir, scan, phases, report)
    else:
        scan = DicomScan(series=(), problems=())
        if dicom_root != exam_dir:
            report.append(f"{_relative(dicom_root, exam_dir)}: not scanned (NIfTI volumes and masks cover the exam, prefer=nifti)")
    problems = list(scan.problems)
    if not candidates:
        found = "; ".join(str(p) for p in problems[:5]) or "no NIfTI volume and no DICOM series"
        raise DataError(f"exam {exam_dir}: no readable image ({found})")
    volumes = _choose_volumes(candidates, prefer, report, problems)
    for phase in phases or ():
        if phase not in volumes:
            problems.append(ImageProblem(exam_dir, f"the exams table lists {phase}, but no image of that phase was found"))
    liver, lesions, ids, mask_phase = _nifti_masks(exam_dir, volumes, report, problems)
    if liver is None and lesions is None and scan.mask_files:
        liver, lesions, ids, mask_phase = _dicom_masks(scan.mask_files, volumes, report, problems)
    if lesions is not None:
        import SimpleITK as sitk

        present = set(np.unique(sitk.GetArrayFromImage(lesions)).tolist()) - {0}
        unnamed = sorted(present - set(ids))
        if ids and unnamed:
            problems.append(ImageProblem(exam_dir, f"lesion labels {unnamed} have no lesion id in the sidecar"))
    ordered = {p: volumes[p] for p in PHASES if p in volumes}
    return ExamImages(
        exam_dir=exam_dir,
        volumes=ordered,
        liver_mask=liver,
        lesion_labels=lesions,
        lesion_ids=ids,
        phase_report=tuple(report),
        problems=tuple(problems),
        mask_phase=mask_phase,
    )
