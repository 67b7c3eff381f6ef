"""Gated attention MIL (ABMIL).

Ilse, Tomczak & Welling, "Attention-based Deep Multiple Instance Learning", ICML 2018, eq. 9:
with instance embeddings ``h_i = ReLU(W x_i)``,

    a_i = softmax_i( wᵀ ( tanh(V h_i) ⊙ sigm(U h_i) ) ),      z = Σ_i a_i h_i.

The softmax runs over every instance of the bag — across all the patient's slides — so the
patient embedding weighs tiles of different slides against each other. The pooling is a
weighted sum, hence invariant to the order of the instances.
"""

from __future__ import annotations

import torch
from torch import nn

from hccfusion.models.mil.mean import MilPooler, segment_softmax

__all__ = ["GatedAttentionMil"]


class GatedAttentionMil(MilPooler):
    """Gated attention pooling (Ilse et al. 2018).

    Parameters
    ----------
    in_dim : int
        Instance feature dimension.
    hidden_dim : int
        Width of the instance embedding ``h``; ``out_dim == hidden_dim``.
    dropout : float
        Dropout after the instance projection and inside the attention branches.
    attention_dim : int, optional
        Width of the attention branches ``V`` and ``U``; default ``hidden_dim``.
    """

    def __init__(self, *, in_dim: int, hidden_dim: int, dropout: float,
                 attention_dim: int | None = None) -> None:
        super().__init__()
        attention_dim = hidden_dim if attention_dim is None else int(attention_dim)
        self.in_dim = in_dim
        self.out_dim = hidden_dim
        self.project = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout))
        self.attention_v = nn.Sequential(nn.Linear(hidden_dim, attention_dim), nn.Tanh(),
                                         nn.Dropout(dropout))
        self.attention_u = nn.Sequential(nn.Linear(hidden_dim, attention_dim), nn.Sigmoid(),
                                         nn.Dropout(dropout))
        # no bias: softmax is invariant to a shift, so a bias here could never learn
        self.attention_w = nn.Linear(attention_dim, 1, bias=False)

    def _pool(self, x: torch.Tensor, groups: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.project(x)                                              # [N, hidden]
        logits = self.attention_w(self.attention_v(h) * self.attention_u(h)).squeeze(-1)
        attention = torch.softmax(logits, dim=0)                         # [N]
        return attention @ h, attention

    def _pool_flat(self, x: torch.Tensor, segment: torch.Tensor, n_bags: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.project(x)                                              # [ΣN, hidden]
        logits = self.attention_w(self.attention_v(h) * self.attention_u(h)).squeeze(-1)
        attention = segment_softmax(logits, segment, n_bags)             # [ΣN]
        pooled = torch.zeros((n_bags, h.shape[1]), dtype=h.dtype, device=h.device) \
            .index_add(0, segment, h * attention[:, None])
        return pooled, attention
