"""Tissue IHC of biopsy cores: CD8 density, immune phenotype and PD-L1 cell counts.

Everything follows the latent ``immune`` z (domain.md §8.2):

- CD8+ cells per mm² at the invasive margin: lognormal, median 120 /mm² at ``immune`` = 0,
  × e^0.8 per SD; the tumour core holds a share ``sigmoid(1.3 immune + noise)`` of that density.
- Immune phenotype, read from the densities as a digital-pathology rule: *desert* if neither
  compartment reaches 50 /mm², *inflamed* if the core reaches 50 /mm² and at least 40 % of the
  margin density, otherwise *excluded*.
- PD-L1 (clone 22C3): viable tumour cells counted (median ~1,200; ~8 % scant or necrotic cores
  with a median of 60, so some fall under the 100 cells that TPS/CPS need), PD-L1+ tumour cells
  (binomial, TPS rising with ``immune``), PD-L1+ lymphocytes and macrophages (Poisson, per
  viable tumour cell). TPS and CPS are computed downstream from these counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

IHC_COLUMNS = ("sample_id", "patient_id", "cd8_core_per_mm2", "cd8_margin_per_mm2",
               "immune_phenotype", "pdl1_clone", "viable_tumour_cells", "pdl1_pos_tumour_cells",
               "pdl1_pos_lymphocytes", "pdl1_pos_macrophages")

_PHENOTYPE_MIN_PER_MM2 = 50.0
_INFLAMED_CORE_SHARE = 0.4


def simulate_ihc(*, latent: pd.DataFrame, ihc_samples: pd.DataFrame,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Simulate IHC read-outs for the IHC samples.

    Parameters
    ----------
    latent : pandas.DataFrame
        Latent state indexed by ``patient_id`` with ``immune``.
    ihc_samples : pandas.DataFrame
        Rows of the sample table with ``kind == "ihc"``.
    rng : numpy.random.Generator
        Random stream.

    Returns
    -------
    pandas.DataFrame
        One row per IHC sample, columns :data:`IHC_COLUMNS`; densities in cells/mm², counts as
        integers.
    """
    n = len(ihc_samples)
    immune = latent.loc[ihc_samples["patient_id"], "immune"].to_numpy(dtype=float)
    margin = 120.0 * np.exp(0.8 * immune + rng.normal(0.0, 0.45, n))
    core = margin * expit(1.3 * immune + rng.normal(0.0, 0.6, n))
    phenotype = np.where(
        np.maximum(core, margin) < _PHENOTYPE_MIN_PER_MM2, "desert",
        np.where((core >= _PHENOTYPE_MIN_PER_MM2) & (core >= _INFLAMED_CORE_SHARE * margin),
                 "inflamed", "excluded"))

    scant = rng.random(n) < 0.08
    viable = np.maximum(np.round(np.where(scant, 60.0, 1200.0)
                                 * np.exp(rng.normal(0.0, np.where(scant, 0.6, 0.7), n))), 1)
    viable = viable.astype(np.int64)
    tps_fraction = expit(-5.0 + 1.1 * immune + rng.normal(0.0, 0.9, n))
    lymph_rate = np.exp(-4.0 + 1.0 * immune + rng.normal(0.0, 0.7, n))
    macro_rate = np.exp(-4.3 + 0.7 * immune + rng.normal(0.0, 0.7, n))
    return pd.DataFrame({
        "sample_id": ihc_samples["sample_id"].to_numpy(),
        "patient_id": ihc_samples["patient_id"].to_numpy(),
        "cd8_core_per_mm2": np.round(core, 1),
        "cd8_margin_per_mm2": np.round(margin, 1),
        "immune_phenotype": phenotype,
        "pdl1_clone": "22C3",
        "viable_tumour_cells": viable,
        "pdl1_pos_tumour_cells": rng.binomial(viable, tps_fraction).astype(np.int64),
        "pdl1_pos_lymphocytes": rng.poisson(viable * lymph_rate).astype(np.int64),
        "pdl1_pos_macrophages": rng.poisson(viable * macro_rate).astype(np.int64),
    }, columns=list(IHC_COLUMNS))
