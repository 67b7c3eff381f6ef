"""Writing an eligibility assessment to disk: per-patient verdicts, the CONSORT flow as a
table and as a figure (PNG + SVG), and the settings used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

OUTPUT_FILES = ("eligibility.parquet", "eligibility.csv", "eligibility_settings.json",
                "consort.csv", "consort.png", "consort.svg")


def write_eligibility(*, per_patient: pd.DataFrame, flow: pd.DataFrame,
                      settings: Mapping[str, Any], rules: Sequence[str],
                      warnings: Sequence[str], out: Path) -> list[Path]:
    """Write an eligibility assessment under ``out`` (created); returns the files written.

    The arguments are the fields of :class:`hccfusion.clinical.eligibility.EligibilityResult`
    (``settings`` as plain JSON-able data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hccfusion.reporting.consort import plot_consort

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    per_patient.to_parquet(out / "eligibility.parquet", index=False)
    per_patient.to_csv(out / "eligibility.csv", index=False, date_format="%Y-%m-%d")
    (out / "eligibility_settings.json").write_text(json.dumps(
        {"settings": dict(settings), "rules": list(rules), "warnings": list(warnings)}, indent=2),
        encoding="utf-8")
    flow.to_csv(out / "consort.csv", index=False)
    ax = plot_consort(flow)
    for suffix in ("png", "svg"):
        ax.figure.savefig(out / f"consort.{suffix}", dpi=200, bbox_inches="tight")
    plt.close(ax.figure)
    return [out / name for name in OUTPUT_FILES]
