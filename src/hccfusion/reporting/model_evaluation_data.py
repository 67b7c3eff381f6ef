"""Data behind the report's "Model performance" section: the evaluation folder read and checked.

Holds the fixed columns of the evaluation tables, :class:`Evaluation` and
:func:`read_evaluation` (reading and checking the folder that
:mod:`hccfusion.reporting.model_performance` describes), the ordering of rows (endpoint,
cohort, default model first), the simulator's oracle, :func:`headline_table` and the cohort
summaries of modality Shapley and clinical SHAP values (:func:`modality_importance`,
:func:`clinical_shap_importance`). The risk-group curves are in
:mod:`hccfusion.reporting.model_risk_groups`; the section assembly stays in
:mod:`hccfusion.reporting.model_performance`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError


COLUMNS: dict[str, tuple[str, ...]] = {
    "performance": ("model", "endpoint", "cohort_label", "n", "n_events", "metric", "estimate",
                    "ci_low", "ci_high", "note"),
    "paired_differences": ("model", "comparator", "endpoint", "cohort_label", "n", "metric",
                           "estimate", "comparator_estimate", "delta", "ci_low", "ci_high",
                           "p_value", "note"),
    "availability_patterns": ("model", "endpoint", "cohort_label", "pattern", "n", "n_events",
                              "metric", "estimate", "ci_low", "ci_high", "note"),
    "predictions": ("model", "split_id", "cohort_label", "patient_id", "endpoint", "risk"),
    "outcomes": ("patient_id", "os_time", "os_event", "pfs_time", "pfs_event", "orr"),
    "modality_shapley": ("model", "patient_id", "modality", "shapley"),
    "clinical_shap": ("model", "patient_id", "variable", "shap", "value"),
    "modality_ablation": ("setting", "modality", "coalition", "estimate", "delta"),
}
OPTIONAL_TABLES = ("paired_differences", "availability_patterns", "predictions", "outcomes",
                   "modality_shapley", "clinical_shap", "modality_ablation")

ENDPOINTS: dict[str, str] = {"os": "Overall survival", "pfs": "Progression-free survival",
                             "orr": "Objective response"}


# ----------------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class Evaluation:
    """An evaluation folder read and checked.

    Attributes
    ----------
    path : pathlib.Path
        The folder.
    meta : dict
        ``evaluation.json`` (empty when absent).
    tables : dict of str to pandas.DataFrame
        The tables found, keyed by stem (``performance`` always present).
    missing : tuple of str
        Optional files absent from the folder (stems, ``risk_groups.json`` /
        ``evaluation.json`` by file name).
    risk_groups : object or None
        Parsed ``risk_groups.json`` when present.
    default_model : str
        ``meta["default_model"]``, or inferred (see :func:`read_evaluation`).
    default_model_inferred : bool
        True when ``evaluation.json`` did not name the default model.
    """

    path: Path
    meta: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    missing: tuple[str, ...]
    risk_groups: Any
    default_model: str
    default_model_inferred: bool

    def get(self, name: str) -> pd.DataFrame | None:
        """The table ``name``, or None when the folder lacks it."""
        return self.tables.get(name)


def _read_table(folder: Path, stem: str) -> pd.DataFrame | None:
    parquet, csv = folder / f"{stem}.parquet", folder / f"{stem}.csv"
    if parquet.is_file():
        frame = pd.read_parquet(parquet)
        where = parquet.name
    elif csv.is_file():
        frame = pd.read_csv(csv)
        where = csv.name
    else:
        return None
    missing = [c for c in COLUMNS[stem] if c not in frame.columns]
    if missing:
        raise DataError(f"{folder / where} lacks columns {missing}; expected "
                        f"{list(COLUMNS[stem])}. Got columns {list(frame.columns)}. Re-run "
                        "`hccfusion evaluate` with this hccfusion version.")
    return frame


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); re-run "
                        "`hccfusion evaluate`.") from exc


def read_evaluation(folder: Path) -> Evaluation:
    """Read and check an evaluation folder.

    Parameters
    ----------
    folder
        Folder written by ``hccfusion evaluate``.

    Returns
    -------
    Evaluation
        When ``evaluation.json`` names no ``default_model``, the default model is the one most
        often in the ``model`` column of ``paired_differences`` (the reference of the
        comparisons), else the first model of ``performance``.

    Raises
    ------
    hccfusion.errors.UsageError
        If the folder or its ``performance`` table is missing.
    hccfusion.errors.DataError
        If a table lacks a fixed column, a JSON file is malformed, or ``evaluation.json`` names
        a default model that ``performance`` does not hold.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"The evaluation folder {folder} does not exist; run `hccfusion "
                         "evaluate --out …` first and pass that folder as --evaluation.")
    performance = _read_table(folder, "performance")
    if performance is None:
        raise UsageError(f"{folder} lacks performance.parquet (or performance.csv); it is not "
                         "an evaluation folder. Run `hccfusion evaluate --out …` first.")
    tables = {"performance": performance}
    missing = []
    for stem in OPTIONAL_TABLES:
        frame = _read_table(folder, stem)
        if frame is None:
            missing.append(stem)
        else:
            tables[stem] = frame
    meta = _read_json(folder / "evaluation.json")
    if meta is None:
        missing.append("evaluation.json")
        meta = {}
    elif not isinstance(meta, dict):
        raise DataError(f"{folder / 'evaluation.json'} must hold a JSON object with "
                        f"'default_model', 'oracle', … Got {type(meta).__name__} instead.")
    risk_groups = _read_json(folder / "risk_groups.json")
    if risk_groups is None:
        missing.append("risk_groups.json")
    models = list(dict.fromkeys(performance["model"].astype(str)))
    named = meta.get("default_model")
    if named is not None:
        if str(named) not in models:
            raise DataError(f"{folder / 'evaluation.json'} names default_model {named!r}, but "
                            f"performance holds no rows for it (models: {models}).")
        default, inferred = str(named), False
    else:
        paired = tables.get("paired_differences")
        if paired is not None and len(paired):
            references = paired["model"].astype(str)
            references = references[references != ORACLE_MODEL]
            default = str((references if len(references) else paired["model"].astype(str))
                          .value_counts().index[0])
        elif models:
            default = models[0]
        else:
            raise DataError(f"{folder}/performance has no rows; there is nothing to report.")
        inferred = True
    return Evaluation(path=folder, meta=meta, tables=tables, missing=tuple(missing),
                      risk_groups=risk_groups, default_model=default,
                      default_model_inferred=inferred)


# -------------------------------------------------------------------------------- computing

def _cohort_rank(label: str) -> int:
    low = str(label).lower()
    for i, prefix in enumerate(("internal", "external", "temporal")):
        if low.startswith(prefix):
            return i
    return 3


def _sorted(frame: pd.DataFrame, *, default_model: str, by: tuple[str, ...] = ()
            ) -> pd.DataFrame:
    """Endpoints os/pfs/orr, cohorts internal → external → temporal, default model first."""
    keys = pd.DataFrame(index=frame.index)
    rank = {e: i for i, e in enumerate(ENDPOINTS)}
    keys["_e"] = frame["endpoint"].map(rank).fillna(len(rank))
    keys["_c"] = frame["cohort_label"].map(_cohort_rank)
    keys["_cl"] = frame["cohort_label"].astype(str)
    keys["_m"] = (frame["model"].astype(str) != default_model).astype(int)
    order = keys.assign(**{k: frame[k] for k in by}).sort_values(
        ["_e", "_c", "_cl", "_m", *by], kind="mergesort").index
    return frame.loc[order].reset_index(drop=True)


#: Keys of ``evaluation.json["oracle"]`` → endpoint (the simulator's ``truth/oracle.json`` names).
ORACLE_KEYS: dict[str, str] = {"os": "os", "pfs": "pfs", "orr": "orr", "c_index_os": "os",
                               "c_index_pfs": "pfs", "auc_orr": "orr"}


def _oracle(meta: dict[str, Any]) -> dict[str, float]:
    raw = meta.get("oracle") or {}
    if not isinstance(raw, dict):
        raise DataError("evaluation.json 'oracle' must be an object {\"c_index_os\": C, "
                        f"\"c_index_pfs\": C, \"auc_orr\": AUC}}. Got {raw!r} instead.")
    out = {}
    for key, value in raw.items():
        endpoint = ORACLE_KEYS.get(str(key).lower())
        if isinstance(value, dict):  # tolerate {"estimate": …}
            value = value.get("estimate")
        if endpoint is not None and _finite(value):
            out[endpoint] = float(value)
    return out


#: Model name of the simulator's true risk in a simulated cohort's evaluation tables.
ORACLE_MODEL = "oracle"


def headline_table(performance: pd.DataFrame, *, model: str,
                   oracle: dict[str, float] | None = None) -> pd.DataFrame:
    """The default model's discrimination in the external cohorts, beside the oracle.

    Parameters
    ----------
    performance
        ``performance_table`` rows (fixed columns).
    model
        The default model.
    oracle
        C-index / AUC of the simulator's true risk per endpoint (keys ``os``, ``pfs``,
        ``orr``); omitted or partial when unknown (real data).

    Returns
    -------
    pandas.DataFrame
        ``model, endpoint, cohort_label, metric, n, n_events, estimate, ci_low, ci_high,
        oracle, share_of_oracle_pct`` for every external cohort (``cohort_label`` starting with
        "external"; the temporal cohorts when there is none), endpoints os/pfs/orr.
        ``share_of_oracle_pct`` = 100 · (estimate − 0.5) / (oracle − 0.5): how far the model
        gets from chance towards the best any model could do on these patients; NaN without an
        oracle or when the oracle is <= 0.5.
    """
    oracle = oracle or {}
    rows = performance[(performance["model"].astype(str) == model)
                       & performance["endpoint"].isin(list(ENDPOINTS))]
    rank = rows["cohort_label"].map(_cohort_rank)
    chosen = rows[rank == 1] if (rank == 1).any() else rows[rank == 2]
    out = _sorted(chosen, default_model=model)[
        ["model", "endpoint", "cohort_label", "metric", "n", "n_events", "estimate", "ci_low",
         "ci_high"]].copy()
    out["oracle"] = out["endpoint"].map(lambda e: oracle.get(str(e), np.nan)).astype(float)
    # the simulator's true risk scored on the same held-out patients, when the evaluation has
    # it (model "oracle"), is the ceiling for exactly these patients
    same = performance[performance["model"].astype(str) == ORACLE_MODEL] \
        .set_index(["endpoint", "cohort_label"])["estimate"]
    if len(same):
        keys = list(zip(out["endpoint"], out["cohort_label"]))
        local = np.array([same.get(k, np.nan) for k in keys], dtype=float)
        out["oracle"] = np.where(np.isfinite(local), local, out["oracle"])
    gap = out["oracle"] - 0.5
    share = 100.0 * (out["estimate"].astype(float) - 0.5) / gap.where(gap > 0)
    out["share_of_oracle_pct"] = share.astype(float)
    return out


def _finite(value: Any) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def modality_importance(table: pd.DataFrame) -> pd.DataFrame:
    """Cohort summary of per-patient modality Shapley values, per model.

    Parameters
    ----------
    table
        ``model, patient_id, modality, shapley`` (NaN rows are ignored).

    Returns
    -------
    pandas.DataFrame
        ``model, modality, n_patients, mean_abs_shapley, mean_shapley, share_pct`` (share of
        the model's total mean |φ|, %), largest mean |φ| first within a model.
    """
    t = table.dropna(subset=["shapley"]).assign(abs_=lambda d: d["shapley"].abs())
    out = (t.groupby(["model", "modality"], sort=False)
           .agg(n_patients=("patient_id", "nunique"), mean_abs_shapley=("abs_", "mean"),
                mean_shapley=("shapley", "mean")).reset_index())
    total = out.groupby("model")["mean_abs_shapley"].transform("sum")
    out["share_pct"] = 100.0 * out["mean_abs_shapley"] / total.where(total > 0)
    return out.sort_values(["model", "mean_abs_shapley"], ascending=[True, False],
                           kind="mergesort").reset_index(drop=True)


def clinical_shap_importance(table: pd.DataFrame) -> pd.DataFrame:
    """Cohort summary of per-patient clinical SHAP values, per model.

    Parameters
    ----------
    table
        ``model, patient_id, variable, shap, value``.

    Returns
    -------
    pandas.DataFrame
        ``model, variable, n_patients, mean_abs_shap, mean_shap``, largest mean |SHAP| first
        within a model.
    """
    t = table.dropna(subset=["shap"]).assign(abs_=lambda d: d["shap"].abs())
    out = (t.groupby(["model", "variable"], sort=False)
           .agg(n_patients=("patient_id", "nunique"), mean_abs_shap=("abs_", "mean"),
                mean_shap=("shap", "mean")).reset_index())
    return out.sort_values(["model", "mean_abs_shap"], ascending=[True, False],
                           kind="mergesort").reset_index(drop=True)
