"""The built-in ``hcc_stats`` encoder (deconvolution against scikit-image, known answers on
drawn tiles, the simulator's planted immune signal) and the packaged EfficientNet-Lite0
(its ImageNet head still recognises real photographs through our preprocessing)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hccfusion.errors import DataError
from hccfusion.pathology.encoders import get_tile_encoder
from hccfusion.pathology.encoders.builtin import (
    HCC_STATS_FEATURES,
    RUIFROK_HED,
    hed_concentrations,
)

NAMES = [name for name, _ in HCC_STATS_FEATURES]
UNIT = RUIFROK_HED / np.linalg.norm(RUIFROK_HED, axis=1, keepdims=True)
AREA_MM2 = 224 * 224 * 0.25 / 1e6  # one 224-px tile at 0.5 µm/px


def _paint(h: np.ndarray, e: np.ndarray) -> np.ndarray:
    """RGB uint8 whose optical density is h·H + e·E (inverse of the deconvolution)."""
    od = h[..., None] * UNIT[0] + e[..., None] * UNIT[1]
    return np.clip(np.rint(256.0 * 10.0 ** (-od) - 1.0), 0, 255).astype(np.uint8)


def _disks(centres, radius, side=224):
    yy, xx = np.mgrid[:side, :side]
    out = np.zeros((side, side), bool)
    for cy, cx in centres:
        out |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    return out


@pytest.fixture(scope="module")
def enc():
    return get_tile_encoder("hcc_stats")


def _feature(enc, tiles, name):
    return enc.encode(tiles)[:, NAMES.index(name)]


def test_deconvolution_matches_scikit_image():
    """Same matrix, same algebra; scikit-image scales by ln(1e-6) and clips negatives at 0."""
    from skimage.color import separate_stains

    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3)).astype(np.float64)
    transmitted = (rgb + 1.0) / 256.0
    reference = separate_stains(transmitted, np.linalg.inv(UNIT), channel_axis=-1)
    od = torch.from_numpy(-np.log10(transmitted)).permute(2, 0, 1)[None]
    ours = hed_concentrations(od)[0].permute(1, 2, 0).numpy()
    assert (ours < 0).any()  # the comparison below covers both signs
    np.testing.assert_allclose(np.maximum(ours, 0.0), reference * (np.log(1e6) / np.log(10)),
                               rtol=1e-9, atol=1e-12)


def test_feature_table_is_documented_and_unique(enc):
    assert len(NAMES) == len(set(NAMES)) == enc.spec.dim == 50
    assert all(meaning for _, meaning in HCC_STATS_FEATURES)


def test_uniform_stain_is_recovered(enc):
    tile = _paint(np.full((224, 224), 0.5), np.full((224, 224), 0.2))[None]
    out = dict(zip(NAMES, enc.encode(tile)[0], strict=True))
    assert out["tissue_fraction"] == 1.0
    assert out["h_mean"] == pytest.approx(0.5, abs=0.01)
    assert out["e_mean"] == pytest.approx(0.2, abs=0.01)
    assert out["h_p50"] == pytest.approx(0.5, abs=0.0126)  # one histogram bin (1.6 / 64 / 2)
    assert out["h_sd"] < 0.01 and out["dab_mean"] == pytest.approx(0.0, abs=0.01)
    assert out["nuclear_fraction"] == 1.0 and out["dark_fraction"] == 0.0


def test_blank_glass_is_no_tissue_and_stays_finite(enc):
    out = enc.encode(np.full((1, 224, 224, 3), 243, np.uint8))[0]
    assert np.isfinite(out).all()
    assert out[NAMES.index("tissue_fraction")] == 0.0
    assert out[NAMES.index("lymphocytes_per_mm2")] == 0.0
    assert not out[NAMES.index("nucleus_h_p10"):].any()    # no nucleus: no reference darkness


def test_counts_small_dark_and_large_pale_nuclei(enc):
    """16 lymphocyte-like disks (r = 3 µm, H = 1.0) and 9 tumour-like ones (r = 4.5 µm,
    H = 0.45) on eosin: 25 nuclei, 16 of them dark, per 0.0125 mm²."""
    dark = _disks([(28 + 56 * i, 28 + 56 * j) for i in range(4) for j in range(4)], 6)
    pale = _disks([(56 + 56 * i, 56 + 56 * j) for i in range(3) for j in range(3)], 9)
    h = np.where(dark, 1.0, np.where(pale, 0.45, 0.02))
    tile = _paint(h, np.full(h.shape, 0.4))[None]
    out = dict(zip(NAMES, enc.encode(tile)[0], strict=True))
    assert out["lymphocytes_per_mm2"] == pytest.approx(16 / AREA_MM2, rel=0.01)
    assert out["nuclei_per_mm2"] == pytest.approx(25 / AREA_MM2, rel=0.01)
    assert out["lymphocyte_share"] == pytest.approx(16 / 25, abs=0.01)
    assert out["dark_area_um2"] == pytest.approx(np.pi * 3.0**2, rel=0.25)


def test_relative_darkness_does_not_move_with_the_stain_strength(enc):
    """16 dark (H = 1.3) and 9 pale (H = 0.72) nuclei, stained as drawn and 15 % stronger
    (the simulator's second centre): at × 1.15 the pale nuclei cross the fixed dark threshold
    (0.83 > 0.8) and the absolute count jumps from 16 to 25, while the nuclei darker than
    1.5 × the tile's reference stay the 16 dark ones."""
    from hccfusion.pathology.encoders.builtin import RELATIVE_DARK

    assert 1.5 in RELATIVE_DARK
    dark = _disks([(28 + 56 * i, 28 + 56 * j) for i in range(4) for j in range(4)], 6)
    pale = _disks([(56 + 56 * i, 56 + 56 * j) for i in range(3) for j in range(3)], 9)
    h = np.where(dark, 1.3, np.where(pale, 0.72, 0.02))
    tiles = np.stack([_paint(s * h, np.full(h.shape, 0.4)) for s in (1.0, 1.15)])
    out = [dict(zip(NAMES, row, strict=True)) for row in enc.encode(tiles)]
    assert [o["lymphocytes_per_mm2"] * AREA_MM2 for o in out] == pytest.approx([16, 25], abs=0.1)
    bin_width = 1.6 / 64
    for o, s in zip(out, (1.0, 1.15), strict=True):
        assert o["nucleus_h_p10"] == pytest.approx(0.72 * s, abs=bin_width)
        assert o["nucleus_h_p90"] == pytest.approx(1.3 * s, abs=bin_width)
        assert o["nucleus_h_p90_to_p10"] == pytest.approx(1.3 / 0.72, rel=0.05)
        assert o["rel_dark_per_mm2_150"] * AREA_MM2 == pytest.approx(16, abs=0.1)
        assert o["rel_dark_share_150"] == pytest.approx(16 / 25, abs=0.01)
        assert o["rel_dark_share_220"] == 0.0                  # 2.2 × 0.72 > 1.3


def test_lymphocyte_density_is_proportional_to_the_count(enc):
    few = _disks([(40, 40), (40, 180), (180, 40), (180, 180)], 6)
    many = _disks([(20 + 26 * i, 20 + 26 * j) for i in range(8) for j in range(8)], 6)
    tiles = np.stack([_paint(np.where(m, 1.0, 0.02), np.full(m.shape, 0.4)) for m in (few, many)])
    density = _feature(enc, tiles, "lymphocytes_per_mm2")
    assert density[1] / density[0] == pytest.approx(64 / 4, rel=0.02)


def test_lumens_closed_in_by_tissue_count_and_the_background_does_not(enc):
    """Tissue with 6 white disks of radius 8 µm (16 px): the lumen share of the tissue area is
    their area; a straight tissue edge with glass beyond it has no lumen, nor does a gap wider
    than the closing square."""
    from hccfusion.pathology.encoders.builtin import LUMEN_CLOSING_UM

    tissue = _paint(np.full((224, 224), 0.3), np.full((224, 224), 0.4))
    glass = np.full((224, 224, 3), 243, np.uint8)
    holes = _disks([(50, 50), (50, 170), (112, 112), (170, 50), (170, 170), (112, 30)], 16)
    lumens = np.where(holes[..., None], glass, tissue)
    edge = tissue.copy()
    edge[:, 140:] = glass[:, 140:]
    wide = tissue.copy()
    wide[:, 100:100 + int(1.5 * LUMEN_CLOSING_UM / 0.5)] = 243      # a 45-µm gap
    out = _feature(enc, np.stack([tissue, lumens, edge, wide]), "lumen_fraction")
    assert out[0] == 0.0
    assert out[1] == pytest.approx(holes.mean(), rel=0.15)
    assert out[2] == pytest.approx(0.0, abs=0.005)
    assert out[3] == pytest.approx(0.0, abs=0.005)


def test_the_definition_fingerprint_is_the_spec_hash_and_follows_the_version(enc, monkeypatch):
    from hccfusion.pathology.encoders import builtin

    assert enc.spec.weights_sha256 == builtin.HCC_STATS_DEFINITION_SHA256
    assert len(builtin.HCC_STATS_DEFINITION_SHA256) == 64
    assert builtin._definition_sha256() == builtin.HCC_STATS_DEFINITION_SHA256
    monkeypatch.setattr(builtin, "HCC_STATS_VERSION", builtin.HCC_STATS_VERSION + 1)
    assert builtin._definition_sha256() != builtin.HCC_STATS_DEFINITION_SHA256


def _slide_tiles(tmp_path, *, immune, center, seed, wnt=False):
    import tifffile

    from hccfusion.simulate.wsi import write_biopsy_slide

    info = write_biopsy_slide(path=tmp_path / f"{center}{seed}{immune:+.0f}{wnt:d}.tiff",
                              slide_id=f"T-{seed}", immune=immune, proliferation=0.0,
                              hypoxia=0.0, wnt=wnt, center=center, seed=seed)
    with tifffile.TiffFile(info.path) as tif:
        level0 = tif.pages[0].asarray()
    side = 224
    tiles = [level0[y:y + side, x:x + side]
             for y in range(0, info.height - side + 1, side)
             for x in range(0, info.width - side + 1, side)]
    tiles = np.stack([t for t in tiles if (t.mean(-1) < 215).mean() > 0.5])
    return tiles


@pytest.mark.parametrize("center, seed", [
    ("WX", 3), pytest.param("NJ", 11, marks=pytest.mark.slow)])
def test_planted_immune_signal_separates_slides(tmp_path, enc, center, seed):
    """Same patient state and seed except immune = +2 vs −2 (simulator: lymphocytes ×
    exp(0.75 · 4) ≈ 20, aggregates × 37): the lymphocyte density, by the fixed and by the
    stain-relative darkness, must differ clearly, tile by tile, not only on average."""
    hot = enc.encode(_slide_tiles(tmp_path, immune=2.0, center=center, seed=seed))
    cold = enc.encode(_slide_tiles(tmp_path, immune=-2.0, center=center, seed=seed))
    assert len(hot) >= 10 and len(cold) >= 10
    for name in ("lymphocytes_per_mm2", "rel_dark_per_mm2_150"):
        h, c = hot[:, NAMES.index(name)], cold[:, NAMES.index(name)]
        assert np.median(h) > 5 * np.median(c), name
        assert np.percentile(h, 25) > np.percentile(c, 75), name


@pytest.mark.parametrize("center, seed", [
    ("NJ", 5), pytest.param("WX", 7, marks=pytest.mark.slow)])
def test_planted_wnt_lumens_separate_slides(tmp_path, enc, center, seed):
    """Same patient state and seed except WNT on vs off (simulator: pseudo-glandular lumens
    250 vs 25 per mm²): the slide with them must show clearly more lumen (white space between
    tissue and the glass-like gaps of the tissue texture add the same to both)."""
    on = _feature(enc, _slide_tiles(tmp_path, immune=0.0, center=center, seed=seed, wnt=True),
                  "lumen_fraction")
    off = _feature(enc, _slide_tiles(tmp_path, immune=0.0, center=center, seed=seed),
                   "lumen_fraction")
    assert len(on) >= 10 and len(off) >= 10
    assert on.mean() > 1.6 * off.mean()
    assert np.median(on) > 1.6 * np.median(off)


@pytest.fixture(scope="module")
def lite0():
    return get_tile_encoder("efficientnet_lite0")


def test_efficientnet_lite0_records_its_packaged_weights(lite0):
    from hccfusion.pathology.encoders import EFFICIENTNET_LITE0_SHA256

    assert lite0.spec.weights_sha256 == EFFICIENTNET_LITE0_SHA256
    assert lite0.spec.weights_path.endswith("efficientnet-lite0-57934424.pth")


def test_efficientnet_lite0_features_still_carry_imagenet_classes(lite0):
    """The 1280-d pooled feature fed to the packaged ImageNet classifier names real photos:
    scikit-image's cat (Egyptian/tabby/tiger cat, 281–285) and espresso cup (967)."""
    from skimage import data

    photos = [data.chelsea()[:, 50:350], data.coffee()[:, 100:500]]  # 300 and 400 px squares
    features = torch.from_numpy(np.concatenate([lite0.encode(p[None]) for p in photos]))
    with torch.no_grad():
        top = lite0.module.net._fc(features).argmax(1).tolist()
    assert 281 <= top[0] <= 285
    assert top[1] == 967


def test_efficientnet_lite0_refuses_a_different_file(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"x": torch.zeros(1)}, path)
    with pytest.raises(DataError, match=r"other.pth: sha256 .* differs from the expected"):
        get_tile_encoder("efficientnet_lite0", weights=path,
                         expected_sha256="1" * 64)
