"""The per-exam work of the imaging feature job (:mod:`hccfusion.pipeline.features_imaging`):
one exam as a picklable :class:`ExamTask`, its measurement in a worker (:func:`measure_exam`:
read, bring every phase onto the lesion mask's grid, radiomics per lesion and phase, lesion
crops), the capture of a failed exam as a reason, the worker pool that yields results as exams
finish, and the deep-embedding instances and provenance of one exam's crops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hccfusion.errors import DataError, HccfusionError

if TYPE_CHECKING:
    from hccfusion.pipeline.features_imaging import ImagingSettings


@dataclass(frozen=True)
class ExamTask:
    """One exam to measure (picklable: sent to a worker)."""

    patient_id: str
    exam_id: str
    timepoint: str
    exam_dir: str
    deep: bool


def measure_exam(task: ExamTask, settings: ImagingSettings,
                 radiomics: Any | None = None) -> dict[str, Any]:
    """Read one exam, measure radiomics of every lesion in every phase and, when asked, the
    multi-phase lesion crops for the deep encoder. Runs in a worker process.

    Parameters
    ----------
    task, settings
        The exam, and the job's settings.
    radiomics : RadiomicsSettings or None
        ``settings.radiomics`` already loaded (the job loads it once: loading validates it
        through PyRadiomics' schema, ≈ 0.07 s CPU); None loads it here.

    Returns
    -------
    dict
        ``lesions`` (DataFrame), ``crops`` (LesionCrops or None), ``phase_report`` (lines).

    Raises
    ------
    DataError
        The exam folder is unreadable, a phase is missing, or it has no lesion mask.
    """
    from hccfusion.imaging.exam import read_exam
    from hccfusion.imaging.preprocess import lesion_crops
    from hccfusion.imaging.radiomics import lesion_radiomics, load_radiomics_settings

    if not Path(task.exam_dir).is_dir():
        raise DataError(f"patient {task.patient_id}, exam {task.exam_id}: exam folder "
                        f"{task.exam_dir} not found (exams.image_path is resolved against the "
                        "data root).")
    exam = read_exam(Path(task.exam_dir), phases=settings.phases, prefer=settings.prefer)
    missing = [p for p in settings.phases if p not in exam.volumes]
    if missing:
        problems = "; ".join(f"{p.path.name}: {p.reason}" for p in exam.problems[:3])
        raise DataError(f"patient {task.patient_id}, exam {task.exam_id}: phase(s) {missing} not "
                        f"found in {task.exam_dir}" + (f" ({problems})" if problems else ""))
    if exam.lesion_labels is None:
        raise DataError(f"patient {task.patient_id}, exam {task.exam_id}: no lesion mask in "
                        f"{task.exam_dir} (expected lesion_labels.nii.gz, a DICOM-SEG or RTSTRUCT).")
    rad = radiomics if radiomics is not None else load_radiomics_settings(settings.radiomics)
    import pandas as pd

    images, report = _on_mask_grid(exam, settings.phases)
    rows = []
    for phase in settings.phases:
        table = lesion_radiomics(image=images[phase], labels=exam.lesion_labels,
                                 lesion_ids=exam.lesion_ids, phase=phase, settings=rad)
        rows.append(table)
    lesions = pd.concat(rows, ignore_index=True)
    lesions.insert(0, "timepoint", task.timepoint)
    lesions.insert(0, "exam_id", task.exam_id)
    lesions.insert(0, "patient_id", task.patient_id)
    crops = None
    if task.deep:
        crops = lesion_crops(images, exam.lesion_labels, size_mm=(settings.crop_mm,) * 3,
                             spacing_mm=settings.crop_spacing_mm, phases=settings.phases)
    return {"lesions": lesions, "crops": crops, "phase_report": list(exam.phase_report) + report}


def _on_mask_grid(exam: Any, phases: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Every phase on the lesion mask's grid: phases already there are used as they are; a
    phase on another grid, or moved between acquisitions, is registered rigidly to the phase the
    mask was drawn on (SimpleITK) and resampled onto its grid. The lines say what was done."""
    from hccfusion.imaging.volumes import grid_mismatch

    images = {p: exam.volumes[p].image for p in phases}
    off = {p: grid_mismatch(img, exam.lesion_labels, tolerance_mm=0.5) for p, img in images.items()}
    if not any(off.values()):
        return images, []
    from hccfusion.imaging.registration import align_phases

    on_grid = [p for p in phases if off[p] is None]
    reference = exam.mask_phase if exam.mask_phase in on_grid else (on_grid[0] if on_grid else None)
    if reference is None:
        raise DataError(f"exam folder {exam.exam_dir.name}: the lesion mask matches the grid of no "
                        f"phase ({'; '.join(f'{p}: {m}' for p, m in off.items())}).")
    aligned = align_phases(images, reference_phase=reference)
    lines = [f"{p}: {step.action} onto the {reference} grid of the lesion mask ({off[p]})"
             for p, step in aligned.steps.items() if off.get(p)]
    return dict(aligned.images), lines


def _run_one(task: ExamTask, settings: ImagingSettings,
             radiomics: Any) -> tuple[ExamTask, dict | None, str | None]:
    try:
        return task, measure_exam(task, settings, radiomics), None
    except HccfusionError as exc:
        return task, None, str(exc)
    except (OSError, RuntimeError, ValueError) as exc:   # SimpleITK / PyRadiomics failures
        return task, None, f"patient {task.patient_id}, exam {task.exam_id}: {type(exc).__name__}: {exc}"


def _results(tasks: Sequence[ExamTask], settings: ImagingSettings, radiomics: Any,
             workers: int):
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield _run_one(task, settings, radiomics)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), ProcessPoolExecutor(
            max_workers=workers, mp_context=mp.get_context("fork")) as pool:
        futures = [pool.submit(_run_one, task, settings, radiomics) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def _embed(encoder: Any, result: Mapping[str, Any], task: ExamTask,
           settings: ImagingSettings) -> dict[str, Any]:
    """Features (lesion × phase, dim), centroid coords (mm) and instance columns of one exam."""
    import numpy as np

    crops = result["crops"]
    n, n_phases = crops.arrays.shape[:2]
    flat = crops.arrays.reshape(n * n_phases, 1, *crops.arrays.shape[2:])
    feats = encoder.encode(flat)
    label_to_lesion = result["lesions"].drop_duplicates("label").set_index("label")["lesion_id"]
    lesion_ids = [str(label_to_lesion.get(int(lab), f"label{int(lab)}")) for lab in crops.labels]
    return {"features": feats,
            "coords": np.repeat(np.asarray(crops.centroids_mm, dtype=np.float64), n_phases, axis=0),
            "instances": {"lesion_id": np.repeat(np.array(lesion_ids, dtype=object), n_phases),
                          "phase": np.tile(np.array(crops.phases, dtype=object), n),
                          "exam_id": np.array([task.exam_id] * (n * n_phases), dtype=object)}}


def _provenance(encoder: Any, settings: ImagingSettings, task: ExamTask) -> dict[str, object]:
    spec = encoder.spec
    return {"encoder_dim": int(spec.dim), "weights_sha256": spec.weights_sha256 or "",
            "crop_mm": settings.crop_mm, "spacing_mm": settings.crop_spacing_mm,
            "phases": list(settings.phases), "exam_id": task.exam_id,
            "image_format": settings.prefer, "coords_unit": "mm (LPS)"}
