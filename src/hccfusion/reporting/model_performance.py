"""The report's "Model performance" section, built from an evaluation folder.

The folder is the one ``hccfusion evaluate`` writes (tables as Parquet with a CSV beside each;
either is read, Parquet first):

=============================  ===========================================================
``performance``                required; ``model, endpoint, cohort_label, n, n_events, metric,
                               estimate, ci_low, ci_high, note``
``paired_differences``         ``model, comparator, endpoint, cohort_label, n, metric,
                               estimate, comparator_estimate, delta, ci_low, ci_high,
                               p_value, note``
``availability_patterns``      ``model, endpoint, cohort_label, pattern, n, n_events, metric,
                               estimate, ci_low, ci_high, note``
``predictions``                ``model, split_id, cohort_label, patient_id, endpoint, risk``
                               (+ ``risk_group`` for os/pfs)
``outcomes``                   ``patient_id, os_time, os_event, pfs_time, pfs_event, orr``
``modality_shapley``           ``model, patient_id, modality, shapley``
``clinical_shap``              ``model, patient_id, variable, shap, value``
``modality_ablation``          ``setting, modality, coalition, estimate, delta`` (shown when
                               present; its absence is not noted)
``risk_groups.json``           frozen cut-offs (used only when predictions lack
                               ``risk_group``), see :func:`risk_groups_from_cutoffs`
``evaluation.json``            ``default_model``, ``oracle`` ({"c_index_os": C,
                               "c_index_pfs": C, "auc_orr": AUC}, simulated cohorts only;
                               ``os``/``pfs``/``orr`` keys are read too), ``seed``/``seeds``,
                               ``n_resamples``
=============================  ===========================================================

Only ``performance`` is required; a missing optional file omits its part of the section with
a one-line note. The section shows, in order: the headline (the default model's external
C-index for OS and PFS and ORR AUC with 95 % CIs, next to the simulator's oracle and the share
of the way from chance to the oracle, (C − 0.5) / (oracle − 0.5)); discrimination per endpoint
(table and forest plot, model × cohort); ΔC of the default model against each comparator; the
availability-pattern table; Kaplan–Meier curves of the frozen risk groups in every external and
temporal test cohort (numbers at risk, log-rank p; :func:`hccfusion.evaluation.survival_curves.
kaplan_meier`, :func:`hccfusion.evaluation.logrank.logrank_test`); modality Shapley values and
clinical SHAP values. Every number shown is written as a CSV beside the report by
:func:`hccfusion.reporting.html.render_report`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    from hccfusion.reporting.html import Section

__all__ = [
    "Evaluation",
    "RiskGroupCurves",
    "clinical_shap_importance",
    "headline_table",
    "modality_importance",
    "model_performance_section",
    "read_evaluation",
    "risk_group_curves",
    "risk_groups_from_cutoffs",
]

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
METRICS: dict[str, str] = {"harrell_c": "Harrell's C", "roc_auc": "ROC AUC"}
DAYS_PER_MONTH = 30.4375
#: Display formats of the rendered tables (the CSVs keep full precision).
FORMATS: dict[str, str] = {c: "{:.3f}" for c in (
    "estimate", "ci_low", "ci_high", "comparator_estimate", "delta", "oracle",
    "mean_abs_shapley", "mean_shapley", "mean_abs_shap", "mean_shap")}
FORMATS.update({"p_value": "{:.3g}", "p_value_logrank": "{:.3g}", "share_of_oracle_pct": "{:.0f}",
                "share_pct": "{:.1f}", "n": "{:.0f}", "n_events": "{:.0f}",
                "n_patients": "{:.0f}"})
_TRIPOD = ("discrimination with 95 % CIs in internal, external and temporal validation; "
           "comparison with clinical scores and baselines; performance by data availability; "
           "risk groups from cut-offs frozen on the training patients; model explanation")


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
            default = str(paired["model"].astype(str).value_counts().index[0])
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


def _headline_text(head: pd.DataFrame, *, model: str, inferred: bool,
                   meta: dict[str, Any]) -> str:
    name = f"Default model: {model}" + (" (inferred; evaluation.json names none)" if inferred
                                        else "") + "."
    parts = []
    for rec in head.itertuples(index=False):
        metric = "C-index" if rec.metric == "harrell_c" else "AUC"
        ci = (f" (95 % CI {float(rec.ci_low):.3f}–{float(rec.ci_high):.3f})"
              if _finite(rec.ci_low) and _finite(rec.ci_high) else "")
        value = f"{float(rec.estimate):.3f}" if _finite(rec.estimate) else "not estimable"
        text = f"{str(rec.endpoint).upper()} {metric} {value}{ci} in {rec.cohort_label}"
        if _finite(rec.oracle):
            text += f", oracle {rec.oracle:.3f}"
            if _finite(rec.share_of_oracle_pct):
                text += (f" — {rec.share_of_oracle_pct:.0f} % of the way from chance (0.5) to "
                         "the oracle")
        parts.append(text)
    body = ("External validation: " + "; ".join(parts) + ".") if parts else \
        "No external or temporal validation rows for the default model."
    extra = []
    if meta.get("n_resamples") is not None:
        extra.append(f"95 % CIs from {int(meta['n_resamples'])} patient-level bootstrap "
                     "resamples")
    seed = meta.get("seed", meta.get("seeds"))
    if seed is not None:
        extra.append(f"seed {seed}")
    joined = ", ".join(extra)
    tail = f" {joined[:1].upper()}{joined[1:]}." if extra else ""
    return f"{name} {body}{tail}"


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


# ----------------------------------------------------------------------------------- section

def _missing_note(what: str, files: str) -> Any:
    from hccfusion.reporting.html import NoteBlock

    return NoteBlock(f"{what} omitted: the evaluation folder has no {files}.")


def _performance_blocks(ev: Evaluation, oracle: dict[str, float]) -> list[Any]:
    from hccfusion.reporting.figures.model_forest import plot_model_forest
    from hccfusion.reporting.html import FigureBlock, TableBlock

    perf = _sorted(ev.tables["performance"], default_model=ev.default_model)
    blocks: list[Any] = []
    for endpoint, label in ENDPOINTS.items():
        part = perf[perf["endpoint"] == endpoint].reset_index(drop=True)
        if part.empty:
            continue
        metric = METRICS.get(str(part["metric"].iloc[0]), str(part["metric"].iloc[0]))
        blocks.append(TableBlock(f"{label}: {metric} with 95 % CI, per model and cohort",
                                 part, f"performance_{endpoint}", FORMATS))
        drawn = part.dropna(subset=["estimate"])
        if drawn.empty:
            continue
        orc = oracle.get(endpoint)
        blocks.append(FigureBlock(
            caption=f"{label}: {metric} (95 % CI) per model, by test cohort; default model "
                    f"{ev.default_model} highlighted; dashed line: chance (0.5)"
                    + ("" if orc is None else f"; dotted line: simulator's oracle {orc:.3f}"),
            name=f"forest_{endpoint}",
            data=drawn[["model", "cohort_label", "metric", "estimate", "ci_low", "ci_high"]],
            draw=lambda d=drawn, m=metric, o=orc: plot_model_forest(
                d, xlabel=f"{m} (95% CI)", highlight=ev.default_model, oracle=o)))
    return blocks


def _paired_blocks(ev: Evaluation) -> list[Any]:
    from hccfusion.reporting.figures.model_forest import plot_model_forest
    from hccfusion.reporting.html import FigureBlock, NoteBlock, TableBlock

    paired = ev.get("paired_differences")
    if paired is None:
        return [_missing_note("Comparison with the comparators (ΔC)",
                              "paired_differences.parquet")]
    mine = paired[paired["model"].astype(str) == ev.default_model]
    if mine.empty:
        return [NoteBlock(f"Comparison with the comparators (ΔC) omitted: "
                          f"paired_differences holds no rows for the default model "
                          f"{ev.default_model}.")]
    mine = _sorted(mine, default_model=ev.default_model, by=("comparator",))
    blocks: list[Any] = [TableBlock(
        f"{ev.default_model} minus each comparator: difference (Δ) of C-index / AUC with "
        "paired patient-bootstrap 95 % CI and p", mine, "paired_differences", FORMATS)]
    for endpoint, label in ENDPOINTS.items():
        part = mine[(mine["endpoint"] == endpoint)].dropna(subset=["delta"])
        if part.empty:
            continue
        data = part.assign(model=part["comparator"], estimate=part["delta"])[
            ["model", "cohort_label", "estimate", "ci_low", "ci_high", "p_value"]]
        blocks.append(FigureBlock(
            caption=f"{label}: Δ of {ev.default_model} against each comparator (95 % CI); "
                    "right of 0 favours the default model",
            name=f"delta_{endpoint}", data=data,
            draw=lambda d=data: plot_model_forest(
                d, reference=0.0, xlabel=f"Δ ({ev.default_model} − comparator), 95% CI")))
    return blocks


def _pattern_blocks(ev: Evaluation) -> list[Any]:
    from hccfusion.reporting.html import NoteBlock, TableBlock

    patterns = ev.get("availability_patterns")
    if patterns is None:
        return [_missing_note("Performance by availability pattern",
                              "availability_patterns.parquet")]
    mine = patterns[patterns["model"].astype(str) == ev.default_model]
    if mine.empty:
        return [NoteBlock("Performance by availability pattern omitted: no rows for the "
                          f"default model {ev.default_model}.")]
    mine = _sorted(mine, default_model=ev.default_model, by=("pattern",))
    return [TableBlock(f"{ev.default_model} by modality-availability pattern (which modalities "
                       "a patient has): n, events and C-index / AUC with 95 % CI",
                       mine, "availability_patterns", FORMATS)]


def _km_blocks(ev: Evaluation) -> list[Any]:
    from hccfusion.reporting.figures.model_km import plot_risk_group_km
    from hccfusion.reporting.html import FigureBlock, NoteBlock, TableBlock

    predictions, outcomes = ev.get("predictions"), ev.get("outcomes")
    if predictions is None or outcomes is None:
        files = " and ".join(f"{n}.parquet" for n, t in (("predictions", predictions),
                                                        ("outcomes", outcomes)) if t is None)
        return [_missing_note("Kaplan–Meier curves by risk group", files)]
    note = ""
    has_groups = "risk_group" in predictions.columns and predictions.loc[
        predictions["endpoint"].isin(["os", "pfs"]), "risk_group"].notna().any()
    if not has_groups:
        if ev.risk_groups is None:
            return [NoteBlock("Kaplan–Meier curves by risk group omitted: the predictions "
                              "have no risk_group column and the folder has no "
                              "risk_groups.json.")]
        predictions = risk_groups_from_cutoffs(predictions, ev.risk_groups,
                                               model=ev.default_model)
        note = " Risk groups assigned here from the frozen cut-offs in risk_groups.json."
    curves = risk_group_curves(predictions, outcomes, model=ev.default_model)
    if not curves:
        return [NoteBlock("Kaplan–Meier curves by risk group omitted: no external or temporal "
                          f"test patient of {ev.default_model} has a risk group and an "
                          "outcome.")]
    blocks: list[Any] = []
    summary = []
    many = {c.cohort_label for c in curves if sum(d.cohort_label == c.cohort_label
                                                  and d.endpoint == c.endpoint
                                                  for d in curves) > 1}
    for c in curves:
        where = c.cohort_label + (f" (split {c.split_id})" if c.cohort_label in many else "")
        label = ENDPOINTS[c.endpoint]
        p = c.p_value if np.isfinite(c.p_value) else None
        for rec in c.counts.itertuples(index=False):
            summary.append({"endpoint": c.endpoint, "cohort_label": c.cohort_label,
                            "split_id": c.split_id, "risk_group": rec.group,
                            "n": int(rec.n), "n_events": int(rec.n_events),
                            "p_value_logrank": c.p_value})
        dropped = f"; {c.n_dropped} patients without outcome left out" if c.n_dropped else ""
        blocks.append(FigureBlock(
            caption=f"{label} by {ev.default_model} risk group (cut-off frozen on the training "
                    f"patients) in {where}; numbers at risk beneath; log-rank "
                    f"{'p not computed (one group)' if p is None else f'p = {p:.3g}'}{dropped}",
            name=f"km_{c.endpoint}_{c.cohort_label}_{c.split_id}",
            data=c.table,
            draw=lambda c=c, p=p, label=label, where=where: plot_risk_group_km(
                c.table, at_risk=c.at_risk, p_value=p, ylabel=label,
                title=f"{ev.default_model} · {where}")))
    blocks.insert(0, TableBlock("Patients and events per frozen risk group, external and "
                                "temporal cohorts, with the log-rank p" + note,
                                pd.DataFrame(summary), "risk_groups", FORMATS))
    return blocks


def _attribution_blocks(ev: Evaluation) -> list[Any]:
    from hccfusion.reporting.figures.model_attribution import (plot_clinical_shap,
                                                               plot_modality_shapley)
    from hccfusion.reporting.html import FigureBlock, TableBlock

    blocks: list[Any] = []
    shapley = ev.get("modality_shapley")
    if shapley is None:
        blocks.append(_missing_note("Modality contributions", "modality_shapley.parquet"))
    else:
        summary = modality_importance(shapley)
        blocks.append(TableBlock("Modality contributions: exact Shapley values over the "
                                 "modalities each patient has (mean |φ|, mean φ, share)",
                                 summary, "modality_shapley", FORMATS))
        shown = _for_model(summary, ev.default_model)
        if not shown.empty:
            model = str(shown["model"].iloc[0])
            blocks.append(FigureBlock(
                caption=f"Modality contributions of {model}: mean |Shapley value| per "
                        "modality (bars) and signed mean (diamonds)",
                name="modality_shapley", data=shown,
                draw=lambda d=shown: plot_modality_shapley(d)))
    ablation = ev.get("modality_ablation")
    if ablation is not None and not ablation.empty:
        blocks.append(TableBlock("Modality ablation: the metric with all modalities, with each "
                                 "one left out, and with each one alone (Δ against all)",
                                 ablation, "modality_ablation", FORMATS))
    shap = ev.get("clinical_shap")
    if shap is None:
        blocks.append(_missing_note("Clinical SHAP values", "clinical_shap.parquet"))
    else:
        summary = clinical_shap_importance(shap)
        blocks.append(TableBlock("Clinical variables: mean |SHAP value| (one-hot levels and "
                                 "missing indicators summed per variable)", summary,
                                 "clinical_shap", FORMATS))
        shown = _for_model(summary, ev.default_model)
        if not shown.empty:
            model = str(shown["model"].iloc[0])
            blocks.append(FigureBlock(
                caption=f"Clinical variables of {model}: mean |SHAP value|, largest 15",
                name="clinical_shap", data=shown.head(15),
                draw=lambda d=shown: plot_clinical_shap(d, max_variables=15)))
    return blocks


def _for_model(summary: pd.DataFrame, model: str) -> pd.DataFrame:
    """Rows of the default model, else of the first model present."""
    if summary.empty:
        return summary
    names = summary["model"].astype(str)
    pick = model if (names == model).any() else names.iloc[0]
    return summary[names == pick].reset_index(drop=True)


def model_performance_section(evaluation: Path) -> Section:
    """Build the "Model performance" report section from an evaluation folder.

    Parameters
    ----------
    evaluation
        Folder written by ``hccfusion evaluate`` (see the module docstring for its files).

    Returns
    -------
    hccfusion.reporting.html.Section
        ``id="model"``: headline text, then tables and figures; each optional part missing from
        the folder is replaced by a one-line note.

    Raises
    ------
    hccfusion.errors.UsageError
        If the folder or its performance table is missing.
    hccfusion.errors.DataError
        If a table lacks a fixed column or the JSON files are malformed.
    """
    from hccfusion.reporting.html import Section, TableBlock

    ev = read_evaluation(Path(evaluation))
    oracle = _oracle(ev.meta)
    head = headline_table(ev.tables["performance"], model=ev.default_model, oracle=oracle)
    blocks: list[Any] = []
    if not head.empty:
        blocks.append(TableBlock(
            "Headline: the default model in external validation, beside the simulator's "
            "oracle (the C-index / AUC of the true risk); share = (C − 0.5) / (oracle − 0.5)",
            head, "headline", FORMATS))
    blocks += _performance_blocks(ev, oracle)
    blocks += _paired_blocks(ev)
    blocks += _pattern_blocks(ev)
    blocks += _km_blocks(ev)
    blocks += _attribution_blocks(ev)
    return Section(id="model", title="Model performance", tripod=_TRIPOD,
                   text=_headline_text(head, model=ev.default_model,
                                       inferred=ev.default_model_inferred, meta=ev.meta),
                   note=("The evaluation folder has no evaluation.json: the default model is "
                         "inferred and no oracle is shown." if "evaluation.json" in ev.missing
                         else ""),
                   blocks=tuple(blocks))
