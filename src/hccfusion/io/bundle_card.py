"""The model card of a bundle: :func:`render_model_card` and its prose helpers.

Renders a :class:`~hccfusion.io.bundle.ModelBundle` as Markdown (intended use, model, training
data, risk groups, metrics, expected features, limitations). Re-exported from
:mod:`hccfusion.io.bundle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hccfusion.io.bundle_layout import fused_model_config
from hccfusion.io.bundle_specs import _describe

if TYPE_CHECKING:
    from hccfusion.io.bundle import ModelBundle

__all__ = ["render_model_card"]


_LINEAR_INPUTS = {"clinical": "the clinical variables",
                  "pathology": "the pathology bag means (each tile feature averaged over the "
                               "patient's slides)",
                  "pathology/mean_sd": "the pathology bag means and SDs (each tile feature "
                                       "averaged over the patient's slides, and its SD over "
                                       "the tiles)",
                  "radiomics": "the radiomics features", "omics": "the omics pathway scores"}


def _linear_input(modality: str, config: Any) -> str:
    parts = config.get("linear_joint") if isinstance(config, Mapping) else None
    if isinstance(parts, list) and parts:
        reads = [_linear_input(str(p.get("modality")), {"linear": p}) if isinstance(p, Mapping)
                 else str(p) for p in parts]
        return f"{', '.join(reads[:-1])} and {reads[-1]} together (one model)"
    spec = config.get("linear") if isinstance(config, Mapping) else None
    summary = spec.get("summary", "mean") if isinstance(spec, Mapping) else "mean"
    key = modality if summary == "mean" else f"{modality}/{summary}"
    return _LINEAR_INPUTS.get(key, _LINEAR_INPUTS.get(modality, f"the {modality} features"))

_ENDPOINT_NAMES = {"os": "overall survival (OS)", "pfs": "progression-free survival (PFS)",
                   "response": "objective response (ORR, mRECIST)",
                   "orr": "objective response (ORR, mRECIST)",
                   "bor": "best overall response (CR < PR < SD < PD, ordinal)"}


def _head_prose(name: str, head: Any) -> str:
    label = _ENDPOINT_NAMES.get(name, name)
    if isinstance(head, Mapping):
        kind = head.get("kind")
        if kind == "discrete":
            bins = head.get("n_bins")
            extra = f" over {bins} time bins" if bins else ""
            return (f"{label}: discrete-time (logistic-hazard) head{extra}; risk = minus the "
                    "area under the predicted survival curve (higher = worse)")
        if kind == "cox":
            return f"{label}: Cox head; risk = log relative hazard (higher = worse)"
        if kind:
            return f"{label}: {kind} head"
    if name in ("response", "orr"):
        return f"{label}: probability of response"
    if name == "bor":
        return f"{label}: cumulative-link ordinal head"
    return label


def _spec_prose(modality: str, spec: Mapping[str, Any]) -> str:
    if not spec:
        return f"- **{modality}**: no feature settings recorded."
    if modality == "clinical" and isinstance(spec.get("columns"), list):
        cols = spec["columns"]
        return (f"- **clinical**: {len(cols)} baseline variables: "
                + ", ".join(f"`{c}`" for c in cols) + ".")
    return f"- **{modality}**: features from {_describe(modality, spec)}."


def _metrics_md(metrics: Any) -> list[str]:
    if metrics is None:
        return ["No performance figures were given when this bundle was written; see the "
                "evaluation folder of the run."]
    if isinstance(metrics, list) and metrics and all(isinstance(r, dict) for r in metrics):
        cols = list(dict.fromkeys(k for row in metrics for k in row))
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in metrics:
            lines.append("| " + " | ".join(_cell(row.get(c)) for c in cols) + " |")
        return lines
    lines: list[str] = []

    def walk(obj: Any, prefix: str) -> None:
        if isinstance(obj, dict):
            for key, value in obj.items():
                walk(value, f"{prefix} / {key}" if prefix else str(key))
        else:
            lines.append(f"- {prefix}: {_cell(obj)}")

    walk(metrics, "")
    return lines or ["(empty)"]


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    return str(value)


def _shrinkage_prose(b: ModelBundle) -> str:
    model = b.training_config.get("model") if isinstance(b.training_config, Mapping) else None
    prior = model.get("skill_prior_patients") if isinstance(model, Mapping) else None
    if not isinstance(prior, (int, float)) or prior <= 0:
        return ""
    return (f" Each skill (C or AUC minus 1/2) is shrunk toward none by n / (n + {prior:g}), "
            f"n being the patients it was measured on, so a vote earned on few patients "
            f"counts for little.")


def _os_vote_prose(b: ModelBundle) -> str:
    cross = b.state_dict.get("os_for_pfs") if isinstance(b.state_dict, Mapping) else None
    if cross is None or not bool((cross > 0).any()):
        return ""
    return (" Each component's OS risk also votes for PFS (progression-free survival ends at "
            "death too), weighted by its skill at ranking PFS.")


def _stacking_prose(b: ModelBundle) -> str:
    model = b.training_config.get("model") if isinstance(b.training_config, Mapping) else None
    if not isinstance(model, Mapping) or model.get("combine") != "stacked":
        return ""
    return (" Where the inner-validation patients have enough events, the weights are then "
            "fitted on them instead (stacking: non-negative Cox models of OS and PFS and a "
            "logistic model of response on all the votes together, the linear models voting "
            "there with their out-of-fold values).")


def render_model_card(bundle: ModelBundle) -> str:
    """The model card of a bundle as Markdown (Mitchell et al., "Model Cards for Model
    Reporting", FAT* 2019): intended use, model, training data, risk groups, metrics as given,
    expected features in prose, and limitations.

    Parameters
    ----------
    bundle
        A bundle as read by :func:`read_bundle` (or built by :func:`write_bundle` before
        writing).

    Returns
    -------
    str
        Markdown text, ending in a newline.
    """
    b = bundle
    summary = b.summary or {}
    core = fused_model_config(b.model_config)
    heads = core.get("heads")
    heads = heads if isinstance(heads, Mapping) else {}
    fusion = core.get("fusion")
    fusion_name = fusion.get("name") if isinstance(fusion, Mapping) else fusion

    lines = [
        "# Model card: hccfusion multimodal outcome model",
        "",
        f"Written {b.created_at} by hccfusion {b.package_version} (bundle format "
        f"{b.format_version}); config hash `{b.config_hash}`, weights sha256 "
        f"`{b.weights_sha256}`, training seed {b.seed}.",
        "",
        "## Intended use",
        "",
        "Research use only. The model estimates, from data available before treatment, the "
        "outcome risk of adults with unresectable hepatocellular carcinoma starting "
        "intra-arterial therapy (TACE or HAIC) combined with a tyrosine kinase inhibitor and a "
        "PD-1 inhibitor. It is not a medical device, has not been validated prospectively for "
        "clinical decisions, and must not be used to choose or withhold treatment.",
        "",
        "## Model",
        "",
        f"- Input modalities: {', '.join(b.modalities)} (a patient may lack any but one; missing "
        "modalities are masked).",
    ]
    if fusion_name:
        lines.append(f"- Fusion: {fusion_name}.")
    experts = b.model_config.get("experts") if isinstance(b.model_config, Mapping) else None
    if isinstance(experts, Mapping) and experts:
        nets = [name for name in experts if not name.endswith("_linear")]
        linear = [name.removesuffix("_linear") for name in experts if name.endswith("_linear")]
        parts = []
        if nets:
            parts.append(f"nets that see one modality only ({', '.join(nets)})")
        if linear:
            inputs = [_linear_input(m, experts[f"{m}_linear"]) for m in linear]
            listed = inputs[0] if len(inputs) == 1 else \
                f"{', '.join(inputs[:-1])} and over {inputs[-1]}"
            parts.append("elastic-net linear models (penalty chosen by cross-validation; "
                         f"weighted by their cross-validated skill) over {listed}")
        lines.append(f"- Experts: the fused net's OS and PFS risks and response logit are "
                     f"averaged (on the scale of each one's training predictions, weighted by "
                     f"each one's skill on the inner-validation patients) with those of "
                     f"{' and '.join(parts)}; an expert votes only for patients who have its "
                     f"modality (all of its modalities, for a model over several)."
                     f"{_shrinkage_prose(b)}{_os_vote_prose(b)}{_stacking_prose(b)}")
    n_weights = b.meta.get("n_weights", sum(t.numel() for t in b.state_dict.values()))
    lines.append(f"- Weights: {n_weights} numbers (parameters and buffers).")
    lines.append("- Outputs:")
    for name in b.endpoints:
        lines.append(f"  - {_head_prose(name, heads.get(name))}.")
    if b.time_bins:
        for name, payload in b.time_bins.items():
            edges = None
            if isinstance(payload, dict):
                edges = payload.get("edges_", payload.get("edges"))
            if isinstance(edges, list) and edges:
                lines.append(f"- Time bins ({name}, fitted on training event times): edges "
                             + ", ".join(f"{float(e):g}" for e in edges) + " days.")

    lines += ["", "## Training data", ""]
    known = [("n_patients", "Patients"), ("n_events", "Events"), ("centres", "Centres"),
             ("split_id", "Split"), ("cohort_label", "Cohort")]
    for key, label in known:
        if key in summary:
            lines.append(f"- {label}: {_cell(summary[key])}.")
    for key, value in summary.items():
        if key not in dict(known) and key != "simulated":
            lines.append(f"- {key}: {_cell(value)}.")
    if summary.get("simulated"):
        lines.append("- The training patients were **simulated** (hccfusion's cohort simulator); "
                     "the weights say nothing about real patients.")
    lines.append("- Every preprocessor, time bin and cut-off was fitted on the training patients "
                 f"only ({', '.join(sorted(b.preprocessors)) or 'no preprocessors'}).")
    site = b.preprocessors.get("pathology_site_scaler")
    if isinstance(site, Mapping) and isinstance(site.get("sites"), Mapping):
        lines.append("- Pathology tile features are standardised per centre: "
                     f"{', '.join(sorted(site['sites']))} with the statistics of their training "
                     "patients; any other centre with the statistics of its own patients with "
                     "slides in the cohort being scored (features only, at least "
                     f"{site.get('min_site_patients', '?')} patients; otherwise the pooled "
                     "training statistics).")

    lines += ["", "## Risk groups", ""]
    if b.cutoffs:
        for name, payload in b.cutoffs.items():
            labels = payload.get("labels") or []
            values = payload.get("cutoffs") or []
            n_train = payload.get("n_train")
            shown = ", ".join(f"{float(v):.6g}" for v in values)
            lines.append(f"- {name}: {payload.get('kind', '?')} cut-off(s) {shown} on the risk "
                         f"score, frozen on {n_train if n_train is not None else 'the'} training "
                         "patients; "
                         f"groups {' < '.join(labels)} (risk <= cut-off → lower group).")
    else:
        lines.append("No risk-group cut-offs are frozen in this bundle.")

    lines += ["", "## Performance (as given at export)", ""] + _metrics_md(b.metrics)

    lines += ["", "## Expected input features", "",
              "Predictions are only valid for features made the same way; features whose "
              "recorded settings differ from these are refused.", ""]
    for modality in b.modalities:
        lines.append(_spec_prose(modality, b.feature_specs.get(modality, {})))

    lines += ["", "## Limitations", "",
              "- Trained on the patients summarised above; performance may be lower in other "
              "centres, scanners, slide scanners, assays or treatment regimens.",
              "- Risks are relative rankings unless calibrated; cut-offs were frozen on the "
              "training patients and are not re-fitted on new data.",
              "- Retrospective data carry selection and measurement biases."]
    lines += [f"- {text}" for text in b.limitations]
    return "\n".join(lines) + "\n"
