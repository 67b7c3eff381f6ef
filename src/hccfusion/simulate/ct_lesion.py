"""Simulated liver tumours: shape, size, viable part and necrotic core.

A lesion's shape (outline, orientation, irregular margin, the side where residual viable tumour
sits) depends only on the seed, the patient and the lesion, never on the time point; the time
point only sets its size. The whole lesion is scaled so that its longest 3-D diameter equals
``diameter_mm``. The enhancing (viable) part is a copy of the lesion's shape scaled to
``viable_mm`` and pushed towards one side of the lesion, so that its longest diameter equals
``viable_mm``; the rest of the lesion is non-enhancing necrosis. When the requested necrotic share
is larger than that leaves, a concentric necrotic core is hollowed out of the viable part (its
diameter is unchanged). The lesion is flatter along z than in-plane, so its longest diameter lies
close to the axial plane where readers measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hccfusion.simulate.ct_measure import farthest_pair
from hccfusion.simulate.ct_random import derived_rng
from hccfusion.simulate.ct_shape import StarShape, sample_star_shape

_N_BOUNDARY = 600
_MAX_CORE_RATIO = 0.85
_CONTAINMENT_SLACK = 1.02

OUTSIDE, VIABLE, NECROTIC = 0, 1, 2


@dataclass(frozen=True)
class LesionModel:
    """The time-point independent part of a lesion, in local units (1 unit = 1 mm at scale 1).

    Attributes
    ----------
    lesion_id : str
    shape : StarShape
    unit_diameter : float
        Longest diameter of ``shape`` (local units).
    unit_max_radius : float
        Largest distance from the centre to the surface (local units).
    unit_volume : float
        Volume of ``shape`` (local units³).
    anchor : numpy.ndarray
        Surface point towards which the viable part is pushed, shape ``(3,)``.
    boundary : numpy.ndarray
        Surface points, shape ``(n, 3)``, for containment checks.
    """

    lesion_id: str
    shape: StarShape
    unit_diameter: float
    unit_max_radius: float
    unit_volume: float
    anchor: np.ndarray
    boundary: np.ndarray


def lesion_model(*, seed: int, patient_id: str, lesion_id: str, margin_irregularity: float) -> LesionModel:
    """The shape of one lesion, the same at every time point.

    Parameters
    ----------
    seed : int
        The patient's simulation seed.
    patient_id, lesion_id : str
        Select the lesion's random stream.
    margin_irregularity : float
        0 (smooth) – 1 (infiltrative); sets the amplitude and fineness of the margin waves.
    """
    rng = derived_rng(seed=seed, keys=("ct-lesion-shape", patient_id, lesion_id))
    irregularity = float(np.clip(margin_irregularity, 0.0, 1.0))
    shape = sample_star_shape(
        rng=rng,
        semi_axes=(1.0, float(rng.uniform(0.8, 1.0)), float(rng.uniform(0.7, 0.85))),
        yaw_rad=float(rng.uniform(0.0, np.pi)),
        margin=0.04 + 0.26 * irregularity,
        frequency_range=(2.0, 3.0 + 5.0 * irregularity),
    )
    boundary = shape.boundary(n=_N_BOUNDARY)
    diameter, _, _ = farthest_pair(points=boundary)
    anchor = boundary[int(rng.integers(len(boundary)))]
    return LesionModel(
        lesion_id=lesion_id,
        shape=shape,
        unit_diameter=diameter,
        unit_max_radius=float(np.linalg.norm(boundary, axis=1).max()),
        unit_volume=shape.volume(),
        anchor=anchor,
        boundary=boundary,
    )


@dataclass(frozen=True)
class Lesion:
    """One lesion at one time point, placed in the patient (LPS, mm).

    Attributes
    ----------
    model : LesionModel
    centre_mm : numpy.ndarray
        Shape ``(3,)``.
    scale_mm : float
        mm per local unit (``diameter_mm / unit_diameter``); 0 for a vanished lesion.
    diameter_mm, viable_mm : float
        Longest diameters (mm) of the whole lesion and of its viable part (the truth).
    viable_ratio : float
        Viable diameter over whole diameter, in [0, 1].
    viable_offset : numpy.ndarray
        Centre of the viable part relative to the lesion centre (local units), shape ``(3,)``.
    core_ratio : float
        Diameter of the necrotic core over the viable diameter (0 = no core).
    volume_ml, viable_volume_ml : float
        Volumes of the continuous lesion and of its viable part (mL).
    """

    model: LesionModel
    centre_mm: np.ndarray
    scale_mm: float
    diameter_mm: float
    viable_mm: float
    viable_ratio: float
    viable_offset: np.ndarray
    core_ratio: float
    volume_ml: float
    viable_volume_ml: float

    @property
    def necrosis_fraction(self) -> float:
        """Non-enhancing share of the lesion volume as rendered (0–1)."""
        if self.volume_ml == 0.0:
            return 0.0
        return 1.0 - self.viable_volume_ml / self.volume_ml

    @property
    def max_radius_mm(self) -> float:
        """Radius (mm) of a sphere about ``centre_mm`` that holds the whole lesion."""
        return self.model.unit_max_radius * self.scale_mm

    def classify(self, points_mm: np.ndarray) -> np.ndarray:
        """Tissue class of LPS points: ``OUTSIDE`` (0), ``VIABLE`` (1) or ``NECROTIC`` (2).

        Parameters
        ----------
        points_mm : numpy.ndarray
            Shape ``(..., 3)``.

        Returns
        -------
        numpy.ndarray
            uint8, shape ``(...)``.
        """
        out = np.zeros(points_mm.shape[:-1], dtype=np.uint8)
        if self.scale_mm == 0.0:
            return out
        q = (points_mm - self.centre_mm) / self.scale_mm
        inside = self.model.shape.contains(q)
        out[inside] = NECROTIC
        if self.viable_ratio > 0.0:
            qv = (q[inside] - self.viable_offset) / self.viable_ratio
            viable = self.model.shape.contains(qv)
            if self.core_ratio > 0.0:
                viable &= ~self.model.shape.contains(qv / self.core_ratio)
            where = np.nonzero(inside)
            out[tuple(index[viable] for index in where)] = VIABLE
        return out


def _viable_offset(*, model: LesionModel, ratio: float) -> np.ndarray:
    """Centre of the viable copy (local units): as far towards the anchor as keeps it inside."""
    for pull in np.linspace(1.0, 0.0, 11):
        offset = (1.0 - ratio) * pull * model.anchor
        if model.shape.contains((offset + ratio * model.boundary) * _CONTAINMENT_SLACK).all():
            return offset
    return np.zeros(3)


def place_lesion(
    *,
    model: LesionModel,
    centre_mm: np.ndarray,
    diameter_mm: float,
    viable_mm: float,
    necrosis_fraction: float,
) -> Lesion:
    """A lesion of the given truth at a position.

    Parameters
    ----------
    model : LesionModel
    centre_mm : numpy.ndarray
        LPS centre (mm), shape ``(3,)``.
    diameter_mm : float
        Longest diameter of the whole lesion (mm), ≥ 0.
    viable_mm : float
        Longest diameter of the enhancing part (mm), 0 ≤ viable_mm ≤ diameter_mm (larger values
        are clipped to ``diameter_mm``).
    necrosis_fraction : float
        Requested non-enhancing share of the volume (0–1). A viable part of diameter ``viable_mm``
        can hold at most ``(viable_mm / diameter_mm)³`` of the volume, so the rendered necrosis
        (``Lesion.necrosis_fraction``) is at least ``1 - (viable_mm / diameter_mm)³``; a larger
        request hollows a core out of the viable part (core diameter at most 85 % of it).
    """
    scale = diameter_mm / model.unit_diameter if diameter_mm > 0.0 else 0.0
    ratio = float(np.clip(viable_mm / diameter_mm, 0.0, 1.0)) if diameter_mm > 0.0 else 0.0
    volume_ml = model.unit_volume * scale**3 / 1000.0
    viable_share = ratio**3
    core_ratio = 0.0
    wanted_viable_share = 1.0 - float(np.clip(necrosis_fraction, 0.0, 1.0))
    if ratio > 0.0 and wanted_viable_share < viable_share:
        core_ratio = min((1.0 - wanted_viable_share / viable_share) ** (1.0 / 3.0), _MAX_CORE_RATIO)
        viable_share *= 1.0 - core_ratio**3
    offset = _viable_offset(model=model, ratio=ratio) if 0.0 < ratio < 1.0 else np.zeros(3)
    return Lesion(
        model=model,
        centre_mm=np.asarray(centre_mm, dtype=np.float64),
        scale_mm=scale,
        diameter_mm=float(diameter_mm),
        viable_mm=float(min(viable_mm, diameter_mm)),
        viable_ratio=ratio,
        viable_offset=offset,
        core_ratio=core_ratio,
        volume_ml=volume_ml,
        viable_volume_ml=volume_ml * viable_share,
    )
