"""TransMIL: transformer-based correlated MIL.

Shao et al., "TransMIL: Transformer based Correlated Multiple Instance Learning for Whole Slide
Image Classification", NeurIPS 2021. The TPT module: instance projection → the sequence is
squared (padded by repeating its first tokens up to ``side²``) → a class token is prepended →
Nyström self-attention layer → PPEG (depthwise 7×7, 5×5 and 3×3 convolutions over the tokens
laid out on the ``side × side`` grid, plus identity) → second attention layer → LayerNorm →
the class token is the bag embedding.

The self-attention is the Nyström approximation of Xiong et al., "Nyströmformer", AAAI 2021:
with ``m`` landmarks (segment means of the queries and keys),
``softmax(QKᵀ) V ≈ softmax(Q K̃ᵀ) · pinv(softmax(Q̃ K̃ᵀ)) · softmax(Q̃ Kᵀ) V``, the
pseudo-inverse by the iterative Newton–Schulz scheme of the paper (6 iterations). A sequence
no longer than ``m`` uses exact attention (tiny bags).

Two choices of ours, documented because they differ from the reference code:

- Order. PPEG makes the network depend on the token order. The reference squares the tokens in
  their storage order; here they are first put in a canonical order — by slide (``groups``),
  then by a fixed random projection of the features — so the patient embedding does not depend
  on the order tiles were stored in (the MIL invariance our registry suite checks).
- Attention. ``MilOutput.attention`` is the *exact* softmax attention of the class-token query
  over the instance tokens in the last layer, averaged over heads, with padding duplicates
  folded back onto their originals and renormalised to sum to 1 — the class-token attention
  the paper visualises, computed for one query row (O(N)) rather than read from the Nyström
  approximation (whose rows need not be non-negative).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hccfusion.errors import UsageError
from hccfusion.models.mil.mean import MilPooler

__all__ = ["NystromAttention", "TransMil"]


def _pinv_newton_schulz(a: torch.Tensor, iterations: int) -> torch.Tensor:
    """Approximate Moore–Penrose inverse of a batch of square matrices ``a`` [..., m, m]
    (Razavi et al. 2014 iteration, as used by Nyströmformer)."""
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    col = a.abs().sum(dim=-2).amax(dim=-1)
    row = a.abs().sum(dim=-1).amax(dim=-1)
    z = a.transpose(-1, -2) / (col * row)[..., None, None]
    for _ in range(iterations):
        az = a @ z
        z = 0.25 * z @ (13 * eye - az @ (15 * eye - az @ (7 * eye - az)))
    return z


class NystromAttention(nn.Module):
    """Multi-head self-attention with the Nyström approximation (Xiong et al. 2021).

    Parameters
    ----------
    dim : int
        Token width; must be divisible by ``n_heads``.
    n_heads : int
        Number of heads.
    n_landmarks : int
        Number of landmarks ``m``; sequences of length ≤ ``m`` use exact attention.
    dropout : float
        Dropout on the output projection.
    pinv_iterations : int
        Newton–Schulz iterations of the pseudo-inverse.
    """

    def __init__(self, *, dim: int, n_heads: int, n_landmarks: int, dropout: float,
                 pinv_iterations: int = 6) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.n_landmarks = n_landmarks
        self.pinv_iterations = pinv_iterations
        self.head_dim = dim // n_heads
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout))

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        length = x.shape[0]
        q, k, v = (t.reshape(length, self.n_heads, self.head_dim).transpose(0, 1)
                   for t in self.to_qkv(x).chunk(3, dim=-1))          # each [H, L, dh]
        return q * self.head_dim ** -0.5, k, v

    def _landmarks(self, t: torch.Tensor) -> torch.Tensor:
        length = t.shape[1]
        segment = torch.arange(length, device=t.device) * self.n_landmarks // length
        sums = t.new_zeros(t.shape[0], self.n_landmarks, t.shape[2]).index_add(1, segment, t)
        counts = torch.bincount(segment, minlength=self.n_landmarks).to(t.dtype)
        return sums / counts[None, :, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over a sequence ``x`` [L, dim] → [L, dim]."""
        q, k, v = self._qkv(x)
        if x.shape[0] <= self.n_landmarks:
            out = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
        else:
            q_l, k_l = self._landmarks(q), self._landmarks(k)               # [H, m, dh]
            kernel_1 = torch.softmax(q @ k_l.transpose(-1, -2), dim=-1)     # [H, L, m]
            kernel_2 = torch.softmax(q_l @ k_l.transpose(-1, -2), dim=-1)   # [H, m, m]
            kernel_3 = torch.softmax(q_l @ k.transpose(-1, -2), dim=-1)     # [H, m, L]
            out = kernel_1 @ (_pinv_newton_schulz(kernel_2, self.pinv_iterations)
                              @ (kernel_3 @ v))
        return self.to_out(out.transpose(0, 1).reshape(x.shape[0], -1))

    def query_attention(self, x: torch.Tensor, index: int = 0) -> torch.Tensor:
        """Exact softmax attention of token ``index`` over all tokens of ``x`` [L, dim],
        averaged over heads → [L] (sums to 1)."""
        q, k, _ = self._qkv(x)
        return torch.softmax(q[:, index:index + 1] @ k.transpose(-1, -2), dim=-1)[:, 0].mean(0)


class _TransLayer(nn.Module):
    def __init__(self, **attention_kw) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(attention_kw["dim"])
        self.attention = NystromAttention(**attention_kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attention(self.norm(x))


class _Ppeg(nn.Module):
    """Pyramid position encoding generator: depthwise convolutions on the token grid."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(dim, dim, size, padding=size // 2, groups=dim)
                                   for size in (7, 5, 3))

    def forward(self, x: torch.Tensor, side: int) -> torch.Tensor:
        cls, tokens = x[:1], x[1:]
        grid = tokens.transpose(0, 1).reshape(1, -1, side, side)       # [1, C, side, side]
        grid = grid + sum(conv(grid) for conv in self.convs)
        return torch.cat([cls, grid.reshape(x.shape[1], -1).transpose(0, 1)], dim=0)


class TransMil(MilPooler):
    """TransMIL pooler (Shao et al. 2021) with Nyström attention and PPEG.

    Parameters
    ----------
    in_dim : int
        Instance feature dimension.
    hidden_dim : int
        Token width; ``out_dim == hidden_dim``; divisible by ``n_heads``.
    dropout : float
        Dropout after the instance projection and on the attention outputs.
    n_heads : int
        Attention heads (default 4).
    n_landmarks : int, optional
        Nyström landmarks (default ``max(1, hidden_dim // 2)``, as the paper's ``dim / 2``).
    """

    def __init__(self, *, in_dim: int, hidden_dim: int, dropout: float, n_heads: int = 4,
                 n_landmarks: int | None = None) -> None:
        super().__init__()
        if isinstance(n_heads, bool) or not isinstance(n_heads, int) or n_heads < 1 \
                or hidden_dim % n_heads:
            raise UsageError(f"The 'n_heads' parameter of TransMil must be a positive int that "
                             f"divides hidden_dim={hidden_dim}. Got {n_heads!r} instead.")
        n_landmarks = max(1, hidden_dim // 2) if n_landmarks is None else n_landmarks
        if isinstance(n_landmarks, bool) or not isinstance(n_landmarks, int) or n_landmarks < 1:
            raise UsageError(f"The 'n_landmarks' parameter of TransMil must be a positive int. "
                             f"Got {n_landmarks!r} instead.")
        self.in_dim = in_dim
        self.out_dim = hidden_dim
        self.project = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout))
        self.cls_token = nn.Parameter(torch.randn(1, hidden_dim) * 0.02)
        attention_kw = dict(dim=hidden_dim, n_heads=n_heads, n_landmarks=n_landmarks,
                            dropout=dropout)
        self.layer_1 = _TransLayer(**attention_kw)
        self.ppeg = _Ppeg(hidden_dim)
        self.layer_2 = _TransLayer(**attention_kw)
        self.norm = nn.LayerNorm(hidden_dim)
        # a fixed projection that orders the tokens canonically (see the module docstring)
        order_key = torch.randn(in_dim, generator=torch.Generator().manual_seed(0))
        self.register_buffer("order_key", order_key)

    def _canonical_order(self, x: torch.Tensor, groups: torch.Tensor | None) -> torch.Tensor:
        order = torch.sort(x.detach() @ self.order_key.to(x.dtype), stable=True).indices
        if groups is not None:
            order = order[torch.sort(groups[order], stable=True).indices]
        return order

    def _pool(self, x: torch.Tensor, groups: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        order = self._canonical_order(x, groups)
        h = self.project(x[order])                                       # [N, D]
        side = math.isqrt(n - 1) + 1                                     # ceil(sqrt(n))
        source = torch.cat([torch.arange(n, device=x.device),
                            torch.arange(side * side - n, device=x.device) % n])
        tokens = torch.cat([self.cls_token.to(h.dtype), h[source]], dim=0)   # [1 + side², D]
        tokens = self.ppeg(self.layer_1(tokens), side)
        cls_row = self.layer_2.attention.query_attention(self.layer_2.norm(tokens))[1:]
        tokens = self.layer_2(tokens)
        embedding = self.norm(tokens[0])
        in_order = cls_row.new_zeros(n).index_add(0, source, cls_row)
        return embedding, (in_order / in_order.sum())[torch.argsort(order)]
