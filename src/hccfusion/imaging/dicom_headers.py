"""DICOM headers, one file at a time: reading a header without its pixel data (and checking that
an uncompressed file holds all the pixel data its header promises), the frames of a file (one for
a classic image, many for an enhanced multi-frame object) with their geometry, and attribute
look-up through the per-frame and shared functional groups.

Used by :mod:`hccfusion.imaging.dicom_series` (grouping files into series) and by the mask and
volume readers.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_LONG_VRS = (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"SQ", b"UT", b"UC", b"UR")


@dataclass
class _Frame:
    path: Path
    frame: int
    orientation: tuple[float, ...]
    position: tuple[float, float, float]
    pixel_spacing: tuple[float, float]
    thickness: float | None
    sop_uid: str
    acquisition: str


def _floats(value: object, n: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == n and all(np.isfinite(numbers)) else None


def functional_value(ds: object, frame: int, sequence: str, keyword: str) -> object:
    """An attribute from the per-frame functional group of ``frame``, else the shared group, else
    the top level of ``ds`` (enhanced multi-frame objects, PS3.3 C.7.6.16); None when absent."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = getattr(ds, groups, None)
        if items is not None and len(items) > index:
            inner = getattr(items[index], sequence, None)
            if inner is not None and len(inner) and keyword in inner[0]:
                return inner[0].get(keyword)
    return ds.get(keyword) if hasattr(ds, "get") else None  # type: ignore[attr-defined]


def _frames(ds: object, path: Path) -> list[_Frame]:
    n = int(ds.get("NumberOfFrames", 1) or 1)  # type: ignore[attr-defined]
    frames = []
    for k in range(n):
        orientation = _floats(functional_value(ds, k, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
        position = _floats(functional_value(ds, k, "PlanePositionSequence", "ImagePositionPatient"), 3)
        spacing = _floats(functional_value(ds, k, "PixelMeasuresSequence", "PixelSpacing"), 2)
        if orientation is None or position is None or spacing is None:
            missing = [name for name, v in (("ImageOrientationPatient", orientation), ("ImagePositionPatient", position),
                                            ("PixelSpacing", spacing)) if v is None]
            raise ValueError(f"frame {k + 1} lacks {', '.join(missing)}: not a cross-sectional image")
        if np.linalg.norm(np.cross(orientation[:3], orientation[3:])) < 0.5:
            raise ValueError(f"frame {k + 1} has a degenerate ImageOrientationPatient {orientation}")
        thickness = functional_value(ds, k, "PixelMeasuresSequence", "SliceThickness")
        frames.append(
            _Frame(
                path=path,
                frame=k,
                orientation=orientation,
                position=position,  # type: ignore[arg-type]
                pixel_spacing=spacing,  # type: ignore[arg-type]
                thickness=float(thickness) if thickness not in (None, "") else None,
                sop_uid=str(ds.get("SOPInstanceUID", "")),  # type: ignore[attr-defined]
                acquisition=str(ds.get("AcquisitionNumber", "") or ""),  # type: ignore[attr-defined]
            )
        )
    return frames


def _pixel_data_problem(ds: object, fp: object, offset: int) -> str | None:
    """Why the pixel data of an uncompressed file cannot be complete, or None (``fp``: the open
    file, ``offset``: where its pixel data element starts)."""
    meta = getattr(ds, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if syntax is None or syntax.is_deflated:
        return None  # a truncated deflated file already failed to inflate
    fp.seek(offset)  # type: ignore[attr-defined]
    head = fp.read(12)  # type: ignore[attr-defined]
    if len(head) < 8:
        return "no pixel data (file ends after the header: truncated?)"
    endian = "<" if syntax.is_little_endian else ">"
    group, element = struct.unpack(endian + "HH", head[:4])
    if (group << 16 | element) not in _PIXEL_TAGS:
        return "no pixel data"
    if syntax.is_implicit_VR:
        (length,), header = struct.unpack(endian + "I", head[4:8]), 8
    elif head[4:6] in _LONG_VRS:
        (length,), header = struct.unpack(endian + "I", head[8:12]), 12
    else:
        (length,), header = struct.unpack(endian + "H", head[6:8]), 8
    if length == 0xFFFFFFFF:
        return None  # encapsulated (compressed) frames: checked when decoded
    size = os.fstat(fp.fileno()).st_size  # type: ignore[attr-defined]
    if offset + header + length > size:
        return f"truncated file: pixel data needs {length} bytes, only {size - offset - header} present"
    bits = int(ds.Rows) * int(ds.Columns) * int(ds.get("NumberOfFrames", 1) or 1)  # type: ignore[attr-defined]
    bits *= int(ds.get("SamplesPerPixel", 1) or 1) * int(ds.get("BitsAllocated", 16) or 16)  # type: ignore[attr-defined]
    if length < (bits + 7) // 8:
        return f"pixel data holds {length} bytes, the header promises {(bits + 7) // 8}"
    return None


def read_header(path: Path) -> tuple[object | None, str | None]:
    """The header of one file (no pixel data) and, if unusable as DICOM, the reason.

    Files without the ``DICM`` preamble are read with ``force=True`` and accepted only when they
    carry a SOPClassUID (old RTSTRUCT exports lack the preamble).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with open(path, "rb") as fp:
            try:
                ds = pydicom.dcmread(fp, stop_before_pixels=True)
            except InvalidDicomError:
                fp.seek(0)
                try:
                    ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
                except Exception:  # noqa: BLE001 - anything a forced read raises means "not DICOM"
                    return None, "not a DICOM file"
                if "SOPClassUID" not in ds:
                    return None, "not a DICOM file"
            problem = None
            if "Rows" in ds and "PixelData" not in ds:
                try:
                    problem = _pixel_data_problem(ds, fp, fp.tell())
                except (struct.error, OSError, ValueError) as exc:
                    problem = f"unreadable pixel data element ({exc})"
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for broken files
        return None, f"unreadable DICOM header ({type(exc).__name__}: {exc})"
    return ds, problem
