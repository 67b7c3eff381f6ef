"""Torch building blocks shared by the modality pipelines and the multimodal model.

- :mod:`hccfusion.models.mil` — MIL poolers over bags of pathology tiles.
- :mod:`hccfusion.models.encoders` — modality encoders (``tabular``, ``mil``,
  ``pathway_tokens``) and the treatment FiLM conditioning.
- :mod:`hccfusion.models.fusion` — fusions under missing modalities (``late``, ``gated``,
  ``kronecker``, ``cross_attention``).
- :mod:`hccfusion.models.heads` — survival (discrete-time or Cox), response and ordinal heads.
- :mod:`hccfusion.models.losses` — the matching losses, pure tensor functions.
- :mod:`hccfusion.models.multimodal` — :class:`MultimodalNet` and :func:`build_model`.
- :mod:`hccfusion.models.registry` — the registries and ``get_*`` builders.

Modules here are imported lazily: nothing in this package imports torch at package import
time; the names below are resolved on first access. :mod:`hccfusion.io.weights` reads local
checkpoint files (``.pt``, ``.pth``, ``.bin``, ``.safetensors``) with a recorded SHA-256;
nothing is ever downloaded.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["FUSIONS", "HEADS", "MODALITY_ENCODERS", "MultimodalNet", "MultimodalOutput",
           "build_model", "get_encoder", "get_fusion", "get_head"]

_LAZY = {
    "FUSIONS": "hccfusion.models.registry",
    "HEADS": "hccfusion.models.registry",
    "MODALITY_ENCODERS": "hccfusion.models.registry",
    "build_model": "hccfusion.models.registry",
    "get_encoder": "hccfusion.models.registry",
    "get_fusion": "hccfusion.models.registry",
    "get_head": "hccfusion.models.registry",
    "MultimodalNet": "hccfusion.models.multimodal",
    "MultimodalOutput": "hccfusion.models.multimodal",
}


def __getattr__(attr: str) -> Any:
    if attr in _LAZY:
        return getattr(importlib.import_module(_LAZY[attr]), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
