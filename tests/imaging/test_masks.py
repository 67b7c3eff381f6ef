"""Masks: NIfTI label maps, real DICOM-SEG and RTSTRUCT files, geometry mismatches, volumes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
pydicom = pytest.importorskip("pydicom")

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.imaging.masks import (  # noqa: E402
    label_volumes_ml,
    lesion_label_map,
    read_mask,
    read_mask_segments,
)
from hccfusion.imaging.volumes import read_volume  # noqa: E402

from .conftest import write_seg  # noqa: E402

# Voxelised vs true lesion volume on the 4 × 4 × 8 mm test grid: the boundary voxels dominate
# small lesions. Stated tolerance: within 10 % from 5 mL up, within 1 mL below.
LARGE_ML, LARGE_REL, SMALL_ABS_ML = 5.0, 0.10, 1.0


def grid(size, spacing, origin):
    image = sitk.Image(*size, sitk.sitkFloat32)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def test_lesion_volumes_match_the_sidecar(ct_exam):
    volume = read_volume(ct_exam.path(ct_exam.files.portal_venous_dicom_dir))
    labels = read_mask(ct_exam.path(ct_exam.files.lesion_labels), reference=volume)
    assert labels.GetPixelID() == sitk.sitkUInt8
    volumes = label_volumes_ml(labels)
    ids = lesion_label_map(ct_exam.path(ct_exam.files.sidecar))
    assert ids == {1: "L1", 2: "L2", 3: "L3"}
    by_label = {entry["label"]: entry for entry in ct_exam.sidecar["lesions"]}
    assert set(volumes) == set(by_label) == {1, 2, 3}
    for label, measured in volumes.items():
        entry = by_label[label]
        assert measured == pytest.approx(entry["mask_volume_ml"], abs=1e-3)  # the same voxels, counted independently
        error = abs(measured - entry["volume_ml"])
        if entry["volume_ml"] >= LARGE_ML:
            assert error <= LARGE_REL * entry["volume_ml"], (label, measured, entry["volume_ml"])
        else:
            assert error <= SMALL_ABS_ML, (label, measured, entry["volume_ml"])
    liver = read_mask(ct_exam.path(ct_exam.files.liver_mask), reference=volume)
    assert label_volumes_ml(liver)[1] == pytest.approx(ct_exam.sidecar["liver_volume_ml"], abs=0.01)


def test_mask_on_another_grid_is_a_data_error_naming_both(ct_exam):
    volume = read_volume(ct_exam.path(ct_exam.files.arterial_nifti))
    mask_path = ct_exam.path(ct_exam.files.liver_mask)
    moved = sitk.Image(volume.image)
    moved.SetOrigin((volume.image.GetOrigin()[0], volume.image.GetOrigin()[1] + 8.0, volume.image.GetOrigin()[2]))
    with pytest.raises(DataError) as caught:
        read_mask(mask_path, reference=moved, reference_name="arterial.nii.gz (shifted)")
    message = str(caught.value)
    assert message.startswith(f"mask {mask_path} does not match its volume arterial.nii.gz (shifted): origin ")
    assert "corner voxels up to 8.00 mm apart, tolerance 0.5 mm" in message
    assert read_mask(mask_path, reference=moved, tolerance_mm=8.5).GetOrigin() == moved.GetOrigin()
    half = sitk.Image(96, 96, 12, sitk.sitkFloat32)
    with pytest.raises(DataError, match=rf"does not match its volume {volume.source}: size \(96, 96, 24\) vs \(96, 96, 12\)"):
        read_mask(mask_path, reference=sitk.Image(half), reference_name=str(volume.source))
    with pytest.raises(DataError, match=f"mask {mask_path} does not match its volume {volume.source}: size"):
        read_mask(mask_path, reference=dataclasses.replace(volume, image=half))


def test_real_liver_seg(pydicom_file):
    path = pydicom_file("liver_1frame.dcm")
    ds = pydicom.dcmread(path)
    measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    position = [float(v) for v in ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient]
    spacing = (float(measures.PixelSpacing[1]), float(measures.PixelSpacing[0]), float(measures.SpacingBetweenSlices))
    own = grid((ds.Columns, ds.Rows, 1), spacing, position)
    labels = read_mask(path, reference=own)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(labels)[0], ds.pixel_array.astype(np.uint8))
    assert int(ds.pixel_array.sum()) == 36233
    segments = read_mask_segments(path, reference=own)
    assert [(s.label, s.name) for s in segments] == [(1, "Liver")]
    # On a taller volume that starts one slice lower, the frame lands on slice 1.
    taller = grid((ds.Columns, ds.Rows, 3), spacing, (position[0], position[1], position[2] - spacing[2]))
    array = sitk.GetArrayFromImage(read_mask(path, reference=taller))
    assert array[1].sum() == 36233 and array[0].sum() == array[2].sum() == 0
    coarse = grid((ds.Columns, ds.Rows, 1), (0.8, 0.8, 1.0), position)
    with pytest.raises(DataError, match=r"does not match its volume .*: pixel spacing \(0.8105, 0.8105\) vs \(0.8, 0.8\) mm"):
        read_mask(path, reference=coarse)
    off = grid((ds.Columns, ds.Rows, 1), spacing, (position[0], position[1], position[2] + 0.3))
    assert sitk.GetArrayFromImage(read_mask(path, reference=off)).sum() == 36233  # within 0.5 mm
    with pytest.raises(DataError, match=r"frame 1 at \(-235.2, -226.8, -128.69\) mm lies 0.30 mm off the volume's voxel grid"):
        read_mask(path, reference=off, tolerance_mm=0.1)


def test_real_rtstruct_is_rasterised(pydicom_file):
    path = pydicom_file("rtstruct.dcm")  # ROI 1 'patient': 400 × 300 mm rectangles at z = -200, -190, -180
    # Pixel centres sit between the contour vertices, so the exact count is area / pixel area.
    reference = grid((90, 70, 3), (5.0, 5.0, 10.0), (-212.5, -162.5, -200.0))
    segments = read_mask_segments(path, reference=reference)
    assert [(s.label, s.name) for s in segments] == [(1, "patient")]  # the POINT isocentres are not regions
    ds = pydicom.dcmread(path, force=True)
    for k, contour in enumerate(ds.ROIContourSequence[0].ContourSequence):
        xy = np.array([float(v) for v in contour.ContourData]).reshape(-1, 3)[:, :2]
        area_mm2 = 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], 1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], 1)))
        assert segments[0].mask[k].sum() == area_mm2 / 25.0 == 4800
    rows, cols = np.nonzero(segments[0].mask[0])
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (3, 82, 3, 62)
    assert label_volumes_ml(read_mask(path, reference=reference)) == {1: pytest.approx(3 * 4800 * 0.25)}
    between = grid((90, 70, 3), (5.0, 5.0, 10.0), (-212.5, -162.5, -195.0))
    with pytest.raises(DataError, match=r"ROI 'patient' contour 1 lies 5.00 mm off the volume's slice planes"):
        read_mask(path, reference=between)
    small = grid((40, 70, 3), (5.0, 5.0, 10.0), (-212.5, -162.5, -200.0))
    with pytest.raises(DataError, match=r"ROI 'patient' contour 1 extends outside the volume of \(40, 70, 3\) voxels"):
        read_mask(path, reference=small)


def test_seg_with_several_segments_round_trips(ct_exam, tmp_path):
    volume = read_volume(ct_exam.path(ct_exam.files.portal_venous_nifti))
    labels = read_mask(ct_exam.path(ct_exam.files.lesion_labels), reference=volume)
    path = write_seg(tmp_path / "lesions.dcm", labels, {1: "Tumor L1", 2: "Tumor L2", 3: "Tumor L3"})
    back = read_mask(path, reference=volume)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(labels))


def test_lesion_label_map_failures(tmp_path):
    assert lesion_label_map({"lesions": [{"label": 2, "lesion_id": "L7"}]}) == {2: "L7"}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match=rf"{bad}: cannot read the lesion-label sidecar"):
        lesion_label_map(bad)
    bad.write_text(json.dumps({"lesions": [{"label": 1, "lesion_id": "L1"}, {"label": 1, "lesion_id": "L2"}]}))
    with pytest.raises(DataError, match="lesion entry 2 repeats label 1"):
        lesion_label_map(bad)
    with pytest.raises(DataError, match="expected a 'lesions' list"):
        lesion_label_map({"labels": []})
    with pytest.raises(DataError, match="lesion entry 1 needs an integer 'label'"):
        lesion_label_map({"lesions": [{"lesion_id": "L1"}]})


def test_bad_arguments(ct_exam, tmp_path):
    volume = read_volume(ct_exam.path(ct_exam.files.arterial_nifti))
    with pytest.raises(UsageError, match="The 'path' parameter of read_mask must be an existing file"):
        read_mask(tmp_path / "none.nii.gz", reference=volume)
    with pytest.raises(UsageError, match="The 'reference' parameter of read_mask must be a SimpleITK.Image"):
        read_mask(ct_exam.path(ct_exam.files.liver_mask), reference=42)
    with pytest.raises(UsageError, match="The 'tolerance_mm' parameter of read_mask must be a number"):
        read_mask(ct_exam.path(ct_exam.files.liver_mask), reference=volume, tolerance_mm=-1)
    text = tmp_path / "mask.dcm"
    text.write_text("not dicom")
    with pytest.raises(DataError, match=rf"mask {text}: "):
        read_mask(text, reference=volume)
    with pytest.raises(UsageError, match="non-negative integer label map"):
        label_volumes_ml(volume.image)


def _rtstruct(path, contours_mm: list[list[tuple[float, float, float]]], name: str = "Tumor"):
    """A minimal RTSTRUCT with one ROI made of the given closed planar contours."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RTStructureSetStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID = RTStructureSetStorage, ExplicitVRLittleEndian
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path)])
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = RTStructureSetStorage, meta.MediaStorageSOPInstanceUID, "RTSTRUCT"
    roi = Dataset()
    roi.ROINumber, roi.ROIName = 7, name
    ds.StructureSetROISequence = [roi]
    items = []
    for points in contours_mm:
        contour = Dataset()
        contour.ContourGeometricType, contour.NumberOfContourPoints = "CLOSED_PLANAR", len(points)
        contour.ContourData = [v for point in points for v in point]
        items.append(contour)
    roi_contour = Dataset()
    roi_contour.ReferencedROINumber, roi_contour.ContourSequence = 7, items
    ds.ROIContourSequence = [roi_contour]
    ds.save_as(path, enforce_file_format=True)
    return path


def test_rtstruct_nested_contours_cut_holes(tmp_path):
    reference = grid((20, 20, 2), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))

    def square(low, high, z):
        return [(low, low, z), (high, low, z), (high, high, z), (low, high, z)]

    path = _rtstruct(tmp_path / "ring.dcm", [square(1.5, 11.5, 2.0), square(4.5, 8.5, 2.0), square(1.5, 3.5, 0.0)])
    [segment] = read_mask_segments(path, reference=reference)
    assert (segment.label, segment.name) == (7, "Tumor")
    assert segment.mask[1].sum() == 10 * 10 - 4 * 4  # a ring: the inner square is a hole
    assert not segment.mask[1][5:9, 5:9].any() and segment.mask[1][2, 2]
    assert segment.mask[0].sum() == 4
