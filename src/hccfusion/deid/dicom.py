"""De-identification of DICOM files for sharing: ``hccfusion deid dicom IN/ OUT/``.

Every DICOM file under ``IN`` is rewritten under ``OUT`` following DICOM PS3.15 Annex E (the
Basic Application Level Confidentiality Profile with the modified-dates, patient-characteristics
and clean-descriptors options; the attribute actions and their rules are in
:mod:`hccfusion.deid.dicom_profile`):

- Patient ID and Patient Name become the patient's keyed pseudonym, exactly the value the
  tabular export writes (:func:`hccfusion.deid.pseudonym.pseudonym`, namespace ``patient_id``);
- every date moves by the patient's offset (:func:`~hccfusion.deid.pseudonym.date_offset_days`,
  the same shift as the tables);
- every instance UID is replaced by a keyed ``2.25.…`` UID, the same in every file, so
  references between an RT Structure Set or a Segmentation and its CT still resolve;
- private attributes are removed; Pixel Data is copied byte for byte (never decoded);
- a final check empties any text attribute that still contains one of the file's original
  identifiers or UIDs;
- Burned In Annotation is reported per series: ``YES``, or missing for a modality that often
  burns text into the pixels (US, SC, OT, XA …), is flagged for a person to look at.

Output paths hold no identifier: ``<pseudonym>/study<NN>/series<NNN>/<NNNNN>.dcm`` (studies by
shifted date, series by number, instances by number). The original → new path map is returned in
the report (the CLI writes it, on request, to a site-side file outside ``OUT``). Damaged and
truncated files are refused by the checks in :mod:`hccfusion.deid.dicom_read`.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from hccfusion.deid.dicom_profile import (
    CleanStats,
    clean_dataset,
    clean_leaks,
    identifier_needles,
    mark_deidentified,
    remap_uid,
    shift_da,
)
from hccfusion.deid.dicom_read import _Skip, _check_complete, _read
from hccfusion.deid.pseudonym import DeidKey, date_offset_days, pseudonym
from hccfusion.errors import UsageError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: Modalities (and the Secondary Capture classes) whose pixels often carry burned-in text.
BURNED_IN_RISK_MODALITIES: frozenset[str] = frozenset({"US", "SC", "OT", "XA", "RF", "ES", "XC",
                                                       "GM", "SM", "DOC", "IVUS", "OP"})
#: Our own implementation class UID (2.25 form, from a fixed name): the writing software is named
#: without reusing a root that an input's creator UID might share.
IMPLEMENTATION_CLASS_UID = "2.25.{}".format(int.from_bytes(
    hashlib.sha256(b"hccfusion DICOM de-identification").digest()[:16], "big"))
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_DICOMDIR = "1.2.840.10008.1.3.10"


@dataclass(frozen=True)
class DicomProblem:
    """A file that was not written: its path relative to ``IN`` and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class DicomSeries:
    """One written series: where it went and its burned-in-annotation status.

    ``burned_in`` is ``YES``, ``NO``, ``missing`` or ``mixed`` (files disagree); ``flagged`` is
    True when a person should look at the pixels before sharing (YES, mixed, or missing for a
    modality in :data:`BURNED_IN_RISK_MODALITIES` or a Secondary Capture object).
    """

    patient: str
    folder: str
    modality: str
    n_instances: int
    burned_in: str
    flagged: bool


@dataclass(frozen=True)
class DicomDeidReport:
    """What :func:`deidentify_dicom` wrote.

    Attributes
    ----------
    out : pathlib.Path
        The output folder (DICOM files and ``manifest.json``).
    n_files : int
        DICOM files written.
    patients : tuple of str
        Pseudonyms of the patients written.
    series : tuple of DicomSeries
        Every written series, with its burned-in-annotation status.
    problems : tuple of DicomProblem
        Files not written (path relative to ``IN`` and reason).
    key_fingerprint : str
    n_private_removed, n_dates_shifted, n_leaks_cleaned : int
        Private attributes removed, date attributes shifted, and text attributes emptied by
        the final check because they still held an original identifier.
    path_map : mapping of str to str
        Original path relative to ``IN`` → new path relative to ``OUT``. It may hold
        identifiers: keep it at the site, never next to the shared files.
    """

    out: Path
    n_files: int
    patients: tuple[str, ...]
    series: tuple[DicomSeries, ...]
    problems: tuple[DicomProblem, ...]
    key_fingerprint: str
    n_private_removed: int
    n_dates_shifted: int
    n_leaks_cleaned: int
    path_map: Mapping[str, str] = field(repr=False)

    @property
    def flagged_series(self) -> tuple[DicomSeries, ...]:
        """Series whose pixels may show burned-in identifiers."""
        return tuple(s for s in self.series if s.flagged)


@dataclass
class _Header:
    rel: str
    patient_id: str
    sop_uid: str
    study_uid: str
    series_uid: str
    study_date: str
    series_number: int
    instance_number: int
    modality: str
    sop_class: str
    burned_in: str


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _scan(src: Path, *, id_map: Mapping[str, str] | None
          ) -> tuple[list[_Header], list[DicomProblem]]:
    headers: list[_Header] = []
    problems: list[DicomProblem] = []
    seen: dict[str, str] = {}
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src).as_posix()
        try:
            ds = _read(path, stop_before_pixels=True)
            sop_class = str(ds.get("SOPClassUID", ""))
            if sop_class == _DICOMDIR or "DirectoryRecordSequence" in ds:
                raise _Skip("DICOMDIR index not copied (it lists original identities and paths)")
            sop = str(ds.get("SOPInstanceUID", "")).strip()
            if not sop or not sop_class or "StudyInstanceUID" not in ds \
                    or "SeriesInstanceUID" not in ds:
                raise _Skip("missing SOP Class, SOP Instance, Study or Series Instance UID")
            if sop in seen:
                raise _Skip(f"same SOP Instance UID as {seen[sop]}; duplicate not copied")
            dicom_pid = str(ds.get("PatientID", "") or "").strip()
            if not dicom_pid:
                raise _Skip("no Patient ID")
            patient_id = id_map.get(dicom_pid) if id_map is not None else dicom_pid
            if not patient_id:
                raise _Skip("Patient ID not found in the ID map")
        except _Skip as exc:
            problems.append(DicomProblem(rel, str(exc)))
            continue
        seen[sop] = rel
        headers.append(_Header(
            rel=rel, patient_id=str(patient_id), sop_uid=sop, study_uid=str(ds.StudyInstanceUID),
            series_uid=str(ds.SeriesInstanceUID), study_date=str(ds.get("StudyDate", "") or ""),
            series_number=_int(ds.get("SeriesNumber"), 10**9),
            instance_number=_int(ds.get("InstanceNumber"), 10**9),
            modality=str(ds.get("Modality", "") or ""), sop_class=sop_class,
            burned_in=str(ds.get("BurnedInAnnotation", "") or "").strip().upper()))
    return headers, problems


def _layout(headers: list[_Header], key: DeidKey) -> dict[str, str]:
    """rel path → ``<pseudonym>/studyNN/seriesNNN/NNNNN.dcm`` (ordered without identifiers)."""
    by_patient: dict[str, list[_Header]] = defaultdict(list)
    for h in headers:
        by_patient[h.patient_id].append(h)
    paths: dict[str, str] = {}
    for pid, files in by_patient.items():
        alias, offset = pseudonym(key, pid, namespace="patient_id"), date_offset_days(key, pid)
        studies = sorted({(shift_da(h.study_date, offset), remap_uid(key, h.study_uid), h.study_uid)
                          for h in files})
        study_no = {s[2]: i + 1 for i, s in enumerate(studies)}
        series_no: dict[str, int] = {}
        for study_uid in study_no:
            members = sorted({(h.series_number, remap_uid(key, h.series_uid), h.series_uid)
                              for h in files if h.study_uid == study_uid})
            series_no.update({s[2]: i + 1 for i, s in enumerate(members)})
        by_series: dict[str, list[_Header]] = defaultdict(list)
        for h in files:
            by_series[h.series_uid].append(h)
        for series_uid, members in by_series.items():
            members.sort(key=lambda h: (h.instance_number, remap_uid(key, h.sop_uid)))
            for i, h in enumerate(members):
                paths[h.rel] = (f"{alias}/study{study_no[h.study_uid]:02d}/"
                                f"series{series_no[series_uid]:03d}/{i + 1:05d}.dcm")
    return paths


def _file_meta(ds: Dataset) -> None:
    """Replace the file meta (it may name the sending system) keeping the transfer syntax."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    from hccfusion import __version__

    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None:
        implicit, little = ds.original_encoding
        syntax = ImplicitVRLittleEndian if implicit else (
            ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = f"HCCFUSION_{__version__}"[:16]
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128


def _check_args(src: Path, out: Path, key: object, id_map: object, overwrite: bool) -> None:
    if not isinstance(key, DeidKey):
        raise UsageError("The 'key' parameter of deidentify_dicom must be a DeidKey (from "
                         f"load_key). Got {type(key).__name__} instead.")
    if not src.is_dir():
        raise UsageError(f"The 'src' parameter of deidentify_dicom must be an existing folder. "
                         f"Got {src} instead.")
    if id_map is not None and not isinstance(id_map, Mapping):
        raise UsageError("The 'id_map' parameter of deidentify_dicom must be a mapping from "
                         f"DICOM Patient ID to study patient_id. Got {type(id_map).__name__} "
                         "instead.")
    if out.resolve().is_relative_to(src.resolve()):
        raise UsageError(f"The 'out' parameter of deidentify_dicom must lie outside the input "
                         f"folder. Got {out} inside {src} instead.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise UsageError(f"output folder {out} is not empty; choose a new folder or pass "
                         "overwrite=True (--overwrite) to replace its files.")


def deidentify_dicom(*, src: Path | str, out: Path | str, key: DeidKey,
                     id_map: Mapping[str, str] | None = None, overwrite: bool = False,
                     workers: int = 1) -> DicomDeidReport:
    """De-identify every DICOM file under ``src`` (recursively) into ``out``.

    Parameters
    ----------
    src
        Folder searched recursively; every regular file is tried as DICOM (files with or without
        the preamble and file meta). Files that cannot be used are reported, the rest written.
    out
        Output folder (created; must be outside ``src``, new or empty unless ``overwrite``).
    key
        The study's secret key (:func:`hccfusion.deid.pseudonym.load_key`): pseudonyms, date
        offsets and UIDs all derive from it.
    id_map
        DICOM Patient ID → study ``patient_id`` (e.g. a hospital record number → ``WX-0001``).
        Default: the Patient ID is the study ``patient_id``. A file whose Patient ID is not in
        the map is reported and skipped.
    overwrite
        Write into a non-empty ``out`` (files of the same name are replaced).
    workers
        Processes that write patients in parallel (the output does not depend on it).

    Returns
    -------
    DicomDeidReport

    Raises
    ------
    hccfusion.errors.UsageError
        A bad key, a missing ``src``, ``out`` inside ``src``, or a non-empty ``out``.
    """
    src, out = Path(src), Path(out)
    _check_args(src, out, key, id_map, overwrite)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise UsageError("The 'workers' parameter of deidentify_dicom must be an integer ≥ 1. "
                         f"Got {workers!r} instead.")
    headers, problems = _scan(src, id_map=id_map)
    layout = _layout(headers, key)
    by_patient: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for h in headers:
        by_patient[h.patient_id].append((h.rel, layout[h.rel]))
    jobs = [(src, out, key, pid, files) for pid, files in by_patient.items()]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            results = list(pool.map(_write_patient, jobs))
    else:
        results = [_write_patient(job) for job in jobs]
    written = {rel: new for r in results for rel, new in r.written}
    problems += [p for r in results for p in r.problems]
    series_files: dict[str, list[_Header]] = defaultdict(list)
    for h in headers:
        if h.rel in written:
            series_files[written[h.rel].rsplit("/", 1)[0]].append(h)
    series = tuple(_series_summary(folder, files) for folder, files in sorted(series_files.items()))
    _write_manifest(out, key=key, series=series, n_files=len(written))
    return DicomDeidReport(
        out=out, n_files=len(written), patients=tuple(sorted({s.patient for s in series})),
        series=series, problems=tuple(problems), key_fingerprint=key.fingerprint,
        n_private_removed=sum(r.private_removed for r in results),
        n_dates_shifted=sum(r.dates_shifted for r in results),
        n_leaks_cleaned=sum(r.leaks for r in results), path_map=written)


@dataclass(frozen=True)
class _PatientResult:
    written: list[tuple[str, str]]
    problems: list[DicomProblem]
    private_removed: int
    dates_shifted: int
    leaks: int


def _write_patient(job: tuple[Path, Path, DeidKey, str, list[tuple[str, str]]]) -> _PatientResult:
    """De-identify and write the files of one patient (a unit of work for a worker process)."""
    src, out, key, patient_id, files = job
    alias = pseudonym(key, patient_id, namespace="patient_id")
    offset = date_offset_days(key, patient_id)
    written, problems, stats, leaks = [], [], CleanStats(), 0
    for rel, new in files:
        try:
            ds = _read(src / rel, stop_before_pixels=False)
            _check_complete(ds)
        except _Skip as exc:
            problems.append(DicomProblem(rel, str(exc)))
            continue
        needles = identifier_needles(ds, patient_id=patient_id)
        stats.uids = {}
        clean_dataset(ds, key=key, offset_days=offset, stats=stats)
        leaks += clean_leaks(ds, needles | {u.casefold() for u in stats.uids})
        mark_deidentified(ds, alias=alias)
        _file_meta(ds)
        target = out / new
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target, enforce_file_format=True)
        written.append((rel, new))
    return _PatientResult(written, problems, stats.private_removed, stats.dates_shifted, leaks)


def _write_manifest(out: Path, *, key: DeidKey, series: tuple[DicomSeries, ...],
                    n_files: int) -> None:
    """``manifest.json``: how the folder was de-identified (no original value or path)."""
    import datetime as dt
    import json

    from hccfusion import __version__
    from hccfusion.deid.dicom_profile import METHOD_CODES

    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": "hccfusion-deidentified-dicom", "format_version": "1",
        "package_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "key_fingerprint": key.fingerprint,
        "profile": "DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile",
        "method_codes": [{"code": c, "scheme": "DCM", "meaning": m} for c, m in METHOD_CODES],
        "date_shift": "every date of a patient moved by the same offset as the shared tables",
        "n_files": n_files,
        "series": [{"folder": s.folder, "modality": s.modality, "n_instances": s.n_instances,
                    "burned_in_annotation": s.burned_in, "check_pixels": s.flagged}
                   for s in series],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _series_summary(folder: str, files: list[_Header]) -> DicomSeries:
    flags = {h.burned_in for h in files}
    status = ("mixed" if len(flags) > 1 else
              {"YES": "YES", "NO": "NO"}.get(flags.pop(), "missing"))
    modality = files[0].modality
    at_risk = modality in BURNED_IN_RISK_MODALITIES or any(
        h.sop_class == _SECONDARY_CAPTURE or h.sop_class.startswith(_SECONDARY_CAPTURE + ".")
        for h in files)
    flagged = status in ("YES", "mixed") or (status == "missing" and at_risk)
    return DicomSeries(patient=folder.split("/", 1)[0], folder=folder, modality=modality,
                       n_instances=len(files), burned_in=status, flagged=flagged)


__all__ = ["DicomDeidReport", "DicomProblem", "DicomSeries", "deidentify_dicom"]
