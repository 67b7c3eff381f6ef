"""``hccfusion features``: extract features from the study's images into the feature store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

#: Failure rows printed; the rest are in the run's files.
MAX_ROWS = 20

app = typer.Typer(help="Extract features (pathology slides, imaging) into the feature store.",
                  no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Extract features (pathology slides, imaging) into the feature store."""


@app.command("pathology")
def pathology(
    cohort: Path = typer.Option(..., "--cohort", help="Frozen cohort snapshot folder, or a "
                                                      "specimens .csv/.parquet."),
    encoder: str = typer.Option(..., "--encoder", help="Tile encoder (hcc_stats, "
                                                       "efficientnet_lite0, …)."),
    out: Path = typer.Option(..., "--out", help="Feature-store root folder."),
    data_root: Path = typer.Option(Path("."), "--data-root",
                                   help="Folder that relative slide paths start from."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Local encoder checkpoint."),
    expected_sha256: Optional[str] = typer.Option(None, "--weights-sha256",
                                                  help="The sha256 the checkpoint must have."),
    target_mpp: Optional[float] = typer.Option(None, "--target-mpp",
                                               help="µm/px the encoder sees (default: its own)."),
    tile_px: Optional[int] = typer.Option(None, "--tile-px", help="Tile side in px at "
                                                                  "--target-mpp."),
    min_tissue: float = typer.Option(0.25, "--min-tissue", help="Smallest tissue share of a tile."),
    stain_norm: str = typer.Option("none", "--stain-norm", help="none or macenko."),
    stain_target: Optional[Path] = typer.Option(None, "--stain-target",
                                                help="Reference H&E image or slide (macenko)."),
    mpp: Optional[float] = typer.Option(None, "--mpp",
                                        help="Level-0 µm/px for slides that do not record it."),
    batch_size: int = typer.Option(64, "--batch-size", help="Tiles per encoder call."),
    num_workers: int = typer.Option(2, "--workers", help="Tile reader processes (0: none)."),
    slide_workers: int = typer.Option(1, "--slide-workers",
                                      help="Processes extracting whole slides side by side, one "
                                           "thread each (CPU; for many small slides)."),
    slide_backend: str = typer.Option("auto", "--slide-backend",
                                      help="Slide reader: auto, openslide or tiffslide."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
    backend: str = typer.Option("local", "--backend", help="local or ray."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                              help="Existing Ray cluster (default: local)."),
    num_cpus: Optional[int] = typer.Option(None, "--num-cpus", help="CPUs of a local Ray."),
    seed: int = typer.Option(0, "--seed", help="Seed of the QC tile sample."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """One HDF5 bag per biopsy slide (features, coords, provenance; CLAM/TRIDENT layout), a
    manifest indexed by patient and a QC table. Bags already there are skipped (resume); a
    slide that fails is listed and the others go on. Exit 1 only if every slide failed."""
    from rich.console import Console
    from rich.table import Table

    from hccfusion.pipeline.features_pathology import extract_pathology_features

    run = extract_pathology_features(
        cohort, out=out, encoder=encoder, data_root=data_root, weights=weights,
        expected_sha256=expected_sha256, target_mpp=target_mpp, tile_px=tile_px,
        min_tissue=min_tissue, stain_norm=stain_norm, stain_target=stain_target, mpp=mpp,
        batch_size=batch_size, num_workers=num_workers, device=device, backend=backend,
        ray_address=ray_address, num_cpus=num_cpus, seed=seed, progress=not quiet,
        slide_workers=slide_workers, slide_backend=slide_backend)
    console = Console(highlight=False, width=120)
    console.print(f"[bold]{run.n_slides} slides[/bold]: {len(run.written)} extracted, "
                  f"{len(run.skipped)} already done, {len(run.failures)} failed; "
                  f"{run.n_tiles:,} tiles in {run.seconds:.1f} s ({run.tiles_per_s:,.0f} tiles/s)")
    if len(run.failures):
        table = Table(title="failed slides")
        for column in ("slide_id", "patient_id", "kind", "reason"):
            table.add_column(column, overflow="fold")
        for row in run.failures.head(MAX_ROWS).itertuples(index=False):
            table.add_row(row.slide_id, row.patient_id, row.kind, row.reason)
        console.print(table)
        if len(run.failures) > MAX_ROWS:
            console.print(f"… and {len(run.failures) - MAX_ROWS} more; every failure is in the "
                          f"manifest ({run.manifest_path}, status 'failed')")
    console.print(f"bags in {run.store_dir}; manifest {run.manifest_path.name}, "
                  f"QC {run.qc_path.name}")
    if run.all_failed:
        raise typer.Exit(code=1)


@app.command("imaging")
def imaging(
    cohort: Path = typer.Option(..., "--cohort", help="Frozen cohort snapshot folder."),
    out: Path = typer.Option(..., "--out", help="Feature-store root folder."),
    data_root: Path = typer.Option(Path("."), "--data-root",
                                   help="Folder that relative exams.image_path values start from."),
    radiomics: str = typer.Option("ct_ibsi", "--radiomics",
                                  help="PyRadiomics parameter set (ct_ibsi, mr_ibsi) or a YAML file."),
    phases: str = typer.Option("arterial,portal_venous", "--phases",
                               help="Comma-separated phases to measure."),
    encoder: str = typer.Option("resnet18_3d", "--encoder",
                                help="3D encoder for the deep embeddings, or 'none'."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Local encoder checkpoint."),
    expected_sha256: Optional[str] = typer.Option(None, "--weights-sha256",
                                                  help="The sha256 the checkpoint must have."),
    crop_mm: float = typer.Option(64.0, "--crop-mm", help="Edge of the cubic crop per lesion (mm)."),
    crop_spacing_mm: float = typer.Option(2.0, "--crop-spacing-mm",
                                          help="Voxel size of the crops (mm)."),
    prefer: str = typer.Option("nifti", "--prefer", help="nifti or dicom, when an exam has both."),
    exams: str = typer.Option("baseline+followup", "--exams",
                              help="baseline (no delta-radiomics) or baseline+followup."),
    workers: int = typer.Option(2, "--workers", min=1, help="Exam reader processes."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Radiomics per lesion and phase of each patient's baseline and first follow-up exam
    (``--exams baseline``: baseline only), patient aggregates, delta-radiomics, and a
    deep-embedding bag per patient (one instance per lesion × phase). Exams already done are
    skipped (resume); an exam that fails is listed and the others go on. Exit 1 only if every
    exam failed."""
    import sys

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from hccfusion.io.cohort import Cohort
    from hccfusion.pipeline.features_imaging import (ImagingSettings, extract_cohort_imaging,
                                                     select_exams)

    snapshot = Cohort.load(cohort)
    settings = ImagingSettings(
        radiomics=radiomics, phases=tuple(p.strip() for p in phases.split(",") if p.strip()),
        encoder=None if encoder.lower() == "none" else encoder,
        weights=None if weights is None else str(weights), expected_sha256=expected_sha256,
        crop_mm=crop_mm, crop_spacing_mm=crop_spacing_mm, prefer=prefer, exams=exams)
    console = Console(highlight=False, width=120, stderr=True)
    total = len(select_exams(snapshot["exams"], snapshot["treatments"],
                             include_followup=settings.include_followup))
    show = not quiet and sys.stderr.isatty()
    with Progress(console=console, disable=not show, transient=True) as progress:
        task = progress.add_task("exams", total=total)
        run = extract_cohort_imaging(
            exams=snapshot["exams"], treatments=snapshot["treatments"], data_root=data_root,
            out=out, settings=settings, workers=workers,
            on_exam=lambda exam_id, error: progress.advance(task))
    console = Console(highlight=False, width=120)
    console.print(f"[bold]{run.n_exams} exams[/bold]: {run.n_done} measured, {run.n_skipped} "
                  f"already done, {len(run.failures)} failed")
    if run.failures:
        table = Table(title="failed exams")
        table.add_column("exam_id")
        table.add_column("reason", overflow="fold")
        for exam_id, reason in sorted(run.failures.items())[:MAX_ROWS]:
            table.add_row(exam_id, reason)
        console.print(table)
        if len(run.failures) > MAX_ROWS:
            console.print(f"… and {len(run.failures) - MAX_ROWS} more; every failure is in "
                          f"{run.radiomics_dir / 'failures.json'}")
    console.print(f"radiomics in {run.radiomics_dir}"
                  + ("" if run.deep_dir is None else f"; deep bags in {run.deep_dir}"))
    if run.failures and run.n_done + run.n_skipped == 0:
        raise typer.Exit(code=1)
