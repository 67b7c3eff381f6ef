"""Fan independent, individually seeded writing tasks (one CT exam, one slide) out over local
worker processes. Each task carries its own seed, so the output does not depend on the number
of workers or on the order in which tasks finish."""

from __future__ import annotations

import importlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def default_workers() -> int:
    """One worker per available CPU core (2 on the project's machines)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _call(job: tuple[str, str, dict[str, Any]]) -> Any:
    module, func, kwargs = job
    return getattr(importlib.import_module(module), func)(**kwargs)


def _single_threaded_blas() -> None:
    """Worker initialiser: the tasks do many small matrix products, for which BLAS threads
    only spin (measured: 2 workers with 2 BLAS threads each were slower than 1 worker)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def run_tasks(module: str, func: str, tasks: list[dict[str, Any]], *, workers: int) -> list[Any]:
    """``[module.func(**t) for t in tasks]``, over ``workers`` processes; results in task order."""
    jobs = [(module, func, t) for t in tasks]
    if workers <= 1 or len(jobs) < 2:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return [_call(j) for j in jobs]
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_single_threaded_blas) as pool:
        return list(pool.map(_call, jobs, chunksize=4))
