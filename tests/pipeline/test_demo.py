"""The demo job end to end on a small study with clinical data and biopsy slides: every step's
output is there (features, training run, bundles, evaluation, report), the steps agree with
each other, and nothing identifying reaches the shared export."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from hccfusion.errors import UsageError
from hccfusion.pipeline.demo import DEMO_MARKER, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("demo") / "out"
    steps: list[str] = []
    result = run_demo(out=out, n_patients=40, seed=3, modalities=("clinical", "wsi"),
                      n_outer=3, n_resamples=200, step=steps.append)
    return result, steps


@pytest.mark.slow
def test_every_step_ran_and_wrote_its_output(demo) -> None:
    result, steps = demo
    # template, simulate, 2 × validate+ingest, freeze, eligibility, endpoints, pathology
    # features, training, evaluation, scoring with the final bundle, report, deid
    assert len(steps) == 13
    assert any(s.startswith("training with centre-aware validation") for s in steps)
    for name in ("splits.parquet", "predictions.parquet", "run.json"):
        assert (result.paths["model"] / name).is_file()
    assert (result.paths["bundle"] / "weights.safetensors").is_file()
    for name in ("performance.parquet", "paired_differences.parquet", "evaluation.json"):
        assert (result.paths["evaluation"] / name).is_file()
    # the simulator's true risk is scored, and measured against every other comparator as the
    # power reference (never against the default model twice)
    paired = pd.read_parquet(result.paths["evaluation"] / "paired_differences.parquet")
    versus = {m: set(paired.loc[paired["model"] == m, "comparator"])
              for m in ("multimodal", "oracle")}
    assert "oracle" in versus["multimodal"]
    assert versus["oracle"] == versus["multimodal"] - {"oracle"} and versus["oracle"]
    assert result.paths["predictions"].is_file()
    assert (result.paths["endpoints"] / "summary.json").is_file()
    assert (result.paths["endpoints"] / "best_response.parquet").is_file()
    for name in ("template", "database", "key"):
        assert result.paths[name].is_file()
    assert (result.paths["cohort"] / "cohort.json").is_file()
    assert {p.name for p in result.paths["validation"].iterdir()} == {"WX.json", "NJ.json"}
    for name in ("eligibility.csv", "consort.png", "consort.svg", "consort.csv"):
        assert (result.paths["eligibility"] / name).is_file()
    assert (result.out / DEMO_MARKER).is_file()


@pytest.mark.slow
def test_report_shows_only_numbers_written_beside_it(demo) -> None:
    result, _ = demo
    html = result.paths["report"].read_text(encoding="utf-8")
    for section in ("data", "table1", "response", "survival", "agreement", "safety", "model"):
        assert f'id="{section}"' in html
    assert "No model predictions are part of this report" not in html
    folder = result.paths["report"].parent
    import re

    for ref in set(re.findall(r'(?:href|src)="((?:tables|figures)/[^"]+)"', html)):
        assert (folder / ref).is_file(), ref
    rates = pd.read_csv(folder / "tables" / "rates.csv")
    orr = rates[(rates["criterion"] == "mrecist") & (rates["cohort"] == "all")
                & (rates["center"] == "all") & (rates["endpoint"] == "ORR")].iloc[0]
    assert f"{orr['percent']:,.2f}" in html
    endpoint_rates = pd.read_parquet(result.paths["endpoints"] / "response_rates.parquet")
    same = endpoint_rates[(endpoint_rates["criterion"] == "mrecist")
                          & (endpoint_rates["cohort"] == "all") & (endpoint_rates["center"] == "all")
                          & (endpoint_rates["endpoint"] == "ORR")].iloc[0]
    assert round(100 * same["proportion"], 1) == orr["percent"]


@pytest.mark.slow
def test_steps_agree(demo) -> None:
    result, _ = demo
    for centre in ("WX", "NJ"):
        assert result.numbers[f"validation_{centre}"][0] == 0  # no errors in a clean workbook
    con = duckdb.connect(str(result.paths["database"]), read_only=True)
    n_db = con.execute("SELECT count(*) FROM patients").fetchone()[0]
    n_batches = con.execute("SELECT count(*) FROM batches").fetchone()[0]
    con.close()
    assert n_db == result.numbers["screened"] == 40 and n_batches == 2
    per_patient = pd.read_csv(result.paths["eligibility"] / "eligibility.csv")
    assert len(per_patient) == 40 and per_patient["eligible"].sum() == result.numbers["eligible"]
    flow = pd.read_csv(result.paths["eligibility"] / "consort.csv")
    overall = flow[flow["center"] == "all"]
    assessed = overall.loc[overall["stage"] == "assessed", "n"].sum()
    assert assessed == 40
    assert overall.loc[overall["stage"] == "included", "n"].sum() == result.numbers["eligible"]


@pytest.mark.slow
def test_shared_export_holds_no_identifier_and_no_key(demo) -> None:
    result, _ = demo
    study = pd.read_excel(result.paths["study"] / "crf" / "WX.xlsx", sheet_name="patients",
                          dtype=str)
    secrets = [v for col in ("name", "phone", "national_id", "record_number")
               for v in study[col].dropna()]
    secrets += list(study["patient_id"])
    key = result.paths["key"].read_bytes()
    blob = b"".join(p.read_bytes() for p in result.paths["ipd"].rglob("*") if p.is_file())
    assert key not in blob and key.hex().encode() not in blob
    leaked = [s for s in secrets if s.encode("utf-8") in blob]
    assert leaked == []
    manifest = json.loads((result.paths["ipd"] / "manifest.json").read_text(encoding="utf-8"))
    text = json.dumps(manifest)
    assert key.hex() not in text and key.hex()[:16] not in text


def test_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not written by the demo"):
        run_demo(out=tmp_path, n_patients=20, modalities=("clinical",))
    assert (tmp_path / "precious.txt").read_text() == "keep me"
