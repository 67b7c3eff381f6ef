"""Read a local checkpoint file into a plain ``state_dict``, with its SHA-256 checked.

Pretrained weights (MedicalNet, pathology foundation models, a user's own checkpoint) are
always read from a local path named in the config; nothing is downloaded. The hash of the
file is recorded in every artifact built with it, so :func:`sha256_file` is the one place
that hash is computed.

Pickled checkpoints are read with ``torch.load(weights_only=True)``: a file that needs
arbitrary code to unpickle is refused rather than executed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import torch

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "DEFAULT_STRIP_PREFIXES",
    "load_state_dict",
    "sha256_file",
    "strip_prefixes",
]

#: File suffixes :func:`load_state_dict` reads.
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")

#: Wrapper prefixes removed when *every* key carries them: ``module.`` (DataParallel /
#: DistributedDataParallel), ``model.`` (Lightning-style wrappers), ``_orig_mod.``
#: (``torch.compile``).
DEFAULT_STRIP_PREFIXES = ("module.", "model.", "_orig_mod.")

# Keys under which training scripts commonly nest the weights inside a checkpoint dict.
_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK_BYTES = 1 << 20


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file, as 64 lower-case hex characters.

    Parameters
    ----------
    path
        The file to hash; read in 1 MiB chunks, so large checkpoints cost no memory.

    Returns
    -------
    str
        The hex digest.

    Raises
    ------
    UsageError
        If ``path`` is not an existing file.
    """
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"The 'path' parameter of sha256_file must be an existing file. Got {str(file)!r} instead.")
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_expected(expected_sha256: str | None) -> str | None:
    if expected_sha256 is None:
        return None
    if not isinstance(expected_sha256, str) or not _SHA256.match(expected_sha256.strip().lower()):
        raise UsageError(
            "The 'expected_sha256' parameter of load_state_dict must be 64 hex characters or None. "
            f"Got {expected_sha256!r} instead."
        )
    return expected_sha256.strip().lower()


def strip_prefixes(
    state: Mapping[str, torch.Tensor], *, prefixes: tuple[str, ...] = DEFAULT_STRIP_PREFIXES
) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes that every key shares, repeatedly (``module.model.x`` → ``x``).

    A prefix is only removed when all keys start with it, so a model whose own first
    attribute happens to be called ``model`` keeps its names when other keys differ.

    Parameters
    ----------
    state
        A ``state_dict``.
    prefixes
        The prefixes to try; ``()`` leaves the keys untouched.

    Returns
    -------
    dict
        A new dict with the shortened keys (values are the same tensors).
    """
    out = dict(state)
    changed = True
    while changed and out:
        changed = False
        for prefix in prefixes:
            if all(key.startswith(prefix) for key in out):
                out = {key[len(prefix):]: value for key, value in out.items()}
                changed = True
    return out


def _unwrap(obj: object, file: Path) -> dict[str, torch.Tensor]:
    """Find the tensor mapping inside whatever a training script saved."""
    import torch

    if isinstance(obj, torch.nn.Module):  # pragma: no cover - weights_only refuses modules
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise DataError(
            f"checkpoint {file.name}: expected a dict of tensors (a state_dict), found {type(obj).__name__}"
        )
    for key in _NESTED_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            obj = inner
            break
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise DataError(
            f"checkpoint {file.name}: holds no tensors (top-level keys: {', '.join(map(str, list(obj)[:8]))})"
        )
    return tensors


def load_state_dict(
    path: str | Path,
    *,
    expected_sha256: str | None = None,
    map_location: str = "cpu",
    prefixes: tuple[str, ...] = DEFAULT_STRIP_PREFIXES,
) -> dict[str, torch.Tensor]:
    """Read a local checkpoint file into a ``state_dict`` of tensors.

    Parameters
    ----------
    path
        A ``.pt``/``.pth``/``.bin``/``.ckpt`` file written by ``torch.save`` (a bare state_dict
        or a dict that nests one under ``state_dict``, ``model_state_dict``, ``model``, ``net``
        …), or a ``.safetensors`` file (needs the ``safetensors`` package).
    expected_sha256
        The SHA-256 the file must have (64 hex characters); checked before the file is
        unpickled. None skips the check — record :func:`sha256_file` of the file instead.
    map_location
        Where the tensors are placed, as for ``torch.load``.
    prefixes
        Wrapper prefixes removed when every key carries them (see :func:`strip_prefixes`).

    Returns
    -------
    dict[str, torch.Tensor]
        Parameter and buffer names → tensors; non-tensor entries (epoch, optimiser
        settings) are dropped.

    Raises
    ------
    UsageError
        If ``path`` does not exist, has an unknown suffix, ``expected_sha256`` is malformed, or
        a ``.safetensors`` file is given without the safetensors package.
    DataError
        If the file's hash differs from ``expected_sha256``, or the file cannot be read as a
        checkpoint (corrupt, not a state_dict, needs unsafe unpickling, holds no tensors).
    """
    file = Path(path)
    expected = _check_expected(expected_sha256)
    if not file.is_file():
        raise UsageError(
            f"The 'path' parameter of load_state_dict must be an existing checkpoint file. Got {str(file)!r} instead."
        )
    suffix = file.suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES:
        raise UsageError(
            f"The 'path' parameter of load_state_dict must end in one of {', '.join(CHECKPOINT_SUFFIXES)}. "
            f"Got {file.name!r} instead."
        )
    if expected is not None:
        actual = sha256_file(file)
        if actual != expected:
            raise DataError(
                f"checkpoint {file.name}: sha256 {actual} differs from the expected {expected}; "
                "the file is not the one the config names (re-download it or update the checksum)"
            )

    import torch

    if suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as err:
            raise UsageError(
                f"reading {file.name} needs the 'safetensors' package: pip install safetensors"
            ) from err
        try:
            state = load_file(str(file), device=map_location)
        except Exception as err:  # safetensors raises its own SafetensorError for corrupt files
            raise DataError(f"checkpoint {file.name}: not a readable safetensors file ({err})") from err
        return strip_prefixes(state, prefixes=prefixes)

    try:
        obj = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            reason = (
                "it needs unsafe unpickling (it stores Python objects besides tensors); "
                "re-save only its state_dict with torch.save(model.state_dict(), path)"
            )
        raise DataError(f"checkpoint {file.name}: cannot be read with torch.load ({reason})") from err
    return strip_prefixes(_unwrap(obj, file), prefixes=prefixes)
