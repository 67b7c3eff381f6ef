"""Tissue mask: thin cores kept, pen and glass out, blank slides empty."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openslide")

from hccfusion.errors import UsageError  # noqa: E402
from hccfusion.pathology.slides import open_slide  # noqa: E402
from hccfusion.pathology.tissue import detect_tissue  # noqa: E402

from .conftest import glass, quick_tissue, write_scanner_tiff  # noqa: E402

MPP = 2.0  # synthetic slides: 2 µm/px at level 0, so a 4 × 3 mm slide is 2000 × 1500 px


def core_truth(sidecar: dict, shape: tuple[int, int], downsample: float) -> np.ndarray:
    """The sidecar's core polygons rasterised on the mask grid (px centres)."""
    from skimage.draw import polygon

    truth = np.zeros(shape, bool)
    for core in sidecar["cores"]:
        xy = np.asarray(core["polygon"]) / downsample - 0.5
        rr, cc = polygon(xy[:, 1], xy[:, 0], shape)
        truth[rr, cc] = True
    return truth


def test_thin_simulated_core_is_kept(sim_slide):
    widths_um = [2 * c["half_width_px"] * sim_slide.mpp for c in sim_slide.sidecar["cores"]]
    assert max(widths_um) < 400  # far thinner than a real 1-mm core: the harder case
    with open_slide(sim_slide.path) as slide:
        tissue = detect_tissue(slide)
    assert tissue.mpp == pytest.approx(8.0)
    assert tissue.downsample == pytest.approx(16.0)
    assert tissue.mask.shape == (1536 // 16, 4096 // 16)
    truth = core_truth(sim_slide.sidecar, tissue.mask.shape, tissue.downsample)
    hit = (tissue.mask & truth).sum()
    assert hit / truth.sum() >= 0.95  # recall: the core survives
    assert hit / tissue.mask.sum() >= 0.95  # precision: glass stays out
    assert tissue.pen_fraction == 0.0


@pytest.mark.parametrize("mpp", [2.0, pytest.param(0.5, marks=pytest.mark.slow)])
def test_one_mm_core_of_a_full_size_simulated_slide_is_kept(tmp_path, mpp):
    """A realistic 20 × 5 mm slide with 1-mm-wide cores: at 2 µm/px (10,240 × 2,560 px,
    ~2 s) in the default run, at 0.5 µm/px (40,960 × 10,240 px, 5 levels, ~20 s) when slow."""
    import json

    from hccfusion.simulate.wsi import write_biopsy_slide

    info = write_biopsy_slide(path=tmp_path / "NJ-0002-B1.tiff", slide_id="NJ-0002-B1",
                              immune=0.0, proliferation=0.5, hypoxia=0.0, wnt=False,
                              center="NJ", seed=2, size="full", mpp=mpp)
    sidecar = json.loads(info.sidecar_path.read_text(encoding="utf-8"))
    widths_um = [2 * c["half_width_px"] * info.mpp for c in sidecar["cores"]]
    assert min(widths_um) >= 700
    with open_slide(info.path) as slide:
        assert slide.level_count >= 4
        tissue = detect_tissue(slide)
    truth = core_truth(sidecar, tissue.mask.shape, tissue.downsample)
    hit = (tissue.mask & truth).sum()
    assert hit / truth.sum() >= 0.95
    assert hit / tissue.mask.sum() >= 0.95


def _slide(tmp_path, img, name="synthetic.tiff"):
    return write_scanner_tiff(tmp_path / name, img, mpp=MPP, levels=3)


def test_a_strand_60_um_wide_is_kept_and_dust_is_dropped(tmp_path):
    img = glass(1500, 2000)
    img[700:730, 200:1800] = quick_tissue(30, 1600, seed=1)  # 60 µm × 3.2 mm
    for k in range(5):  # 20 × 20 µm specks of debris
        img[200 + 50 * k : 210 + 50 * k, 300:310] = quick_tissue(10, 10, seed=k)
    with open_slide(_slide(tmp_path, img)) as slide:
        tissue = detect_tissue(slide)
    ds = tissue.downsample  # 4 level-0 px per mask px
    strand = tissue.mask[round(700 / ds) : round(730 / ds), round(200 / ds) : round(1800 / ds)]
    assert strand.any(axis=0).mean() >= 0.95  # present along its whole length
    assert not tissue.mask[: round(460 / ds)].any()  # specks gone
    assert tissue.area_mm2 == pytest.approx(0.06 * 3.2, rel=0.35)


def test_pen_marks_are_excluded(tmp_path):
    img = glass(1500, 2000)
    img[300:1200, 300:1700] = quick_tissue(900, 1400, seed=2)
    truth = np.zeros(img.shape[:2], bool)
    truth[300:1200, 300:1700] = True
    strokes = np.zeros_like(truth)
    strokes[500:600, 100:1900] = True  # green, across tissue and glass (200 µm wide)
    strokes[100:1400, 1000:1080] = True  # blue
    img[500:600, 100:1900] = (40, 150, 70)
    img[100:1400, 1000:1080] = (50, 70, 170)
    with open_slide(_slide(tmp_path, img)) as slide:
        tissue = detect_tissue(slide)
        kept_pen = detect_tissue(slide, exclude_pen=False)
    step = round(tissue.downsample)  # 4 level-0 px per mask px

    def on_mask_grid(m: np.ndarray) -> np.ndarray:
        return m[step // 2 :: step, step // 2 :: step][: tissue.mask.shape[0],
                                                      : tissue.mask.shape[1]]

    stroke_px, tissue_px = on_mask_grid(strokes), on_mask_grid(truth & ~strokes)
    assert tissue.mask[stroke_px].mean() < 0.02  # the ink is out
    assert kept_pen.mask[stroke_px].mean() > 0.9  # (it would have been tissue)
    assert tissue.mask[tissue_px].mean() > 0.9  # the tissue around it stays
    assert 0.1 < tissue.pen_fraction < 0.5
    assert kept_pen.pen_fraction == 0.0


def test_black_ink_is_not_tissue(tmp_path):
    img = glass(1500, 2000)
    img[300:1200, 300:1700] = quick_tissue(900, 1400, seed=4)
    img[700:780, 100:1900] = (35, 35, 40)  # a black stroke (160 µm) across tissue and glass
    with open_slide(_slide(tmp_path, img)) as slide:
        tissue = detect_tissue(slide)
    step = round(tissue.downsample)
    rows = slice(700 // step + 3, 780 // step - 3)  # JPEG chroma bleeds ~2 px at the edges
    assert not tissue.mask[rows].any()
    assert tissue.mask[300 // step + 2 : 700 // step - 2, 300 // step + 2 : 1700 // step - 2].all()


def test_blank_slide_has_no_tissue(tmp_path):
    rng = np.random.default_rng(0)
    img = np.clip(glass(1000, 1200) + rng.normal(0, 2, (1000, 1200, 3)), 0, 255).astype(np.uint8)
    with open_slide(_slide(tmp_path, img)) as slide:
        tissue = detect_tissue(slide)
    assert not tissue.mask.any()
    assert tissue.pen_fraction == 0.0 and tissue.area_mm2 == 0.0


def test_tinted_glass_is_not_tissue(tmp_path):
    img = np.broadcast_to(np.array([222, 232, 248], np.uint8), (1000, 1200, 3)).copy()
    img[300:700, 300:900] = quick_tissue(400, 600, seed=3)
    with open_slide(_slide(tmp_path, img)) as slide:
        tissue = detect_tissue(slide)
    ds = tissue.downsample
    assert tissue.area_mm2 == pytest.approx(0.8 * 1.2, rel=0.1)
    assert not tissue.mask[: round(250 / ds)].any()


def test_real_aperio_mask_matches_the_stained_area(aperio_svs):
    with open_slide(aperio_svs) as slide:
        tissue = detect_tissue(slide)
        small = slide.read_downsampled(downsample=tissue.downsample)
    reference = small.min(axis=2) < 215  # darker than glass in some channel
    iou = (tissue.mask & reference).sum() / (tissue.mask | reference).sum()
    assert iou > 0.85
    assert 0.3 < tissue.mask.mean() < 0.5


def test_bad_parameters(aperio_svs):
    with open_slide(aperio_svs) as slide:
        with pytest.raises(UsageError, match="The 'mask_mpp' parameter of detect_tissue"):
            detect_tissue(slide, mask_mpp=0)
        with pytest.raises(UsageError, match="'min_saturation' and 'max_saturation'"):
            detect_tissue(slide, min_saturation=0.3, max_saturation=0.2)
