"""Render one exam in memory: anatomy, placed lesions, tissue codes, both phases' HU images."""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass

import numpy as np

from hccfusion.simulate.ct_anatomy import Anatomy, sample_anatomy
from hccfusion.simulate.ct_center import CenterProfile
from hccfusion.simulate.ct_contrast import PHASES, LesionEnhancement, Phase, hu_tables
from hccfusion.simulate.ct_grid import CtGrid
from hccfusion.simulate.ct_image import synthesize_image
from hccfusion.simulate.ct_lesion import Lesion, LesionModel, lesion_model, place_lesion
from hccfusion.simulate.ct_phantom import Tissue, tissue_codes
from hccfusion.simulate.ct_placement import place_lesion_centres
from hccfusion.simulate.ct_random import derived_rng
from hccfusion.simulate.ct_truth import LesionTruth


@functools.lru_cache(maxsize=4)
def _patient_geometry(
    seed: int, patient_id: str, lesion_keys: tuple[tuple[str, float, float], ...]
) -> tuple[list[LesionModel], Anatomy, list[np.ndarray]]:
    """Lesion shapes, anatomy and lesion centres of a patient: the part shared by all exams.

    Pure in its arguments; cached so that a patient's follow-up exam written right after the
    baseline one does not draw them again. Callers must not modify the returned objects.
    """
    models = [
        lesion_model(seed=seed, patient_id=patient_id, lesion_id=lesion_id, margin_irregularity=margin)
        for lesion_id, margin, _ in lesion_keys
    ]
    tumour_ml = sum(m.unit_volume * (d / m.unit_diameter) ** 3 for m, (_, _, d) in zip(models, lesion_keys)) / 1000.0
    anatomy = sample_anatomy(seed=seed, patient_id=patient_id, tumour_volume_ml=tumour_ml)
    centres = place_lesion_centres(
        seed=seed,
        patient_id=patient_id,
        anatomy=anatomy,
        models=models,
        max_diameters_mm=[d for _, _, d in lesion_keys],
    )
    return models, anatomy, centres


@dataclass(frozen=True)
class RenderedExam:
    """An exam before it is written.

    Attributes
    ----------
    grid : CtGrid
    profile : CenterProfile
    anatomy : Anatomy
    truths : list of LesionTruth
    lesions : list of Lesion
        Placed lesions, in label order.
    codes : numpy.ndarray
        Tissue codes, uint8, shape ``grid.shape_zyx`` (see ``ct_phantom``).
    images : dict
        Phase → int16 HU volume, shape ``grid.shape_zyx``.
    study_start : datetime.time
        Time of the contrast injection.
    contrast_volume_ml : float
    """

    grid: CtGrid
    profile: CenterProfile
    anatomy: Anatomy
    truths: list[LesionTruth]
    lesions: list[Lesion]
    codes: np.ndarray
    images: dict[Phase, np.ndarray]
    study_start: datetime.time
    contrast_volume_ml: float


def render_exam(
    *,
    seed: int,
    patient_id: str,
    exam_id: str,
    truths: list[LesionTruth],
    grid: CtGrid,
    profile: CenterProfile,
) -> RenderedExam:
    """Draw the anatomy and lesions of a patient and image them in both phases.

    Parameters
    ----------
    seed : int
        The patient's seed.
    patient_id, exam_id : str
        Anatomy, lesion shapes and positions use ``(seed, patient_id)``; contrast timing and
        noise use ``(seed, patient_id, exam_id)``.
    truths : list of LesionTruth
    grid : CtGrid
    profile : CenterProfile
    """
    models, anatomy, centres = _patient_geometry(
        seed, patient_id, tuple((t.lesion_id, t.margin_irregularity, t.max_diameter_mm) for t in truths)
    )
    # Centre each lesion on a voxel so that even a 10 mm lesion covers whole voxels of a coarse grid.
    origin, spacing = np.asarray(grid.origin_mm), np.asarray(grid.spacing_mm)
    centres = [origin + np.round((c - origin) / spacing) * spacing for c in centres]
    lesions = [
        place_lesion(
            model=m,
            centre_mm=c,
            diameter_mm=t.diameter_mm,
            viable_mm=t.viable_mm,
            necrosis_fraction=t.necrosis_fraction,
        )
        for m, c, t in zip(models, centres, truths)
    ]
    codes = tissue_codes(grid=grid, anatomy=anatomy, lesions=lesions)
    exam_rng = derived_rng(seed=seed, keys=("ct-exam", patient_id, exam_id))
    tables = hu_tables(
        lesions=[LesionEnhancement(arterial_enhancement_hu=t.arterial_enhancement_hu, washout=t.washout) for t in truths],
        rng=exam_rng,
    )
    study_start = datetime.time(hour=int(exam_rng.integers(8, 17)), minute=int(exam_rng.integers(0, 60)))
    contrast_volume_ml = float(np.round(exam_rng.uniform(80.0, 110.0)))
    body = codes != Tissue.AIR
    images = {
        phase: synthesize_image(
            codes=codes,
            table=tables[phase],
            body=body,
            grid=grid,
            profile=profile,
            rng=derived_rng(seed=seed, keys=("ct-noise", patient_id, exam_id, phase)),
        )
        for phase in PHASES
    }
    return RenderedExam(
        grid=grid,
        profile=profile,
        anatomy=anatomy,
        truths=truths,
        lesions=lesions,
        codes=codes,
        images=images,
        study_start=study_start,
        contrast_volume_ml=contrast_volume_ml,
    )
