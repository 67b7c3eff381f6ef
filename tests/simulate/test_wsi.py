"""Simulated biopsy slides: readable pyramids, honest geometry, composition that follows the
latent state, centre stain differences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

openslide = pytest.importorskip("openslide")
tiffslide = pytest.importorskip("tiffslide")
tifffile = pytest.importorskip("tifffile")

from matplotlib.path import Path as PolyPath  # noqa: E402
from scipy import ndimage  # noqa: E402

from hccfusion.errors import UsageError  # noqa: E402
from hccfusion.simulate.wsi import SlideInfo, write_biopsy_slide  # noqa: E402

BASE = dict(immune=0.0, proliferation=0.0, hypoxia=0.0, wnt=False, center="WX", seed=3)


def _write(folder: Path, name: str, **changes) -> SlideInfo:
    kw = {**BASE, **changes}
    return write_biopsy_slide(path=folder / f"{name}.tiff", slide_id=name, **kw)


def _level0(info: SlideInfo) -> np.ndarray:
    return tifffile.imread(info.path, key=0)


def _sidecar(info: SlideInfo) -> dict:
    return json.loads(info.sidecar_path.read_text(encoding="utf-8"))


def _tissue(rgb: np.ndarray, background: list[int]) -> np.ndarray:
    return np.abs(rgb.astype(int) - np.asarray(background)).max(axis=-1) > 25


def _hematoxylin(rgb: np.ndarray, stain: dict) -> np.ndarray:
    """Colour deconvolution with the slide's recorded stain vectors (Ruifrok & Johnston)."""
    od = -np.log10(np.clip(rgb.astype(float), 1, None) / np.asarray(stain["background_rgb"]))
    m = np.stack([np.asarray(stain["hematoxylin_od"]) * stain["hematoxylin_scale"],
                  np.asarray(stain["eosin_od"]) * stain["eosin_scale"]])
    conc = od.reshape(-1, 3) @ np.linalg.pinv(m)
    return conc[:, 0].reshape(rgb.shape[:2])


@pytest.fixture(scope="module")
def slide(tmp_path_factory) -> SlideInfo:
    return _write(tmp_path_factory.mktemp("wsi"), "base")


def test_same_seed_gives_identical_bytes(slide, tmp_path):
    again = _write(tmp_path, "base")
    assert again.path.read_bytes() == slide.path.read_bytes()
    assert again.sidecar_path.read_bytes() == slide.sidecar_path.read_bytes()
    other = _write(tmp_path, "other", seed=4)
    assert other.path.read_bytes() != slide.path.read_bytes()


def test_openslide_reads_a_multilevel_pyramid_with_mpp(slide):
    s = openslide.OpenSlide(str(slide.path))
    assert s.properties["openslide.vendor"] == "generic-tiff"
    assert float(s.properties["openslide.mpp-x"]) == pytest.approx(0.5)
    assert float(s.properties["openslide.mpp-y"]) == pytest.approx(0.5)
    assert s.level_count == slide.level_count >= 3
    assert s.dimensions == (slide.width, slide.height)
    assert s.level_downsamples == pytest.approx([4.0**k for k in range(s.level_count)])
    assert "slide_id = base" in s.properties["openslide.comment"]
    core = _sidecar(slide)["cores"][0]
    poly = np.asarray(core["polygon"])
    cx, cy = poly[:, 0].mean(), poly[:, 1].mean()
    for level, (w, h) in enumerate(s.level_dimensions):
        ds = s.level_downsamples[level]
        size = (min(w, 200), min(h, 100))
        x = int(np.clip(cx - size[0] * ds / 2, 0, slide.width - size[0] * ds))
        y = int(np.clip(cy - size[1] * ds / 2, 0, slide.height - size[1] * ds))
        region = np.asarray(s.read_region((x, y), level, size))
        assert region.shape == (size[1], size[0], 4)
        assert (region[..., 3] == 255).all()
        centre = region[int((cy - y) / ds), int((cx - x) / ds), :3].astype(int)
        assert np.abs(centre - _sidecar(slide)["stain"]["background_rgb"]).max() > 25, level


def test_tiffslide_agrees_with_openslide(slide):
    o = openslide.OpenSlide(str(slide.path))
    t = tiffslide.TiffSlide(slide.path)
    assert t.level_count == o.level_count
    assert t.level_dimensions == o.level_dimensions
    assert t.properties["tiffslide.mpp-x"] == pytest.approx(0.5)
    w, h = o.level_dimensions[1]
    a = np.asarray(o.read_region((0, 0), 1, (w, h)).convert("RGB")).astype(int)
    b = np.asarray(t.read_region((0, 0), 1, (w, h)).convert("RGB")).astype(int)
    assert np.abs(a - b).mean() < 1.0


def test_mpp_is_recorded_as_given(tmp_path):
    info = _write(tmp_path, "fine", mpp=0.25)
    s = openslide.OpenSlide(str(info.path))
    assert float(s.properties["openslide.mpp-x"]) == pytest.approx(0.25)
    assert info.mpp == 0.25


def test_tissue_is_a_minority_and_lies_inside_the_core_polygons(slide):
    sc = _sidecar(slide)
    assert 0.05 < slide.tissue_fraction < 0.45
    tissue0 = _tissue(_level0(slide), sc["stain"]["background_rgb"])
    assert tissue0.mean() == pytest.approx(slide.tissue_fraction, abs=0.02)
    # outline check on level 1 (4× down) to keep the test fast
    rgb = tifffile.imread(slide.path, key=1)
    tissue = _tissue(rgb, sc["stain"]["background_rgb"])
    yy, xx = np.mgrid[0 : tissue.shape[0], 0 : tissue.shape[1]]
    pts = np.stack([xx.ravel() + 0.5, yy.ravel() + 0.5], axis=1) * 4.0
    inside = np.zeros(tissue.shape, dtype=bool)
    for core in sc["cores"]:
        inside |= PolyPath(core["polygon"]).contains_points(pts).reshape(tissue.shape)
    assert tissue[~ndimage.binary_dilation(inside, iterations=2)].sum() == 0
    assert tissue[ndimage.binary_erosion(inside, iterations=2)].mean() > 0.9  # gaps: lumens


def test_more_immune_gives_more_dark_lymphocyte_pixels(tmp_path):
    fractions = []
    for z in (-1.5, 1.5):
        info = _write(tmp_path, f"imm{z}", immune=z)
        sc = _sidecar(info)
        rgb = _level0(info)
        tissue = _tissue(rgb, sc["stain"]["background_rgb"])
        dark = (rgb.astype(int).mean(axis=-1) < 85) & tissue
        fractions.append(dark.sum() / tissue.sum())
    assert fractions[1] > 2.0 * fractions[0]


def test_wnt_slides_are_immune_cold(tmp_path):
    counts = [_sidecar(_write(tmp_path, f"wnt{w}", immune=1.0, wnt=w))["nuclei_count"]["lymphocyte"]
              for w in (False, True)]
    assert counts[1] < 0.5 * counts[0]


def test_more_proliferation_gives_larger_nuclei(tmp_path):
    medians = []
    for z in (-1.5, 1.5):
        info = _write(tmp_path, f"pro{z}", proliferation=z, immune=-2.5)
        sc = _sidecar(info)
        labels, _ = ndimage.label(_hematoxylin(_level0(info), sc["stain"]) > 0.25)
        areas = np.bincount(labels.ravel())[1:]
        medians.append(np.median(areas[areas >= 10]))
    assert medians[1] > 1.5 * medians[0]


def test_centres_differ_in_mean_stain_colour(tmp_path):
    means = []
    for centre in ("WX", "NJ"):
        info = _write(tmp_path, centre, center=centre)
        rgb = _level0(info)
        tissue = _tissue(rgb, _sidecar(info)["stain"]["background_rgb"])
        means.append(rgb[tissue].mean(axis=0))
    assert np.abs(means[0] - means[1]).max() > 8.0


def test_planted_aggregates_are_inside_tissue_and_rich_in_lymphocytes(tmp_path):
    info = _write(tmp_path, "hot", immune=1.5, seed=5)
    sc = _sidecar(info)
    regions = sc["planted_regions"]
    assert regions and all(r["kind"] == "lymphoid_aggregate" for r in regions)
    rgb = _level0(info)
    tissue = _tissue(rgb, sc["stain"]["background_rgb"])
    dark = (rgb.astype(int).mean(axis=-1) < 85) & tissue
    in_agg = np.zeros(tissue.shape, dtype=bool)
    for r in regions:
        x0, y0, x1, y1 = r["bbox"]
        yy, xx = np.mgrid[y0:y1, x0:x1]
        disk = (xx + 0.5 - r["x"]) ** 2 + (yy + 0.5 - r["y"]) ** 2 < r["radius_px"] ** 2
        assert tissue[y0:y1, x0:x1][disk].mean() > 0.95
        in_agg[y0:y1, x0:x1] |= disk
    assert dark[in_agg].mean() > 2.0 * dark[tissue & ~in_agg].mean()


def test_sidecar_records_latent_state_and_parameters(slide):
    sc = _sidecar(slide)
    assert sc["latent"] == {"immune": 0.0, "proliferation": 0.0, "hypoxia": 0.0, "wnt": False}
    assert sc["slide_id"] == "base" and sc["center"] == "WX" and sc["seed"] == 3
    assert sc["mpp"] == 0.5 and sc["coordinates"].startswith("level-0")
    assert len(sc["cores"]) in (1, 2)
    assert sc["tissue_fraction"] == pytest.approx(slide.tissue_fraction)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"center": "WXX"}, "unknown centre 'WXX'; did you mean 'WX'?"),
        ({"size": "huge"}, "unknown slide size 'huge'"),
        ({"mpp": 0.0}, "The 'mpp' parameter of write_biopsy_slide"),
        ({"immune": float("nan")}, "The 'immune' parameter of write_biopsy_slide"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, changes, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("?", r"\?")):
        _write(tmp_path, "bad", **changes)
    assert not (tmp_path / "bad.tiff").exists()
