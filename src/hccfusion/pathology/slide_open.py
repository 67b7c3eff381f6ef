"""Opening a whole-slide file and refusing one that cannot be used: :class:`SlideError` (with its
``kind``), the check for a truncated TIFF-family file, the choice of reader (OpenSlide, then
tiffslide), and the level-0 resolution from an override or the reader's metadata.

:mod:`hccfusion.pathology.slides` builds its ``Slide`` on these (and re-exports ``SlideError``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from hccfusion.errors import DataError, UsageError

SLIDE_ERROR_KINDS: tuple[str, ...] = ("truncated", "no_mpp", "unreadable_level", "unsupported",
                                      "missing")
MPP_RANGE: tuple[float, float] = (0.05, 50.0)
"""Plausible level-0 resolutions (µm/px); metadata outside it (e.g. a 72-dpi default) is
treated as absent."""

_TIFF_SUFFIXES = (".svs", ".tif", ".tiff", ".ndpi", ".scn", ".bif", ".svslide")


class SlideError(DataError):
    """A slide that cannot be used.

    Attributes
    ----------
    kind : str
        One of ``truncated``, ``no_mpp``, ``unreadable_level``, ``unsupported``, ``missing``.
    path : pathlib.Path
        The slide file.
    """

    def __init__(self, message: str, *, kind: str, path: str | Path) -> None:
        if kind not in SLIDE_ERROR_KINDS:
            raise ValueError(f"unknown slide error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.path = Path(path)

    def __reduce__(self) -> tuple[Any, ...]:  # keeps kind and path across worker processes
        return (_slide_error, (str(self), self.kind, str(self.path)))


def _slide_error(message: str, kind: str, path: str) -> SlideError:
    return SlideError(message, kind=kind, path=path)


def _check_mpp(mpp: Any, where: str) -> float | None:
    if mpp is None:
        return None
    ok = isinstance(mpp, (int, float)) and not isinstance(mpp, bool) and math.isfinite(mpp)
    if not ok or not MPP_RANGE[0] <= float(mpp) <= MPP_RANGE[1]:
        raise UsageError(f"The 'mpp' parameter of {where} must be a level-0 resolution in µm/px "
                         f"between {MPP_RANGE[0]:g} and {MPP_RANGE[1]:g}. Got {mpp!r} instead.")
    return float(mpp)


def _check_truncated(path: Path) -> None:
    """Refuse a TIFF-family file whose directories or tile data run past its end."""
    if path.suffix.lower() not in _TIFF_SUFFIXES:
        return
    import tifffile

    size = path.stat().st_size
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic[:2] not in (b"II", b"MM"):
        return  # not a TIFF at all: the readers say "unsupported"
    log = logging.getLogger("tifffile")
    level, log.level = log.level, logging.ERROR  # its warnings repeat what we raise
    try:
        with tifffile.TiffFile(path) as tif:
            if len(tif.pages) == 0:
                raise ValueError("the first image directory lies beyond the end of the file")
            end = 0
            for page in tif.pages:
                offsets, counts = page.dataoffsets, page.databytecounts
                if len(offsets):
                    end = max(end, int(np.max(np.asarray(offsets, np.int64)
                                              + np.asarray(counts, np.int64))))
    except Exception as exc:  # noqa: BLE001 - any parse failure of a TIFF header is damage
        raise SlideError(f"slide {path.name} is damaged: its TIFF directories cannot be read "
                         f"({type(exc).__name__}: {exc}); the file is probably truncated (an "
                         f"incomplete copy). Copy it again from the scanner archive.",
                         kind="truncated", path=path) from exc
    finally:
        log.setLevel(level)
    if end > size:
        raise SlideError(f"slide {path.name} is truncated: its image data end at byte {end:,} "
                         f"but the file has {size:,} bytes. Copy it again from the scanner "
                         "archive.", kind="truncated", path=path)


def _open_backend(path: Path, backend: str) -> tuple[Any, str]:
    """The reader object and the name of the backend that opened ``path``."""
    errors: list[str] = []
    order = ("openslide", "tiffslide") if backend == "auto" else (backend,)
    for name in order:
        reader = None
        try:
            if name == "openslide":
                import openslide

                reader = openslide.OpenSlide(str(path))
            else:
                import tiffslide

                reader = tiffslide.TiffSlide(str(path))
            # tiffslide parses lazily: touch what Slide reads so a bad file fails here
            _ = (reader.dimensions, reader.level_count, reader.level_dimensions,
                 reader.level_downsamples, dict(reader.properties))
            return reader, name
        except ImportError as exc:
            errors.append(f"{name} is not installed ({exc}); pip install hccfusion[pathology]")
        except Exception as exc:  # noqa: BLE001 - each reader has its own error types
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            if reader is not None:
                reader.close()
    raise SlideError(f"slide {path.name} cannot be opened as a whole-slide image ("
                     + "; ".join(errors) + "). Supported: .svs, pyramidal .tif/.tiff, .ndpi, "
                     ".mrxs.", kind="unsupported", path=path)


def _metadata_mpp(properties: Any, backend: str) -> float | None:
    """Mean of the reader's mpp-x/mpp-y (Aperio ``MPP`` as a last resort), if plausible."""

    def number(key: str) -> float | None:
        try:
            v = float(properties.get(key))
        except (TypeError, ValueError):
            return None
        return v if math.isfinite(v) and MPP_RANGE[0] <= v <= MPP_RANGE[1] else None

    xy = [v for v in (number(f"{backend}.mpp-x"), number(f"{backend}.mpp-y")) if v is not None]
    if xy:
        return float(np.mean(xy))
    return number("aperio.MPP")
