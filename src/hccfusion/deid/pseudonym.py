"""Keyed pseudonyms and per-patient date offsets for de-identified data sharing.

A pseudonym is HMAC-SHA256(key, namespace ‖ value) (RFC 2104; the keyed-hash pseudonymisation
of ISO/TS 25237 and the HIPAA Safe Harbor re-identification-code rule: derived with a secret,
not reversible without it). The key is 32 random bytes held by the study in a file with mode
0600; without it nobody, the study included, can recompute a pseudonym, and with it the same
study code always maps to the same pseudonym, so later exports (and DICOM / slide
de-identification) link up. Each patient's dates are shifted by one non-zero number of days in
[-365, 365] derived from the same key, so intervals within a patient are preserved exactly.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from hccfusion.errors import UsageError

KEY_BYTES = 32
MAX_OFFSET_DAYS = 365
#: Prefix of the pseudonym of each ID column.
PREFIXES: dict[str, str] = {"patient_id": "P", "exam_id": "E", "sample_id": "S",
                            "slide_id": "W", "lesion_id": "L"}


@dataclass(frozen=True)
class DeidKey:
    """The secret key; its ``repr`` shows only a fingerprint, never the bytes."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != KEY_BYTES:
            got = len(self.secret) if isinstance(self.secret, bytes) else type(self.secret).__name__
            raise UsageError(f"a de-identification key is {KEY_BYTES} bytes; got {got}. Create "
                             "one with `hccfusion deid keygen KEYFILE`.")

    @property
    def fingerprint(self) -> str:
        """16 hex characters that name the key (safe to publish: a keyed hash of a constant)."""
        return hmac.new(self.secret, b"hccfusion-key-fingerprint", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"DeidKey(fingerprint={self.fingerprint})"


def generate_key(path: Path | str) -> Path:
    """Write a new random key (32 bytes from :mod:`secrets`) to ``path`` with mode 0600.

    Refuses to overwrite an existing file: losing the old key means losing the link between
    old and new exports.
    """
    path = Path(path)
    if path.exists():
        raise UsageError(f"key file {path} already exists; refusing to overwrite it (an "
                         "overwritten key cannot link later exports). Choose a new path.")
    if not path.parent.exists():
        raise UsageError(f"folder {path.parent} does not exist; create it first.")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
    finally:
        os.close(fd)
    os.chmod(path, 0o600)  # the umask may have removed bits but never adds them; be explicit
    return path


def load_key(path: Path | str) -> DeidKey:
    """Read a key written by :func:`generate_key`.

    Raises
    ------
    UsageError
        The file is missing, is not exactly 32 bytes, or is readable by group or others.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"key file {path} not found; create one with "
                         "`hccfusion deid keygen KEYFILE` and keep it safe.")
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        raise UsageError(f"key file {path} is readable by other users (mode {mode:o}); "
                         f"expected 600. Fix it with `chmod 600 {path}`.")
    data = path.read_bytes()
    if len(data) != KEY_BYTES:
        raise UsageError(f"key file {path} holds {len(data)} bytes; expected {KEY_BYTES}. Is it "
                         "the file written by `hccfusion deid keygen`?")
    return DeidKey(data)


def _mac(key: DeidKey, message: str) -> bytes:
    if not isinstance(key, DeidKey):
        raise UsageError(f"expected a DeidKey (from load_key); got {type(key).__name__}.")
    return hmac.new(key.secret, message.encode("utf-8"), hashlib.sha256).digest()


def pseudonym(key: DeidKey, value: str, *, namespace: str, length: int = 16) -> str:
    """Keyed pseudonym of ``value`` within ``namespace`` (e.g. ``patient_id``).

    Parameters
    ----------
    key
        The study's secret key.
    value
        The original identifier (e.g. a study code ``WX-0001``).
    namespace
        What kind of ID it is; the same value in two namespaces gets unrelated pseudonyms.
    length
        Hex characters kept (16 = 64 bits: collisions are negligible below ~10⁸ values).

    Returns
    -------
    str
        ``<prefix>-<hex>``, e.g. ``P-3fa2…``; the prefix is from :data:`PREFIXES` or the first
        letter of the namespace.
    """
    if not 8 <= length <= 64:
        raise UsageError(f"pseudonym length must be 8–64 hex characters; got {length}.")
    digest = _mac(key, f"pseudonym\x1f{namespace}\x1f{value}").hex()[:length]
    prefix = PREFIXES.get(namespace, namespace[:1].upper() or "X")
    return f"{prefix}-{digest}"


def date_offset_days(key: DeidKey, patient_id: str) -> int:
    """The patient's date shift: a non-zero integer in [-365, 365], fixed by key and
    ``patient_id`` (so tables, DICOM and slide metadata of one patient shift alike)."""
    n = int.from_bytes(_mac(key, f"date-offset\x1f{patient_id}")[:8], "big") % (2 * MAX_OFFSET_DAYS)
    return n - MAX_OFFSET_DAYS if n < MAX_OFFSET_DAYS else n - MAX_OFFSET_DAYS + 1
