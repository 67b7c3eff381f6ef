"""Rasterise a patient's anatomy and lesions into a tissue-code volume.

One ``uint8`` code per voxel (evaluated at the voxel centre) serves both contrast phases: each
phase maps codes to HU with its own table. Codes below ``LESION_CODE_BASE`` are organs
(``Tissue``); lesion ``k`` (1-based, the k-th row of the truth table) has code
``LESION_CODE_BASE + 2 (k - 1)`` for its viable part and that plus one for its necrotic part.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

import numpy as np

from hccfusion.simulate.ct_anatomy import Anatomy
from hccfusion.simulate.ct_grid import CtGrid
from hccfusion.simulate.ct_lesion import NECROTIC, VIABLE, Lesion

LESION_CODE_BASE = 16
MAX_LESIONS = (256 - LESION_CODE_BASE) // 2
_MAX_POINTS_PER_CHUNK = 1 << 21


class Tissue(IntEnum):
    """Organ codes of the tissue volume."""

    AIR = 0
    FAT = 1
    MUSCLE = 2
    CAVITY = 3
    BONE = 4
    AORTA = 5
    IVC = 6
    PORTAL_VEIN = 7
    SPLEEN = 8
    KIDNEY = 9
    LIVER = 10


def _paint(
    codes: np.ndarray,
    grid: CtGrid,
    low_mm: np.ndarray,
    high_mm: np.ndarray,
    classify: Callable[[np.ndarray], np.ndarray],
) -> None:
    """Write ``classify(points)`` (0 = leave as is) into the voxels of a box, slab by slab."""
    (x0, x1), (y0, y1), (z0, z1) = (
        grid.index_range(axis=a, low_mm=float(low_mm[a]), high_mm=float(high_mm[a])) for a in range(3)
    )
    if x0 >= x1 or y0 >= y1 or z0 >= z1:
        return
    xs, ys, zs = grid.axis_mm(0)[x0:x1], grid.axis_mm(1)[y0:y1], grid.axis_mm(2)
    slab = max(1, _MAX_POINTS_PER_CHUNK // ((x1 - x0) * (y1 - y0)))
    for start in range(z0, z1, slab):
        stop = min(start + slab, z1)
        z, y, x = np.meshgrid(zs[start:stop], ys, xs, indexing="ij")
        found = classify(np.stack([x, y, z], axis=-1))
        block = codes[start:stop, y0:y1, x0:x1]
        np.copyto(block, found, where=found > 0, casting="unsafe")


def _organ(test: Callable[[np.ndarray], np.ndarray], code: Tissue) -> Callable[[np.ndarray], np.ndarray]:
    return lambda points: np.where(test(points), np.uint8(code), np.uint8(0))


def tissue_codes(*, grid: CtGrid, anatomy: Anatomy, lesions: list[Lesion]) -> np.ndarray:
    """The tissue-code volume of one exam.

    Parameters
    ----------
    grid : CtGrid
    anatomy : Anatomy
    lesions : list of Lesion
        In label order (lesion ``k`` gets codes ``16 + 2(k-1)`` and ``17 + 2(k-1)``); at most
        ``MAX_LESIONS``.

    Returns
    -------
    numpy.ndarray
        uint8, shape ``grid.shape_zyx``.
    """
    codes = np.zeros(grid.shape_zyx, dtype=np.uint8)
    x, y, z = grid.axis_mm(0)[None, None, :], grid.axis_mm(1)[None, :, None], grid.axis_mm(2)[:, None, None]
    for inset, code in ((0.0, Tissue.FAT), (anatomy.fat_mm, Tissue.MUSCLE), (anatomy.fat_mm + anatomy.muscle_mm, Tissue.CAVITY)):
        codes[anatomy.body_level(x=x, y=y, z=z, inset_mm=inset) <= 1.0] = code
    for centre in anatomy.kidney_centres_mm:
        reach = np.asarray(anatomy.kidney_shape.semi_axes).max() * 1.1
        _paint(codes, grid, centre - reach, centre + reach, _organ(anatomy.in_kidney, Tissue.KIDNEY))
    reach = np.asarray(anatomy.spleen_shape.semi_axes).max() * 1.1
    _paint(
        codes,
        grid,
        anatomy.spleen_centre_mm - reach,
        anatomy.spleen_centre_mm + reach,
        _organ(anatomy.in_spleen, Tissue.SPLEEN),
    )
    low, high = anatomy.liver_bounds_mm()
    _paint(codes, grid, low, high, _organ(anatomy.in_liver, Tissue.LIVER))
    ends = np.stack([anatomy.portal_from_mm, anatomy.portal_to_mm])
    _paint(
        codes,
        grid,
        ends.min(axis=0) - anatomy.portal_radius_mm,
        ends.max(axis=0) + anatomy.portal_radius_mm,
        _organ(lambda p: anatomy.in_portal_vein(p) & anatomy.in_cavity(p), Tissue.PORTAL_VEIN),
    )
    for centre, radius, test, code in (
        (anatomy.ivc_centre_mm, anatomy.ivc_radius_mm, anatomy.in_ivc, Tissue.IVC),
        (anatomy.aorta_centre_mm, anatomy.aorta_radius_mm, anatomy.in_aorta, Tissue.AORTA),
        (anatomy.spine_centre_mm, anatomy.spine_radius_mm, anatomy.in_spine, Tissue.BONE),
    ):
        low = np.array([centre[0] - radius, centre[1] - radius, -np.inf])
        high = np.array([centre[0] + radius, centre[1] + radius, np.inf])
        _paint(codes, grid, low, high, _organ(lambda p, t=test: t(p) & anatomy.in_body(p), code))
    # Largest first: where lesions too big for the liver overlap, the smaller one stays whole.
    for k in sorted(range(len(lesions)), key=lambda i: (-lesions[i].max_radius_mm, i)):
        lesion = lesions[k]
        viable_code = LESION_CODE_BASE + 2 * k

        def classify(points: np.ndarray, lesion: Lesion = lesion, viable_code: int = viable_code) -> np.ndarray:
            found = lesion.classify(points)
            out = np.zeros(found.shape, dtype=np.uint8)
            out[found == VIABLE] = viable_code
            out[found == NECROTIC] = viable_code + 1
            return out

        reach = lesion.max_radius_mm + 1.0
        _paint(codes, grid, lesion.centre_mm - reach, lesion.centre_mm + reach, classify)
    return codes


def lesion_labels(codes: np.ndarray) -> np.ndarray:
    """Label volume (uint8): 0 background, ``k`` for the k-th lesion."""
    labels = np.zeros(codes.shape, dtype=np.uint8)
    lesion = codes >= LESION_CODE_BASE
    labels[lesion] = (codes[lesion] - LESION_CODE_BASE) // 2 + 1
    return labels


def viable_mask(codes: np.ndarray, *, label: int) -> np.ndarray:
    """Boolean mask of the viable (enhancing) part of lesion ``label``."""
    return codes == LESION_CODE_BASE + 2 * (label - 1)


def liver_mask(codes: np.ndarray) -> np.ndarray:
    """Liver mask (uint8 0/1): parenchyma and the tumours in it, without the large vessels."""
    return ((codes == Tissue.LIVER) | (codes >= LESION_CODE_BASE)).astype(np.uint8)
