"""Attention heatmaps: the PNG is brightest where high scores were planted, memory follows the
thumbnail (not the slide), and the QuPath GeoJSON polygons match the tiles."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from hccfusion.errors import UsageError
from hccfusion.pathology.heatmaps import attention_geojson, attention_heatmap, paint_tiles


class _VirtualSlide:
    """A slide of any level-0 size whose thumbnail is a flat grey image (no pixels behind it)."""

    def __init__(self, width: int, height: int) -> None:
        self.dimensions = (width, height)

    def thumbnail(self, *, max_px: int) -> np.ndarray:
        w, h = self.dimensions
        scale = max_px / max(w, h)
        return np.full((max(1, round(h * scale)), max(1, round(w * scale)), 3), 128, np.uint8)


def _grid(width: int, height: int, tile: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(0, width, tile), np.arange(0, height, tile))
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.int64)


def _luminance(path) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return rgb @ np.array([0.2126, 0.7152, 0.0722])


def test_planted_scores_give_the_brightest_pixels_there(tmp_path):
    slide = _VirtualSlide(8192, 4096)
    coords = _grid(8192, 4096, 512)
    region = (coords[:, 0] >= 5120) & (coords[:, 0] < 6144) & (coords[:, 1] >= 1024) \
        & (coords[:, 1] < 2048)
    scores = np.where(region, 1.0, np.random.default_rng(0).uniform(0, 0.3, len(coords)))
    png = attention_heatmap(slide=slide, coords=coords, tile_size_level0_px=512, scores=scores,
                            out_png=tmp_path / "h" / "map.png", max_px=256)
    lum = _luminance(png)
    assert lum.shape == (128, 256)
    inside = np.zeros_like(lum, dtype=bool)
    inside[32:64, 160:192] = True                      # the region at 1/32 scale
    assert np.unravel_index(lum.argmax(), lum.shape) in set(zip(*np.nonzero(inside)))
    assert lum[inside].min() > lum[~inside].max()


@pytest.fixture(scope="module")
def simulated_slide(tmp_path_factory):
    from hccfusion.pathology.slides import open_slide
    from hccfusion.simulate.wsi import write_biopsy_slide

    info = write_biopsy_slide(path=tmp_path_factory.mktemp("wsi") / "S-1.tiff", slide_id="S-1",
                              immune=2.0, proliferation=0.0, hypoxia=0.0, wnt=False,
                              center="WX", seed=3)
    return open_slide(info.path), json.loads(info.sidecar_path.read_text())


def test_heatmap_over_a_real_slide_highlights_the_planted_aggregate(simulated_slide, tmp_path):
    slide, sidecar = simulated_slide
    tile = 128
    coords = _grid(*slide.dimensions, tile)
    x0, y0, x1, y1 = max(sidecar["planted_regions"], key=lambda r: r["radius_px"])["bbox"]
    hit = (coords[:, 0] + tile > x0) & (coords[:, 0] < x1) & (coords[:, 1] + tile > y0) \
        & (coords[:, 1] < y1)
    png = attention_heatmap(slide=slide, coords=coords, tile_size_level0_px=tile,
                            scores=hit.astype(float), out_png=tmp_path / "real.png", max_px=1024)
    lum = _luminance(png)
    scale = lum.shape[1] / slide.dimensions[0]
    inside = np.zeros_like(lum, dtype=bool)
    inside[int(y0 * scale) + 1:int(y1 * scale) - 1, int(x0 * scale) + 1:int(x1 * scale) - 1] = True
    covered = np.zeros_like(lum, dtype=bool)           # the high-score tiles, larger than bbox
    for x, y in coords[hit]:
        covered[int(y * scale):int((y + tile) * scale) + 1,
                int(x * scale):int((x + tile) * scale) + 1] = True
    assert lum[inside].mean() > lum[~covered].mean() + 40
    assert np.percentile(lum[inside], 5) > np.percentile(lum[~covered], 99)


def test_memory_follows_the_thumbnail_not_the_slide(tmp_path):
    # 400k × 200k px at level 0 would be 240 GB of RGB; 4,000 tiles over it
    rng = np.random.default_rng(1)
    # warm up: the first call imports PIL and matplotlib, which tracemalloc would count
    attention_heatmap(slide=_VirtualSlide(1000, 500), coords=np.zeros((1, 2)),
                      tile_size_level0_px=256, scores=np.ones(1), out_png=tmp_path / "w.png")
    peaks = []
    for width, height in ((4_000, 2_000), (400_000, 200_000)):
        coords = np.stack([rng.integers(0, width - 256, 4_000),
                           rng.integers(0, height - 256, 4_000)], axis=1)
        tracemalloc.start()
        attention_heatmap(slide=_VirtualSlide(width, height), coords=coords,
                          tile_size_level0_px=256, scores=rng.random(4_000),
                          out_png=tmp_path / f"{width}.png", max_px=512)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 16 * 2**20                       # a 512 × 256 canvas, not the slide
    assert peaks[1] < 1.5 * peaks[0]                    # 10,000× the area, about the same memory


def test_tiles_smaller_than_a_canvas_pixel_still_show():
    mean, count = paint_tiles(coords=np.array([[0, 0], [1000, 500]]), tile_size_level0_px=10,
                              values=np.array([0.2, 0.9]), canvas_hw=(10, 20),
                              scale_xy=(0.01, 0.01))
    assert count.sum() == 2
    assert mean[0, 0] == pytest.approx(0.2) and mean[5, 10] == pytest.approx(0.9)
    assert np.isnan(mean[9, 19])


def test_overlapping_tiles_average():
    mean, count = paint_tiles(coords=np.array([[0, 0], [0, 0]]), tile_size_level0_px=4,
                              values=np.array([0.0, 1.0]), canvas_hw=(4, 4), scale_xy=(1.0, 1.0))
    assert (count == 2).all() and np.allclose(mean, 0.5)


def test_geojson_polygons_match_coords_and_tile_size(tmp_path):
    coords = np.array([[0, 0], [256, 0], [512, 768]], dtype=np.int64)
    scores = np.array([0.1, 0.7, 0.2])
    out = attention_geojson(coords=coords, tile_size_level0_px=256, scores=scores,
                            out=tmp_path / "g" / "S-1.geojson", name="MIL attention")
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 3
    for feature, (x, y), score in zip(doc["features"], coords, scores, strict=True):
        assert feature["type"] == "Feature"
        geometry = feature["geometry"]
        assert geometry["type"] == "Polygon" and len(geometry["coordinates"]) == 1
        ring = geometry["coordinates"][0]
        assert ring[0] == ring[-1]                     # closed ring
        assert ring == [[x, y], [x + 256, y], [x + 256, y + 256], [x, y + 256], [x, y]]
        assert all(isinstance(v, int) for point in ring for v in point)
        props = feature["properties"]
        assert props["objectType"] == "detection"
        assert props["classification"]["name"] == "MIL attention"
        assert props["measurements"] == {"attention": pytest.approx(score)}
        assert len(props["color"]) == 3 and all(0 <= c <= 255 for c in props["color"])
    # the highest score takes the colormap's bright end
    brightest = max(doc["features"], key=lambda f: sum(f["properties"]["color"]))
    assert brightest["properties"]["measurements"]["attention"] == pytest.approx(0.7)
    assert not list(tmp_path.glob("g/.*tmp"))


def test_geojson_of_an_empty_bag_is_an_empty_collection(tmp_path):
    out = attention_geojson(coords=np.zeros((0, 2)), tile_size_level0_px=256,
                            scores=np.zeros(0), out=tmp_path / "empty.geojson")
    assert json.loads(out.read_text()) == {"type": "FeatureCollection", "features": []}


@pytest.mark.parametrize("kw, pattern", [
    ({"coords": np.zeros((3, 1))}, r"The 'coords' parameter of attention_heatmap must be an "
                                   r"\[N, 2\] array"),
    ({"scores": np.zeros(2)}, r"The 'scores' parameter of attention_heatmap must be 3 finite "
                              r"values, one per tile\. Got shape \(2,\) instead\."),
    ({"scores": np.array([0.1, np.nan, 0.2])}, r"The 'scores' parameter"),
    ({"tile_size_level0_px": 0}, r"The 'tile_size_level0_px' parameter of attention_heatmap "
                                 r"must be a positive int"),
    ({"alpha": 1.5}, r"The 'alpha' parameter of attention_heatmap must be a float in \[0, 1\]"),
    ({"cmap": "infern"}, r"unknown colormap 'infern'; did you mean 'inferno'\?"),
])
def test_bad_arguments_are_usage_errors(tmp_path, kw, pattern):
    args = dict(slide=_VirtualSlide(1000, 500), coords=np.zeros((3, 2)),
                tile_size_level0_px=100, scores=np.zeros(3), out_png=tmp_path / "x.png")
    with pytest.raises(UsageError, match=pattern):
        attention_heatmap(**{**args, **kw})
