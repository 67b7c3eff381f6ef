"""Shared imaging fixtures: one tiny simulated two-phase CT exam, written once per session in
both formats, and offline access to pydicom's real test files.

Fixtures (all session-scoped, read-only — copy before modifying):

``ct_exam``  → ``SimulatedExam``: ``root`` (the simulator's ``out_dir``), ``exam_dir`` (absolute
               ``<root>/<patient>/<exam>``), ``files`` (``CtExamFiles``, paths relative to
               ``root``), ``sidecar`` (the parsed ``lesion_labels.json``), ``lesions`` (the truth
               table used), and ``path(rel)`` to make a ``files`` path absolute. The exam is
               96 × 96 × 24 voxels of 4 × 4 × 8 mm, arterial and portal-venous phases as NIfTI
               and deflated DICOM, liver mask, lesion labels (3 lesions: L1 64 mm, L2 30 mm,
               L3 16 mm) and sidecar.
``pydicom_file`` → a function ``name -> Path`` for a file of pydicom's bundled test data
               (``CT_small.dcm``, ``liver_1frame.dcm``, ``rtstruct.dcm``…), found on disk so that
               nothing is downloaded (``get_testdata_files`` may try the network for patterns).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

PATIENT_ID = "WX-0042"
EXAM_ID = "WX-0042-CT0"
SEED = 4242


def lesion_truth(patient_id: str = PATIENT_ID) -> pd.DataFrame:
    """Three lesions: large with necrosis, medium, small (simulator contract columns)."""
    return pd.DataFrame(
        {
            "patient_id": patient_id,
            "lesion_id": ["L1", "L2", "L3"],
            "diameter_mm_baseline": [64.0, 30.0, 16.0],
            "diameter_mm_followup": [48.0, 20.0, 12.0],
            "viable_mm_baseline": [64.0, 20.0, 16.0],
            "viable_mm_followup": [16.0, 0.0, 12.0],
            "necrosis_fraction_baseline": [0.3, 0.5, 0.0],
            "necrosis_fraction_followup": [0.9, 1.0, 0.0],
            "arterial_enhancement_hu": [70.0, 60.0, 80.0],
            "washout": [True, False, True],
            "margin_irregularity": [0.3, 0.0, 0.1],
        }
    )


@dataclass(frozen=True)
class SimulatedExam:
    """One simulated exam on disk (see the module docstring)."""

    root: Path
    exam_dir: Path
    files: object
    sidecar: dict
    lesions: pd.DataFrame

    def path(self, relative: Path | None) -> Path:
        """Absolute path of a ``files`` entry."""
        assert relative is not None
        return self.root / relative


@pytest.fixture(scope="session")
def ct_exam(tmp_path_factory) -> SimulatedExam:
    for module in ("SimpleITK", "pydicom", "nibabel"):
        pytest.importorskip(module)
    from hccfusion.simulate.ct import write_ct_exam

    root = tmp_path_factory.mktemp("imaging_ct")
    lesions = lesion_truth()
    files = write_ct_exam(
        out_dir=root,
        patient_id=PATIENT_ID,
        exam_id=EXAM_ID,
        exam_date=datetime.date(2023, 5, 2),
        lesions=lesions,
        timepoint="baseline",
        center="WX",
        seed=SEED,
        size="small",
        formats=("nifti", "dicom"),
    )
    sidecar = json.loads((root / files.sidecar).read_text())
    return SimulatedExam(root=root, exam_dir=root / files.exam_dir, files=files, sidecar=sidecar, lesions=lesions)


@pytest.fixture(scope="session")
def pydicom_file():
    pytest.importorskip("pydicom")
    import pydicom.data

    folder = Path(pydicom.data.__file__).parent / "test_files"

    def find(name: str) -> Path:
        path = folder / name
        if not path.is_file():
            pytest.skip(f"pydicom's test data lacks {name}")
        return path

    return find


def write_seg(path: Path, labels, names: dict[int, str], *, series_uid: str | None = None) -> Path:
    """Write a BINARY DICOM Segmentation of a SimpleITK label map (segment k = label k, one frame
    per segment and slice that holds it, positions in the per-frame functional groups).

    ``series_uid`` fills ReferencedSeriesSequence (the source series). Used by the mask and exam
    tests; nothing in hccfusion writes SEG objects.
    """
    import numpy as np
    import SimpleITK as sitk
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.pixels import pack_bits
    from pydicom.uid import ExplicitVRLittleEndian, SegmentationStorage, generate_uid

    array = sitk.GetArrayFromImage(labels)
    nx, ny, _ = labels.GetSize()
    sx, sy, sz = labels.GetSpacing()
    direction = np.array(labels.GetDirection()).reshape(3, 3)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SegmentationStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SegmentationStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesDescription = "SEG", "masks"
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["seg study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[str(path), "series"])
    ds.PatientID = PATIENT_ID
    ds.SegmentationType = "BINARY"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = ny, nx, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    segments = []
    for number, name in names.items():
        item = Dataset()
        item.SegmentNumber, item.SegmentLabel, item.SegmentAlgorithmType = number, name, "MANUAL"
        segments.append(item)
    ds.SegmentSequence = segments
    measures, orientation, shared = Dataset(), Dataset(), Dataset()
    measures.PixelSpacing, measures.SliceThickness = [sy, sx], sz
    orientation.ImageOrientationPatient = [*direction[:, 0], *direction[:, 1]]
    shared.PixelMeasuresSequence, shared.PlaneOrientationSequence = [measures], [orientation]
    ds.SharedFunctionalGroupsSequence = [shared]
    frames, groups = [], []
    for number in names:
        for z in np.flatnonzero((array == number).any(axis=(1, 2))):
            frames.append(array[z] == number)
            group, position, ident = Dataset(), Dataset(), Dataset()
            position.ImagePositionPatient = list(labels.TransformIndexToPhysicalPoint((0, 0, int(z))))
            ident.ReferencedSegmentNumber = number
            group.PlanePositionSequence, group.SegmentIdentificationSequence = [position], [ident]
            groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = groups
    ds.NumberOfFrames = len(frames)
    ds.PixelData = pack_bits(np.array(frames, dtype=np.uint8))
    if series_uid:
        referenced = Dataset()
        referenced.SeriesInstanceUID = series_uid
        ds.ReferencedSeriesSequence = [referenced]
    ds.save_as(path, enforce_file_format=True)
    return path
