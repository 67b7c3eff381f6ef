"""Row assembly shared by the model comparison tables (:mod:`hccfusion.evaluation.model_table`).

Owns the metric per endpoint, the stable ordering and grouping of the prediction table, the
patients × models risk matrix of one group and the sets of models sharing the same patients,
the percentile interval and the notes on undefined resamples, the per-model performance rows
(used by the overall and the per-availability-pattern tables) and the typed output frame.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.evaluation.bootstrap import _percentile
from hccfusion.evaluation.model_table_bootstrap import _score_set
from hccfusion.evaluation.model_table_inputs import _ENDPOINTS, _endpoint_outcome

_METRIC = {"os": "harrell_c", "pfs": "harrell_c", "orr": "roc_auc"}


def _join(*notes: str) -> str:
    return "; ".join(x for x in notes if x)


def _undefined_note(values: np.ndarray) -> str:
    bad = int((~np.isfinite(values)).sum())
    return (f"{bad} of {values.shape[0]} resamples undefined, excluded from the interval"
            if bad else "")


# --------------------------------------------------------------------------- grouping


def _ordered(values: pd.Series, first: Sequence[str] = ()) -> list[str]:
    seen = list(pd.unique(values))
    return [v for v in first if v in seen] + [v for v in seen if v not in first]


def _groups(p: pd.DataFrame, keys: list[str]) -> list[tuple[tuple[str, ...], pd.DataFrame]]:
    """Groups of ``p`` in a stable order (endpoint os, pfs, orr; others by first appearance)."""
    orders = {k: (_ordered(p[k], _ENDPOINTS) if k == "endpoint" else _ordered(p[k]))
              for k in keys}
    found = {key if isinstance(key, tuple) else (key,): g
             for key, g in p.groupby(keys, sort=False)}
    out = []
    for key in sorted(found, key=lambda kk: tuple(orders[k].index(v) for k, v in zip(keys, kk))):
        out.append((key, found[key]))
    return out


def _risk_matrix(group: pd.DataFrame, outcome: pd.DataFrame, models: list[str]
                 ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Patients (sorted) × models of usable risks, and per model the number of evaluable
    patients whose risk is missing."""
    sub = group[group["patient_id"].isin(outcome.index)]
    no_risk = sub[sub["risk"].isna()].groupby("model").size().to_dict()
    wide = sub.dropna(subset=["risk"]).pivot(index="patient_id", columns="model", values="risk")
    wide = wide.reindex(columns=[m for m in models if m in wide.columns]).sort_index()
    return wide, {str(m): int(c) for m, c in no_risk.items()}


def _scored_groups(p: pd.DataFrame, o: pd.DataFrame, keys: list[str], where: str
                   ) -> Iterator[tuple[Any, ...]]:
    """Per group of ``p`` by ``keys`` (which include ``endpoint``): the key, the endpoint, its
    outcome table (built once per endpoint), the group's models in first-appearance order and
    :func:`_risk_matrix`'s (risks, missing-risk counts)."""
    model_order = _ordered(p["model"])
    outcome_cache: dict[str, pd.DataFrame] = {}
    for key, group in _groups(p, keys):
        endpoint = key[keys.index("endpoint")]
        if endpoint not in outcome_cache:
            outcome_cache[endpoint] = _endpoint_outcome(o, endpoint, where)
        outcome = outcome_cache[endpoint]
        in_group = set(group["model"])
        models = [m for m in model_order if m in in_group]
        yield key, endpoint, outcome, models, *_risk_matrix(group, outcome, models)


def _mask_sets(wide: pd.DataFrame, models: list[str]) -> list[tuple[np.ndarray, list[str]]]:
    """Models sharing the same set of patients with a risk: [(patient mask, models)]."""
    sets: dict[bytes, tuple[np.ndarray, list[str]]] = {}
    for m in models:
        mask = wide[m].notna().to_numpy()
        sets.setdefault(mask.tobytes(), (mask, []))[1].append(m)
    return list(sets.values())


def _performance_rows(p: pd.DataFrame, o: pd.DataFrame, keys: list[str], *, n_resamples: int,
                      seed: int, confidence: float, min_events: int, where: str
                      ) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key, endpoint, outcome, models, wide, no_risk in _scored_groups(p, o, keys, where):
        base = dict(zip(keys, key))
        base["metric"] = _METRIC[endpoint]
        scored: dict[str, dict[str, Any]] = {}
        present = [m for m in models if m in wide.columns]
        for mask, ms in _mask_sets(wide, present):
            if not mask.any():
                continue
            res = _score_set(endpoint, outcome.loc[wide.index[mask]],
                             wide.loc[mask, ms].to_numpy(), n_resamples=n_resamples, seed=seed,
                             min_events=min_events)
            for j, m in enumerate(ms):
                lo = hi = float("nan")
                note = res.note
                if res.replicates is not None:
                    lo, hi = _percentile(res.replicates[:, j], confidence)
                    note = _join(note, _undefined_note(res.replicates[:, j]))
                scored[m] = {"n": res.n, "n_events": res.n_events,
                             "estimate": float(res.estimate[j]), "ci_low": lo, "ci_high": hi,
                             "note": note}
        for m in models:
            row = scored.get(m, {"n": 0, "n_events": 0, "estimate": float("nan"),
                                 "ci_low": float("nan"), "ci_high": float("nan"),
                                 "note": "no patient with a prediction and an evaluable "
                                         "outcome"})
            if no_risk.get(m):
                row["note"] = _join(row["note"], f"{no_risk[m]} evaluable patient(s) without a "
                                                 "prediction excluded")
            rows.append({"model": m, **base, **row})
    return rows


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=list(columns))
    for col in ("n", "n_events"):
        if col in out.columns:
            out[col] = out[col].astype("int64")
    for col in ("estimate", "comparator_estimate", "delta", "ci_low", "ci_high", "p_value"):
        if col in out.columns:
            out[col] = out[col].astype(float)
    out["note"] = out["note"].fillna("").astype(str)
    return out
