"""Modality encoders: one modality's input → a ``[B, D]`` patient embedding, and the treatment
conditioning.

Registry :data:`MODALITY_ENCODERS` (built by :func:`get_encoder`; both live in
:mod:`hccfusion.models.registry` so that listing them needs no torch):

- ``tabular`` (:class:`TabularEncoder`): an MLP for clinical variables and radiomics.
- ``mil`` (:class:`MilEncoder`): a MIL pooler of :mod:`hccfusion.models.mil` over each
  patient's bag of pathology tiles.
- ``pathway_tokens`` (:class:`PathwayTokenEncoder`): omics pathway scores as tokens.

Every encoder has ``in_dim``, ``out_dim`` (= ``embed_dim``) and ``input_kind`` (``"dense"``
for a ``[B, in_dim]`` tensor, ``"bags"`` for a list of B bags) and returns an
:class:`EncoderOutput`.

:class:`TreatmentFiLM` conditions the fused vector on the treatment received (feature-wise
linear modulation, Perez et al., "FiLM: Visual Reasoning with a General Conditioning Layer",
AAAI 2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hccfusion.errors import DataError, UsageError
from hccfusion.models.registry import MODALITY_ENCODERS, check_positive_int, get_encoder

__all__ = ["MODALITY_ENCODERS", "EncoderOutput", "MilEncoder", "PathwayTokenEncoder",
           "TabularEncoder", "TreatmentFiLM", "get_encoder"]


@dataclass(frozen=True)
class EncoderOutput:
    """What a modality encoder returns for a batch.

    Attributes
    ----------
    embedding : torch.Tensor
        Shape ``[B, D]``, one embedding per patient.
    instance_attention : list of torch.Tensor or None
        ``mil`` only: per patient, the MIL attention over its ``N_i`` instances (shape
        ``[N_i]``, sums to 1; shape ``[0]`` for an empty bag).
    token_attention : torch.Tensor or None
        ``pathway_tokens`` only: shape ``[B, T]``, the pooling attention over the pathway
        tokens (rows sum to 1).
    """

    embedding: torch.Tensor
    instance_attention: list[torch.Tensor] | None = None
    token_attention: torch.Tensor | None = None


def _check_dense(x: object, in_dim: int, owner: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != in_dim \
            or not x.dtype.is_floating_point:
        got = (f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor)
               else type(x).__name__)
        raise UsageError(f"The 'x' parameter of {owner}.forward must be a float tensor of shape "
                         f"[B, {in_dim}]. Got {got} instead.")
    return x


class TabularEncoder(nn.Module):
    """MLP for a preprocessed feature vector (clinical variables, radiomics).

    Each hidden layer is ``Linear → LayerNorm → GELU → Dropout``; a last ``Linear`` maps to
    ``embed_dim``.

    Parameters
    ----------
    in_dim : int
        Number of input features p.
    embed_dim : int
        Output width D.
    dropout : float
        Dropout after each hidden layer.
    hidden : sequence of int
        Hidden widths, default ``(64,)``; ``()`` gives a single linear map.

    Shapes
    ------
    ``forward(x [B, p]) → EncoderOutput(embedding [B, D])``.
    """

    input_kind = "dense"

    def __init__(self, *, in_dim: int, embed_dim: int, dropout: float,
                 hidden: Sequence[int] = (64,)) -> None:
        super().__init__()
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise UsageError(f"The 'hidden' parameter of TabularEncoder must be a list of "
                             f"positive ints. Got {hidden!r} instead.")
        widths = [check_positive_int(h, "hidden", "TabularEncoder") for h in hidden]
        self.in_dim, self.out_dim = in_dim, embed_dim
        layers: list[nn.Module] = []
        width = in_dim
        for h in widths:
            layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.GELU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, embed_dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        return EncoderOutput(embedding=self.mlp(_check_dense(x, self.in_dim, "TabularEncoder")))

    @property
    def input_weight(self) -> torch.Tensor:
        """The first layer's weight ``[width, p]``: column j carries input feature j (the
        group-lasso penalty of the fit loop acts on these columns)."""
        return self.mlp[0].weight


class MilEncoder(nn.Module):
    """A MIL pooler applied patient by patient to a batch of pathology bags.

    Wraps :func:`hccfusion.models.mil.get_mil`; a patient whose bag is empty (shape
    ``[0, in_dim]``: no slide) gets a zero embedding row and an empty attention vector — the
    availability mask keeps that row out of the fusion.

    Parameters
    ----------
    in_dim : int
        Instance feature width d (the tile encoder's output size).
    embed_dim : int
        Output width D.
    dropout : float
        Dropout inside the pooler.
    pooler : str
        A key of :data:`hccfusion.models.mil.MIL_POOLERS` (default ``"abmil"``).
    hidden_dim : int, optional
        Width of the pooler; default ``embed_dim``. When it differs from ``embed_dim`` a linear
        map follows the pooler.
    **pooler_kw
        Further pooler options (e.g. ``n_landmarks`` for ``transmil``).

    Shapes
    ------
    ``forward(bags: list of B [N_i, d], groups: list of B Long [N_i] | None)
    → EncoderOutput(embedding [B, D], instance_attention list of [N_i])``.
    """

    input_kind = "bags"

    def __init__(self, *, in_dim: int, embed_dim: int, dropout: float, pooler: str = "abmil",
                 hidden_dim: int | None = None, **pooler_kw: object) -> None:
        super().__init__()
        from hccfusion.models.mil import get_mil

        self.in_dim, self.out_dim = in_dim, embed_dim
        width = embed_dim if hidden_dim is None else hidden_dim
        self.pooler = get_mil(pooler, in_dim=in_dim, hidden_dim=width, dropout=dropout,
                              **pooler_kw)
        self.project: nn.Module = (nn.Identity() if self.pooler.out_dim == embed_dim
                                   else nn.Linear(self.pooler.out_dim, embed_dim))

    def forward(self, x: Sequence[torch.Tensor],
                groups: Sequence[torch.Tensor] | None = None) -> EncoderOutput:
        if isinstance(x, torch.Tensor) or not isinstance(x, Sequence) or len(x) == 0:
            raise UsageError("The 'x' parameter of MilEncoder.forward must be a non-empty list "
                             f"of [N_i, {self.in_dim}] tensors, one per patient. "
                             f"Got {type(x).__name__} instead.")
        if groups is not None and (not isinstance(groups, Sequence) or len(groups) != len(x)):
            raise UsageError(f"The 'groups' parameter of MilEncoder.forward must be a list of "
                             f"{len(x)} slide-index tensors (one per bag). Got "
                             f"{type(groups).__name__} of length "
                             f"{len(groups) if isinstance(groups, Sequence) else '?'} instead.")
        reference = next((p for p in self.parameters()), None)
        for i, bag in enumerate(x):
            if not isinstance(bag, torch.Tensor) or bag.ndim != 2 \
                    or bag.shape[1] != self.in_dim:
                got = tuple(bag.shape) if isinstance(bag, torch.Tensor) else type(bag).__name__
                raise UsageError(f"Bag {i} passed to MilEncoder.forward must be a tensor of "
                                 f"shape [N, {self.in_dim}]. Got {got} instead.")
        full = [i for i, bag in enumerate(x) if bag.shape[0] > 0]
        dtype = reference.dtype if reference is not None else x[0].dtype
        embedding = torch.zeros((len(x), self.out_dim), dtype=dtype, device=x[0].device)
        attention: list[torch.Tensor] = [bag.new_zeros(0) for bag in x]
        if full and self.pooler.has_flat_pool:
            # all non-empty bags in one pass (equal to pooling them one by one; see
            # MilPooler.pool_batch); for these poolers slide groups only change the per-slide
            # attention shares, which the encoder does not return
            pooled, weights = self.pooler.pool_batch([x[i] for i in full])
            embedding = embedding.index_copy(0, torch.as_tensor(full, device=embedding.device),
                                             self.project(pooled).to(dtype))
            for i, w in zip(full, weights):
                attention[i] = w
        elif full:
            # poolers that order instances by slide (TransMIL) need each bag's groups
            rows = []
            for i in full:
                out = self.pooler(x[i], groups=None if groups is None else groups[i])
                rows.append(self.project(out.embedding))
                attention[i] = out.attention
            embedding = embedding.index_copy(0, torch.as_tensor(full, device=embedding.device),
                                             torch.stack(rows).to(dtype))
        return EncoderOutput(embedding=embedding, instance_attention=attention)


class PathwayTokenEncoder(nn.Module):
    """Omics encoder: each pathway score becomes a token, a transformer mixes them, attention
    pools them.

    Token ``t`` of a patient with pathway scores ``s`` is ``s_t · w_t + b_t`` (``w_t, b_t`` a
    learned per-pathway embedding, so the token carries both which pathway and how active it
    is), then ``n_layers`` pre-norm transformer encoder layers (Vaswani et al. 2017) and gated
    attention pooling over the T tokens (Ilse et al., ICML 2018) give the patient embedding.

    Parameters
    ----------
    in_dim : int
        Number of pathways T.
    embed_dim : int
        Token and output width D; must be divisible by ``n_heads``.
    dropout : float
        Dropout inside the transformer layers.
    n_heads : int
        Attention heads (default 2).
    n_layers : int
        Transformer layers (default 1).

    Shapes
    ------
    ``forward(x [B, T]) → EncoderOutput(embedding [B, D], token_attention [B, T])``.
    """

    input_kind = "dense"

    def __init__(self, *, in_dim: int, embed_dim: int, dropout: float, n_heads: int = 2,
                 n_layers: int = 1) -> None:
        super().__init__()
        n_layers = check_positive_int(n_layers, "n_layers", "PathwayTokenEncoder")
        if isinstance(n_heads, bool) or not isinstance(n_heads, int) or n_heads < 1 \
                or embed_dim % n_heads:
            raise UsageError(f"The 'n_heads' parameter of PathwayTokenEncoder must be a "
                             f"positive int that divides embed_dim={embed_dim}. "
                             f"Got {n_heads!r} instead.")
        self.in_dim, self.out_dim = in_dim, embed_dim
        self.token_weight = nn.Parameter(torch.randn(in_dim, embed_dim) * embed_dim ** -0.5)
        self.token_bias = nn.Parameter(torch.randn(in_dim, embed_dim) * embed_dim ** -0.5)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(embed_dim, n_heads, dim_feedforward=2 * embed_dim,
                                       dropout=dropout, activation="gelu", batch_first=True,
                                       norm_first=True)
            for _ in range(n_layers))
        self.norm = nn.LayerNorm(embed_dim)
        self.attention_v = nn.Linear(embed_dim, embed_dim)
        self.attention_u = nn.Linear(embed_dim, embed_dim)
        # no bias: the softmax over tokens is shift-invariant, a bias could never learn
        self.attention_w = nn.Linear(embed_dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        x = _check_dense(x, self.in_dim, "PathwayTokenEncoder")
        tokens = x[:, :, None] * self.token_weight + self.token_bias        # [B, T, D]
        for layer in self.layers:
            tokens = layer(tokens)
        tokens = self.norm(tokens)
        logits = self.attention_w(torch.tanh(self.attention_v(tokens))
                                  * torch.sigmoid(self.attention_u(tokens))).squeeze(-1)
        weights = torch.softmax(logits, dim=1)                              # [B, T]
        return EncoderOutput(embedding=torch.einsum("bt,btd->bd", weights, tokens),
                             token_attention=weights)


class TreatmentFiLM(nn.Module):
    """Feature-wise linear modulation of the fused vector by the treatment received.

    Each treatment variable v (e.g. ``ia_modality``, ``tki_agent``, ``pd1_agent``) has a
    learned embedding of its category code; the concatenated embeddings give, through one
    linear map, ``γ = 1 + Δγ`` and ``β`` and the output is ``γ ⊙ z + β`` (Perez et al., AAAI
    2018). The map is initialised with small weights and zero bias so the module starts near
    the identity and the treatment effect is learned, not imposed.

    Parameters
    ----------
    cardinalities : sequence of int
        Number of codes per treatment variable, code 0 (unknown/other) included.
    embed_dim : int
        Embedding width per variable.
    out_dim : int
        Width of the vector being modulated.

    Shapes
    ------
    ``forward(z [B, out_dim], codes Long [B, V]) → [B, out_dim]``.
    """

    def __init__(self, cardinalities: Sequence[int], embed_dim: int, out_dim: int) -> None:
        super().__init__()
        if isinstance(cardinalities, (str, bytes)) or not isinstance(cardinalities, Sequence) \
                or len(cardinalities) == 0:
            raise UsageError(f"The 'cardinalities' parameter of TreatmentFiLM must be a "
                             f"non-empty list of positive ints. Got {cardinalities!r} instead.")
        self.cardinalities = tuple(check_positive_int(c, "cardinalities", "TreatmentFiLM")
                                   for c in cardinalities)
        embed_dim = check_positive_int(embed_dim, "embed_dim", "TreatmentFiLM")
        self.out_dim = check_positive_int(out_dim, "out_dim", "TreatmentFiLM")
        self.embeddings = nn.ModuleList(nn.Embedding(c, embed_dim) for c in self.cardinalities)
        self.to_film = nn.Linear(len(self.cardinalities) * embed_dim, 2 * self.out_dim)
        nn.init.normal_(self.to_film.weight, std=1e-2)
        nn.init.zeros_(self.to_film.bias)

    def forward(self, z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        n_vars = len(self.cardinalities)
        if not isinstance(codes, torch.Tensor) or codes.dtype.is_floating_point \
                or codes.shape != (z.shape[0], n_vars):
            got = (f"{tuple(codes.shape)} {codes.dtype}" if isinstance(codes, torch.Tensor)
                   else type(codes).__name__)
            raise UsageError(f"The 'codes' parameter of TreatmentFiLM.forward must be an "
                             f"integer tensor of shape [{z.shape[0]}, {n_vars}]. "
                             f"Got {got} instead.")
        high = torch.tensor(self.cardinalities, device=codes.device)
        bad = (codes < 0) | (codes >= high)
        if bool(bad.any()):
            row, var = (int(i) for i in bad.nonzero()[0])
            raise DataError(f"Treatment code {int(codes[row, var])} in row {row}, variable "
                            f"{var} is outside [0, {self.cardinalities[var]}). Re-encode the "
                            f"treatment with the CategoryEncoder fitted for this model.")
        embedded = torch.cat([emb(codes[:, v]) for v, emb in enumerate(self.embeddings)], dim=1)
        delta_gamma, beta = self.to_film(embedded).chunk(2, dim=1)
        return (1.0 + delta_gamma) * z + beta
