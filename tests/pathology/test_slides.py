"""Slide access: the real Aperio slide, a scanner-layout TIFF pyramid, and every named failure."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

pytest.importorskip("openslide")
pytest.importorskip("tiffslide")

from hccfusion.errors import DataError, UsageError  # noqa: E402
from hccfusion.pathology.slides import SlideError, open_slide  # noqa: E402

from .conftest import he_texture, render_he, write_scanner_tiff  # noqa: E402

BACKENDS = ["openslide", "tiffslide"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_aperio_slide_opens_with_its_recorded_resolution(aperio_svs, backend):
    import openslide

    recorded = float(openslide.OpenSlide(str(aperio_svs)).properties["aperio.MPP"])
    with open_slide(aperio_svs, backend=backend) as slide:
        assert slide.backend == backend
        assert slide.vendor == "aperio"
        assert slide.dimensions == (2220, 2967)
        assert slide.level_count == 1
        assert slide.mpp == pytest.approx(recorded, abs=1e-6)
        assert slide.mpp == pytest.approx(0.499, abs=1e-3)
        assert slide.mpp_source == "metadata"
        region = slide.read_region(location=(1400, 1800), level=0, size=(64, 48))
    assert region.dtype == np.uint8 and region.shape == (48, 64, 3)
    assert region.std() > 5  # tissue, not a blank buffer


def test_both_backends_decode_the_same_pixels(aperio_svs):
    regions = []
    for backend in BACKENDS:
        with open_slide(aperio_svs, backend=backend) as slide:
            regions.append(slide.read_region(location=(1300, 1700), level=0, size=(200, 150)))
    diff = np.abs(regions[0].astype(int) - regions[1].astype(int))
    assert diff.mean() < 1.5  # same JPEG tiles, at most different IDCT rounding


def test_thumbnail_keeps_the_aspect_ratio_and_the_content(aperio_svs):
    with open_slide(aperio_svs) as slide:
        thumb = slide.thumbnail(max_px=256)
        full = slide.read_region(location=(0, 0), level=0, size=slide.dimensions)
    assert thumb.shape == (256, round(2220 * 256 / 2967), 3)
    assert thumb.dtype == np.uint8
    # same overall colour as the full-resolution slide
    assert np.abs(thumb.reshape(-1, 3).mean(0) - full.reshape(-1, 3).mean(0)).max() < 2.0


def test_thumbnail_never_upsamples(scanner_pyramid):
    with open_slide(scanner_pyramid) as slide:
        assert slide.thumbnail(max_px=5000).shape == (1536, 2048, 3)
        assert slide.thumbnail(max_px=100).shape == (75, 100, 3)


def test_strip_by_strip_downsampling_equals_one_read(scanner_pyramid, monkeypatch):
    import hccfusion.pathology.slides as slides

    with open_slide(scanner_pyramid) as slide:
        # level 2 (×4) is read and 2 × 2 block-averaged before the final resampling
        whole = slide.read_downsampled(downsample=9.0)
        monkeypatch.setattr(slides, "_STRIP_PX", 512 * 37)  # 36-row strips of level 2
        strips = slide.read_downsampled(downsample=9.0)
    assert whole.shape == strips.shape == (171, 228, 3)
    assert np.array_equal(whole, strips)


def test_tifffile_pyramid_has_the_scanner_layout_and_opens_with_three_levels(scanner_pyramid):
    import tifffile

    with tifffile.TiffFile(scanner_pyramid) as tif:
        pages = list(tif.pages)
        assert len(pages) == 3
        assert all(p.is_tiled and p.compression == tifffile.COMPRESSION.JPEG for p in pages)
        assert [int(p.subfiletype) for p in pages] == [0, 1, 1]
        assert pages[0].tags["ResolutionUnit"].value == tifffile.RESUNIT.CENTIMETER
    for backend in BACKENDS:
        with open_slide(scanner_pyramid, backend=backend) as slide:
            assert slide.level_count == 3
            assert slide.level_dimensions == ((2048, 1536), (1024, 768), (512, 384))
            assert slide.level_downsamples == pytest.approx((1.0, 2.0, 4.0))
            assert slide.mpp == pytest.approx(0.25)
    with open_slide(scanner_pyramid, backend="openslide") as slide:
        assert slide.vendor == "generic-tiff"


def test_best_level_is_the_coarsest_fine_enough(scanner_pyramid):
    with open_slide(scanner_pyramid) as slide:
        assert slide.best_level_for(target_mpp=0.25) == 0
        assert slide.best_level_for(target_mpp=0.4) == 0
        assert slide.best_level_for(target_mpp=0.5) == 1
        assert slide.best_level_for(target_mpp=0.495) == 1  # within the 2 % tolerance
        assert slide.best_level_for(target_mpp=0.45) == 0
        assert slide.best_level_for(target_mpp=1.0) == 2
        assert slide.best_level_for(target_mpp=8.0) == 2
        assert slide.best_level_for(target_mpp=0.1) == 0  # nothing fine enough: level 0


def test_mpp_override_wins_over_metadata(aperio_svs):
    with open_slide(aperio_svs, mpp=0.25) as slide:
        assert slide.mpp == 0.25 and slide.mpp_source == "override"


@pytest.mark.parametrize("backend", BACKENDS)
def test_outside_the_scan_reads_white(aperio_svs, backend):
    with open_slide(aperio_svs, backend=backend) as slide:
        region = slide.read_region(location=(2200, 2950), level=0, size=(40, 40))
    assert (region[20:, :] == 255).all() and (region[:, 20:] == 255).all()


def test_slide_pickles_by_path_and_reopens(aperio_svs):
    slide = open_slide(aperio_svs, mpp=0.5, backend="tiffslide")
    clone = pickle.loads(pickle.dumps(slide))
    try:
        assert (clone.path, clone.backend, clone.mpp, clone.mpp_source) == (
            slide.path, "tiffslide", 0.5, "override")
        a = slide.read_region(location=(1400, 1800), level=0, size=(32, 32))
        b = clone.read_region(location=(1400, 1800), level=0, size=(32, 32))
        assert np.array_equal(a, b)
    finally:
        slide.close()
        clone.close()


def test_closed_slide_refuses_to_read(aperio_svs):
    with open_slide(aperio_svs) as slide:
        pass
    with pytest.raises(UsageError, match="is closed"):
        slide.read_region(location=(0, 0), level=0, size=(8, 8))


# -- named failure cases ---------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(SlideError, match="nowhere.svs does not exist") as info:
        open_slide(tmp_path / "nowhere.svs")
    assert info.value.kind == "missing"
    assert isinstance(info.value, DataError)
    again = pickle.loads(pickle.dumps(info.value))  # workers send it back to the parent
    assert (type(again), again.kind, again.path, str(again)) == (
        SlideError, "missing", tmp_path / "nowhere.svs", str(info.value))


@pytest.mark.parametrize("source", ["pyramid", "aperio"])
def test_truncated_file(tmp_path, scanner_pyramid, aperio_svs, source):
    data = (scanner_pyramid if source == "pyramid" else aperio_svs).read_bytes()
    cut = tmp_path / f"cut_{source}.svs"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SlideError, match=f"slide cut_{source}.svs is") as info:
        open_slide(cut)
    assert info.value.kind == "truncated"
    assert info.value.path == cut


def test_missing_resolution_needs_an_override(tmp_path):
    img = render_he(*he_texture(256, 384, seed=1))
    path = write_scanner_tiff(tmp_path / "nores.tif", img, mpp=None, levels=2)
    for backend in BACKENDS:
        with pytest.raises(SlideError, match=r"nores.tif does not record its resolution.*--mpp"
                           ) as info:
            open_slide(path, backend=backend)
        assert info.value.kind == "no_mpp"
    with open_slide(path, mpp=0.5) as slide:
        assert slide.mpp == 0.5 and slide.mpp_source == "override"
        assert slide.read_region(location=(0, 0), level=1, size=(16, 16)).shape == (16, 16, 3)


@pytest.mark.parametrize("content", [b"not a slide at all\n" * 10,
                                     b"\x89PNG\r\n\x1a\n" + b"0" * 64])
def test_not_a_slide(tmp_path, content):
    path = tmp_path / "notes.svs"
    path.write_bytes(content)
    with pytest.raises(SlideError, match="notes.svs cannot be opened as a whole-slide image"
                       ) as info:
        open_slide(path)
    assert info.value.kind == "unsupported"


@pytest.mark.parametrize("backend", BACKENDS)
def test_unreadable_level(tmp_path, scanner_pyramid, backend):
    import tifffile

    path = tmp_path / "corrupt.tiff"
    shutil.copy(scanner_pyramid, path)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[1]
        spans = list(zip(page.dataoffsets, page.databytecounts, strict=True))
    with path.open("r+b") as fh:
        for offset, count in spans:
            fh.seek(offset)
            fh.write(b"\x00" * count)
    with open_slide(path, backend=backend) as slide:
        ok = slide.read_region(location=(0, 0), level=0, size=(64, 64))
        with pytest.raises(SlideError, match="corrupt.tiff: level 1 cannot be read") as info:
            slide.read_region(location=(0, 0), level=1, size=(64, 64))
        assert info.value.kind == "unreadable_level"
        # the other levels stay readable (OpenSlide's sticky error is cleared by a reopen)
        assert np.array_equal(slide.read_region(location=(0, 0), level=0, size=(64, 64)), ok)


def test_bad_arguments_are_usage_errors(aperio_svs):
    with pytest.raises(UsageError, match="unknown slide backend 'openslid'; did you mean "
                                         "'openslide'"):
        open_slide(aperio_svs, backend="openslid")
    with pytest.raises(UsageError, match=r"The 'mpp' parameter of open_slide must be .* Got -0.5"):
        open_slide(aperio_svs, mpp=-0.5)
    with open_slide(aperio_svs) as slide:
        with pytest.raises(UsageError, match="The 'level' parameter of Slide.read_region"):
            slide.read_region(location=(0, 0), level=1, size=(8, 8))
        with pytest.raises(UsageError, match="The 'max_px' parameter of Slide.thumbnail"):
            slide.thumbnail(max_px=0)
