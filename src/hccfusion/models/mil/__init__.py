"""Multiple-instance learning (MIL) poolers: a bag of instance embeddings → one patient embedding.

Every pooler maps a bag ``x`` of shape ``[N, in_dim]`` (tiles of all the patient's slides, with
``groups`` holding each tile's slide index) to a :class:`MilOutput` — the patient embedding,
one attention weight per instance and the share of attention each slide received. Bags of one
or two instances (tiny needle biopsies) are valid.

Registry (``MIL_POOLERS``; a new pooler is one file plus one line here, and must pass the
shared suite in ``tests/models/test_mil_registry.py``):

- ``abmil``: gated attention MIL (Ilse, Tomczak & Welling, ICML 2018).
- ``transmil``: TransMIL (Shao et al., NeurIPS 2021) — Nyström self-attention layers and the
  PPEG convolutional position encoding around a class token.
- ``mean``: mean pooling baseline.

Nothing here imports torch at import time; :func:`get_mil` imports the chosen module.

Example
-------
>>> import torch
>>> from hccfusion.models.mil import get_mil
>>> pooler = get_mil("abmil", in_dim=16, hidden_dim=8).eval()
>>> out = pooler(torch.randn(5, 16), groups=torch.tensor([0, 0, 0, 1, 1]))
>>> tuple(out.embedding.shape), tuple(out.attention.shape)
((8,), (5,))
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hccfusion.errors import UsageError, unknown_option

if TYPE_CHECKING:
    import torch

    from hccfusion.models.mil.mean import MilPooler

__all__ = ["MIL_POOLERS", "MilOutput", "MilPooler", "get_mil"]

MIL_POOLERS: dict[str, str] = {
    "abmil": "hccfusion.models.mil.abmil:GatedAttentionMil",
    "transmil": "hccfusion.models.mil.transmil:TransMil",
    "mean": "hccfusion.models.mil.mean:MeanMil",
}
"""Registered poolers: name → ``"module:Class"`` (imported on first use by :func:`get_mil`)."""


@dataclass(frozen=True)
class MilOutput:
    """What a pooler returns for one bag.

    Attributes
    ----------
    embedding : torch.Tensor
        Shape ``[out_dim]``, the bag (patient) embedding.
    attention : torch.Tensor
        Shape ``[N]``, non-negative, sums to 1: how much each instance contributed (ABMIL's
        attention weights; TransMIL's class-token attention of its last layer; uniform for
        ``mean``). In the instance order of the input.
    per_group : dict[int, torch.Tensor] or None
        With ``groups`` given: slide index → scalar share of ``attention`` on that slide's
        instances (the shares sum to 1). None without ``groups``.
    """

    embedding: torch.Tensor
    attention: torch.Tensor
    per_group: dict[int, torch.Tensor] | None = None


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"The '{name}' parameter of get_mil must be a positive int. "
                         f"Got {value!r} instead.")
    return int(value)


def get_mil(name: str, *, in_dim: int, hidden_dim: int = 128, dropout: float = 0.25,
            **kw: Any) -> MilPooler:
    """Build a registered MIL pooler.

    Parameters
    ----------
    name : str
        A key of :data:`MIL_POOLERS` (``"abmil"``, ``"transmil"``, ``"mean"``).
    in_dim : int
        Instance feature dimension (e.g. the tile encoder's output size).
    hidden_dim : int
        Width of the pooler; the embedding has ``out_dim == hidden_dim``.
    dropout : float
        Dropout probability in [0, 1), active in training mode only.
    **kw
        Pooler-specific options (e.g. ``n_heads``, ``n_landmarks`` for ``transmil``,
        ``attention_dim`` for ``abmil``).

    Returns
    -------
    MilPooler
        A ``torch.nn.Module`` in training mode.

    Raises
    ------
    hccfusion.errors.UsageError
        For an unknown ``name`` (with a did-you-mean hint), a non-positive ``in_dim`` or
        ``hidden_dim``, a ``dropout`` outside [0, 1), or an option the pooler does not take.
    """
    if not isinstance(name, str) or name not in MIL_POOLERS:
        raise unknown_option("MIL pooler", str(name), tuple(MIL_POOLERS))
    in_dim = _positive_int(in_dim, "in_dim")
    hidden_dim = _positive_int(hidden_dim, "hidden_dim")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
            or not 0.0 <= float(dropout) < 1.0:
        raise UsageError(f"The 'dropout' parameter of get_mil must be a float in [0, 1). "
                         f"Got {dropout!r} instead.")
    module_name, class_name = MIL_POOLERS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        return cls(in_dim=in_dim, hidden_dim=hidden_dim, dropout=float(dropout), **kw)
    except TypeError as exc:
        raise UsageError(f"The options of get_mil({name!r}) must be among the pooler's "
                         f"keyword arguments. Got {sorted(kw)} instead ({exc}).") from exc


def __getattr__(attr: str) -> Any:
    # the base class subclasses torch.nn.Module, so it is imported only when asked for
    if attr == "MilPooler":
        from hccfusion.models.mil.mean import MilPooler

        return MilPooler
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
