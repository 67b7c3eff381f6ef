"""``hccfusion evaluate``: the evaluation tables and attributions of a training run.

From the folder ``hccfusion train`` wrote (predictions of every model on held-out patients, the
outcomes, the availability patterns and the bundles) it writes the evaluation folder the report
reads (see :mod:`hccfusion.reporting.model_performance`)::

    performance.parquet           model × endpoint × cohort: C-index / AUC with bootstrap CI
    paired_differences.parquet    the default model − every comparator, paired bootstrap (and,
                                  with the oracle, the oracle − every other comparator)
    availability_patterns.parquet per modality-availability pattern
    modality_shapley.parquet      per patient, exact Shapley values of the modalities (final model)
    modality_ablation.parquet     C-index of the final model with each modality left out / alone
    clinical_shap.parquet         per patient, SHAP values of the clinical variables (final model)
    tile_attention.parquet        per patient, the 10 biopsy tiles with the most MIL attention
    predictions.parquet, outcomes.parquet, risk_groups.json, evaluation.json

Every table is also written as CSV. Only held-out patients are ever scored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from hccfusion.errors import DataError

__all__ = ["EvaluationResult", "run_evaluation", "DEFAULT_MODEL"]

DEFAULT_MODEL = "multimodal"
ORACLE_MODEL = "oracle"


@dataclass(frozen=True)
class EvaluationResult:
    out: Path
    headline: dict
    seconds: float


def _write(frame: pd.DataFrame, path: Path) -> None:
    from hccfusion.io.atomic import atomic_write_parquet, atomic_write_text

    atomic_write_parquet(path, frame)
    atomic_write_text(path.with_suffix(".csv"), frame.to_csv(index=False))


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    if not path.is_file():
        raise DataError(f"{path} is missing: is {folder} a folder written by hccfusion train?")
    return pd.read_parquet(path)


def _attribution(run: Path, out: Path, *, config: dict, seed: int,
                 progress: Callable[[str], None]) -> list[str]:
    """Modality Shapley values, modality ablation and clinical SHAP of the final model on its
    external test patients."""
    from hccfusion.evaluation.concordance import harrell_c
    from hccfusion.mechanism.attribution import attention_table, clinical_shap, \
        modality_ablation, modality_shapley
    from hccfusion.training.config import StudyConfig
    from hccfusion.training.dataset import load_study_data
    from hccfusion.training.loop import make_batch, predict_frame
    from hccfusion.training.persist import load_fitted

    notes: list[str] = []
    final = run / "bundles" / "final"
    if not final.is_dir():
        return ["no final bundle (external validation did not run): attribution skipped"]
    fitted, bundle = load_fitted(final)
    cfg = StudyConfig.model_validate(config)
    d = cfg.data
    data = load_study_data(cohort=d.cohort, endpoints=d.endpoints, features=d.features,
                           radiomics=d.radiomics, pathology=d.pathology, omics=d.omics)
    splits = _read(run, "splits.parquet")
    rows = splits[splits["split_id"] == bundle.summary["split_id"]]
    test = rows[(rows["role"] == "test")
                & rows["cohort_label"].str.startswith("external")]["patient_id"].tolist()
    train = rows[rows["role"] != "test"]["patient_id"].tolist()
    mods = list(fitted.modalities)
    progress(f"attribution: modality Shapley values over {len(test)} external patients")
    ref = float(np.nanmean(predict_frame(fitted, data, train)["risk_os"]))

    worth: dict[frozenset[str], np.ndarray] = {}  # Shapley and ablation ask the same coalitions

    def value(coalition: frozenset[str]) -> np.ndarray:
        if coalition not in worth:
            drop = tuple(m for m in mods if m not in coalition)
            worth[coalition] = predict_frame(fitted, data, test,
                                             drop=drop)["risk_os"].to_numpy(float)
        return worth[coalition]

    avail = data.available().loc[test, mods]
    shap_mod = modality_shapley(value, modalities=mods, available=avail, reference=ref)
    _write(shap_mod.assign(model=DEFAULT_MODEL, endpoint="os")
           [["model", "endpoint", "patient_id", "modality", "shapley"]],
           out / "modality_shapley.parquet")
    t = data.targets.loc[test]

    def metric(coalition: frozenset[str]) -> float:
        r = value(coalition)
        ok = np.isfinite(r)
        return float(harrell_c(time=t["os_time"].to_numpy(float)[ok],
                               event=t["os_event"].to_numpy(bool)[ok], risk=r[ok]).c)

    _write(modality_ablation(metric, modalities=mods).assign(model=DEFAULT_MODEL,
                                                              endpoint="os"),
           out / "modality_ablation.parquet")

    progress("attribution: SHAP values of the clinical variables")
    import torch

    pre = fitted.preprocessors["clinical"]
    names = list(pre.feature_names_out_)
    x_test = pre.transform(data.clinical.loc[test])
    x_train = pre.transform(data.clinical.loc[train])
    template = make_batch(fitted, data, test[:1])
    codes = fitted.preprocessors["treatment"].transform(data.treatment.loc[train])
    common = torch.as_tensor(pd.DataFrame(codes).mode().iloc[0].to_numpy(), dtype=torch.long)

    def clinical_only(x: np.ndarray) -> np.ndarray:
        k = len(x)
        batch = {"clinical": torch.as_tensor(np.asarray(x, np.float32)),
                 "treatment": common.repeat(k, 1)}
        for m in mods:
            if m in ("radiomics", "omics"):
                batch[m] = torch.zeros((k, template[m].shape[1]))
            elif m == "pathology":
                dim = template["pathology"][0].shape[1]
                batch["pathology"] = [torch.zeros((0, dim))] * k
                batch["pathology_groups"] = [torch.zeros(0, dtype=torch.long)] * k
        avail_ = torch.zeros((k, len(mods)), dtype=torch.bool)
        avail_[:, mods.index("clinical")] = True
        batch["available"] = avail_
        with torch.no_grad():
            return fitted.net(batch).risk["os"].numpy()

    groups = {}
    for name in names:
        base = name.split("=")[0].removesuffix("__missing")
        groups[name] = base
    # SHAP costs (evaluations per patient) x (background rows) forward passes: explain a
    # seeded sample of at most 100 external patients against 50 training patients, two
    # antithetic permutations each (exact for additive effects; the cohort summary is a mean)
    rng = np.random.default_rng(seed)
    explain = sorted(rng.choice(len(test), size=min(100, len(test)), replace=False))
    shown = [test[i] for i in explain]
    table = clinical_shap(clinical_only, X=x_test[explain], background=x_train,
                          feature_names=names, groups=groups, patient_ids=shown,
                          values=data.clinical.loc[shown].astype(object),
                          n_samples=4 * len(names) + 2, max_background=50, seed=seed)
    table["value"] = table["value"].astype(str)
    _write(table.assign(model=DEFAULT_MODEL, endpoint="os")
           [["model", "endpoint", "patient_id", "variable", "shap", "value"]],
           out / "clinical_shap.parquet")
    notes.append("clinical SHAP explains the model's clinical pathway: other modalities hidden, "
                 "treatment held at the training patients' most common regimen")
    if "pathology" in mods:
        progress("attribution: the tiles the pathology MIL pooler attends to")
        have = [p for p in test if p in (data.pathology or {})]
        if have:
            with torch.no_grad():
                output = fitted.net(make_batch(fitted, data, have))
            tiles = [attention_table(patient_id=p, attention=output.instance_attention[i],
                                     slide_ids=data.pathology[p].slide_ids,
                                     slide_index=data.pathology[p].slide_index,
                                     coords=data.pathology[p].coords, top_k=10)
                     for i, p in enumerate(have)]
            _write(pd.concat(tiles, ignore_index=True).assign(model=DEFAULT_MODEL),
                   out / "tile_attention.parquet")
    return notes


def _oracle_predictions(truth: Path, predictions: pd.DataFrame) -> pd.DataFrame:
    """The simulator's true risks as a model named "oracle", on exactly the held-out patients
    the default model was scored on (``truth/latent.parquet``: ``lp_os``, ``lp_pfs``,
    ``p_response``)."""
    latent = pd.read_parquet(truth / "latent.parquet").set_index("patient_id")
    main = predictions[predictions["model"] == DEFAULT_MODEL]
    main = main[main["patient_id"].isin(latent.index)].copy()
    column = {"os": "lp_os", "pfs": "lp_pfs", "orr": "p_response"}
    main["risk"] = [float(latent.at[p, column[e]])
                    for p, e in zip(main["patient_id"], main["endpoint"])]
    main["model"] = ORACLE_MODEL
    return main.drop(columns=[c for c in main.columns if c.startswith(("risk_group",
                                                                       "surv_prob"))])


def run_evaluation(*, run: Path | str, out: Path | str, n_resamples: int = 1000, seed: int = 0,
                   oracle: Path | str | None = None, attribution: bool = True,
                   progress: Callable[[str], None] = lambda _: None) -> EvaluationResult:
    """Evaluate the training run in ``run`` into the folder ``out``.

    ``oracle``: the simulator's truth folder (or its ``oracle.json``), simulated cohorts only.
    With the folder, the true risks of the held-out patients are scored as the model
    "oracle" beside every other model, so each cohort's ceiling is measured on the same
    patients; the whole-cohort oracle of ``oracle.json`` is kept in ``evaluation.json``.
    """
    from hccfusion.evaluation.model_table import (
        availability_pattern_table, paired_difference_table, performance_table,
    )
    from hccfusion.io.atomic import atomic_write_text

    started = time.perf_counter()
    run, out = Path(run), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    predictions = _read(run, "predictions.parquet")
    outcomes = _read(run, "outcomes.parquet")
    availability = _read(run, "availability.parquet")
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    truth = None if oracle is None else Path(oracle)
    if truth is not None and truth.is_file():
        truth = truth.parent
    if truth is not None and (truth / "latent.parquet").is_file():
        predictions = pd.concat([predictions, _oracle_predictions(truth, predictions)],
                                ignore_index=True)
    _write(predictions, out / "predictions.parquet")
    _write(outcomes, out / "outcomes.parquet")

    progress(f"performance of {predictions['model'].nunique()} models ({n_resamples} "
             "bootstrap resamples)")
    perf = performance_table(predictions, outcomes, n_resamples=n_resamples, seed=seed)
    _write(perf, out / "performance.parquet")
    progress("paired differences: the multimodal model against every comparator")
    comparators = [m for m in predictions["model"].unique() if m != DEFAULT_MODEL]
    paired = paired_difference_table(predictions, outcomes, reference=DEFAULT_MODEL,
                                     comparators=comparators, n_resamples=n_resamples, seed=seed)
    if ORACLE_MODEL in comparators:
        # The power reference: how far the true risk itself is ahead of each comparator on the
        # same patients. Where even this interval includes 0, the cohort is too small for any
        # model to be shown better than that comparator.
        progress("paired differences: the oracle against every other comparator")
        others = [m for m in comparators if m != ORACLE_MODEL]
        paired = pd.concat([paired, paired_difference_table(
            predictions, outcomes, reference=ORACLE_MODEL, comparators=others,
            n_resamples=n_resamples, seed=seed)], ignore_index=True)
    _write(paired, out / "paired_differences.parquet")
    progress("performance per modality-availability pattern")
    main = predictions[predictions["model"] == DEFAULT_MODEL]
    avail = availability_pattern_table(main, outcomes,
                                       availability[availability["patient_id"]
                                                    .isin(main["patient_id"])],
                                       n_resamples=n_resamples, seed=seed)
    _write(avail, out / "availability_patterns.parquet")

    cutoffs = {}
    for split_dir in sorted((run / "bundles").glob("*/cutoffs.json")):
        cutoffs[split_dir.parent.name] = json.loads(split_dir.read_text(encoding="utf-8"))
    atomic_write_text(out / "risk_groups.json", json.dumps(cutoffs, indent=1))

    notes = list(meta.get("notes", []))
    if attribution:
        notes += _attribution(run, out, config=meta["config"], seed=seed, progress=progress)

    dev = meta.get("development_centre")
    headline: dict = {"default_model": DEFAULT_MODEL, "development_centre": dev,
                      "n_resamples": n_resamples, "seed": seed, "notes": notes}
    oracle_json = None if truth is None else truth / "oracle.json"
    if oracle_json is not None and oracle_json.is_file():
        o = json.loads(oracle_json.read_text(encoding="utf-8"))
        headline["oracle"] = {"c_index_os": o.get("c_index_os"),
                              "c_index_pfs": o.get("c_index_pfs"), "auc_orr": o.get("auc_orr")}
    rows = perf[(perf["model"] == DEFAULT_MODEL)]
    headline["default_model_performance"] = rows.to_dict("records")
    atomic_write_text(out / "evaluation.json", json.dumps(headline, indent=1, default=str))
    return EvaluationResult(out=out, headline=headline, seconds=time.perf_counter() - started)
