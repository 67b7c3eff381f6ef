"""``hccfusion features imaging``: summary, failure table, exit codes."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from hccfusion.errors import UsageError

pytest.importorskip("radiomics")


class _Snapshot(dict):
    """Stands in for a loaded Cohort: ``snapshot["exams"]`` gives a table."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from hccfusion.simulate.ct import write_ct_exam

    root = tmp_path_factory.mktemp("cli_imaging")
    lesions = pd.DataFrame({
        "patient_id": "P1", "lesion_id": ["L1"], "diameter_mm_baseline": [50.0],
        "diameter_mm_followup": [30.0], "viable_mm_baseline": [50.0], "viable_mm_followup": [10.0],
        "necrosis_fraction_baseline": [0.1], "necrosis_fraction_followup": [0.8],
        "arterial_enhancement_hu": [70.0], "washout": [True], "margin_irregularity": [0.2]})
    exams = []
    for n, (timepoint, date) in enumerate((("baseline", dt.date(2023, 3, 1)),
                                           ("followup", dt.date(2023, 5, 1)))):
        files = write_ct_exam(out_dir=root / "ct", patient_id="P1", exam_id=f"P1-E{n + 1}",
                              exam_date=date, lesions=lesions, timepoint=timepoint, center="WX",
                              seed=5, size="small", formats=("nifti",))
        exams.append({"exam_id": f"P1-E{n + 1}", "patient_id": "P1", "date": pd.Timestamp(date),
                      "image_path": f"ct/{files.exam_dir}"})
    # a second patient whose exam folder is missing
    exams.append({"exam_id": "P2-E1", "patient_id": "P2", "date": pd.Timestamp("2023-03-01"),
                  "image_path": "ct/P2/P2-E1"})
    treatments = pd.DataFrame({"patient_id": ["P1", "P2"], "kind": ["TACE", "TACE"],
                               "start_date": pd.to_datetime(["2023-03-08", "2023-03-08"])})
    return root, _Snapshot(exams=pd.DataFrame(exams), treatments=treatments)


def _invoke(args, snapshot, monkeypatch):
    from hccfusion.cli.features import app
    from hccfusion.io import cohort as cohort_module

    monkeypatch.setattr(cohort_module.Cohort, "load", classmethod(lambda cls, path: snapshot))
    return CliRunner().invoke(app, ["imaging", "--cohort", "snapshot", *args])


def test_measures_lists_the_failed_exam_and_exits_0(tiny, tmp_path, monkeypatch):
    root, snapshot = tiny
    res = _invoke(["--data-root", str(root), "--out", str(tmp_path), "--radiomics", "ct_fast",
                   "--encoder", "tiny_3d", "--crop-mm", "48", "--crop-spacing-mm", "4",
                   "--workers", "1", "--quiet"], snapshot, monkeypatch)
    assert res.exit_code == 0, res.output
    assert "3 exams: 2 measured, 0 already done, 1 failed" in res.output
    assert "P2-E1" in res.output and "not found" in res.output
    rad = tmp_path / "imaging" / "radiomics" / "ct_fast-nifti"
    assert set(json.loads((rad / "failures.json").read_text())) == {"P2-E1"}
    assert len(pd.read_parquet(rad / "lesion_radiomics.parquet")) == 4   # 2 exams × 2 phases
    assert (tmp_path / "imaging" / "tiny_3d").is_dir()
    again = _invoke(["--data-root", str(root), "--out", str(tmp_path), "--radiomics", "ct_fast",
                     "--encoder", "tiny_3d", "--crop-mm", "48", "--crop-spacing-mm", "4",
                     "--workers", "1", "--quiet"], snapshot, monkeypatch)
    assert "2 already done" in again.output and again.exit_code == 0


def test_exams_baseline_measures_only_the_baseline_exams(tiny, tmp_path, monkeypatch):
    root, snapshot = tiny
    res = _invoke(["--data-root", str(root), "--out", str(tmp_path), "--radiomics", "ct_fast",
                   "--encoder", "none", "--exams", "baseline", "--workers", "1", "--quiet"],
                  snapshot, monkeypatch)
    assert res.exit_code == 0, res.output
    # P1-E1 measured, P2-E1 (missing folder) failed, P1's follow-up P1-E2 not selected
    assert "2 exams: 1 measured, 0 already done, 1 failed" in res.output
    rad = tmp_path / "imaging" / "radiomics" / "ct_fast-nifti"
    lesions = pd.read_parquet(rad / "lesion_radiomics.parquet")
    assert set(lesions["exam_id"]) == {"P1-E1"} and set(lesions["timepoint"]) == {"baseline"}
    assert not (rad / "delta_radiomics.parquet").exists()


def test_an_unknown_exam_selection_is_a_usage_error(tiny, tmp_path, monkeypatch):
    root, snapshot = tiny
    res = _invoke(["--data-root", str(root), "--out", str(tmp_path), "--encoder", "none",
                   "--exams", "baseline+follow-up"], snapshot, monkeypatch)
    assert isinstance(res.exception, UsageError)
    assert "did you mean 'baseline+followup'" in str(res.exception)
    assert not (tmp_path / "imaging").exists()


def test_exit_1_when_every_exam_fails(tiny, tmp_path, monkeypatch):
    root, snapshot = tiny
    broken = _Snapshot(exams=snapshot["exams"].assign(image_path="ct/missing"),
                       treatments=snapshot["treatments"])
    res = _invoke(["--data-root", str(root), "--out", str(tmp_path), "--encoder", "none",
                   "--quiet"], broken, monkeypatch)
    assert res.exit_code == 1 and "0 measured" in res.output


def test_bad_options_are_usage_errors(tiny, tmp_path, monkeypatch):
    root, snapshot = tiny
    res = _invoke(["--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path)],
                  snapshot, monkeypatch)
    assert isinstance(res.exception, UsageError) and "data_root" in str(res.exception)
    res = _invoke(["--data-root", str(root), "--out", str(tmp_path), "--radiomics", "ct_ibis"],
                  snapshot, monkeypatch)
    assert isinstance(res.exception, UsageError) and "did you mean 'ct_ibsi'" in str(res.exception)
    res = _invoke(["--data-root", str(root), "--out", str(tmp_path), "--encoder", "resnet19_3d"],
                  snapshot, monkeypatch)
    assert isinstance(res.exception, UsageError) and "resnet18_3d" in str(res.exception)


def test_a_missing_cohort_is_a_usage_error(tmp_path):
    from hccfusion.cli.features import app

    res = CliRunner().invoke(app, ["imaging", "--cohort", str(tmp_path / "none"),
                                   "--out", str(tmp_path)])
    assert isinstance(res.exception, UsageError) and "cohort.json" in str(res.exception)
