"""Tests of the simulated CT exams (hccfusion.simulate.ct), on the small grid."""

from __future__ import annotations

import datetime
import io
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

nib = pytest.importorskip("nibabel")
sitk = pytest.importorskip("SimpleITK")
pydicom = pytest.importorskip("pydicom")

from scipy.ndimage import binary_erosion  # noqa: E402

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.simulate.ct import CtExamFiles, write_ct_exam  # noqa: E402
from hccfusion.simulate.ct_measure import longest_diameter_mm  # noqa: E402

PATIENT = "WX-0007"
SEED = 20240601
DATE = datetime.date(2023, 3, 1)
SPACING = (4.0, 4.0, 8.0)


def truth_table(patient_id: str = PATIENT) -> pd.DataFrame:
    """L1: large, rim-enhancing with a necrotic core; L2: mostly necrotic with an eccentric viable
    nodule, no washout; L3: small, fully viable with washout; L4: gone at follow-up."""
    return pd.DataFrame(
        {
            "patient_id": patient_id,
            "lesion_id": ["L1", "L2", "L3", "L4"],
            "diameter_mm_baseline": [64.0, 44.0, 16.0, 12.0],
            "diameter_mm_followup": [48.0, 36.0, 12.0, 0.0],
            "viable_mm_baseline": [64.0, 20.0, 16.0, 12.0],
            "viable_mm_followup": [16.0, 0.0, 12.0, 0.0],
            "necrosis_fraction_baseline": [0.3, 0.9, 0.0, 0.0],
            "necrosis_fraction_followup": [0.95, 1.0, 0.0, 0.0],
            "arterial_enhancement_hu": [70.0, 60.0, 80.0, 50.0],
            "washout": [True, False, True, True],
            "margin_irregularity": [0.3, 0.0, 0.1, 0.5],
        }
    )


def write(out: Path, timepoint: str, **kwargs) -> CtExamFiles:
    args = dict(
        out_dir=out,
        patient_id=PATIENT,
        exam_id=f"{PATIENT}-{timepoint}",
        exam_date=DATE,
        lesions=truth_table(),
        timepoint=timepoint,
        center="WX",
        seed=SEED,
    )
    args.update(kwargs)
    return write_ct_exam(**args)


@pytest.fixture(scope="module")
def exams(tmp_path_factory) -> tuple[Path, CtExamFiles, CtExamFiles]:
    out = tmp_path_factory.mktemp("ct")
    return out, write(out, "baseline"), write(out, "followup")


def read_nifti(path: Path) -> np.ndarray:
    """Array indexed [z, y, x] like SimpleITK's."""
    return np.asarray(nib.load(str(path)).dataobj).transpose(2, 1, 0)


def sidecar(out: Path, files: CtExamFiles) -> dict:
    return json.loads((out / files.sidecar).read_text())


def test_same_seed_gives_identical_bytes(exams, tmp_path):
    from hccfusion.simulate.ct_render import _patient_geometry

    out, baseline, _ = exams
    _patient_geometry.cache_clear()  # draw anatomy and placement afresh, not from the cache
    again = write(tmp_path, "baseline")
    first = sorted(p.relative_to(out) for p in (out / baseline.exam_dir).rglob("*") if p.is_file())
    second = sorted(p.relative_to(tmp_path) for p in (tmp_path / again.exam_dir).rglob("*") if p.is_file())
    assert first == second and len(first) == 2 * 24 + 5
    for rel in first:
        assert (out / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_another_seed_changes_the_patient(exams, tmp_path):
    out, baseline, _ = exams
    other = write(tmp_path, "baseline", seed=SEED + 1)
    assert not np.array_equal(read_nifti(out / baseline.arterial_nifti), read_nifti(tmp_path / other.arterial_nifti))


def test_lesions_stay_in_place_between_baseline_and_followup(exams):
    out, baseline, followup = exams
    before, after = sidecar(out, baseline), sidecar(out, followup)
    for b, a in zip(before["lesions"], after["lesions"]):
        assert b["lesion_id"] == a["lesion_id"]
        assert b["centre_mm_lps"] == a["centre_mm_lps"]
    labels_b = read_nifti(out / baseline.lesion_labels)
    labels_a = read_nifti(out / followup.lesion_labels)
    for k in (1, 2, 3):
        # A shrinking lesion stays inside its former self.
        assert labels_a[labels_a == k].size > 0
        assert np.all(labels_b[labels_a == k] == k)
    liver_b, liver_a = read_nifti(out / baseline.liver_mask), read_nifti(out / followup.liver_mask)
    differs = liver_b != liver_a
    assert not np.any(differs & (labels_b == 0))


def test_nifti_opens_with_the_right_geometry(exams):
    out, baseline, _ = exams
    assert baseline.spacing_mm == SPACING and baseline.shape == (96, 96, 24)
    for rel in (baseline.arterial_nifti, baseline.portal_venous_nifti, baseline.liver_mask, baseline.lesion_labels):
        image = sitk.ReadImage(str(out / rel))
        assert image.GetSize() == baseline.shape
        assert np.allclose(image.GetSpacing(), SPACING)
        assert np.allclose(image.GetDirection(), np.eye(3).ravel())
        origin = image.GetOrigin()
        assert np.allclose(origin[:2], [-(96 - 1) / 2 * 4.0] * 2)
        loaded = nib.load(str(out / rel))
        assert np.allclose(loaded.header.get_zooms(), SPACING)
        assert nib.aff2axcodes(loaded.affine) == ("L", "P", "S")
        assert np.allclose(loaded.affine[:3, 3], [-origin[0], -origin[1], origin[2]])
        assert np.array_equal(sitk.GetArrayFromImage(image), read_nifti(out / rel))
    assert read_nifti(out / baseline.arterial_nifti).dtype == np.int16


@pytest.mark.parametrize("phase", ["arterial", "portal_venous"])
def test_dicom_series_matches_the_nifti(exams, phase):
    out, baseline, _ = exams
    folder = out / getattr(baseline, f"{phase}_dicom_dir")
    nifti = out / getattr(baseline, f"{phase}_nifti")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    series = reader.Execute()
    volume = sitk.ReadImage(str(nifti))
    assert np.array_equal(sitk.GetArrayFromImage(series), sitk.GetArrayFromImage(volume))
    assert np.allclose(series.GetSpacing(), SPACING)
    assert np.allclose(series.GetOrigin(), volume.GetOrigin())
    assert np.allclose(series.GetDirection(), np.eye(3).ravel())

    files = sorted(folder.glob("*.dcm"))
    assert len(files) == 24
    hu = sitk.GetArrayFromImage(volume)
    first, last = pydicom.dcmread(files[0]), pydicom.dcmread(files[-1])
    for k in (0, 11, 23):
        ds = pydicom.dcmread(files[k])
        assert int(ds.InstanceNumber) == k + 1
        values = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        assert np.array_equal(values, hu[k])
        assert np.allclose(ds.ImagePositionPatient, volume.TransformIndexToPhysicalPoint((0, 0, k)))
    assert first.SOPClassUID == pydicom.uid.CTImageStorage and first.Modality == "CT"
    assert first.PatientID == PATIENT and str(first.PatientName) and first.StudyDate == "20230301"
    assert first.SeriesDescription == {"arterial": "ART 8mm", "portal_venous": "PV 8mm"}[phase]
    assert [float(v) for v in first.PixelSpacing] == [4.0, 4.0] and float(first.SliceThickness) == 8.0
    assert [float(v) for v in first.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert float(first.RescaleIntercept) == -1024 and first.PixelRepresentation == 0
    assert first.ContrastBolusAgent and float(first.KVP) > 0 and first.Manufacturer == "SIEMENS"
    assert first.StudyInstanceUID == last.StudyInstanceUID and first.SeriesInstanceUID == last.SeriesInstanceUID
    assert first.SOPInstanceUID != last.SOPInstanceUID and first.FrameOfReferenceUID == last.FrameOfReferenceUID


def test_phases_share_the_study_but_not_the_series(exams):
    out, baseline, followup = exams
    art = pydicom.dcmread(next((out / baseline.arterial_dicom_dir).glob("*.dcm")))
    pv = pydicom.dcmread(next((out / baseline.portal_venous_dicom_dir).glob("*.dcm")))
    later = pydicom.dcmread(next((out / followup.arterial_dicom_dir).glob("*.dcm")))
    assert art.StudyInstanceUID == pv.StudyInstanceUID != later.StudyInstanceUID
    assert art.SeriesInstanceUID != pv.SeriesInstanceUID


def test_fast_encoder_writes_what_pydicom_writes():
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

    from hccfusion.simulate.ct_center import center_profile
    from hccfusion.simulate.ct_dicom import SeriesEncoder, SliceValues, format_ds
    from hccfusion.simulate.ct_dicom_header import SeriesContext, series_template
    from hccfusion.simulate.ct_grid import ct_grid

    profile = center_profile(center="NJ")
    context = SeriesContext(
        seed=3, patient_id="NJ-0001", exam_id="E1", exam_date=DATE, study_start=datetime.time(9, 30),
        profile=profile, grid=ct_grid(size="small", profile=profile), contrast_volume_ml=90.0,
    )
    pixels = np.random.default_rng(0).integers(0, 4096, size=(96, 96)).astype(np.uint16)
    values = SliceValues(sop_instance_uid="1.2.3.4.5", instance_number=7, position_mm=(-190.0, -190.0, -12.5), pixels=pixels)
    for syntax in (ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian):
        template = series_template(context=context, phase="portal_venous", transfer_syntax=syntax)
        fast = SeriesEncoder(template=template).encode(values)
        full = series_template(context=context, phase="portal_venous", transfer_syntax=syntax)
        full.SOPInstanceUID = full.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
        full.InstanceNumber = "7"
        full.ImagePositionPatient = [format_ds(v) for v in values.position_mm]
        full.SliceLocation = format_ds(-12.5)
        full.PixelData = pixels.tobytes()
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, full, enforce_file_format=True)
        reference = buffer.getvalue()
        if syntax == ExplicitVRLittleEndian:
            assert fast == reference
        else:
            meta_end = 132 + 12 + int.from_bytes(reference[140:144], "little")
            assert fast[:meta_end] == reference[:meta_end]
            inflate = lambda b: zlib.decompressobj(-zlib.MAX_WBITS).decompress(b)  # noqa: E731
            assert inflate(fast[meta_end:]) == inflate(reference[meta_end:])
        ds = pydicom.dcmread(io.BytesIO(fast))
        assert np.array_equal(ds.pixel_array, pixels) and ds.Manufacturer == "GE MEDICAL SYSTEMS"


def _inner(mask: np.ndarray) -> np.ndarray:
    """The mask without its border voxels (where partial volume blurs the HU)."""
    return binary_erosion(mask, structure=np.ones((1, 3, 3), bool))


def test_enhancement_pattern_follows_the_truth(exams):
    out, baseline, _ = exams
    art, pv = read_nifti(out / baseline.arterial_nifti), read_nifti(out / baseline.portal_venous_nifti)
    labels = read_nifti(out / baseline.lesion_labels)
    liver = _inner((read_nifti(out / baseline.liver_mask) == 1) & binary_erosion(labels == 0, iterations=2))
    liver_art, liver_pv = art[liver].mean(), pv[liver].mean()
    assert 55 < liver_art < 85 and 95 < liver_pv < 125
    l3 = _inner(labels == 3) if _inner(labels == 3).any() else labels == 3
    # L3: fully viable, hyperenhancing in the arterial phase, washout in the portal-venous phase.
    assert art[l3].mean() > liver_art + 40
    assert pv[l3].mean() < liver_pv - 10
    # L2: no washout; L1 and L2 carry non-enhancing necrosis near 25 HU.
    viable2 = _inner(labels == 2) & (art > liver_art + 30)
    assert viable2.any() and pv[viable2].mean() > liver_pv - 10
    necrotic = _inner(labels == 2) & (art < 45)
    assert necrotic.sum() > viable2.sum() and abs(np.median(art[necrotic]) - 25) < 8


def _enhancing_diameter(art: np.ndarray, labels: np.ndarray, k: int, threshold: float) -> float:
    return longest_diameter_mm(mask=(labels == k) & (art > threshold), spacing_mm=SPACING)


def test_necrosis_shrinks_the_enhancing_diameter(exams):
    out, baseline, followup = exams
    truth = truth_table().set_index("lesion_id")
    for files, tp in ((baseline, "baseline"), (followup, "followup")):
        art = read_nifti(out / files.arterial_nifti)
        labels = read_nifti(out / files.lesion_labels)
        liver = read_nifti(out / files.liver_mask).astype(bool) & (labels == 0)
        liver_art = np.median(art[liver])
        for k, lesion in ((1, "L1"), (2, "L2")):
            threshold = liver_art + truth.loc[lesion, "arterial_enhancement_hu"] / 2
            enhancing = _enhancing_diameter(art, labels, k, threshold)
            whole = longest_diameter_mm(mask=labels == k, spacing_mm=SPACING)
            viable = truth.loc[lesion, f"viable_mm_{tp}"]
            assert abs(enhancing - viable) <= 4.0, (tp, lesion, enhancing, viable)
            if viable < truth.loc[lesion, f"diameter_mm_{tp}"] - 10:
                assert enhancing < whole - 8


def test_masks_match_the_truth(exams):
    out, baseline, followup = exams
    for files in (baseline, followup):
        meta = sidecar(out, files)
        labels = read_nifti(out / files.lesion_labels)
        assert meta["spacing_mm"] == list(SPACING)
        for entry in meta["lesions"]:
            mask = labels == entry["label"]
            volume = mask.sum() * np.prod(SPACING) / 1000
            assert volume == pytest.approx(entry["mask_volume_ml"], abs=1e-3)
            if entry["diameter_mm"] == 0:
                assert not mask.any() and entry["volume_ml"] == 0
                continue
            measured = longest_diameter_mm(mask=mask, spacing_mm=SPACING)
            assert measured == pytest.approx(entry["mask_diameter_mm"], abs=0.01)
            # Within one in-plane voxel of the true diameter.
            assert abs(measured - entry["diameter_mm"]) <= 4.0, entry
            tolerance = 0.15 if entry["diameter_mm"] >= 20 else 0.6
            assert volume == pytest.approx(entry["volume_ml"], rel=tolerance), entry
        liver = read_nifti(out / files.liver_mask).astype(bool)
        assert 1100 < liver.sum() * np.prod(SPACING) / 1000 < 2300


def test_lesions_lie_in_the_liver(exams):
    out, baseline, _ = exams
    labels = read_nifti(out / baseline.lesion_labels)
    liver = read_nifti(out / baseline.liver_mask).astype(bool)
    parenchyma = liver & (labels == 0)
    for k in range(1, 5):
        # Every lesion is surrounded by liver: most voxels just outside it are parenchyma.
        lesion = labels == k
        from scipy.ndimage import binary_dilation

        ring = binary_dilation(lesion, structure=np.ones((1, 3, 3), bool)) & ~lesion & (labels == 0)
        assert parenchyma[ring].mean() > 0.6, k


def test_centres_differ_in_vendor_and_calibration(tmp_path):
    wx = write(tmp_path, "baseline", exam_id="wx", formats=("dicom",))
    nj = write(tmp_path, "baseline", exam_id="nj", center="NJ", formats=("dicom",))
    assert wx.arterial_nifti is None and nj.portal_venous_nifti is None
    ds_wx = pydicom.dcmread(next((tmp_path / wx.arterial_dicom_dir).glob("*.dcm")))
    ds_nj = pydicom.dcmread(next((tmp_path / nj.arterial_dicom_dir).glob("*.dcm")))
    assert ds_wx.Manufacturer != ds_nj.Manufacturer
    assert ds_wx.ConvolutionKernel != ds_nj.ConvolutionKernel and ds_wx.KVP != ds_nj.KVP


def test_longest_diameter_of_simple_masks():
    line = np.zeros((3, 5, 12), bool)
    line[1, 2, 1:11] = True  # ten voxels along x: centres 9 voxels apart, plus half a voxel's extent
    assert longest_diameter_mm(mask=line, spacing_mm=(2.0, 3.0, 5.0)) == pytest.approx(9 * 2.0 + 1.0)
    assert longest_diameter_mm(mask=np.zeros((2, 2, 2), bool), spacing_mm=(1.0, 1.0, 1.0)) == 0.0
    z, y, x = np.mgrid[:21, :41, :41]
    ball = ((x - 20) * 1.0) ** 2 + ((y - 20) * 1.0) ** 2 + ((z - 10) * 2.0) ** 2 <= 15.0**2
    assert longest_diameter_mm(mask=ball, spacing_mm=(1.0, 1.0, 2.0)) == pytest.approx(30.0, abs=2.0)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda t: t.assign(viable_mm_baseline=t["diameter_mm_baseline"] + 5), DataError, "exceeds diameter_mm_baseline"),
        (lambda t: t.drop(columns=["washout"]), DataError, "lacks column(s) washout"),
        (lambda t: t.assign(patient_id="NJ-0001"), DataError, "NJ-0001"),
        (lambda t: t.assign(lesion_id="L1"), DataError, "duplicate lesion_id L1"),
        (lambda t: t.assign(necrosis_fraction_baseline=1.5), DataError, "necrosis_fraction_baseline"),
        (lambda t: t.assign(diameter_mm_baseline=np.nan), DataError, "finite number"),
    ],
)
def test_bad_truth_tables_are_refused(tmp_path, change, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        write(tmp_path, "baseline", lesions=change(truth_table()))


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(UsageError, match="unknown size 'smal'; did you mean 'small'"):
        write(tmp_path, "baseline", size="smal")
    with pytest.raises(UsageError, match="unknown timepoint"):
        write(tmp_path, "week6")
    with pytest.raises(UsageError, match="unknown format 'png'"):
        write(tmp_path, "baseline", formats=("png",))
    with pytest.raises(UsageError, match="seed"):
        write(tmp_path, "baseline", seed=-1)
    with pytest.raises(UsageError, match="folder name"):
        write(tmp_path, "baseline", exam_id="../x")
    assert not any(tmp_path.iterdir())
