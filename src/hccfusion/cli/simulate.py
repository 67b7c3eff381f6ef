"""``hccfusion simulate``: write a synthetic multimodal study with known ground truth."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    out: Path = typer.Option(..., "--out", help="Folder to write the study into."),
    patients: int = typer.Option(300, "--patients", help="Number of patients."),
    centers: int = typer.Option(2, "--centers", help="Number of hospitals (1 or 2)."),
    seed: int = typer.Option(0, "--seed", help="Seed of everything random."),
    modalities: str = typer.Option("clinical,ct,wsi,omics", "--modalities",
                                   help="Comma-separated subset of clinical,ct,wsi,omics."),
    size: str = typer.Option("small", "--size", help="small (tests, demo) or full image sizes."),
    errors: bool = typer.Option(False, "--errors/--no-errors",
                                help="Add hospital-sheet messiness and injected errors."),
    workers: int = typer.Option(None, "--workers", min=1,
                                help="Processes writing images (default: one per CPU core)."),
) -> None:
    """Simulate a two-centre study: CRF workbooks, CT, biopsy slides, omics, and the truth."""
    from hccfusion.simulate.cohort import simulate_study

    chosen = tuple(m.strip() for m in modalities.split(",") if m.strip())
    study = simulate_study(out=out, n_patients=patients, n_centers=centers, seed=seed,
                           modalities=chosen, size=size, errors=errors, workers=workers)
    for modality, files in study.files.items():
        typer.echo(f"{modality}: {len(files)} item(s) under {out}")
    for code, path in study.workbooks.items():
        n = len(study.expected_findings[code])
        extra = f" ({n} injected errors)" if errors else ""
        typer.echo(f"crf workbook {code}: {path}{extra}")
    typer.echo(f"truth: {out / 'truth'} (never read by the pipeline)")
    o = study.oracle
    typer.echo(f"oracle C-index OS {o.c_index_os:.3f}, PFS {o.c_index_pfs:.3f}; "
               f"ORR AUC {o.auc_orr:.3f} (n = {o.n_patients}, evaluable {o.n_response_evaluable})")
