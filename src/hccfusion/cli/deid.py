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


def _read_id_map(path: Path) -> dict[str, str]:
    import csv

    from hccfusion.errors import UsageError

    if not path.is_file():
        raise UsageError(f"ID map {path} not found; pass a CSV with columns dicom_patient_id and "
                         "patient_id.")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"dicom_patient_id", "patient_id"} - set(reader.fieldnames or ())
        if missing:
            raise UsageError(f"ID map {path} lacks column(s) {sorted(missing)}; expected "
                             "dicom_patient_id and patient_id.")
        return {row["dicom_patient_id"].strip(): row["patient_id"].strip() for row in reader
                if row["dicom_patient_id"] and row["patient_id"]}


@app.command("dicom")
def dicom(
    src: Path = typer.Argument(..., help="Folder of DICOM files (searched recursively)."),
    out: Path = typer.Argument(..., help="Folder for the de-identified files (new or empty)."),
    key: Path = typer.Option(..., "--key", help="Secret key file from 'hccfusion deid keygen'."),
    id_map: Path | None = typer.Option(
        None, "--id-map",
        help="CSV mapping DICOM Patient ID to study patient_id (columns dicom_patient_id, "
             "patient_id)."),
    path_map: Path | None = typer.Option(
        None, "--path-map",
        help="Site-side CSV to write the original → new file paths to (must be outside OUT)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty OUT."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes writing patients in "
                                "parallel (the output does not depend on it)."),
) -> None:
    """De-identify DICOM files following DICOM PS3.15 (Basic Profile with options).

    Options applied: modified dates, patient characteristics, clean descriptors.
    Patient ID and name become the patient's pseudonym, dates shift by the patient's offset,
    UIDs are remapped consistently, private tags removed, Pixel Data copied unchanged. Prints
    the series written, the files skipped and the series whose pixels may show burned-in text."""
    import csv

    from rich.console import Console
    from rich.table import Table

    from hccfusion.deid.dicom import deidentify_dicom
    from hccfusion.deid.pseudonym import load_key
    from hccfusion.errors import UsageError

    if path_map is not None and path_map.resolve().is_relative_to(out.resolve()):
        raise UsageError(f"--path-map {path_map} lies inside OUT; the map links shared files to "
                         "original paths and must stay at the site. Choose a path outside OUT.")
    secret = load_key(key)
    mapping = _read_id_map(id_map) if id_map is not None else None
    report = deidentify_dicom(src=src, out=out, key=secret, id_map=mapping, overwrite=overwrite,
                              workers=workers)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"de-identified DICOM → {report.out} (key fingerprint {report.key_fingerprint})"
                  f": {report.n_files} file(s), {len(report.patients)} patient(s), "
                  f"{len(report.series)} series; {report.n_private_removed} private attribute(s) "
                  f"removed, {report.n_dates_shifted} date(s) shifted")
    if report.series:
        table = Table()
        for col in ("series", "modality", "files", "burned-in"):
            table.add_column(col)
        for s in report.series:
            mark = f"[yellow]{s.burned_in} (check pixels)[/yellow]" if s.flagged else s.burned_in
            table.add_row(s.folder, s.modality, str(s.n_instances), mark)
        console.print(table)
    if report.problems:
        table = Table(title=f"{len(report.problems)} file(s) not written")
        table.add_column("file (relative to IN)")
        table.add_column("reason")
        for p in report.problems:
            table.add_row(p.path, p.reason)
        console.print(table)
    if report.flagged_series:
        console.print(f"[yellow]{len(report.flagged_series)} series may show burned-in "
                      "identifiers in the pixels; look at them before sharing.[/yellow]")
    if path_map is not None and report.path_map:
        with path_map.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["source", "output"])
            writer.writerows(sorted(report.path_map.items()))
        path_map.chmod(0o600)
        console.print(f"path map → {path_map} (site-side; do not share)")
    if report.n_files == 0:
        console.print("[red]no DICOM file could be de-identified[/red]")
        raise typer.Exit(code=1)
