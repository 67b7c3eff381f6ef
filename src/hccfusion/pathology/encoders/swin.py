"""CTransPath's backbone: a Swin-T whose patch embedding is a small convolutional stem, with
the parameter names of the published ``ctranspath.pth`` (timm 0.5.4's ``SwinTransformer``).

Names: ``patch_embed.proj.{0,1,3,4,6}`` (conv 3→C/8 s2, BN, ReLU, conv C/8→C/4 s2, BN, ReLU,
1×1 conv C/4→C) and ``patch_embed.norm``; ``layers.i.blocks.j.{norm1, attn.qkv, attn.proj,
attn.relative_position_bias_table, norm2, mlp.fc1, mlp.fc2}``; ``layers.i.downsample.
{norm, reduction}`` at the *end* of stages 0–2 (timm ≤ 0.6 layout); final ``norm``. The
buffers ``relative_position_index`` and ``attn_mask`` are rebuilt from the configuration, so
a checkpoint's copies are dropped on load. The feature is the mean of the final tokens after
``norm`` (768-d for Swin-T).

References
----------
Liu Z. et al. Swin Transformer: hierarchical vision transformer using shifted windows.
ICCV 2021.
Wang X. et al. Transformer-based unsupervised contrastive learning for histopathological
image classification (CTransPath). Medical Image Analysis 81:102559, 2022.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SwinTransformer"]


class _ConvStem(nn.Module):
    def __init__(self, *, embed_dim: int) -> None:
        super().__init__()
        c1, c2 = embed_dim // 8, embed_dim // 4
        self.proj = nn.Sequential(
            nn.Conv2d(3, c1, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.Conv2d(c2, embed_dim, 1),
        )
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        b, c, h, w = x.shape
        return self.norm(x.flatten(2).transpose(1, 2)), h, w


def _windows(x: torch.Tensor, ws: int) -> torch.Tensor:
    """[B, H, W, C] → [B·nW, ws·ws, C]."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def _unwindows(x: torch.Tensor, ws: int, b: int, h: int, w: int) -> torch.Tensor:
    c = x.shape[-1]
    x = x.view(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


class _WindowAttention(nn.Module):
    def __init__(self, *, dim: int, num_heads: int, ws: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * ws - 1) + rel[..., 1],
                             persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, d = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, -1).permute(2, 0, 1)[None]  # [1, heads, N, N]
        if mask is not None:  # [nW, N, N], same for every image of the batch
            nw = mask.shape[0]
            bias = (bias + mask[:, None]).repeat(bw // nw, 1, 1, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(bw, n, d))


class _Mlp(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _SwinBlock(nn.Module):
    def __init__(self, *, dim: int, num_heads: int, ws: int, shift: int, res: int) -> None:
        super().__init__()
        if res <= ws:  # a single window covers the map: no shifting (as the reference code)
            ws, shift = res, 0
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim=dim, num_heads=num_heads, ws=ws)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim)
        mask = None
        if shift:
            label = torch.zeros(1, res, res, 1)
            cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
            for i, (hs, wsl) in enumerate((a, b) for a in cuts for b in cuts):
                label[:, hs, wsl, :] = i
            lw = _windows(label, ws).squeeze(-1)  # [nW, N]
            same = lw[:, None, :] == lw[:, :, None]
            mask = torch.zeros(same.shape).masked_fill(~same, -100.0)
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = _unwindows(self.attn(_windows(y, self.ws), self.attn_mask), self.ws, b, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(b, n, c)
        return x + self.mlp(self.norm2(x))


class _PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        # timm ≤ 0.6 order: (even, even), (odd, even), (even, odd), (odd, odd) rows/cols
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class _Stage(nn.Module):
    def __init__(self, *, dim: int, depth: int, num_heads: int, ws: int, res: int,
                 downsample: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _SwinBlock(dim=dim, num_heads=num_heads, ws=ws, shift=(ws // 2) * (i % 2), res=res)
            for i in range(depth)
        )
        self.downsample = _PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, int, int]:
        for block in self.blocks:
            x = block(x, h, w)
        if self.downsample is not None:
            x, h, w = self.downsample(x, h, w), h // 2, w // 2
        return x, h, w


class SwinTransformer(nn.Module):
    """Swin Transformer with CTransPath's convolutional stem; ``[B, 3, img, img]`` → ``[B, 8C]``.

    Parameters
    ----------
    img_px : int
        Input side (px); the attention masks are built for it (CTransPath: 224).
    embed_dim : int
        Width C of the first stage (Swin-T: 96; must be a multiple of 8 for the stem).
    depths, num_heads : tuple of int
        Blocks and heads per stage (Swin-T: (2, 2, 6, 2), (3, 6, 12, 24)).
    window : int
        Attention window side (7).
    """

    def __init__(self, *, img_px: int = 224, embed_dim: int = 96,
                 depths: tuple[int, ...] = (2, 2, 6, 2), num_heads: tuple[int, ...] = (3, 6, 12, 24),
                 window: int = 7) -> None:
        super().__init__()
        self.img_px = img_px
        self.patch_embed = _ConvStem(embed_dim=embed_dim)
        res = img_px // 4
        stages = []
        for i, (depth, heads) in enumerate(zip(depths, num_heads, strict=True)):
            last = i == len(depths) - 1
            stages.append(_Stage(dim=embed_dim * 2**i, depth=depth, num_heads=heads, ws=window,
                                 res=res, downsample=not last))
            res //= 2
        self.layers = nn.ModuleList(stages)
        self.out_dim = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(self.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.img_px or x.shape[-2] != self.img_px:
            raise ValueError(f"this Swin expects {self.img_px}-px inputs, got {tuple(x.shape[-2:])}")
        x, h, w = self.patch_embed(x)
        for stage in self.layers:
            x, h, w = stage(x, h, w)
        return self.norm(x).mean(dim=1)
