"""Attenuation (HU) of each tissue in the arterial and portal-venous phases.

Typical values of a contrast-enhanced liver CT: in the late arterial phase the aorta is bright,
the liver enhances little (~70 HU) and viable hepatocellular carcinoma hyperenhances (liver plus
the lesion's ``arterial_enhancement_hu``); in the portal-venous phase the liver peaks (~110 HU)
and a lesion with washout is darker than the liver. Necrosis does not enhance (~25 HU). The
exam's contrast timing moves the liver and aorta values a little from exam to exam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from hccfusion.simulate.ct_phantom import LESION_CODE_BASE, Tissue

Phase = Literal["arterial", "portal_venous"]
PHASES: tuple[Phase, Phase] = ("arterial", "portal_venous")

NECROSIS_HU = 25.0
WASHOUT_BELOW_LIVER_HU = 28.0
NO_WASHOUT_ABOVE_LIVER_HU = 5.0

_BASE_HU: dict[Tissue, tuple[float, float]] = {
    Tissue.AIR: (-1000.0, -1000.0),
    Tissue.FAT: (-100.0, -100.0),
    Tissue.MUSCLE: (55.0, 65.0),
    Tissue.CAVITY: (15.0, 25.0),
    Tissue.BONE: (350.0, 350.0),
    Tissue.AORTA: (300.0, 160.0),
    Tissue.IVC: (75.0, 140.0),
    Tissue.PORTAL_VEIN: (140.0, 180.0),
    Tissue.SPLEEN: (120.0, 125.0),
    Tissue.KIDNEY: (190.0, 170.0),
    Tissue.LIVER: (70.0, 110.0),
}


@dataclass(frozen=True)
class LesionEnhancement:
    """Contrast behaviour of one lesion (from the truth table).

    Attributes
    ----------
    arterial_enhancement_hu : float
        Arterial-phase enhancement of the viable part above the liver (HU).
    washout : bool
        Whether the viable part is darker than the liver in the portal-venous phase.
    """

    arterial_enhancement_hu: float
    washout: bool


def hu_tables(*, lesions: list[LesionEnhancement], rng: np.random.Generator) -> dict[Phase, np.ndarray]:
    """Lookup tables from tissue code to HU, one per phase.

    Parameters
    ----------
    lesions : list of LesionEnhancement
        In label order (see ``ct_phantom``).
    rng : numpy.random.Generator
        The exam's stream: sets this exam's contrast timing (liver ±5 HU, aorta ±10 %).

    Returns
    -------
    dict
        ``{"arterial": table, "portal_venous": table}``, each float32 of shape ``(256,)``.
    """
    liver_shift = rng.normal(0.0, 5.0, size=2)
    aorta_factor = 1.0 + rng.normal(0.0, 0.1, size=2)
    tables: dict[Phase, np.ndarray] = {}
    for p, phase in enumerate(PHASES):
        table = np.zeros(256, dtype=np.float32)
        for tissue, values in _BASE_HU.items():
            table[tissue] = values[p]
        table[Tissue.LIVER] += liver_shift[p]
        table[Tissue.AORTA] *= aorta_factor[p]
        liver = float(table[Tissue.LIVER])
        for k, lesion in enumerate(lesions):
            code = LESION_CODE_BASE + 2 * k
            if phase == "arterial":
                table[code] = liver + lesion.arterial_enhancement_hu
            elif lesion.washout:
                table[code] = liver - WASHOUT_BELOW_LIVER_HU
            else:
                table[code] = liver + NO_WASHOUT_ABOVE_LIVER_HU
            table[code + 1] = NECROSIS_HU
        tables[phase] = table
    return tables
