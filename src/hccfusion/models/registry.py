"""The registries of the multimodal model's building blocks, and :func:`build_model`.

One registry per family (STYLE.md habit 8): a new encoder, fusion or head is one class plus one
line here, and must pass the shared suite in ``tests/models/test_conformance.py``.

- :data:`MODALITY_ENCODERS` — one modality's input → ``[B, embed_dim]``
  (:mod:`hccfusion.models.encoders`).
- :data:`FUSIONS` — ``(embeddings [B, M, D], available [B, M])`` → fused vector
  (:mod:`hccfusion.models.fusion`).
- :data:`HEADS` — fused vector → an endpoint's prediction (:mod:`hccfusion.models.heads`).

Nothing here imports torch at import time: each ``get_*`` imports the chosen module when it is
called, and :func:`build_model` imports :mod:`hccfusion.models.multimodal`.

Example
-------
>>> from hccfusion.models.registry import get_fusion
>>> fusion = get_fusion("gated", n_modalities=3, dim=8, dropout=0.0)
>>> fusion.out_dim
8
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from hccfusion.errors import UsageError, closest, unknown_option

if TYPE_CHECKING:
    from torch import nn

    from hccfusion.models.multimodal import MultimodalNet

__all__ = ["FUSIONS", "HEADS", "MODALITY_ENCODERS", "build_model", "get_encoder", "get_fusion",
           "get_head"]

MODALITY_ENCODERS: dict[str, str] = {
    "tabular": "hccfusion.models.encoders:TabularEncoder",
    "mil": "hccfusion.models.encoders:MilEncoder",
    "pathway_tokens": "hccfusion.models.encoders:PathwayTokenEncoder",
}
"""Registered modality encoders: name → ``"module:Class"``."""

FUSIONS: dict[str, str] = {
    "late": "hccfusion.models.fusion:LateFusion",
    "gated": "hccfusion.models.fusion:GatedAttentionFusion",
    "kronecker": "hccfusion.models.fusion:LowRankTensorFusion",
    "cross_attention": "hccfusion.models.fusion:CrossAttentionFusion",
}
"""Registered fusions: name → ``"module:Class"``."""

HEADS: dict[str, str] = {
    "survival": "hccfusion.models.heads:SurvivalHead",
    "response": "hccfusion.models.heads:ResponseHead",
    "ordinal": "hccfusion.models.heads:OrdinalHead",
}
"""Registered prediction heads: name → ``"module:Class"``."""


def check_positive_int(value: object, name: str, owner: str) -> int:
    """``value`` as an int ≥ 1, else the standard parameter UsageError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"The '{name}' parameter of {owner} must be a positive int. "
                         f"Got {value!r} instead.")
    return int(value)


def check_dropout(value: object, name: str, owner: str) -> float:
    """``value`` as a float in [0, 1), else the standard parameter UsageError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 <= float(value) < 1.0:
        raise UsageError(f"The '{name}' parameter of {owner} must be a float in [0, 1). "
                         f"Got {value!r} instead.")
    return float(value)


def _load(registry: dict[str, str], kind: str, name: object) -> type:
    if not isinstance(name, str) or name not in registry:
        raise unknown_option(kind, str(name), tuple(registry))
    module_name, class_name = registry[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def _check_options(cls: type, owner: str, fixed: tuple[str, ...], kw: dict[str, Any]) -> None:
    """Reject keyword options the class does not take, naming the first and the nearest."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # the class forwards its options (MilEncoder → get_mil) and checks them there
    allowed = sorted(p for p in params if p != "self" and p not in fixed)
    for key in sorted(kw):
        if key not in allowed:
            hint = closest(key, allowed)
            did_you_mean = f"; did you mean '{hint}'?" if hint else "."
            raise UsageError(f"The options of {owner} must be among {allowed}. Got unknown "
                             f"option '{key}' instead{did_you_mean}")


def get_encoder(name: str, *, in_dim: int, embed_dim: int, dropout: float = 0.1,
                **kw: Any) -> nn.Module:
    """Build a registered modality encoder.

    Parameters
    ----------
    name : str
        A key of :data:`MODALITY_ENCODERS` (``"tabular"``, ``"mil"``, ``"pathway_tokens"``).
    in_dim : int
        Input width: features per patient (``tabular``), per instance (``mil``) or the number
        of pathways T (``pathway_tokens``).
    embed_dim : int
        Width D of the modality embedding.
    dropout : float
        Dropout probability in [0, 1), active in training mode only.
    **kw
        Encoder options (``hidden`` for ``tabular``; ``pooler`` and the pooler's options for
        ``mil``; ``n_heads``, ``n_layers`` for ``pathway_tokens``).

    Returns
    -------
    torch.nn.Module
        An encoder with ``in_dim``, ``out_dim == embed_dim`` and ``input_kind``
        (``"dense"``: a ``[B, in_dim]`` tensor; ``"bags"``: a list of B ``[N_i, in_dim]`` bags)
        whose ``forward`` returns an :class:`~hccfusion.models.encoders.EncoderOutput`.

    Raises
    ------
    hccfusion.errors.UsageError
        An unknown ``name`` (with a did-you-mean hint), a non-positive width, a ``dropout``
        outside [0, 1) or an option the encoder does not take.
    """
    cls = _load(MODALITY_ENCODERS, "modality encoder", name)
    owner = f"get_encoder({name!r})"
    in_dim = check_positive_int(in_dim, "in_dim", owner)
    embed_dim = check_positive_int(embed_dim, "embed_dim", owner)
    dropout = check_dropout(dropout, "dropout", owner)
    _check_options(cls, owner, ("in_dim", "embed_dim", "dropout"), kw)
    encoder: nn.Module = cls(in_dim=in_dim, embed_dim=embed_dim, dropout=dropout, **kw)
    return encoder


def get_fusion(name: str, *, n_modalities: int, dim: int, dropout: float = 0.1,
               **kw: Any) -> nn.Module:
    """Build a registered fusion.

    Parameters
    ----------
    name : str
        A key of :data:`FUSIONS` (``"late"``, ``"gated"``, ``"kronecker"``,
        ``"cross_attention"``).
    n_modalities : int
        M, the number of modality embeddings fused.
    dim : int
        D, the width of each modality embedding.
    dropout : float
        Dropout probability in [0, 1).
    **kw
        Fusion options (``out_dim`` for ``late`` and ``kronecker``, ``rank`` for
        ``kronecker``, ``n_heads``/``n_layers`` for ``cross_attention``, ``attention_dim`` for
        ``gated``).

    Returns
    -------
    torch.nn.Module
        A fusion with ``out_dim``; ``forward(embeddings, available)`` returns a
        :class:`~hccfusion.models.fusion.FusionOutput`.

    Raises
    ------
    hccfusion.errors.UsageError
        As :func:`get_encoder`.
    """
    cls = _load(FUSIONS, "fusion", name)
    owner = f"get_fusion({name!r})"
    n_modalities = check_positive_int(n_modalities, "n_modalities", owner)
    dim = check_positive_int(dim, "dim", owner)
    dropout = check_dropout(dropout, "dropout", owner)
    _check_options(cls, owner, ("n_modalities", "dim", "dropout"), kw)
    fusion: nn.Module = cls(n_modalities=n_modalities, dim=dim, dropout=dropout, **kw)
    return fusion


def get_head(name: str, *, in_dim: int, **kw: Any) -> nn.Module:
    """Build a registered prediction head.

    Parameters
    ----------
    name : str
        A key of :data:`HEADS` (``"survival"``, ``"response"``, ``"ordinal"``).
    in_dim : int
        Width of the fused vector the head reads.
    **kw
        Head options (``kind`` and ``n_bins`` for ``survival``, ``n_classes`` for
        ``ordinal``).

    Raises
    ------
    hccfusion.errors.UsageError
        As :func:`get_encoder`.
    """
    cls = _load(HEADS, "head", name)
    owner = f"get_head({name!r})"
    in_dim = check_positive_int(in_dim, "in_dim", owner)
    _check_options(cls, owner, ("in_dim",), kw)
    head: nn.Module = cls(in_dim=in_dim, **kw)
    return head


def build_model(config: dict[str, Any]) -> MultimodalNet:
    """Build a :class:`~hccfusion.models.multimodal.MultimodalNet` from its config dict.

    See :func:`hccfusion.models.multimodal.build_model` (this wrapper imports torch only when
    called).
    """
    from hccfusion.models.multimodal import build_model as _build

    return _build(config)
