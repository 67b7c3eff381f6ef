"""``hccfusion deid``: keyed pseudonyms and the de-identified export for data sharing."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="De-identify the study data for sharing: key, export, k-anonymity.",
                  no_args_is_help=True)


@app.command("keygen")
def keygen(
    keyfile: Path = typer.Argument(..., help="Where to write the new secret key (must not exist)."),
) -> None:
    """Write a new secret key (32 random bytes, mode 600).

    Keep it at the site and never share it: the same key gives the same pseudonyms and date
    shifts in every later export."""
    from hccfusion.deid.pseudonym import generate_key, load_key

    path = generate_key(keyfile)
    typer.echo(f"wrote key {path} (fingerprint {load_key(path).fingerprint}); back it up "
               "somewhere safe and never put it next to shared data.")


@app.command("export")
def export(
    db: Path = typer.Option(..., "--db", help="Study database (DuckDB file)."),
    key: Path = typer.Option(..., "--key", help="Secret key file from 'hccfusion deid keygen'."),
    out: Path = typer.Option(..., "--out", help="Folder for the de-identified tables (new or empty)."),
    k: int = typer.Option(5, "--k", min=1, help="k-anonymity threshold (age band, sex, centre)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out."),
) -> None:
    """Write de-identified tables, a data dictionary and a manifest.

    Prints the k-anonymity summary over (age band, sex, centre)."""
    from rich.console import Console
    from rich.table import Table

    from hccfusion.deid.export import export_deidentified
    from hccfusion.deid.pseudonym import load_key
    from hccfusion.errors import UsageError
    from hccfusion.io.database import read_tables

    if not db.is_file():
        raise UsageError(f"study database {db} not found; pass the DuckDB file written by "
                         "'hccfusion crf ingest'.")
    secret = load_key(key)
    report = export_deidentified(read_tables(db), key=secret, out=out, k_threshold=k,
                                 overwrite=overwrite)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"de-identified export → {report.out} (key fingerprint {report.key_fingerprint})")
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in report.rows.items():
        table.add_row(name, str(n))
    console.print(table)
    kan = report.kanon
    colour = "green" if kan.satisfied else "yellow"
    console.print(f"[{colour}]k-anonymity over ({', '.join(kan.quasi_identifiers)}): min k = "
                  f"{kan.min_k}; {kan.n_classes} classes; {kan.n_records_below} of "
                  f"{kan.n_records} patients in {kan.n_classes_below} classes with k < "
                  f"{kan.k_threshold}[/{colour}]")
    console.print(f"{report.n_age_top_coded} age(s) top-coded at 90; "
                  f"{report.n_text_cells_changed} free-text cell(s) scrubbed; dropped "
                  f"{len(report.dropped_columns)} column(s)")
