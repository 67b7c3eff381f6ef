"""``hccfusion train``: centre-aware validation of the multimodal model and its baselines."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    config: Path = typer.Option(..., "--config", help="study.yaml (data, model, training, "
                                "tuning, validation, baselines, evaluation)."),
    out: Path = typer.Option(..., "--out", help="Folder for predictions, splits and bundles."),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Processes running splits in parallel (one per core)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
) -> None:
    """Tune and train the model on every split (external centre, nested CV), fit the
    baselines on the same patients, predict the held-out patients and write one ModelBundle per
    split plus the final model."""
    import time

    from rich.console import Console

    from hccfusion.pipeline.train import run_training
    from hccfusion.training.config import load_study_config

    console = Console(highlight=False)
    started = time.perf_counter()

    def step(text: str) -> None:
        if not quiet:
            console.print(f"[cyan]▸[/cyan] {text} [dim]({time.perf_counter() - started:.0f} s)[/dim]")

    run = run_training(load_study_config(config), out=out, workers=workers, progress=step)
    console.print(f"[bold]{run.n_patients} patients, {len(run.splits)} splits "
                  f"({', '.join(run.splits)}) in {run.seconds:.0f} s[/bold]")
    for note in run.notes:
        console.print(f"note: {note}")
    if run.final_bundle is not None:
        console.print(f"final model bundle: {run.final_bundle}")
    console.print(f"predictions: {run.out / 'predictions.parquet'}; next: hccfusion evaluate "
                  f"--run {run.out} --out <folder>")
