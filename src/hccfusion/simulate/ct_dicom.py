"""Fast writer of one DICOM series: one file per axial slice.

A series' files differ only in a few attributes (SOP Instance UID, Instance Number, Image Position
(Patient), Slice Location and Pixel Data). The constant attributes are encoded once by pydicom's
own encoder, in the runs between the per-slice attributes; each file is then the concatenation of
those runs with the per-slice elements, which are simple enough (UI, IS, DS, UL, OW in Explicit VR
Little Endian) to encode directly. The bytes equal what
``pydicom.dcmwrite`` writes for the complete dataset (tested), at a fraction of the cost, which
matters when a demo cohort writes tens of thousands of slices. (Deflated files use zlib level 4
where pydicom uses the default 6: the inflated data sets are identical.)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_PER_SLICE_TAGS = (0x00080018, 0x00200013, 0x00200032, 0x00201041, 0x7FE00010)
_META_INSTANCE_TAG = 0x00020003
# Level 4 compresses CT slices almost as well as the default 6 at half the time.
_DEFLATE_LEVEL = 4


def format_ds(value: float) -> str:
    """A decimal string (DICOM VR DS, at most 16 characters) for ``value``."""
    for digits in range(10, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"cannot write {value!r} as a DICOM decimal string")


def _encode(elements: list) -> bytes:
    from pydicom.dataset import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    dataset = Dataset()
    for element in elements:
        dataset.add(element)
    write_dataset(fp, dataset)
    return fp.getvalue()


def _element(tag: int, vr: str, value: bytes) -> bytes:
    """One Explicit VR Little Endian element (PS3.5 7.1.2), value padded to even length."""
    if len(value) % 2:
        value += b"\x00" if vr == "UI" else b" "
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    if vr in ("OB", "OW"):
        return head + struct.pack("<HI", 0, len(value)) + value
    return head + struct.pack("<H", len(value)) + value


@dataclass(frozen=True)
class SliceValues:
    """The attributes that change from slice to slice.

    Attributes
    ----------
    sop_instance_uid : str
    instance_number : int
        1-based.
    position_mm : tuple of float
        ImagePositionPatient (LPS, mm) of the first voxel of the slice.
    pixels : numpy.ndarray
        Stored values, uint16, shape ``(rows, columns)``.
    """

    sop_instance_uid: str
    instance_number: int
    position_mm: tuple[float, float, float]
    pixels: np.ndarray


class SeriesEncoder:
    """Encodes the files of one series from a template dataset.

    Parameters
    ----------
    template : pydicom.dataset.Dataset
        Every constant attribute of the series (none of the per-slice ones), with ``file_meta``
        holding TransferSyntaxUID (Explicit VR Little Endian or its Deflated form),
        MediaStorageSOPClassUID, ImplementationClassUID and ImplementationVersionName.
    """

    def __init__(self, *, template: object) -> None:
        from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

        meta = template.file_meta  # type: ignore[attr-defined]
        syntax = meta.TransferSyntaxUID
        if syntax not in (ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian):
            raise ValueError(f"unsupported transfer syntax {syntax}; use (Deflated) Explicit VR Little Endian")
        self._deflate = syntax == DeflatedExplicitVRLittleEndian
        meta_elements = [e for e in meta if e.tag not in (0x00020000, _META_INSTANCE_TAG)]
        self._meta_before = _encode([e for e in meta_elements if e.tag < _META_INSTANCE_TAG])
        self._meta_after = _encode([e for e in meta_elements if e.tag > _META_INSTANCE_TAG])
        elements = [e for e in template if e.tag not in _PER_SLICE_TAGS]  # type: ignore[attr-defined]
        bounds = (0, *_PER_SLICE_TAGS, 0xFFFFFFFF)
        self._runs = [
            _encode([e for e in elements if low <= e.tag < high]) for low, high in zip(bounds[:-1], bounds[1:])
        ]

    def encode(self, values: SliceValues) -> bytes:
        """The complete file (preamble, file meta, data set) of one slice."""
        uid = values.sop_instance_uid.encode("ascii")
        meta_body = self._meta_before + _element(_META_INSTANCE_TAG, "UI", uid) + self._meta_after
        group_length = _element(0x00020000, "UL", struct.pack("<I", len(meta_body)))
        pixels = np.ascontiguousarray(values.pixels, dtype="<u2")
        position = "\\".join(format_ds(v) for v in values.position_mm)
        per_slice = [
            _element(0x00080018, "UI", uid),
            _element(0x00200013, "IS", str(values.instance_number).encode("ascii")),
            _element(0x00200032, "DS", position.encode("ascii")),
            _element(0x00201041, "DS", format_ds(values.position_mm[2]).encode("ascii")),
            _element(0x7FE00010, "OW", pixels.tobytes()),
        ]
        parts = [self._runs[0]]
        for element, run in zip(per_slice, self._runs[1:]):
            parts.append(element)
            parts.append(run)
        body = b"".join(parts)
        if self._deflate:
            compressor = zlib.compressobj(_DEFLATE_LEVEL, wbits=-zlib.MAX_WBITS)
            body = compressor.compress(body) + compressor.flush()
            if len(body) % 2:
                body += b"\x00"
        return b"\x00" * 128 + b"DICM" + group_length + meta_body + body


def write_series(*, folder: Path, template: object, slices: list[SliceValues]) -> list[Path]:
    """Write one file per slice (``IM0001.dcm``, …) into ``folder`` and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    encoder = SeriesEncoder(template=template)
    paths = []
    for values in slices:
        path = folder / f"IM{values.instance_number:04d}.dcm"
        path.write_bytes(encoder.encode(values))
        paths.append(path)
    return paths
