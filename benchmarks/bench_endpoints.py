"""Benchmark: ``hccfusion endpoints`` on a 2,000-patient cohort (~10 exams, ~4 lesions per exam
per reader). Goal (Endpoints issue): under 30 s on 2 cores.

Prints the time of the two heaviest stages and of the whole job on a simulated cohort. No
public library derives mRECIST/RECIST time-point responses from lesion reads, so there is no
reference to run beside it; the survival and agreement statistics inside are pinned to
lifelines/scipy by the tests.

Usage::

    .venv/bin/python benchmarks/bench_endpoints.py [--patients 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from hccfusion.io.index_date import index_dates
    from hccfusion.io.schema import coerce_table
    from hccfusion.pipeline.endpoints import derive_endpoints
    from hccfusion.simulate.crf_tables import crf_tables
    from hccfusion.simulate.latent import simulate_latent

    cutoff = dt.date(2026, 6, 30)
    truth = simulate_latent(n_patients=args.patients, seed=args.seed, cutoff=cutoff)
    tables = {name: coerce_table(name, frame) for name, frame in crf_tables(truth).items()}
    reads = tables["lesion_reads"]
    per_exam = reads.groupby(["exam_id", "reader"]).size().mean()
    exams = tables["exams"].groupby("patient_id").size().mean()
    print(f"cohort: {args.patients} patients, {len(tables['exams']):,} exams ({exams:.1f} per "
          f"patient), {len(reads):,} lesion reads ({per_exam:.1f} lesions per exam per reader)")

    from hccfusion.endpoints.response import timepoint_responses
    from hccfusion.endpoints.response_bor import best_overall_response

    stages = {}
    t = time.perf_counter()
    idx = index_dates(tables["treatments"])
    tp = timepoint_responses(tables["lesion_reads"], tables["exams"], index_dates=idx)
    stages["time points (3 readers + final, 2 criteria)"] = time.perf_counter() - t
    t = time.perf_counter()
    best_overall_response(tp, treatments=tables["treatments"])
    stages["best overall response (final)"] = time.perf_counter() - t
    t = time.perf_counter()
    results = derive_endpoints(tables, cutoff=cutoff)
    stages["whole endpoints job"] = time.perf_counter() - t
    n_tables = len(results.tables)
    for name, seconds in stages.items():
        print(f"{name:<48}{seconds:>8.2f} s")
    print(f"{n_tables} tables; goal: whole endpoints job < 30 s on 2 cores")


if __name__ == "__main__":
    main()
