"""The main job on the embedded synthetic cohort (``make demo`` / ``hccfusion demo``).

It runs, in order, what a study's data manager and statistician run on real data: write the CRF
template, receive one workbook per hospital (here: simulated), validate, ingest into the study
database, freeze the analysis cohort at the data cut-off, assess eligibility with the CONSORT
flow, derive the endpoints, render the study report, and export de-identified individual patient data. Each step is the same library call the CLI makes.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hccfusion.errors import UsageError

#: Marks a folder as written by the demo, so that a re-run may replace it and nothing else.
DEMO_MARKER = ".hccfusion-demo"
DEFAULT_CUTOFF = dt.date(2026, 6, 30)


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote what, and the headline numbers it printed."""

    out: Path
    paths: dict[str, Path]
    numbers: dict[str, object] = field(default_factory=dict)


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / DEMO_MARKER).exists():
            raise UsageError(f"{out} exists and was not written by the demo; choose an empty or "
                             "new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("written by hccfusion demo; safe to delete\n", encoding="utf-8")


def run_demo(*, out: Path, n_patients: int = 300, seed: int = 0,
             modalities: tuple[str, ...] = ("clinical", "ct", "wsi", "omics"),
             size: str = "small", cutoff: dt.date = DEFAULT_CUTOFF,
             step: Callable[[str], None] = lambda _: None) -> DemoResult:
    """Run the whole data-layer job on a simulated two-centre study.

    Parameters
    ----------
    out
        Output folder; replaced if an earlier demo wrote it, refused if it holds anything else.
    n_patients, seed, modalities, size
        Passed to :func:`hccfusion.simulate.cohort.simulate_study`.
    cutoff
        Data cut-off of the frozen cohort.
    step
        Called with a short description before each step (progress display).
    """
    from hccfusion.deid.export import export_deidentified
    from hccfusion.deid.pseudonym import generate_key, load_key
    from hccfusion.clinical.eligibility import EligibilitySettings, assess_eligibility
    from hccfusion.io.cohort import Cohort, freeze_cohort
    from hccfusion.io.crf import validate_crf, write_template
    from hccfusion.io.database import ingest_report, read_tables
    from hccfusion.pipeline.endpoints import derive_endpoints
    from hccfusion.pipeline.report import build_report
    from hccfusion.reporting.eligibility_files import write_eligibility
    from hccfusion.simulate.cohort import simulate_study

    out = Path(out)
    _prepare(out)
    paths: dict[str, Path] = {}
    numbers: dict[str, object] = {}

    step("writing the blank CRF template")
    paths["template"] = write_template(out / "crf_template.xlsx")

    step(f"simulating a {n_patients}-patient two-centre study ({', '.join(modalities)})")
    study = simulate_study(out=out / "study", n_patients=n_patients, seed=seed,
                           modalities=modalities, size=size, cutoff=cutoff)
    paths["study"] = out / "study"
    numbers["oracle"] = study.oracle

    db = out / "study.duckdb"
    (out / "validation").mkdir()
    for centre, workbook in study.workbooks.items():
        step(f"validating and ingesting {workbook.name}")
        report = validate_crf(workbook)
        report.to_json(out / "validation" / f"{centre}.json")
        numbers[f"validation_{centre}"] = (len(report.errors), len(report.warnings))
        result = ingest_report(report, db_path=db)  # validated once, above
        numbers[f"batch_{centre}"] = result.batch_id
    paths["validation"] = out / "validation"
    paths["database"] = db

    step(f"freezing the analysis cohort at {cutoff.isoformat()}")
    freeze_cohort(db_path=db, cutoff=cutoff, out=out / "cohort")
    cohort = Cohort.load(out / "cohort")
    paths["cohort"] = cohort.path

    step("assessing eligibility and drawing the CONSORT flow")
    eligibility = assess_eligibility(cohort.tables,
                                     settings=EligibilitySettings(cutoff=cohort.cutoff))
    write_eligibility(per_patient=eligibility.per_patient, flow=eligibility.flow,
                      settings=eligibility.settings.model_dump(mode="json"),
                      rules=eligibility.rules, warnings=eligibility.warnings,
                      out=out / "eligibility")
    per_patient = eligibility.per_patient
    numbers["screened"] = int(len(per_patient))
    numbers["eligible"] = int(per_patient["eligible"].sum())
    paths["eligibility"] = out / "eligibility"

    step("deriving endpoints (mRECIST/RECIST 1.1, ORR, OS/PFS, agreement, CTCAE, scores)")
    endpoints = derive_endpoints(cohort.tables, cutoff=cohort.cutoff)
    endpoints.write(out / "endpoints")
    numbers["endpoints"] = endpoints.summary
    paths["endpoints"] = out / "endpoints"

    step("rendering the study report (HTML)")
    report = build_report(cohort=cohort.path, endpoints=out / "endpoints", out=out / "report")
    paths["report"] = report.path

    step("exporting de-identified individual patient data")
    (out / "secrets").mkdir(mode=0o700)
    key_path = generate_key(out / "secrets" / "deid.key")
    deid = export_deidentified(read_tables(db), key=load_key(key_path), out=out / "ipd")
    numbers["k_min"] = deid.kanon.min_k
    paths["ipd"] = deid.out
    paths["key"] = key_path
    return DemoResult(out=out, paths=paths, numbers=numbers)
