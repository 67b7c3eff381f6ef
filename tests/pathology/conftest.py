"""Shared slide fixtures for the pathology tests (other pathology test modules reuse them).

- ``aperio_svs`` (session, path): the REAL Aperio H&E slide CMU-1-Small-Region, committed as
  ``tests/fixtures/slides/cmu_small_region.svs`` (2220 × 2967 px, one level, 0.499 µm/px,
  JPEG; see ``LICENSE-cmu-small-region.md``). Read-only: copy it before damaging it.
- ``sim_slide`` (session): a small simulated needle biopsy written by
  :func:`hccfusion.simulate.wsi.write_biopsy_slide` (4096 × 1536 px, 3 levels ×4, 0.5 µm/px,
  one thin core ≈ 170 µm wide); ``sim_slide.sidecar`` is its JSON sidecar (core outlines in
  level-0 px, stain vectors, planted regions). About 2 s to write, once per session.
- ``scanner_pyramid`` (session, path): a 2048 × 1536 px, 0.25 µm/px, 3-level (×2) pyramid
  written by :func:`write_scanner_tiff`: H&E-like texture over the whole slide and one painted
  square of colour ``PAINT_RGB`` at level-0 px ``PAINT_BOX`` (x0, y0, x1, y1), for coordinate
  and level tests.
- ``write_pyramid_tiff`` (function): :func:`write_scanner_tiff`, which writes any uint8 RGB
  array as a scanner-layout pyramidal TIFF with tifffile — tiled JPEG pages, level 0 first,
  reduced levels as pages with ``subfiletype=1``, resolution tags in px/cm — the layout
  OpenSlide reads as "generic-tiff" with several levels (SubIFD/OME pyramids read as one).
- ``he_image`` (function): ``he_image(h, w, seed=0)`` → a deterministic H&E-like RGB image
  mixed from the known stain vectors ``H_OD`` and ``E_OD`` (Beer–Lambert).

Plain helpers importable from test modules (``from .conftest import …``): ``render_he``,
``he_texture``, ``quick_tissue``, ``glass``, ``write_scanner_tiff``, ``downsample2``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slides"
APERIO_SVS = FIXTURES / "cmu_small_region.svs"

# unit optical-density vectors over (R, G, B); Macenko et al. 2009 reference values
H_OD = np.array([0.5626, 0.7201, 0.4062])
E_OD = np.array([0.2159, 0.8012, 0.5581])
BACKGROUND = np.array([242.0, 241.0, 244.0])

PAINT_BOX = (1000, 700, 1160, 860)  # level-0 px, x0, y0, x1, y1 (40 × 40 µm at 0.25 µm/px)
PAINT_RGB = (30, 160, 40)  # a green no H&E pixel has


def downsample2(img: np.ndarray) -> np.ndarray:
    """2 × 2 block mean of a uint8 RGB image (even sizes)."""
    a = img.astype(np.float32)
    a = (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4.0
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def write_scanner_tiff(path: Path, image: np.ndarray, *, mpp: float | None, levels: int = 3,
                       tile: int = 256, quality: int = 90) -> Path:
    """Write ``image`` (uint8 RGB, level 0) as a pyramidal tiled JPEG TIFF, each level 2 ×
    smaller (block mean); ``mpp=None`` writes no resolution tags."""
    import tifffile

    kw = dict(tile=(tile, tile), photometric="rgb", compression="jpeg",
              compressionargs={"level": quality}, metadata=None)
    with tifffile.TiffWriter(path) as tif:
        img = image
        for level in range(levels):
            res = {}
            if mpp is not None:
                px_per_cm = 1e4 / (mpp * 2**level)
                res = dict(resolution=(px_per_cm, px_per_cm), resolutionunit="CENTIMETER")
            extra = {"subfiletype": 1} if level else {}
            tif.write(img, **kw, **res, **extra)
            img = downsample2(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2])
    return path


def render_he(h_conc: np.ndarray, e_conc: np.ndarray) -> np.ndarray:
    """uint8 RGB from haematoxylin and eosin concentration maps (OD units, shape (h, w))."""
    od = (h_conc[..., None] * H_OD.astype(np.float32)
          + e_conc[..., None] * E_OD.astype(np.float32)).astype(np.float32)
    rgb = BACKGROUND.astype(np.float32) * np.power(np.float32(10.0), -od)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def he_texture(height: int, width: int, *, seed: int) -> np.ndarray:
    """Tissue-like concentrations, shape (2, height, width): smooth eosin, blob-like
    haematoxylin (nuclei ≈ 8 px); drawn at a quarter of the size and zoomed (fast)."""
    from PIL import Image
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    qh, qw = -(-height // 4), -(-width // 4)
    e = 0.35 + 1.5 * ndimage.gaussian_filter(rng.standard_normal((qh, qw)), 2)
    nuclei = ndimage.gaussian_filter((rng.random((qh, qw)) < 0.06).astype(float), 0.8)
    h = 0.15 + np.clip(nuclei / nuclei.max(), 0, 1)
    small = np.stack([np.clip(h, 0, 2), np.clip(e, 0.05, 2)]).astype(np.float32)
    return np.stack([np.asarray(Image.fromarray(c, mode="F").resize(
        (qw * 4, qh * 4), Image.Resampling.BILINEAR))[:height, :width] for c in small])


def quick_tissue(height: int, width: int, *, seed: int) -> np.ndarray:
    """Cheap H&E-like RGB noise (eosin background, 5 % haematoxylin-dark px)."""
    rng = np.random.default_rng(seed)
    h = 0.15 + 0.9 * (rng.random((height, width)) < 0.05)
    e = 0.30 + 0.15 * rng.random((height, width))
    return render_he(h, e)


def glass(height: int, width: int) -> np.ndarray:
    """Empty glass (the background colour), uint8 (height, width, 3)."""
    return np.broadcast_to(BACKGROUND.astype(np.uint8), (height, width, 3)).copy()


@pytest.fixture(scope="session")
def aperio_svs() -> Path:
    assert APERIO_SVS.is_file(), "tests/fixtures/slides/cmu_small_region.svs is missing"
    return APERIO_SVS


@dataclass(frozen=True)
class SimSlide:
    path: Path
    mpp: float
    sidecar: dict


@pytest.fixture(scope="session")
def sim_slide(tmp_path_factory) -> SimSlide:
    from hccfusion.simulate.wsi import write_biopsy_slide

    folder = tmp_path_factory.mktemp("sim_wsi")
    info = write_biopsy_slide(path=folder / "WX-0001-B1.tiff", slide_id="WX-0001-B1",
                              immune=0.5, proliferation=0.0, hypoxia=0.0, wnt=False,
                              center="WX", seed=3)
    sidecar = json.loads(info.sidecar_path.read_text(encoding="utf-8"))
    return SimSlide(path=info.path, mpp=info.mpp, sidecar=sidecar)


@pytest.fixture(scope="session")
def scanner_pyramid(tmp_path_factory) -> Path:
    img = render_he(*he_texture(1536, 2048, seed=5))
    x0, y0, x1, y1 = PAINT_BOX
    img[y0:y1, x0:x1] = PAINT_RGB
    path = tmp_path_factory.mktemp("pyramid") / "pyramid_025.tiff"
    return write_scanner_tiff(path, img, mpp=0.25, levels=3)


@pytest.fixture
def write_pyramid_tiff():
    return write_scanner_tiff


@pytest.fixture
def he_image():
    def make(height: int, width: int, *, seed: int = 0) -> np.ndarray:
        return render_he(*he_texture(height, width, seed=seed))

    return make
