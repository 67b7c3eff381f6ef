"""``hccfusion cohort``: freeze the analysis snapshot of the study database."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The frozen analysis cohort: freeze a snapshot at a data cut-off; "
                       "assess eligibility.",
                  no_args_is_help=True)


def _parse_cutoff(text: str):
    from datetime import date

    from hccfusion.errors import UsageError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--cutoff must be a date written YYYY-MM-DD (e.g. 2024-06-30); "
                         f"got '{text}'.") from None


@app.command("freeze")
def freeze(
    db: Path = typer.Option(..., "--db", help="Study database (DuckDB file)."),
    cutoff: str = typer.Option(..., "--cutoff", help="Data cut-off date, YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", help="Snapshot folder to write (new or empty)."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace a snapshot already in --out."),
) -> None:
    """Write the cohort snapshot: Parquet tables + cohort.json, no identifiers, nothing after
    the cut-off (deaths after it censored at it)."""
    from rich.console import Console
    from rich.table import Table

    from hccfusion.io.cohort import freeze_cohort

    snap = freeze_cohort(db_path=db, cutoff=_parse_cutoff(cutoff), out=out, overwrite=overwrite)
    console = Console(highlight=False)
    table = Table(title=f"cohort at cut-off {snap.cutoff.isoformat()} → {snap.path}")
    for col in ("table", "rows", "removed by cut-off"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for name, n in snap.row_counts.items():
        table.add_row(name, str(n), str(snap.removed_by_cutoff.get(name, 0)))
    console.print(table)
    censored = snap.capped_by_cutoff.get("followup.death_date", 0)
    console.print(f"{censored} death(s) after the cut-off censored at it; batches "
                  f"{', '.join(snap.batch_ids)}; source_hash {snap.source_hash}")


def _register_eligibility() -> None:
    from hccfusion.cli.eligibility import eligibility

    app.command("eligibility")(eligibility)


_register_eligibility()
