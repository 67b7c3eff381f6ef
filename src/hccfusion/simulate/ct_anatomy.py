"""A simple abdominal anatomy for simulated CT: body wall, liver, spleen, kidneys, spine, vessels.

All geometry is in LPS patient coordinates (mm). The anatomy depends on the seed and the patient
only, so every exam of a patient shows the same body. The liver is a deformed ellipsoid in the
upper right abdomen, tapered towards the left lobe, clipped by the abdominal wall and excavated
by the inferior vena cava and portal vein; its volume is calibrated to about 1.3–1.7 L plus the
patient's largest tumour volume (livers with big tumours are big).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hccfusion.simulate.ct_random import derived_rng
from hccfusion.simulate.ct_shape import StarShape, sample_star_shape

LIVER_DOME_Z_MM = 80.0
_MAX_LIVER_SEMI_Z_MM = 90.0
_CALIBRATION_STEP_MM = 8.0


@dataclass(frozen=True)
class Anatomy:
    """Geometry of one patient's abdomen (LPS, mm).

    Attributes
    ----------
    body_semi_mm : tuple of float
        Left–right and antero-posterior semi-axes of the skin outline.
    fat_mm, muscle_mm : float
        Thickness of subcutaneous fat and of the muscular wall.
    liver_centre_mm : numpy.ndarray
        Shape ``(3,)``.
    liver_shape : StarShape
        Liver outline in mm before ``liver_scale``.
    liver_scale : float
        Linear scale factor of the liver (calibrated to the target volume).
    liver_taper : float
        How much thinner the left lobe is than the right (0–1).
    spine_centre_mm, aorta_centre_mm, ivc_centre_mm : numpy.ndarray
        Axial positions (x, y) of straight vertical structures, shape ``(2,)``.
    spine_radius_mm, aorta_radius_mm, ivc_radius_mm : float
    portal_from_mm, portal_to_mm : numpy.ndarray
        End points of the portal vein segment, shape ``(3,)``.
    portal_radius_mm : float
    spleen_centre_mm : numpy.ndarray
    spleen_shape : StarShape
        Spleen outline (mm).
    kidney_centres_mm : numpy.ndarray
        Shape ``(2, 3)``, right then left.
    kidney_shape : StarShape
        Kidney outline (mm), mirrored for the left kidney.
    """

    body_semi_mm: tuple[float, float]
    fat_mm: float
    muscle_mm: float
    liver_centre_mm: np.ndarray
    liver_shape: StarShape
    liver_scale: float
    liver_taper: float
    spine_centre_mm: np.ndarray
    spine_radius_mm: float
    aorta_centre_mm: np.ndarray
    aorta_radius_mm: float
    ivc_centre_mm: np.ndarray
    ivc_radius_mm: float
    portal_from_mm: np.ndarray
    portal_to_mm: np.ndarray
    portal_radius_mm: float
    spleen_centre_mm: np.ndarray
    spleen_shape: StarShape
    kidney_centres_mm: np.ndarray
    kidney_shape: StarShape

    def body_level(self, *, x: np.ndarray, y: np.ndarray, z: np.ndarray, inset_mm: float) -> np.ndarray:
        """Squared normalised radius of an axial point in the body ellipse shrunk by ``inset_mm``.

        Values ≤ 1 lie inside. ``x``, ``y``, ``z`` (mm) broadcast against each other.
        """
        a, b = self.body_semi_mm
        # The body narrows a little towards the pelvis and the diaphragm.
        waist = 1.0 - 0.04 * np.cos(z / 60.0)
        u = x / (a * waist - inset_mm)
        v = y / (b * waist - inset_mm)
        return u * u + v * v

    def _ellipse_level(self, points: np.ndarray, inset_mm: float) -> np.ndarray:
        return self.body_level(x=points[..., 0], y=points[..., 1], z=points[..., 2], inset_mm=inset_mm)

    def in_body(self, points: np.ndarray) -> np.ndarray:
        """Inside the skin outline; ``points`` shape ``(..., 3)``, result boolean ``(...)``."""
        return self._ellipse_level(points, 0.0) <= 1.0

    def in_muscle_wall(self, points: np.ndarray) -> np.ndarray:
        """Inside the outer border of the muscular wall (fat lies outside it)."""
        return self._ellipse_level(points, self.fat_mm) <= 1.0

    def in_cavity(self, points: np.ndarray) -> np.ndarray:
        """Inside the abdominal cavity (within the muscular wall)."""
        return self._ellipse_level(points, self.fat_mm + self.muscle_mm) <= 1.0

    def _near_axis(self, points: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
        d = points[..., :2] - centre
        return np.einsum("...i,...i->...", d, d) <= radius * radius

    def in_spine(self, points: np.ndarray) -> np.ndarray:
        return self._near_axis(points, self.spine_centre_mm, self.spine_radius_mm)

    def in_aorta(self, points: np.ndarray) -> np.ndarray:
        return self._near_axis(points, self.aorta_centre_mm, self.aorta_radius_mm)

    def in_ivc(self, points: np.ndarray, *, margin_mm: float = 0.0) -> np.ndarray:
        return self._near_axis(points, self.ivc_centre_mm, self.ivc_radius_mm + margin_mm)

    def in_portal_vein(self, points: np.ndarray, *, margin_mm: float = 0.0) -> np.ndarray:
        axis = self.portal_to_mm - self.portal_from_mm
        length2 = max(float(axis @ axis), 1e-12)
        t = np.clip(((points - self.portal_from_mm) @ axis) / length2, 0.0, 1.0)
        d = points - (self.portal_from_mm + t[..., None] * axis)
        r = self.portal_radius_mm + margin_mm
        return np.einsum("...i,...i->...", d, d) <= r * r

    def in_spleen(self, points: np.ndarray) -> np.ndarray:
        return self.spleen_shape.contains(points - self.spleen_centre_mm) & self.in_cavity(points)

    def in_kidney(self, points: np.ndarray) -> np.ndarray:
        right = self.kidney_shape.contains(points - self.kidney_centres_mm[0])
        mirrored = (points - self.kidney_centres_mm[1]) * np.array([-1.0, 1.0, 1.0])
        return right | self.kidney_shape.contains(mirrored)

    def in_liver_outline(self, points: np.ndarray) -> np.ndarray:
        """Inside the (tapered, deformed) liver ellipsoid, before clipping by other organs."""
        q = (points - self.liver_centre_mm) / self.liver_scale
        semi_x = self.liver_shape.semi_axes[0]
        thinning = 1.0 - self.liver_taper * np.clip(q[..., 0] / semi_x, 0.0, 1.0)
        q = np.stack([q[..., 0], q[..., 1] / thinning, q[..., 2] / thinning], axis=-1)
        return self.liver_shape.contains(q)

    def in_liver(self, points: np.ndarray, *, vessel_margin_mm: float = 0.0) -> np.ndarray:
        """Liver parenchyma: the outline within the cavity, minus vessels, kidneys and spine."""
        inside = self.in_liver_outline(points)
        # Each exclusion is only tested where the liver is still possible (saves most of the work).
        for excluded in (
            lambda p: ~self.in_cavity(p),
            lambda p: self.in_ivc(p, margin_mm=vessel_margin_mm),
            lambda p: self.in_portal_vein(p, margin_mm=vessel_margin_mm),
            self.in_aorta,
            self.in_spine,
            self.in_kidney,
        ):
            candidates = points[inside]
            if len(candidates) == 0:
                break
            inside[inside] = ~excluded(candidates)
        return inside

    def liver_bounds_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper LPS corners (mm) of a box that holds the liver, each shape ``(3,)``."""
        reach = np.asarray(self.liver_shape.semi_axes) * (1.0 + self.liver_shape.margin) * self.liver_scale
        return self.liver_centre_mm - reach, self.liver_centre_mm + reach


def _liver_volume_ml(anatomy: Anatomy) -> float:
    low, high = anatomy.liver_bounds_mm()
    axes = [np.arange(lo, hi + _CALIBRATION_STEP_MM, _CALIBRATION_STEP_MM) for lo, hi in zip(low, high)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    return float(anatomy.in_liver(points).sum()) * _CALIBRATION_STEP_MM**3 / 1000.0


def sample_anatomy(*, seed: int, patient_id: str, tumour_volume_ml: float) -> Anatomy:
    """The abdomen of one patient.

    Parameters
    ----------
    seed : int
        The patient's simulation seed.
    patient_id : str
        Selects the patient's random stream (with ``seed``).
    tumour_volume_ml : float
        Total volume of the patient's tumours at their largest (mL); added to the liver's target
        volume so that the tumours fit.
    """
    rng = derived_rng(seed=seed, keys=("ct-anatomy", patient_id))
    body = (float(rng.uniform(150.0, 172.0)), float(rng.uniform(108.0, 125.0)))
    liver_shape = sample_star_shape(
        rng=rng,
        semi_axes=(95.0, float(rng.uniform(72.0, 82.0)), float(rng.uniform(72.0, 82.0))),
        yaw_rad=float(rng.uniform(-0.15, 0.15)),
        margin=0.07,
        frequency_range=(1.5, 3.5),
    )
    spleen_shape = sample_star_shape(
        rng=rng, semi_axes=(32.0, 48.0, 52.0), yaw_rad=-0.5, margin=0.06, frequency_range=(1.5, 3.0)
    )
    kidney_shape = sample_star_shape(
        rng=rng, semi_axes=(28.0, 24.0, 52.0), yaw_rad=0.4, margin=0.03, frequency_range=(1.5, 3.0)
    )
    target_ml = float(rng.uniform(1300.0, 1700.0)) + max(float(tumour_volume_ml), 0.0)
    liver_semi_z = liver_shape.semi_axes[2]
    anatomy = Anatomy(
        body_semi_mm=body,
        fat_mm=float(rng.uniform(12.0, 30.0)),
        muscle_mm=float(rng.uniform(8.0, 12.0)),
        liver_centre_mm=np.array([-45.0, -5.0, LIVER_DOME_Z_MM - liver_semi_z]),
        liver_shape=liver_shape,
        liver_scale=1.0,
        liver_taper=float(rng.uniform(0.45, 0.6)),
        spine_centre_mm=np.array([0.0, body[1] - 45.0]),
        spine_radius_mm=20.0,
        aorta_centre_mm=np.array([14.0, body[1] - 78.0]),
        aorta_radius_mm=float(rng.uniform(10.0, 13.0)),
        ivc_centre_mm=np.array([-24.0, body[1] - 82.0]),
        ivc_radius_mm=11.0,
        portal_from_mm=np.zeros(3),
        portal_to_mm=np.zeros(3),
        portal_radius_mm=float(rng.uniform(6.0, 8.0)),
        spleen_centre_mm=np.array([body[0] - 70.0, body[1] - 70.0, 30.0]),
        spleen_shape=spleen_shape,
        kidney_centres_mm=np.array([[-72.0, body[1] - 60.0, -45.0], [72.0, body[1] - 60.0, -40.0]]),
        kidney_shape=kidney_shape,
    )
    for _ in range(2):
        factor = (target_ml / max(_liver_volume_ml(anatomy), 1.0)) ** (1.0 / 3.0)
        scale = min(anatomy.liver_scale * factor, _MAX_LIVER_SEMI_Z_MM / liver_semi_z)
        centre = anatomy.liver_centre_mm.copy()
        centre[2] = LIVER_DOME_Z_MM - liver_semi_z * scale
        anatomy = replace(anatomy, liver_scale=scale, liver_centre_mm=centre)
    hilum = anatomy.liver_centre_mm + anatomy.liver_scale * np.array([30.0, 25.0, -20.0])
    return replace(
        anatomy,
        portal_from_mm=hilum,
        portal_to_mm=hilum + anatomy.liver_scale * np.array([-45.0, -10.0, 25.0]),
    )
