"""The model config of :class:`~hccfusion.models.multimodal.MultimodalNet`: its keys, defaults and
validation (see that module's docstring for the format)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hccfusion.errors import UsageError, closest, unknown_option
from hccfusion.models.registry import check_dropout, check_positive_int

__all__ = ["MODALITY_ORDER", "SURVIVAL_ENDPOINTS", "normalise_config"]

MODALITY_ORDER = ("clinical", "radiomics", "pathology", "omics")
"""Every modality the net knows, in the fixed order of :attr:`MultimodalNet.modalities`."""

SURVIVAL_ENDPOINTS = ("os", "pfs")
"""Survival endpoints with a head of their own."""

_TOP_KEYS = ("modalities", "embed_dim", "dropout", "modality_dropout", "fusion", "treatment",
             "heads", "wide")
_HEAD_KEYS = (*SURVIVAL_ENDPOINTS, "response", "bor")
_DENSE_ENCODERS = ("tabular",)
_DEFAULTS: dict[str, Any] = {"embed_dim": 32, "dropout": 0.1, "modality_dropout": 0.0,
                             "fusion": {"name": "gated"}, "treatment": None, "wide": []}


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise UsageError(f"The model config's {where} must be a mapping. Got "
                         f"{type(value).__name__} instead.")
    return dict(value)


def _reject_unknown(keys: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in allowed:
            hint = closest(str(key), allowed)
            did_you_mean = f"; did you mean '{hint}'?" if hint else ""
            raise UsageError(f"unknown key '{key}' in the model config's {where}{did_you_mean} "
                             f"Allowed: {', '.join(allowed)}")


def normalise_config(config: object) -> dict[str, Any]:
    """Validate ``config`` and return a deep copy with the defaults filled in."""
    cfg = copy.deepcopy(_mapping(config, "top level"))
    _reject_unknown(cfg, _TOP_KEYS, "top level")
    for key in ("modalities", "heads"):
        if key not in cfg:
            raise UsageError(f"The model config must have a '{key}' entry. Got keys "
                             f"{sorted(cfg)} instead.")
    cfg = {**copy.deepcopy(_DEFAULTS), **cfg}
    cfg["embed_dim"] = check_positive_int(cfg["embed_dim"], "embed_dim", "build_model")
    cfg["dropout"] = check_dropout(cfg["dropout"], "dropout", "build_model")
    cfg["modality_dropout"] = check_dropout(cfg["modality_dropout"], "modality_dropout",
                                            "build_model")

    modalities = _mapping(cfg["modalities"], "'modalities'")
    if not modalities:
        raise UsageError(f"The model config's 'modalities' must name at least one of "
                         f"{', '.join(MODALITY_ORDER)}. Got none.")
    for name in modalities:
        if name not in MODALITY_ORDER:
            raise unknown_option("modality", str(name), MODALITY_ORDER)
        spec = _mapping(modalities[name], f"'modalities.{name}'")
        for key in ("encoder", "in_dim"):
            if key not in spec:
                raise UsageError(f"The model config's 'modalities.{name}' must have an "
                                 f"'{key}' entry. Got keys {sorted(spec)} instead.")
        modalities[name] = spec
    cfg["modalities"] = {name: modalities[name] for name in MODALITY_ORDER if name in modalities}

    fusion = _mapping(cfg["fusion"], "'fusion'")
    if "name" not in fusion:
        raise UsageError(f"The model config's 'fusion' must have a 'name' entry. Got keys "
                         f"{sorted(fusion)} instead.")
    cfg["fusion"] = fusion

    if cfg["treatment"] is not None:
        treatment = _mapping(cfg["treatment"], "'treatment'")
        _reject_unknown(treatment, ("cardinalities", "embed_dim"), "'treatment'")
        if "cardinalities" not in treatment:
            raise UsageError("The model config's 'treatment' must have a 'cardinalities' "
                             "entry (codes per treatment variable, 0 = unknown included).")
        treatment.setdefault("embed_dim", 4)
        treatment["cardinalities"] = list(treatment["cardinalities"])
        cfg["treatment"] = treatment

    heads = _mapping(cfg["heads"], "'heads'")
    _reject_unknown(heads, _HEAD_KEYS, "'heads'")
    for endpoint in SURVIVAL_ENDPOINTS:
        if endpoint in heads and heads[endpoint] is not None:
            heads[endpoint] = _mapping(heads[endpoint], f"'heads.{endpoint}'")
    for endpoint in ("response", "bor"):
        value = heads.get(endpoint, False)
        if endpoint == "bor" and isinstance(value, Mapping):
            heads[endpoint] = dict(value)
        elif not isinstance(value, bool):
            extra = " or a mapping of OrdinalHead options" if endpoint == "bor" else ""
            raise UsageError(f"The model config's 'heads.{endpoint}' must be true or false"
                             f"{extra}. Got {value!r} instead.")
    heads = {k: v for k, v in heads.items() if v is not None and v is not False}
    if not heads:
        raise UsageError(f"The model config's 'heads' must configure at least one of "
                         f"{', '.join(_HEAD_KEYS)}. Got none.")
    cfg["heads"] = heads

    wide = cfg["wide"]
    if isinstance(wide, (str, bytes)) or not isinstance(wide, (list, tuple)):
        raise UsageError(f"The model config's 'wide' must be a list of modality names. Got "
                         f"{wide!r} instead.")
    for name in wide:
        if name not in cfg["modalities"]:
            raise UsageError(f"The model config's 'wide' names '{name}', which is not one of "
                             f"its modalities ({', '.join(cfg['modalities'])}).")
        if cfg["modalities"][name]["encoder"] not in _DENSE_ENCODERS:
            raise UsageError(f"The model config's 'wide' names '{name}', whose encoder "
                             f"'{cfg['modalities'][name]['encoder']}' does not read a feature "
                             f"vector; 'wide' takes modalities with a "
                             f"{' or '.join(_DENSE_ENCODERS)} encoder.")
    cfg["wide"] = [m for m in MODALITY_ORDER if m in wide]
    return cfg
