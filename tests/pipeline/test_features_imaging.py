"""The imaging feature job on a tiny simulated cohort: exam selection, radiomics per lesion and
phase, patient aggregates, delta-radiomics, deep bags, resume, per-exam failures, and the same
features from DICOM and NIfTI."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.io.feature_store import read_bag, read_manifest
from hccfusion.pipeline.features_imaging import (ImagingSettings, extract_cohort_imaging,
                                                 select_exams)

pytest.importorskip("radiomics")
pytest.importorskip("monai")

T0 = {"P1": dt.date(2023, 3, 10), "P2": dt.date(2023, 4, 1), "P3": dt.date(2023, 5, 1)}


def _lesions(pid: str) -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": pid, "lesion_id": ["L1", "L2"],
        "diameter_mm_baseline": [60.0, 28.0], "diameter_mm_followup": [40.0, 30.0],
        "viable_mm_baseline": [50.0, 28.0], "viable_mm_followup": [20.0, 30.0],
        "necrosis_fraction_baseline": [0.2, 0.0], "necrosis_fraction_followup": [0.7, 0.0],
        "arterial_enhancement_hu": [70.0, 50.0], "washout": [True, False],
        "margin_irregularity": [0.2, 0.6]})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from hccfusion.simulate.ct import write_ct_exam

    root = tmp_path_factory.mktemp("imaging_study")
    exams, treatments = [], []
    for k, (pid, t0) in enumerate(T0.items()):
        for n, (timepoint, days) in enumerate((("baseline", -7), ("followup", 56))):
            exam_id = f"{pid}-E{n + 1}"
            date = t0 + dt.timedelta(days=days)
            files = write_ct_exam(out_dir=root / "ct", patient_id=pid, exam_id=exam_id,
                                  exam_date=date, lesions=_lesions(pid), timepoint=timepoint,
                                  center="WX", seed=100 + k, size="small",
                                  formats=("nifti", "dicom"))
            exams.append({"exam_id": exam_id, "patient_id": pid, "date": pd.Timestamp(date),
                          "image_path": f"ct/{files.exam_dir}"})
        treatments.append({"patient_id": pid, "kind": "TACE", "start_date": pd.Timestamp(t0)})
    # P3's baseline exam has lost its lesion mask: that exam fails, the rest goes on
    (root / "ct" / "P3" / "P3-E1" / "lesion_labels.nii.gz").unlink()
    # an exam without images is not selected
    exams.append({"exam_id": "P1-E3", "patient_id": "P1", "date": pd.Timestamp("2023-08-01"),
                  "image_path": None})
    return root, pd.DataFrame(exams), pd.DataFrame(treatments)


SETTINGS = ImagingSettings(encoder="tiny_3d", crop_mm=48.0, crop_spacing_mm=4.0)


def test_select_exams_takes_last_before_t0_and_first_after(study):
    _, exams, treatments = study
    sel = select_exams(exams, treatments)
    assert list(sel["exam_id"]) == ["P1-E1", "P1-E2", "P2-E1", "P2-E2", "P3-E1", "P3-E2"]
    assert list(sel["timepoint"]) == ["baseline", "followup"] * 3


def test_select_exams_baseline_only_keeps_one_baseline_row_per_patient(study):
    _, exams, treatments = study
    sel = select_exams(exams, treatments, include_followup=False)
    assert list(sel["exam_id"]) == ["P1-E1", "P2-E1", "P3-E1"]
    assert set(sel["timepoint"]) == {"baseline"}


def test_exam_selection_setting(study):
    assert ImagingSettings().exams == "baseline+followup" and ImagingSettings().include_followup
    assert not ImagingSettings(exams="baseline").include_followup
    with pytest.raises(UsageError, match="unknown exam selection 'baseline-only'; did you mean "
                                         "'baseline'"):
        ImagingSettings(exams="baseline-only")
    with pytest.raises(UsageError, match="Available: baseline, baseline\\+followup"):
        ImagingSettings(exams="followup")


@pytest.fixture(scope="module")
def run(study, tmp_path_factory):
    root, exams, treatments = study
    out = tmp_path_factory.mktemp("features")
    seen = []
    result = extract_cohort_imaging(exams=exams, treatments=treatments, data_root=root, out=out,
                                    settings=SETTINGS, workers=2,
                                    on_exam=lambda e, err: seen.append((e, err)))
    return out, result, seen


def test_radiomics_tables_and_failures(run, study):
    root, _, _ = study
    out, result, seen = run
    assert result.n_exams == 6 and result.n_done == 5
    assert set(result.failures) == {"P3-E1"}
    assert "P3" in result.failures["P3-E1"] and "lesion mask" in result.failures["P3-E1"]
    assert len(seen) == 6
    rad = result.radiomics_dir
    lesions = pd.read_parquet(rad / "lesion_radiomics.parquet")
    # 5 exams × 2 phases × 2 lesions (P3's follow-up still measured)
    assert len(lesions) == 20
    assert set(lesions["phase"]) == {"arterial", "portal_venous"}
    assert "original_firstorder_Mean" in lesions.columns
    # the lesion volume from the mask equals the simulator's voxelised volume
    side = json.loads((root / "ct" / "P1" / "P1-E1" / "lesion_labels.json").read_text())
    truth = {d["lesion_id"]: d for d in side["lesions"]}
    got = lesions[(lesions["exam_id"] == "P1-E1") & (lesions["phase"] == "arterial")]
    for row in got.itertuples():
        assert row.volume_ml == pytest.approx(truth[row.lesion_id]["mask_volume_ml"], rel=1e-3)
    patient = pd.read_parquet(rad / "patient_radiomics.parquet")
    assert set(patient["patient_id"]) == {"P1", "P2"}
    delta = pd.read_parquet(rad / "delta_radiomics.parquet")
    assert set(delta["patient_id"]) == {"P1", "P2"}
    assert json.loads((rad / "failures.json").read_text()).keys() == {"P3-E1"}


def test_deep_bags_one_instance_per_lesion_and_phase(run):
    out, result, _ = run
    man = read_manifest(result.deep_dir)
    ok = man[man["status"] == "ok"]
    assert set(ok["bag_id"]) == {"P1", "P2"}
    assert set(man.loc[man["status"] == "failed", "bag_id"]) == {"P3"}
    bag = read_bag(result.deep_dir / "P1.h5")
    assert bag.features.shape[0] == 4 and bag.coords.shape == (4, 3)
    assert sorted(zip(bag.instances["lesion_id"], bag.instances["phase"])) == [
        ("L1", "arterial"), ("L1", "portal_venous"), ("L2", "arterial"), ("L2", "portal_venous")]
    assert bag.provenance["encoder"] == "tiny_3d" and bag.provenance["exam_id"] == "P1-E1"
    assert np.isfinite(bag.features).all()


def test_rerun_resumes_and_skips_done(run, study):
    root, exams, treatments = study
    out, first, _ = run
    bag = first.deep_dir / "P1.h5"
    mtime = bag.stat().st_mtime_ns
    again = extract_cohort_imaging(exams=exams, treatments=treatments, data_root=root, out=out,
                                   settings=SETTINGS, workers=1)
    assert again.n_skipped == 5 and again.n_done == 0   # only the failed exam is retried
    assert set(again.failures) == {"P3-E1"}
    assert bag.stat().st_mtime_ns == mtime


def test_baseline_only_measures_no_follow_up_and_drops_a_stale_delta_table(study, tmp_path):
    root, exams, treatments = study
    settings = ImagingSettings(encoder=None, radiomics="ct_fast", exams="baseline")
    rad = tmp_path / "imaging" / "radiomics" / settings.radiomics_spec()
    rad.mkdir(parents=True)
    pd.DataFrame({"patient_id": ["P1"], "x": [1.0]}).to_parquet(rad / "delta_radiomics.parquet")
    seen = []
    res = extract_cohort_imaging(exams=exams, treatments=treatments, data_root=root, out=tmp_path,
                                 settings=settings, patients=["P1", "P3"],
                                 on_exam=lambda e, err: seen.append(e))
    assert res.n_exams == 2 and res.n_done == 1 and set(res.failures) == {"P3-E1"}
    assert sorted(seen) == ["P1-E1", "P3-E1"]   # P1-E2 and P3-E2 (follow-ups) never read
    lesions = pd.read_parquet(rad / "lesion_radiomics.parquet")
    assert set(lesions["exam_id"]) == {"P1-E1"} and len(lesions) == 4   # 2 lesions × 2 phases
    patient = pd.read_parquet(rad / "patient_radiomics.parquet")   # one row per phase
    assert sorted(zip(patient["patient_id"], patient["phase"])) == [("P1", "arterial"),
                                                                     ("P1", "portal_venous")]
    assert not (rad / "delta_radiomics.parquet").exists()
    assert not (rad / "exams" / "P1-E2.parquet").exists()


def test_dicom_and_nifti_give_the_same_features(study, tmp_path):
    root, exams, treatments = study
    settings = {fmt: ImagingSettings(encoder=None, prefer=fmt) for fmt in ("nifti", "dicom")}
    tables = {}
    for fmt, s in settings.items():
        res = extract_cohort_imaging(exams=exams, treatments=treatments, data_root=root,
                                     out=tmp_path / fmt, settings=s, patients=["P1"])
        tables[fmt] = pd.read_parquet(res.radiomics_dir / "lesion_radiomics.parquet")
    a, b = (t.sort_values(["exam_id", "phase", "lesion_id"]).reset_index(drop=True)
            for t in tables.values())
    cols = [c for c in a.columns if c.startswith("original_") and a[c].dtype.kind == "f"]
    assert len(cols) > 50
    np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=1e-3, atol=1e-3)


def test_bad_settings_and_empty_selection(study, tmp_path):
    root, exams, treatments = study
    with pytest.raises(UsageError, match="did you mean"):
        extract_cohort_imaging(exams=exams, treatments=treatments, data_root=root, out=tmp_path,
                               settings=ImagingSettings(radiomics="ct_ibis"))
    with pytest.raises(DataError, match="no patient has an imaged exam"):
        extract_cohort_imaging(exams=exams.assign(image_path=None), treatments=treatments,
                               data_root=root, out=tmp_path, settings=SETTINGS)


def test_a_phase_on_another_grid_is_brought_onto_the_mask_grid(study, tmp_path):
    import SimpleITK as sitk

    from hccfusion.pipeline.features_imaging import ExamTask, measure_exam

    root, _, _ = study
    src = root / "ct" / "P1" / "P1-E1"
    exam_dir = tmp_path / "P1-E1"
    exam_dir.mkdir()
    for name in ("arterial.nii.gz", "lesion_labels.nii.gz", "lesion_labels.json",
                 "liver_mask.nii.gz"):
        shutil.copy(src / name, exam_dir / name)
    pv = sitk.ReadImage(str(src / "portal_venous.nii.gz"))
    # the portal-venous series was reconstructed on a 5 mm grid shifted by 2 mm
    ref = sitk.Image([int(n * s / 5.0) for n, s in zip(pv.GetSize(), pv.GetSpacing())], pv.GetPixelID())
    ref.SetSpacing((5.0, 5.0, 5.0))
    ref.SetOrigin(tuple(o + 2.0 for o in pv.GetOrigin()))
    ref.SetDirection(pv.GetDirection())
    moved = sitk.Resample(pv, ref, sitk.Transform(), sitk.sitkLinear, -1024.0)
    sitk.WriteImage(moved, str(exam_dir / "portal_venous.nii.gz"))
    task = ExamTask(patient_id="P1", exam_id="P1-E1", timepoint="baseline",
                    exam_dir=str(exam_dir), deep=False)
    result = measure_exam(task, ImagingSettings(encoder=None))
    assert any("portal_venous" in line and "grid" in line for line in result["phase_report"])
    original = measure_exam(ExamTask(patient_id="P1", exam_id="P1-E1", timepoint="baseline",
                                     exam_dir=str(src), deep=False), ImagingSettings(encoder=None))
    a, b = (r["lesions"].set_index(["phase", "lesion_id"]) for r in (result, original))
    assert a["volume_ml"].equals(b["volume_ml"])   # the mask grid is kept
    # the large lesion's mean HU survives the round trip through the coarser grid
    mean = "original_firstorder_Mean"
    assert a.loc[("portal_venous", "L1"), mean] == pytest.approx(b.loc[("portal_venous", "L1"), mean], abs=8.0)
