"""Where a patient's liver lesions sit.

Positions depend on the seed, the patient and the lesions' largest sizes over both time points
(read from the truth table, so the same at every exam): a lesion is placed, largest first, where
its surface at its largest size lies inside the liver parenchyma (away from the vessels) and its
bounding sphere does not touch another lesion's. When the liver has no such room left, the
candidate with the most of its surface inside the liver is taken (the tumour bulges out of the
liver), still without touching other lesions whenever that is possible.
"""

from __future__ import annotations

import numpy as np

from hccfusion.simulate.ct_anatomy import Anatomy
from hccfusion.simulate.ct_lesion import LesionModel
from hccfusion.simulate.ct_random import derived_rng

_CANDIDATES_PER_ROUND = 96
_ROUNDS = 12
_SURFACE_POINTS = 96
_GAP_MM = 3.0
_VESSEL_MARGIN_MM = 2.0
_LOOKUP_STEP_MM = 5.0


class _LiverLookup:
    """The liver parenchyma sampled once on a 5 mm lattice, queried by nearest lattice point.

    Placement asks hundreds of thousands of "is this point in the liver?" questions; answering
    them from a lattice is much cheaper than evaluating the anatomy each time and accurate
    enough for choosing where a tumour goes (the lesion keeps a 3 mm gap besides).
    """

    def __init__(self, anatomy: Anatomy) -> None:
        self.low, high = anatomy.liver_bounds_mm()
        axes = [np.arange(lo, hi + _LOOKUP_STEP_MM, _LOOKUP_STEP_MM) for lo, hi in zip(self.low, high)]
        points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        self.inside = anatomy.in_liver(points, vessel_margin_mm=_VESSEL_MARGIN_MM)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        index = np.rint((points - self.low) / _LOOKUP_STEP_MM).astype(np.int64)
        shape = np.asarray(self.inside.shape)
        valid = np.all((index >= 0) & (index < shape), axis=-1)
        index = np.where(valid[..., None], index, 0)
        return valid & self.inside[index[..., 0], index[..., 1], index[..., 2]]



def place_lesion_centres(
    *,
    seed: int,
    patient_id: str,
    anatomy: Anatomy,
    models: list[LesionModel],
    max_diameters_mm: list[float],
) -> list[np.ndarray]:
    """LPS centres (mm) of a patient's lesions, one ``(3,)`` array per model, in input order.

    Parameters
    ----------
    seed : int
        The patient's simulation seed.
    patient_id : str
        Selects the placement stream (with ``seed``).
    anatomy : Anatomy
        The patient's abdomen.
    models : list of LesionModel
        Lesion shapes.
    max_diameters_mm : list of float
        Largest longest diameter (mm) of each lesion over the exams of the patient.
    """
    rng = derived_rng(seed=seed, keys=("ct-lesion-placement", patient_id))
    in_liver = _LiverLookup(anatomy)
    low, high = anatomy.liver_bounds_mm()
    order = sorted(range(len(models)), key=lambda i: (-max_diameters_mm[i], i))
    centres: dict[int, np.ndarray] = {}
    radii: dict[int, float] = {}
    for i in order:
        model = models[i]
        scale = max_diameters_mm[i] / model.unit_diameter
        radius = model.unit_max_radius * scale
        step = max(1, len(model.boundary) // _SURFACE_POINTS)
        surface = model.boundary[::step] * scale * (1.0 + _GAP_MM / max(radius, _GAP_MM))
        best: tuple[float, np.ndarray] | None = None
        for _ in range(_ROUNDS):
            candidates = rng.uniform(low, high, size=(_CANDIDATES_PER_ROUND, 3))
            candidates = candidates[in_liver(candidates)]
            if len(candidates) == 0:
                continue
            slack = np.full(len(candidates), np.inf)
            for j, other in centres.items():
                gap = np.linalg.norm(candidates - other, axis=1) - (radius + radii[j] + _GAP_MM)
                slack = np.minimum(slack, gap)
            inside = in_liver(candidates[:, None, :] + surface[None])
            # Non-overlap first, then the share of the surface inside the liver.
            score = inside.mean(axis=1) + np.where(slack >= 0.0, 1.0, np.minimum(slack, 0.0) / 1000.0)
            k = int(np.argmax(score))
            if best is None or score[k] > best[0]:
                best = (float(score[k]), candidates[k])
            if score[k] >= 2.0:
                break
        if best is None:
            best = (0.0, anatomy.liver_centre_mm.copy())
        centres[i], radii[i] = best[1], radius
    return [centres[i] for i in range(len(models))]
