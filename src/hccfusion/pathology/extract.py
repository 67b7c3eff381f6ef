"""One slide in, one bag's worth of arrays out: tissue → tile grid → tiles read by a
``DataLoader`` with workers while the main process encodes.

:func:`extract_slide` is the per-slide function that both the single-machine job and the Ray
tasks run (:mod:`hccfusion.pathology.distributed`); it returns arrays and writes nothing, so the
caller alone writes bags and the two paths give the same bytes.

The source file is identified by name, size and the sha256 of its first MiB: hashing a whole
multi-GB slide would take longer than extracting it, and the first MiB holds the TIFF header,
the directory of the first level and its first tiles, which differ between any two scans.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    from hccfusion.pathology.encoders import TileEncoder

#: Bytes hashed to identify a slide file (see the module docstring).
HEAD_BYTES = 1 << 20
#: Tiles kept (at most) for the slide's QC sample: 16 random tissue tiles (0.8 M pixels at
#: 224 px) pin the stain vectors and the blur percentiles at a small fixed cost per slide
#: (the stain fit solves a least-squares problem over every sampled pixel).
QC_SAMPLE_TILES = 16
#: Slides with fewer tile chunks than this are read in the main process (see ``_extract``).
MIN_CHUNKS_FOR_WORKERS = 3


class SlideExtractionError(DataError):
    """A slide that could not be turned into features; ``kind`` names what went wrong
    (``missing``, ``truncated``, ``no_mpp``, ``no_tissue``, ``unreadable_level`` …)."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __reduce__(self) -> tuple[Any, ...]:  # keep ``kind`` across processes (Ray)
        return (_rebuild_error, (str(self), self.kind))


def _rebuild_error(message: str, kind: str) -> SlideExtractionError:
    return SlideExtractionError(message, kind=kind)


@dataclass(frozen=True)
class TileSettings:
    """Everything besides the encoder that decides which tiles are read and how.

    Attributes
    ----------
    target_mpp : float
        Resolution the encoder sees (µm/px).
    tile_px : int
        Tile side at ``target_mpp`` (px).
    overlap_px : int
        Overlap between neighbouring tiles at ``target_mpp`` (px).
    min_tissue : float
        Smallest tissue share of a tile that is kept, 0–1.
    mask_mpp : float
        Resolution of the tissue mask (µm/px).
    batch_size : int
        Tiles per read chunk and per encoder call.
    num_workers : int
        ``DataLoader`` reader processes; 0 reads in the main process (same features).
    slide_backend : str
        Slide reader backend (``auto``, ``openslide``, ``tiffslide``).
    seed : int
        Seed of the QC tile sample (recorded in the provenance).
    """

    target_mpp: float
    tile_px: int
    overlap_px: int = 0
    min_tissue: float = 0.25
    mask_mpp: float = 8.0
    batch_size: int = 64
    num_workers: int = 2
    slide_backend: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (("target_mpp", self.target_mpp > 0, "a positive resolution in µm/px"),
                  ("tile_px", int(self.tile_px) >= 8, "an integer ≥ 8 (px)"),
                  ("overlap_px", 0 <= int(self.overlap_px) < int(self.tile_px),
                   "an integer in [0, tile_px)"),
                  ("min_tissue", 0.0 <= self.min_tissue <= 1.0, "a share between 0 and 1"),
                  ("batch_size", int(self.batch_size) >= 1, "a positive integer"),
                  ("num_workers", int(self.num_workers) >= 0, "a non-negative integer"))
        for name, ok, what in checks:
            if not ok:
                raise UsageError(f"The '{name}' parameter of TileSettings must be {what}. "
                                 f"Got {getattr(self, name)!r} instead.")


@dataclass(frozen=True, eq=False)
class SlideFeatures:
    """The features of one slide, ready for :meth:`FeatureStore.write`.

    Attributes
    ----------
    features : numpy.ndarray
        float32 ``[n_tiles, dim]``.
    coords : numpy.ndarray
        int64 ``[n_tiles, 2]``: level-0 (x, y) px of each tile's top-left corner.
    provenance : dict
        Scalars describing how the features were made (encoder, weights, resolution, source).
    qc : dict
        The slide's QC row (:func:`hccfusion.pathology.qc.slide_qc`).
    seconds : float
        Wall time of the slide, s.
    """

    features: np.ndarray
    coords: np.ndarray
    provenance: dict[str, Any]
    qc: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def n_tiles(self) -> int:
        return int(self.features.shape[0])


def source_identity(path: Path) -> dict[str, Any]:
    """File name, size (bytes) and sha256 of the first :data:`HEAD_BYTES` of a slide file."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    return {"source_name": path.name, "source_size_bytes": int(path.stat().st_size),
            "source_sha256_head": hashlib.sha256(head).hexdigest(),
            "source_sha256_head_bytes": HEAD_BYTES}


def _classify(exc: BaseException) -> SlideExtractionError:
    """Any error met on a slide as a :class:`SlideExtractionError` whose ``kind`` names it."""
    if isinstance(exc, SlideExtractionError):
        return exc
    kind = getattr(exc, "kind", None) or {
        "OpenSlideUnsupportedFormatError": "unsupported_format",
        "OpenSlideError": "unreadable_level", "TiffFileError": "truncated",
    }.get(type(exc).__name__, type(exc).__name__)
    return SlideExtractionError(str(exc) or type(exc).__name__, kind=str(kind))


def _qc_sample(n_tiles: int, *, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = min(QC_SAMPLE_TILES, n_tiles)
    return np.sort(rng.choice(n_tiles, size=k, replace=False)) if k else np.zeros(0, np.int64)


def extract_slide(path: str | Path, *, encoder: "TileEncoder", settings: TileSettings,
                  mpp: float | None = None, normalizer: Any | None = None,
                  on_tiles: Callable[[int], None] | None = None) -> SlideFeatures:
    """Encode every tissue tile of one slide.

    Parameters
    ----------
    path : str or pathlib.Path
        The slide file.
    encoder : TileEncoder
        A loaded tile encoder (``encode(uint8 [B, px, px, 3]) -> float32 [B, dim]``).
    settings : TileSettings
        Resolution, tile size, tissue threshold, batching and reader workers.
    mpp : float or None
        Level-0 resolution (µm/px) for a slide that does not record it.
    normalizer : object or None
        A fitted stain normaliser (``transform`` and ``to_dict``), applied before encoding.
    on_tiles : callable or None
        Called with the number of tiles after each encoded chunk (progress bars).

    Returns
    -------
    SlideFeatures

    Raises
    ------
    SlideExtractionError
        The slide cannot be used; ``kind`` says why (``missing_file``, ``no_tissue``, the
        reader's kind such as ``truncated`` or ``missing_mpp``, ``unreadable_level``).
    """
    path = Path(path)
    start = time.perf_counter()
    if not path.is_file():
        raise SlideExtractionError(f"slide file {path.name} does not exist under {path.parent}.",
                                   kind="missing")
    try:
        return _extract(path, encoder=encoder, settings=settings, mpp=mpp,
                        normalizer=normalizer, on_tiles=on_tiles, start=start)
    except (KeyboardInterrupt, UsageError):
        raise
    except Exception as exc:  # noqa: BLE001 - every slide error is named and recorded
        raise _classify(exc) from exc


def _extract(path: Path, *, encoder: "TileEncoder", settings: TileSettings, mpp: float | None,
             normalizer: Any | None, on_tiles: Callable[[int], None] | None,
             start: float) -> SlideFeatures:
    from hccfusion.pathology.qc import slide_qc
    from hccfusion.pathology.slides import open_slide
    from hccfusion.pathology.tile_dataset import ChunkFailure, TileDataset, iterate_chunks
    from hccfusion.pathology.tiling import tile_grid
    from hccfusion.pathology.tissue import detect_tissue

    slide = open_slide(path, mpp=mpp, backend=settings.slide_backend)
    try:
        tissue = detect_tissue(slide, mask_mpp=settings.mask_mpp)
        grid = tile_grid(slide, tissue, target_mpp=settings.target_mpp, tile_px=settings.tile_px,
                         overlap_px=settings.overlap_px, min_tissue=settings.min_tissue)
        n = int(len(grid.coords))
        if n == 0:
            raise SlideExtractionError(
                f"slide {path.name} has no tile with at least {settings.min_tissue:.0%} tissue at "
                f"{settings.target_mpp:g} µm/px (tissue found: {tissue.mask.mean():.1%} of the "
                "mask); it is blank, out of focus or mostly pen.", kind="no_tissue")
        sample_idx = _qc_sample(n if normalizer is None else 0, seed=settings.seed)
        dataset = TileDataset(slide_path=path, grid=grid, chunk_tiles=settings.batch_size,
                              mpp=mpp, backend=settings.slide_backend, normalizer=normalizer)
        parts: list[np.ndarray] = []
        sample: list[np.ndarray] = []
        pin = str(getattr(encoder, "device", "cpu")).startswith("cuda")
        # Reader processes pay off only when there is a chunk to read while another is encoded;
        # a needle biopsy often fits in one or two chunks, where a fork would be pure overhead.
        workers = min(settings.num_workers, len(dataset) - 1) if len(dataset) >= MIN_CHUNKS_FOR_WORKERS else 0
        # without workers the chunks are read through the slide already open here (the
        # dataset would open the file a second time); the tiles are the same bytes
        chunks = (iterate_chunks(dataset, num_workers=workers, pin_memory=pin) if workers
                  else _chunks_in_process(slide, dataset))
        for chunk in chunks:
            if isinstance(chunk, ChunkFailure):
                raise SlideExtractionError(
                    f"slide {path.name}: reading tiles at level {grid.level} failed "
                    f"({chunk.error_type}: {chunk.message})", kind=chunk.kind)
            parts.append(np.asarray(encoder.encode(chunk.tiles), dtype=np.float32))
            stop = chunk.start + len(chunk.tiles)
            picked = sample_idx[(sample_idx >= chunk.start) & (sample_idx < stop)]
            if len(picked):
                sample.append(chunk.tiles[picked - chunk.start])
            if on_tiles is not None:
                on_tiles(len(chunk.tiles))
        features = np.concatenate(parts, axis=0)
        # QC describes the slide as scanned: with stain normalisation on, slide_qc reads its own
        # raw sample rather than the normalised tiles
        tiles_sample = (np.concatenate(sample, axis=0) if sample and normalizer is None
                        else None)
        qc = slide_qc(slide=slide, tissue=tissue, grid=grid, tiles_sample=tiles_sample)
        provenance = _provenance(path, slide=slide, grid=grid, encoder=encoder,
                                 settings=settings, normalizer=normalizer)
        provenance["n_tiles"] = n
    finally:
        slide.close()
    return SlideFeatures(features=features, coords=np.asarray(grid.coords, dtype=np.int64),
                         provenance=provenance, qc=dict(qc),
                         seconds=time.perf_counter() - start)


def _chunks_in_process(slide: Any, dataset: Any) -> Any:
    """The chunks of ``dataset`` read in grid order through the open ``slide``; a read error
    comes back as a ``ChunkFailure`` as from a ``DataLoader`` worker."""
    from hccfusion.pathology.tile_dataset import ChunkFailure, TileChunk
    from hccfusion.pathology.tiling import read_tiles

    n, size = len(dataset.grid.coords), dataset.chunk_tiles
    for start in range(0, n, size):
        try:
            tiles = read_tiles(slide, dataset.grid, np.arange(start, min(start + size, n)))
            if dataset.normalizer is not None:
                tiles = dataset.normalizer.transform(tiles)
        except Exception as exc:  # noqa: BLE001 - reported like a reader process's failure
            kind = getattr(exc, "kind", None) or "unreadable_tiles"
            yield ChunkFailure(error_type=type(exc).__name__, kind=str(kind), message=str(exc))
            return
        yield TileChunk(start=start, tiles=np.ascontiguousarray(tiles, dtype=np.uint8))


def _provenance(path: Path, *, slide: Any, grid: Any, encoder: "TileEncoder",
                settings: TileSettings, normalizer: Any | None) -> dict[str, Any]:
    import json

    spec = encoder.spec
    prov: dict[str, Any] = {
        "encoder": spec.name, "weights_sha256": str(spec.weights_sha256 or ""),
        "encoder_dim": int(spec.dim), "input_mpp": float(spec.input_mpp),
        "target_mpp": float(grid.target_mpp), "tile_px": int(grid.tile_px),
        "tile_um": float(grid.tile_um), "overlap_px": int(grid.overlap_px),
        "level": int(grid.level), "read_px": int(grid.read_px),
        "size_level0_px": int(grid.size_level0_px), "min_tissue": float(settings.min_tissue),
        "mask_mpp": float(settings.mask_mpp), "slide_mpp": float(slide.mpp),
        "slide_mpp_source": str(slide.mpp_source), "slide_level_count": int(slide.level_count),
        "slide_width_px": int(slide.dimensions[0]), "slide_height_px": int(slide.dimensions[1]),
        "stain_norm": "none" if normalizer is None else "macenko",
        "stain_target": "" if normalizer is None else json.dumps(normalizer.to_dict(),
                                                                 sort_keys=True, default=_jsonable),
        "seed": int(settings.seed), "coords_level": 0,
    }
    prov.update(source_identity(path))
    return prov


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
