"""Reading volumes: DICOM series vs NIfTI, real DICOM headers, bad inputs in a batch, multi-frame."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
pydicom = pytest.importorskip("pydicom")

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.imaging.dicom_series import read_series, scan_dicom  # noqa: E402
from hccfusion.imaging.volumes import grid_mismatch, read_volume  # noqa: E402

PHASES = ("arterial", "portal_venous")


def assert_same_image(a, b, *, atol: float = 0.0) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b), atol=atol)


@pytest.mark.parametrize("phase", PHASES)
def test_dicom_and_nifti_give_the_same_volume(ct_exam, phase):
    files = ct_exam.files
    dicom = read_volume(ct_exam.path(getattr(files, f"{phase}_dicom_dir")))
    nifti = read_volume(ct_exam.path(getattr(files, f"{phase}_nifti")))
    assert_same_image(dicom.image, nifti.image)
    assert dicom.image.GetPixelID() == nifti.image.GetPixelID() == sitk.sitkFloat32
    assert dicom.shape == nifti.shape == tuple(files.shape) == (96, 96, 24)
    assert dicom.spacing_mm == nifti.spacing_mm == (4.0, 4.0, 8.0)
    # Both found the phase, from different evidence.
    assert dicom.phase == nifti.phase == phase
    assert (dicom.phase_source, nifti.phase_source) == ("series description", "file name")
    assert dicom.modality == "CT" and dicom.series_uid and nifti.series_uid is None
    # HU, not stored values: air is about -1000, the aorta bright in the arterial phase.
    hu = sitk.GetArrayFromImage(dicom.image)
    assert hu.min() < -900 and hu.max() > 150


def test_caller_phase_wins_and_unknown_phase_is_a_usage_error(ct_exam):
    path = ct_exam.path(ct_exam.files.arterial_nifti)
    assert read_volume(path, phase="delayed").phase_source == "caller"
    with pytest.raises(UsageError, match="unknown phase 'arterail'; did you mean 'arterial'"):
        read_volume(path, phase="arterail")
    with pytest.raises(UsageError, match="must be an existing file or folder"):
        read_volume(path.parent / "nope.nii.gz")


def test_real_ct_slice_matches_pydicom(pydicom_file):
    from pydicom.pixels import apply_modality_lut

    path = pydicom_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    volume = read_volume(path)
    assert volume.shape == (128, 128, 1)
    assert volume.spacing_mm[:2] == (float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0]))
    assert volume.spacing_mm[2] == pytest.approx(float(ds.SliceThickness))
    expected = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(volume.image)[0], expected)
    assert float(ds.RescaleIntercept) == -1024 and expected.min() < 0  # the rescale was applied
    np.testing.assert_allclose(volume.image.GetOrigin(), [float(v) for v in ds.ImagePositionPatient])
    # SimpleITK's own DICOM reader (GDCM) agrees on geometry and values.
    gdcm = sitk.ReadImage(str(path), sitk.sitkFloat32)
    np.testing.assert_allclose(gdcm.GetOrigin(), volume.image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(sitk.GetArrayFromImage(gdcm)[0], expected)


def _copy_series(src: Path, dst: Path, *, series_uid: str, edit=None, syntax=None) -> list[Path]:
    dst.mkdir(parents=True)
    out = []
    for k, path in enumerate(sorted(src.glob("*.dcm"))):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = series_uid
        ds.SeriesDescription = f"{dst.name} PV"
        if syntax is not None:
            ds.file_meta.TransferSyntaxUID = syntax
        if edit is not None and edit(k, ds) is False:
            continue
        ds.save_as(dst / path.name, enforce_file_format=True)
        out.append(dst / path.name)
    return out


@pytest.fixture(scope="module")
def bad_batch(ct_exam, tmp_path_factory):
    """A folder with one good series and one of each failure, beside each other."""
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    src = ct_exam.path(ct_exam.files.portal_venous_dicom_dir)
    root = tmp_path_factory.mktemp("bad_batch")
    shutil.copytree(src, root / "good")

    def drop_middle(k, ds):
        return k != 12

    def shift(k, ds):
        if k >= 12:  # gaps of 8 mm, then one of 10 mm: off, but not a missing slice
            ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], float(ds.ImagePositionPatient[2]) + 2.0]

    def thickness(k, ds):
        ds.SliceThickness = "8" if k % 2 else "5"

    _copy_series(src, root / "missing", series_uid=generate_uid(entropy_srcs=["missing"]), edit=drop_middle)
    _copy_series(src, root / "uneven", series_uid=generate_uid(entropy_srcs=["uneven"]), edit=shift)
    _copy_series(src, root / "thickness", series_uid=generate_uid(entropy_srcs=["thick"]), edit=thickness)
    plain = _copy_series(src, root / "truncated", series_uid=generate_uid(entropy_srcs=["trunc"]),
                         syntax=ExplicitVRLittleEndian)
    data = plain[-1].read_bytes()
    plain[-1].write_bytes(data[: len(data) - 4000])
    (root / "good" / "notes.txt").write_text("reader notes, not an image\n")
    return root


def test_bad_inputs_are_named_problems_and_the_rest_is_read(bad_batch):
    scan = scan_dicom(bad_batch)
    problems = {p.path.relative_to(bad_batch).as_posix(): p.reason for p in scan.problems}
    assert set(problems) == {"missing", "uneven", "truncated/IM0024.dcm", "good/notes.txt"}
    assert problems["missing"].startswith("missing slice(s): gap of 16.00 mm between IM0012.dcm and IM0014.dcm")
    assert "median spacing 8.00 mm" in problems["missing"]
    assert problems["uneven"].startswith("inconsistent slice spacing: gaps from 8.00 to 10.00 mm")
    assert "IM0012.dcm and IM0013.dcm" in problems["uneven"]
    assert problems["truncated/IM0024.dcm"].startswith("truncated file: pixel data needs 18432 bytes")
    assert problems["good/notes.txt"] == "not a DICOM file"

    by_folder = {s.folder.name: s for s in scan.series}
    assert set(by_folder) == {"good", "thickness", "truncated"}
    assert by_folder["truncated"].n_slices == 23  # the other slices of that series are still read
    assert by_folder["thickness"].notes == ("mixed slice thickness 5, 8 mm (kept; resample later)",)
    assert by_folder["thickness"].slice_thickness_mm == (5.0, 8.0)
    good = by_folder["good"]
    assert good.n_slices == 24 and good.slice_gaps == (8.0,) * 23 and not good.multi_frame
    assert [p.name for p in good.files] == [f"IM{k:04d}.dcm" for k in range(1, 25)]  # inferior → superior
    image = read_series(by_folder["truncated"])
    assert image.GetSize() == (96, 96, 23)


def test_folder_with_several_series_or_none_is_a_data_error(bad_batch, tmp_path):
    with pytest.raises(DataError, match=r"holds 3 series .*read_exam"):
        read_volume(bad_batch)
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(DataError, match=r"no readable image series .*readme.txt: not a DICOM file"):
        read_volume(tmp_path)


def test_duplicate_copies_are_dropped_and_positions_clash_is_a_problem(ct_exam, tmp_path):
    from pydicom.uid import generate_uid

    src = ct_exam.path(ct_exam.files.arterial_dicom_dir)
    shutil.copytree(src, tmp_path / "copies")
    shutil.copy(src / "IM0005.dcm", tmp_path / "copies" / "IM0005 (copy).dcm")
    _copy_series(src, tmp_path / "clash", series_uid=generate_uid(entropy_srcs=["clash"]))
    clash = pydicom.dcmread(tmp_path / "clash" / "IM0003.dcm")
    clash.SOPInstanceUID = generate_uid(entropy_srcs=["other instance"])
    clash.save_as(tmp_path / "clash" / "IM0003b.dcm")
    scan = scan_dicom(tmp_path)
    assert [s.folder.name for s in scan.series] == ["copies"]
    assert scan.series[0].n_slices == 24
    assert scan.series[0].notes == ("1 duplicate copies of instances dropped",)
    assert [(p.path.name, p.reason.split(":")[0]) for p in scan.problems] == [("clash", "duplicate slice positions")]


def _write_enhanced_ct(path: Path, reference, *, order: list[int]) -> None:
    """An Enhanced CT Image (one file, a frame per slice) with per-frame positions, frames stored
    in ``order``, HU = stored - 1024 through the shared Pixel Value Transformation."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import EnhancedCTImageStorage, ExplicitVRLittleEndian, generate_uid

    hu = sitk.GetArrayFromImage(reference)
    stored = (np.rint(hu) + 1024).astype(np.uint16)
    nx, ny, nz = reference.GetSize()
    sx, sy, sz = reference.GetSpacing()
    ox, oy, oz = reference.GetOrigin()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EnhancedCTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["enhanced"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = EnhancedCTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["enhanced series"])
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8, for the Chinese description
    ds.PatientID, ds.Modality, ds.SeriesDescription = "WX-0042", "CT", "门脉期 enhanced"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.Rows, ds.Columns, ds.NumberOfFrames = ny, nx, nz
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    measures, orientation, rescale = Dataset(), Dataset(), Dataset()
    measures.PixelSpacing, measures.SliceThickness = [sy, sx], sz
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    rescale.RescaleSlope, rescale.RescaleIntercept, rescale.RescaleType = 1, -1024, "HU"
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    shared.PlaneOrientationSequence = [orientation]
    shared.PixelValueTransformationSequence = [rescale]
    ds.SharedFunctionalGroupsSequence = [shared]
    frames = []
    for k in order:
        position, group = Dataset(), Dataset()
        position.ImagePositionPatient = [ox, oy, oz + k * sz]
        content = Dataset()
        content.FrameAcquisitionDateTime = "20230502090310.000000"
        group.PlanePositionSequence, group.FrameContentSequence = [position], [content]
        frames.append(group)
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.PixelData = stored[order].tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_enhanced_multi_frame_reads_back_identically(ct_exam, tmp_path):
    reference = read_volume(ct_exam.path(ct_exam.files.portal_venous_nifti)).image
    order = list(np.random.default_rng(3).permutation(reference.GetSize()[2]))
    path = tmp_path / "enhanced.dcm"
    _write_enhanced_ct(path, reference, order=[int(k) for k in order])
    scan = scan_dicom(tmp_path)
    assert scan.problems == () and len(scan.series) == 1
    info = scan.series[0]
    assert info.multi_frame and info.files == (path,) and info.n_slices == 24
    assert [frame for _, frame in info.slice_refs] == [order.index(k) for k in range(24)]
    volume = read_volume(path)
    assert_same_image(volume.image, reference)
    assert volume.phase == "portal_venous" and "门脉" in volume.phase_reason
    assert info.acquisition_time == "090310.000000"  # from the per-frame FrameContentSequence


def test_grid_mismatch_names_what_differs(ct_exam):
    image = read_volume(ct_exam.path(ct_exam.files.arterial_nifti)).image
    assert grid_mismatch(image, image, tolerance_mm=0.5) is None
    moved = sitk.Image(image)
    moved.SetOrigin((image.GetOrigin()[0] + 0.4, *image.GetOrigin()[1:]))
    assert grid_mismatch(moved, image, tolerance_mm=0.5) is None
    moved.SetOrigin((image.GetOrigin()[0] + 2.0, *image.GetOrigin()[1:]))
    assert grid_mismatch(moved, image, tolerance_mm=0.5).startswith("origin (-188, -190, -92) vs (-190, -190, -92) mm")
    stretched = sitk.Image(image)
    stretched.SetSpacing((4.02, 4.0, 8.0))  # 0.02 mm per voxel adds up to 1.9 mm across 96 voxels
    assert grid_mismatch(stretched, image, tolerance_mm=0.5).startswith("spacing (4.02, 4, 8) vs (4, 4, 8) mm")
    assert grid_mismatch(sitk.Image(96, 96, 12, sitk.sitkUInt8), image, tolerance_mm=0.5) == (
        "size (96, 96, 12) vs (96, 96, 24) voxels"
    )


def test_series_are_grouped_by_uid_and_split_by_orientation(ct_exam, tmp_path):
    """Two phases' files mixed in one folder come apart by SeriesInstanceUID; slices of one series
    with another orientation (a reformat saved under the same UID) become a second part."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for phase in PHASES:
        for path in ct_exam.path(getattr(ct_exam.files, f"{phase}_dicom_dir")).glob("*.dcm"):
            shutil.copy(path, mixed / f"{phase[:3]}_{path.name}")
    src = ct_exam.path(ct_exam.files.arterial_dicom_dir)
    reformat = tmp_path / "reformat"
    shutil.copytree(src, reformat)
    for k in range(5):  # five "coronal" slices, 4 mm apart along y
        path = reformat / f"IM{k + 1:04d}.dcm"
        ds = pydicom.dcmread(path)
        ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
        ds.ImagePositionPatient = [-190.0, -190.0 + 4.0 * k, 92.0]
        ds.save_as(path)
    scans = [scan_dicom(mixed), scan_dicom(reformat)]  # (one root would join the two copies' UIDs)
    assert [scan.problems for scan in scans] == [(), ()]
    found = sorted((s.folder.name, s.series_description, s.part, s.n_slices) for scan in scans for s in scan.series)
    assert found == [
        ("mixed", "ART 8mm", 0, 24),
        ("mixed", "PV 8mm", 0, 24),
        ("reformat", "ART 8mm", 1, 5),
        ("reformat", "ART 8mm", 2, 19),
    ]
    scan = scans[1]
    coronal = next(s for s in scan.series if s.n_slices == 5)
    assert coronal.spacing_mm == (4.0, 4.0, 4.0) and coronal.notes[0].startswith("series split in 2 parts")
    image = read_series(coronal)
    np.testing.assert_allclose(np.array(image.GetDirection()).reshape(3, 3)[:, 2], [0, 1, 0], atol=1e-9)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS: pydicom has no decoder here, SimpleITK (GDCM) decodes it
        "MR_small_jp2klossless.dcm",
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
    ],
)
def test_real_transfer_syntaxes_decode_to_the_same_values(pydicom_file, name):
    reference = read_volume(pydicom_file("MR_small.dcm"))
    volume = read_volume(pydicom_file(name))
    assert volume.modality == "MR" and volume.spacing_mm == reference.spacing_mm == (0.3125, 0.3125, 0.8)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(volume.image), sitk.GetArrayFromImage(reference.image))
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(reference.image)[0], pydicom.dcmread(pydicom_file("MR_small.dcm")).pixel_array
    )


def test_two_acquisitions_in_one_series_are_split(ct_exam, tmp_path):
    from pydicom.uid import generate_uid

    src = ct_exam.path(ct_exam.files.arterial_dicom_dir)
    uid = generate_uid(entropy_srcs=["two acquisitions"])
    for number in (1, 2):
        def edit(k, ds, number=number):
            ds.AcquisitionNumber = number
            ds.SOPInstanceUID = generate_uid(entropy_srcs=["acq", str(number), str(k)])
        _copy_series(src, tmp_path / f"acq{number}", series_uid=uid, edit=edit)
    scan = scan_dicom(tmp_path)
    assert scan.problems == ()
    assert [(s.part, s.n_slices, s.folder.name) for s in scan.series] == [(1, 24, "acq1"), (2, 24, "acq2")]
    assert scan.series[0].notes == ("series split by AcquisitionNumber (2 acquisitions at the same positions)",)
