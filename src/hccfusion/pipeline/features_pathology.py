"""The pathology feature job: the biopsy slides of a cohort in, one HDF5 bag per slide, a
manifest indexed by patient and a QC table out (``hccfusion features pathology``).

Layout (see :mod:`hccfusion.io.feature_store`)::

    <out>/pathology/<encoder>/<spec>/<slide_id>.h5     features, coords, provenance
    <out>/pathology/<encoder>/<spec>/manifest.parquet  one row per slide (ok or failed)
    <out>/pathology/<encoder>/<spec>/qc.parquet        one row per slide from slide_qc

``spec`` names what changes the features besides the encoder: ``mpp0.50-px224``, plus
``-ovN`` for an overlap of N px and ``-macenko`` with stain normalisation.

A slide whose bag exists is skipped (bags are renamed into place whole, so an interrupted run
leaves none half-written and simply resumes), unless the bag was made by another version of the
encoder (its recorded ``weights_sha256``, for a weight-free encoder the fingerprint of its
feature definitions, differs): that bag is made again. A slide that fails — missing or
truncated file, no recorded mpp, no tissue, an unreadable level — is recorded with its kind and
reason, and the batch goes on.

Many small slides (needle biopsies: a few dozen tiles each) are best spread over
``slide_workers`` processes, each extracting whole slides with one thread: a CPU encoder's
own threads gain little on a batch that small and, on a busy machine, waste most of their time
waiting for each other (a 2-core profile of ``hcc_stats`` spent 3× the CPU time with torch's
default two threads). Only this process writes bags, so the output is the same as with one
process (only ``created_at`` differs).

This module is the batch driver; the slide table and stain reference live in
:mod:`hccfusion.pipeline.features_pathology_inputs`, the worker pool, per-run bookkeeping and
progress bar in :mod:`hccfusion.pipeline.features_pathology_batch`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from hccfusion.errors import UsageError, unknown_option
from hccfusion.pipeline.features_pathology_batch import (  # noqa: F401 - QC_FILE re-exported
    QC_FILE,
    _progress_bar,
    _Run,
    _slide_pool,
)
from hccfusion.pipeline.features_pathology_inputs import (  # noqa: F401 - slide_table re-exported
    _fit_normalizer,
    slide_table,
)

if TYPE_CHECKING:
    from hccfusion.io.cohort import Cohort

__all__ = ["BACKENDS", "STAIN_NORMS", "QC_FILE", "STAIN_FILE", "FAILURE_COLUMNS",
           "PathologyExtraction", "spec_name", "slide_table", "extract_pathology_features"]

BACKENDS = ("local", "ray")
STAIN_NORMS = ("none", "macenko")
#: Per-centre stain vectors and strengths, from the QC table (``pathology.stain.stain_by_centre``).
STAIN_FILE = "stain_by_centre.parquet"
FAILURE_COLUMNS = ["slide_id", "patient_id", "kind", "reason"]


@dataclass(frozen=True, eq=False)
class PathologyExtraction:
    """What a pathology feature run did.

    Attributes
    ----------
    store_dir : pathlib.Path
        ``<out>/pathology/<encoder>/<spec>``.
    manifest_path, qc_path : pathlib.Path
        The manifest and the QC table (Parquet).
    written, skipped : tuple of str
        Slide ids extracted in this run, and those whose bag already existed.
    failures : pandas.DataFrame
        One row per failed slide: ``slide_id``, ``patient_id``, ``kind``, ``reason``.
    n_tiles : int
        Tiles encoded in this run.
    seconds : float
        Wall time, s.
    """

    store_dir: Path
    manifest_path: Path
    qc_path: Path
    written: tuple[str, ...]
    skipped: tuple[str, ...]
    failures: pd.DataFrame = field(repr=False)
    n_tiles: int = 0
    seconds: float = 0.0

    @property
    def n_slides(self) -> int:
        return len(self.written) + len(self.skipped) + len(self.failures)

    @property
    def tiles_per_s(self) -> float:
        return self.n_tiles / self.seconds if self.seconds > 0 else 0.0

    @property
    def all_failed(self) -> bool:
        """Every slide failed (none written, none skipped), and there was at least one."""
        return len(self.failures) > 0 and not self.written and not self.skipped


def spec_name(*, target_mpp: float, tile_px: int, overlap_px: int = 0,
              stain_norm: str = "none") -> str:
    """The store's spec folder name, e.g. ``mpp0.50-px224`` or ``mpp0.50-px224-macenko``."""
    name = f"mpp{float(target_mpp):.2f}-px{int(tile_px)}"
    if overlap_px:
        name += f"-ov{int(overlap_px)}"
    if stain_norm != "none":
        name += f"-{stain_norm}"
    return name


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def extract_pathology_features(
    cohort: "Cohort | pd.DataFrame | str | Path", *, out: str | Path, encoder: str,
    data_root: str | Path = ".", weights: str | Path | None = None,
    expected_sha256: str | None = None, target_mpp: float | None = None,
    tile_px: int | None = None, overlap_px: int = 0, min_tissue: float = 0.25,
    stain_norm: str = "none", stain_target: Any = None, mpp: float | None = None,
    batch_size: int = 64, num_workers: int = 2, device: str = "auto",
    backend: str = "local", ray_address: str | None = None, num_cpus: int | None = None,
    slide_backend: str = "auto", seed: int = 0, progress: bool = False,
    slide_workers: int = 1,
) -> PathologyExtraction:
    """Extract tile features of every biopsy slide of a cohort into the feature store.

    Parameters
    ----------
    cohort : Cohort, pandas.DataFrame or path
        See :func:`slide_table`.
    out : str or pathlib.Path
        Feature-store root (``features/``).
    encoder : str
        Tile encoder registry name (``hcc_stats``, ``efficientnet_lite0`` …).
    data_root : str or pathlib.Path
        Folder that relative slide paths start from.
    weights, expected_sha256 : optional
        Local checkpoint of the encoder and the sha256 it must have.
    target_mpp, tile_px : optional
        Resolution (µm/px) and tile side (px) the encoder sees; default: the encoder's own.
    overlap_px, min_tissue : int, float
        Tile overlap (px at ``target_mpp``) and the smallest tissue share of a kept tile.
    stain_norm : {"none", "macenko"}
        Stain normalisation before encoding; ``stain_target`` is its reference image.
    mpp : float or None
        Level-0 µm/px for slides that do not record it (applies to every slide).
    batch_size, num_workers : int
        Tiles per encoder call; ``DataLoader`` reader processes (0: read in this process).
    device : str
        ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1`` ….
    backend : {"local", "ray"}
        This machine, or one Ray task per slide (``ray_address``: None starts a local cluster
        with ``num_cpus``).
    slide_backend : str
        Slide reader (``auto``, ``openslide``, ``tiffslide``).
    slide_workers : int
        Local backend on CPU: processes extracting whole slides side by side, one thread each
        (tiles read in the process itself, ``num_workers`` unused). 1 (default) extracts
        slides one after another in this process. Suits many small slides; large slides are
        better read by ``num_workers`` DataLoader processes.
    seed : int
        Seed of the QC tile sample; recorded in every bag.
    progress : bool
        Show a progress bar with tiles/s on stderr.

    Returns
    -------
    PathologyExtraction
        Store folder, manifest, QC table, slides written / skipped / failed.

    Raises
    ------
    UsageError
        An unknown encoder, backend or stain normalisation, or a bad parameter.
    DataError
        A specimens table that lists slides without id or path, or one id twice.
    """
    from hccfusion.io.feature_store import FeatureStore
    from hccfusion.pathology.encoders import get_tile_encoder
    from hccfusion.pathology.extract import TileSettings

    if backend not in BACKENDS:
        raise unknown_option("backend", str(backend), BACKENDS)
    if stain_norm not in STAIN_NORMS:
        raise unknown_option("stain normalisation", str(stain_norm), STAIN_NORMS)
    if isinstance(slide_workers, bool) or not isinstance(slide_workers, int) or slide_workers < 1:
        raise UsageError("The 'slide_workers' parameter of extract_pathology_features must be a "
                         f"positive integer (processes). Got {slide_workers!r} instead.")
    from hccfusion.pathology.slides import BACKENDS as SLIDE_BACKENDS

    if slide_backend not in SLIDE_BACKENDS:
        raise unknown_option("slide backend", str(slide_backend), SLIDE_BACKENDS)
    start = time.perf_counter()
    slides = slide_table(cohort, data_root=data_root)
    device = _resolve_device(device)
    if slide_workers > 1 and (backend != "local" or not device.startswith("cpu")):
        raise UsageError("The 'slide_workers' parameter of extract_pathology_features must be 1 "
                         f"unless backend is 'local' and the device is the CPU. Got "
                         f"{slide_workers} with backend {backend!r} on {device!r} instead (a GPU "
                         "encoder is fed by num_workers tile readers; Ray spreads slides itself).")
    tile_encoder = get_tile_encoder(encoder, weights=weights, expected_sha256=expected_sha256,
                                    device=device)
    spec = tile_encoder.spec
    settings = TileSettings(
        target_mpp=float(target_mpp if target_mpp is not None else spec.input_mpp),
        tile_px=int(tile_px if tile_px is not None else spec.tile_px),
        overlap_px=int(overlap_px), min_tissue=float(min_tissue), batch_size=int(batch_size),
        num_workers=int(num_workers), slide_backend=slide_backend, seed=int(seed))
    normalizer = _fit_normalizer(stain_norm, stain_target)
    store = FeatureStore(out, modality="pathology", encoder=spec.name,
                         spec=spec_name(target_mpp=settings.target_mpp, tile_px=settings.tile_px,
                                        overlap_px=settings.overlap_px, stain_norm=stain_norm))
    # a bag made by another version of the encoder (weights or definition) is made again
    made_by = {"weights_sha256": str(spec.weights_sha256 or "")}
    todo = slides[[not store.done(s, provenance=made_by) for s in slides["slide_id"]]]
    skipped = tuple(s for s in slides["slide_id"] if s not in set(todo["slide_id"]))
    run = _Run(store=store, slides=slides)
    with _progress_bar(enabled=progress, n_slides=len(todo)) as bar:
        if backend == "local" and slide_workers > 1:
            for slide_id, result in _slide_pool(todo, encoder=tile_encoder, settings=settings,
                                                mpp=mpp, normalizer=normalizer,
                                                workers=slide_workers):
                run.done(slide_id, result)
                if not isinstance(result, tuple):
                    bar.tiles(result.n_tiles)
                bar.slide_done()
        elif backend == "local":
            from hccfusion.pathology.extract import SlideExtractionError, extract_slide

            for row in todo.itertuples(index=False):
                try:
                    result = extract_slide(row.path, encoder=tile_encoder, settings=settings,
                                           mpp=mpp, normalizer=normalizer, on_tiles=bar.tiles)
                except SlideExtractionError as exc:
                    run.done(row.slide_id, (exc.kind, str(exc)))
                else:
                    run.done(row.slide_id, result)
                bar.slide_done()
        else:
            from hccfusion.pathology.distributed import (EncoderRequest, extract_slides_ray,
                                                         job_for)

            request = EncoderRequest(name=encoder, expected_sha256=expected_sha256, device=device,
                                     weights=None if weights is None else str(weights))
            jobs = [job_for(r.slide_id, r.path, mpp) for r in todo.itertuples(index=False)]

            def on_done(slide_id: str, result: Any) -> None:
                run.done(slide_id, result)
                if not isinstance(result, tuple):
                    bar.tiles(result.n_tiles)
                bar.slide_done()

            extract_slides_ray(jobs, encoder=request, settings=settings, normalizer=normalizer,
                               address=ray_address, num_cpus=num_cpus,
                               num_gpus_per_task=1.0 if device.startswith("cuda") else 0.0,
                               on_done=on_done)
    manifest_path = store.write_manifest()
    qc_path = run.write_qc()
    from hccfusion.pathology.stain import stain_by_centre

    stain_by_centre(pd.read_parquet(qc_path)).to_parquet(store.dir / STAIN_FILE, index=False)
    failures = pd.DataFrame(run.failures, columns=FAILURE_COLUMNS)
    return PathologyExtraction(store_dir=store.dir, manifest_path=manifest_path, qc_path=qc_path,
                               written=tuple(run.written), skipped=skipped, failures=failures,
                               n_tiles=run.n_tiles, seconds=time.perf_counter() - start)
