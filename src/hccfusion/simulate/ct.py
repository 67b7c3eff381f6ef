"""Simulated contrast-enhanced CT exams (arterial and portal-venous phases) with known truth.

``write_ct_exam`` draws one exam of one patient from the lesion-truth table of the simulator
contract (``docs/simulator_contract.md``): an abdomen with a ~1.5 L liver in the upper right,
spleen, kidneys, aorta, vena cava, portal vein and spine, and the patient's tumours with the
truth's sizes and enhancement. It writes each phase as NIfTI and/or as a DICOM series, plus a
liver mask, a lesion label mask and a JSON sidecar that maps labels to lesion ids.

Randomness: anatomy, lesion shapes and lesion positions come from ``seed`` and ``patient_id``
only (plus the lesions' sizes at both time points, read from the same table), so a patient's
baseline and follow-up exams must be written with the same ``seed``: lesions then stay where they
were and only change size. Contrast timing, noise and UIDs also depend on ``exam_id``.

Layout under ``out_dir``::

    <patient_id>/<exam_id>/arterial.nii.gz, portal_venous.nii.gz
    <patient_id>/<exam_id>/dicom/arterial/IM0001.dcm …, dicom/portal_venous/…
    <patient_id>/<exam_id>/liver_mask.nii.gz, lesion_labels.nii.gz, lesion_labels.json
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from hccfusion.errors import UsageError, unknown_option

TIMEPOINTS = ("baseline", "followup")
SIZES = ("small", "full")
FORMATS = ("nifti", "dicom")


@dataclass(frozen=True)
class CtExamFiles:
    """The files of one simulated CT exam; paths are relative to ``out_dir``.

    Attributes
    ----------
    exam_dir : pathlib.Path
        ``<patient_id>/<exam_id>``.
    arterial_nifti, portal_venous_nifti : pathlib.Path or None
        Each phase as NIfTI (int16 HU), None when ``"nifti"`` was not asked for.
    arterial_dicom_dir, portal_venous_dicom_dir : pathlib.Path or None
        Folder of each phase's DICOM series (one file per slice), None when ``"dicom"`` was not
        asked for.
    liver_mask : pathlib.Path
        NIfTI uint8, 1 = liver (parenchyma and tumours, without the large vessels).
    lesion_labels : pathlib.Path
        NIfTI uint8, ``k`` = the k-th row of the lesion table.
    sidecar : pathlib.Path
        JSON: label → lesion id, true and voxelised volumes (mL) and diameters (mm).
    spacing_mm : tuple of float
        Voxel spacing along x, y, z (mm).
    shape : tuple of int
        Voxels along x, y, z (SimpleITK ``GetSize`` / nibabel order; numpy arrays read by
        SimpleITK are ``shape[::-1]``).
    """

    exam_dir: Path
    arterial_nifti: Path | None
    portal_venous_nifti: Path | None
    arterial_dicom_dir: Path | None
    portal_venous_dicom_dir: Path | None
    liver_mask: Path
    lesion_labels: Path
    sidecar: Path
    spacing_mm: tuple[float, float, float]
    shape: tuple[int, int, int]


def _check_name(kind: str, value: object) -> str:
    if not isinstance(value, str) or not value or value in (".", "..") or any(c in value for c in "/\\\0"):
        raise UsageError(f"{kind} must be a non-empty string usable as a folder name; got {value!r}.")
    return value


def _check_options(*, timepoint: str, size: str, formats: Sequence[str], seed: object, exam_date: object) -> None:
    if timepoint not in TIMEPOINTS:
        raise unknown_option("timepoint", str(timepoint), TIMEPOINTS)
    if size not in SIZES:
        raise unknown_option("size", str(size), SIZES)
    if isinstance(formats, str) or not formats:
        raise UsageError(f"formats must be a non-empty sequence such as ('nifti', 'dicom'); got {formats!r}.")
    for fmt in formats:
        if fmt not in FORMATS:
            raise unknown_option("format", str(fmt), FORMATS)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer; got {seed!r}.")
    if not isinstance(exam_date, datetime.date):
        raise UsageError(f"exam_date must be a datetime.date; got {exam_date!r}.")


def write_ct_exam(
    *,
    out_dir: Path,
    patient_id: str,
    exam_id: str,
    exam_date: datetime.date,
    lesions: object,
    timepoint: Literal["baseline", "followup"],
    center: str,
    seed: int,
    size: Literal["small", "full"] = "small",
    formats: Sequence[Literal["nifti", "dicom"]] = ("nifti", "dicom"),
) -> CtExamFiles:
    """Write one simulated two-phase contrast CT exam of one patient.

    Parameters
    ----------
    out_dir : pathlib.Path
        Root folder; the exam goes to ``out_dir/<patient_id>/<exam_id>`` (created, files
        overwritten).
    patient_id, exam_id : str
        Written to the DICOM headers (PatientID, the accession number is derived from them).
    exam_date : datetime.date
        StudyDate.
    lesions : pandas.DataFrame
        The patient's rows of the lesion-truth table (contract columns; both
        ``diameter_mm_baseline`` and ``diameter_mm_followup`` are needed for placement). Row k is
        label k + 1. A lesion of diameter 0 is not drawn (its label stays empty).
    timepoint : {"baseline", "followup"}
        Which size, viable diameter and necrosis apply.
    center : str
        Centre code (``WX``, ``NJ``); sets vendor, kernel, noise, HU offset and, for ``full``,
        pixel and slice spacing. Unknown centres get a generic third scanner.
    seed : int
        The patient's seed (≥ 0): use the same one for all exams of a patient.
    size : {"small", "full"}
        ``small``: 96 × 96 × 40 voxels of 4 × 4 × 6 mm, deflated DICOM; ``full``: 512 × 512 ×
        120–192 slices of 0.75–0.78 mm × 1.25–2 mm, uncompressed DICOM.
    formats : sequence of {"nifti", "dicom"}
        Image formats of the two phases. The masks and the sidecar are always written (NIfTI,
        JSON).

    Returns
    -------
    CtExamFiles

    Raises
    ------
    hccfusion.errors.UsageError
        An unknown option, a bad seed or date, an id that cannot name a folder.
    hccfusion.errors.DataError
        A lesion table that breaks the contract (see ``ct_truth.read_lesion_truth``).

    Examples
    --------
    >>> files = write_ct_exam(out_dir=tmp, patient_id="WX-0001", exam_id="WX-0001-CT0",
    ...     exam_date=datetime.date(2023, 3, 1), lesions=truth, timepoint="baseline",
    ...     center="WX", seed=17)  # doctest: +SKIP
    """
    from hccfusion.simulate.ct_center import center_profile
    from hccfusion.simulate.ct_grid import ct_grid
    from hccfusion.simulate.ct_render import render_exam
    from hccfusion.simulate.ct_truth import read_lesion_truth
    from hccfusion.simulate.ct_writing import write_exam_files

    _check_name("patient_id", patient_id)
    _check_name("exam_id", exam_id)
    _check_options(timepoint=timepoint, size=size, formats=formats, seed=seed, exam_date=exam_date)
    truths = read_lesion_truth(lesions=lesions, patient_id=patient_id, timepoint=timepoint)
    profile = center_profile(center=center)
    grid = ct_grid(size=size, profile=profile)
    rendered = render_exam(
        seed=int(seed), patient_id=patient_id, exam_id=exam_id, truths=truths, grid=grid, profile=profile
    )
    return write_exam_files(
        out_dir=Path(out_dir),
        rendered=rendered,
        patient_id=patient_id,
        exam_id=exam_id,
        exam_date=exam_date,
        timepoint=timepoint,
        center=center,
        seed=int(seed),
        size=size,
        formats=tuple(formats),
    )
