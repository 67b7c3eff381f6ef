"""simulate_study and ``hccfusion simulate``: files, truth, determinism, argument errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from hccfusion.errors import UsageError
from hccfusion.simulate.cohort import simulate_study


def test_clinical_study_writes_workbooks_and_truth(tmp_path):
    study = simulate_study(out=tmp_path / "a", n_patients=40, seed=2, modalities=("clinical",))
    assert set(study.workbooks) == {"WX", "NJ"}
    assert all(p.exists() for p in study.workbooks.values())
    for name in ("latent", "lesions", "outcomes", "exams", "lesion_exams"):
        assert (tmp_path / "a" / "truth" / f"{name}.parquet").exists()
    oracle = json.loads((tmp_path / "a" / "truth" / "oracle.json").read_text())
    assert oracle["seed"] == 2 and 0.5 < oracle["c_index_os"] <= 1
    lat = pd.read_parquet(tmp_path / "a" / "truth" / "latent.parquet")
    assert len(lat) == 40
    again = simulate_study(out=tmp_path / "b", n_patients=40, seed=2, modalities=("clinical",))
    for name in ("latent.parquet", "outcomes.parquet", "lesions.parquet"):
        assert (tmp_path / "a" / "truth" / name).read_bytes() == (tmp_path / "b" / "truth" / name).read_bytes()
    for name in study.tables:
        pd.testing.assert_frame_equal(study.tables[name], again.tables[name])


@pytest.mark.parametrize("kwargs, match", [
    ({"modalities": ("clinical", "pet")}, "unknown modality 'pet'"),
    ({"modalities": ("ct",)}, "must include 'clinical'"),
    ({"size": "huge"}, "unknown size 'huge'"),
])
def test_bad_options(tmp_path, kwargs, match):
    with pytest.raises(UsageError, match=match):
        simulate_study(out=tmp_path, n_patients=5, **kwargs)


def test_cli_prints_what_was_written_and_oracle(tmp_path):
    from hccfusion.cli.main import app

    result = CliRunner().invoke(app, ["simulate", "--patients", "30", "--seed", "1", "--out",
                                      str(tmp_path), "--modalities", "clinical", "--errors"])
    assert result.exit_code == 0, result.output
    assert "crf workbook WX" in result.output and "injected errors" in result.output
    assert "oracle C-index OS" in result.output
    findings = json.loads((tmp_path / "truth" / "expected_findings.json").read_text())
    assert set(findings) == {"WX", "NJ"} and all(findings.values())


@pytest.mark.slow
def test_all_modalities_are_linked_from_the_crf(tmp_path):
    study = simulate_study(out=tmp_path, n_patients=4, seed=0)
    ex = study.tables["exams"]
    linked = ex["image_path"].dropna()
    assert len(linked) >= 4 and all((tmp_path / p).is_dir() for p in linked)
    spec = study.tables["specimens"]
    slides = spec[spec["kind"] == "biopsy_wsi"]
    assert all((tmp_path / p).exists() for p in slides["path"])
    omics = spec[spec["kind"].isin(["rna", "ihc", "flow", "metabolomics"])]["path"].dropna()
    assert all((tmp_path / p).exists() for p in omics)
