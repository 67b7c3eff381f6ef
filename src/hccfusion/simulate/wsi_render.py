"""Draw one rectangular region of a simulated H&E biopsy (level-0 pixels).

Concentration maps of haematoxylin and eosin are built from the tissue mask, the stroma and
texture fields, the lumens, the aggregates and the stamped nuclei, then turned into colour by
the slide's :class:`~hccfusion.simulate.wsi_stain.StainProfile`. A pixel's value depends only
on the slide, never on the region it is drawn in, so regions tile seamlessly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hccfusion.simulate.wsi_content import TissueContent
from hccfusion.simulate.wsi_geometry import CoreGeometry
from hccfusion.simulate.wsi_stain import StainProfile
from hccfusion.simulate.wsi_stamp import stamp_disks, stamp_nuclei

# Concentrations (OD units along the stain vectors).
_EOSIN_PARENCHYMA = 0.30
_EOSIN_STROMA = 0.52
_EOSIN_AGGREGATE = 0.18
_HAEMATOXYLIN_HAZE = 0.05


@dataclass(frozen=True)
class RegionImage:
    """A drawn region.

    Attributes
    ----------
    rgb : numpy.ndarray
        Image, shape (height, width, 3), uint8.
    tissue_px : float
        Tissue area in the region (px, anti-aliased sum of the core mask).
    """

    rgb: np.ndarray
    tissue_px: float


@dataclass(frozen=True)
class SlideScene:
    """Everything needed to draw any region of one slide."""

    cores: tuple[CoreGeometry, ...]
    content: TissueContent
    stain: StainProfile

    def __post_init__(self) -> None:
        object.__setattr__(self, "_table", self.stain.lookup_table())

    def has_tissue(self, *, x0: int, y0: int, width: int, height: int) -> bool:
        """Whether a region may contain tissue (conservative test on the core outlines)."""
        return any(core.touches(x0=x0, y0=y0, width=width, height=height) for core in self.cores)

    def background(self, *, width: int, height: int) -> np.ndarray:
        """An empty-glass region, shape (height, width, 3), uint8 (a writable strided view)."""
        rgbx = np.zeros(4, dtype=np.uint8)
        rgbx[:3] = self.stain.background_rgb
        packed = np.full((height, width), rgbx.view(np.uint32)[0], dtype=np.uint32)
        return packed.view(np.uint8).reshape(height, width, 4)[..., :3]

    def render(self, *, x0: int, y0: int, width: int, height: int) -> RegionImage:
        """Draw a region.

        Parameters
        ----------
        x0, y0 : int
            Top-left corner (level-0 px).
        width, height : int
            Region size (px).
        """
        tissue = np.zeros((height, width), dtype=np.float32)
        for core in self.cores:
            if core.touches(x0=x0, y0=y0, width=width, height=height):
                np.maximum(tissue, core.mask(x0=x0, y0=y0, width=width, height=height), out=tissue)
        tissue_px = float(tissue.sum())
        rgb = self.background(width=width, height=height)
        if tissue_px == 0.0:
            return RegionImage(rgb=rgb, tissue_px=0.0)
        # draw only the bounding box of the tissue in the region
        rows = np.flatnonzero(tissue.any(axis=1))
        cols = np.flatnonzero(tissue.any(axis=0))
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        rgb[r0:r1, c0:c1] = self._draw(tissue[r0:r1, c0:c1], x0=x0 + c0, y0=y0 + r0)
        return RegionImage(rgb=rgb, tissue_px=tissue_px)

    def _draw(self, tissue: np.ndarray, *, x0: int, y0: int) -> np.ndarray:
        height, width = tissue.shape
        box = dict(x0=x0, y0=y0, width=width, height=height)
        c = self.content
        stroma = c.stroma_weight(c.stroma.region(**box))
        lumen = np.zeros_like(tissue)
        stamp_disks(lumen, c.lumens.in_region(**box), x0=x0, y0=y0)
        lumen *= 1.0 - stroma
        aggregate = np.zeros_like(tissue)
        stamp_disks(aggregate, c.aggregates.in_region(**box), x0=x0, y0=y0, soft=0.5)
        lumen *= 1.0 - aggregate
        present = tissue * (1.0 - lumen)

        shade = c.cytoplasm.region(**box)
        sinusoid = np.clip(1.0 - np.abs(c.sinusoid.region(**box)) / 0.18, 0.0, 1.0)
        parenchyma = _EOSIN_PARENCHYMA * (1.0 + 0.12 * shade) * (1.0 - 0.65 * sinusoid)
        fibre = _EOSIN_STROMA * (1.0 + 0.25 * np.clip(c.fibre.region(**box), -2.0, 2.0))
        eosin = parenchyma + stroma * (fibre - parenchyma)
        eosin += aggregate * (_EOSIN_AGGREGATE - eosin)

        nuclei = np.zeros_like(tissue)
        margin = float(c.nuclei.reach().max()) + 2.0 if c.nuclei.x.size else 0.0
        stamp_nuclei(nuclei, c.nuclei.in_region(**box, margin=margin), x0=x0, y0=y0)
        hema = np.maximum(nuclei, _HAEMATOXYLIN_HAZE * (1.0 + 0.3 * shade))
        eosin *= 1.0 - 0.5 * np.clip(nuclei, 0.0, 1.0)

        return self.stain.to_rgb(hematoxylin=hema * present, eosin=eosin * present,
                                 table=self._table)
