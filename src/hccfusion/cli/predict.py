"""``hccfusion predict``: score a cohort with a saved ModelBundle."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    bundle: Path = typer.Option(..., "--bundle", help="A ModelBundle folder."),
    cohort: Path = typer.Option(..., "--cohort", help="Frozen cohort snapshot folder."),
    endpoints: Path = typer.Option(..., "--endpoints",
                                   help="Endpoints folder (baseline scores, eligibility)."),
    features: Path = typer.Option(None, "--features", help="Feature-store root."),
    out: Path = typer.Option(..., "--out", help="Predictions file (.parquet)."),
) -> None:
    """Risk of death and progression, the frozen risk group, P(response) and survival
    probabilities per patient; features made with another encoder or spec are refused."""
    from rich.console import Console

    from hccfusion.pipeline.predict import run_prediction

    console = Console(highlight=False)
    result = run_prediction(bundle=bundle, cohort=cohort, endpoints=endpoints,
                            features=features, out=out)
    for note in result.notes:
        console.print(f"note: {note}")
    console.print(f"{result.n_patients} patients scored: {result.path}")
