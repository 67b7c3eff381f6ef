"""Fusion of modality embeddings under missing modalities.

Every fusion maps ``(embeddings [B, M, D], available Bool [B, M])`` to a
:class:`FusionOutput` and has ``out_dim``. An unavailable modality never influences the output:
its embedding slot is replaced by zeros before anything else (so even a NaN there is harmless),
and each fusion then handles the missing slot explicitly as documented on its class. Every
patient must have at least one available modality.

Registry :data:`FUSIONS` (built by :func:`get_fusion`; both live in
:mod:`hccfusion.models.registry`):

- ``late`` (:class:`LateFusion`): concatenation plus the availability bits → linear.
- ``gated`` (:class:`GatedAttentionFusion`): gated attention over the available modalities.
- ``kronecker`` (:class:`LowRankTensorFusion`): low-rank multimodal tensor fusion.
- ``cross_attention`` (:class:`CrossAttentionFusion`): a CLS token attending over modality
  tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hccfusion.errors import DataError, UsageError
from hccfusion.models.registry import FUSIONS, check_positive_int, get_fusion

__all__ = ["FUSIONS", "CrossAttentionFusion", "Fusion", "FusionOutput", "GatedAttentionFusion",
           "LateFusion", "LowRankTensorFusion", "get_fusion"]


@dataclass(frozen=True)
class FusionOutput:
    """What a fusion returns.

    Attributes
    ----------
    fused : torch.Tensor
        Shape ``[B, out_dim]``.
    weights : torch.Tensor or None
        Shape ``[B, M]``: the weight of each modality (rows sum to 1, exactly 0 for an
        unavailable modality) for the attention fusions; None for ``late`` and ``kronecker``.
    """

    fused: torch.Tensor
    weights: torch.Tensor | None = None


class Fusion(nn.Module):
    """Base class: checks the inputs, zeroes the unavailable slots and calls ``_fuse``."""

    n_modalities: int
    dim: int
    out_dim: int

    def _fuse(self, embeddings: torch.Tensor, available: torch.Tensor) -> FusionOutput:
        raise NotImplementedError

    def forward(self, embeddings: torch.Tensor, available: torch.Tensor) -> FusionOutput:
        """Fuse a batch.

        Parameters
        ----------
        embeddings : torch.Tensor
            Shape ``[B, M, D]``, float.
        available : torch.Tensor
            Shape ``[B, M]``, bool; True where the modality is present. Each row needs at
            least one True.

        Returns
        -------
        FusionOutput
        """
        name = type(self).__name__
        m, d = self.n_modalities, self.dim
        if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 3 \
                or embeddings.shape[1:] != (m, d) or not embeddings.dtype.is_floating_point:
            got = (tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor)
                   else type(embeddings).__name__)
            raise UsageError(f"The 'embeddings' parameter of {name}.forward must be a float "
                             f"tensor of shape [B, {m}, {d}]. Got {got} instead.")
        b = embeddings.shape[0]
        if not isinstance(available, torch.Tensor) or available.dtype != torch.bool \
                or available.shape != (b, m):
            got = (f"{tuple(available.shape)} {available.dtype}"
                   if isinstance(available, torch.Tensor) else type(available).__name__)
            raise UsageError(f"The 'available' parameter of {name}.forward must be a bool "
                             f"tensor of shape [{b}, {m}]. Got {got} instead.")
        none = ~available.any(dim=1)
        if bool(none.any()):
            raise DataError(f"Row {int(none.nonzero()[0])} of 'available' has no available "
                            f"modality; every patient needs at least one.")
        zeroed = torch.where(available[:, :, None], embeddings, torch.zeros_like(embeddings))
        return self._fuse(zeroed, available)


class LateFusion(Fusion):
    """Late fusion by concatenation with explicit missingness.

    ``fused = W [z_1 ⊙ a_1, …, z_M ⊙ a_M, a_1, …, a_M] + b`` with ``a_m`` the availability bit.
    Appending the bits makes missingness an input the model sees: a missing modality is not
    the same as an available one whose embedding happens to be zero (which zero imputation
    would conflate) — the layer learns a separate offset per missing modality.

    Parameters
    ----------
    n_modalities, dim, dropout
        M, D and the dropout on the concatenated vector.
    out_dim : int, optional
        Output width; default ``dim``.
    """

    def __init__(self, *, n_modalities: int, dim: int, dropout: float,
                 out_dim: int | None = None) -> None:
        super().__init__()
        self.n_modalities, self.dim = n_modalities, dim
        self.out_dim = dim if out_dim is None else check_positive_int(out_dim, "out_dim",
                                                                      "LateFusion")
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(n_modalities * dim + n_modalities, self.out_dim)

    def _fuse(self, embeddings: torch.Tensor, available: torch.Tensor) -> FusionOutput:
        flat = torch.cat([self.dropout(embeddings.flatten(1)), available.to(embeddings.dtype)],
                         dim=1)
        return FusionOutput(fused=self.linear(flat))


class GatedAttentionFusion(Fusion):
    """Gated attention over the available modalities (Ilse, Tomczak & Welling, ICML 2018,
    applied to modality embeddings instead of instances).

    ``s_m = wᵀ(tanh(V z_m) ⊙ sigm(U z_m)) + e_m`` with ``e_m`` a learned per-modality offset;
    ``α = softmax(s)`` with ``s_m = −∞`` for an unavailable modality (so its weight is exactly
    0 and the weights of the available ones sum to 1); ``fused = Σ_m α_m z_m``.

    Parameters
    ----------
    n_modalities, dim, dropout
        M, D and the dropout inside the attention branches.
    attention_dim : int, optional
        Width of the branches ``V`` and ``U``; default ``dim``.
    """

    def __init__(self, *, n_modalities: int, dim: int, dropout: float,
                 attention_dim: int | None = None) -> None:
        super().__init__()
        self.n_modalities, self.dim, self.out_dim = n_modalities, dim, dim
        width = dim if attention_dim is None else check_positive_int(
            attention_dim, "attention_dim", "GatedAttentionFusion")
        self.attention_v = nn.Sequential(nn.Linear(dim, width), nn.Tanh(), nn.Dropout(dropout))
        self.attention_u = nn.Sequential(nn.Linear(dim, width), nn.Sigmoid(),
                                         nn.Dropout(dropout))
        # no bias: the softmax ignores a shift shared by all modalities, so it would never learn
        self.attention_w = nn.Linear(width, 1, bias=False)
        self.modality_offset = nn.Parameter(torch.zeros(n_modalities))

    def _fuse(self, embeddings: torch.Tensor, available: torch.Tensor) -> FusionOutput:
        scores = self.attention_w(self.attention_v(embeddings) * self.attention_u(embeddings))
        scores = scores.squeeze(-1) + self.modality_offset                    # [B, M]
        scores = scores.masked_fill(~available, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return FusionOutput(fused=torch.einsum("bm,bmd->bd", weights, embeddings),
                            weights=weights)


class LowRankTensorFusion(Fusion):
    """Low-rank multimodal tensor fusion (Liu et al., "Efficient Low-rank Multimodal Fusion
    with Modality-Specific Factors", ACL 2018).

    PathomicFusion (Chen et al., IEEE TMI 2020) fuses modalities by the Kronecker product of
    the vectors each augmented with a constant 1, ``Z = ⊗_m [z_m; 1]``, which keeps every
    unimodal and cross-modal interaction term; a linear map of ``Z`` has ``Π_m (D+1)`` inputs.
    Liu et al. factorise that weight tensor at rank r: with per-modality factors
    ``W_m^(i) ∈ R^{(D+1) × out}``,

        fused = Σ_{i=1..r} λ_i Π_m ( [z_m; 1] W_m^(i) ) + b      (products elementwise).

    Missing modality: its vector is taken as ``[0; 1]``, i.e. it contributes only its
    constant-1 term — its factor reduces to the factors' last (bias) row — so the other
    modalities' terms pass through unchanged. Because of the multiplicative form this is the
    same as feeding a zero embedding, so unlike ``late`` this fusion does not see
    missingness beyond that.

    Parameters
    ----------
    n_modalities, dim, dropout
        M, D and the dropout on each modality vector.
    rank : int
        r, default 4.
    out_dim : int, optional
        Output width; default ``dim``.
    """

    def __init__(self, *, n_modalities: int, dim: int, dropout: float, rank: int = 4,
                 out_dim: int | None = None) -> None:
        super().__init__()
        self.n_modalities, self.dim = n_modalities, dim
        self.rank = check_positive_int(rank, "rank", "LowRankTensorFusion")
        self.out_dim = dim if out_dim is None else check_positive_int(
            out_dim, "out_dim", "LowRankTensorFusion")
        self.dropout = nn.Dropout(dropout)
        factors = torch.empty(n_modalities, self.rank, dim + 1, self.out_dim)
        for m in range(n_modalities):
            nn.init.xavier_normal_(factors[m])
        # the constant-1 row starts at 1 so that an all-missing-but-one product starts as that
        # modality's linear map rather than a product of random numbers
        factors[:, :, dim, :] += 1.0
        self.factors = nn.Parameter(factors)
        self.rank_weights = nn.Parameter(torch.full((self.rank,), 1.0 / self.rank))
        self.bias = nn.Parameter(torch.zeros(self.out_dim))

    def _fuse(self, embeddings: torch.Tensor, available: torch.Tensor) -> FusionOutput:
        ones = embeddings.new_ones(embeddings.shape[0], self.n_modalities, 1)
        augmented = torch.cat([self.dropout(embeddings), ones], dim=2)        # [B, M, D+1]
        per_modality = torch.einsum("bmd,mrdo->bmro", augmented, self.factors)
        product = per_modality.prod(dim=1)                                    # [B, r, out]
        fused = torch.einsum("r,bro->bo", self.rank_weights, product) + self.bias
        return FusionOutput(fused=fused)


class _AttentionLayer(nn.Module):
    """Pre-norm transformer encoder layer that also returns its attention weights."""

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, n_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.feedforward = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout),
                                         nn.Linear(2 * dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.norm1(x)
        attended, weights = self.attention(h, h, h, key_padding_mask=padding,
                                           need_weights=True, average_attn_weights=True)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.feedforward(self.norm2(x)))
        return x, weights


class CrossAttentionFusion(Fusion):
    """A CLS token attending over the modality tokens (transformer fusion; Vaswani et al.
    2017, the CLS read-out of BERT, Devlin et al. 2019).

    Tokens: a learned CLS token and ``z_m + t_m`` per modality (``t_m`` a learned
    modality-type embedding). ``n_layers`` pre-norm transformer layers run with a key padding
    mask that hides the unavailable modalities, so no token attends to them; the output is
    the final-normed CLS token. ``weights`` is the CLS token's attention over the modality
    tokens in the last layer (averaged over heads), its attention on itself left out and the
    rest renormalised to sum to 1.

    Parameters
    ----------
    n_modalities, dim, dropout
        M, D and the dropout of the residual branches.
    n_heads : int
        Attention heads; must divide ``dim`` (default 2).
    n_layers : int
        1 or 2 layers suffice for M ≤ 4 tokens (default 1).
    """

    def __init__(self, *, n_modalities: int, dim: int, dropout: float, n_heads: int = 2,
                 n_layers: int = 1) -> None:
        super().__init__()
        self.n_modalities, self.dim, self.out_dim = n_modalities, dim, dim
        n_layers = check_positive_int(n_layers, "n_layers", "CrossAttentionFusion")
        if isinstance(n_heads, bool) or not isinstance(n_heads, int) or n_heads < 1 \
                or dim % n_heads:
            raise UsageError(f"The 'n_heads' parameter of CrossAttentionFusion must be a "
                             f"positive int that divides dim={dim}. Got {n_heads!r} instead.")
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.type_embedding = nn.Parameter(torch.randn(1, n_modalities, dim) * 0.02)
        self.layers = nn.ModuleList(_AttentionLayer(dim, n_heads, dropout)
                                    for _ in range(n_layers))
        self.norm = nn.LayerNorm(dim)

    def _fuse(self, embeddings: torch.Tensor, available: torch.Tensor) -> FusionOutput:
        b = embeddings.shape[0]
        tokens = torch.cat([self.cls.expand(b, -1, -1), embeddings + self.type_embedding], dim=1)
        padding = torch.cat([available.new_zeros(b, 1), ~available], dim=1)   # True = hidden
        weights = tokens.new_zeros(b, 1 + self.n_modalities, 1 + self.n_modalities)
        for layer in self.layers:
            tokens, weights = layer(tokens, padding)
        over_modalities = weights[:, 0, 1:]
        over_modalities = over_modalities / over_modalities.sum(dim=1, keepdim=True)
        return FusionOutput(fused=self.norm(tokens[:, 0]), weights=over_modalities)
