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
(table and forest plot, model × cohort); ΔC of the default model against each comparator (and,
when the oracle was scored, the oracle's ΔC against the same comparators: the power reference); the
availability-pattern table; Kaplan–Meier curves of the frozen risk groups in every external and
temporal test cohort (numbers at risk, log-rank p; :func:`hccfusion.evaluation.survival_curves.
kaplan_meier`, :func:`hccfusion.evaluation.logrank.logrank_test`); modality Shapley values and
clinical SHAP values. Every number shown is written as a CSV beside the report by
:func:`hccfusion.reporting.html.render_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hccfusion.reporting.model_evaluation_data import (  # noqa: F401 - re-exported
    COLUMNS, ENDPOINTS, OPTIONAL_TABLES, ORACLE_KEYS, ORACLE_MODEL, Evaluation, _finite, _oracle,
    _sorted, clinical_shap_importance, headline_table, modality_importance, read_evaluation,
)
from hccfusion.reporting.model_risk_groups import (  # noqa: F401 - re-exported
    DAYS_PER_MONTH, RiskGroupCurves, risk_group_curves, risk_groups_from_cutoffs,
)

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

METRICS: dict[str, str] = {"harrell_c": "Harrell's C", "roc_auc": "ROC AUC"}
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
    power = paired[(paired["model"].astype(str) == ORACLE_MODEL)
                   & ~paired["comparator"].astype(str).str.startswith(f"{ev.default_model}[")]
    if not power.empty:
        blocks.append(TableBlock(
            "Power reference: the simulator's true risk (oracle) minus each comparator, on the "
            "same patients and resamples. Where even this interval includes 0, the cohort is too "
            "small for any model to be shown better than that comparator",
            _sorted(power, default_model=ev.default_model, by=("comparator",)),
            "paired_differences_oracle", FORMATS))
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
