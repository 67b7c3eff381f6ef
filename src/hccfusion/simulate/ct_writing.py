"""Write a rendered CT exam: NIfTI volumes, DICOM series, masks and the label sidecar."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np

from hccfusion.simulate.ct_contrast import PHASES
from hccfusion.simulate.ct_dicom import SliceValues, write_series
from hccfusion.simulate.ct_dicom_header import SeriesContext, exam_uid, series_template
from hccfusion.simulate.ct_image import HU_MIN
from hccfusion.simulate.ct_measure import longest_diameter_mm
from hccfusion.simulate.ct_nifti import write_nifti
from hccfusion.simulate.ct_phantom import lesion_labels, liver_mask, viable_mask
from hccfusion.simulate.ct_render import RenderedExam

SIDECAR_FORMAT_VERSION = 1


def _dicom_series(*, folder: Path, rendered: RenderedExam, context: SeriesContext, phase: str, size: str) -> None:
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

    # Small exams are written by the hundred in tests and the demo: deflate keeps them small.
    syntax = DeflatedExplicitVRLittleEndian if size == "small" else ExplicitVRLittleEndian
    template = series_template(context=context, phase=phase, transfer_syntax=syntax)
    grid = rendered.grid
    stored = (rendered.images[phase].astype(np.int32) - HU_MIN).astype(np.uint16)  # type: ignore[literal-required]
    z_mm = grid.axis_mm(2)
    slices = [
        SliceValues(
            sop_instance_uid=exam_uid(
                seed=context.seed, patient_id=context.patient_id, exam_id=context.exam_id, parts=("image", phase, str(k))
            ),
            instance_number=k + 1,
            position_mm=(grid.origin_mm[0], grid.origin_mm[1], float(z_mm[k])),
            pixels=stored[k],
        )
        for k in range(grid.shape_zyx[0])
    ]
    written = set(write_series(folder=folder, template=template, slices=slices))
    # A series written before on another grid may have left more slices: they would join this one.
    for stale in set(folder.glob("IM*.dcm")) - written:
        stale.unlink()


def _sidecar(*, rendered: RenderedExam, labels: np.ndarray, liver: np.ndarray, header: dict) -> dict:
    grid = rendered.grid
    entries = []
    for k, (truth, lesion) in enumerate(zip(rendered.truths, rendered.lesions), start=1):
        mask = labels == k
        viable = viable_mask(rendered.codes, label=k)
        entries.append(
            {
                "label": k,
                "lesion_id": truth.lesion_id,
                "volume_ml": round(lesion.volume_ml, 4),
                "mask_volume_ml": round(float(mask.sum()) * grid.voxel_volume_ml, 4),
                "diameter_mm": truth.diameter_mm,
                "mask_diameter_mm": round(longest_diameter_mm(mask=mask, spacing_mm=grid.spacing_mm), 2),
                "viable_mm": truth.viable_mm,
                "mask_viable_mm": round(longest_diameter_mm(mask=viable, spacing_mm=grid.spacing_mm), 2),
                "viable_volume_ml": round(lesion.viable_volume_ml, 4),
                "necrosis_fraction": truth.necrosis_fraction,
                "necrosis_fraction_rendered": round(lesion.necrosis_fraction, 4),
                "centre_mm_lps": [round(float(v), 2) for v in lesion.centre_mm],
            }
        )
    return {
        **header,
        "spacing_mm": list(grid.spacing_mm),
        "shape": list(grid.shape_xyz),
        "liver_volume_ml": round(float(liver.sum()) * grid.voxel_volume_ml, 2),
        "lesions": entries,
    }


def write_exam_files(
    *,
    out_dir: Path,
    rendered: RenderedExam,
    patient_id: str,
    exam_id: str,
    exam_date: datetime.date,
    timepoint: str,
    center: str,
    seed: int,
    size: str,
    formats: tuple[str, ...],
) -> object:
    """Write every file of an exam under ``out_dir/<patient_id>/<exam_id>``.

    Returns
    -------
    hccfusion.simulate.ct.CtExamFiles
    """
    from hccfusion import __version__
    from hccfusion.simulate.ct import CtExamFiles

    grid = rendered.grid
    exam_dir = Path(patient_id) / exam_id
    (out_dir / exam_dir).mkdir(parents=True, exist_ok=True)
    context = SeriesContext(
        seed=seed,
        patient_id=patient_id,
        exam_id=exam_id,
        exam_date=exam_date,
        study_start=rendered.study_start,
        profile=rendered.profile,
        grid=grid,
        contrast_volume_ml=rendered.contrast_volume_ml,
    )
    nifti: dict[str, Path | None] = {phase: None for phase in PHASES}
    dicom: dict[str, Path | None] = {phase: None for phase in PHASES}
    for phase in PHASES:
        if "nifti" in formats:
            nifti[phase] = exam_dir / f"{phase}.nii.gz"
            write_nifti(
                path=out_dir / nifti[phase],  # type: ignore[operator]
                volume_zyx=rendered.images[phase],
                grid=grid,
                description=f"hccfusion simulated CT {phase} HU",
            )
        if "dicom" in formats:
            dicom[phase] = exam_dir / "dicom" / phase
            _dicom_series(folder=out_dir / dicom[phase], rendered=rendered, context=context, phase=phase, size=size)  # type: ignore[operator]
    labels = lesion_labels(rendered.codes)
    liver = liver_mask(rendered.codes)
    paths = {name: exam_dir / f"{name}.nii.gz" for name in ("liver_mask", "lesion_labels")}
    write_nifti(path=out_dir / paths["liver_mask"], volume_zyx=liver, grid=grid, description="hccfusion liver mask")
    write_nifti(path=out_dir / paths["lesion_labels"], volume_zyx=labels, grid=grid, description="hccfusion lesion labels")
    header = {
        "format_version": SIDECAR_FORMAT_VERSION,
        "generator": f"hccfusion.simulate.ct {__version__}",
        "patient_id": patient_id,
        "exam_id": exam_id,
        "exam_date": exam_date.isoformat(),
        "timepoint": timepoint,
        "center": center,
        "size": size,
        "seed": seed,
        "units": {"volume": "mL", "diameter": "mm", "coordinates": "LPS mm"},
    }
    sidecar = exam_dir / "lesion_labels.json"
    (out_dir / sidecar).write_text(
        json.dumps(_sidecar(rendered=rendered, labels=labels, liver=liver, header=header), indent=1) + "\n"
    )
    return CtExamFiles(
        exam_dir=exam_dir,
        arterial_nifti=nifti["arterial"],
        portal_venous_nifti=nifti["portal_venous"],
        arterial_dicom_dir=dicom["arterial"],
        portal_venous_dicom_dir=dicom["portal_venous"],
        liver_mask=paths["liver_mask"],
        lesion_labels=paths["lesion_labels"],
        sidecar=sidecar,
        spacing_mm=grid.spacing_mm,
        shape=grid.shape_xyz,
    )
