"""Open whole-slide images and read them as uint8 RGB arrays.

OpenSlide reads Aperio ``.svs``, pyramidal ``.tif(f)`` (its "generic-tiff" layout: tiled pages,
reduced levels as pages with ``NewSubfileType = 1``), Hamamatsu ``.ndpi`` and MIRAX ``.mrxs``;
tiffslide, pure Python, is the fallback for TIFF-family files OpenSlide cannot open.

Coordinates are level-0 pixels ``(x, y)``, x to the right, y down; sizes are ``(width, height)``
as in OpenSlide. Resolution is level-0 µm/px (``mpp``), taken from an explicit override first,
else from the metadata (``openslide.mpp-x``/``-y``, which OpenSlide derives from Aperio's
``MPP`` or the TIFF resolution tags); a slide with neither is refused with a hint to pass
``--mpp``. These checks on opening, and :class:`SlideError`, are in
:mod:`hccfusion.pathology.slide_open`.

Example
-------
>>> with open_slide("cmu_small_region.svs") as slide:  # doctest: +SKIP
...     slide.mpp, slide.dimensions
(0.499, (2220, 2967))
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hccfusion.errors import UsageError, unknown_option
from hccfusion.pathology.slide_open import (  # noqa: F401 - SlideError, kinds and range re-exported
    MPP_RANGE,
    SLIDE_ERROR_KINDS,
    SlideError,
    _check_mpp,
    _check_truncated,
    _metadata_mpp,
    _open_backend,
)

BACKENDS: tuple[str, ...] = ("auto", "openslide", "tiffslide")
LEVEL_TOLERANCE = 0.02
"""A level counts as fine enough for a target resolution if its µm/px is at most 2 % coarser
(scanners write 0.2527 or 0.5025 µm/px for nominal 0.25 and 0.5)."""

_STRIP_PX = 16_000_000  # px of a level read at once when downsampling a whole slide


def open_slide(path: str | Path, *, mpp: float | None = None,
               backend: Literal["auto", "openslide", "tiffslide"] = "auto") -> Slide:
    """Open a whole-slide image.

    Parameters
    ----------
    path : str or pathlib.Path
        The slide (``.svs``, ``.tif``/``.tiff``, ``.ndpi``, ``.mrxs`` …).
    mpp : float, optional
        Level-0 resolution (µm/px) that overrides the metadata; required for a slide that does
        not record it.
    backend : {"auto", "openslide", "tiffslide"}
        ``auto`` tries OpenSlide, then tiffslide.

    Returns
    -------
    Slide
        An open slide (a context manager); close it when done.

    Raises
    ------
    SlideError
        ``missing`` (no such file), ``truncated`` (TIFF data past the end of the file),
        ``unsupported`` (no reader opens it), ``no_mpp`` (no resolution and no override).
    hccfusion.errors.UsageError
        For an unknown backend or an implausible ``mpp``.
    """
    return Slide(path, mpp=mpp, backend=backend)


class Slide:
    """An open whole-slide image; see :func:`open_slide`.

    Attributes
    ----------
    path : pathlib.Path
        The slide file.
    backend : str
        ``openslide`` or ``tiffslide``.
    dimensions : tuple of int
        Level-0 ``(width, height)`` (px).
    level_count : int
        Number of pyramid levels.
    level_dimensions : tuple of (int, int)
        ``(width, height)`` of every level (px).
    level_downsamples : tuple of float
        Level-0 px per px of every level.
    mpp : float
        Level-0 resolution (µm/px).
    mpp_source : str
        ``metadata`` or ``override``.
    vendor : str
        The format the reader recognised (``aperio``, ``generic-tiff``, …).

    Pickling keeps only the path, the override and the backend: a worker process reopens the
    file.
    """

    def __init__(self, path: str | Path, *, mpp: float | None = None,
                 backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise unknown_option("slide backend", str(backend), BACKENDS)
        override = _check_mpp(mpp, "open_slide")
        self.path = Path(path)
        if not self.path.is_file():
            raise SlideError(f"slide file {self.path.name} does not exist under "
                             f"{self.path.parent}.", kind="missing", path=self.path)
        _check_truncated(self.path)
        self._reader, self.backend = _open_backend(self.path, backend)
        self._override = override
        r = self._reader
        self.dimensions: tuple[int, int] = (int(r.dimensions[0]), int(r.dimensions[1]))
        self.level_count: int = int(r.level_count)
        self.level_dimensions: tuple[tuple[int, int], ...] = tuple(
            (int(w), int(h)) for w, h in r.level_dimensions)
        self.level_downsamples: tuple[float, ...] = tuple(float(d) for d in r.level_downsamples)
        props = r.properties
        vendor = props.get(f"{self.backend}.vendor") if hasattr(props, "get") else None
        self.vendor: str = str(vendor) if vendor else "generic-tiff"
        if override is not None:
            self.mpp, self.mpp_source = override, "override"
        else:
            found = _metadata_mpp(props, self.backend)
            if found is None:
                self.close()
                raise SlideError(
                    f"slide {self.path.name} does not record its resolution (no µm/px in its "
                    "metadata or TIFF resolution tags); pass it with --mpp (e.g. --mpp 0.5 for "
                    "a 20× scan, 0.25 for 40×).", kind="no_mpp", path=self.path)
            self.mpp, self.mpp_source = found, "metadata"

    # -- life cycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Release the file handle (idempotent)."""
        reader, self._reader = getattr(self, "_reader", None), None
        if reader is not None:
            reader.close()

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (str(self.path), self._override, self.backend))

    def __repr__(self) -> str:
        return (f"Slide({self.path.name!r}, backend={self.backend!r}, dimensions="
                f"{self.dimensions}, levels={self.level_count}, mpp={self.mpp:g})")

    # -- reading ----------------------------------------------------------------------------
    def level_mpp(self, level: int) -> float:
        """Resolution of ``level`` (µm/px)."""
        return self.mpp * self.level_downsamples[level]

    def best_level_for(self, *, target_mpp: float) -> int:
        """The coarsest level still fine enough for ``target_mpp``.

        A level qualifies when its µm/px is at most ``target_mpp`` (2 % tolerance, see
        :data:`LEVEL_TOLERANCE`); it is read and then downsampled to the target. Level 0 if no
        level is fine enough (the read is then upsampled).
        """
        if not (isinstance(target_mpp, (int, float)) and math.isfinite(target_mpp)
                and target_mpp > 0):
            raise UsageError("The 'target_mpp' parameter of Slide.best_level_for must be a "
                             f"positive resolution in µm/px. Got {target_mpp!r} instead.")
        limit = float(target_mpp) * (1.0 + LEVEL_TOLERANCE)
        best = 0
        for level in range(self.level_count):
            if self.level_mpp(level) <= limit:
                best = level
        return best

    def read_region(self, *, location: tuple[int, int], level: int,
                    size: tuple[int, int]) -> np.ndarray:
        """Read a rectangle of one level.

        Parameters
        ----------
        location : tuple of int
            Top-left ``(x, y)`` in level-0 px.
        level : int
            Pyramid level to read from.
        size : tuple of int
            ``(width, height)`` in px of ``level``.

        Returns
        -------
        numpy.ndarray
            uint8 RGB, shape ``(height, width, 3)``; transparent pixels (outside the scanned
            area) are white.

        Raises
        ------
        SlideError
            ``unreadable_level`` when the level's image data cannot be decoded.
        """
        if self._reader is None:
            raise UsageError(f"slide {self.path.name} is closed; open it again with open_slide.")
        if not 0 <= int(level) < self.level_count:
            raise UsageError(f"The 'level' parameter of Slide.read_region must be between 0 and "
                             f"{self.level_count - 1}. Got {level!r} instead.")
        w, h = int(size[0]), int(size[1])
        if w <= 0 or h <= 0:
            raise UsageError("The 'size' parameter of Slide.read_region must be a positive "
                             f"(width, height). Got {size!r} instead.")
        x, y = int(location[0]), int(location[1])
        try:
            if self.backend == "tiffslide":
                arr = np.asarray(self._reader.read_region((x, y), int(level), (w, h),
                                                          as_array=True))
            else:
                arr = np.asarray(self._reader.read_region((x, y), int(level), (w, h)))
        except Exception as exc:  # noqa: BLE001 - decoder errors differ per reader
            self._recover()
            raise SlideError(f"slide {self.path.name}: level {level} cannot be read at "
                             f"({x}, {y}) ({type(exc).__name__}: {exc}); its image data are "
                             "damaged. Rescan or re-export the slide.",
                             kind="unreadable_level", path=self.path) from exc
        rgb = _to_rgb(arr)
        self._whiten_outside(rgb, x=x, y=y, level=int(level))
        return rgb

    def _whiten_outside(self, rgb: np.ndarray, *, x: int, y: int, level: int) -> None:
        """Paint px beyond the level's extent white (tiffslide pads with black)."""
        ds = self.level_downsamples[level]
        lw, lh = self.level_dimensions[level]
        lx, ly = math.floor(x / ds), math.floor(y / ds)
        h, w = rgb.shape[:2]
        if lx >= 0 and ly >= 0 and lx + w <= lw and ly + h <= lh:
            return
        rgb[: max(0, min(h, -ly))] = 255
        rgb[max(0, min(h, lh - ly)):] = 255
        rgb[:, : max(0, min(w, -lx))] = 255
        rgb[:, max(0, min(w, lw - lx)):] = 255

    def _recover(self) -> None:
        """OpenSlide errors are sticky: reopen so other levels stay readable."""
        try:
            self.close()
            self._reader, _ = _open_backend(self.path, self.backend)
        except SlideError:
            self._reader = None

    def read_downsampled(self, *, downsample: float) -> np.ndarray:
        """The whole slide at ``downsample`` level-0 px per output px.

        Reads the coarsest level at least as fine, strip by strip (bounded memory), and
        resamples with an antialiasing filter.

        Returns
        -------
        numpy.ndarray
            uint8 RGB, shape ``(ceil(h0 / downsample), ceil(w0 / downsample), 3)``.
        """
        from hccfusion.pathology.tiling import block_mean, resize_rgb

        if not (math.isfinite(downsample) and downsample >= 1.0):
            raise UsageError("The 'downsample' parameter of Slide.read_downsampled must be at "
                             f"least 1. Got {downsample!r} instead.")
        w0, h0 = self.dimensions
        out_w, out_h = max(1, math.ceil(w0 / downsample)), max(1, math.ceil(h0 / downsample))
        level = self.best_level_for(target_mpp=self.mpp * downsample)
        lw, lh = self.level_dimensions[level]
        factor = downsample / self.level_downsamples[level]  # level px per output px
        k = max(1, int(factor))  # integer block mean first, then one exact resample
        strip = max(k, min(lh, _STRIP_PX // lw) // k * k)  # rows, bounded memory
        parts = []
        for y in range(0, lh, strip):
            rows = min(strip, lh - y)
            y0 = round(y * self.level_downsamples[level])
            part = self.read_region(location=(0, y0), level=level, size=(lw, rows))
            parts.append(block_mean(part, k))
        return resize_rgb(np.concatenate(parts, axis=0), width=out_w, height=out_h)

    def thumbnail(self, *, max_px: int = 1024) -> np.ndarray:
        """The whole slide with its longer side ``max_px`` (never upsampled).

        Returns
        -------
        numpy.ndarray
            uint8 RGB, shape ``(h, w, 3)`` with ``max(h, w) == min(max_px, max(w0, h0))``.
        """
        if not isinstance(max_px, int) or isinstance(max_px, bool) or max_px < 1:
            raise UsageError("The 'max_px' parameter of Slide.thumbnail must be a positive "
                             f"integer. Got {max_px!r} instead.")
        from hccfusion.pathology.tiling import resize_rgb

        w0, h0 = self.dimensions
        longest = max(w0, h0)
        side = min(max_px, longest)
        img = self.read_downsampled(downsample=longest / side)
        scale = side / longest
        return resize_rgb(img, width=max(1, round(w0 * scale)), height=max(1, round(h0 * scale)))


def _reopen(path: str, override: float | None, backend: str) -> Slide:
    return Slide(path, mpp=override, backend=backend)


def _to_rgb(arr: np.ndarray) -> np.ndarray:
    """uint8 RGB from a reader's RGB or (non-premultiplied) RGBA, transparent → white."""
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.shape[2] == 4:
        alpha = arr[..., 3]
        if alpha.min() == 255:
            return np.ascontiguousarray(arr[..., :3])
        rgb = arr[..., :3].astype(np.uint16)
        a = alpha[..., None].astype(np.uint16)
        out = (rgb * a + 255 * (255 - a) + 127) // 255
        return out.astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3], dtype=np.uint8)
