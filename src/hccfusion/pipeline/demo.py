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
             size: str = "small", cutoff: dt.date = DEFAULT_CUTOFF, workers: int = 2,
             n_outer: int = 5, n_resamples: int = 1000, verbose: bool = False,
             step: Callable[[str], None] = lambda _: None) -> DemoResult:
    """Run the whole study on a simulated two-centre cohort: data layer, features, models,
    evaluation, report and the de-identified export.

    Parameters
    ----------
    out
        Output folder; replaced if an earlier demo wrote it, refused if it holds anything else.
    n_patients, seed, modalities, size
        Passed to :func:`hccfusion.simulate.cohort.simulate_study`.
    cutoff
        Data cut-off of the frozen cohort.
    workers
        Processes for feature extraction and for the validation splits.
    n_outer, n_resamples
        Outer folds of the nested CV on the development centre; bootstrap resamples of the CIs.
    verbose
        Also report each split's steps.
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

    features = out / "features"
    study_root = out / "study"
    if "ct" in modalities:
        step("imaging features: radiomics of each baseline CT (both phases, every lesion)")
        numbers["imaging"] = _imaging(cohort, study_root, features, out)
        paths["features"] = features
    if "wsi" in modalities:
        step("pathology features: tissue, tiles and the hcc_stats encoder on every biopsy slide")
        numbers["pathology"] = _pathology(cohort, study_root, features)
        paths["features"] = features
    if "omics" in modalities:
        step("omics features: pathway scores of each baseline tumour RNA-seq sample")
        numbers["omics"] = _omics(cohort, study_root, features)

    config_path = _write_study_config(out, has_features=features.is_dir())
    paths["config"] = config_path
    step(f"training with centre-aware validation (config {config_path.name}; external centre "
         f"both ways, {n_outer}-fold nested CV), baselines on the same splits")
    from hccfusion.pipeline.evaluate import run_evaluation
    from hccfusion.pipeline.train import run_training
    from hccfusion.training.config import load_study_config

    run = run_training(load_study_config(config_path), out=out / "model", workers=workers,
                       progress=lambda text: step(f"  {text}") if verbose else None)
    paths["model"] = run.out
    paths["bundle"] = run.final_bundle
    step("evaluating on held-out patients: C-index / AUC with bootstrap CIs, paired "
         "differences, attributions")
    evaluation = run_evaluation(run=run.out, out=out / "evaluation", n_resamples=n_resamples,
                                seed=seed, oracle=study_root / "truth")
    paths["evaluation"] = evaluation.out
    numbers["evaluation"] = evaluation.headline
    if run.final_bundle is not None:
        step("scoring the prospective cohort with the final model bundle (hccfusion predict)")
        from hccfusion.pipeline.predict import run_prediction

        predicted = run_prediction(bundle=run.final_bundle, cohort=cohort.path,
                                   endpoints=out / "endpoints",
                                   features=features if features.is_dir() else None,
                                   out=out / "predictions" / "final_model.parquet")
        paths["predictions"] = predicted.path

    step("rendering the study report (HTML)")
    report = build_report(cohort=cohort.path, endpoints=out / "endpoints", out=out / "report",
                          evaluation=evaluation.out)
    paths["report"] = report.path

    step("exporting de-identified individual patient data")
    (out / "secrets").mkdir(mode=0o700)
    key_path = generate_key(out / "secrets" / "deid.key")
    deid = export_deidentified(read_tables(db), key=load_key(key_path), out=out / "ipd")
    numbers["k_min"] = deid.kanon.min_k
    paths["ipd"] = deid.out
    paths["key"] = key_path
    return DemoResult(out=out, paths=paths, numbers=numbers)


#: PyRadiomics settings of the demo: the original image only, 4 mm isotropic (the simulator's
#: CT grid is 4 × 4 × 8 mm). Written beside the demo's outputs so it is visible and editable.
DEMO_RADIOMICS = """\
# Radiomics of the demo: as hccfusion's ct_fast (4 mm isotropic, bin width 25 HU) but on the
# original image only (no LoG), to keep `make demo` within its time budget.
setting:
  label: 1
  resampledPixelSpacing: [4.0, 4.0, 4.0]
  interpolator: sitkBSpline
  padDistance: 10
  binWidth: 25
  voxelArrayShift: 1000
  normalize: false
  minimumROIDimensions: 2
  distances: [1]
  force2D: false
imageType:
  Original: {}
featureClass:
  shape:
  firstorder:
  glcm:
  glrlm:
  glszm:
  gldm:
  ngtdm:
"""


def _imaging(cohort, study_root: Path, features: Path, out: Path) -> dict[str, int]:
    from hccfusion.pipeline.features_imaging import ImagingSettings, extract_cohort_imaging

    params = out / "demo_radiomics.yaml"
    params.write_text(DEMO_RADIOMICS, encoding="utf-8")
    run = extract_cohort_imaging(
        exams=cohort.tables["exams"], treatments=cohort.tables["treatments"],
        data_root=study_root, out=features,
        settings=ImagingSettings(radiomics=str(params), encoder=None, exams="baseline"),
        workers=2)
    return {"exams": run.n_exams, "measured": run.n_done, "failed": len(run.failures)}


def _pathology(cohort, study_root: Path, features: Path) -> dict[str, int]:
    from hccfusion.pipeline.features_pathology import extract_pathology_features

    run = extract_pathology_features(cohort, out=features, encoder="hcc_stats",
                                     data_root=study_root, device="cpu", num_workers=0,
                                     slide_workers=2, slide_backend="tiffslide")
    return {"slides": len(run.written) + len(run.skipped), "failed": len(run.failures),
            "tiles": run.n_tiles}


def _omics(cohort, study_root: Path, features: Path) -> dict[str, int]:
    from hccfusion.pipeline.features_omics import extract_omics_features

    run = extract_omics_features(cohort=cohort.path, data_root=study_root, out=features)
    return {"patients": run.n_patients, "sets": run.n_sets}


def _write_study_config(out: Path, *, has_features: bool) -> Path:
    """``study.yaml`` of the demo, beside its outputs (paths relative to it)."""
    lines = ["# hccfusion train --config study.yaml: the demo's study configuration",
             "data:", "  cohort: cohort", "  endpoints: endpoints"]
    if has_features:
        lines.append("  features: features")
    lines += ["model:", "  fusion: late", "validation:", "  development: WX",
              "  schemes: [external, nested_cv]", "evaluation:", "  n_resamples: 1000", ""]
    path = out / "study.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
