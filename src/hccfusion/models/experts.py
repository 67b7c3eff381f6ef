"""Modality experts: the fused net averaged with one single-modality net per modality.

A fused net trained end to end on a few hundred patients leans on the modality that lowers the
loss fastest (the clinical variables) and under-uses the slower ones: on the simulated study a
pathology-only net ranks progression and response better than the pathology branch inside the
fused net does. Averaging the fused net with nets that each see one modality only (late,
decision-level fusion; Kittler et al., IEEE TPAMI 1998, "On combining classifiers") gives every
modality an equal say where the patient has it, and the fused net still contributes the
interactions.

Each component's outputs — OS and PFS log-risks and the response logit — are put on a common
scale with the mean and SD of that component's predictions on the training patients, averaged
with one weight per component and output over the components the patient has (an expert whose
modality is missing, or hidden by an ablation, does not vote), and mapped back onto the fused
net's scale, so P(response) stays a probability on the fused net's calibration. The training
layer sets the weights on the inner validation patients: from each component's skill (C-index
or AUC above ½), so a modality that carries no signal gets no say, and by default then by
stacking, fitting non-negative weights to all the components' votes together
(:func:`hccfusion.training.experts.stacked_weights`); scales and weights are buffers saved with
the weights. Hazard logits
(the S(t) of a discrete-time head), ordinal logits, embeddings, fusion weights and attention
are the fused net's.

Progression-free survival ends at progression or death, so a component's OS risk also ranks
PFS: each component's OS value can vote in the PFS average too, with its own weight
(``os_for_pfs``; the training layer sets it from that value's skill at ranking PFS, 0 turns it
off, and a bundle written before it existed loads with 0).

A :class:`~hccfusion.models.linear_expert.LinearExpert` (named ``"<modality>_linear"``) votes
the same way: an elastic-net model over one modality — the clinical variables, which it ranks
patients in another centre by better than any net that spreads weight over every variable, or
a summary of the pathology bags (means, and by default the SDs over the tiles). So does a
:class:`~hccfusion.models.linear_expert.JointLinearExpert` (``"clinical+pathology_linear"``):
one elastic-net model over several modalities together, which votes only for patients who
have all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hccfusion.errors import UsageError
from hccfusion.models.multimodal import MODALITY_ORDER, MultimodalOutput, build_model

__all__ = ["COMBINED_OUTPUTS", "ExpertsNet", "build_net"]

COMBINED_OUTPUTS = ("os", "pfs", "response")
"""The outputs averaged over the components, in the column order of the scale buffers."""

_VOTES_FOR = (0, 1, 2, 1)
"""The output each of a component's votes counts for: its OS, PFS and response values (weights
``weight``), then its OS value once more, as a PFS vote (weight ``os_for_pfs``)."""


def build_net(config: Mapping[str, Any]) -> nn.Module:
    """Rebuild any net the training layer writes from its config: a single net
    (:func:`~hccfusion.models.multimodal.build_model`), a seed ensemble (``ensemble_size``)
    or modality experts (``fused`` + ``experts``)."""
    if not isinstance(config, Mapping):
        raise UsageError(f"A model config must be a mapping. Got {type(config).__name__} "
                         "instead.")
    if "experts" in config:
        if set(config) != {"fused", "experts"}:
            raise UsageError("A modality-experts config must have exactly the keys 'fused' "
                             f"and 'experts'. Got {sorted(config)} instead.")
        experts = config["experts"]
        if not isinstance(experts, Mapping):
            raise UsageError("The 'experts' of a modality-experts config must map modality "
                             f"names to configs. Got {type(experts).__name__} instead.")
        return ExpertsNet(build_net(config["fused"]),
                          {name: build_net(cfg) for name, cfg in experts.items()})
    if "linear" in config:
        from hccfusion.models.linear_expert import LinearExpert

        return LinearExpert.from_config(config)
    if "linear_joint" in config:
        from hccfusion.models.linear_expert import JointLinearExpert

        return JointLinearExpert.from_config(config)
    if "ensemble_size" in config:
        from hccfusion.models.ensemble import build_ensemble

        return build_ensemble(config)
    return build_model(config)


def _values(out: Any, b: int) -> torch.Tensor:
    """``[B, 3]``: OS log-risk, PFS log-risk, response logit (NaN for a missing head)."""
    cols = []
    for name in COMBINED_OUTPUTS:
        value = out.response_logit if name == "response" else out.risk.get(name)
        cols.append(value if value is not None else torch.full((b,), float("nan")))
    return torch.stack(cols, dim=1)


class ExpertsNet(nn.Module):
    """The fused net and one expert per modality, outputs averaged on a common scale.

    Parameters
    ----------
    fused : torch.nn.Module
        A :class:`~hccfusion.models.multimodal.MultimodalNet` or seed ensemble.
    experts : mapping of str to torch.nn.Module
        Modality name → a net (or ensemble) whose only modality is that one; each must be one
        of ``fused``'s modalities. ``"<modality>_linear"`` → a
        :class:`~hccfusion.models.linear_expert.LinearExpert` over that modality;
        ``"<modality>+<modality>..._linear"`` → a
        :class:`~hccfusion.models.linear_expert.JointLinearExpert` over those modalities, in
        that order.

    Attributes
    ----------
    center, scale, weight : torch.Tensor
        ``[1 + E, 3]`` buffers (fused first, then the experts in modality order, joint
        linear experts last): mean and SD
        of each component's OS and PFS log-risk and response logit on the training patients,
        and each component's weight in the average; set by :meth:`set_scales` (until then 0,
        1 and 1: an equal-weight average).
    os_for_pfs : torch.Tensor
        ``[1 + E]`` buffer: the weight of each component's (standardised) OS log-risk in the
        PFS average, next to the PFS log-risks (until set: 0, no such vote).
    """

    def __init__(self, fused: nn.Module, experts: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.fused = fused
        self.modalities = tuple(fused.modalities)
        from hccfusion.models.linear_expert import JointLinearExpert, LinearExpert

        joint = [name for name, e in experts.items() if isinstance(e, JointLinearExpert)]
        order = [m for m in MODALITY_ORDER if m in experts] \
            + [f"{m}_linear" for m in MODALITY_ORDER if f"{m}_linear" in experts] + joint
        for name, expert in experts.items():
            linear = isinstance(expert, (LinearExpert, JointLinearExpert))
            seen = tuple(name.removesuffix("_linear").split("+")) if linear else (name,)
            if name not in order or linear != name.endswith("_linear") \
                    or (len(seen) > 1) != isinstance(expert, JointLinearExpert):
                raise UsageError(f"Expert '{name}' must be named after its modality (a linear "
                                 "expert '<modality>_linear', a joint one "
                                 "'<modality>+<modality>..._linear').")
            stray = [m for m in seen if m not in self.modalities]
            if stray:
                what = "is" if len(seen) == 1 else f"reads '{stray[0]}', which is"
                raise UsageError(f"Expert '{name}' {what} not one of the fused net's "
                                 f"modalities ({', '.join(self.modalities)}).")
            if tuple(expert.modalities) != seen:
                raise UsageError(f"Expert '{name}' must see {', '.join(map(repr, seen))} only. "
                                 f"Got modalities {tuple(expert.modalities)} instead.")
        self.experts = nn.ModuleDict({name: experts[name] for name in order})
        n = 1 + len(order)
        self.register_buffer("center", torch.zeros(n, len(COMBINED_OUTPUTS)))
        self.register_buffer("scale", torch.ones(n, len(COMBINED_OUTPUTS)))
        self.register_buffer("weight", torch.ones(n, len(COMBINED_OUTPUTS)))
        self.register_buffer("os_for_pfs", torch.zeros(n))
        self.config = {"fused": fused.config,
                       "experts": {name: self.experts[name].config for name in order}}

    def set_scales(self, center: torch.Tensor, scale: torch.Tensor,
                   weight: torch.Tensor | None = None,
                   os_for_pfs: torch.Tensor | None = None) -> None:
        """Set the per-component mean, SD and weight (each ``[1 + E, 3]``) and the weight of
        each component's OS value in the PFS average (``[1 + E]``; default 0).

        An SD below 1e-6 (or undefined) counts as 1; weights must be >= 0 (NaN counts as 0),
        and an output whose weights are all 0 falls back to the fused net alone."""
        cross = torch.zeros_like(self.os_for_pfs) if os_for_pfs is None else \
            torch.nan_to_num(torch.as_tensor(os_for_pfs, dtype=self.os_for_pfs.dtype), nan=0.0)
        if cross.shape != self.os_for_pfs.shape or bool((cross < 0).any()):
            raise UsageError(f"set_scales needs os_for_pfs of shape "
                             f"{tuple(self.os_for_pfs.shape)} with weights >= 0. Got "
                             f"{tuple(cross.shape)} instead.")
        weight = torch.ones_like(self.weight) if weight is None else weight
        values = [torch.as_tensor(v, dtype=self.center.dtype) for v in (center, scale, weight)]
        if any(v.shape != self.center.shape for v in values):
            raise UsageError(f"set_scales needs center, scale and weight of shape "
                             f"{tuple(self.center.shape)}. Got "
                             f"{', '.join(str(tuple(v.shape)) for v in values)} instead.")
        center, scale, weight = values
        weight = torch.nan_to_num(weight, nan=0.0)
        if bool((weight < 0).any()):
            raise UsageError("set_scales: component weights must be >= 0.")
        none = weight.sum(dim=0) <= 0
        none[1] &= bool(cross.sum() <= 0)              # the OS votes for PFS count too
        weight[0, none] = 1.0
        self.os_for_pfs.copy_(cross)
        self.center.copy_(torch.nan_to_num(center, nan=0.0))
        self.scale.copy_(torch.where(torch.isfinite(scale) & (scale > 1e-6), scale,
                                     torch.ones_like(scale)))
        self.weight.copy_(weight)

    def _expert_batch(self, batch: Mapping[str, object], names: tuple[str, ...],
                      rows: torch.Tensor) -> dict[str, object]:
        idx = rows.nonzero().flatten().tolist()
        cols = [self.modalities.index(name) for name in names]
        sub: dict[str, object] = {"available": batch["available"][rows][:, cols]}
        for key in (k for name in names for k in (name, f"{name}_groups")):
            if key in batch:
                value = batch[key]
                sub[key] = [value[i] for i in idx] if isinstance(value, (list, tuple)) \
                    else value[rows]
        if "treatment" in batch:
            sub["treatment"] = batch["treatment"][rows]
        return sub

    def component_values(self, batch: Mapping[str, object]
                         ) -> tuple[MultimodalOutput, torch.Tensor]:
        """The fused output and ``[1 + E, B, 3]`` raw component values (NaN where one of an
        expert's modalities is unavailable)."""
        out = self.fused(batch)
        b = out.available.shape[0]
        values = [_values(out, b)]
        for expert in self.experts.values():
            seen = tuple(expert.modalities)
            rows = out.available[:, [self.modalities.index(m) for m in seen]].all(dim=1)
            v = torch.full((b, len(COMBINED_OUTPUTS)), float("nan"))
            if bool(rows.any()):
                v[rows] = _values(expert(self._expert_batch(batch, seen, rows)),
                                  int(rows.sum()))
            values.append(v)
        return out, torch.stack(values)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # bundles written before the OS → PFS vote existed: no such vote
        state_dict.setdefault(prefix + "os_for_pfs", torch.zeros_like(self.os_for_pfs))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, batch: Mapping[str, object]) -> MultimodalOutput:
        out, values = self.component_values(batch)
        z = (values - self.center[:, None, :]) / self.scale[:, None, :]    # [1 + E, B, 3]
        votes = torch.cat([z, z[..., :1]], dim=2)                          # [1 + E, B, 4]
        weights = torch.cat([self.weight, self.os_for_pfs[:, None]], dim=1)[:, None, :]
        w = torch.where(torch.isnan(votes), torch.zeros_like(votes), weights)
        target = torch.as_tensor(_VOTES_FOR, device=z.device)
        blank = torch.zeros(z.shape[1], len(COMBINED_OUTPUTS), dtype=z.dtype, device=z.device)
        sums = blank.index_add(1, target, (torch.nan_to_num(votes) * w).sum(dim=0))  # [B, 3]
        total = blank.index_add(1, target, w.sum(dim=0))
        # a patient whose voting components all weigh 0 gets the fused net's value
        voted = total > 0
        mean_z = torch.where(voted, sums / torch.where(voted, total, torch.ones_like(total)),
                             torch.nan_to_num(z[0]))
        combined = self.center[0] + self.scale[0] * mean_z
        risk = {name: combined[:, k] for k, name in enumerate(COMBINED_OUTPUTS)
                if name in out.risk}
        response = combined[:, 2] if out.response_logit is not None else None
        return dataclasses.replace(out, risk=risk, response_logit=response)
