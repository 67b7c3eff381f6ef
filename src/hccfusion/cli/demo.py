"""``hccfusion demo``: the main job on the embedded synthetic cohort (what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    out: Path = typer.Option(Path("demo_output"), "--out", help="Output folder."),
    patients: int = typer.Option(300, "--patients", min=20, help="Simulated patients."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the simulated study."),
    modalities: str = typer.Option("clinical,ct,wsi,omics", "--modalities",
                                   help="Comma-separated subset of clinical,ct,wsi,omics."),
    workers: int = typer.Option(2, "--workers", min=1,
                                help="Processes for features and validation splits."),
    verbose: bool = typer.Option(False, "--verbose", help="Show every split's steps."),
) -> None:
    """Simulate a two-centre study, then validate, ingest, freeze, assess eligibility, derive
    endpoints, extract imaging/pathology/omics features, train the multimodal model with
    external and nested validation, evaluate it, write the report and the de-identified
    export — and print where everything is."""
    import time

    from rich.console import Console
    from rich.table import Table

    from hccfusion.pipeline.demo import run_demo

    console = Console(highlight=False)
    started = time.perf_counter()

    def step(text: str) -> None:
        console.print(f"[bold cyan]▸[/bold cyan] {text} [dim]({time.perf_counter() - started:.0f} s)[/dim]")

    result = run_demo(out=out, n_patients=patients, seed=seed,
                      modalities=tuple(m.strip() for m in modalities.split(",") if m.strip()),
                      workers=workers, verbose=verbose, step=step)
    n = result.numbers
    table = Table(title=f"hccfusion demo — done in {time.perf_counter() - started:.0f} s")
    table.add_column("output")
    table.add_column("where")
    labels = {"template": "blank CRF template", "study": "simulated hospital data (CRF, CT, WSI, omics)",
              "validation": "validation reports (JSON)", "database": "study database (DuckDB)",
              "cohort": "frozen analysis cohort (Parquet + cohort.json)",
              "eligibility": "eligibility + CONSORT flow (CSV, PNG, SVG)",
              "endpoints": "endpoints: responses, ORR, OS/PFS, agreement, CTCAE, scores",
              "features": "feature store (radiomics, slide bags, pathway scores)",
              "config": "study configuration (hccfusion train --config)",
              "model": "training run: splits, predictions, one bundle per split",
              "bundle": "final model bundle (hccfusion predict --bundle)",
              "evaluation": "evaluation tables (C-index/AUC with CIs, attributions)",
              "predictions": "final model's predictions for every patient",
              "report": "study report (open in a browser)",
              "ipd": "de-identified individual patient data", "key": "pseudonym key (keep secret)"}
    for name, label in labels.items():
        if result.paths.get(name) is not None:
            table.add_row(label, str(result.paths[name]))
    console.print(table)
    oracle = n["oracle"]
    console.print(f"screened {n['screened']} patients, eligible {n['eligible']}; "
                  f"oracle C-index OS {oracle.c_index_os:.3f}, PFS {oracle.c_index_pfs:.3f}, "
                  f"ORR AUC {oracle.auc_orr:.3f}")
    e = n["endpoints"]
    orr = e["rates"].get("mrecist_ORR")
    if orr:
        console.print(f"mRECIST ORR {orr['pct']:.1f} % ({orr['ci'][0]:.1f}–{orr['ci'][1]:.1f}), "
                      f"median OS {e['medians']['os']['median_months']} months, median PFS "
                      f"{e['medians']['pfs_mrecist']['median_months']} months (eligible patients)")
    for row in n.get("evaluation", {}).get("default_model_performance", []):
        if row["cohort_label"].startswith(("external", "temporal")) and row["estimate"] == row["estimate"]:
            console.print(f"multimodal model, {row['endpoint'].upper()} {row['cohort_label']}: "
                          f"{row['metric']} {row['estimate']:.3f} "
                          f"({row['ci_low']:.3f}–{row['ci_high']:.3f}), n = {row['n']}")
    console.print(f"[bold]outputs are in {result.out.resolve()}[/bold]")
    console.print(f"[bold]report: {result.paths['report'].resolve()}[/bold]")
