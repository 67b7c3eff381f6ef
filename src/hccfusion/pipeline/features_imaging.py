"""The imaging feature job: every imaged patient's baseline and first follow-up exam →
per-lesion radiomics (each phase), per-patient aggregates, delta-radiomics, and a deep-embedding
bag per patient (one instance per lesion × phase of the baseline exam). With
``ImagingSettings(exams="baseline")`` only the baseline exams are measured (what a model that
predicts at baseline may use; about half the work) and there is no delta-radiomics table.

Layout under ``out`` (the feature store root)::

    imaging/radiomics/<spec>/exams/<exam_id>.parquet   per-exam lesion rows (resume unit)
    imaging/radiomics/<spec>/lesion_radiomics.parquet  all lesions of the selected exams
    imaging/radiomics/<spec>/patient_radiomics.parquet baseline, one row per patient × phase
    imaging/radiomics/<spec>/delta_radiomics.parquet   follow-up vs baseline, per patient
    imaging/radiomics/<spec>/failures.json             exams that could not be read, and why
    imaging/<encoder>/<spec>/<patient_id>.h5 + manifest.parquet   deep embeddings

Each exam is read, resampled and measured in a worker process of its own, so peak memory is
one exam per worker; an exam already done is skipped, so a run resumes after an interruption.
This module is the batch driver and the on-disk tables; the per-exam work lives in
:mod:`hccfusion.pipeline.features_imaging_exam`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hccfusion.errors import DataError, UsageError
from hccfusion.io.atomic import atomic_write_parquet, atomic_write_text
from hccfusion.io.exam_selection import select_exams  # re-exported: CLI and tests use it here
from hccfusion.pipeline.features_imaging_exam import (  # noqa: F401 - re-exported
    ExamTask,
    _embed,
    _provenance,
    _results,
    measure_exam,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_PHASES", "TIMEPOINTS", "EXAM_SELECTIONS", "ImagingSettings", "ExamTask",
           "ImagingFeatureRun", "measure_exam", "extract_cohort_imaging", "select_exams"]

DEFAULT_PHASES = ("arterial", "portal_venous")
TIMEPOINTS = ("baseline", "followup")
#: Which exams of each patient are measured (``ImagingSettings.exams``).
EXAM_SELECTIONS = ("baseline", "baseline+followup")


@dataclass(frozen=True)
class ImagingSettings:
    """What changes the imaging features (recorded in every output).

    Attributes
    ----------
    radiomics
        PyRadiomics parameter set: a name shipped with hccfusion (``ct_ibsi``) or a YAML path.
    phases
        Phases measured and stacked, in this order.
    encoder
        3D encoder registry name for the deep embeddings; None skips them.
    weights, expected_sha256
        Local checkpoint of the encoder (never downloaded) and its expected checksum.
    crop_mm, crop_spacing_mm
        Edge of the cubic crop around each lesion, and its isotropic voxel size.
    prefer
        ``nifti`` or ``dicom`` when an exam folder holds both.
    exams
        ``baseline+followup`` (default): each patient's baseline and first follow-up exam;
        ``baseline``: the baseline exam only (no delta-radiomics). A per-exam result does not
        depend on it, so both selections share one radiomics folder and its resume parts.
    """

    radiomics: str = "ct_ibsi"
    phases: tuple[str, ...] = DEFAULT_PHASES
    encoder: str | None = "resnet18_3d"
    weights: str | None = None
    expected_sha256: str | None = None
    crop_mm: float = 64.0
    crop_spacing_mm: float = 2.0
    prefer: str = "nifti"
    exams: str = "baseline+followup"

    def __post_init__(self) -> None:
        if self.exams not in EXAM_SELECTIONS:
            from hccfusion.errors import unknown_option

            raise unknown_option("exam selection", str(self.exams), EXAM_SELECTIONS)

    @property
    def include_followup(self) -> bool:
        """Whether the first follow-up exam is measured besides the baseline exam."""
        return self.exams == "baseline+followup"

    def radiomics_spec(self) -> str:
        name = Path(self.radiomics).stem if self.radiomics.endswith((".yaml", ".yml")) else self.radiomics
        return f"{name}-{self.prefer}"

    def deep_spec(self) -> str:
        return f"crop{self.crop_mm:g}mm-{self.crop_spacing_mm:g}mm-{'-'.join(self.phases)}"


@dataclass(frozen=True)
class ImagingFeatureRun:
    """What :func:`extract_cohort_imaging` did.

    Attributes
    ----------
    radiomics_dir, deep_dir
        Output folders (``deep_dir`` None without an encoder).
    n_exams, n_done, n_skipped
        Exams selected, measured in this run, and skipped because already done.
    failures
        exam_id → reason, for the exams that could not be measured.
    phase_report
        Lines saying which series became which phase and why.
    """

    radiomics_dir: Path
    deep_dir: Path | None
    n_exams: int
    n_done: int
    n_skipped: int
    failures: dict[str, str] = field(default_factory=dict)
    phase_report: tuple[str, ...] = ()


def _exam_dir(image_path: str, data_root: Path) -> str:
    path = Path(image_path)
    return str(path if path.is_absolute() else data_root / path)


def _part_path(rad_dir: Path, exam_id: str) -> Path:
    return rad_dir / "exams" / f"{exam_id}.parquet"


def _load_failures(path: Path) -> dict[str, str]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _save_failures(path: Path, failures: Mapping[str, str]) -> None:
    atomic_write_text(path, json.dumps(dict(sorted(failures.items())), indent=1,
                                       ensure_ascii=False) + "\n")


def extract_cohort_imaging(*, exams: "pd.DataFrame", treatments: "pd.DataFrame",
                           data_root: str | Path, out: str | Path,
                           settings: ImagingSettings = ImagingSettings(), workers: int = 1,
                           patients: Sequence[str] | None = None,
                           on_exam: Callable[[str, str | None], None] | None = None) -> ImagingFeatureRun:
    """Measure every selected exam and write the imaging features under ``out``.

    Parameters
    ----------
    exams, treatments
        The cohort's canonical tables (``exams.image_path`` points at each exam folder).
    data_root
        Folder that relative ``image_path`` values are resolved against.
    out
        The feature store root.
    settings
        Radiomics parameter set, phases, deep encoder, crop geometry, and which exams
        (``settings.exams``: baseline only, or baseline and first follow-up).
    workers
        Processes reading and measuring exams (one exam in memory per worker).
    patients
        Restrict to these patients (default: all with a baseline exam).
    on_exam
        Called after each exam with ``(exam_id, error or None)``: progress for the CLI.

    Returns
    -------
    ImagingFeatureRun

    Raises
    ------
    UsageError
        Bad settings (unknown radiomics set or encoder, missing weights file).
    DataError
        No patient has an imaged baseline exam.
    """
    from hccfusion.imaging.radiomics import load_radiomics_settings

    if settings.prefer not in ("nifti", "dicom"):
        from hccfusion.errors import unknown_option

        raise unknown_option("image format", settings.prefer, ("nifti", "dicom"))
    radiomics = load_radiomics_settings(settings.radiomics)   # fails on a bad name before any work
    data_root, out = Path(data_root), Path(out)
    if not data_root.is_dir():
        raise UsageError(f"The 'data_root' parameter of extract_cohort_imaging must be an existing "
                         f"folder (where exams.image_path values start). Got {str(data_root)!r} instead.")
    selection = select_exams(exams, treatments, include_followup=settings.include_followup)
    if patients is not None:
        selection = selection[selection["patient_id"].isin(list(patients))]
    if selection.empty:
        raise DataError("no patient has an imaged exam on or before T0: check exams.image_path "
                        "and the treatments table (T0).")
    rad_dir = out / "imaging" / "radiomics" / settings.radiomics_spec()
    failures_path = rad_dir / "failures.json"
    failures = _load_failures(failures_path)
    store = encoder = None
    if settings.encoder is not None:
        from hccfusion.imaging.encoders import get_volume_encoder
        from hccfusion.io.feature_store import FeatureStore

        encoder = get_volume_encoder(settings.encoder, in_channels=1, weights=settings.weights,
                                     expected_sha256=settings.expected_sha256)
        store = FeatureStore(out, modality="imaging", encoder=settings.encoder,
                             spec=settings.deep_spec())
    tasks, skipped = [], 0
    for row in selection.itertuples(index=False):
        deep = store is not None and row.timepoint == "baseline" and not store.done(row.patient_id)
        if _part_path(rad_dir, row.exam_id).is_file() and not deep:
            skipped += 1
            continue
        tasks.append(ExamTask(patient_id=row.patient_id, exam_id=row.exam_id,
                              timepoint=row.timepoint, deep=deep,
                              exam_dir=_exam_dir(row.image_path, data_root)))
    report: list[str] = []
    done = 0
    for task, result, error in _results(tasks, settings, radiomics, workers):
        before = failures.get(task.exam_id)
        if error is not None:
            failures[task.exam_id] = error
            if store is not None and task.deep:
                store.record_failure(task.patient_id, patient_id=task.patient_id, error=error)
        else:
            atomic_write_parquet(_part_path(rad_dir, task.exam_id), result["lesions"])
            if task.deep:
                emb = _embed(encoder, result, task, settings)
                store.write(task.patient_id, patient_id=task.patient_id,
                            provenance=_provenance(encoder, settings, task), **emb)
            failures.pop(task.exam_id, None)
            report.extend(f"{task.exam_id}: {line}" for line in result["phase_report"])
            done += 1
        if failures.get(task.exam_id) != before:
            _save_failures(failures_path, failures)
        if on_exam is not None:
            on_exam(task.exam_id, error)
    _combine(rad_dir, selection)
    if store is not None:
        store.write_manifest()
    return ImagingFeatureRun(radiomics_dir=rad_dir, deep_dir=None if store is None else store.dir,
                             n_exams=len(selection), n_done=done, n_skipped=skipped,
                             failures=dict(failures), phase_report=tuple(report))


def _combine(rad_dir: Path, selection: "pd.DataFrame") -> None:
    """Merge the per-exam parts of the selected exams into the lesion, patient and delta
    tables. A delta table left by an earlier run is removed when this selection has no
    follow-up exam (baseline only), so the tables always describe the same exams."""
    import pandas as pd

    from hccfusion.imaging.radiomics import delta_radiomics, patient_radiomics

    parts = [_part_path(rad_dir, e) for e in selection["exam_id"]]
    frames = [pd.read_parquet(p) for p in parts if p.is_file()]
    if not frames:
        return
    lesions = pd.concat(frames, ignore_index=True)
    atomic_write_parquet(rad_dir / "lesion_radiomics.parquet", lesions)
    base = lesions[lesions["timepoint"] == "baseline"]
    atomic_write_parquet(rad_dir / "patient_radiomics.parquet", patient_radiomics(base))
    follow = lesions[lesions["timepoint"] == "followup"]
    delta_path = rad_dir / "delta_radiomics.parquet"
    if len(follow):
        atomic_write_parquet(delta_path, delta_radiomics(baseline=base, followup=follow))
    else:
        delta_path.unlink(missing_ok=True)
