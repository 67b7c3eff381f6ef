"""``hccfusion evaluate``: evaluation tables and attributions of a training run."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    run: Path = typer.Option(..., "--run", help="Folder written by hccfusion train."),
    out: Path = typer.Option(..., "--out", help="Evaluation folder (the report reads it)."),
    resamples: int = typer.Option(1000, "--resamples", min=50,
                                  help="Patient bootstrap resamples for the CIs."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap and of SHAP."),
    oracle: Path = typer.Option(None, "--oracle", help="Simulator truth folder (or its oracle.json) "
                                "(simulated cohorts): report the distance to the ceiling."),
    attribution: bool = typer.Option(True, "--attribution/--no-attribution",
                                     help="Modality Shapley values and clinical SHAP."),
) -> None:
    """C-index / AUC with bootstrap CIs for every model, endpoint and held-out cohort; paired
    differences of the multimodal model against every comparator (with --oracle, also of the
    true risk against them: the power reference); per-availability-pattern performance;
    modality and clinical-variable attributions."""
    from rich.console import Console
    from rich.table import Table

    from hccfusion.pipeline.evaluate import run_evaluation

    console = Console(highlight=False)
    result = run_evaluation(run=run, out=out, n_resamples=resamples, seed=seed, oracle=oracle,
                            attribution=attribution,
                            progress=lambda text: console.print(f"[cyan]▸[/cyan] {text}"))
    table = Table(title="multimodal model on held-out patients")
    for col in ("endpoint", "cohort", "n", "estimate (95 % CI)"):
        table.add_column(col)
    for row in result.headline["default_model_performance"]:
        est = "—" if row["estimate"] != row["estimate"] else \
            f"{row['estimate']:.3f} ({row['ci_low']:.3f}–{row['ci_high']:.3f})"
        table.add_row(row["endpoint"], row["cohort_label"], str(row["n"]), est)
    console.print(table)
    oracle_ = result.headline.get("oracle")
    if oracle_:
        console.print(f"simulator oracle: C-index OS {oracle_['c_index_os']:.3f}, PFS "
                      f"{oracle_['c_index_pfs']:.3f}, ORR AUC {oracle_['auc_orr']:.3f}")
    console.print(f"evaluation tables in {result.out} ({result.seconds:.0f} s)")
