"""``hcc_stats``: a fast, weight-free tile encoder of stain, nuclei and texture statistics.

It needs no download, so the whole pipeline runs anywhere, and each of its features has a
meaning a pathologist can check. Every statistic is computed for a whole batch at once in
torch (no per-tile Python loop) on 224-px tiles at 0.5 µm/px; the stain and nuclei maps are
averaged to 1 µm/px (112 px) first, which keeps a lymphocyte (≈ 6 µm) several pixels wide and
costs a quarter of the work.

Colour deconvolution (Ruifrok & Johnston 2001): RGB → optical density
``OD = -log10((I + 1) / 256)`` per channel, then stain concentrations
``[H, E, DAB] = OD · M⁻¹`` with ``M`` the row-normalised H&E-DAB matrix
(H = 0.650, 0.704, 0.286; E = 0.072, 0.990, 0.105; DAB = 0.268, 0.570, 0.776). With the
same matrix, scikit-image's ``separate_stains`` on ``(I + 1) / 256`` gives our values / 6
(it scales by ``ln(1e-6)`` instead of ``ln(10)``); a test pins that.

Thresholds (H concentration, OD units): tissue = summed RGB OD > 0.3; nuclear = H > 0.25;
dark (lymphocyte-like) = H > 0.8 — chosen on the simulator's two stain protocols, where
tumour nuclei reach H ≈ 0.4–0.65 and lymphocytes 0.8–1.9; on real slides from one lab,
stain-normalise first. Nuclei are counted at 1 µm/px as local maxima of the 3 × 3-smoothed
H map within 5 × 5 px (≥ 3 µm apart) above 0.3, one per flat top; a maximum above the dark
threshold counts as a small dark (lymphocyte-like) nucleus — the simulator's lymphocytes are
round, 5.8 µm across and about twice as dark as tumour nuclei. Densities are per mm² of
tissue, at the encoder's 0.5 µm/px.

A fixed darkness threshold depends on how strongly a lab stains: on the simulated study the
second centre's haematoxylin is 15 % stronger, its fibroblast and darker tumour nuclei cross
H = 0.8, and the bag-mean lymphocyte density there tracks the tumour's immune state at r = 0.55
instead of 0.83. Stain-relative darkness does not move with the stain's strength: each tile's
reference is the 10th percentile of the smoothed H at its nucleus centres, and a nucleus counts
as darker than ``k`` × that reference for k in :data:`RELATIVE_DARK` (shares of the nuclei and
densities per mm²). The 10th percentile stays a tumour or parenchymal nucleus even in a tile
packed with lymphocytes (the simulator's immune-hot slides: median reference H 0.41 in the
first centre, 0.56 in the second), where a median or 30th percentile would itself be a
lymphocyte and the count would collapse. On the simulated 800-patient study the bag-mean
density at k = 1.5 tracks the immune state at r = 0.85 in the first centre and 0.88 in the
second, and a ridge read-out of the immune state from the bag means and SDs (features
standardised per centre) trained in one centre explains R² 0.83 and 0.81 of it in the other,
against 0.54 and 0.66 with the 36 features of version 2.

Lumens (pseudo-glandular spaces, the pattern of β-catenin-activated HCC) are the white space
that a morphological closing of the tissue mask at 2 µm/px fills (:data:`LUMEN_CLOSING_UM`).

The features, in output order, are listed in :data:`HCC_STATS_FEATURES`; their definitions are
versioned (:data:`HCC_STATS_VERSION`) and fingerprinted (:data:`HCC_STATS_DEFINITION_SHA256`).

References
----------
Ruifrok A.C., Johnston D.A. Quantification of histochemical staining by color
deconvolution. Analytical and Quantitative Cytology and Histology 23:291–299, 2001.
Haralick R.M. et al. Textural features for image classification. IEEE Trans SMC 3:610, 1973.
Serra J. Image Analysis and Mathematical Morphology. Academic Press, 1982 (closing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["HCC_STATS_DEFINITION_SHA256", "HCC_STATS_FEATURES", "HCC_STATS_VERSION",
           "LUMEN_CLOSING_UM", "RELATIVE_DARK", "RUIFROK_HED", "build_hcc_stats",
           "hed_concentrations"]

RUIFROK_HED = np.array([[0.650, 0.704, 0.286], [0.072, 0.990, 0.105], [0.268, 0.570, 0.776]])
"""Stain OD vectors (rows: haematoxylin, eosin, DAB; columns R, G, B), before normalising."""

TISSUE_OD = 0.3
NUCLEAR_H = 0.25
PEAK_H = 0.3
DARK_H = 0.8
MPP = 0.5
_UM2_PER_MM2 = 1e6
_HIST_BINS = 64
_HIST_MAX_OD = 1.6
RELATIVE_DARK = (1.3, 1.5, 1.7, 1.9, 2.2)
"""Multiples of a tile's reference nucleus darkness (10th percentile of the smoothed H at its
nucleus centres) above which a nucleus counts as relatively dark."""


def _k_name(k: float) -> str:
    return f"{round(100 * k)}"


HCC_STATS_FEATURES: tuple[tuple[str, str], ...] = (
    ("tissue_fraction", "share of the tile with summed RGB OD > 0.3"),
    ("h_mean", "mean haematoxylin OD over tissue"),
    ("h_sd", "SD of haematoxylin OD over tissue (1 µm/px)"),
    ("h_p10", "10th percentile of haematoxylin OD over tissue (64-bin histogram, 0–1.6)"),
    ("h_p50", "median haematoxylin OD over tissue"),
    ("h_p90", "90th percentile of haematoxylin OD over tissue"),
    ("e_mean", "mean eosin OD over tissue"),
    ("e_sd", "SD of eosin OD over tissue (1 µm/px)"),
    ("e_p10", "10th percentile of eosin OD over tissue"),
    ("e_p50", "median eosin OD over tissue"),
    ("e_p90", "90th percentile of eosin OD over tissue"),
    ("dab_mean", "mean residual (DAB) channel over tissue: misfit of the H&E stain model"),
    ("od_red", "mean red-channel OD over tissue"),
    ("od_green", "mean green-channel OD over tissue"),
    ("od_blue", "mean blue-channel OD over tissue"),
    ("saturation", "mean (max - min) / max of RGB over tissue (1 µm/px)"),
    ("nuclear_fraction", "share of tissue with H > 0.25"),
    ("dark_fraction", "share of tissue with H > 0.8 (small dark nuclei)"),
    ("nuclei_per_mm2", "nuclei (H maxima above 0.3) per mm² of tissue"),
    ("nuclear_area_um2", "nuclear area per counted nucleus (µm²)"),
    ("nuclei_darkness_sd", "SD of the smoothed H at nuclei centres (pleomorphism proxy)"),
    ("lymphocytes_per_mm2", "dark (H > 0.8) nuclei per mm² of tissue: lymphocyte density"),
    ("lymphocyte_share", "dark nuclei / all nuclei"),
    ("dark_area_um2", "dark-nucleus area per dark nucleus (µm²): small = lymphocyte-like"),
    ("aggregate_fraction", "share of tissue whose 28-µm neighbourhood is > 35 % dark nuclei"),
    ("h_grad_energy_1", "mean squared H gradient at 0.5 µm/px"),
    ("h_grad_energy_2", "mean squared H gradient at 1 µm/px"),
    ("h_local_var_1", "mean 3 × 3 local variance of H at 1 µm/px"),
    ("h_local_var_2", "mean 3 × 3 local variance of H at 2 µm/px"),
    ("h_contrast_d1", "mean |H(x) - H(x + d)|, d = 0.5 µm (GLCM-like contrast)"),
    ("h_contrast_d4", "mean |H(x) - H(x + d)|, d = 4 µm"),
    ("e_grad_energy_1", "mean squared eosin gradient at 1 µm/px"),
    ("e_local_var_1", "mean 3 × 3 local variance of eosin at 1 µm/px"),
    ("eosin_intensity", "mean eosin OD over non-nuclear tissue (cytoplasm, stroma)"),
    ("h_to_e_ratio", "h_mean / e_mean"),
    ("lumen_fraction", "share of the tissue area (lumens included) that is white space closed "
                       "in by tissue, up to 30 µm across: pseudo-glandular lumens (2 µm/px)"),
    ("nucleus_h_p10", "10th percentile of the smoothed H at nucleus centres: the tile's "
                      "reference nucleus darkness"),
    ("nucleus_h_p50", "median of the smoothed H at nucleus centres"),
    ("nucleus_h_p90", "90th percentile of the smoothed H at nucleus centres"),
    ("nucleus_h_p90_to_p10", "nucleus_h_p90 / nucleus_h_p10 (stain-strength free)"),
    *((f"rel_dark_share_{_k_name(k)}", f"nuclei darker than {k:g} × nucleus_h_p10 / all nuclei")
      for k in RELATIVE_DARK),
    *((f"rel_dark_per_mm2_{_k_name(k)}", f"nuclei darker than {k:g} × nucleus_h_p10 per mm² "
       "of tissue") for k in RELATIVE_DARK),
)
"""(name, meaning) of each ``hcc_stats`` feature, in output order."""

HCC_STATS_VERSION = 3
"""Version of the feature definitions; bumped whenever a feature's computation changes.
Version 2 (hccfusion 2026-11): ``lumen_fraction`` finds a lumen by morphological closing of the
tissue mask instead of a 10-µm neighbourhood test, which saw only a lumen's rim (a lumen is
5–12 µm in radius), and is a share of the tissue area instead of the tile's. Version 3: the
stain-relative nucleus darkness features (``nucleus_h_*``, ``rel_dark_*``) follow the 36 of
version 2, which are unchanged."""

LUMEN_CLOSING_UM = 30.0
"""Side (µm) of the square that closes the tissue mask: white space narrower than this and
closed in by tissue counts as lumen; the background beyond the tissue edge does not."""


def _definition_sha256() -> str:
    import hashlib

    text = "\n".join([f"hcc_stats/{HCC_STATS_VERSION}", f"mpp={MPP}",
                      *(f"{name}: {meaning}" for name, meaning in HCC_STATS_FEATURES)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


HCC_STATS_DEFINITION_SHA256 = _definition_sha256()
"""SHA-256 of the feature definitions (version, resolution, names and meanings). A weight-free
encoder records it where a checkpoint's hash would go (``EncoderSpec.weights_sha256``), so bags
made by an earlier definition are re-extracted, and a bundle refuses them."""


def hed_concentrations(od: torch.Tensor) -> torch.Tensor:
    """Haematoxylin, eosin and DAB concentrations from optical density.

    Parameters
    ----------
    od : torch.Tensor
        ``[B, 3, H, W]`` RGB optical density (``-log10`` of transmitted light).

    Returns
    -------
    torch.Tensor
        ``[B, 3, H, W]``: H, E, DAB (OD units).
    """
    import torch

    m = RUIFROK_HED / np.linalg.norm(RUIFROK_HED, axis=1, keepdims=True)
    to_stain = torch.as_tensor(np.linalg.inv(m).T, dtype=od.dtype, device=od.device)
    b, c, h, w = od.shape
    # a per-pixel 3 × 3 product as one batched matmul (≈ 25× faster than a 1 × 1 conv on CPU)
    return (to_stain @ od.reshape(b, c, h * w)).view(b, 3, h, w)


def _box3(x: torch.Tensor) -> torch.Tensor:
    """3 × 3 mean with edge replication, as shifted sums (cheaper than pooling on CPU)."""
    import torch.nn.functional as F

    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    rows = p[..., :-2, :] + p[..., 1:-1, :] + p[..., 2:, :]
    return (rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]) / 9.0


def _peaks5(x: torch.Tensor) -> torch.Tensor:
    """True at one pixel per local maximum of x within 5 × 5 (separable max pooling).

    A flat-topped nucleus is a plateau of equal values; a tiny ramp that grows with the
    pixel's raster index (in float64, below any real intensity step) leaves exactly one
    maximum per plateau instead of one per plateau pixel.
    """
    import torch
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    ramp = torch.arange(h * w, dtype=torch.float64, device=x.device).view(1, 1, h, w) * 1e-12
    y = x.double() + ramp
    m = F.max_pool2d(y, (1, 5), stride=1, padding=(0, 2))
    return y >= F.max_pool2d(m, (5, 1), stride=1, padding=(2, 0))


def _percentiles(v: torch.Tensor, w: torch.Tensor, qs: tuple[float, ...]) -> list[torch.Tensor]:
    """Weighted percentiles per tile from a fixed 64-bin histogram on [0, 1.6] OD."""
    import torch

    b = v.shape[0]
    width = _HIST_MAX_OD / _HIST_BINS
    idx = (v / width).long().clamp_(0, _HIST_BINS - 1).view(b, -1)
    idx = idx + torch.arange(b, device=v.device)[:, None] * _HIST_BINS
    hist = torch.bincount(idx.view(-1), weights=w.reshape(-1), minlength=b * _HIST_BINS)
    cdf = hist.view(b, _HIST_BINS).cumsum(1)
    cdf = cdf / cdf[:, -1:].clamp_min(1e-9)
    return [((cdf < q).sum(1).clamp(max=_HIST_BINS - 1).to(v.dtype) + 0.5) * width for q in qs]


def _grad_energy(v: torch.Tensor) -> torch.Tensor:
    dx = v[..., :, 1:] - v[..., :, :-1]
    dy = v[..., 1:, :] - v[..., :-1, :]
    return (dx * dx).mean((1, 2, 3)) + (dy * dy).mean((1, 2, 3))


def _local_var(v: torch.Tensor) -> torch.Tensor:
    m = _box3(v)
    return (_box3(v * v) - m * m).clamp_min(0.0).mean((1, 2, 3))


def _lumen_fraction(tissue_2: torch.Tensor) -> torch.Tensor:
    """Lumen area over tissue + lumen area, per tile, from the tissue share at 2 µm/px.

    A lumen is a non-tissue pixel that the morphological closing (dilation, then erosion, by
    a :data:`LUMEN_CLOSING_UM` square; Serra 1982) of the tissue mask fills: white space closed
    in by tissue on all sides within that width. At the tile's border the square is cut to the
    tile, so a gap is judged on what the tile shows."""
    import torch.nn.functional as F

    k = int(round(LUMEN_CLOSING_UM / (4 * MPP))) | 1        # odd side in 2-µm pixels

    def square_max(v: torch.Tensor) -> torch.Tensor:   # a k × k square is a row then a column
        v = F.max_pool2d(v, (1, k), stride=1, padding=(0, k // 2))
        return F.max_pool2d(v, (k, 1), stride=1, padding=(k // 2, 0))

    tissue = (tissue_2 > 0.5).to(tissue_2.dtype)
    closed = -square_max(-square_max(tissue))               # dilation, then erosion
    lumen = closed * (1.0 - tissue)
    area = lumen.sum((1, 2, 3))
    return area / (area + tissue.sum((1, 2, 3))).clamp_min(1.0)


def _hcc_stats(x: torch.Tensor) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    b = x.shape[0]
    # 2 × 2 mean to 1 µm/px from here on (strided sums: ≈ 2× faster than avg_pool2d on CPU)
    x = x[..., : x.shape[-2] // 2 * 2, : x.shape[-1] // 2 * 2]
    rgb = (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2]) * 0.25
    od = torch.log10(rgb.mul(255.0).add_(1.0).div_(256.0)).neg_()
    hed = hed_concentrations(od)
    h, e = hed[:, 0:1], hed[:, 1:2]
    tissue = (od.sum(1, keepdim=True) > TISSUE_OD).to(x.dtype)
    n_t = tissue.sum((1, 2, 3)).clamp_min(1.0)
    px_um2 = (2 * MPP) ** 2
    area_mm2 = n_t * px_um2 / _UM2_PER_MM2

    mx, mn = rgb.amax(1, keepdim=True), rgb.amin(1, keepdim=True)
    sat = (mx - mn).div_(mx.clamp_min(1e-3))
    nuclear = (h > NUCLEAR_H).to(x.dtype)
    dark = (h > DARK_H).to(x.dtype)
    # every tissue-weighted mean in one batched matrix product
    maps = torch.cat([hed, od, h * h, e * e, sat, nuclear, dark, e * nuclear], 1).view(b, 12, -1)
    w = torch.bmm(maps, tissue.view(b, -1, 1)).squeeze(-1) / n_t[:, None]
    f: dict[str, torch.Tensor] = {"tissue_fraction": tissue.mean((1, 2, 3))}
    f["h_mean"], f["e_mean"], f["dab_mean"] = w[:, 0], w[:, 1], w[:, 2]
    f["od_red"], f["od_green"], f["od_blue"] = w[:, 3], w[:, 4], w[:, 5]
    f["h_sd"] = (w[:, 6] - w[:, 0] ** 2).clamp_min(0.0).sqrt()
    f["e_sd"] = (w[:, 7] - w[:, 1] ** 2).clamp_min(0.0).sqrt()
    f["saturation"] = w[:, 8]
    f["nuclear_fraction"], f["dark_fraction"] = w[:, 9], w[:, 10]
    plain_share = (1.0 - w[:, 9]).clamp_min(1.0 / n_t)
    f["eosin_intensity"] = (w[:, 1] - w[:, 11]) / plain_share  # eosin over non-nuclear tissue
    for name, v in (("h", h), ("e", e)):
        p10, p50, p90 = _percentiles(v, tissue, (0.1, 0.5, 0.9))
        f[f"{name}_p10"], f[f"{name}_p50"], f[f"{name}_p90"] = p10, p50, p90

    smooth = _box3(h)
    peaks = _peaks5(smooth)
    centre = (peaks & (smooth > PEAK_H)).to(x.dtype) * tissue
    dark_centre = centre * (smooth > DARK_H).to(x.dtype)
    at = torch.cat([centre, dark_centre], 1).view(b, 2, -1)
    values = torch.cat([torch.ones_like(smooth), smooth, smooth * smooth], 1).view(b, 3, -1)
    cm = torch.bmm(at, values.transpose(1, 2))  # [B, 2, 3]: count, Σ H, Σ H² at centres
    n_nuc, n_dark = cm[:, 0, 0], cm[:, 1, 0]
    per_nucleus = n_nuc.clamp_min(1.0)
    c_mean, c_sq = cm[:, 0, 1] / per_nucleus, cm[:, 0, 2] / per_nucleus
    f["nuclei_per_mm2"] = n_nuc / area_mm2
    f["nuclear_area_um2"] = w[:, 9] * n_t * px_um2 / per_nucleus
    f["nuclei_darkness_sd"] = (c_sq - c_mean * c_mean).clamp_min(0.0).sqrt()
    f["lymphocytes_per_mm2"] = n_dark / area_mm2
    f["lymphocyte_share"] = n_dark / per_nucleus
    f["dark_area_um2"] = w[:, 10] * n_t * px_um2 / n_dark.clamp_min(1.0)
    dark_2, tissue_2 = F.avg_pool2d(dark * tissue, 2), F.avg_pool2d(tissue, 2)  # 2 µm/px
    dense = F.avg_pool2d(dark_2, 7, stride=1, padding=3, count_include_pad=False) > 0.35
    f["aggregate_fraction"] = ((dense.to(x.dtype) * tissue_2).sum((1, 2, 3))
                               / tissue_2.sum((1, 2, 3)).clamp_min(1e-6))
    f["lumen_fraction"] = _lumen_fraction(tissue_2)
    # stain-relative darkness: against the tile's own reference nucleus, not a fixed OD
    has = (n_nuc > 0).to(x.dtype)                  # a tile without a nucleus reads 0
    ref, p50, p90 = (v * has for v in _percentiles(smooth, centre, (0.1, 0.5, 0.9)))
    f["nucleus_h_p10"], f["nucleus_h_p50"], f["nucleus_h_p90"] = ref, p50, p90
    f["nucleus_h_p90_to_p10"] = p90 / ref.clamp_min(_HIST_MAX_OD / _HIST_BINS / 2)
    over = torch.stack([(centre * (smooth > k * ref.view(b, 1, 1, 1)).to(x.dtype)).sum((1, 2, 3))
                        for k in RELATIVE_DARK], 1)                        # [B, K] counts
    for j, k in enumerate(RELATIVE_DARK):
        f[f"rel_dark_share_{_k_name(k)}"] = over[:, j] / per_nucleus
        f[f"rel_dark_per_mm2_{_k_name(k)}"] = over[:, j] / area_mm2

    h_2 = F.avg_pool2d(h, 2)
    f["h_grad_energy_1"], f["h_grad_energy_2"] = _grad_energy(h), _grad_energy(h_2)
    f["h_local_var_1"], f["h_local_var_2"] = _local_var(h), _local_var(h_2)
    for d in (1, 4):
        f[f"h_contrast_d{d}"] = 0.5 * ((h[..., :, d:] - h[..., :, :-d]).abs().mean((1, 2, 3))
                                       + (h[..., d:, :] - h[..., :-d, :]).abs().mean((1, 2, 3)))
    f["e_grad_energy_1"], f["e_local_var_1"] = _grad_energy(e), _local_var(e)
    f["h_to_e_ratio"] = f["h_mean"] / f["e_mean"].abs().clamp_min(1e-3)
    return torch.stack([f[name] for name, _ in HCC_STATS_FEATURES], dim=1)


def build_hcc_stats():
    """The ``hcc_stats`` module: ``[B, 3, H, W]`` RGB in 0–1 → ``[B, 50]`` features."""
    from torch import nn

    class HccStats(nn.Module):
        """Stain, nuclei and texture statistics per tile (no parameters)."""

        out_dim = len(HCC_STATS_FEATURES)

        def forward(self, x):
            return _hcc_stats(x)

    return HccStats()
