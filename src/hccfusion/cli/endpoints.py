"""``hccfusion endpoints``: derive every endpoint of a frozen cohort and print a summary."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    cohort: Path = typer.Option(..., "--cohort", help="Frozen cohort snapshot folder."),
    out: Path = typer.Option(..., "--out", help="Folder for the endpoint tables (Parquet)."),
    censoring: str = typer.Option("primary", "--censoring",
                                  help="PFS censoring: primary or a named sensitivity variant."),
) -> None:
    """Responses per reader (mRECIST and RECIST 1.1), BOR, ORR/DCR, OS/PFS/TTP/DoR, shrinkage,
    reader agreement, CTCAE grades and baseline scores — as tidy Parquet tables."""
    from rich.console import Console

    from hccfusion.io.cohort import Cohort
    from hccfusion.pipeline.endpoints import derive_endpoints

    snapshot = Cohort.load(cohort)
    results = derive_endpoints(snapshot.tables, cutoff=snapshot.cutoff, censoring=censoring)
    results.write(out)
    s = results.summary
    console = Console(highlight=False)
    console.print(f"[bold]{s['patients']} patients, {s['eligible']} eligible[/bold] "
                  f"(data cut-off {snapshot.cutoff.isoformat()})")
    for criterion, label in (("mrecist", "mRECIST"), ("recist11", "RECIST 1.1")):
        parts = []
        for endpoint in ("ORR", "DCR", "CR"):
            r = s["rates"].get(f"{criterion}_{endpoint}")
            if r:
                parts.append(f"{endpoint} {r['pct']:.1f} % ({r['ci'][0]:.1f}–{r['ci'][1]:.1f})")
        n = s["rates"].get(f"{criterion}_ORR", {}).get("n", 0)
        console.print(f"{label} (n = {n}): " + ", ".join(parts))
    for key, label in (("os", "OS"), ("pfs_mrecist", "PFS mRECIST"), ("pfs_recist11", "PFS RECIST 1.1")):
        m = s["medians"][key]
        ci = "" if m["ci_low"] is None else f" ({m['ci_low']}–{m['ci_high'] or 'NR'})"
        med = "not reached" if m["median_months"] is None else f"{m['median_months']} months"
        console.print(f"median {label}: {med}{ci}; {m['events']} events / {m['n']}")
    for key, k in s["kappa"].items():
        console.print(f"reader κ {key}: {k['kappa']} ({k['ci'][0]}–{k['ci'][1]}), {k['band']}")
    console.print(f"time points needing MDT: {s['mdt']['pct_timepoints_needing_mdt']} % "
                  f"({s['mdt']['unresolved']} unresolved)")
    ae = ", ".join(f"{p} {n}" for p, n in s["ae_grade3plus_patients"].items()) or "none"
    console.print(f"patients with a grade ≥ 3 adverse event, by procedure: {ae}")
    if results.warnings:
        console.print(f"{len(results.warnings)} warning(s) in {out / 'summary.json'}")
    console.print(f"tables written to {out}")
