"""The training objective of the multimodal net: the joint loss over the endpoints, the
one-modality auxiliary loss and the group-lasso penalty on input features."""

from __future__ import annotations

from typing import Any

import numpy as np

from hccfusion.models.multimodal_config import SURVIVAL_ENDPOINTS as ENDPOINTS
from hccfusion.training.config import TrainingConfig

__all__ = ["ENDPOINTS", "input_group_norm", "slice_batch", "study_loss", "unimodal_loss"]


def slice_batch(batch: dict[str, Any], index: np.ndarray) -> dict[str, Any]:
    out = {}
    for key, value in batch.items():
        if isinstance(value, list):
            out[key] = [value[i] for i in index]
        else:
            out[key] = value[index]
    return out


def study_loss(output: Any, target: dict[str, Any], weights: dict[str, float]) -> Any:
    from hccfusion.models.losses import (
        binary_nll, cox_nll, discrete_time_nll, ordinal_nll,
    )

    total = 0.0
    for ep in ENDPOINTS:
        w = weights.get(ep, 0.0)
        if w == 0:
            continue
        logits = output.hazard_logits.get(ep) if output.hazard_logits else None
        if logits is not None:
            part = discrete_time_nll(hazard_logits=logits, bin_index=target[f"{ep}_bin"],
                                     event=target[f"{ep}_event"])
        else:
            part = cox_nll(risk=output.risk[ep], time=target[f"{ep}_time"],
                           event=target[f"{ep}_event"])
        total = total + w * part
    if weights.get("response", 0.0) and output.response_logit is not None:
        total = total + weights["response"] * binary_nll(logit=output.response_logit,
                                                         target=target["orr"])
    if weights.get("bor", 0.0) and output.bor_logits is not None:
        total = total + weights["bor"] * ordinal_nll(logits=output.bor_logits,
                                                     target=target["bor"])
    return total


def unimodal_loss(net: Any, batch: dict, target: dict, training: TrainingConfig,
                   gen: np.random.Generator) -> Any:
    """The same loss with one modality alone (drawn per step) for the patients who have it.

    A fused net trained only end to end leans on whichever modality lowers the loss fastest
    (here the clinical variables) and leaves the slower MIL branch under-trained; asking every
    branch to predict on its own as well (unimodal auxiliary losses, cf. Wang, Tran & Feiszli,
    CVPR 2020, "What makes training multi-modal classification networks hard?") keeps each one
    informative."""
    m = int(gen.integers(len(net.modalities)))
    have = batch["available"][:, m].numpy()
    rows = np.flatnonzero(have)
    if len(rows) < 2:
        return 0.0
    sub, sub_target = slice_batch(batch, rows), slice_batch(target, rows)
    only = sub["available"].clone()
    only[:, :] = False
    only[:, m] = True
    sub["available"] = only
    return study_loss(net(sub), sub_target, training.loss_weights)


def input_group_norm(net: Any) -> Any:
    """Sum over the tabular encoders' input features of the L2 norm of each feature's
    first-layer (and wide) weights (group lasso; Yuan & Lin, J R Stat Soc B 2006): it shrinks whole input
    variables toward zero, the neural analogue of an elastic-net Cox model's selection."""
    import torch

    total = 0.0
    for name, encoder in net.encoders.items():
        weight = getattr(encoder, "input_weight", None)
        if weight is not None:
            if name in net.wide:  # a feature's linear weights belong to the same group
                weight = torch.cat([weight, net.wide[name].weight], dim=0)
            total = total + weight.norm(dim=0).sum()
    return total
