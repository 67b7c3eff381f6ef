"""Simulated liver-biopsy whole-slide images (H&E needle cores) driven by the latent state.

One call writes one slide: a pyramidal tiled JPEG TIFF that OpenSlide ("generic-tiff") and
tiffslide open, with its resolution recorded, plus a JSON sidecar next to it that holds the
latent values used, the core outlines, the planted lymphoid-aggregate regions (level-0 px) and
the generation parameters.

Example
-------
>>> from pathlib import Path
>>> info = write_biopsy_slide(path=Path("WX-0001-B1.tiff"), slide_id="WX-0001-B1",
...                           immune=0.8, proliferation=-0.3, hypoxia=0.1, wnt=False,
...                           center="WX", seed=7)  # doctest: +SKIP
>>> info.level_count  # doctest: +SKIP
3
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from hccfusion.errors import UsageError, unknown_option

SIDECAR_FORMAT_VERSION = 1
"""Version of the sidecar JSON layout."""

SIZES: tuple[str, ...] = ("small", "full")
JPEG_QUALITY = 70


@dataclass(frozen=True)
class SlideInfo:
    """A written slide.

    Attributes
    ----------
    path : pathlib.Path
        The TIFF file.
    slide_id : str
        Slide identifier.
    width, height : int
        Level-0 size (px).
    level_count : int
        Number of pyramid levels (each 4× smaller than the one above).
    mpp : float
        Level-0 resolution (µm/px).
    tissue_fraction : float
        Share of the level-0 area covered by the tissue cores, 0–1.
    sidecar_path : pathlib.Path
        The JSON sidecar (latent values, core polygons, planted regions, parameters).
    """

    path: Path
    slide_id: str
    width: int
    height: int
    level_count: int
    mpp: float
    tissue_fraction: float
    sidecar_path: Path


def sidecar_path_for(path: Path) -> Path:
    """Where the sidecar of a slide lives: the slide path with suffix ``.json``."""
    return Path(path).with_suffix(".json")


def _check(*, slide_id, latent: dict[str, float], center: str, size: str, mpp: float) -> None:
    from hccfusion.simulate.wsi_stain import CENTRES

    if not isinstance(slide_id, str) or not slide_id.strip():
        raise UsageError(f"The 'slide_id' parameter of write_biopsy_slide must be a non-empty "
                         f"string. Got {slide_id!r} instead.")
    for name, value in latent.items():
        if not math.isfinite(float(value)):
            raise UsageError(f"The '{name}' parameter of write_biopsy_slide must be a finite "
                             f"z-score. Got {value!r} instead.")
    if size not in SIZES:
        raise unknown_option("slide size", str(size), SIZES)
    if center not in CENTRES:
        raise unknown_option("centre", str(center), CENTRES)
    if not (isinstance(mpp, (int, float)) and 0.1 <= float(mpp) <= 2.0):
        raise UsageError(f"The 'mpp' parameter of write_biopsy_slide must be a resolution in "
                         f"µm/px between 0.1 and 2.0. Got {mpp!r} instead.")


def write_biopsy_slide(
    *,
    path: Path,
    slide_id: str,
    immune: float,
    proliferation: float,
    hypoxia: float,
    wnt: bool,
    center: str,
    seed: int,
    size: Literal["small", "full"] = "small",
    mpp: float = 0.5,
) -> SlideInfo:
    """Write one simulated H&E needle-biopsy slide and its sidecar.

    Composition follows the latent state (z-scores, see ``docs/simulator_contract.md``):
    ``proliferation`` raises tumour nuclear density, size, pleomorphism and darkness;
    ``immune`` raises the density of lymphocytes and of lymphoid aggregates (the planted
    regions); ``hypoxia`` raises the fibrous stroma fraction; ``wnt`` makes the tumour
    immune-cold (× 0.3 lymphocytes) with pseudo-glandular lumens. ``center`` sets the stain
    protocol; each slide adds its own stain jitter.

    Parameters
    ----------
    path : pathlib.Path
        Output TIFF; parent folders are created. The sidecar is ``path`` with suffix ``.json``.
    slide_id : str
        Slide identifier, recorded in the ImageDescription and the sidecar.
    immune, proliferation, hypoxia : float
        Latent z-scores of the patient.
    wnt : bool
        WNT/β-catenin activation.
    center : str
        Centre code (``"WX"`` or ``"NJ"``).
    seed : int
        Seed of everything random; same arguments → identical bytes.
    size : {"small", "full"}
        ``small``: 4096 × 1536 px at level 0 whatever ``mpp`` (3 levels), cores about
        3.5k × 330 px — for tests and the demo. ``full``: a realistic 20 × 5 mm slide
        (40,192 × 10,240 px at 0.5 µm/px, 5 levels) with 1 mm × 10–15 mm cores, drawn tile row
        by tile row with bounded memory.
    mpp : float
        Level-0 resolution (µm/px), 0.1–2.0; cell sizes are physical, so they scale with it.

    Returns
    -------
    SlideInfo
        Size, level count, resolution, tissue fraction and the sidecar path.

    Raises
    ------
    hccfusion.errors.UsageError
        For an empty ``slide_id``, a non-finite latent value, an unknown ``size`` or
        ``center``, or an ``mpp`` outside 0.1–2.0.
    """
    from hccfusion import __version__
    from hccfusion.simulate.wsi_content import composition, sample_content
    from hccfusion.simulate.wsi_geometry import layout_cores, slide_dimensions
    from hccfusion.simulate.wsi_pyramid import write_pyramid
    from hccfusion.simulate.wsi_render import SlideScene
    from hccfusion.simulate.wsi_stain import slide_stain

    latent = {"immune": immune, "proliferation": proliferation, "hypoxia": hypoxia}
    _check(slide_id=slide_id, latent=latent, center=center, size=size, mpp=mpp)
    mpp = float(mpp)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    # independent streams: changing the centre or the latent state keeps the cores in place
    geo_seq, stain_seq, content_seq = np.random.SeedSequence(int(seed)).spawn(3)
    width, height = slide_dimensions(size=size, mpp=mpp)
    cores = layout_cores(rng=np.random.default_rng(geo_seq), size=size, mpp=mpp,
                         slide_width=width, slide_height=height)
    stain = slide_stain(center=center, rng=np.random.default_rng(stain_seq))
    comp = composition(immune=float(immune), proliferation=float(proliferation),
                       hypoxia=float(hypoxia), wnt=bool(wnt))
    content = sample_content(rng=np.random.default_rng(content_seq), comp=comp, cores=cores,
                             mpp=mpp, slide_width=width, slide_height=height)
    scene = SlideScene(cores=cores, content=content, stain=stain)

    description = (f"hccfusion synthetic liver biopsy H&E|slide_id = {slide_id}"
                   f"|center = {center}|MPP = {mpp:g}|seed = {int(seed)}")
    pyramid = write_pyramid(path=path, scene=scene, width=width, height=height, mpp=mpp,
                            description=description, jpeg_quality=JPEG_QUALITY)
    tissue_fraction = pyramid.tissue_px / float(width * height)

    agg = content.aggregates
    kinds = content.nuclei.kind
    sidecar = {
        "format_version": SIDECAR_FORMAT_VERSION,
        "generator": "hccfusion.simulate.wsi.write_biopsy_slide",
        "hccfusion_version": __version__,
        "slide_id": slide_id,
        "slide_file": path.name,
        "center": center,
        "seed": int(seed),
        "size": size,
        "mpp": mpp,
        "coordinates": "level-0 pixels, x right, y down",
        "width": width,
        "height": height,
        "level_dimensions": [list(d) for d in pyramid.level_dimensions],
        "tissue_fraction": tissue_fraction,
        "latent": {**{k: float(v) for k, v in latent.items()}, "wnt": bool(wnt)},
        "composition": comp.to_dict(),
        "stain": asdict(stain),
        "jpeg_quality": JPEG_QUALITY,
        "nuclei_count": {"tumour": int((kinds == 0).sum()), "lymphocyte": int((kinds == 1).sum()),
                         "fibroblast": int((kinds == 2).sum())},
        "cores": [{"polygon": core.polygon(), "bbox": list(core.bbox()),
                   "half_width_px": core.half_width, "length_px": core.length}
                  for core in cores],
        "planted_regions": [
            {"kind": "lymphoid_aggregate", "x": float(x), "y": float(y), "radius_px": float(r),
             "bbox": [math.floor(x - r), math.floor(y - r), math.ceil(x + r), math.ceil(y + r)]}
            for x, y, r in zip(agg.x, agg.y, agg.r, strict=True)
        ],
    }
    sidecar_path = sidecar_path_for(path)
    sidecar_path.write_text(json.dumps(sidecar, separators=(",", ":")), encoding="utf-8")
    return SlideInfo(path=path, slide_id=slide_id, width=width, height=height,
                     level_count=len(pyramid.level_dimensions), mpp=mpp,
                     tissue_fraction=tissue_fraction, sidecar_path=sidecar_path)
