"""``hccfusion mechanism``: the biology that separates the model's risk groups."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    predictions: Path = typer.Option(..., "--predictions", help="Predictions written by "
                                     "hccfusion predict (or any Parquet/CSV with patient_id and "
                                     "a risk column)."),
    omics: Path = typer.Option(..., "--omics", help="The study's omics folder (samples.csv, "
                               "rna_counts.parquet, ihc.csv, flow.csv, metabolomics_*)."),
    out: Path = typer.Option(..., "--out", help="Mechanism folder (the report reads it)."),
    cohort: Path = typer.Option(None, "--cohort", help="Frozen cohort folder (gives each "
                                "patient's centre)."),
    risk_column: str = typer.Option("risk_os", "--risk-column",
                                    help="Continuous risk column (higher = worse)."),
    group_column: str = typer.Option("risk_group_os", "--group-column",
                                     help="Risk group column (low/high); absent: median split."),
    gene_sets: Path = typer.Option(None, "--gene-sets", help="GMT file (e.g. MSigDB Hallmark); "
                                   "default: the gene sets shipped with hccfusion."),
    metabolite_sets: Path = typer.Option(None, "--metabolite-sets",
                                         help="Metabolite-set file for over-representation."),
    permutations: int = typer.Option(1000, "--permutations", min=10,
                                     help="GSEA permutations."),
    seed: int = typer.Option(0, "--seed", help="Seed of GSEA and PLS-DA permutations."),
) -> None:
    """DESeq2, GSEA, pathway scores and immune deconvolution of the biopsies; IHC and flow
    cytometry; LC-MS metabolomics; every score against the continuous risk, adjusted for
    centre."""
    from rich.console import Console

    from hccfusion.pipeline.mechanism import run_mechanism

    console = Console(highlight=False)
    result = run_mechanism(cohort=cohort, predictions=predictions, omics_root=omics, out=out,
                           risk_column=risk_column, group_column=group_column,
                           gene_sets=gene_sets, metabolite_sets=metabolite_sets,
                           n_permutations=permutations, seed=seed,
                           progress=lambda text: console.print(f"[cyan]▸[/cyan] {text}"))
    head = result.headline
    groups = head.get("n_patients", {})
    console.print(f"risk groups: {groups.get('low', 0)} low, {groups.get('high', 0)} high "
                  f"({head.get('risk_column')})")
    if "n_deg" in head:
        console.print(f"RNA-seq: {head['rna_samples']} samples, {head['n_deg']} DEGs, "
                      f"{len(head['gsea_significant'])} gene sets with FDR < 0.05")
    if "associations_significant" in head:
        console.print(f"{head['associations_significant']} scores associated with the risk "
                      "(q < 0.05)")
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(f"mechanism tables in {result.out} ({result.seconds:.0f} s)")
