"""Benchmark: validate and ingest a 2,000-patient CRF workbook (~100,000 rows over all sheets).

Goal (Foundation issue): under 15 s each and under 1 GB peak memory on 2 cores.

Side by side, in the same run and on the same file, the plain way to read a workbook in Python:
``pandas.read_excel(sheet_name=None)`` with openpyxl — which only reads the sheets, without any
parsing, checking or unit conversion.

Each stage runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own.

Usage::

    .venv/bin/python benchmarks/bench_crf.py [--patients 2000] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE = r"""
import json, sys, time
stage, workbook, db = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
extra = {}
if stage == "validate":
    from hccfusion.io.crf import validate_crf
    report = validate_crf(workbook)
    extra = {"errors": len(report.errors), "warnings": len(report.warnings),
             "rows": sum(len(t) for t in report.tables.values())}
elif stage == "ingest":
    from hccfusion.io.database import ingest_workbook
    result = ingest_workbook(workbook, db_path=db)
    extra = {"status": result.status, "batch": result.batch_id}
elif stage == "reingest":
    from hccfusion.io.database import ingest_workbook
    result = ingest_workbook(workbook, db_path=db)
    extra = {"status": result.status,
             "cells_changed": sum(c.cells_changed for c in result.changes.values())}
elif stage == "pandas_read_excel":
    import pandas as pd
    sheets = pd.read_excel(workbook, sheet_name=None, engine="openpyxl")
    extra = {"rows": sum(len(s) for s in sheets.values())}
elif stage == "cli_help":
    import hccfusion.cli.main  # noqa: F401  (what `hccfusion --help` imports)
elapsed = time.perf_counter() - start
# VmHWM: this process's own peak resident set (ru_maxrss would include the parent's at fork).
peak_mb = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM")) / 1024
print(json.dumps({"stage": stage, "seconds": round(elapsed, 2), "peak_mb": round(peak_mb, 1), **extra}))
"""


def _stage(name: str, workbook: Path, db: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", STAGE, name, str(workbook), str(db)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _thin(tables: dict, *, exams_per_patient: int, labs_per_patient: int) -> dict:
    """The same patients with fewer follow-up exams and lab draws each (the issue's workbook
    has ~100,000 rows for 2,000 patients; the simulator's follow-up is denser)."""
    out = dict(tables)
    exams = tables["exams"].sort_values(["patient_id", "date"], kind="stable")
    exams = exams.groupby("patient_id", sort=False).head(exams_per_patient)
    out["exams"] = exams.sort_index()
    reads = tables["lesion_reads"]
    out["lesion_reads"] = reads[reads["exam_id"].isin(set(exams["exam_id"]))]
    out["labs"] = tables["labs"].groupby("patient_id", sort=False).head(labs_per_patient)
    return out


def _corrected_copy(workbook: Path, out: Path) -> Path:
    """The same workbook with one albumin value corrected (a re-import with one changed cell)."""
    import openpyxl

    wb = openpyxl.load_workbook(workbook)
    ws = wb["labs"]
    header = [c.value for c in ws[1]]
    col = header.index("value") + 1
    for row in range(2, ws.max_row + 1):
        if ws.cell(row=row, column=header.index("test") + 1).value == "albumin":
            value = ws.cell(row=row, column=col).value
            ws.cell(row=row, column=col).value = float(value) + 1.0
            break
    wb.save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the files here.")
    args = parser.parse_args()

    from hccfusion.io.crf import write_workbook
    from hccfusion.simulate.crf_tables import as_written, crf_tables
    from hccfusion.simulate.latent import simulate_latent

    folder = args.keep or Path(tempfile.mkdtemp(prefix="hccfusion-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    truth = simulate_latent(n_patients=args.patients, n_centers=2, seed=args.seed)
    dense = {name: as_written(name, frame) for name, frame in crf_tables(truth).items()}
    variants = {"issue-sized": _thin(dense, exams_per_patient=4, labs_per_patient=16),
                "simulator-dense": dense}
    for label, tables in variants.items():
        t = time.perf_counter()
        workbook = write_workbook(tables, folder / f"crf_{label}.xlsx")
        rows = {name: len(frame) for name, frame in tables.items()}
        print(f"\n[{label}] {args.patients} patients, {sum(rows.values()):,} rows "
              f"({', '.join(f'{k} {v:,}' for k, v in rows.items())}), "
              f"{workbook.stat().st_size / 1e6:.1f} MB, written in {time.perf_counter() - t:.1f} s")
        db = folder / f"bench_{label}.duckdb"
        db.unlink(missing_ok=True)
        corrected = _corrected_copy(workbook, folder / f"crf_{label}_corrected.xlsx")
        results = [_stage("cli_help", workbook, db), _stage("pandas_read_excel", workbook, db),
                   _stage("validate", workbook, db), _stage("ingest", workbook, db),
                   _stage("reingest", corrected, db)]
        print(f"{'stage':<20}{'seconds':>9}{'peak MB':>10}  details")
        for r in results:
            details = {k: v for k, v in r.items() if k not in ("stage", "seconds", "peak_mb")}
            print(f"{r['stage']:<20}{r['seconds']:>9.2f}{r['peak_mb']:>10.0f}  {details}")
    print("\ngoal: validate < 15 s and ingest < 15 s, each < 1,024 MB peak, on 2 cores "
          "(ingest includes its own validation)")


if __name__ == "__main__":
    main()
