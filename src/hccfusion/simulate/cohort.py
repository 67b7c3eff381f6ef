"""``simulate_study``: write a whole synthetic multimodal study to disk — one CRF workbook per
hospital, CT exams, biopsy slides, omics — with its ground truth kept apart.

Layout under ``out``::

    crf/<CENTRE>.xlsx          what the hospitals send (validated by ``crf validate``)
    ct/<patient>/<exam>/...    baseline and first follow-up CT (exams.image_path points here)
    wsi/<slide_id>.tiff        biopsy slides (specimens.path points here)
    omics/...                  RNA-seq, IHC, flow, metabolomics tables
    truth/                     latent.parquet, lesions.parquet, outcomes.parquet,
                               exams.parquet, lesion_exams.parquet, oracle.json,
                               expected_findings.json — the pipeline never reads these
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hccfusion.errors import UsageError, unknown_option
from hccfusion.io.crf import write_workbook
from hccfusion.simulate.centers import DEFAULT_CUTOFF
from hccfusion.simulate.crf_tables import as_written, crf_tables, split_by_center
from hccfusion.simulate.errors_inject import ExpectedFinding, add_messiness, inject_errors
from hccfusion.simulate.latent import SimulatedLatent, simulate_latent
from hccfusion.simulate.oracle import OracleMetrics, oracle_metrics
from hccfusion.simulate.parallel import default_workers, run_tasks
from hccfusion.simulate.screening import SCREEN_FAILURE_SHARE
from hccfusion.simulate.seeding import STAGE_MODALITY, patient_int_seed

MODALITIES = ("clinical", "ct", "wsi", "omics")
SIZES = ("small", "full")
#: Where the CRF's specimens.path points for each omics specimen kind (files of write_omics).
OMICS_FILES = {"rna": "omics/rna_counts.parquet", "ihc": "omics/ihc.csv", "flow": "omics/flow.csv",
               "metabolomics": "omics/metabolomics_intensities.parquet"}


@dataclass(frozen=True)
class SimulatedStudy:
    """What :func:`simulate_study` wrote.

    Attributes
    ----------
    out
        Root folder.
    truth
        The ground truth (latent state, lesions, outcomes).
    tables
        The clean canonical CRF tables of all hospitals (before any injected messiness).
    workbooks
        Centre code → workbook path.
    expected_findings
        Centre code → validator errors that were injected (empty without ``errors``).
    oracle
        Oracle C-index (OS, PFS) and ORR AUC.
    files
        Modality → paths written (relative to ``out``).
    """

    out: Path
    truth: SimulatedLatent
    tables: dict[str, pd.DataFrame]
    workbooks: dict[str, Path]
    expected_findings: dict[str, tuple[ExpectedFinding, ...]]
    oracle: OracleMetrics
    files: dict[str, list[str]] = field(default_factory=dict)


def _check(modalities: tuple[str, ...], size: str) -> None:
    for m in modalities:
        if m not in MODALITIES:
            raise unknown_option("modality", m, MODALITIES)
    if "clinical" not in modalities:
        raise UsageError("The 'modalities' parameter of simulate_study must include 'clinical' "
                         f"(the CRF every other modality is linked from). Got {modalities!r} instead.")
    if size not in SIZES:
        raise unknown_option("size", size, SIZES)


def simulate_study(*, out: str | Path, n_patients: int = 300, n_centers: int = 2, seed: int = 0,
                   modalities: tuple[str, ...] = MODALITIES, size: str = "small",
                   errors: bool = False, cutoff: dt.date = DEFAULT_CUTOFF,
                   prospective_share: float | None = None,
                   screen_failure_share: float = SCREEN_FAILURE_SHARE,
                   workers: int | None = None) -> SimulatedStudy:
    """Simulate a study and write it under ``out``.

    Parameters
    ----------
    out
        Output folder (created).
    n_patients, n_centers, seed, cutoff, prospective_share, screen_failure_share
        See :func:`hccfusion.simulate.latent.simulate_latent`.
    modalities
        Subset of ``("clinical", "ct", "wsi", "omics")``; ``clinical`` is required.
    size
        ``small`` (tests, demo) or ``full`` (realistic image sizes) for CT and slides.
    workers
        Processes writing CT exams and slides (default: one per CPU core); the output does not
        depend on it.
    errors
        Add tolerated messiness and injected errors to each workbook; the injected errors are
        returned and written to ``truth/expected_findings.json``.

    Raises
    ------
    UsageError
        Unknown modality or size, or a modality whose writer is not installed.
    """
    from threadpoolctl import threadpool_limits

    modalities = tuple(modalities)
    _check(modalities, size)
    workers = default_workers() if workers is None else max(1, int(workers))
    # Many small matrix products: BLAS threads only spin here (measured), so use one.
    with threadpool_limits(limits=1):
        return _simulate(out=Path(out), n_patients=n_patients, n_centers=n_centers, seed=seed,
                         modalities=modalities, size=size, errors=errors, cutoff=cutoff,
                         prospective_share=prospective_share,
                         screen_failure_share=screen_failure_share, workers=workers)


def _simulate(*, out: Path, n_patients: int, n_centers: int, seed: int,
              modalities: tuple[str, ...], size: str, errors: bool, cutoff: dt.date,
              prospective_share: float | None, screen_failure_share: float,
              workers: int) -> SimulatedStudy:
    out = Path(out)
    truth = simulate_latent(n_patients=n_patients, n_centers=n_centers, seed=seed,
                            prospective_share=prospective_share, cutoff=cutoff,
                            screen_failure_share=screen_failure_share)
    tables = crf_tables(truth)
    files: dict[str, list[str]] = {}
    if "ct" in modalities:
        files["ct"] = _write_ct(truth, tables, out, size, workers)
    if "wsi" in modalities:
        files["wsi"] = _write_wsi(truth, tables, out, size, workers)
    if "omics" in modalities:
        files["omics"] = _write_omics(truth, tables, out)
    workbooks, expected = {}, {}
    for code, per_center in split_by_center(tables).items():
        written = {name: as_written(name, t) for name, t in per_center.items()}
        if errors:
            written = add_messiness(written, seed=seed)
            injected = inject_errors(written, seed=seed, strict=False)
            written, expected[code] = injected.tables, injected.expected
        else:
            expected[code] = ()
        workbooks[code] = write_workbook(written, out / "crf" / f"{code}.xlsx")
    files["clinical"] = [str(p.relative_to(out)) for p in workbooks.values()]
    oracle = oracle_metrics(latent=truth.latent, outcomes=truth.outcomes)
    _write_truth(truth, oracle, expected, out / "truth")
    return SimulatedStudy(out=out, truth=truth, tables=tables, workbooks=workbooks,
                          expected_findings=expected, oracle=oracle, files=files)


def _write_truth(truth: SimulatedLatent, oracle: OracleMetrics,
                 expected: dict[str, tuple[ExpectedFinding, ...]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("latent", "lesions", "outcomes", "exams", "lesion_exams"):
        getattr(truth, name).to_parquet(folder / f"{name}.parquet", index=False)
    meta = {**oracle.to_dict(), "seed": truth.seed, "cutoff": truth.cutoff.isoformat()}
    (folder / "oracle.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    findings = {code: [vars(f) for f in items] for code, items in expected.items()}
    (folder / "expected_findings.json").write_text(json.dumps(findings, indent=1, ensure_ascii=False),
                                                   encoding="utf-8")


def _require(module: str, modality: str):  # noqa: ANN202
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(f"modality '{modality}' is not available: {module} cannot be imported "
                         f"({exc}); drop it from --modalities") from exc


def _seed(truth: SimulatedLatent, rec: object) -> int:
    return patient_int_seed(truth.seed, stage=STAGE_MODALITY, center_index=rec.center_index,
                            number=rec.number)


def _write_ct(truth: SimulatedLatent, tables: dict, out: Path, size: str, workers: int) -> list[str]:
    _require("hccfusion.simulate.ct", "ct")
    exams = tables["exams"]
    lesions = {pid: g for pid, g in truth.lesions.groupby("patient_id", sort=False)}
    tasks, rows_written = [], []
    for rec in truth.latent.itertuples(index=False):
        seed = _seed(truth, rec)  # one seed per patient: both exams share anatomy and placement
        rows = exams.index[exams["patient_id"] == rec.patient_id][:2]
        for timepoint, i in zip(("baseline", "followup"), rows):
            tasks.append(dict(out_dir=out / "ct", patient_id=rec.patient_id,
                              exam_id=exams.at[i, "exam_id"], exam_date=exams.at[i, "date"].date(),
                              lesions=lesions[rec.patient_id], timepoint=timepoint,
                              center=rec.center, seed=seed, size=size))
            rows_written.append(i)
    results = run_tasks("hccfusion.simulate.ct", "write_ct_exam", tasks, workers=workers)
    written = []
    for i, files in zip(rows_written, results):
        exam_dir = Path(files.exam_dir)
        exam_dir = exam_dir if exam_dir.is_absolute() else out / "ct" / exam_dir
        rel = str(exam_dir.relative_to(out))
        exams.loc[i, ["modality", "phases", "slice_thickness_mm", "image_path"]] = [
            "CT", "arterial,portal_venous", float(files.spacing_mm[-1]), rel]
        written.append(rel)
    return written


def _write_wsi(truth: SimulatedLatent, tables: dict, out: Path, size: str, workers: int) -> list[str]:
    _require("hccfusion.simulate.wsi", "wsi")
    spec = tables["specimens"]
    latent = truth.latent.set_index("patient_id")
    tasks, rows_written, written = [], [], []
    for i in spec.index[spec["kind"] == "biopsy_wsi"]:
        pid, slide_id = spec.at[i, "patient_id"], spec.at[i, "slide_id"]
        rec = latent.loc[pid]
        rel = f"wsi/{slide_id}.tiff"
        seed = patient_int_seed(truth.seed, stage=STAGE_MODALITY + 1,
                                center_index=int(rec["center_index"]),
                                number=int(rec["number"]) * 10 + int(str(slide_id)[-1]))
        tasks.append(dict(path=out / rel, slide_id=slide_id, immune=float(rec["immune"]),
                          proliferation=float(rec["proliferation"]),
                          hypoxia=float(rec["hypoxia"]), wnt=bool(rec["wnt"]),
                          center=str(rec["center"]), seed=seed, size=size))
        rows_written.append(i)
        written.append(rel)
    (out / "wsi").mkdir(parents=True, exist_ok=True)
    run_tasks("hccfusion.simulate.wsi", "write_biopsy_slide", tasks, workers=workers)
    for i, rel in zip(rows_written, written):
        spec.at[i, "path"] = rel
    return written


def _write_omics(truth: SimulatedLatent, tables: dict, out: Path) -> list[str]:
    """Write the omics and make the CRF's specimens sheet list exactly the omics specimens
    (dated from T0, RNA/IHC on the CRF's biopsy date), dropping any drawn after the patient's
    death or last contact."""
    omics = _require("hccfusion.simulate.omics", "omics")
    sim = omics.simulate_omics(latent=truth.latent, seed=truth.seed)
    written = omics.write_omics(sim, out_dir=out / "omics")
    spec = tables["specimens"]
    biopsy = spec[spec["kind"] == "biopsy_wsi"].groupby("patient_id")["date"].min()
    o = truth.outcomes.set_index("patient_id")
    end = o["death_date"].fillna(o["last_contact_date"])
    s = sim.samples
    date = s["patient_id"].map(o["t0"]) + pd.to_timedelta(s["days_from_t0"], unit="D")
    tissue = s["kind"].isin(["rna", "ihc"])
    date = date.where(~tissue, s["patient_id"].map(biopsy))
    keep = date.notna() & (date <= s["patient_id"].map(end))
    from hccfusion.io.schema import SPECIMEN_FATE, coerce_table

    new = pd.DataFrame({"patient_id": s["patient_id"], "sample_id": s["sample_id"],
                        "kind": s["kind"], "site": s["site"], "date": date,
                        "path": s["kind"].map(OMICS_FILES), "fate": s["kind"].map(SPECIMEN_FATE)})[keep]
    merged = pd.concat([spec[spec["kind"] == "biopsy_wsi"], coerce_table("specimens", new)],
                       ignore_index=True)
    tables["specimens"] = merged.sort_values("sample_id", kind="stable").reset_index(drop=True)
    return [str(Path(p).relative_to(out)) if Path(p).is_absolute() else str(Path("omics") / p)
            for p in written.values()]
