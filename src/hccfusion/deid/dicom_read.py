"""Reading one DICOM file for de-identification (:mod:`hccfusion.deid.dicom`), and the checks
that refuse a damaged one: a file that is not DICOM, cannot be parsed, or is truncated (ends
inside an element, lacks its SOP UIDs, or holds less Pixel Data than its header promises) raises
``_Skip`` with the reason, which the caller reports instead of writing the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset


class _Skip(Exception):
    """A file that is reported and not written."""


def _read(path: Path, *, stop_before_pixels: bool) -> Dataset:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings(record=True) as caught:  # pydicom warns on every oddity
            warnings.simplefilter("always")
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
            except InvalidDicomError:
                # files written without the 128-byte preamble and file meta (older RT systems)
                ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
                if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
                    raise _Skip("not a DICOM file") from None
    except _Skip:
        raise
    except Exception as exc:  # pydicom raises many types on damaged input
        raise _Skip(f"unreadable DICOM ({type(exc).__name__})") from None
    if any("End of file reached" in str(w.message) for w in caught):
        raise _Skip("truncated DICOM: the file ends inside an element")
    if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
        raise _Skip("truncated DICOM: no SOP Class or SOP Instance UID could be read")
    return ds


def _check_complete(ds: Dataset) -> None:
    """Refuse a truncated file (pydicom reads a short last value without complaint)."""
    from pydicom.dataelem import RawDataElement

    for tag in ds.keys():
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes) \
                and raw.length != 0xFFFFFFFF and len(raw.value) < raw.length:
            raise _Skip(f"truncated DICOM: element {tag} is cut short")
    if "Rows" in ds and "PixelData" not in ds and "FloatPixelData" not in ds \
            and "DoubleFloatPixelData" not in ds:
        raise _Skip("truncated DICOM: image attributes but no Pixel Data")
    if "PixelData" in ds and not ds.file_meta.get("TransferSyntaxUID", _native()).is_compressed:
        bits = int(ds.get("BitsAllocated", 8))
        n = int(ds.get("Rows", 0)) * int(ds.get("Columns", 0)) * int(
            ds.get("SamplesPerPixel", 1)) * int(ds.get("NumberOfFrames", 1) or 1)
        if len(ds.PixelData) < (n * bits + 7) // 8:
            raise _Skip("truncated DICOM: Pixel Data is shorter than Rows × Columns × frames")


def _native() -> object:
    from pydicom.uid import ExplicitVRLittleEndian

    return ExplicitVRLittleEndian
