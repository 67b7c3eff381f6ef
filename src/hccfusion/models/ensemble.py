"""A seed ensemble of multimodal nets: same architecture, different initialisations and
modality-dropout draws, outputs averaged.

On a few hundred patients a single net's ranking moves with its random seed; averaging K
members trained on the same patients (Lakshminarayanan et al., NeurIPS 2017, "deep
ensembles") removes most of that variance at K times the training cost. The members'
log-risks, hazard logits and response/ordinal logits are averaged; attention and fusion
weights are averaged too (instance attention per patient), so explanations describe the
ensemble.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hccfusion.errors import UsageError
from hccfusion.models.multimodal import MultimodalNet, MultimodalOutput, build_model

__all__ = ["EnsembleNet", "build_ensemble"]


def _mean(values: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    if values[0] is None:
        return None
    return torch.stack(list(values)).mean(dim=0)


class EnsembleNet(nn.Module):
    """K :class:`~hccfusion.models.multimodal.MultimodalNet` members, outputs averaged.

    ``config`` is ``{"ensemble_size": K, "member": <build_model config>}``.
    """

    def __init__(self, members: Sequence[MultimodalNet]) -> None:
        super().__init__()
        if not members:
            raise UsageError("An ensemble needs at least one member.")
        self.members = nn.ModuleList(members)
        self.modalities = tuple(members[0].modalities)
        self.config = {"ensemble_size": len(members), "member": members[0].config}

    def forward(self, batch: Mapping[str, object]) -> MultimodalOutput:
        outs = [m(batch) for m in self.members]
        first = outs[0]
        attention = None
        if first.instance_attention is not None:
            attention = [torch.stack([o.instance_attention[i] for o in outs]).mean(dim=0)
                         for i in range(len(first.instance_attention))]
        return MultimodalOutput(
            risk={k: _mean([o.risk[k] for o in outs]) for k in first.risk},
            hazard_logits={k: _mean([o.hazard_logits[k] for o in outs])
                           for k in first.hazard_logits},
            response_logit=_mean([o.response_logit for o in outs]),
            bor_logits=_mean([o.bor_logits for o in outs]),
            modality_embeddings=_mean([o.modality_embeddings for o in outs]),
            fusion_weights=_mean([o.fusion_weights for o in outs]),
            instance_attention=attention,
            available=first.available)


def build_ensemble(config: Mapping[str, Any]) -> EnsembleNet:
    """Rebuild an ensemble from its ``config`` (``{"ensemble_size": K, "member": {...}}``)."""
    if not isinstance(config, Mapping) or set(config) != {"ensemble_size", "member"}:
        raise UsageError("An ensemble config must have exactly the keys 'ensemble_size' and "
                         f"'member'. Got {sorted(config) if isinstance(config, Mapping) else config!r}"
                         " instead.")
    k = config["ensemble_size"]
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UsageError(f"The 'ensemble_size' of an ensemble config must be a positive int. "
                         f"Got {k!r} instead.")
    return EnsembleNet([build_model(config["member"]) for _ in range(k)])
