"""``hccfusion report``: the study report (HTML, tables and figures beside it)."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    cohort: Path = typer.Option(..., "--cohort", help="Frozen cohort snapshot folder."),
    endpoints: Path = typer.Option(..., "--endpoints", help="Folder written by `hccfusion endpoints`."),
    out: Path = typer.Option(..., "--out", help="Report folder to write."),
    evaluation: Path | None = typer.Option(
        None, "--evaluation",
        help="Folder written by `hccfusion evaluate`; fills the model-performance section."),
    mechanism: Path | None = typer.Option(
        None, "--mechanism", help="Folder written by `hccfusion mechanism`; adds the mechanism "
        "section."),
) -> None:
    """Render the report: participants and flow, Table 1, response, survival, reader
    agreement, adverse events and, with --evaluation, model performance — every number
    traceable to a CSV beside it."""
    from hccfusion.pipeline.report import build_report

    result = build_report(cohort=cohort, endpoints=endpoints, out=out, evaluation=evaluation,
                          mechanism=mechanism)
    typer.echo(f"report: {result.path} ({result.n_tables} tables, {result.n_figures} figures)")
