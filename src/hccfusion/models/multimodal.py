"""The multimodal network: modality encoders → fusion (under missing modalities) → treatment
conditioning → endpoint heads.

Built from a plain, JSON-serialisable config by :func:`build_model`::

    {"modalities": {"clinical": {"encoder": "tabular", "in_dim": 40, "hidden": [32]},
                    "radiomics": {"encoder": "tabular", "in_dim": 120, "hidden": [32]},
                    "pathology": {"encoder": "mil", "pooler": "abmil", "in_dim": 64},
                    "omics": {"encoder": "pathway_tokens", "in_dim": 30}},
     "embed_dim": 32, "dropout": 0.2, "modality_dropout": 0.25,
     "fusion": {"name": "gated"},
     "treatment": {"cardinalities": [3, 6, 6], "embed_dim": 4},
     "heads": {"os": {"kind": "discrete", "n_bins": 8}, "pfs": {"kind": "cox"},
               "response": True, "bor": True},
     "wide": ["clinical"]}

A modality entry holds ``encoder`` and ``in_dim``, optionally ``dropout`` (overrides the
global one) and the encoder's own options. ``embed_dim`` (default 32), ``dropout`` (0.1),
``modality_dropout`` (0.0), ``fusion`` (``{"name": "gated"}``), ``treatment`` (None) and ``wide``
(``[]``) may be left out; :attr:`MultimodalNet.config` holds the config with these defaults filled in, so
``build_model(net.config)`` rebuilds the same architecture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hccfusion.errors import DataError, UsageError
from hccfusion.models.encoders import TreatmentFiLM
from hccfusion.models.heads import SurvivalOutput
from hccfusion.models.multimodal_config import MODALITY_ORDER, SURVIVAL_ENDPOINTS, normalise_config
from hccfusion.models.registry import get_encoder, get_fusion, get_head

__all__ = ["MODALITY_ORDER", "SURVIVAL_ENDPOINTS", "MultimodalNet", "MultimodalOutput",
           "build_model"]


@dataclass(frozen=True)
class MultimodalOutput:
    """What :meth:`MultimodalNet.forward` returns for a batch of B patients.

    Attributes
    ----------
    risk : dict of str to torch.Tensor
        Per configured survival endpoint (``"os"``, ``"pfs"``), shape ``[B]``, higher =
        worse: a discrete-time head gives minus the area under the predicted S(t) over the
        bins (in bins), a Cox head the log-risk.
    hazard_logits : dict of str to torch.Tensor or None
        Per survival endpoint, ``[B, K]`` for a discrete-time head, None for a Cox head.
    response_logit : torch.Tensor or None
        ``[B]``, ``P(objective response) = sigmoid``; None without a response head.
    bor_logits : torch.Tensor or None
        ``[B, C−1]`` cumulative logits ``logit P(BOR ≤ k)`` (0 = CR < PR < SD < PD = 3);
        None without a BOR head.
    modality_embeddings : torch.Tensor
        ``[B, M, D]`` in the order of ``net.modalities``; zero where a modality was not used
        (unavailable, or dropped by modality dropout).
    fusion_weights : torch.Tensor or None
        ``[B, M]`` modality weights of the ``gated`` and ``cross_attention`` fusions.
    instance_attention : list of torch.Tensor or None
        Per patient, the pathology MIL attention ``[N_i]``; None without pathology.
    available : torch.Tensor
        ``[B, M]`` bool, the availability the fusion saw (after modality dropout).
    """

    risk: dict[str, torch.Tensor]
    hazard_logits: dict[str, torch.Tensor | None]
    response_logit: torch.Tensor | None
    bor_logits: torch.Tensor | None
    modality_embeddings: torch.Tensor
    fusion_weights: torch.Tensor | None
    instance_attention: list[torch.Tensor] | None
    available: torch.Tensor


class MultimodalNet(nn.Module):
    """Encoders per modality, a fusion that respects missing modalities, FiLM treatment
    conditioning and one head per endpoint.

    ``z = trunk(FiLM(fusion(encoders(batch), available), treatment))`` with
    ``trunk = GELU → Dropout``; every head reads ``z``.

    ``wide`` modalities (feature vectors such as the clinical variables) also reach the heads
    through a linear term, one weight per input feature and endpoint, added to each head's
    log-risk, hazard logits or logit (a "wide and deep" model; Cheng et al., DLRS 2016): with a
    few hundred patients, monotone effects of single variables are learned as reliably as in
    a Cox model while the deep part learns interactions and the other modalities. The linear
    weights start at zero; a modality that is unavailable (or dropped) adds nothing.

    Modality dropout (training mode only, ``modality_dropout = p``): each available modality
    of each patient is hidden with probability p independently, never the last available one
    of a patient (if all would go, one of them chosen uniformly stays). It draws from torch's
    global RNG, so ``torch.manual_seed`` makes it reproducible. It teaches the model to
    predict from any subset of modalities (Neverova et al., "ModDrop", IEEE TPAMI 2016).

    Parameters
    ----------
    config : dict
        See the module docstring; validated, unknown keys rejected.

    Attributes
    ----------
    modalities : tuple of str
        The configured modalities in the fixed order
        ``("clinical", "radiomics", "pathology", "omics")``; column m of ``available`` and
        of the outputs is ``modalities[m]``.
    config : dict
        The config with defaults filled in (JSON-serialisable).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        cfg = normalise_config(config)
        self.config = cfg
        self.modalities: tuple[str, ...] = tuple(cfg["modalities"])
        dim, dropout = cfg["embed_dim"], cfg["dropout"]
        self.modality_dropout = cfg["modality_dropout"]

        encoders = {}
        for name, spec in cfg["modalities"].items():
            options = {k: v for k, v in spec.items() if k not in ("encoder", "in_dim", "dropout")}
            encoders[name] = get_encoder(spec["encoder"], in_dim=spec["in_dim"], embed_dim=dim,
                                         dropout=spec.get("dropout", dropout), **options)
        self.encoders = nn.ModuleDict(encoders)

        fusion_options = {k: v for k, v in cfg["fusion"].items() if k != "name"}
        self.fusion = get_fusion(cfg["fusion"]["name"], n_modalities=len(self.modalities),
                                 dim=dim, dropout=dropout, **fusion_options)
        fused_dim = self.fusion.out_dim

        self.film: TreatmentFiLM | None = None
        if cfg["treatment"] is not None:
            self.film = TreatmentFiLM(cfg["treatment"]["cardinalities"],
                                      cfg["treatment"]["embed_dim"], fused_dim)
        self.trunk = nn.Sequential(nn.GELU(), nn.Dropout(dropout))

        heads: dict[str, nn.Module] = {}
        for endpoint in SURVIVAL_ENDPOINTS:
            if endpoint in cfg["heads"]:
                heads[endpoint] = get_head("survival", in_dim=fused_dim, **cfg["heads"][endpoint])
        if cfg["heads"].get("response"):
            heads["response"] = get_head("response", in_dim=fused_dim)
        if "bor" in cfg["heads"]:
            bor = cfg["heads"]["bor"]
            heads["bor"] = get_head("ordinal", in_dim=fused_dim,
                                    **(bor if isinstance(bor, dict) else {}))
        self.heads = nn.ModuleDict(heads)
        self.wide = nn.ModuleDict({
            name: nn.Linear(cfg["modalities"][name]["in_dim"], len(self.heads), bias=False)
            for name in cfg["wide"]})
        for layer in self.wide.values():
            nn.init.zeros_(layer.weight)

    def _wide_offsets(self, inputs: dict[str, torch.Tensor], used: torch.Tensor,
                      b: int) -> dict[str, torch.Tensor | None]:
        """Per head, the summed linear terms of the ``wide`` modalities ``[B]`` (None when
        the model has none)."""
        if not self.wide:
            return {name: None for name in self.heads}
        total = torch.zeros(b, len(self.heads), device=used.device)
        for name, layer in self.wide.items():
            m = self.modalities.index(name)
            total = total + layer(inputs[name]) * used[:, m, None]
        return {name: total[:, k] for k, name in enumerate(self.heads)}

    def _drop_modalities(self, available: torch.Tensor) -> torch.Tensor:
        drop = torch.rand(available.shape, device=available.device) < self.modality_dropout
        kept = available & ~drop
        emptied = ~kept.any(dim=1)
        if bool(emptied.any()):
            # keep one available modality, chosen uniformly, for patients who lost them all
            score = torch.rand(available.shape, device=available.device) * available
            keep = torch.nn.functional.one_hot(score.argmax(dim=1), available.shape[1]).bool()
            kept = torch.where(emptied[:, None], keep & available, kept)
        return kept

    def _check_available(self, batch: Mapping[str, object]) -> torch.Tensor:
        m = len(self.modalities)
        available = batch.get("available")
        if not isinstance(available, torch.Tensor) or available.dtype != torch.bool \
                or available.ndim != 2 or available.shape[1] != m:
            got = (f"{tuple(available.shape)} {available.dtype}"
                   if isinstance(available, torch.Tensor) else type(available).__name__)
            raise UsageError(f"batch['available'] must be a bool tensor of shape [B, {m}] "
                             f"(columns {', '.join(self.modalities)}). Got {got} instead.")
        none = ~available.any(dim=1)
        if bool(none.any()):
            raise DataError(f"Row {int(none.nonzero()[0])} of batch['available'] has no "
                            f"available modality; every patient needs at least one of "
                            f"{', '.join(self.modalities)}.")
        return available

    def forward(self, batch: Mapping[str, object]) -> MultimodalOutput:
        """Predict for a batch.

        Parameters
        ----------
        batch : mapping
            ``"available"`` bool ``[B, M]``; per configured modality its input — a float
            ``[B, p]`` tensor for the dense encoders (zero rows where unavailable), a list of B
            ``[N_i, d]`` bags for ``mil`` (``[0, d]`` where unavailable) with
            ``"<modality>_groups"`` (list of B slide-index tensors, optional); with treatment
            conditioning ``"treatment"`` long ``[B, V]`` (0 = unknown).

        Returns
        -------
        MultimodalOutput
        """
        if not isinstance(batch, Mapping):
            raise UsageError(f"The 'batch' parameter of MultimodalNet.forward must be a "
                             f"mapping. Got {type(batch).__name__} instead.")
        available = self._check_available(batch)
        b = available.shape[0]
        embeddings: list[torch.Tensor] = []
        dense_inputs: dict[str, torch.Tensor] = {}
        instance_attention: list[torch.Tensor] | None = None
        for m, name in enumerate(self.modalities):
            if name not in batch:
                raise UsageError(f"The batch lacks the '{name}' input that this model was "
                                 f"built with. Got keys {sorted(batch)}.")
            encoder = self.encoders[name]
            x = batch[name]
            if getattr(encoder, "input_kind", "dense") == "bags":
                bags = x if isinstance(x, (list, tuple)) else []
                empty = [i for i, bag in enumerate(bags)
                         if isinstance(bag, torch.Tensor) and bag.shape[0] == 0
                         and bool(available[i, m])]
                if empty:
                    raise DataError(f"Row {empty[0]} has '{name}' marked available but an "
                                    f"empty bag; mark it unavailable or supply its instances.")
                out = encoder(x, batch.get(f"{name}_groups"))
                instance_attention = out.instance_attention
            else:
                if isinstance(x, torch.Tensor) and x.ndim == 2 and x.shape[0] == b:
                    # unavailable rows never reach the output, but a NaN there would still
                    # poison the weight gradients (0 · NaN), so they are zeroed first
                    x = torch.where(available[:, m, None], x, torch.zeros_like(x))
                dense_inputs[name] = x
                out = encoder(x)
            if out.embedding.shape[0] != b:
                raise UsageError(f"batch['{name}'] has {out.embedding.shape[0]} patients but "
                                 f"batch['available'] has {b}.")
            embeddings.append(out.embedding)
        used = self._drop_modalities(available) \
            if self.training and self.modality_dropout > 0 else available
        stacked = torch.stack(embeddings, dim=1)
        stacked = torch.where(used[:, :, None], stacked, torch.zeros_like(stacked))
        fusion_out = self.fusion(stacked, used)
        z = fusion_out.fused
        if self.film is not None:
            if "treatment" not in batch:
                raise UsageError("The batch lacks 'treatment' (long [B, V] category codes), "
                                 "which this model is conditioned on.")
            z = self.film(z, batch["treatment"])
        z = self.trunk(z)
        offsets = self._wide_offsets(dense_inputs, used, b)

        risk: dict[str, torch.Tensor] = {}
        hazard_logits: dict[str, torch.Tensor | None] = {}
        for endpoint in SURVIVAL_ENDPOINTS:
            if endpoint in self.heads:
                survival: SurvivalOutput = self.heads[endpoint](z, offsets[endpoint])
                risk[endpoint] = survival.risk
                hazard_logits[endpoint] = survival.hazard_logits
        return MultimodalOutput(
            risk=risk, hazard_logits=hazard_logits,
            response_logit=(self.heads["response"](z, offsets["response"])
                            if "response" in self.heads else None),
            bor_logits=(self.heads["bor"](z, offsets["bor"])
                        if "bor" in self.heads else None),
            modality_embeddings=stacked, fusion_weights=fusion_out.weights,
            instance_attention=instance_attention, available=used)


def build_model(config: Mapping[str, Any]) -> MultimodalNet:
    """Build a :class:`MultimodalNet` from a config dict (see the module docstring).

    Raises
    ------
    hccfusion.errors.UsageError
        An unknown key (named, with a did-you-mean hint), an unknown modality, encoder, fusion
        or head kind (with a did-you-mean hint), a missing required entry or a bad value.
    """
    return MultimodalNet(config)
