"""The shared suite every registered tile encoder passes: shape, finiteness, determinism, batch
invariance, preprocessing, argument errors — plus the full-size architectures against their
published parameter counts. Foundation models run as tiny versions loaded from a tiny
checkpoint written with the published key names, so the loading path is exercised too."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hccfusion.errors import UsageError
from hccfusion.pathology.encoders import TILE_ENCODERS, get_tile_encoder

NAMES = tuple(TILE_ENCODERS)
BUILT_IN = ("hcc_stats", "efficientnet_lite0")

TINY: dict[str, dict] = {
    "uni": dict(embed_dim=64, depth=2, num_heads=4, mlp_hidden=128),
    "uni2_h": dict(embed_dim=64, depth=2, num_heads=4, mlp_hidden=96),
    "virchow2": dict(embed_dim=64, depth=2, num_heads=4, mlp_hidden=96),
    "gigapath": dict(embed_dim=64, depth=2, num_heads=4, mlp_hidden=96),
    "conch": dict(embed_dim=64, depth=2, num_heads=4, mlp_hidden=128),
    "ctranspath": dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4)),
    "resnet50_imagenet": dict(base=8, blocks=(1, 1, 1)),
}
"""Small architectures with the published layout (same key names, fewer/narrower layers)."""


def published_state(name: str, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random tiny state_dict named and wrapped the way the published checkpoint is."""
    torch.manual_seed(seed)
    module = TILE_ENCODERS[name].build(**TINY[name])
    for p in module.parameters():  # LayerScale starts at 1e-5: make every block matter
        if p.ndim == 1 and torch.all(p == 1e-5):
            p.data.fill_(0.5)
    state = module.state_dict()
    if name == "conch":  # the CoCa checkpoint: vision trunk under visual.trunk., plus the text tower
        state = {f"visual.trunk.{k}": v for k, v in state.items()}
        state["text.token_embedding.weight"] = torch.zeros(8, 4)
        state["visual.attn_pool_contrast.query"] = torch.zeros(1, 4)
    if name == "ctranspath":  # timm 0.5.4 saved these buffers; the file nests under 'model'
        for key, buf in module.named_buffers():
            if key.endswith("relative_position_index"):
                state[key] = buf.clone()
        state["layers.0.blocks.1.attn_mask"] = torch.zeros(64, 49, 49)
        return {"model": state}
    if name == "resnet50_imagenet":  # torchvision's file also has layer4 and the classifier
        state["layer4.0.conv1.weight"] = torch.zeros(8, 8, 1, 1)
        state["fc.weight"] = torch.zeros(1000, 32)
    return state


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for name in TINY:
        suffix = ".pth" if name in ("ctranspath", "resnet50_imagenet") else ".bin"
        path = folder / f"{name}{suffix}"
        torch.save(published_state(name), path)
        paths[name] = str(path)
    return paths


@pytest.fixture(scope="module")
def encoders(checkpoints):
    cache = {}

    def get(name: str):
        if name not in cache:
            if name in BUILT_IN:
                cache[name] = get_tile_encoder(name)
            else:
                cache[name] = get_tile_encoder(name, weights=checkpoints[name], _arch=TINY[name])
        return cache[name]

    return get


def _tiles(n: int, side: int, seed: int = 1) -> np.ndarray:
    """H&E-ish random tiles: pink background with darker purple speckle."""
    rng = np.random.default_rng(seed)
    base = np.array([215, 140, 180], np.float64)
    noise = rng.normal(0.0, 25.0, (n, side, side, 3))
    dots = (rng.random((n, side, side, 1)) < 0.08) * np.array([-120, -60, -40])
    return np.clip(base + noise + dots, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", NAMES)
def test_output_is_finite_with_the_declared_dimension(encoders, name):
    enc = encoders(name)
    out = enc.encode(_tiles(3, enc.spec.tile_px))
    assert out.shape == (3, enc.spec.dim)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert out.std() > 0  # not a constant map


@pytest.mark.parametrize("name", NAMES)
def test_encoding_is_deterministic_and_batch_invariant(encoders, name):
    enc = encoders(name)
    tiles = _tiles(3, enc.spec.tile_px, seed=2)
    together = enc.encode(tiles)
    np.testing.assert_array_equal(together, enc.encode(tiles))
    alone = np.concatenate([enc.encode(tiles[i:i + 1]) for i in range(3)])
    scale = np.abs(together).max()
    np.testing.assert_allclose(alone, together, atol=1e-4 * scale, rtol=1e-4)
    # different tiles give different features
    assert not np.allclose(together[0], together[1])


@pytest.mark.parametrize("name", NAMES)
def test_preprocess_resizes_and_normalises_with_the_spec(encoders, name):
    enc = encoders(name)
    spec = enc.spec
    tiles = np.full((2, 256, 256, 3), (200, 100, 50), np.uint8)
    x = enc.preprocess(tiles)
    assert tuple(x.shape) == (2, 3, spec.tile_px, spec.tile_px)
    expected = (np.array([200, 100, 50]) / 255.0 - np.array(spec.mean)) / np.array(spec.std)
    np.testing.assert_allclose(x.mean(dim=(0, 2, 3)).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_channel_count_is_a_usage_error(encoders, name):
    enc = encoders(name)
    with pytest.raises(UsageError, match=r"The 'tiles' parameter of TileEncoder.encode must be RGB"):
        enc.encode(np.zeros((2, 32, 32, 4), np.uint8))
    with pytest.raises(UsageError, match=r"must be uint8"):
        enc.encode(np.zeros((2, 32, 32, 3), np.float32))


def test_unknown_name_suggests_the_nearest():
    with pytest.raises(UsageError, match=r"unknown tile encoder 'uni_2h'; did you mean 'uni2_h'\?"):
        get_tile_encoder("uni_2h")
    with pytest.raises(UsageError, match=r"Available: hcc_stats, efficientnet_lite0, uni"):
        get_tile_encoder("resnet")


@pytest.mark.parametrize("name", [n for n in NAMES if n not in BUILT_IN])
def test_foundation_model_without_weights_says_where_to_get_them(name):
    spec = TILE_ENCODERS[name].spec
    assert spec.needs_weights and spec.weights_path is None
    with pytest.raises(UsageError) as err:
        get_tile_encoder(name)
    message = str(err.value)
    assert "--weights PATH" in message and TILE_ENCODERS[name].checkpoint in message
    assert "not downloaded" in message


def test_missing_checkpoint_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match=r"must be an existing checkpoint file"):
        get_tile_encoder("uni", weights=tmp_path / "absent.bin")


@pytest.mark.parametrize("name", [n for n in NAMES if n not in BUILT_IN])
def test_loaded_encoder_records_its_weight_file(encoders, checkpoints, name):
    import hashlib
    from pathlib import Path

    spec = encoders(name).spec
    digest = hashlib.sha256(Path(checkpoints[name]).read_bytes()).hexdigest()
    assert spec.weights_sha256 == digest
    assert Path(spec.weights_path) == Path(checkpoints[name]).resolve()


# published sizes: UNI 303 M (Chen 2024), UNI2-h 681 M, Virchow2 632 M, Prov-GigaPath tile
# encoder 1.13 B, CONCH's ViT-B/16 trunk 86 M, CTransPath 27.5 M, ResNet-50 to layer3 8.5 M
FULL_SIZE = {
    "uni": (303.35e6, 1024), "uni2_h": (681.4e6, 1536), "virchow2": (631.2e6, 2560),
    "gigapath": (1134.9e6, 1536), "conch": (86.25e6, 768), "ctranspath": (27.52e6, 768),
    "resnet50_imagenet": (8.54e6, 1024),
}


# timm layouts: UNI embeds the class token's position; UNI2-h (no_embed_class) only the 256
# patches; Virchow2 class + 4 registers + 256 patches; CONCH's trunk runs at 448 px (28² + 1)
POS_EMBED = {"uni": (1, 197, 1024), "uni2_h": (1, 256, 1536), "virchow2": (1, 261, 1280),
             "gigapath": (1, 197, 1536), "conch": (1, 785, 768)}


@pytest.mark.parametrize("name", list(FULL_SIZE))
def test_full_size_architecture_matches_the_published_model(name):
    with torch.device("meta"):
        module = TILE_ENCODERS[name].build()
    n_params = sum(math.prod(p.shape) for p in module.parameters())
    params, dim = FULL_SIZE[name]
    assert n_params == pytest.approx(params, rel=2e-3)
    assert module.out_dim == dim == TILE_ENCODERS[name].spec.dim
    if name in POS_EMBED:
        assert tuple(module.pos_embed.shape) == POS_EMBED[name]


def test_registry_specs_are_complete():
    for name, entry in TILE_ENCODERS.items():
        spec = entry.spec
        assert spec.name == name
        assert 0.1 <= spec.input_mpp <= 2.0 and spec.tile_px in (224, 448)
        assert len(spec.mean) == len(spec.std) == 3 and min(spec.std) > 0
        assert spec.licence_note and entry.checkpoint
        assert str(spec.tile_px) in entry.doc and str(spec.dim) in entry.doc
        assert f"{spec.input_mpp} µm/px" in entry.doc
    assert TILE_ENCODERS["efficientnet_lite0"].spec.weights_sha256 is not None
    with pytest.raises(TypeError):
        TILE_ENCODERS["uni"] = TILE_ENCODERS["hcc_stats"]  # read-only registry


def test_bad_weight_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match=r"must be None for 'hcc_stats'"):
        get_tile_encoder("hcc_stats", weights=tmp_path / "x.bin")
    with pytest.raises(UsageError, match=r"'expected_sha256' parameter .* needs 'weights'"):
        get_tile_encoder("uni", expected_sha256="0" * 64)
    with pytest.raises(UsageError, match=r"must be 64 hex characters. Got 'abc' instead"):
        get_tile_encoder("uni", weights=tmp_path / "x.bin", expected_sha256="abc")
