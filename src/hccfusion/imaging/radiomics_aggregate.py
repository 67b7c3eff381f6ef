"""Radiomics per patient (largest lesion, volume-weighted mean, counts) and delta-radiomics.

Both take the tidy per-lesion tables ``lesion_radiomics`` returns (with a ``patient_id``
column, and ``exam_id`` when several exams are in one table) and return tidy tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.errors import UsageError, unknown_option

# Columns that describe a lesion rather than measure it; never aggregated as features.
_NOT_FEATURES = {"lesion_id", "label", "phase", "patient_id", "exam_id", "volume_ml",
                 "centroid_x_mm", "centroid_y_mm", "centroid_z_mm"}
DELTA_KINDS = ("relative", "difference")


def _feature_columns(table: pd.DataFrame, *, exclude: set[str]) -> list[str]:
    return [c for c in table.columns if c not in exclude and pd.api.types.is_numeric_dtype(table[c])
            and not pd.api.types.is_bool_dtype(table[c])]


def _require(table: object, columns: list[str], *, function: str, parameter: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise UsageError(f"The '{parameter}' parameter of {function} must be a pandas DataFrame. "
                         f"Got {type(table).__name__} instead.")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UsageError(f"The '{parameter}' parameter of {function} must have the columns "
                         f"{', '.join(columns)}. Got a table without {', '.join(missing)} instead.")
    return table


def patient_radiomics(lesion_table: pd.DataFrame, *, key: str = "patient_id") -> pd.DataFrame:
    """Aggregate lesion radiomics per patient, exam and phase.

    Parameters
    ----------
    lesion_table : pandas.DataFrame
        Rows of ``lesion_radiomics`` with a ``key`` column added; needs ``lesion_id``,
        ``phase`` and ``volume_ml``. An ``exam_id`` column, when present, is kept apart
        (baseline and follow-up are never pooled).
    key : str
        The entity column to group by (``patient_id``).

    Returns
    -------
    pandas.DataFrame
        One row per ``key`` (× ``exam_id``) × ``phase``: ``n_lesions``, ``total_volume_ml``,
        ``largest_lesion_id``, then for each feature ``f``: ``largest_f`` (the value of the
        lesion with the largest ``volume_ml``; ties go to the smallest lesion id) and
        ``vwmean_f`` = sum(v_i f_i) / sum(v_i) over the lesions where ``f`` is not missing,
        with v the lesion volume in mL.
    """
    groups = [key] + [c for c in ("exam_id", "phase") if c != key and c in getattr(lesion_table, "columns", ())]
    table = _require(lesion_table, [key, "lesion_id", "phase", "volume_ml"],
                     function="patient_radiomics", parameter="lesion_table")
    features = _feature_columns(table, exclude=_NOT_FEATURES | {key})
    ordered = table.sort_values(groups + ["volume_ml", "lesion_id"], ascending=[True] * len(groups) + [False, True],
                                kind="stable")
    grouped = ordered.groupby(groups, sort=True, dropna=False)
    largest = grouped.head(1).set_index(groups)
    out = pd.DataFrame({"n_lesions": grouped.size(), "total_volume_ml": grouped["volume_ml"].sum(),
                        "largest_lesion_id": largest["lesion_id"]})
    values = ordered[features]
    weights = ordered["volume_ml"].to_numpy(dtype=float)[:, None] * values.notna().to_numpy()
    weighted = pd.DataFrame(values.fillna(0.0).to_numpy(dtype=float) * weights, columns=features, index=ordered.index)
    keys = [ordered[c] for c in groups]
    numerator = weighted.groupby(keys, sort=True, dropna=False).sum()
    denominator = pd.DataFrame(weights, columns=features, index=ordered.index)
    denominator = denominator.groupby(keys, sort=True, dropna=False).sum()
    vwmean = numerator / denominator.where(denominator > 0)
    out = pd.concat([out, largest[features].add_prefix("largest_"), vwmean.add_prefix("vwmean_")], axis=1)
    return out.reset_index()


def delta_radiomics(*, baseline: pd.DataFrame, followup: pd.DataFrame, kind: str = "relative") -> pd.DataFrame:
    """Change of each lesion's radiomics from baseline to the first follow-up exam.

    Parameters
    ----------
    baseline, followup : pandas.DataFrame
        Per-lesion tables (``lesion_radiomics`` rows, with ``patient_id`` when several patients
        are in one table). Lesions are matched on ``patient_id`` (when both have it),
        ``phase`` and ``lesion_id``.
    kind : {"relative", "difference"}
        ``relative``: (follow-up − baseline) / |baseline| (NaN where the baseline is 0);
        ``difference``: follow-up − baseline.

    Returns
    -------
    pandas.DataFrame
        One row per baseline lesion: the match keys, ``missing_at_followup`` (True when the
        lesion has no follow-up row, e.g. it disappeared; its deltas are NaN), then
        ``delta_volume_ml`` and ``delta_<feature>`` for each feature both tables have. Lesions
        new at follow-up have no baseline and are not listed.
    """
    if kind not in DELTA_KINDS:
        raise unknown_option("delta kind", str(kind), DELTA_KINDS)
    for name, table in (("baseline", baseline), ("followup", followup)):
        _require(table, ["lesion_id", "phase", "volume_ml"], function="delta_radiomics", parameter=name)
    keys = [c for c in ("patient_id", "phase", "lesion_id") if c in baseline.columns and c in followup.columns]
    for name, table in (("baseline", baseline), ("followup", followup)):
        if table.duplicated(keys).any():
            raise UsageError(f"The '{name}' parameter of delta_radiomics must have one row per "
                             f"{' × '.join(keys)}. Got duplicated rows instead (one exam per table).")
    exclude = _NOT_FEATURES - {"volume_ml"}
    in_followup = set(_feature_columns(followup, exclude=exclude))
    shared = [c for c in _feature_columns(baseline, exclude=exclude) if c in in_followup]
    merged = baseline[keys + shared].merge(followup[keys + shared], on=keys, how="left",
                                           suffixes=("_base", "_follow"), indicator=True)
    out = merged[keys].copy()
    out["missing_at_followup"] = (merged["_merge"] == "left_only").to_numpy()
    base = merged[[f"{c}_base" for c in shared]].to_numpy(dtype=float)
    follow = merged[[f"{c}_follow" for c in shared]].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = follow - base if kind == "difference" else np.where(base != 0, (follow - base) / np.abs(base), np.nan)
    deltas = pd.DataFrame(change, columns=[f"delta_{c}" for c in shared], index=out.index)
    return pd.concat([out, deltas], axis=1).reset_index(drop=True)
