"""``hccfusion crf``: template, validate, ingest."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Case report forms: write the template, validate and ingest workbooks.",
                  no_args_is_help=True)

_SHOWN = 30


@app.command("template")
def template(out: Path = typer.Argument(..., help="Where to write the blank workbook (.xlsx).")) -> None:
    """Write the blank CRF workbook: one sheet per table, drop-downs, a dictionary sheet."""
    from hccfusion.errors import UsageError
    from hccfusion.io.crf import write_template

    if out.suffix.lower() != ".xlsx":
        raise UsageError(f"the template is an .xlsx workbook; got '{out.name}'")
    if out.exists():
        raise UsageError(f"{out} exists; choose another name (the template never overwrites)")
    write_template(out)
    typer.echo(f"wrote {out}")


@app.command("validate")
def validate(
    source: Path = typer.Argument(..., help="CRF workbook (.xlsx) or folder of <table>.csv files."),
    json_out: Path = typer.Option(None, "--json", help="Also write every finding as JSON here."),
    show: int = typer.Option(_SHOWN, help="How many findings to print (all are in --json)."),
) -> None:
    """Check a workbook against the data dictionary without changing it.

    Exit code 0: clean or warnings only; 1: errors; 2: unusable input.
    """
    from rich.console import Console
    from rich.table import Table

    from hccfusion.io.crf import validate_crf

    report = validate_crf(source)
    console = Console(stderr=False, highlight=False)
    if report.issues:
        table = Table(title=f"{report.source_name}: findings", show_lines=False)
        for col in ("severity", "sheet", "row", "column", "value", "rule", "message"):
            table.add_column(col, overflow="fold")
        for issue in report.issues[:show]:
            table.add_row(str(issue.severity), issue.sheet, "" if issue.row is None else str(issue.row),
                          issue.column or "", issue.value or "", issue.rule, issue.message)
        console.print(table)
        if len(report.issues) > show:
            console.print(f"… {len(report.issues) - show} more (use --json for all)")
    rows = ", ".join(f"{name} {len(t)}" for name, t in report.tables.items())
    console.print(f"{report.source_name}: {len(report.errors)} error(s), "
                  f"{len(report.warnings)} warning(s); rows: {rows}")
    if json_out is not None:
        report.to_json(json_out)
        console.print(f"findings written to {json_out}")
    raise typer.Exit(report.exit_code)


def _register_ingest() -> None:
    from hccfusion.cli.crf_db import ingest

    app.command("ingest")(ingest)


_register_ingest()
