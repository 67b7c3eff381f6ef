"""Tests of volume preprocessing (hccfusion.imaging.preprocess) and phase registration
(hccfusion.imaging.registration) on a small simulated exam (96 × 96 × 24 voxels of 4 × 4 × 8 mm)."""

from __future__ import annotations

import datetime
import json
import math

import numpy as np
import pandas as pd
import pytest

sitk = pytest.importorskip("SimpleITK")

from hccfusion.errors import UsageError  # noqa: E402
from hccfusion.imaging.preprocess import (  # noqa: E402
    crop_to_label,
    lesion_crops,
    liver_crop,
    normalise_mri,
    reorient,
    resample,
    window_hu,
)
from hccfusion.imaging.registration import align_phases, max_displacement_mm, register_rigid  # noqa: E402

PATIENT = "WX-0011"


@pytest.fixture(scope="module")
def exam(tmp_path_factory) -> dict:
    from hccfusion.simulate.ct import write_ct_exam

    lesions = pd.DataFrame({
        "patient_id": PATIENT, "lesion_id": ["L1", "L2", "L3"],
        "diameter_mm_baseline": [56.0, 28.0, 14.0], "diameter_mm_followup": [40.0, 20.0, 10.0],
        "viable_mm_baseline": [56.0, 20.0, 14.0], "viable_mm_followup": [20.0, 10.0, 10.0],
        "necrosis_fraction_baseline": [0.2, 0.5, 0.0], "necrosis_fraction_followup": [0.8, 0.7, 0.0],
        "arterial_enhancement_hu": [70.0, 60.0, 80.0], "washout": [True, False, True],
        "margin_irregularity": [0.3, 0.0, 0.1]})
    root = tmp_path_factory.mktemp("preprocess_ct")
    files = write_ct_exam(out_dir=root, patient_id=PATIENT, exam_id=f"{PATIENT}-0", exam_date=datetime.date(2023, 1, 9),
                          lesions=lesions, timepoint="baseline", center="WX", seed=3, formats=("nifti",))
    return {
        "arterial": sitk.ReadImage(str(root / files.arterial_nifti)),
        "portal_venous": sitk.ReadImage(str(root / files.portal_venous_nifti)),
        "labels": sitk.ReadImage(str(root / files.lesion_labels)),
        "liver": sitk.ReadImage(str(root / files.liver_mask)),
        "sidecar": json.loads((root / files.sidecar).read_text()),
    }


def extent_mm(image) -> np.ndarray:
    return np.array(image.GetSize()) * np.array(image.GetSpacing())


def label_volumes_ml(labels) -> np.ndarray:
    counts = np.bincount(sitk.GetArrayViewFromImage(labels).ravel(), minlength=4)[1:4]
    return counts * float(np.prod(labels.GetSpacing())) / 1000


def test_resampling_keeps_extent_and_label_volumes(exam):
    labels = exam["labels"]
    fine = resample(labels, spacing_mm=2.0, interpolator="nearest", default_value=0)
    assert fine.GetSpacing() == (2.0, 2.0, 2.0) and fine.GetSize() == (192, 192, 96)
    assert np.allclose(extent_mm(fine), extent_mm(labels))
    # the outer corner of the first voxel stays put
    assert np.allclose(np.array(fine.GetOrigin()) - 1.0, np.array(labels.GetOrigin()) - np.array([2, 2, 4]))
    assert label_volumes_ml(fine) == pytest.approx(label_volumes_ml(labels), rel=1e-9)
    assert fine.GetPixelID() == labels.GetPixelID()
    coarse = resample(labels, spacing_mm=(6.0, 6.0, 6.0), interpolator="nearest", default_value=0)
    assert np.all(np.abs(extent_mm(coarse) - extent_mm(labels)) <= 6.0 / 2 + 1e-9)
    assert label_volumes_ml(coarse)[:2] == pytest.approx(label_volumes_ml(labels)[:2], rel=0.15)


def test_resample_bspline_keeps_intensities_and_reference_grid(exam):
    image = exam["arterial"]
    fine = resample(image, spacing_mm=4.0)
    inside = fine.TransformPhysicalPointToIndex(exam["sidecar"]["lesions"][0]["centre_mm_lps"])
    original = image.TransformPhysicalPointToIndex(exam["sidecar"]["lesions"][0]["centre_mm_lps"])
    assert abs(fine[inside] - image[original]) < 60  # same tissue, interpolated
    back = resample(fine, reference=image, interpolator="linear")
    assert back.GetSize() == image.GetSize() and back.GetOrigin() == image.GetOrigin()
    with pytest.raises(UsageError, match="unknown interpolator 'bsplin'; did you mean 'bspline'"):
        resample(image, interpolator="bsplin")
    with pytest.raises(UsageError, match="The 'spacing_mm' parameter of resample"):
        resample(image, spacing_mm=(1.0, 0.0, 1.0))


def test_reorient_round_trip(exam):
    image = exam["arterial"]
    ras = reorient(image, orientation="RAS")
    assert np.allclose(np.array(ras.GetDirection()).reshape(3, 3), np.diag([-1, -1, 1]))
    # the same voxel sits at the same physical point
    point = image.TransformIndexToPhysicalPoint((10, 20, 5))
    assert ras[ras.TransformPhysicalPointToIndex(point)] == image[(10, 20, 5)]
    back = reorient(ras, orientation="LPS")
    assert np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(image))
    assert np.allclose(back.GetOrigin(), image.GetOrigin()) and np.allclose(back.GetDirection(), image.GetDirection())
    with pytest.raises(UsageError, match="The 'orientation' parameter of reorient"):
        reorient(image, orientation="LLS")


def test_windowing_bounds():
    hu = np.array([-2000.0, -140.0, 60.0, 260.0, 3000.0])
    out = window_hu(hu, level=60.0, width=400.0)
    assert out.dtype == np.float32 and out.tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    assert window_hu(hu, level=-600, width=1500).min() >= 0 and window_hu(hu, level=-600, width=1500).max() <= 1
    with pytest.raises(UsageError, match="The 'width' parameter of window_hu"):
        window_hu(hu, width=0)


def test_mri_normalisation_uses_the_mask_percentiles():
    values = np.arange(1000, dtype=float).reshape(10, 10, 10)
    mask = values < 500
    out = normalise_mri(values, mask=mask, percentiles=(0, 100))
    assert out[0, 0, 0] == 0.0 and out.flat[499] == pytest.approx(1.0) and out.max() == 1.0
    assert normalise_mri(values, percentiles=(1, 99)).flat[500] == pytest.approx((500 - 9.99) / (989.01 - 9.99))
    with pytest.raises(UsageError, match="The 'percentiles' parameter"):
        normalise_mri(values, percentiles=(99, 1))


def test_crop_contains_the_whole_lesion(exam):
    image, labels = exam["arterial"], exam["labels"]
    full = np.bincount(sitk.GetArrayViewFromImage(labels).ravel(), minlength=4)
    for label in (1, 2, 3):
        crop_image, crop_labels = crop_to_label(image, labels, label=label, margin_mm=10.0)
        assert np.sum(sitk.GetArrayViewFromImage(crop_labels) == label) == full[label]
        assert crop_image.GetSize() == crop_labels.GetSize()
        assert all(c < n for c, n in zip(crop_image.GetSize(), image.GetSize()))
        # the crop keeps physical positions
        assert crop_image[0, 0, 0] == image[image.TransformPhysicalPointToIndex(crop_image.GetOrigin())]
    every, _ = crop_to_label(image, labels, margin_mm=0.0)
    assert np.sum(sitk.GetArrayViewFromImage(_) > 0) == full[1:].sum()
    empty = labels * 0
    with pytest.raises(UsageError, match="must contain label 1"):
        crop_to_label(image, empty, label=1)


def test_lesion_crops_are_centred_and_windowed(exam):
    images = {p: exam[p] for p in ("arterial", "portal_venous")}
    crops = lesion_crops(images, exam["labels"], size_mm=(48.0, 48.0, 48.0), spacing_mm=2.0,
                         phases=("arterial", "portal_venous"))
    assert crops.arrays.shape == (3, 2, 24, 24, 24) and crops.arrays.dtype == np.float32
    assert crops.arrays.min() >= 0.0 and crops.arrays.max() <= 1.0
    assert crops.labels == (1, 2, 3) and crops.phases == ("arterial", "portal_venous")
    truth = {d["label"]: d["centre_mm_lps"] for d in exam["sidecar"]["lesions"]}
    for label, centre in zip(crops.labels, crops.centroids_mm):
        assert np.allclose(centre, truth[label], atol=8.0)
    # the centre voxel of each crop equals the windowed image value at the centroid (linear)
    for k, centre in enumerate(crops.centroids_mm):
        for c, phase in enumerate(crops.phases):
            index = images[phase].TransformPhysicalPointToContinuousIndex(centre.tolist())
            nearest = images[phase][[int(round(i)) for i in index]]
            assert abs(crops.arrays[k, c, 12, 12, 12] - window_hu(np.array(nearest))) < 0.15
    with pytest.raises(UsageError, match="unknown phase 'delayed'"):
        lesion_crops(images, exam["labels"], phases=("delayed",))
    with pytest.raises(UsageError, match="unknown modality 'PET'"):
        lesion_crops(images, exam["labels"], phases=("arterial",), modality="PET")


def test_liver_crop_covers_the_liver(exam):
    images = {p: exam[p] for p in ("arterial", "portal_venous")}
    crop = liver_crop(images, exam["liver"], spacing_mm=4.0, margin_mm=8.0, phases=("portal_venous",))
    assert crop.arrays.shape[0] == 1 and crop.arrays.shape[1:] == crop.mask.shape
    volume_ml = crop.mask.sum() * 4.0**3 / 1000
    assert volume_ml == pytest.approx(exam["sidecar"]["liver_volume_ml"], rel=0.05)
    # nothing of the liver touches the crop's border (the margin is there)
    assert not crop.mask[0].any() and not crop.mask[-1].any() and not crop.mask[:, :, 0].any()
    mr = liver_crop(images, exam["liver"], spacing_mm=4.0, phases=("arterial",), modality="MR")
    assert mr.arrays.min() >= 0 and mr.arrays.max() <= 1


def test_rigid_registration_recovers_a_known_motion(exam):
    fixed = exam["arterial"]
    centre = fixed.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in fixed.GetSize()])
    known = sitk.Euler3DTransform()
    known.SetCenter(centre)
    known.SetRotation(0.0, 0.0, math.radians(3.0))
    known.SetTranslation((4.0, -3.0, 5.0))
    moving = sitk.Resample(fixed, fixed, known, sitk.sitkLinear, -1024.0)
    result = register_rigid(fixed=fixed, moving=moving)
    expected = known.GetInverse()  # the registration maps fixed points to moving points
    assert result.rotation_deg == pytest.approx([math.degrees(a) for a in expected.GetParameters()[:3]], abs=1.0)
    assert result.translation_mm == pytest.approx(expected.GetParameters()[3:], abs=1.0)
    assert result.metric_after < result.metric_before
    assert max_displacement_mm(sitk.CompositeTransform([known, result.transform]), fixed, mask=exam["liver"]) < 1.0


def test_align_phases_skips_aligned_and_registers_moved(exam):
    images = {"arterial": exam["arterial"], "portal_venous": exam["portal_venous"]}
    aligned = align_phases(images, reference_phase="arterial")
    assert aligned.steps["arterial"].action == "reference"
    assert aligned.steps["portal_venous"].action == "kept"
    assert aligned.images["portal_venous"] is exam["portal_venous"]
    shift = sitk.TranslationTransform(3, (6.0, 0.0, 8.0))
    moved = sitk.Resample(exam["portal_venous"], exam["portal_venous"], shift, sitk.sitkLinear, -1024.0)
    again = align_phases({"arterial": exam["arterial"], "portal_venous": moved}, reference_phase="arterial")
    step = again.steps["portal_venous"]
    assert step.action == "registered" and step.detected_shift_mm > 5.0
    # the registration maps reference points to moving points: the opposite of the shift applied
    assert step.translation_mm == pytest.approx((-6.0, 0.0, -8.0), abs=1.0)
    with pytest.raises(UsageError, match="unknown phase 'delayed'"):
        align_phases(images, reference_phase="delayed")


def test_align_phases_resamples_another_grid_without_moving_it(exam):
    other = resample(exam["portal_venous"], spacing_mm=(4.0, 4.0, 4.0), interpolator="linear")
    aligned = align_phases({"arterial": exam["arterial"], "portal_venous": other}, reference_phase="arterial")
    assert aligned.steps["portal_venous"].action == "resampled"
    assert aligned.images["portal_venous"].GetSize() == exam["arterial"].GetSize()
