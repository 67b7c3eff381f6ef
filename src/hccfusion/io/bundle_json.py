"""JSON for model bundles: conversion of configurations and payloads to plain JSON values,
and the configuration hash.

Owns how anything written into a bundle becomes JSON (mappings, sequences, numpy / torch
values, pydantic configs, fitted estimators' ``to_dict()``), the canonical form behind
:func:`config_hash`, the indented form bundle files are written in, and NaN → null for
metrics. Re-exported from :mod:`hccfusion.io.bundle`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hccfusion.errors import UsageError

__all__ = ["config_hash"]


def _jsonable(obj: Any, where: str) -> Any:
    """``obj`` as plain JSON types: mappings → dict (str keys), sequences → list, numpy / torch
    scalars and arrays → Python numbers and lists, ``to_dict()`` / pydantic objects → dict."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise UsageError(f"{where} must have string keys (it is written as JSON). Got "
                                 f"key {key!r} ({type(key).__name__}) instead.")
            out[key] = _jsonable(value, f"{where}[{key!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if hasattr(obj, "dtype") and hasattr(obj, "tolist"):   # numpy / torch scalars and arrays
        return _jsonable(obj.tolist(), where)
    if hasattr(obj, "model_dump"):                          # pydantic v2 configs
        return _jsonable(obj.model_dump(mode="json"), where)
    if hasattr(obj, "to_dict") and callable(obj.to_dict):    # fitted estimators
        return _jsonable(obj.to_dict(), where)
    if isinstance(obj, Path):
        return str(obj)
    raise UsageError(f"{where} must hold only JSON values (dict, list, str, number, bool, None). "
                     f"Got a {type(obj).__name__} instead; convert it (e.g. with to_dict()).")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(model_config: Mapping[str, Any], training_config: Mapping[str, Any]) -> str:
    """The sha256 identifying a configuration: of the canonical JSON of
    ``{"model": model_config, "training": training_config}`` (sorted keys, no spaces).

    Two configurations with equal content have equal hashes, whatever their key order or YAML
    formatting.
    """
    payload = {"model": _jsonable(model_config, "model_config"),
               "training": _jsonable(training_config, "training_config")}
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()


def _dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj
