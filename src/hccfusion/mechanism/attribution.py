"""Attributions: which modality, which clinical variable, which tile drives a patient's risk.

Everything here is model-agnostic: the caller passes functions (a masked-model risk, a cohort
metric, a predict function) and arrays, so nothing depends on the network's internals.

- :func:`modality_shapley` — exact Shapley values (Shapley 1953) of the modalities, per patient.
  The game of patient *i*: the players are the modalities *available* to *i*, ``A_i``; the worth
  of a coalition ``S ⊆ A_i`` is the model's risk for *i* when only the modalities in ``S`` are
  given (the caller masks the rest, as modality dropout trained the model to accept), and the
  worth of the empty coalition is ``reference`` (e.g. the mean training risk). A modality the
  patient lacks is not a player: its value is 0 and the available ones share the whole effect,
  ``Σ_m φ_im = v_i(A_i) − reference_i`` (efficiency). All ``2^|A_i|`` coalitions are enumerated,
  so the values are exact, and each distinct coalition is evaluated once for the whole cohort.
- :func:`modality_ablation` — a cohort metric (e.g. the C-index) with all modalities, each one
  left out and each one alone.
- :func:`clinical_shap` — SHAP values (Lundberg & Lee, NeurIPS 2017) of the clinical variables
  with ``shap``'s permutation explainer and an independent (interventional) masker over a
  background sample (Štrumbelj & Kononenko, Knowl Inf Syst 2014;41:647–665). Columns expanded
  by preprocessing (one-hot levels, missing indicators) are summed back to their variable, which
  keeps additivity.
- :func:`attention_table`, :func:`lesion_attention_table` — tidy attention-MIL weights (Ilse et
  al., ICML 2018) of a patient's tiles or lesions, ranked; defined in
  :mod:`hccfusion.mechanism.attention` and re-exported here.

The modality Shapley values and the ablation are defined in
:mod:`hccfusion.mechanism.modality_attribution`, the clinical SHAP values in
:mod:`hccfusion.mechanism.clinical_shap`; both are re-exported here. This module owns the cohort
summaries of the per-patient values (:func:`cohort_modality_importance`,
:func:`cohort_shap_importance`).
"""

from __future__ import annotations

import pandas as pd

from hccfusion.errors import UsageError
from hccfusion.mechanism.attention import attention_table, lesion_attention_table  # re-exported
from hccfusion.mechanism.clinical_shap import clinical_shap  # re-exported
from hccfusion.mechanism.modality_attribution import (  # re-exported
    MAX_MODALITIES, modality_ablation, modality_shapley)

__all__ = ["modality_shapley", "cohort_modality_importance", "modality_ablation",
           "clinical_shap", "cohort_shap_importance", "attention_table",
           "lesion_attention_table", "MAX_MODALITIES"]


def _importance(table: pd.DataFrame, *, key: str, value: str, owner: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame) or not {"patient_id", key, value} <= set(table):
        got = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
        raise UsageError(f"The 'table' parameter of {owner} must be a DataFrame with the columns "
                         f"['patient_id', '{key}', '{value}']. Got {got} instead.")
    by = [c for c in ("model",) if c in table.columns]
    summary = (table.assign(_abs=table[value].abs())
               .groupby(by + [key], sort=False)
               .agg(**{f"mean_abs_{value}": ("_abs", "mean"), f"mean_{value}": (value, "mean"),
                       "n_patients": ("patient_id", "nunique")})
               .reset_index())
    total = summary.groupby(by)[f"mean_abs_{value}"].transform("sum") if by \
        else summary[f"mean_abs_{value}"].sum()
    summary["share"] = summary[f"mean_abs_{value}"] / total
    order = by + [f"mean_abs_{value}"]
    return summary.sort_values(order, ascending=[True] * len(by) + [False], kind="stable") \
        .reset_index(drop=True)


def cohort_modality_importance(table: pd.DataFrame) -> pd.DataFrame:
    """Cohort summary of :func:`modality_shapley`.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``patient_id, modality, shapley`` (and optionally ``model``: one summary per
        model).

    Returns
    -------
    pandas.DataFrame
        Columns ``[model,] modality, mean_abs_shapley, mean_shapley, n_patients, share``, sorted
        by decreasing ``mean_abs_shapley`` (within model). Means run over all patients, a
        missing modality counting 0; ``share`` = mean |φ| / Σ over modalities of mean |φ|.
    """
    return _importance(table, key="modality", value="shapley",
                       owner="cohort_modality_importance")


def cohort_shap_importance(table: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| per variable over patients (the usual SHAP bar chart), sorted.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``patient_id, variable, shap`` (and optionally ``model``).

    Returns
    -------
    pandas.DataFrame
        Columns ``[model,] variable, mean_abs_shap, mean_shap, n_patients, share``, sorted by
        decreasing ``mean_abs_shap`` (within model).
    """
    return _importance(table, key="variable", value="shap", owner="cohort_shap_importance")
