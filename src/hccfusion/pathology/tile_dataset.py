"""Tiles of one slide as a ``torch.utils.data.Dataset`` of fixed-size chunks.

A ``DataLoader`` with workers reads (and, optionally, stain-normalises) the next chunks while
the main process encodes the current one. Each worker opens its own slide handle on first use:
OpenSlide handles are not safe to share across ``fork``. Errors raised while reading travel back
as values (:class:`ChunkFailure`), because the ``DataLoader`` re-creates a worker's exception from
its message alone and would drop the ``kind`` that names what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hccfusion.pathology.tiling import TileGrid


@dataclass(frozen=True)
class ChunkFailure:
    """A chunk that could not be read: the error's class name, its ``kind`` and its message."""

    error_type: str
    kind: str
    message: str


@dataclass(frozen=True)
class TileChunk:
    """One chunk of tiles in grid order.

    Attributes
    ----------
    start : int
        Index of the first tile of the chunk in the grid.
    tiles : numpy.ndarray
        uint8 ``[n, tile_px, tile_px, 3]`` RGB.
    """

    start: int
    tiles: np.ndarray

    def pin_memory(self) -> "TileChunk":
        """The same chunk in page-locked memory (the DataLoader calls this when pinning), so
        the encoder's host-to-GPU copy is a DMA transfer."""
        import torch

        return TileChunk(start=self.start, tiles=torch.from_numpy(self.tiles).pin_memory().numpy())


def _chunk_collate(item: Any) -> Any:
    """The DataLoader's collate for ``batch_size=None``: hand the chunk over unchanged."""
    return item


class TileDataset:
    """The tiles of one slide, ``chunk_tiles`` at a time, in grid order.

    Parameters
    ----------
    slide_path : str or pathlib.Path
        The slide file; each process opens it once, lazily.
    grid : TileGrid
        Where the tiles are (level-0 top-left corners) and how they are read.
    chunk_tiles : int
        Tiles per item (the encoder's batch size).
    mpp : float or None
        Level-0 resolution override (µm/px) for slides that do not record it.
    backend : str
        Slide reader backend, as :func:`hccfusion.pathology.slides.open_slide` takes it.
    normalizer : object or None
        A fitted stain normaliser with ``transform(tiles) -> tiles``, applied in the worker.

    Notes
    -----
    A map-style dataset as ``torch.utils.data.DataLoader`` takes it (``__len__`` and
    ``__getitem__``), without subclassing ``torch.utils.data.Dataset`` so that importing this
    module does not import torch.
    """

    def __init__(self, *, slide_path: str | Path, grid: "TileGrid", chunk_tiles: int,
                 mpp: float | None = None, backend: str = "auto",
                 normalizer: Any | None = None) -> None:
        self.slide_path = str(slide_path)
        self.grid = grid
        self.chunk_tiles = int(chunk_tiles)
        self.mpp = mpp
        self.backend = backend
        self.normalizer = normalizer
        self._slide: Any | None = None

    def __len__(self) -> int:
        n = int(len(self.grid.coords))
        return (n + self.chunk_tiles - 1) // self.chunk_tiles

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_slide"] = None  # a handle never travels to another process
        return state

    def _open(self) -> Any:
        if self._slide is None:
            from hccfusion.pathology.slides import open_slide

            self._slide = open_slide(self.slide_path, mpp=self.mpp, backend=self.backend)
        return self._slide

    def __getitem__(self, index: int) -> TileChunk | ChunkFailure:
        from hccfusion.pathology.tiling import read_tiles

        n = int(len(self.grid.coords))
        start = int(index) * self.chunk_tiles
        if not 0 <= start < n:
            raise IndexError(f"chunk {index} is outside 0–{len(self) - 1}")
        indices = np.arange(start, min(start + self.chunk_tiles, n))
        try:
            tiles = read_tiles(self._open(), self.grid, indices)
            if self.normalizer is not None:
                tiles = self.normalizer.transform(tiles)
        except Exception as exc:  # noqa: BLE001 - handed back to the main process as data
            kind = getattr(exc, "kind", None) or "unreadable_tiles"
            return ChunkFailure(error_type=type(exc).__name__, kind=str(kind), message=str(exc))
        return TileChunk(start=start, tiles=np.ascontiguousarray(tiles, dtype=np.uint8))

    def close(self) -> None:
        """Close this process's slide handle, if open."""
        if self._slide is not None:
            self._slide.close()
            self._slide = None


def iterate_chunks(dataset: TileDataset, *, num_workers: int, pin_memory: bool = False,
                   prefetch_factor: int = 4) -> Any:
    """Chunks of ``dataset`` in grid order, read by ``num_workers`` processes (0: this one).

    At most ``num_workers × prefetch_factor`` chunks are in flight, so memory does not grow with
    the slide. Workers live for one slide (``persistent_workers`` would keep them for one
    dataset only, and each slide is its own dataset); starting them costs a fork, and the first
    chunk's read is the only part of the reading not hidden behind encoding.
    ``pin_memory`` (for a CUDA encoder) hands the chunks over in page-locked memory.

    Yields
    ------
    TileChunk or ChunkFailure
    """
    if num_workers == 0:
        try:
            for index in range(len(dataset)):
                yield dataset[index]
        finally:
            dataset.close()
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=None, shuffle=False, num_workers=int(num_workers),
                        collate_fn=_chunk_collate, pin_memory=bool(pin_memory),
                        prefetch_factor=int(prefetch_factor), persistent_workers=False,
                        worker_init_fn=_worker_init)
    yield from loader


def _worker_init(worker_id: int) -> None:
    """Each worker reads with one thread: parallelism comes from the workers themselves."""
    import torch

    torch.set_num_threads(1)
