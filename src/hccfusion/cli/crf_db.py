"""``hccfusion crf ingest``: validate a workbook and import it into the study database.

The function is registered by :mod:`hccfusion.cli.crf`; the library is imported inside it so
that ``hccfusion --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path

import typer

#: How many validation errors to print when an import is refused.
SHOWN_ERRORS = 10


def ingest(
    source: Path = typer.Argument(..., help="CRF workbook (.xlsx) or folder of <table>.csv files."),
    db: Path = typer.Option(..., "--db", help="Study database (DuckDB file; created if absent)."),
) -> None:
    """Validate a workbook and import it as one batch (all or nothing).

    The workbook owns the patients it contains: their rows are replaced and every changed cell
    is audited; other patients are left alone. Exit code 1 if the workbook has errors (nothing
    is imported).
    """
    from rich.console import Console
    from rich.table import Table

    from hccfusion.errors import DataError, ValidationFailed
    from hccfusion.io.database import ingest_workbook

    console = Console(highlight=False)
    try:
        result = ingest_workbook(source, db_path=db)
    except ValidationFailed as exc:
        errors = exc.report.errors if exc.report is not None else ()
        if errors:
            table = Table(show_lines=False)
            for col in ("sheet", "row", "column", "rule", "message"):
                table.add_column(col, overflow="fold")
            for issue in errors[:SHOWN_ERRORS]:
                table.add_row(issue.sheet, "" if issue.row is None else str(issue.row),
                              issue.column or "", issue.rule, issue.message)
            console.print(table)
            if len(errors) > SHOWN_ERRORS:
                console.print(f"… {len(errors) - SHOWN_ERRORS} more; run 'hccfusion crf validate "
                              f"{source}' for the full list.")
        # Raised, not typer.Exit(1): the entry point maps DataError to exit code 1.
        raise DataError(f"{source.name} has {len(errors)} validation error(s); nothing was "
                        f"imported into {db.name}. Correct the workbook and ingest it "
                        "again.") from None

    if result.status == "already_imported":
        console.print(f"{result.source_name} was already imported as batch {result.batch_id}; "
                      "nothing changed, nothing recorded.")
        return
    table = Table(title=f"batch {result.batch_id} ← {result.source_name} "
                        f"({result.patients} patients)")
    for col in ("table", "rows", "inserted", "updated", "deleted", "cells changed"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for change in result.changes.values():
        table.add_row(change.table, str(change.rows_in), str(change.inserted),
                      str(change.updated), str(change.deleted), str(change.cells_changed))
    console.print(table)
    note = "no changes" if result.status == "no_changes" else "imported"
    console.print(f"{note}: batch {result.batch_id} in {db} ({result.n_warnings} warning(s) "
                  "kept with the batch)")
