"""Input checks of the model comparison tables (:mod:`hccfusion.evaluation.model_table`).

Holds the option checks (``n_resamples``, ``seed``, ``confidence``, ``min_events``), the checks
of the ``predictions`` and ``outcomes`` tables described in the docstring of
:mod:`hccfusion.evaluation.model_table`, and the per-endpoint outcome (``time``/``event`` for
os/pfs, ``y`` for orr) of the evaluable patients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError


_ENDPOINTS = ("os", "pfs", "orr")
_PREDICTION_COLUMNS = ("model", "split_id", "cohort_label", "endpoint", "patient_id", "risk")


def _check_options(n_resamples: Any, seed: Any, confidence: Any, min_events: Any,
                   where: str) -> None:
    def is_int(v: Any) -> bool:
        return not isinstance(v, bool) and isinstance(v, (int, np.integer))

    if not is_int(n_resamples) or n_resamples < 1:
        raise UsageError(f"The 'n_resamples' parameter of {where} must be an int >= 1. "
                         f"Got {n_resamples!r} instead.")
    if not is_int(seed):
        raise UsageError(f"The 'seed' parameter of {where} must be an int (runs record their "
                         f"seed). Got {seed!r} instead.")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)) \
            or not 0.0 < float(confidence) < 1.0:
        raise UsageError(f"The 'confidence' parameter of {where} must be a float in (0, 1). "
                         f"Got {confidence!r} instead.")
    if not is_int(min_events) or min_events < 1:
        raise UsageError(f"The 'min_events' parameter of {where} must be an int >= 1. "
                         f"Got {min_events!r} instead.")


def _require(frame: Any, name: str, columns: Sequence[str], where: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"The '{name}' parameter of {where} must be a pandas DataFrame. "
                         f"Got {type(frame).__name__} instead.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: the '{name}' table lacks column(s) {', '.join(missing)}; "
                        f"expected {', '.join(columns)}.")


def _check_predictions(predictions: Any, where: str) -> pd.DataFrame:
    _require(predictions, "predictions", _PREDICTION_COLUMNS, where)
    p = predictions.loc[:, list(_PREDICTION_COLUMNS)].copy()
    if p.empty:
        raise DataError(f"{where}: the 'predictions' table is empty.")
    for col in ("model", "cohort_label", "endpoint", "patient_id"):
        if p[col].isna().any():
            i = int(np.flatnonzero(p[col].isna().to_numpy())[0])
            raise DataError(f"{where}: 'predictions' has a missing {col} in row {i}; every "
                            "prediction needs a model, cohort_label, endpoint and patient_id.")
    p["patient_id"] = p["patient_id"].astype(str)
    p["model"] = p["model"].astype(str)
    p["cohort_label"] = p["cohort_label"].astype(str)
    p["endpoint"] = p["endpoint"].astype(str)
    bad = ~p["endpoint"].isin(_ENDPOINTS)
    if bad.any():
        raise DataError(f"{where}: 'predictions' has endpoint {p['endpoint'][bad].iloc[0]!r}; "
                        f"expected one of {', '.join(_ENDPOINTS)}.")
    try:
        p["risk"] = pd.to_numeric(p["risk"], errors="raise").astype(float)
    except (TypeError, ValueError) as err:
        raise DataError(f"{where}: the 'risk' column of 'predictions' must be numeric "
                        f"({err}).") from err
    inf = np.isinf(p["risk"].to_numpy())
    if inf.any():
        row = p[inf].iloc[0]
        raise DataError(f"{where}: model {row['model']} has an infinite risk for patient "
                        f"{row['patient_id']} ({row['endpoint']}); risks must be finite "
                        "(NaN = no prediction).")
    dup = p.duplicated(["model", "endpoint", "cohort_label", "patient_id"], keep=False)
    if dup.any():
        row = p[dup].iloc[0]
        splits = p[dup & (p["model"] == row["model"]) & (p["endpoint"] == row["endpoint"])
                   & (p["cohort_label"] == row["cohort_label"])
                   & (p["patient_id"] == row["patient_id"])]["split_id"].tolist()
        raise DataError(f"{where}: patient {row['patient_id']} has {len(splits)} predictions of "
                        f"model {row['model']} for {row['endpoint']} in cohort "
                        f"'{row['cohort_label']}' (split_id {splits}); a patient may be "
                        "evaluated once per cohort label. Give the overlapping evaluation sets "
                        "distinct cohort labels (e.g. by development centre).")
    return p


def _check_outcomes(outcomes: Any, predictions: pd.DataFrame, where: str) -> pd.DataFrame:
    needed = ["patient_id"]
    present = set(predictions["endpoint"])
    for ep in _ENDPOINTS:
        if ep in present:
            needed += [f"{ep}_time", f"{ep}_event"] if ep != "orr" else ["orr"]
    _require(outcomes, "outcomes", needed, where)
    o = outcomes.loc[:, needed].copy()
    if o["patient_id"].isna().any():
        raise DataError(f"{where}: 'outcomes' has rows without a patient_id.")
    o["patient_id"] = o["patient_id"].astype(str)
    dup = o["patient_id"].duplicated()
    if dup.any():
        raise DataError(f"{where}: patient {o['patient_id'][dup].iloc[0]} appears twice in "
                        "'outcomes'; give one row per patient.")
    o = o.set_index("patient_id")
    unknown = pd.Index(pd.unique(predictions["patient_id"])).difference(o.index)
    if len(unknown):
        raise DataError(f"{where}: {len(unknown)} predicted patient(s) have no row in "
                        f"'outcomes', e.g. {', '.join(map(str, unknown[:3]))}. Pass the outcomes "
                        "of every evaluated patient.")
    return o


def _endpoint_outcome(o: pd.DataFrame, endpoint: str, where: str) -> pd.DataFrame:
    """Evaluable patients of one endpoint: columns ``time, event`` or ``y`` (float 0/1)."""
    if endpoint == "orr":
        y = pd.to_numeric(o["orr"], errors="coerce").where(o["orr"].notna())
        bad = o["orr"].notna() & ~y.isin([0.0, 1.0])
        if bad.any():
            pid = bad[bad].index[0]
            raise DataError(f"{where}: patient {pid} has orr = {o.loc[pid, 'orr']!r}; expected "
                            "1 (response), 0 (none) or missing (not evaluable).")
        return pd.DataFrame({"y": y[y.notna()].astype(float)})
    t = pd.to_numeric(o[f"{endpoint}_time"], errors="coerce")
    ev_raw = o[f"{endpoint}_event"]
    keep = t.notna() & ev_raw.notna()
    t = t[keep].astype(float)
    ev = ev_raw[keep].astype(float)
    bad = ~ev.isin([0.0, 1.0])
    if bad.any():
        pid = bad[bad].index[0]
        raise DataError(f"{where}: patient {pid} has {endpoint}_event = {ev_raw[pid]!r}; "
                        "expected True/False (or 1/0).")
    bad = (t < 0) | ~np.isfinite(t)
    if bad.any():
        pid = bad[bad].index[0]
        raise DataError(f"{where}: patient {pid} has {endpoint}_time = {t[pid]!r}; expected "
                        "days >= 0.")
    return pd.DataFrame({"time": t, "event": ev.astype(bool)})
