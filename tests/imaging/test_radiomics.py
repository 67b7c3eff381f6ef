"""Tests of lesion radiomics (hccfusion.imaging.radiomics): the cropped fast path against plain
PyRadiomics, volumes against the label map, aggregation and delta-radiomics against hand-computed
tables, and the parameter-file checks."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("radiomics")

from hccfusion.errors import UsageError  # noqa: E402
from hccfusion.imaging.radiomics import (  # noqa: E402
    delta_radiomics,
    lesion_radiomics,
    load_radiomics_settings,
    patient_radiomics,
    quiet_radiomics,
)

PATIENT = "NJ-0003"
LIGHT = """\
setting:
  label: 1
  resampledPixelSpacing: [2.0, 2.0, 2.0]
  interpolator: sitkBSpline
  padDistance: 5
  binWidth: 25
imageType:
  Original: {}
featureClass:
  shape:
  firstorder:
  glcm: [JointEntropy, Contrast]
"""


def truth() -> pd.DataFrame:
    """L1 large, L2 medium, L3 small; L3 is gone at follow-up (diameter 0)."""
    return pd.DataFrame({
        "patient_id": PATIENT, "lesion_id": ["L1", "L2", "L3"],
        "diameter_mm_baseline": [50.0, 30.0, 14.0], "diameter_mm_followup": [40.0, 24.0, 0.0],
        "viable_mm_baseline": [50.0, 20.0, 14.0], "viable_mm_followup": [20.0, 10.0, 0.0],
        "necrosis_fraction_baseline": [0.2, 0.5, 0.0], "necrosis_fraction_followup": [0.8, 0.7, 0.0],
        "arterial_enhancement_hu": [70.0, 60.0, 80.0], "washout": [True, False, True],
        "margin_irregularity": [0.3, 0.0, 0.1]})


@pytest.fixture(scope="module")
def exams(tmp_path_factory) -> dict[str, dict]:
    """Baseline and follow-up small exams (4 × 4 × 8 mm): images, labels, sidecar."""
    from hccfusion.simulate.ct import write_ct_exam

    root = tmp_path_factory.mktemp("radiomics_ct")
    out = {}
    for timepoint in ("baseline", "followup"):
        files = write_ct_exam(out_dir=root, patient_id=PATIENT, exam_id=f"{PATIENT}-{timepoint}",
                              exam_date=datetime.date(2023, 3, 1), lesions=truth(), timepoint=timepoint,
                              center="NJ", seed=11, formats=("nifti",))
        out[timepoint] = {
            "arterial": sitk.ReadImage(str(root / files.arterial_nifti)),
            "portal_venous": sitk.ReadImage(str(root / files.portal_venous_nifti)),
            "labels": sitk.ReadImage(str(root / files.lesion_labels)),
            "sidecar": json.loads((root / files.sidecar).read_text()),
        }
    return out


@pytest.fixture(scope="module")
def light(tmp_path_factory):
    path = tmp_path_factory.mktemp("settings") / "light.yaml"
    path.write_text(LIGHT)
    return load_radiomics_settings(path)


IDS = {1: "L1", 2: "L2", 3: "L3"}


def plain(image, labels, label: int, settings) -> dict[str, float]:
    """PyRadiomics the ordinary way: the whole volume, its own resampling."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    with quiet_radiomics():
        out = RadiomicsFeatureExtractor(settings.extractor_params()).execute(image, labels, label=label)
    return {k: float(v) for k, v in out.items() if not k.startswith("diagnostics_")}


def test_fast_path_equals_plain_pyradiomics_on_the_whole_volume(exams):
    """Every feature of the packaged ct_ibsi file (shape, first order, all texture classes on
    the original and LoG 1/2/3 mm images; 1 mm B-spline resampling) for the two smaller lesions:
    relative difference ≤ 1e-6 (the resampled grid is the same; only the B-spline prefilter's
    boundary effect, below 1e-6 after the guard band, could differ)."""
    settings = load_radiomics_settings("ct_ibsi")
    exam = exams["baseline"]
    fast = lesion_radiomics(image=exam["portal_venous"], labels=exam["labels"], lesion_ids={2: "L2", 3: "L3"},
                            phase="portal_venous", settings=settings)
    for label in (2, 3):
        reference = plain(exam["portal_venous"], exam["labels"], label, settings)
        row = fast.set_index("label").loc[label]
        assert len(reference) > 300 and any(k.startswith("log-sigma-3-0-mm-3D_glszm") for k in reference)
        for name, value in reference.items():
            assert row[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


def test_fast_path_equals_plain_on_a_grid_with_half_voxel_ties(exams):
    """2.5 mm voxels resampled to 1 mm put some resampled voxel centres exactly half way between
    two input voxels; the nearest-neighbour mask must break those ties as on the whole volume (on
    the benchmark's volumes, resampling a cropped mask flipped ~1 % of a lesion's voxels and moved
    texture features by up to 120 %)."""
    from hccfusion.imaging.preprocess import resample

    settings = load_radiomics_settings("ct_ibsi")
    exam = exams["baseline"]
    image = resample(exam["portal_venous"], spacing_mm=2.5, interpolator="linear")
    labels = resample(exam["labels"], spacing_mm=2.5, interpolator="nearest", default_value=0)
    fast = lesion_radiomics(image=image, labels=labels, lesion_ids={3: "L3"}, phase="portal_venous",
                            settings=settings)
    reference = plain(image, labels, 3, settings)
    for name, value in reference.items():
        assert fast.loc[0, name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


def test_crop_window_covers_pyradiomics_padding_the_filters_and_the_spline_guard():
    """512 × 512 × 120 voxels of 0.75 × 0.75 × 2.5 mm, resampled by ct_ibsi to 1 mm: the margin is
    max(10 mm, (padDistance 10 + 2) × 1 mm, LoG 4σ = 12 mm) = 12 mm plus the 12-voxel B-spline
    guard band, clipped to the volume."""
    from hccfusion.imaging.radiomics import crop_window

    settings = load_radiomics_settings("ct_ibsi")
    start, size = crop_window(bbox_index=(203, 301, 50), bbox_size=(40, 30, 12), image_size=(512, 512, 120),
                              spacing_mm=(0.75, 0.75, 2.5), settings=settings, margin_mm=10.0)
    # x, y: 12 mm / 0.75 mm = 16 voxels + 12; z: ceil(12 / 2.5) = 5 voxels + 12
    assert start == [203 - 28, 301 - 28, 50 - 17]
    assert size == [40 + 2 * 28, 30 + 2 * 28, 12 + 2 * 17]
    near_edge, edge_size = crop_window(bbox_index=(2, 500, 0), bbox_size=(5, 10, 3), image_size=(512, 512, 120),
                                       spacing_mm=(0.75, 0.75, 2.5), settings=settings, margin_mm=10.0)
    assert near_edge == [0, 472, 0] and edge_size == [35, 40, 20]
    wide, _ = crop_window(bbox_index=(203, 301, 50), bbox_size=(40, 30, 12), image_size=(512, 512, 120),
                          spacing_mm=(0.75, 0.75, 2.5), settings=settings, margin_mm=30.0)
    assert wide == [203 - 40 - 12, 301 - 40 - 12, 50 - 12 - 12]


def test_volume_ml_matches_the_label_voxel_volume(exams, light):
    exam = exams["baseline"]
    table = lesion_radiomics(image=exam["arterial"], labels=exam["labels"], lesion_ids=IDS, phase="arterial",
                             settings=light)
    counts = np.bincount(sitk.GetArrayViewFromImage(exam["labels"]).ravel(), minlength=4)
    voxel_ml = float(np.prod(exam["labels"].GetSpacing())) / 1000
    # 4 × 4 × 8 mm voxels resampled to 2 mm: each old voxel becomes exactly 2 × 2 × 4 new ones.
    assert table["volume_ml"].tolist() == pytest.approx((counts[1:] * voxel_ml).tolist(), rel=1e-9)
    sidecar = {d["label"]: d["mask_volume_ml"] for d in exam["sidecar"]["lesions"]}
    assert table["volume_ml"].tolist() == pytest.approx([sidecar[k] for k in (1, 2, 3)], rel=1e-3)
    assert list(table.columns[:7]) == ["lesion_id", "label", "phase", "volume_ml", "centroid_x_mm",
                                       "centroid_y_mm", "centroid_z_mm"]
    centres = {d["label"]: d["centre_mm_lps"] for d in exam["sidecar"]["lesions"]}
    for row in table.itertuples():
        assert np.allclose([row.centroid_x_mm, row.centroid_y_mm, row.centroid_z_mm], centres[row.label], atol=8.0)


def test_a_lesion_gone_at_followup_gives_no_row_and_delta_flags_it(exams, light):
    tables = {}
    for timepoint, exam in exams.items():
        tables[timepoint] = lesion_radiomics(image=exam["arterial"], labels=exam["labels"], lesion_ids=IDS,
                                             phase="arterial", settings=light).assign(patient_id=PATIENT)
    assert tables["baseline"]["lesion_id"].tolist() == ["L1", "L2", "L3"]
    assert tables["followup"]["lesion_id"].tolist() == ["L1", "L2"]
    delta = delta_radiomics(baseline=tables["baseline"], followup=tables["followup"], kind="relative")
    assert delta["missing_at_followup"].tolist() == [False, False, True]
    assert delta.loc[2].filter(like="delta_").isna().all()
    base, follow = tables["baseline"].iloc[0], tables["followup"].iloc[0]
    expected = (follow["volume_ml"] - base["volume_ml"]) / abs(base["volume_ml"])
    assert delta.loc[0, "delta_volume_ml"] == pytest.approx(expected) and expected < 0  # L1 shrank


def hand_table() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": ["P1", "P1", "P1", "P2", "P1"],
        "phase": ["arterial", "arterial", "arterial", "arterial", "portal_venous"],
        "lesion_id": ["L1", "L2", "L3", "L1", "L1"],
        "label": [1, 2, 3, 1, 1],
        "volume_ml": [10.0, 30.0, 60.0, 5.0, 10.0],
        "centroid_x_mm": 0.0, "centroid_y_mm": 0.0, "centroid_z_mm": 0.0,
        "original_firstorder_Mean": [100.0, 50.0, 20.0, 7.0, 90.0],
        "original_glcm_Contrast": [1.0, np.nan, 4.0, 2.0, 3.0],
    })


def test_patient_aggregation_against_a_hand_computed_table():
    out = patient_radiomics(hand_table()).set_index(["patient_id", "phase"])
    p1 = out.loc[("P1", "arterial")]
    assert p1["n_lesions"] == 3 and p1["total_volume_ml"] == pytest.approx(100.0)
    assert p1["largest_lesion_id"] == "L3"
    assert p1["largest_original_firstorder_Mean"] == 20.0 and p1["largest_original_glcm_Contrast"] == 4.0
    assert p1["vwmean_original_firstorder_Mean"] == pytest.approx((10 * 100 + 30 * 50 + 60 * 20) / 100)
    # a missing value drops that lesion's weight for that feature only
    assert p1["vwmean_original_glcm_Contrast"] == pytest.approx((10 * 1 + 60 * 4) / 70)
    assert out.loc[("P2", "arterial"), "n_lesions"] == 1
    assert out.loc[("P2", "arterial"), "vwmean_original_firstorder_Mean"] == pytest.approx(7.0)
    assert out.loc[("P1", "portal_venous"), "largest_original_firstorder_Mean"] == 90.0
    assert "vwmean_label" not in out.columns and "largest_centroid_x_mm" not in out.columns


def test_aggregation_keeps_exams_apart():
    table = pd.concat([hand_table().assign(exam_id="E0"), hand_table().assign(exam_id="E1")])
    out = patient_radiomics(table)
    assert len(out) == 6 and set(out["exam_id"]) == {"E0", "E1"}
    assert out["n_lesions"].sum() == 10


def test_delta_difference_and_zero_baseline():
    base = hand_table()
    follow = base.assign(original_firstorder_Mean=base["original_firstorder_Mean"] + 5.0)
    follow.loc[0, "original_glcm_Contrast"] = 0.0
    diff = delta_radiomics(baseline=base, followup=follow, kind="difference")
    assert (diff["delta_original_firstorder_Mean"] == 5.0).all()
    assert diff.loc[0, "delta_original_glcm_Contrast"] == -1.0
    zero = base.assign(original_glcm_Contrast=0.0)
    rel = delta_radiomics(baseline=zero, followup=follow, kind="relative")
    assert rel["delta_original_glcm_Contrast"].isna().all()
    with pytest.raises(UsageError, match="unknown delta kind 'ratio'"):
        delta_radiomics(baseline=base, followup=follow, kind="ratio")


def test_unknown_settings_name_suggests_the_nearest():
    with pytest.raises(UsageError, match=r"unknown radiomics settings 'ct_ibis'; did you mean 'ct_ibsi'\?"):
        load_radiomics_settings("ct_ibis")


def test_settings_file_with_an_unknown_key_names_it(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text(LIGHT.replace("binWidth", "binwidth"))
    with pytest.raises(UsageError,
                       match=r"typo.yaml, section 'setting': unknown key 'binwidth'; did you mean 'binWidth'"):
        load_radiomics_settings(path)
    path.write_text(LIGHT + "voxelSettings: {}\n")
    with pytest.raises(UsageError, match=r"unknown key 'voxelSettings'"):
        load_radiomics_settings(path)
    path.write_text(LIGHT.replace("glcm: [JointEntropy, Contrast]", "glcmm:"))
    with pytest.raises(UsageError, match=r"section 'featureClass': unknown key 'glcmm'; did you mean 'glcm'"):
        load_radiomics_settings(path)
    path.write_text(LIGHT.replace("binWidth: 25", "binWidth: -3"))
    with pytest.raises(UsageError, match="PyRadiomics rejects the parameters"):
        load_radiomics_settings(path)


def test_packaged_settings_load():
    ct, mr = load_radiomics_settings("ct_ibsi"), load_radiomics_settings("mr_ibsi")
    assert ct.setting["binWidth"] == 25 and ct.resampled_spacing_mm == (1.0, 1.0, 1.0)
    assert set(ct.image_types) == {"Original", "LoG"} and "glszm" in ct.feature_classes
    assert mr.setting["normalize"] is True and mr.setting["binCount"] == 32


def test_normalised_settings_match_plain_pyradiomics(exams, tmp_path):
    """MR-style whole-volume normalisation is applied before cropping, as PyRadiomics does."""
    path = tmp_path / "norm.yaml"
    path.write_text(LIGHT.replace("binWidth: 25", "binCount: 16\n  normalize: true\n  normalizeScale: 100"))
    settings = load_radiomics_settings(path)
    exam = exams["baseline"]
    fast = lesion_radiomics(image=exam["arterial"], labels=exam["labels"], lesion_ids={3: "L3"}, phase="arterial",
                            settings=settings)
    reference = plain(exam["arterial"], exam["labels"], 3, settings)
    for name, value in reference.items():
        assert fast.loc[0, name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


def test_bad_inputs_are_usage_errors(exams, light):
    exam = exams["baseline"]
    with pytest.raises(UsageError, match="The 'labels' parameter of lesion_radiomics must share the image's grid"):
        lesion_radiomics(image=exam["arterial"], labels=exam["labels"][:, :, :10], lesion_ids=IDS,
                         phase="arterial", settings=light)
    with pytest.raises(UsageError, match="The 'lesion_ids' parameter"):
        lesion_radiomics(image=exam["arterial"], labels=exam["labels"], lesion_ids={"L1": 1}, phase="arterial",
                         settings=light)
    with pytest.raises(UsageError, match="The 'settings' parameter"):
        lesion_radiomics(image=exam["arterial"], labels=exam["labels"], lesion_ids=IDS, phase="arterial",
                         settings="ct_ibsi")
    with pytest.raises(UsageError, match="The 'name_or_path' parameter"):
        load_radiomics_settings(Path("/nonexistent/settings.yaml"))


def test_pyradiomics_logger_is_silenced_and_restored(exams, light, caplog):
    import logging

    before = logging.getLogger("radiomics").level
    exam = exams["baseline"]
    with caplog.at_level(logging.DEBUG):
        lesion_radiomics(image=exam["arterial"], labels=exam["labels"], lesion_ids={3: "L3"}, phase="arterial",
                         settings=light)
    assert not [r for r in caplog.records if r.name.startswith("radiomics") and r.levelno < logging.ERROR]
    assert logging.getLogger("radiomics").level == before


def test_a_lesion_too_small_for_pyradiomics_keeps_its_row_and_the_others_are_measured(exams, light):
    exam = exams["baseline"]
    labels = sitk.Image(exam["labels"])
    labels.CopyInformation(exam["labels"])
    arr = sitk.GetArrayFromImage(labels)
    free = np.argwhere(arr == 0)
    z, y, x = free[len(free) // 2]
    arr[z, y, x] = 9                       # a one-voxel "lesion"
    tiny = sitk.GetImageFromArray(arr)
    tiny.CopyInformation(exam["labels"])
    table = lesion_radiomics(image=exam["arterial"], labels=tiny, lesion_ids={**IDS, 9: "L9"},
                             phase="arterial", settings=light).set_index("lesion_id")
    assert "voxel" in table.loc["L9", "radiomics_error"]
    assert np.isnan(table.loc["L9", "original_firstorder_Mean"])
    assert table.loc["L9", "volume_ml"] == pytest.approx(float(np.prod(labels.GetSpacing())) / 1000)
    assert (table.loc[["L1", "L2", "L3"], "radiomics_error"] == "").all()
    assert table.loc[["L1", "L2", "L3"], "original_firstorder_Mean"].notna().all()
