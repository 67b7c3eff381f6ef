"""The constant DICOM attributes of a simulated CT series (CT Image Storage).

Identifiers are synthetic but realistic enough to exercise de-identification: a patient name,
institution, station, accession number and dates and times. UIDs are deterministic: pydicom's
``generate_uid`` hashes the seed, patient, exam, phase (and slice) into a UID under pydicom's root.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from hccfusion.simulate.ct_center import CenterProfile
from hccfusion.simulate.ct_dicom import format_ds
from hccfusion.simulate.ct_grid import CtGrid

PHASE_CODES = {"arterial": "ART", "portal_venous": "PV"}
PHASE_DELAY_S = {"arterial": 35, "portal_venous": 70}
PHASE_SERIES_NUMBER = {"arterial": 3, "portal_venous": 4}
WINDOW_CENTER_HU, WINDOW_WIDTH_HU = 60, 400


def exam_uid(*, seed: int, patient_id: str, exam_id: str, parts: tuple[str, ...]) -> str:
    """A deterministic UID for an object of an exam (study, series, slice, frame of reference)."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["hccfusion-ct", str(seed), patient_id, exam_id, *parts]))


def short_id(*, prefix: str, parts: tuple[str, ...], length: int = 12) -> str:
    """A short identifier (e.g. for AccessionNumber, 16 characters at most) hashed from ``parts``."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest().upper()
    return prefix + digest[:length]


def synthetic_patient_name(*, patient_id: str) -> str:
    """A synthetic DICOM PersonName for a simulated patient, e.g. ``SIM^WX0001``."""
    return "SIM^" + "".join(ch for ch in patient_id if ch.isalnum())


@dataclass(frozen=True)
class SeriesContext:
    """What a series header needs to know about its exam.

    Attributes
    ----------
    seed : int
    patient_id, exam_id : str
    exam_date : datetime.date
    study_start : datetime.time
        Time of the contrast injection; each phase is acquired ``PHASE_DELAY_S`` later.
    profile : CenterProfile
    grid : CtGrid
    contrast_volume_ml : float
    """

    seed: int
    patient_id: str
    exam_id: str
    exam_date: datetime.date
    study_start: datetime.time
    profile: CenterProfile
    grid: CtGrid
    contrast_volume_ml: float


def _time(start: datetime.time, *, seconds: int) -> str:
    moment = datetime.datetime.combine(datetime.date(2000, 1, 1), start) + datetime.timedelta(seconds=seconds)
    return moment.strftime("%H%M%S")


def series_template(*, context: SeriesContext, phase: str, transfer_syntax: str) -> object:
    """The template dataset (every constant attribute) of one phase's series.

    Parameters
    ----------
    context : SeriesContext
    phase : {"arterial", "portal_venous"}
    transfer_syntax : str
        Transfer Syntax UID of the files.

    Returns
    -------
    pydicom.dataset.Dataset
        With ``file_meta``; lacks the per-slice attributes (see ``ct_dicom.SliceValues``).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage

    from hccfusion import __version__

    c, p, g = context, context.profile, context.grid
    ids = (c.patient_id, c.exam_id)
    date = c.exam_date.strftime("%Y%m%d")
    acquired = _time(c.study_start, seconds=PHASE_DELAY_S[phase])
    thickness = format_ds(g.spacing_mm[2])

    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"HCCFUSION_{__version__}"[:16]

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = _time(c.study_start, seconds=-300)
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = acquired
    ds.AccessionNumber = short_id(prefix="A", parts=(str(c.seed), *ids))
    ds.Modality = "CT"
    ds.Manufacturer = p.manufacturer
    ds.InstitutionName = p.institution_name
    ds.ReferringPhysicianName = "SIM^REFERRER"
    ds.StationName = p.station_name
    ds.StudyDescription = "CT ABDOMEN LIVER MULTIPHASE"
    ds.SeriesDescription = f"{PHASE_CODES[phase]} {thickness}mm"
    ds.ManufacturerModelName = p.model_name
    ds.PatientName = synthetic_patient_name(patient_id=c.patient_id)
    ds.PatientID = c.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.ContrastBolusAgent = p.contrast_agent
    ds.BodyPartExamined = "ABDOMEN"
    ds.SliceThickness = thickness
    ds.KVP = format_ds(p.kvp)
    ds.DataCollectionDiameter = "500"
    ds.SoftwareVersions = f"hccfusion {__version__} (simulated)"
    ds.ProtocolName = "LIVER MULTIPHASE"
    ds.ReconstructionDiameter = format_ds(g.shape_xyz[0] * g.spacing_mm[0])
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "150"
    ds.RotationDirection = "CW"
    ds.ConvolutionKernel = p.convolution_kernel
    ds.PatientPosition = "HFS"
    ds.ContrastBolusRoute = "IV"
    ds.ContrastBolusVolume = format_ds(c.contrast_volume_ml)
    ds.ContrastBolusStartTime = _time(c.study_start, seconds=0)
    ds.StudyInstanceUID = exam_uid(seed=c.seed, patient_id=c.patient_id, exam_id=c.exam_id, parts=("study",))
    ds.SeriesInstanceUID = exam_uid(seed=c.seed, patient_id=c.patient_id, exam_id=c.exam_id, parts=("series", phase))
    ds.StudyID = short_id(prefix="S", parts=(str(c.seed), *ids), length=8)
    ds.SeriesNumber = str(PHASE_SERIES_NUMBER[phase])
    ds.AcquisitionNumber = "1"
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = exam_uid(seed=c.seed, patient_id=c.patient_id, exam_id=c.exam_id, parts=("frame",))
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = g.shape_xyz[1]
    ds.Columns = g.shape_xyz[0]
    ds.PixelSpacing = [format_ds(g.spacing_mm[1]), format_ds(g.spacing_mm[0])]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = str(WINDOW_CENTER_HU)
    ds.WindowWidth = str(WINDOW_WIDTH_HU)
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    return ds
