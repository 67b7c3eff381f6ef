"""Blood flow cytometry (lymphocyte subsets) at three blood sites, driven by ``immune``.

Per patient, a systemic random effect is shared by all sites (a patient's blood looks alike
everywhere); the tumour signal ``immune`` enters with a site gain: hepatic vein blood drains the
tumour and carries the strongest signal (gain 1.0), hepatic artery and peripheral blood carry
systemic blood (0.4). Composition is built hierarchically so the percentages stay coherent:
CD3+ share of lymphocytes, then NK vs B among the rest, CD8+ share of CD3+, CD4+ the remainder
less double-negative T cells, and Treg as a share of CD4+. Reference ranges in HCC patients:
CD3 ~ 65 %, CD4 ~ 38 %, CD8 ~ 24 %, NK ~ 15 %, B ~ 11 % of lymphocytes, Treg ~ 6.5 % of CD4,
lymphocytes ~ 1.4 × 10⁹/L. An on-treatment peripheral sample (after PD-1) shows a CD8 expansion
that grows with ``immune``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit

FLOW_COLUMNS = ("sample_id", "patient_id", "site", "timepoint", "cd3_pct_lymphocytes",
                "cd4_pct_lymphocytes", "cd8_pct_lymphocytes", "cd4_cd8_ratio",
                "nk_pct_lymphocytes", "b_pct_lymphocytes", "treg_pct_cd4",
                "lymphocytes_10e9_per_l", "cd3_per_ul", "cd4_per_ul", "cd8_per_ul", "nk_per_ul",
                "b_per_ul")

#: Strength of the tumour-immune signal in each blood site.
SITE_GAIN = {"hepatic_vein_blood": 1.0, "hepatic_artery_blood": 0.4, "peripheral_blood": 0.4}


def simulate_flow(*, latent: pd.DataFrame, flow_samples: pd.DataFrame,
                  rng: np.random.Generator) -> pd.DataFrame:
    """Simulate lymphocyte subsets for the flow-cytometry samples.

    Parameters
    ----------
    latent : pandas.DataFrame
        Latent state indexed by ``patient_id`` with ``immune``.
    flow_samples : pandas.DataFrame
        Rows of the sample table with ``kind == "flow"`` (``site``, ``timepoint``).
    rng : numpy.random.Generator
        Random stream.

    Returns
    -------
    pandas.DataFrame
        One row per flow sample, columns :data:`FLOW_COLUMNS`: percentages of lymphocytes (Treg
        as % of CD4+), lymphocytes in 10⁹/L and absolute subset counts in cells/µL.
    """
    patients = sorted(flow_samples["patient_id"].unique())
    # Systemic per-patient effects: CD3 share, NK/B split, CD8 share, Treg share, lymphocyte count.
    systemic = pd.DataFrame(rng.normal(0.0, [0.35, 0.4, 0.35, 0.25, 0.35], (len(patients), 5)),
                            index=patients, columns=["t", "nk", "cd8", "treg", "alc"])
    n = len(flow_samples)
    pid = flow_samples["patient_id"].to_numpy()
    re = systemic.loc[pid]
    immune = latent.loc[pid, "immune"].to_numpy(dtype=float)
    gain = flow_samples["site"].map(SITE_GAIN).to_numpy(dtype=float)
    on_treatment = (flow_samples["timepoint"] == "on_treatment").to_numpy()
    signal = gain * immune

    def noise(sd: float) -> np.ndarray:
        return rng.normal(0.0, sd, n)

    cd3 = expit(logit(0.65) + 0.18 * signal + re["t"].to_numpy() + noise(0.08))
    nk_share = expit(logit(0.55) + 0.15 * signal + re["nk"].to_numpy() + noise(0.1))
    non_t = (1.0 - cd3) * (1.0 - 0.04 * np.exp(noise(0.3)))
    nk, b = non_t * nk_share, non_t * (1.0 - nk_share)
    cd8_of_t = expit(logit(0.37) + 0.45 * signal + 0.3 * on_treatment
                     + 0.2 * on_treatment * immune + re["cd8"].to_numpy() + noise(0.07))
    dn_of_t = 0.05 * np.exp(noise(0.3))
    cd4_of_t = np.clip(1.0 - cd8_of_t - dn_of_t, 0.02, None)
    treg = expit(logit(0.065) - 0.25 * signal + re["treg"].to_numpy() + noise(0.1))
    alc = 1.4 * np.exp(0.12 * signal + re["alc"].to_numpy() + noise(0.05))

    cd3_pct, cd4_pct, cd8_pct = 100 * cd3, 100 * cd3 * cd4_of_t, 100 * cd3 * cd8_of_t
    per_ul = alc * 1000.0 / 100.0
    return pd.DataFrame({
        "sample_id": flow_samples["sample_id"].to_numpy(),
        "patient_id": pid,
        "site": flow_samples["site"].to_numpy(),
        "timepoint": flow_samples["timepoint"].to_numpy(),
        "cd3_pct_lymphocytes": np.round(cd3_pct, 1),
        "cd4_pct_lymphocytes": np.round(cd4_pct, 1),
        "cd8_pct_lymphocytes": np.round(cd8_pct, 1),
        "cd4_cd8_ratio": np.round(cd4_pct / cd8_pct, 2),
        "nk_pct_lymphocytes": np.round(100 * nk, 1),
        "b_pct_lymphocytes": np.round(100 * b, 1),
        "treg_pct_cd4": np.round(100 * treg, 1),
        "lymphocytes_10e9_per_l": np.round(alc, 2),
        "cd3_per_ul": np.round(cd3_pct * per_ul).astype(np.int64),
        "cd4_per_ul": np.round(cd4_pct * per_ul).astype(np.int64),
        "cd8_per_ul": np.round(cd8_pct * per_ul).astype(np.int64),
        "nk_per_ul": np.round(100 * nk * per_ul).astype(np.int64),
        "b_per_ul": np.round(100 * b * per_ul).astype(np.int64),
    }, columns=list(FLOW_COLUMNS))
