"""The model bundle's folder layout and in-memory form: file names, format version and
:class:`ModelBundle`.

Owns what a bundle folder is made of (the file and folder names, the format version readers
accept, the fields ``bundle.json`` must have) and the frozen :class:`ModelBundle` that
:func:`~hccfusion.io.bundle.read_bundle` returns. Re-exported from :mod:`hccfusion.io.bundle`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "BUNDLE_FORMAT_VERSION",
    "CONFIG_FILE",
    "CUTOFFS_FILE",
    "FEATURE_SPECS_FILE",
    "META_FILE",
    "MODEL_CARD_FILE",
    "ModelBundle",
    "PREPROCESSOR_DIR",
    "TIME_BINS_FILE",
    "WEIGHTS_FILE",
    "fused_model_config",
]

#: Version of the folder layout written here; readers refuse a newer one.
BUNDLE_FORMAT_VERSION = 1

META_FILE = "bundle.json"
CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "weights.safetensors"
PREPROCESSOR_DIR = "preprocessors"
TIME_BINS_FILE = "time_bins.json"
CUTOFFS_FILE = "cutoffs.json"
FEATURE_SPECS_FILE = "feature_specs.json"
MODEL_CARD_FILE = "model_card.md"

_INSTALL_HINT = "pip install 'hccfusion[models]'"
_REQUIRED_META = ("format_version", "package_version", "created_at", "config_hash",
                  "weights_sha256", "files", "endpoints", "modalities", "seed", "summary",
                  "preprocessors")


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """A trained model with everything fitted around it, as read by
    :func:`~hccfusion.io.bundle.read_bundle`.

    Attributes
    ----------
    path
        The bundle folder (None for a bundle built in memory before it was written).
    format_version, package_version, created_at
        Bundle layout version, the hccfusion version that wrote it, and when (ISO 8601, UTC).
    config_hash, weights_sha256
        sha256 of the canonical JSON configuration and of ``weights.safetensors``.
    endpoints, modalities
        What the model predicts (e.g. ``("os", "pfs", "response", "bor")``) and the input
        modalities in the net's fixed order.
    seed
        The training seed.
    summary
        Training data summary (``n_patients``, ``centres``, ``split_id`` … as given).
    model_config, training_config
        The configurations as given to :func:`~hccfusion.io.bundle.write_bundle`.
    state_dict
        Parameter and buffer names → CPU tensors, bit-identical to what was written.
    preprocessors
        Name → fitted preprocessor payload (each preprocessor's ``to_dict()``).
    time_bins, cutoffs
        Endpoint → fitted time-bin / frozen cut-off payloads (``to_dict()`` of each).
    feature_specs
        Modality → what its input features must have been made with.
    metrics
        Performance figures given at write time (nested dict or list of table rows), or None.
    limitations
        Extra limitations stated in the model card.
    model_card
        The text of ``model_card.md`` (None when that file was removed).
    meta
        The parsed ``bundle.json``.
    """

    path: Path | None
    format_version: int
    package_version: str
    created_at: str
    config_hash: str
    weights_sha256: str
    endpoints: tuple[str, ...]
    modalities: tuple[str, ...]
    seed: int
    summary: dict[str, Any]
    model_config: dict[str, Any]
    training_config: dict[str, Any]
    state_dict: dict[str, "torch.Tensor"] = field(repr=False)
    preprocessors: dict[str, Any] = field(repr=False)
    time_bins: dict[str, Any] = field(repr=False)
    cutoffs: dict[str, Any] = field(repr=False)
    feature_specs: dict[str, Any] = field(repr=False)
    metrics: Any = field(default=None, repr=False)
    limitations: tuple[str, ...] = ()
    model_card: str | None = field(default=None, repr=False)
    meta: dict[str, Any] = field(default_factory=dict, repr=False)


def _bundle_from_parts(path: Path | None, meta: dict[str, Any], model_cfg: dict[str, Any],
                       training_cfg: dict[str, Any], tensors: dict[str, "torch.Tensor"],
                       pre: dict[str, Any], bins: dict[str, Any], cuts: dict[str, Any],
                       specs: dict[str, Any], card: str | None) -> ModelBundle:
    return ModelBundle(
        path=path, format_version=int(meta["format_version"]),
        package_version=str(meta["package_version"]), created_at=str(meta["created_at"]),
        config_hash=str(meta["config_hash"]), weights_sha256=str(meta["weights_sha256"]),
        endpoints=tuple(meta["endpoints"]), modalities=tuple(meta["modalities"]),
        seed=int(meta["seed"]), summary=meta["summary"], model_config=model_cfg,
        training_config=training_cfg, state_dict=tensors, preprocessors=pre, time_bins=bins,
        cutoffs=cuts, feature_specs=specs, metrics=meta.get("metrics"),
        limitations=tuple(meta.get("limitations") or ()), model_card=card, meta=meta)


def fused_model_config(config: Any) -> dict[str, Any]:
    """The config of the fused net itself inside a bundle's model config: modality experts
    keep it under ``fused``, a seed ensemble under ``member`` ({} for anything else)."""
    while isinstance(config, dict) and ("fused" in config or "member" in config):
        config = config.get("fused", config.get("member"))
    return config if isinstance(config, dict) else {}
