"""Argument checks of :func:`~hccfusion.io.bundle.write_bundle`.

Owns the validation of what is about to be written into a bundle — the target folder, the
state dict, the JSON payloads and their file-name-safe keys, the cut-off payloads — and
reading the endpoints and modalities (in the net's fixed order) from the model configuration.
Every error names the ``write_bundle`` parameter at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hccfusion.errors import UsageError
from hccfusion.io.bundle_json import _jsonable
from hccfusion.io.bundle_layout import _INSTALL_HINT, META_FILE

if TYPE_CHECKING:
    import torch

#: The fixed modality order of the multimodal net (design: tensor batch contract).
_MODALITY_ORDER = ("clinical", "radiomics", "pathology", "omics")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")


def _check_mapping(value: object, name: str, *, allow_none: bool = False) -> dict[str, Any]:
    if value is None and allow_none:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(f"The '{name}' parameter of write_bundle must be a dict. Got "
                         f"{type(value).__name__} instead.")
    return _jsonable(value, name)


def _check_names(mapping: Mapping[str, Any], name: str) -> None:
    for key in mapping:
        if not _NAME.match(key):
            raise UsageError(f"The '{name}' parameter of write_bundle must have keys of letters, "
                             f"digits and . _ + = - (they become file names). Got {key!r} instead.")


def _check_state_dict(state_dict: object) -> dict[str, "torch.Tensor"]:
    try:
        import torch
    except ImportError as err:  # pragma: no cover - torch is in the models extra
        raise UsageError(f"writing a model bundle needs torch: {_INSTALL_HINT}") from err
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise UsageError("The 'state_dict' parameter of write_bundle must be a non-empty dict of "
                         f"tensors (net.state_dict()). Got {type(state_dict).__name__} instead.")
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise UsageError("The 'state_dict' parameter of write_bundle must map str names to "
                             f"tensors. Got {key!r}: {type(value).__name__} instead.")
        # a copy per tensor: safetensors refuses tied (shared-storage) and non-contiguous tensors
        out[key] = value.detach().to("cpu", copy=True).contiguous()
    return out


def _names_from_config(model_config: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    section = model_config.get(key)
    if isinstance(section, Mapping):
        names = [k for k, v in section.items() if v not in (False, None)]
    elif isinstance(section, (list, tuple)):
        names = [str(v) for v in section]
    else:
        return None
    return tuple(names)


def _ordered_modalities(names: Sequence[str]) -> tuple[str, ...]:
    known = [m for m in _MODALITY_ORDER if m in names]
    return tuple(known + [m for m in names if m not in _MODALITY_ORDER])


def _check_cutoffs(cutoffs: dict[str, Any]) -> dict[str, Any]:
    """Light checks of the cut-off payloads; :func:`hccfusion.evaluation.cutoffs.cutoff_from_dict`
    validates them fully when they are used."""
    summary: dict[str, Any] = {}
    for name, payload in cutoffs.items():
        values = payload.get("cutoffs") if isinstance(payload, dict) else None
        numbers = isinstance(values, list) and bool(values) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if not numbers:
            raise UsageError("The 'cutoffs' parameter of write_bundle must map each endpoint to "
                             "a fitted cut-off's to_dict() (with a list of 'cutoffs'). Got "
                             f"{payload!r} for {name!r} instead.")
        summary[name] = {"kind": payload.get("kind"), "cutoffs": values,
                         "labels": payload.get("labels")}
    return summary


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"the bundle path {out} is a file; expected a new or empty folder.")
    if out.is_dir() and any(out.iterdir()):
        if not (out / META_FILE).is_file():
            raise UsageError(f"{out} is not empty and holds no {META_FILE}, so it is not a model "
                             "bundle; refusing to replace its contents. Choose a new or empty "
                             "folder.")
        if not overwrite:
            raise UsageError(f"{out} already holds a model bundle; choose a new folder or pass "
                             "overwrite=True (--overwrite) to replace it.")
