"""Kaplan–Meier curves of the frozen risk groups for the report's "Model performance" section.

Holds :class:`RiskGroupCurves`, :func:`risk_groups_from_cutoffs` (``risk_group`` from the frozen
cut-offs of ``risk_groups.json``) and :func:`risk_group_curves` (KM curves, numbers at risk and
log-rank p per external and temporal test cohort). The section assembly is in
:mod:`hccfusion.reporting.model_performance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError
from hccfusion.reporting.model_evaluation_data import _cohort_rank

DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class RiskGroupCurves:
    """Kaplan–Meier curves of one model's frozen risk groups in one test cohort.

    Attributes
    ----------
    endpoint : str
        ``"os"`` or ``"pfs"``.
    cohort_label, split_id : str
        The test cohort and the split it came from.
    table : pandas.DataFrame
        ``kaplan_meier(...).table`` (``group`` = risk group).
    at_risk : pandas.DataFrame
        ``group, time, n_at_risk, n_events, n_censored`` at the displayed times.
    counts : pandas.DataFrame
        ``group, n, n_events, max_time`` per risk group.
    p_value : float
        Log-rank p across the groups (NaN with fewer than two groups).
    n_dropped : int
        Predicted patients without an outcome (left out).
    """

    endpoint: str
    cohort_label: str
    split_id: str
    table: pd.DataFrame
    at_risk: pd.DataFrame
    counts: pd.DataFrame
    p_value: float
    n_dropped: int


def _at_risk_times(max_days: float) -> np.ndarray:
    months = max_days / DAYS_PER_MONTH
    step = 6.0 if months <= 48 else 12.0
    return np.arange(0.0, np.floor(months / step) * step + 0.5, step) * DAYS_PER_MONTH


def _is_cutoff(payload: Any) -> bool:
    return isinstance(payload, dict) and "kind" in payload and "cutoffs" in payload


def risk_groups_from_cutoffs(predictions: pd.DataFrame, cutoffs: Any, *, model: str
                             ) -> pd.DataFrame:
    """Add ``risk_group`` to os/pfs predictions from frozen cut-offs.

    Parameters
    ----------
    predictions
        Long predictions (fixed columns).
    cutoffs
        ``risk_groups.json``, one of: ``{split_id: {endpoint: payload}}`` (the cut-offs of the
        default model's bundles, as ``hccfusion evaluate`` writes them), nested ``{model:
        {split_id: {endpoint: payload}}}``, or a list of records ``{"model", "split_id",
        "endpoint", "cutoff": payload}``. A payload is a cut-off's ``to_dict()``, read by
        :func:`hccfusion.evaluation.cutoffs.cutoff_from_dict` (``risk <= cutoff`` → lower
        group).
    model
        The model the two-level form belongs to (the default model).

    Returns
    -------
    pandas.DataFrame
        ``predictions`` with ``risk_group`` (None where no cut-off applies).
    """
    from hccfusion.evaluation.cutoffs import cutoff_from_dict

    records: list[tuple[str, str, str, Any]] = []
    if isinstance(cutoffs, list):
        for rec in cutoffs:
            if not isinstance(rec, dict) or not {"model", "split_id", "endpoint",
                                                  "cutoff"} <= set(rec):
                raise DataError("risk_groups.json records need 'model', 'split_id', "
                                f"'endpoint' and 'cutoff'. Got {rec!r} instead.")
            records.append((str(rec["model"]), str(rec["split_id"]),
                            str(rec["endpoint"]).lower(), rec["cutoff"]))
    elif isinstance(cutoffs, dict):
        for key, value in cutoffs.items():
            if isinstance(value, dict) and value and all(_is_cutoff(v) for v in value.values()):
                for endpoint, payload in value.items():  # {split_id: {endpoint: payload}}
                    records.append((model, str(key), str(endpoint).lower(), payload))
                continue
            for split_id, endpoints in (value or {}).items():
                for endpoint, payload in (endpoints or {}).items():
                    records.append((str(key), str(split_id), str(endpoint).lower(), payload))
    else:
        raise DataError("risk_groups.json must hold a list of cut-off records or a "
                        f"{{model: {{split_id: {{endpoint: cut-off}}}}}} object. Got "
                        f"{type(cutoffs).__name__} instead.")
    out = predictions.copy()
    out["risk_group"] = None
    keys = (out["model"].astype(str), out["split_id"].astype(str),
            out["endpoint"].astype(str).str.lower())
    for model, split_id, endpoint, payload in records:
        mask = (keys[0] == model) & (keys[1] == split_id) & (keys[2] == endpoint)
        if mask.any():
            cut = cutoff_from_dict(payload)
            out.loc[mask, "risk_group"] = cut.transform(out.loc[mask, "risk"].to_numpy(float))
    return out


def risk_group_curves(predictions: pd.DataFrame, outcomes: pd.DataFrame, *, model: str
                      ) -> list[RiskGroupCurves]:
    """KM curves by frozen risk group for every external and temporal test cohort.

    Parameters
    ----------
    predictions
        Long predictions with a ``risk_group`` column (os/pfs rows).
    outcomes
        ``patient_id, os_time, os_event, pfs_time, pfs_event`` (days, bool).
    model
        The model whose risk groups are drawn.

    Returns
    -------
    list of RiskGroupCurves
        One per endpoint (os, pfs) and (cohort_label, split_id) with any patient in a risk
        group, cohorts whose label starts with "external" or "temporal" only.
    """
    from hccfusion.evaluation.logrank import logrank_test
    from hccfusion.evaluation.survival_curves import kaplan_meier

    rows = predictions[(predictions["model"].astype(str) == model)
                       & predictions["endpoint"].isin(["os", "pfs"])
                       & predictions["cohort_label"].map(_cohort_rank).isin([1, 2])]
    rows = rows[rows["risk_group"].notna()]
    outs = outcomes.drop_duplicates("patient_id").set_index("patient_id")
    result = []
    pairs = rows[["endpoint", "cohort_label", "split_id"]].drop_duplicates()
    pairs = pairs.assign(_e=pairs["endpoint"].map({"os": 0, "pfs": 1}),
                         _c=pairs["cohort_label"].map(_cohort_rank)).sort_values(
        ["_e", "_c", "cohort_label", "split_id"], kind="mergesort")
    for endpoint, cohort, split_id in pairs[["endpoint", "cohort_label", "split_id"]].itertuples(
            index=False):
        part = rows[(rows["endpoint"] == endpoint) & (rows["cohort_label"] == cohort)
                    & (rows["split_id"] == split_id)]
        time = part["patient_id"].map(outs[f"{endpoint}_time"]).astype(float)
        event = part["patient_id"].map(outs[f"{endpoint}_event"])
        ok = time.notna() & event.notna()
        n_dropped = int((~ok).sum())
        if not ok.any():
            continue
        t = time[ok].to_numpy(float)
        e = event[ok].astype(bool).to_numpy()
        g = part.loc[ok, "risk_group"].astype(str).to_numpy()
        km = kaplan_meier(time=t, event=e, group=g)
        p = (logrank_test(time=t, event=e, group=g).p_value if len(set(g)) > 1
             else float("nan"))
        result.append(RiskGroupCurves(
            endpoint=str(endpoint), cohort_label=str(cohort), split_id=str(split_id),
            table=km.table, at_risk=km.at_risk(_at_risk_times(float(t.max()))), counts=km.n,
            p_value=float(p), n_dropped=n_dropped))
    return result
