"""What a simulated biopsy contains, drawn from the patient's latent state.

The latent state (``immune``, ``proliferation``, ``hypoxia``, ``wnt``; see
``docs/simulator_contract.md``) sets the composition; this module turns it into explicit
objects for the whole slide — nuclei, lymphoid aggregates, pseudo-glandular lumens and the
smooth fields of stroma and texture — which the renderer then draws region by region.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from hccfusion.simulate.wsi_geometry import CoreGeometry
from hccfusion.simulate.wsi_noise import SmoothField
from hccfusion.simulate.wsi_stamp import Disks, Nuclei

_UM2_PER_MM2 = 1e6


@dataclass(frozen=True)
class Composition:
    """Tissue composition of one slide (physical units; recorded in the sidecar).

    Attributes
    ----------
    tumour_spacing_um : float
        Mean distance between tumour-cell nuclei (µm).
    tumour_radius_um : float
        Median tumour nuclear radius (µm).
    pleomorphism : float
        Log-SD of nuclear size and scale of outline irregularity.
    tumour_darkness : float
        Mean tumour nuclear haematoxylin concentration (OD units).
    stroma_fraction : float
        Target share of tissue that is fibrous stroma.
    lymphocytes_per_mm2 : float
        Diffuse lymphocyte density (cells / mm² of tissue).
    aggregates_per_mm2 : float
        Density of lymphoid aggregates (per mm² of tissue).
    lumens_per_mm2 : float
        Density of pseudo-glandular lumens (per mm² of tissue).
    """

    tumour_spacing_um: float
    tumour_radius_um: float
    pleomorphism: float
    tumour_darkness: float
    stroma_fraction: float
    lymphocytes_per_mm2: float
    aggregates_per_mm2: float
    lumens_per_mm2: float

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def _expit(z: float) -> float:
    return 1.0 / (1.0 + float(np.exp(-z)))


def composition(*, immune: float, proliferation: float, hypoxia: float, wnt: bool) -> Composition:
    """Map latent z-scores to tissue composition.

    Proliferation: denser, larger, more pleomorphic and darker tumour nuclei. Immune: more
    lymphocytes and aggregates (WNT-activated tumours are immune-cold: both × 0.3). Hypoxia:
    more stroma. WNT: pseudo-glandular lumens.
    """
    cold = 0.3 if wnt else 1.0
    return Composition(
        tumour_spacing_um=15.0 * float(np.exp(-0.10 * proliferation)),
        tumour_radius_um=4.2 * float(np.exp(0.14 * proliferation)),
        pleomorphism=0.07 + 0.13 * (_expit(1.5 * proliferation)),
        tumour_darkness=0.50 + 0.25 * (_expit(proliferation)),
        stroma_fraction=0.06 + 0.36 * (_expit(1.2 * (hypoxia - 0.3))),
        lymphocytes_per_mm2=cold * min(1800.0 * float(np.exp(0.75 * immune)), 8000.0),
        aggregates_per_mm2=cold * min(1.5 * float(np.exp(0.9 * immune)), 12.0),
        lumens_per_mm2=250.0 if wnt else 25.0,
    )


@dataclass(frozen=True)
class TissueContent:
    """Everything drawn inside the cores of one slide.

    Attributes
    ----------
    nuclei : Nuclei
        All nuclei (tumour, lymphocyte, fibroblast), sorted by y.
    lumens : Disks
        Pseudo-glandular lumens (empty space inside tissue).
    aggregates : Disks
        Lymphoid aggregates (the planted regions).
    stroma : SmoothField
        Ridged field; stroma where ``|value| < stroma_threshold``.
    stroma_threshold : float
        Threshold giving the target stroma fraction for a standard-normal field.
    sinusoid, cytoplasm, fibre : SmoothField
        Texture fields: sinusoidal spaces, cytoplasm shade, stromal fibres (along x).
    """

    nuclei: Nuclei
    lumens: Disks
    aggregates: Disks
    stroma: SmoothField
    stroma_threshold: float
    sinusoid: SmoothField
    cytoplasm: SmoothField
    fibre: SmoothField

    def stroma_weight(self, values: np.ndarray) -> np.ndarray:
        """Soft stroma membership in [0, 1] from stroma-field values."""
        return stroma_weight(values, threshold=self.stroma_threshold)


def stroma_weight(values: np.ndarray, *, threshold: float) -> np.ndarray:
    """Soft stroma membership in [0, 1]: a ridge of the field where ``|values| < threshold``."""
    return np.clip((threshold - np.abs(values)) / 0.08 + 0.5, 0.0, 1.0)


def _inside(cores: tuple[CoreGeometry, ...], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ok = np.zeros(x.shape, dtype=bool)
    for core in cores:
        ok |= core.contains(x=x, y=y)
    return ok


def _uniform_in_cores(rng, cores, n_per_core: list[int]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for core, n in zip(cores, n_per_core, strict=True):
        bx0, by0, bx1, by1 = core.bbox()
        frac = 2.0 * core.half_width * core.length / ((bx1 - bx0) * (by1 - by0))
        m = int(n / max(frac, 0.05)) + 1
        x = rng.uniform(bx0, bx1, m)
        y = rng.uniform(by0, by1, m)
        ok = core.contains(x=x, y=y)
        xs.append(x[ok][:n])
        ys.append(y[ok][:n])
    return np.concatenate(xs), np.concatenate(ys)


def _nuclei(x, y, rx, ry, angle, darkness, rim, a2, a3, kind, rng) -> Nuclei:
    n = x.size
    return Nuclei(
        x=x, y=y, rx=rx, ry=ry, angle=angle, darkness=darkness, rim=rim,
        a2=a2, p2=rng.uniform(0, 2 * np.pi, n), a3=a3, p3=rng.uniform(0, 2 * np.pi, n),
        kind=np.full(n, kind, dtype=np.int8),
    )


def sample_content(
    *,
    rng: np.random.Generator,
    comp: Composition,
    cores: tuple[CoreGeometry, ...],
    mpp: float,
    slide_width: int,
    slide_height: int,
) -> TissueContent:
    """Draw the nuclei, aggregates, lumens and fields of a slide.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    comp : Composition
        Target composition.
    cores : tuple of CoreGeometry
        Tissue cores (level-0 px).
    mpp : float
        Level-0 resolution (µm/px).
    slide_width, slide_height : int
        Slide size (px).
    """
    px = 1.0 / mpp  # px per µm
    fields = {
        name: SmoothField.random(rng=rng, width=slide_width, height=slide_height,
                                 spacing_x=sx * px, spacing_y=sy * px)
        for name, sx, sy in [("stroma", 60, 60), ("sinusoid", 9, 9), ("cytoplasm", 20, 20),
                             ("fibre", 30, 3), ("immune", 80, 80)]
    }
    threshold = NormalDist().inv_cdf(0.5 + 0.5 * comp.stroma_fraction)  # P(|z| < t) = fraction
    area_mm2 = [2.0 * c.half_width * c.length * mpp * mpp / _UM2_PER_MM2 for c in cores]

    # lymphoid aggregates: the planted regions, kept whole inside the tissue
    n_agg = [int(rng.poisson(comp.aggregates_per_mm2 * a)) for a in area_mm2]
    ax, ay = _uniform_in_cores(rng, cores, n_agg)
    ar = rng.uniform(30.0, 70.0, ax.size) * px
    room = np.zeros_like(ar)
    for core in cores:
        on = core.contains(x=ax, y=ay)
        # the disk must fit across the core, and along it inside the rounded ends
        cy, _ = core.centre_y(ax[on])
        across = core.local_half_width(ax[on]) - np.abs(ay[on] - cy)
        along = np.minimum(ax[on] - core.x_start, core.x_end - ax[on]) - core.half_width
        room[on] = np.minimum(across, along + across) - 4.0
    fits = room >= 12.0 * px
    ax, ay, ar = ax[fits], ay[fits], np.minimum(ar, room)[fits]
    order = np.argsort(ay)
    aggregates = Disks(x=ax[order], y=ay[order], r=ar[order])

    # tumour cells on a jittered grid; fibroblasts where the grid falls into stroma
    step = comp.tumour_spacing_um * px
    gx, gy = [], []
    for core in cores:
        bx0, by0, bx1, by1 = core.bbox()
        xx, yy = np.meshgrid(np.arange(bx0, bx1, step), np.arange(by0, by1, step))
        xx = xx.ravel() + rng.uniform(-0.35, 0.35, xx.size) * step
        yy = yy.ravel() + rng.uniform(-0.35, 0.35, yy.size) * step
        ok = core.contains(x=xx, y=yy)
        gx.append(xx[ok])
        gy.append(yy[ok])
    tx, ty = np.concatenate(gx), np.concatenate(gy)
    s_weight = stroma_weight(fields["stroma"].at(x=tx, y=ty), threshold=threshold)
    in_agg = np.zeros(tx.size, dtype=bool)
    for x, y, r in zip(ax, ay, ar, strict=True):
        in_agg |= (tx - x) ** 2 + (ty - y) ** 2 < (0.9 * r) ** 2
    is_stroma = s_weight > 0.5
    fib = is_stroma & (rng.random(tx.size) < 0.22) & ~in_agg
    tum = ~is_stroma & ~in_agg

    n = int(tum.sum())
    r0 = comp.tumour_radius_um * px * np.exp(rng.normal(0.0, comp.pleomorphism, n))
    aspect = np.exp(-np.abs(rng.normal(0.0, 1.5 * comp.pleomorphism, n)))
    tumour = _nuclei(
        tx[tum], ty[tum], r0 / np.sqrt(aspect), r0 * np.sqrt(aspect),
        rng.uniform(0, np.pi, n),
        comp.tumour_darkness * np.exp(rng.normal(0.0, 0.12, n)),
        np.clip(0.75 - 0.6 * (comp.tumour_darkness - 0.5) / 0.25, 0.1, 0.8) * np.ones(n),
        rng.uniform(0.0, 1.3 * comp.pleomorphism, n), rng.uniform(0.0, 0.8 * comp.pleomorphism, n),
        0, rng,
    )
    n = int(fib.sum())
    fibro = _nuclei(
        tx[fib], ty[fib], rng.uniform(4.0, 6.5, n) * px, rng.uniform(1.1, 1.6, n) * px,
        rng.normal(0.0, 0.35, n), rng.uniform(0.75, 0.95, n), np.zeros(n),
        np.zeros(n), np.zeros(n), 2, rng,
    )

    # lymphocytes: diffuse (denser in stroma, patchy) plus packed inside aggregates
    n_diffuse = [int(rng.poisson(2.0 * comp.lymphocytes_per_mm2 * a)) for a in area_mm2]
    lx, ly = _uniform_in_cores(rng, cores, n_diffuse)
    pref = np.exp(0.7 * fields["immune"].at(x=lx, y=ly) - 0.245) * (
        1.0 + 1.5 * stroma_weight(fields["stroma"].at(x=lx, y=ly), threshold=threshold))
    keep = rng.random(lx.size) < 0.5 * pref / (1.0 + 1.5 * comp.stroma_fraction)
    lx, ly = lx[keep], ly[keep]
    agg_x, agg_y = [lx], [ly]
    for x, y, r in zip(ax, ay, ar, strict=True):
        m = int(rng.poisson(np.pi * (r / px) ** 2 * 0.022))  # ~22,000 cells / mm², packed
        rr = r * np.sqrt(rng.beta(1.0, 1.6, m))
        th = rng.uniform(0, 2 * np.pi, m)
        agg_x.append(x + rr * np.cos(th))
        agg_y.append(y + rr * np.sin(th))
    lx, ly = np.concatenate(agg_x), np.concatenate(agg_y)
    ok = _inside(cores, lx, ly)
    lx, ly = lx[ok], ly[ok]
    n = lx.size
    lr = rng.normal(2.9, 0.22, n) * px
    la = np.exp(-np.abs(rng.normal(0.0, 0.08, n)))
    lymph = _nuclei(
        lx, ly, lr / np.sqrt(la), lr * np.sqrt(la), rng.uniform(0, np.pi, n),
        rng.uniform(1.05, 1.3, n), np.zeros(n), np.zeros(n), np.zeros(n), 1, rng,
    )

    parts = [tumour, fibro, lymph]
    merged = Nuclei(**{k: np.concatenate([getattr(p, k) for p in parts])
                       for k in Nuclei.__dataclass_fields__})
    merged = merged.take(np.argsort(merged.y, kind="stable"))

    n_lum = [int(rng.poisson(comp.lumens_per_mm2 * a)) for a in area_mm2]
    ux, uy = _uniform_in_cores(rng, cores, n_lum)
    order = np.argsort(uy)
    lumens = Disks(x=ux[order], y=uy[order], r=rng.uniform(5.0, 12.0, ux.size)[order] * px)

    return TissueContent(
        nuclei=merged, lumens=lumens, aggregates=aggregates, stroma=fields["stroma"],
        stroma_threshold=threshold, sinusoid=fields["sinusoid"], cytoplasm=fields["cytoplasm"],
        fibre=fields["fibre"],
    )
