"""H&E stain vectors (Macenko), stain normalisation and per-centre stain statistics.

Beer–Lambert: a pixel's optical density ``OD = −log10(I / Io)`` over (R, G, B) is
``OD = c_H · H + c_E · E`` with ``H`` and ``E`` the unit OD vectors of haematoxylin and eosin.
Macenko's method (Macenko et al., "A method for normalizing histology slides for quantitative
analysis", ISBI 2009): drop nearly transparent pixels (any channel OD < ``beta``), project the
rest on the plane of the two leading eigenvectors of their OD covariance, and take the
directions at the ``alpha`` and ``100 − alpha`` percentiles of their angle in that plane as the
two stains; haematoxylin is the one that absorbs more red. Normalisation maps each pixel's
concentrations, scaled by the ratio of the 99th-percentile concentrations, onto the target's
stain vectors.

Normalisation is optional; when used, :meth:`MacenkoNormalizer.to_dict` is what a bag records in
its provenance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 1
_MIN_PIXELS = 50  # stained pixels needed for a stable covariance
_MAX_PIXELS = 200_000  # pixels used for estimation (evenly strided beyond this; enough for 3×3 covariance and percentiles)


@dataclass(frozen=True)
class StainMatrix:
    """Stain vectors and strengths of an image or slide.

    Attributes
    ----------
    he : numpy.ndarray
        float, shape ``(2, 3)``: unit OD vectors over (R, G, B), row 0 haematoxylin, row 1
        eosin.
    max_conc : numpy.ndarray
        float, shape ``(2,)``: 99th-percentile concentrations of H and E (OD units).
    """

    he: np.ndarray
    max_conc: np.ndarray


def _check_rgb(rgb: Any, where: str) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim < 2 or arr.shape[-1] != 3:
        raise UsageError(f"The 'rgb' parameter of {where} must be a uint8 RGB array of shape "
                         f"(..., 3). Got {arr.dtype} {arr.shape} instead.")
    return arr


def _od(pixels: np.ndarray, io: float) -> np.ndarray:
    """Optical density (base 10), float64 (n, 3); +1 keeps black finite."""
    return (-np.log10((pixels.astype(np.float64) + 1.0) / io)).clip(min=0.0)


def _sample(pixels: np.ndarray) -> np.ndarray:
    if len(pixels) > _MAX_PIXELS:
        pixels = pixels[:: math.ceil(len(pixels) / _MAX_PIXELS)]
    return pixels


def estimate_stains(rgb: np.ndarray, *, beta: float = 0.15, alpha: float = 1.0,
                    io: float = 240.0) -> StainMatrix:
    """Estimate H&E stain vectors of an image (Macenko et al., ISBI 2009).

    Parameters
    ----------
    rgb : numpy.ndarray
        uint8, shape ``(..., 3)``: one image, a batch of tiles or a list of pixels.
    beta : float
        OD below which a channel counts as transparent; such pixels are ignored.
    alpha : float
        Percentile (0–50) of the angle taken as the extreme stain directions.
    io : float
        Background (glass) intensity, 0–255.

    Returns
    -------
    StainMatrix

    Raises
    ------
    hccfusion.errors.DataError
        When fewer than 50 pixels are stained (blank input).
    """
    arr = _check_rgb(rgb, "estimate_stains")
    if not 0.0 <= alpha < 50.0:
        raise UsageError("The 'alpha' parameter of estimate_stains must be a percentile "
                         f"between 0 and 50. Got {alpha!r} instead.")
    od = _od(_sample(arr.reshape(-1, 3)), io)
    stained = od[np.all(od >= beta, axis=1)]
    if len(stained) < _MIN_PIXELS:
        raise DataError(f"cannot estimate stain vectors: only {len(stained)} stained pixels "
                        f"(every channel OD >= {beta:g}); at least {_MIN_PIXELS} are needed. "
                        "Is the image blank glass?")
    _, vectors = np.linalg.eigh(np.cov(stained, rowvar=False))
    plane = vectors[:, [2, 1]]  # leading eigenvectors, largest first
    plane = plane * np.where(plane.sum(axis=0) < 0, -1.0, 1.0)  # point into positive OD
    proj = stained @ plane
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, [alpha, 100.0 - alpha])
    v1 = plane @ np.array([np.cos(lo), np.sin(lo)])
    v2 = plane @ np.array([np.cos(hi), np.sin(hi)])
    he = np.stack([v1, v2] if v1[0] > v2[0] else [v2, v1])
    he = he.clip(min=0.0)
    he = he / np.linalg.norm(he, axis=1, keepdims=True)
    conc = _concentrations(od, he)
    max_conc = np.percentile(conc, 100.0 - alpha, axis=0) if alpha > 0 else conc.max(axis=0)
    return StainMatrix(he=he, max_conc=np.maximum(max_conc, 1e-6))


def _concentrations(od: np.ndarray, he: np.ndarray) -> np.ndarray:
    """Least-squares H and E concentrations of OD rows (n, 3) → (n, 2).

    ``he`` is 2 × 3 with independent rows, so the least-squares solution is ``od @ pinv(he)``:
    one small matrix product instead of ``lstsq`` with n right-hand sides (≈ 50× faster)."""
    return od @ np.linalg.pinv(he)


class MacenkoNormalizer:
    """Map tiles onto a target's stain vectors and strengths (Macenko et al., ISBI 2009).

    Parameters
    ----------
    beta, alpha, io : float
        As in :func:`estimate_stains`.

    Attributes
    ----------
    target_ : StainMatrix
        The target's stains, set by :meth:`fit`.

    Example
    -------
    >>> norm = MacenkoNormalizer().fit(reference_tile)  # doctest: +SKIP
    >>> same_look = norm.transform(tiles)  # uint8 [n, h, w, 3]  # doctest: +SKIP
    """

    def __init__(self, *, beta: float = 0.15, alpha: float = 1.0, io: float = 240.0) -> None:
        self.beta = beta
        self.alpha = alpha
        self.io = io

    def fit(self, target_rgb: np.ndarray) -> MacenkoNormalizer:
        """Learn the target stains from an image or tiles (uint8, ``(..., 3)``)."""
        self.target_ = estimate_stains(target_rgb, beta=self.beta, alpha=self.alpha,
                                       io=self.io)
        return self

    def transform(self, tiles: np.ndarray, *, source: StainMatrix | None = None) -> np.ndarray:
        """Normalise tiles.

        Parameters
        ----------
        tiles : numpy.ndarray
            uint8, shape ``(n, h, w, 3)`` (or any ``(..., 3)``), all from one slide.
        source : StainMatrix, optional
            The slide's stains (e.g. from :func:`estimate_stains` on a tile sample); estimated
            from ``tiles`` jointly when omitted. Tiles without stained pixels are returned
            unchanged.

        Returns
        -------
        numpy.ndarray
            uint8, same shape as ``tiles``.
        """
        if not hasattr(self, "target_"):
            raise UsageError("MacenkoNormalizer is not fitted; call fit(target_rgb) first.")
        arr = _check_rgb(tiles, "MacenkoNormalizer.transform")
        if source is None:
            try:
                source = estimate_stains(arr, beta=self.beta, alpha=self.alpha, io=self.io)
            except DataError:
                return arr.copy()
        flat = arr.reshape(-1, 3)
        conc = _concentrations(_od(flat, self.io), source.he)
        conc *= self.target_.max_conc / source.max_conc
        od = conc @ self.target_.he
        out = self.io * np.power(10.0, -od)
        return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(arr.shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (format version, parameters, fitted target)."""
        if not hasattr(self, "target_"):
            raise UsageError("MacenkoNormalizer is not fitted; call fit(target_rgb) first.")
        return {"method": "macenko", "format_version": FORMAT_VERSION, "beta": float(self.beta),
                "alpha": float(self.alpha), "io": float(self.io),
                "he": self.target_.he.round(6).tolist(),
                "max_conc": self.target_.max_conc.round(6).tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MacenkoNormalizer:
        """Rebuild a fitted normaliser from :meth:`to_dict` output."""
        need = ("method", "format_version", "beta", "alpha", "io", "he", "max_conc")
        missing = [k for k in need if k not in data]
        if missing or data.get("method") != "macenko":
            raise DataError(f"not a Macenko normaliser description: missing {missing} or method "
                            f"{data.get('method')!r} (expected 'macenko').")
        if data["format_version"] != FORMAT_VERSION:
            raise DataError(f"Macenko normaliser format version {data['format_version']} is not "
                            f"supported (expected {FORMAT_VERSION}).")
        he = np.asarray(data["he"], dtype=np.float64)
        max_conc = np.asarray(data["max_conc"], dtype=np.float64)
        if he.shape != (2, 3) or max_conc.shape != (2,):
            raise DataError(f"Macenko normaliser: 'he' must be 2 × 3 and 'max_conc' 2 values. "
                            f"Got {he.shape} and {max_conc.shape} instead.")
        norm = cls(beta=float(data["beta"]), alpha=float(data["alpha"]), io=float(data["io"]))
        norm.target_ = StainMatrix(he=he, max_conc=max_conc)
        return norm


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def centre_stain_statistics(matrices_by_slide: Mapping[str, StainMatrix],
                            centres: Mapping[str, str]):
    """Stain vectors and strengths summarised per centre.

    Parameters
    ----------
    matrices_by_slide : mapping of str to StainMatrix
        ``slide_id`` → its stains.
    centres : mapping of str to str
        ``slide_id`` → centre code.

    Returns
    -------
    pandas.DataFrame
        One row per centre: ``center``, ``n_slides``, mean unit vectors ``h_od_r``, ``h_od_g``,
        ``h_od_b``, ``e_od_r``, ``e_od_g``, ``e_od_b``, the mean angle (degrees) of the slides'
        H and E vectors from their centre mean ``h_spread_deg``, ``e_spread_deg``, and the
        strengths ``h_max_conc_mean``/``_sd``, ``e_max_conc_mean``/``_sd``.

    Raises
    ------
    hccfusion.errors.DataError
        If a slide has no centre.
    """
    import pandas as pd

    missing = sorted(set(matrices_by_slide) - set(centres))
    if missing:
        raise DataError(f"centre_stain_statistics: {len(missing)} slide(s) have no centre: "
                        f"{', '.join(missing[:5])}. Add them to 'centres'.")
    rows = []
    for centre in sorted({centres[s] for s in matrices_by_slide}):
        ids = [s for s in matrices_by_slide if centres[s] == centre]
        he = np.stack([matrices_by_slide[s].he for s in ids])  # (n, 2, 3)
        conc = np.stack([matrices_by_slide[s].max_conc for s in ids])  # (n, 2)
        mean = he.mean(axis=0)
        mean /= np.linalg.norm(mean, axis=1, keepdims=True)
        spread = _angle_deg(he, mean[None]).mean(axis=0)
        sd = conc.std(axis=0, ddof=1) if len(ids) > 1 else np.full(2, np.nan)
        rows.append({"center": centre, "n_slides": len(ids),
                     **{f"{s}_od_{c}": float(mean[i, j]) for i, s in enumerate("he")
                        for j, c in enumerate("rgb")},
                     "h_spread_deg": float(spread[0]), "e_spread_deg": float(spread[1]),
                     "h_max_conc_mean": float(conc[:, 0].mean()), "h_max_conc_sd": float(sd[0]),
                     "e_max_conc_mean": float(conc[:, 1].mean()), "e_max_conc_sd": float(sd[1])})
    return pd.DataFrame(rows)


def stain_by_centre(qc: "pd.DataFrame") -> "pd.DataFrame":
    """Per-centre stain statistics from a QC table (one row per slide, as ``slide_qc`` writes:
    ``slide_id``, ``center``, ``h_od_r/g/b``, ``e_od_r/g/b``, ``h_max_conc``, ``e_max_conc``).

    Slides without stain estimates (no tiles) or without a centre are left out; see
    :func:`centre_stain_statistics` for the columns.
    """
    import pandas as pd

    cols = ["h_od_r", "h_od_g", "h_od_b", "e_od_r", "e_od_g", "e_od_b", "h_max_conc", "e_max_conc"]
    if qc.empty or any(c not in qc.columns for c in cols + ["slide_id", "center"]):
        return pd.DataFrame(columns=["center", "n_slides"])
    ok = qc.dropna(subset=cols + ["center"])
    ok = ok[ok["center"].astype(str) != ""]
    if ok.empty:
        return pd.DataFrame(columns=["center", "n_slides"])
    matrices = {row.slide_id: StainMatrix(
        he=np.array([[row.h_od_r, row.h_od_g, row.h_od_b], [row.e_od_r, row.e_od_g, row.e_od_b]]),
        max_conc=np.array([row.h_max_conc, row.e_max_conc])) for row in ok.itertuples()}
    return centre_stain_statistics(matrices, dict(zip(ok["slide_id"], ok["center"].astype(str))))
