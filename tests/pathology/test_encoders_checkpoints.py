"""Checkpoint loading for the ViT, Swin and ResNet backbones: published key names, tensors that
arrive, refused mismatches and checksums — and the ViT/Swin arithmetic against references."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hccfusion.errors import DataError
from hccfusion.pathology.encoders import TILE_ENCODERS, get_tile_encoder
from tests.pathology.test_encoders_registry import TINY, published_state

# key names of the published checkpoints (timm ViT, timm 0.5.4 Swin, torchvision ResNet)
PUBLISHED_KEYS = {
    "uni": ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
            "blocks.0.norm1.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.bias",
            "blocks.0.ls1.gamma", "blocks.0.mlp.fc1.weight", "blocks.1.mlp.fc2.bias",
            "blocks.1.ls2.gamma", "norm.weight", "norm.bias"],
    "uni2_h": ["cls_token", "reg_token", "pos_embed", "blocks.0.mlp.fc1.weight",
               "blocks.0.mlp.fc2.weight", "blocks.0.ls2.gamma"],
    "virchow2": ["cls_token", "reg_token", "pos_embed", "blocks.1.mlp.fc1.bias"],
    "gigapath": ["cls_token", "pos_embed", "blocks.1.ls1.gamma", "blocks.1.mlp.fc1.weight"],
    "conch": ["cls_token", "pos_embed", "blocks.1.attn.qkv.bias", "norm.weight"],
    "ctranspath": ["patch_embed.proj.0.weight", "patch_embed.proj.1.running_var",
                   "patch_embed.proj.3.weight", "patch_embed.proj.6.bias", "patch_embed.norm.weight",
                   "layers.0.blocks.1.attn.relative_position_bias_table",
                   "layers.0.blocks.0.attn.qkv.weight", "layers.0.blocks.0.mlp.fc1.weight",
                   "layers.0.downsample.reduction.weight", "layers.2.downsample.norm.bias",
                   "norm.weight"],
    "resnet50_imagenet": ["conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight",
                          "layer1.0.downsample.0.weight", "layer1.0.downsample.1.weight",
                          "layer3.0.bn3.bias", "layer2.0.conv2.weight"],
}


def _save(tmp_path, state, name="ckpt.bin"):
    path = tmp_path / name
    torch.save(state, path)
    return path


@pytest.mark.parametrize("name", list(PUBLISHED_KEYS))
def test_module_uses_the_published_key_names(name):
    keys = set(TILE_ENCODERS[name].build(**TINY[name]).state_dict())
    missing = [k for k in PUBLISHED_KEYS[name] if k not in keys]
    assert not missing


@pytest.mark.parametrize("name", list(TINY))
def test_a_planted_tensor_arrives(tmp_path, name):
    state = published_state(name, seed=3)
    inner = state["model"] if name == "ctranspath" else state
    key = {"conch": "visual.trunk.blocks.1.attn.qkv.weight",
           "ctranspath": "layers.2.blocks.1.attn.proj.weight",
           "resnet50_imagenet": "layer3.0.conv2.weight"}.get(name, "blocks.1.attn.qkv.weight")
    inner[key] = torch.full_like(inner[key], 0.125)
    enc = get_tile_encoder(name, weights=_save(tmp_path, state), _arch=TINY[name])
    own = key.removeprefix("visual.trunk.")
    assert torch.all(enc.module.state_dict()[own] == 0.125)


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    state = published_state("uni")
    del state["blocks.0.attn.qkv.weight"]
    state["blocks.0.attn.q_bias"] = torch.zeros(64)
    with pytest.raises(DataError) as err:
        get_tile_encoder("uni", weights=_save(tmp_path, state), _arch=TINY["uni"])
    message = str(err.value)
    assert "1 missing keys (blocks.0.attn.qkv.weight)" in message
    assert "1 unexpected keys (blocks.0.attn.q_bias)" in message
    assert "ckpt.bin" in message


def test_many_missing_keys_are_cut_to_the_first_few(tmp_path):
    state = {k: v for k, v in published_state("uni").items() if not k.startswith("blocks.")}
    with pytest.raises(DataError, match=r"missing keys \(blocks\.0\.norm1\.weight, .* \(\+\d+ more\)"):
        get_tile_encoder("uni", weights=_save(tmp_path, state), _arch=TINY["uni"])


def test_a_checkpoint_of_another_size_is_a_shape_mismatch(tmp_path):
    state = published_state("uni")  # embed_dim 64, loaded into embed_dim 32
    smaller = dict(TINY["uni"], embed_dim=32)
    with pytest.raises(DataError, match=r"shape mismatches \(checkpoint vs model: cls_token \(1, 1, 64\) vs \(1, 1, 32\)"):
        get_tile_encoder("uni", weights=_save(tmp_path, state), _arch=smaller)


def test_wrong_sha256_is_a_data_error_and_the_right_one_passes(tmp_path):
    path = _save(tmp_path, published_state("ctranspath"), "ctranspath.pth")
    with pytest.raises(DataError, match=r"ctranspath.pth: sha256 .* differs from the expected 0{64}"):
        get_tile_encoder("ctranspath", weights=path, expected_sha256="0" * 64, _arch=TINY["ctranspath"])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    enc = get_tile_encoder("ctranspath", weights=path, expected_sha256=digest.upper(),
                           _arch=TINY["ctranspath"])
    assert enc.spec.weights_sha256 == digest


def test_resnet_requires_layer1_to_layer3_and_ignores_layer4(tmp_path):
    state = published_state("resnet50_imagenet")
    del state["layer3.0.downsample.0.weight"]
    with pytest.raises(DataError, match=r"missing keys \(layer3\.0\.downsample\.0\.weight\)"):
        get_tile_encoder("resnet50_imagenet", weights=_save(tmp_path, state),
                         _arch=TINY["resnet50_imagenet"])


def test_split_swiglu_checkpoint_is_packed_gate_first(tmp_path):
    """timm's split SwiGLU (fc1_g gate, fc1_x value) and the packed fc1 are the same layer."""
    arch = TINY["uni2_h"]
    packed = published_state("uni2_h", seed=5)
    split = {}
    for key, value in packed.items():
        if ".mlp.fc1." in key:
            gate, val = value.chunk(2, dim=0)
            split[key.replace(".fc1.", ".fc1_g.")] = gate
            split[key.replace(".fc1.", ".fc1_x.")] = val
        else:
            split[key] = value
    a = get_tile_encoder("uni2_h", weights=_save(tmp_path, packed, "a.bin"), _arch=arch)
    b = get_tile_encoder("uni2_h", weights=_save(tmp_path, split, "b.bin"), _arch=arch)
    tiles = np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    np.testing.assert_array_equal(a.encode(tiles), b.encode(tiles))


def test_packed_swiglu_is_silu_of_the_first_half_times_the_second():
    torch.manual_seed(0)
    block = TILE_ENCODERS["uni2_h"].build(**TINY["uni2_h"]).blocks[0].mlp
    x = torch.randn(5, 64)
    w1, b1 = block.fc1.weight, block.fc1.bias
    h = w1.shape[0] // 2
    expected = block.fc2(F.silu(x @ w1[:h].T + b1[:h]) * (x @ w1[h:].T + b1[h:]))
    torch.testing.assert_close(block(x), expected)


def test_vit_attention_matches_torch_multihead_attention():
    torch.manual_seed(1)
    attn = TILE_ENCODERS["uni"].build(**TINY["uni"]).blocks[0].attn
    reference = torch.nn.MultiheadAttention(64, 4, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(attn.qkv.weight)
        reference.in_proj_bias.copy_(attn.qkv.bias)
        reference.out_proj.weight.copy_(attn.proj.weight)
        reference.out_proj.bias.copy_(attn.proj.bias)
    x = torch.randn(2, 10, 64)
    torch.testing.assert_close(attn(x), reference(x, x, x, need_weights=False)[0], atol=1e-5, rtol=1e-4)


def test_virchow2_embedding_is_class_token_then_mean_patch_token():
    torch.manual_seed(2)
    vit = TILE_ENCODERS["virchow2"].build(**TINY["virchow2"]).eval()
    x = torch.randn(2, 3, 224, 224)
    tokens = vit.forward_tokens(x)
    assert tokens.shape == (2, 1 + 4 + 256, 64)
    out = vit(x)
    torch.testing.assert_close(out[:, :64], tokens[:, 0])
    torch.testing.assert_close(out[:, 64:], tokens[:, 5:].mean(dim=1))


def test_vit_resamples_positions_for_another_tile_size():
    vit = TILE_ENCODERS["uni"].build(**TINY["uni"]).eval()
    with torch.no_grad():
        assert vit(torch.randn(1, 3, 256, 256)).shape == (1, 64)
        prefix, patch = vit._patch_pos(14, 14)
        torch.testing.assert_close(torch.cat([prefix, patch], 1), vit.pos_embed)


def test_swin_relative_positions_and_shift_mask():
    swin = TILE_ENCODERS["ctranspath"].build(**TINY["ctranspath"])
    block = swin.layers[0].blocks[1]  # shifted block on the 56 × 56 map
    index = block.attn.relative_position_index
    assert index.shape == (49, 49) and index.min() == 0 and index.max() == 13 * 13 - 1
    assert torch.all(index.diagonal() == 6 * 13 + 6)  # zero offset sits in the table's centre
    assert index[0, 48] == 0 and index[48, 0] == 13 * 13 - 1  # (-6, -6) and (+6, +6)
    mask = block.attn_mask
    assert mask.shape == (64, 49, 49)
    assert torch.all(mask[0] == 0)  # an interior window is not cut by the shift
    assert (mask[-1] == -100).any()  # the corner window mixes wrapped regions
    assert swin.layers[0].blocks[0].attn_mask is None  # unshifted block
    assert swin.layers[3].blocks[1].shift == 0  # 7 × 7 map = one window: no shift


def test_vit_adopts_a_half_precision_checkpoint_without_meta_leftovers(tmp_path):
    """ViTs are built on the meta device and take the checkpoint's tensors (one copy of a
    1.1 B-parameter model in memory); fp16 files come out float32 and nothing stays on meta."""
    state = {k: v.half() for k, v in published_state("gigapath", seed=4).items()}
    enc = get_tile_encoder("gigapath", weights=_save(tmp_path, state), _arch=TINY["gigapath"])
    tensors = list(enc.module.parameters()) + list(enc.module.buffers())
    assert all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
    torch.testing.assert_close(enc.module.pos_embed, state["pos_embed"].float())
    out = enc.encode(np.full((1, 224, 224, 3), 128, np.uint8))
    assert np.isfinite(out).all()
