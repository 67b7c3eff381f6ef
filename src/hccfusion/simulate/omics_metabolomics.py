"""Untargeted LC-MS serum metabolomics: a peak table with pooled QCs, drift, noise and gaps.

Model, per injection ``i`` and feature ``f`` (natural-log intensity)::

    y[i, f] = mu[f] + bio[s(i), f] + effect[f] @ x[s(i)] + offset[batch, f] + drift[batch, f](t)
              + tech[i, f]

``bio`` is between-patient variation (SD 0.25–0.5); ``effect`` is non-zero only for the planted
features (:data:`PLANTED_METABOLITES` and a few unannotated ones); pooled QC injections carry the
mean of the study samples and no biological variation; ``drift`` is a smooth per-batch trend over
injection order ``t``; ``tech`` is technical noise, SD 0.03–0.09 for good features and 0.6–1.0
for the ~12 % bad ones (so their QC RSD exceeds 30 %, the usual filter of domain.md §8.3).
Values go missing mostly near the detection limit (missing not at random) plus ~1.5 % at random.
Samples run in batches of up to 60 in random order, with a pooled QC first, after every 10
samples and last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from hccfusion.errors import UsageError
from hccfusion.simulate.omics_metabolites import metabolite_table

FACTORS = ("immune", "proliferation", "hypoxia", "wnt")

#: (named metabolite, factor) → log2 fold change per SD of the factor (per True for ``wnt``).
PLANTED_METABOLITES: dict[tuple[str, str], float] = {
    ("lactate", "hypoxia"): 0.7, ("succinate", "hypoxia"): 0.5, ("pyruvate", "hypoxia"): 0.4,
    ("kynurenine", "proliferation"): 0.6, ("tryptophan", "proliferation"): -0.4,
    ("glutamine", "proliferation"): -0.4, ("glutamine", "wnt"): 0.8,
    ("glycocholic acid", "wnt"): 1.0, ("taurocholic acid", "wnt"): 1.0,
}
#: Unannotated planted features: (factor, log2 fold change per unit), one feature each.
PLANTED_UNKNOWN: tuple[tuple[str, float], ...] = (
    ("hypoxia", 0.6), ("hypoxia", -0.6), ("proliferation", 0.6), ("proliferation", -0.6))

_BATCH_SIZE = 60
_QC_EVERY = 10
_BAD_FRACTION = 0.12


@dataclass(frozen=True)
class MetabolomicsResult:
    """Simulated LC-MS data and its truth.

    Attributes
    ----------
    intensities : pandas.DataFrame
        Peak areas (arbitrary units, linear, NaN = not detected), injections × features
        (index ``injection_id``, columns ``feature_id``).
    injections : pandas.DataFrame
        ``injection_id``, ``sample_id``, ``patient_id`` (NA for QC), ``sample_type``
        (``sample``/``qc``), ``batch``, ``injection_order`` (within the run), ``order_in_batch``.
    features : pandas.DataFrame
        ``feature_id``, ``name`` (NA if unannotated), ``formula``, ``ion_mode``, ``adduct``,
        ``mz``, ``rt_min``, ``msi_level`` (1–2 named, 4 unknown).
    truth : pandas.DataFrame
        One row per (feature, factor): ``feature_id``, ``name``, ``factor``, ``log2fc``
        (per SD; per True for ``wnt``), ``planted``, ``bad_feature`` (high technical noise),
        ``technical_sd``.
    """

    intensities: pd.DataFrame
    injections: pd.DataFrame
    features: pd.DataFrame
    truth: pd.DataFrame


def simulate_metabolomics(*, latent: pd.DataFrame, ms_samples: pd.DataFrame,
                          rng: np.random.Generator, n_features: int = 300) -> MetabolomicsResult:
    """Simulate the LC-MS peak table of the serum samples.

    Parameters
    ----------
    latent : pandas.DataFrame
        Latent state indexed by ``patient_id`` with :data:`FACTORS`.
    ms_samples : pandas.DataFrame
        Rows of the sample table with ``kind == "metabolomics"``.
    rng : numpy.random.Generator
        Random stream.
    n_features : int
        Number of features (named metabolites first, the rest unannotated).

    Returns
    -------
    MetabolomicsResult
    """
    named = metabolite_table()
    n_min = len(named) + len(PLANTED_UNKNOWN)
    if not isinstance(n_features, (int, np.integer)) or n_features < n_min:
        raise UsageError(f"The 'n_features' parameter of simulate_metabolomics must be an int "
                         f">= {n_min}. Got {n_features!r} instead.")
    features = _features(named, n_features, rng)
    n_f = len(features)

    effects = np.zeros((n_f, len(FACTORS)))
    index_of = {name: i for i, name in enumerate(features["name"]) if isinstance(name, str)}
    for (name, factor), log2fc in PLANTED_METABOLITES.items():
        effects[index_of[name], FACTORS.index(factor)] = log2fc
    for k, (factor, log2fc) in enumerate(PLANTED_UNKNOWN):
        effects[len(named) + k, FACTORS.index(factor)] = log2fc
    planted = (effects != 0).any(axis=1)
    bad = ~planted & (rng.random(n_f) < _BAD_FRACTION)
    tech_sd = np.where(bad, rng.uniform(0.6, 1.0, n_f), rng.uniform(0.03, 0.09, n_f))

    mu = np.log(10.0) * rng.normal(5.3, 0.8, n_f)
    samples = ms_samples.reset_index(drop=True)
    x = latent.loc[samples["patient_id"], list(FACTORS)].to_numpy(dtype=float)
    biological = (rng.normal(0.0, 1.0, (len(samples), n_f)) * rng.uniform(0.25, 0.5, n_f)
                  + np.log(2.0) * x @ effects.T)
    pooled = np.log(np.exp(biological).mean(axis=0)) if len(samples) else np.zeros(n_f)

    injections = _run_order(samples, rng)
    n_batches = int(injections["batch"].max()) if len(injections) else 0
    offset = rng.normal(0.0, 0.08, (n_batches + 1, n_f))
    slope = rng.normal(0.0, 0.12, (n_batches + 1, n_f))
    curve = rng.normal(0.0, 0.06, (n_batches + 1, n_f))
    position = {s: i for i, s in enumerate(samples["sample_id"])}

    y = np.empty((len(injections), n_f))
    for r, inj in enumerate(injections.itertuples(index=False)):
        level = (pooled if inj.sample_type == "qc" else biological[position[inj.sample_id]])
        t = inj.batch_position - 0.5
        y[r] = (mu + level + offset[inj.batch] + slope[inj.batch] * t
                + curve[inj.batch] * (t * t - 1.0 / 12.0) + rng.normal(0.0, 1.0, n_f) * tech_sd)
    lod = np.quantile(y, 0.07) if y.size else 0.0
    missing = (rng.random(y.shape) < expit((lod - y) / 0.25)) | (rng.random(y.shape) < 0.015)
    intensities = pd.DataFrame(np.where(missing, np.nan, np.exp(y)).round(1),
                               index=pd.Index(injections["injection_id"], name="injection_id"),
                               columns=features["feature_id"].to_list())

    truth = pd.DataFrame([{"feature_id": fid, "name": name, "factor": factor,
                           "log2fc": effects[i, j], "planted": bool(effects[i, j] != 0),
                           "bad_feature": bool(bad[i]), "technical_sd": tech_sd[i]}
                          for i, (fid, name) in enumerate(zip(features["feature_id"],
                                                              features["name"]))
                          for j, factor in enumerate(FACTORS)])
    injections = injections.drop(columns="batch_position")
    return MetabolomicsResult(intensities=intensities, injections=injections, features=features,
                              truth=truth)


def _features(named: pd.DataFrame, n_features: int, rng: np.random.Generator) -> pd.DataFrame:
    n_unknown = n_features - len(named)
    positive = rng.random(n_unknown) < 0.6
    unknown = pd.DataFrame({
        "name": pd.Series([None] * n_unknown, dtype="object"),
        "formula": pd.Series([None] * n_unknown, dtype="object"),
        "ion_mode": np.where(positive, "positive", "negative"),
        "adduct": np.where(positive, "[M+H]+", "[M-H]-"),
        "mz": np.round(np.exp(rng.uniform(np.log(70.0), np.log(1200.0), n_unknown)), 4),
        "rt_min": np.round(rng.uniform(0.6, 14.5, n_unknown), 2),
        "msi_level": 4,
    })
    features = pd.concat([named, unknown], ignore_index=True)
    features.insert(0, "feature_id", [f"F{i + 1:04d}" for i in range(len(features))])
    return features


def _run_order(samples: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    order = rng.permutation(len(samples))
    rows: list[dict] = []
    for b, start in enumerate(range(0, len(order), _BATCH_SIZE), start=1):
        chunk = order[start:start + _BATCH_SIZE]
        sequence: list[int | None] = [None]
        for k in range(0, len(chunk), _QC_EVERY):
            sequence.extend(int(i) for i in chunk[k:k + _QC_EVERY])
            sequence.append(None)
        n_qc = 0
        for pos, item in enumerate(sequence):
            if item is None:
                n_qc += 1
                sample_id, patient_id, kind = f"QC-B{b:02d}-{n_qc:02d}", None, "qc"
            else:
                sample_id = samples.at[item, "sample_id"]
                patient_id, kind = samples.at[item, "patient_id"], "sample"
            rows.append({"injection_id": f"B{b:02d}-{pos + 1:03d}", "sample_id": sample_id,
                         "patient_id": patient_id, "sample_type": kind, "batch": b,
                         "injection_order": len(rows) + 1, "order_in_batch": pos + 1,
                         "batch_position": pos / max(len(sequence) - 1, 1)})
    return pd.DataFrame(rows, columns=["injection_id", "sample_id", "patient_id", "sample_type",
                                       "batch", "injection_order", "order_in_batch",
                                       "batch_position"])
