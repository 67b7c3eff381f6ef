"""A Vision Transformer whose parameter names match timm's ``VisionTransformer`` checkpoints.

timm does not import beside the CPU torch this project pins (it pulls torchvision), so the
pathology foundation models that ship as timm ViT checkpoints — UNI (ViT-L/16), UNI2-h
(ViT-H/14, SwiGLU, 8 register tokens), Virchow2 (ViT-H/14, SwiGLU, 4 register tokens),
Prov-GigaPath (ViT-g, patch 16, SwiGLU) and CONCH's vision trunk (ViT-B/16 at 448 px) — load
into this module instead. The names follow timm: ``cls_token``, ``reg_token``, ``pos_embed``,
``patch_embed.proj``, ``blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1,
mlp.fc2, ls2.gamma}``, ``norm``.

The SwiGLU models were published with timm's *packed* layer (``SwiGLUPacked`` =
``GluMlp(act=SiLU, gate_last=False)``): one ``mlp.fc1`` of width 2h whose first half is the
gate, ``silu(gate) * value``, and ``mlp.fc2`` of input width h. A checkpoint written with
timm's split ``SwiGLU`` (``mlp.fc1_g`` gate, ``mlp.fc1_x`` value) is packed on load by
:func:`pack_split_swiglu`.

References
----------
Dosovitskiy A. et al. An image is worth 16x16 words. ICLR 2021.
Darcet T. et al. Vision transformers need registers. ICLR 2024.
Shazeer N. GLU variants improve transformer. arXiv:2002.05202, 2020.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["VisionTransformer", "pack_split_swiglu"]

_LN_EPS = 1e-6  # timm's ViT LayerNorm epsilon


class _PatchEmbed(nn.Module):
    def __init__(self, *, patch_px: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_px, stride=patch_px)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)  # [B, D, H/p, W/p]


class _Attention(nn.Module):
    def __init__(self, *, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # scale = head_dim ** -0.5, as timm
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class _LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class _GeluMlp(nn.Module):
    def __init__(self, *, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _PackedSwiGLU(nn.Module):
    """``fc1`` holds [gate; value] (width ``2 * hidden``); out = fc2(silu(gate) * value)."""

    def __init__(self, *, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 2 * hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.fc1(x).chunk(2, dim=-1)
        return self.fc2(F.silu(gate) * value)


class _Block(nn.Module):
    def __init__(self, *, dim: int, num_heads: int, mlp_hidden: int, swiglu: bool,
                 layer_scale: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=_LN_EPS)
        self.attn = _Attention(dim=dim, num_heads=num_heads)
        self.ls1 = _LayerScale(dim) if layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=_LN_EPS)
        mlp = _PackedSwiGLU if swiglu else _GeluMlp
        self.mlp = mlp(dim=dim, hidden=mlp_hidden)
        self.ls2 = _LayerScale(dim) if layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """Pre-norm ViT with timm parameter names; returns one feature vector per image.

    Parameters
    ----------
    img_px : int
        Image side the position embedding was trained for (px).
    patch_px : int
        Patch side (px).
    embed_dim, depth, num_heads : int
        Width, number of blocks, attention heads.
    mlp_hidden : int
        Hidden width of the MLP (for SwiGLU: the width after gating, i.e. ``fc2``'s input).
    swiglu : bool
        Packed SwiGLU MLP (SiLU gate) instead of GELU.
    layer_scale : bool
        LayerScale (``ls1.gamma``/``ls2.gamma``) after attention and MLP.
    reg_tokens : int
        Register tokens (``reg_token``), placed after the class token.
    no_embed_class : bool
        True: ``pos_embed`` covers the patch tokens only (timm ``no_embed_class``); False: it
        also covers the class and register tokens.
    pool : {"token", "token_mean"}
        ``token``: the final class token (``[B, D]``); ``token_mean``: the class token
        concatenated with the mean of the patch tokens (``[B, 2D]``, Virchow's embedding).

    Notes
    -----
    Input ``[B, 3, H, W]`` with H, W multiples of ``patch_px``; another grid than the trained
    one resamples the patch part of ``pos_embed`` bicubically (timm's ``dynamic_img_size``).
    """

    def __init__(self, *, img_px: int = 224, patch_px: int = 16, embed_dim: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_hidden: int = 3072,
                 swiglu: bool = False, layer_scale: bool = False, reg_tokens: int = 0,
                 no_embed_class: bool = False,
                 pool: Literal["token", "token_mean"] = "token") -> None:
        super().__init__()
        if img_px % patch_px or embed_dim % num_heads:
            raise ValueError("img_px must be a multiple of patch_px and embed_dim of num_heads")
        self.grid = img_px // patch_px
        self.num_prefix = 1 + reg_tokens
        self.no_embed_class = no_embed_class
        self.pool = pool
        self.out_dim = embed_dim * (2 if pool == "token_mean" else 1)
        self.patch_embed = _PatchEmbed(patch_px=patch_px, embed_dim=embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.reg_token = nn.Parameter(torch.zeros(1, reg_tokens, embed_dim)) if reg_tokens else None
        n_pos = self.grid**2 + (0 if no_embed_class else self.num_prefix)
        self.pos_embed = nn.Parameter(torch.randn(1, n_pos, embed_dim) * 0.02)
        self.blocks = nn.ModuleList(
            _Block(dim=embed_dim, num_heads=num_heads, mlp_hidden=mlp_hidden, swiglu=swiglu,
                   layer_scale=layer_scale)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=_LN_EPS)

    def _patch_pos(self, gh: int, gw: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(prefix part or None, patch part resized to gh × gw) of ``pos_embed``."""
        pos = self.pos_embed
        prefix = None if self.no_embed_class else pos[:, : self.num_prefix]
        patch = pos if self.no_embed_class else pos[:, self.num_prefix:]
        if (gh, gw) != (self.grid, self.grid):
            d = patch.shape[-1]
            grid = patch.reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False,
                                 antialias=gh < self.grid)
            patch = grid.permute(0, 2, 3, 1).reshape(1, gh * gw, d)
        return prefix, patch

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """All final tokens after the last norm: ``[B, 1 + reg + patches, D]``."""
        x = self.patch_embed(x)
        b, _, gh, gw = x.shape
        x = x.flatten(2).transpose(1, 2)
        prefix_pos, patch_pos = self._patch_pos(gh, gw)
        tokens = [self.cls_token.expand(b, -1, -1)]
        if self.reg_token is not None:
            tokens.append(self.reg_token.expand(b, -1, -1))
        if self.no_embed_class:
            x = torch.cat([*tokens, x + patch_pos], dim=1)
        else:
            x = torch.cat(tokens + [x], dim=1) + torch.cat([prefix_pos, patch_pos], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.forward_tokens(x)
        if self.pool == "token_mean":
            return torch.cat([tokens[:, 0], tokens[:, self.num_prefix:].mean(dim=1)], dim=-1)
        return tokens[:, 0]


def pack_split_swiglu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename timm's split SwiGLU (``mlp.fc1_g`` gate + ``mlp.fc1_x`` value) to the packed
    ``mlp.fc1`` (gate first), leaving every other key as it is."""
    out = dict(state)
    for key in [k for k in state if ".mlp.fc1_g." in k]:
        value_key = key.replace(".fc1_g.", ".fc1_x.")
        if value_key in out:
            out[key.replace(".fc1_g.", ".fc1.")] = torch.cat([out.pop(key), out.pop(value_key)], 0)
    return out


def param_count(module: nn.Module) -> int:
    """Number of learnable parameters (works on a ``meta``-device module)."""
    return sum(math.prod(p.shape) for p in module.parameters())
