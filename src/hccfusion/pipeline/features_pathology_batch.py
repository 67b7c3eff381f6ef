"""The batch machinery of the pathology feature job (:mod:`hccfusion.pipeline.features_pathology`):
the pool of forked slide-worker processes (one thread each, the encoder inherited), the run's
bookkeeping that writes each slide's bag or failure as it finishes and merges the QC table, and
the progress bar.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from hccfusion.pathology.extract import SlideFeatures

QC_FILE = "qc.parquet"


#: The encoder and stain normaliser of a slide-worker process (inherited through ``fork``).
_WORKER: dict[str, Any] = {}


def _init_slide_worker(encoder: Any, normalizer: Any | None) -> None:
    """One thread per slide worker: the parallelism is across slides (see the notes of
    :mod:`hccfusion.pipeline.features_pathology`)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1)   # numpy's BLAS too (stain estimation in the QC)
    _WORKER.update(encoder=encoder, normalizer=normalizer)


def _extract_in_worker(slide_id: str, path: str, settings: Any,
                       mpp: float | None) -> "tuple[str, SlideFeatures | tuple[str, str]]":
    from hccfusion.pathology.extract import SlideExtractionError, extract_slide

    try:
        return slide_id, extract_slide(path, encoder=_WORKER["encoder"], settings=settings,
                                       mpp=mpp, normalizer=_WORKER["normalizer"])
    except SlideExtractionError as exc:   # a value, so the parent records it with its kind
        return slide_id, (exc.kind, str(exc))


def _slide_pool(todo: pd.DataFrame, *, encoder: Any, settings: Any, mpp: float | None,
                normalizer: Any | None, workers: int) -> Any:
    """``(slide_id, SlideFeatures or (kind, reason))`` as slides finish in ``workers``
    forked processes; the loaded encoder is inherited, not pickled."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from dataclasses import replace

    in_process = replace(settings, num_workers=0)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"),
                               initializer=_init_slide_worker, initargs=(encoder, normalizer))
    try:
        futures = [pool.submit(_extract_in_worker, row.slide_id, str(row.path), in_process, mpp)
                   for row in todo.itertuples(index=False)]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Run:
    """Bookkeeping of one run: writes bags and failures as slides finish, collects QC rows."""

    def __init__(self, *, store: Any, slides: pd.DataFrame) -> None:
        self.store = store
        self.info = slides.set_index("slide_id")
        self.written: list[str] = []
        self.failures: list[tuple[str, str, str, str]] = []
        self.qc_rows: list[dict[str, Any]] = []
        self.n_tiles = 0

    def done(self, slide_id: str, result: "SlideFeatures | tuple[str, str]") -> None:
        patient_id = str(self.info.at[slide_id, "patient_id"])
        if isinstance(result, tuple):
            kind, reason = result
            self.store.record_failure(slide_id, patient_id=patient_id, error=f"{kind}: {reason}")
            self.failures.append((slide_id, patient_id, kind, reason))
            return
        self.store.write(slide_id, patient_id=patient_id, features=result.features,
                         coords=result.coords, provenance=result.provenance)
        self.written.append(slide_id)
        self.n_tiles += result.n_tiles
        self.qc_rows.append({"slide_id": slide_id, "patient_id": patient_id,
                             "center": self.info.at[slide_id, "center"],
                             "n_tiles": result.n_tiles, "seconds": round(result.seconds, 3),
                             **{k: v for k, v in result.qc.items()
                                if k not in ("slide_id", "patient_id")}})

    def write_qc(self) -> Path:
        """Merge this run's QC rows into ``qc.parquet`` (rows of skipped slides are kept)."""
        path = self.store.dir / QC_FILE
        rows = pd.DataFrame(self.qc_rows)
        if path.is_file():
            old = pd.read_parquet(path)
            if not rows.empty:
                old = old[~old["slide_id"].isin(rows["slide_id"])]
            rows = pd.concat([old, rows], ignore_index=True) if not rows.empty else old
        if rows.empty:
            rows = pd.DataFrame(columns=["slide_id", "patient_id", "center", "n_tiles"])
        rows = rows.sort_values(["patient_id", "slide_id"], kind="stable").reset_index(drop=True)
        for column in rows.columns:
            if rows[column].dtype == object:
                rows[column] = rows[column].map(lambda v: v if v is None or isinstance(
                    v, (str, int, float, bool)) else str(v))
        from hccfusion.io.atomic import atomic_write_parquet

        return atomic_write_parquet(path, rows)


class _progress_bar:
    """A rich progress bar (slides, tiles/s) on stderr when enabled and stderr is a terminal;
    otherwise a no-op with the same methods."""

    def __init__(self, *, enabled: bool, n_slides: int) -> None:
        import sys

        self.bar: Any = None
        self.n_tiles = 0
        self.t0 = time.perf_counter()
        if enabled and sys.stderr.isatty() and n_slides:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn)

            self.bar = Progress(TextColumn("slides"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=False)
            self.task = self.bar.add_task("slides", total=n_slides, rate="")

    def __enter__(self) -> "_progress_bar":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def tiles(self, n: int) -> None:
        self.n_tiles += int(n)
        if self.bar is not None:
            rate = self.n_tiles / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.update(self.task, rate=f"{self.n_tiles:,} tiles, {rate:,.0f} tiles/s")

    def slide_done(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)
