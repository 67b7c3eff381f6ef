"""Star-shaped deformed ellipsoids, the building block of simulated organs and tumours.

A shape is an ellipsoid (semi-axes ``semi_axes``, turned by ``yaw_rad`` about the z axis) whose
radius in each direction is multiplied by ``1 + margin * h(direction)``, where ``h`` is a sum of a
few smooth waves on the sphere with values in [-1, 1]. ``margin`` 0 gives the ellipsoid; larger
margins give lobulated, irregular outlines. Coordinates are local: relative to the shape's centre
and divided by its scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def fibonacci_directions(*, n: int) -> np.ndarray:
    """``n`` nearly uniformly spread unit vectors, shape ``(n, 3)``."""
    k = np.arange(n, dtype=np.float64) + 0.5
    z = 1.0 - 2.0 * k / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    phi = np.pi * (3.0 - np.sqrt(5.0)) * k
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


@dataclass(frozen=True)
class StarShape:
    """A deformed ellipsoid in local coordinates.

    Attributes
    ----------
    semi_axes : tuple of float
        Semi-axes (local units) along the shape's own x, y, z axes.
    yaw_rad : float
        Rotation of the shape's axes about the z axis (radians).
    wave_directions : numpy.ndarray
        Unit vectors of the surface waves, shape ``(k, 3)``.
    wave_frequencies, wave_phases, wave_weights : numpy.ndarray
        Angular frequency, phase (radians) and weight of each wave, shape ``(k,)``; the
        absolute weights sum to 1.
    margin : float
        Relative amplitude of the radial deformation, in [0, 0.9].
    """

    semi_axes: tuple[float, float, float]
    yaw_rad: float
    wave_directions: np.ndarray
    wave_frequencies: np.ndarray
    wave_phases: np.ndarray
    wave_weights: np.ndarray
    margin: float

    def _to_unit_sphere_frame(self, q: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.yaw_rad), np.sin(self.yaw_rad)
        x = c * q[..., 0] + s * q[..., 1]
        y = -s * q[..., 0] + c * q[..., 1]
        a, b, h = self.semi_axes
        return np.stack([x / a, y / b, q[..., 2] / h], axis=-1)

    def radial_factor(self, directions: np.ndarray) -> np.ndarray:
        """``1 + margin * h(direction)`` for unit vectors in the ellipsoid's sphere frame.

        Parameters
        ----------
        directions : numpy.ndarray
            Unit vectors, shape ``(..., 3)``.

        Returns
        -------
        numpy.ndarray
            Radius multipliers, shape ``(...)``.
        """
        if self.margin == 0.0:
            return np.ones(directions.shape[:-1])
        proj = directions @ self.wave_directions.T
        waves = np.cos(proj * self.wave_frequencies + self.wave_phases) @ self.wave_weights
        return 1.0 + self.margin * waves

    def contains(self, q: np.ndarray) -> np.ndarray:
        """Whether local points lie inside the shape.

        Parameters
        ----------
        q : numpy.ndarray
            Local coordinates, shape ``(..., 3)``.

        Returns
        -------
        numpy.ndarray
            Boolean, shape ``(...)``.
        """
        v = self._to_unit_sphere_frame(np.asarray(q, dtype=np.float64))
        rho = np.sqrt(np.einsum("...i,...i->...", v, v))
        inside = rho <= 1.0 - self.margin
        # Only points in the shell that the margin waves can reach need the waves evaluated.
        shell = (rho > 1.0 - self.margin) & (rho <= 1.0 + self.margin)
        if shell.any():
            v_shell, rho_shell = v[shell], rho[shell]
            inside[shell] = rho_shell <= self.radial_factor(v_shell / rho_shell[:, None])
        return inside

    def boundary(self, *, n: int) -> np.ndarray:
        """``n`` points on the surface (local coordinates), shape ``(n, 3)``."""
        d = fibonacci_directions(n=n)
        v = d * self.radial_factor(d)[:, None]
        a, b, h = self.semi_axes
        x, y, z = v[:, 0] * a, v[:, 1] * b, v[:, 2] * h
        c, s = np.cos(self.yaw_rad), np.sin(self.yaw_rad)
        return np.stack([c * x - s * y, s * x + c * y, z], axis=1)

    def volume(self, *, n: int = 2000) -> float:
        """Volume (local units³), by quadrature of ``r³/3`` over the sphere."""
        d = fibonacci_directions(n=n)
        return float(np.prod(self.semi_axes) * 4.0 * np.pi / 3.0 * np.mean(self.radial_factor(d) ** 3))


def sample_star_shape(
    *,
    rng: np.random.Generator,
    semi_axes: tuple[float, float, float],
    yaw_rad: float,
    margin: float,
    n_waves: int = 6,
    frequency_range: tuple[float, float] = (2.0, 6.0),
) -> StarShape:
    """A random star shape with the given ellipsoid and deformation amplitude.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the wave directions, frequencies, phases and weights.
    semi_axes : tuple of float
        Ellipsoid semi-axes (local units).
    yaw_rad : float
        Rotation about z (radians).
    margin : float
        Relative radial deformation amplitude, in [0, 0.9].
    n_waves : int
        Number of surface waves.
    frequency_range : tuple of float
        Range of the waves' angular frequencies (higher = finer lobulation).
    """
    directions = rng.normal(size=(n_waves, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    weights = rng.uniform(0.3, 1.0, size=n_waves)
    return StarShape(
        semi_axes=semi_axes,
        yaw_rad=float(yaw_rad),
        wave_directions=directions,
        wave_frequencies=rng.uniform(*frequency_range, size=n_waves),
        wave_phases=rng.uniform(0.0, 2.0 * np.pi, size=n_waves),
        wave_weights=weights / weights.sum(),
        margin=float(np.clip(margin, 0.0, 0.9)),
    )
