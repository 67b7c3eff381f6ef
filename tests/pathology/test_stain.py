"""Macenko stain vectors, normalisation and per-centre statistics, on images with known stains."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.pathology.stain import (
    MacenkoNormalizer,
    StainMatrix,
    centre_stain_statistics,
    estimate_stains,
)

from .conftest import E_OD, H_OD

# a second protocol: bluer haematoxylin, more orange eosin
H2 = np.array([0.65, 0.70, 0.29])
E2 = np.array([0.17, 0.80, 0.58])


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def angle_deg(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(unit(a) @ unit(b), -1, 1))))


def mixed(h_od, e_od, *, n: int = 40_000, h_scale: float = 1.0, e_scale: float = 1.0,
          seed: int = 0, io: float = 240.0) -> tuple[np.ndarray, np.ndarray]:
    """Pixels mixed from known stains: a third pure H, a third pure E, a third both.

    Returns the uint8 image (200, n / 200, 3) and the true concentrations (n, 2)."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, n)
    ch = rng.uniform(0.3, 1.2, n) * (kind != 1) * h_scale
    ce = rng.uniform(0.3, 1.2, n) * (kind != 0) * e_scale
    od = ch[:, None] * unit(h_od) + ce[:, None] * unit(e_od)
    # inverse of OD = -log10((I + 1) / io)
    rgb = np.clip(np.round(io * 10.0 ** -od - 1.0), 0, 255).astype(np.uint8)
    return rgb.reshape(200, -1, 3), np.stack([ch, ce], axis=1)


def test_macenko_recovers_known_stain_vectors():
    img, conc = mixed(H_OD, E_OD)
    stains = estimate_stains(img)
    assert stains.he.shape == (2, 3) and stains.max_conc.shape == (2,)
    assert np.allclose(np.linalg.norm(stains.he, axis=1), 1.0)
    assert angle_deg(stains.he[0], H_OD) < 1.0  # row 0 is haematoxylin
    assert angle_deg(stains.he[1], E_OD) < 1.0
    assert stains.max_conc == pytest.approx(np.percentile(conc, 99, axis=0), rel=0.05)


def test_tiles_and_flat_pixels_give_the_same_estimate():
    img, _ = mixed(H2, E2, seed=1)
    tiles = img.reshape(4, 50, -1, 3)
    a, b = estimate_stains(tiles), estimate_stains(img.reshape(-1, 3))
    assert np.allclose(a.he, b.he) and np.allclose(a.max_conc, b.max_conc)


def test_normalisation_moves_the_source_stains_to_the_target():
    target, _ = mixed(H_OD, E_OD, seed=2)
    source, _ = mixed(H2, E2, h_scale=1.4, e_scale=0.6, seed=3)
    before = estimate_stains(source)
    assert angle_deg(before.he[0], H_OD) > 5 and angle_deg(before.he[1], E_OD) > 5
    norm = MacenkoNormalizer().fit(target)
    out = norm.transform(source[None])
    assert out.shape == (1, *source.shape) and out.dtype == np.uint8
    after = estimate_stains(out)
    assert angle_deg(after.he[0], H_OD) < 1.5
    assert angle_deg(after.he[1], E_OD) < 1.5
    assert after.max_conc == pytest.approx(norm.target_.max_conc, rel=0.05)
    assert np.abs(before.max_conc - norm.target_.max_conc).max() > 0.2  # it did move


def test_a_given_source_matrix_is_used_and_blank_tiles_pass_through():
    target, _ = mixed(H_OD, E_OD, seed=4)
    source, _ = mixed(H2, E2, seed=5)
    norm = MacenkoNormalizer().fit(target)
    given = norm.transform(source, source=estimate_stains(source))
    assert np.array_equal(given, norm.transform(source))
    blank = np.full((2, 16, 16, 3), 242, np.uint8)
    assert np.array_equal(norm.transform(blank), blank)


def test_round_trip_through_a_dict():
    target, _ = mixed(H_OD, E_OD, seed=6)
    source, _ = mixed(H2, E2, seed=7)
    norm = MacenkoNormalizer(alpha=1.0).fit(target)
    data = json.loads(json.dumps(norm.to_dict()))
    assert data["method"] == "macenko" and data["format_version"] == 1
    again = MacenkoNormalizer.from_dict(data)
    diff = np.abs(again.transform(source).astype(int) - norm.transform(source).astype(int))
    assert diff.max() <= 1  # the stored vectors are rounded to 6 decimals


def test_named_failures():
    with pytest.raises(DataError, match="only 0 stained pixels"):
        estimate_stains(np.full((32, 32, 3), 245, np.uint8))
    with pytest.raises(UsageError, match="The 'rgb' parameter of estimate_stains must be a uint8"):
        estimate_stains(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(UsageError, match="MacenkoNormalizer is not fitted"):
        MacenkoNormalizer().transform(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="not a Macenko normaliser description"):
        MacenkoNormalizer.from_dict({"method": "reinhard"})
    data = MacenkoNormalizer().fit(mixed(H_OD, E_OD)[0]).to_dict()
    with pytest.raises(DataError, match="format version 99"):
        MacenkoNormalizer.from_dict({**data, "format_version": 99})


def test_centre_statistics_summarise_each_protocol():
    rng = np.random.default_rng(8)

    def jitter(v):
        return unit(np.asarray(v) + rng.normal(0, 0.01, 3))

    matrices, centres = {}, {}
    for centre, (h, e, scale) in {"WX": (H_OD, E_OD, 1.0), "NJ": (H2, E2, 1.3)}.items():
        for k in range(4):
            slide_id = f"{centre}-{k:04d}-B1"
            matrices[slide_id] = StainMatrix(he=np.stack([jitter(h), jitter(e)]),
                                             max_conc=np.array([scale, 1.0]) + 0.01 * k)
            centres[slide_id] = centre
    table = centre_stain_statistics(matrices, centres).set_index("center")
    assert list(table.index) == ["NJ", "WX"]
    assert (table["n_slides"] == 4).all()
    nj = table.loc["NJ", ["h_od_r", "h_od_g", "h_od_b"]].to_numpy(float)
    wx = table.loc["WX", ["e_od_r", "e_od_g", "e_od_b"]].to_numpy(float)
    assert angle_deg(nj, H2) < 1.0 and angle_deg(wx, E_OD) < 1.0
    assert (table[["h_spread_deg", "e_spread_deg"]] < 2.0).all().all()
    assert table.loc["NJ", "h_max_conc_mean"] == pytest.approx(1.315)
    assert table.loc["WX", "h_max_conc_sd"] == pytest.approx(np.std([1, 1.01, 1.02, 1.03],
                                                                    ddof=1))
    with pytest.raises(DataError, match="1 slide\\(s\\) have no centre: WX-0009-B1"):
        centre_stain_statistics({**matrices, "WX-0009-B1": matrices["WX-0000-B1"]}, centres)


def test_simulated_slide_stains_are_close_to_its_sidecar(sim_slide):
    pytest.importorskip("openslide")
    from hccfusion.pathology.slides import open_slide
    from hccfusion.pathology.tiling import read_tiles, tile_grid
    from hccfusion.pathology.tissue import detect_tissue

    with open_slide(sim_slide.path) as slide:
        grid = tile_grid(slide, detect_tissue(slide), min_tissue=0.9)
        tiles = read_tiles(slide, grid, range(min(len(grid), 12)))
    stains = estimate_stains(tiles)
    truth = sim_slide.sidecar["stain"]
    assert angle_deg(stains.he[0], truth["hematoxylin_od"]) < 6.0  # measured 3.9°
    # measured 10.9°: beta = 0.15 drops pale, pure-eosin px (eosin absorbs little red)
    assert angle_deg(stains.he[1], truth["eosin_od"]) < 13.0


def test_stain_by_centre_summarises_qc_rows_per_centre():
    import pandas as pd

    from hccfusion.pathology.stain import stain_by_centre

    h = np.array([0.65, 0.70, 0.29]) / np.linalg.norm([0.65, 0.70, 0.29])
    e = np.array([0.07, 0.99, 0.11]) / np.linalg.norm([0.07, 0.99, 0.11])
    rows = []
    for i, (centre, scale) in enumerate([("WX", 1.0), ("WX", 1.2), ("NJ", 0.5), ("NJ", np.nan)]):
        rows.append({"slide_id": f"S{i}", "center": centre,
                     **dict(zip(["h_od_r", "h_od_g", "h_od_b"], h)),
                     **dict(zip(["e_od_r", "e_od_g", "e_od_b"], e)),
                     "h_max_conc": scale, "e_max_conc": 0.8})
    table = stain_by_centre(pd.DataFrame(rows)).set_index("center")
    assert table.loc["WX", "n_slides"] == 2 and table.loc["NJ", "n_slides"] == 1  # NaN row left out
    assert table.loc["WX", "h_max_conc_mean"] == pytest.approx(1.1)
    np.testing.assert_allclose(table.loc["WX", ["h_od_r", "h_od_g", "h_od_b"]].to_numpy(float), h, atol=1e-9)
    assert table.loc["WX", "h_spread_deg"] == pytest.approx(0.0, abs=1e-4)
    assert stain_by_centre(pd.DataFrame()).empty
