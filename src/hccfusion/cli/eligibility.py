"""``hccfusion cohort eligibility``: apply the eligibility rules to a frozen cohort and draw the
CONSORT flow. A plain function; the ``cohort`` group registers it."""

from __future__ import annotations

from pathlib import Path

import typer

def _print_summary(result: object, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    flow = result.flow  # type: ignore[attr-defined]
    for cohort, part in flow.groupby("cohort", sort=False):
        table = Table(title=f"{cohort} cohort")
        centres = list(dict.fromkeys(part["center"]))
        table.add_column("step")
        for c in centres:
            table.add_column(str(c), justify="right")
        for (_, stage, label), block in part.groupby(["step", "stage", "label"], sort=True):
            counts = dict(zip(block["center"], block["n"]))
            if stage == "excluded" and counts.get("all", 0) == 0:
                continue
            unknown = int(block.loc[block["center"] == "all", "n_unknown"].sum())
            name = label if stage != "excluded" else f"  excluded: {label}" + (
                f" ({unknown} for missing data)" if unknown else "")
            table.add_row(name, *[str(counts.get(c, 0)) for c in centres])
        console.print(table)
    for warning in result.warnings:  # type: ignore[attr-defined]
        console.print(f"[yellow]warning:[/yellow] {warning}")
    from hccfusion.reporting.eligibility_files import OUTPUT_FILES

    console.print(f"wrote {', '.join(OUTPUT_FILES)} to {out}")


def eligibility(
    cohort: Path = typer.Option(..., "--cohort", help="Frozen cohort snapshot folder."),
    out: Path = typer.Option(..., "--out", help="Folder for eligibility and CONSORT files."),
    followup_rule: str = typer.Option(
        "potential", "--followup-rule",
        help="'potential' (T0 ≤ cut-off − 90 days, early deaths stay in; default) or "
             "'survived' (alive and followed ≥ 90 days; report survival from the 3-month "
             "landmark)."),
) -> None:
    """Apply the inclusion/exclusion rules, write per-patient verdicts and the CONSORT flow."""
    from hccfusion.clinical.eligibility import (
        FOLLOWUP_RULES, EligibilitySettings, assess_eligibility)
    from hccfusion.errors import unknown_option
    from hccfusion.io.cohort import Cohort

    if followup_rule not in FOLLOWUP_RULES:
        raise unknown_option("follow-up rule", followup_rule, FOLLOWUP_RULES)
    snapshot = Cohort.load(cohort)
    settings = EligibilitySettings(cutoff=snapshot.cutoff, followup_rule=followup_rule)
    result = assess_eligibility(snapshot.tables, settings=settings)
    from hccfusion.reporting.eligibility_files import write_eligibility

    write_eligibility(per_patient=result.per_patient, flow=result.flow,
                      settings=result.settings.model_dump(mode="json"), rules=result.rules,
                      warnings=result.warnings, out=out)
    _print_summary(result, out)
