"""One split of the centre-aware validation: tune, fit, predict — the model and every baseline.

For a split (training patients with their validation share, and one or more test cohorts)
:func:`run_split`

1. tunes the multimodal model's hyper-parameters on the validation share of the training
   patients only (grid or Optuna) and keeps the best fit;
2. fits the baselines on the same training patients: published clinical scores (no fitting),
   Cox PH on clinical variables, penalised Cox and a random survival forest on clinical +
   radiomics, logistic regression for ORR, each modality alone;
3. predicts every test patient, also with modalities hidden (every modality subset), and returns
   a long predictions table in the evaluation's vocabulary.

The test patients never reach a fit: their rows are only ever passed to ``predict``. The
risk-group cut-off (an evaluation estimator, frozen on the training patients' risk) is not
fitted here — the training layer does not import ``evaluation``; the pipeline that runs the
splits freezes it (:func:`hccfusion.pipeline.train.freeze_cutoffs`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.training.config import ModelConfig, StudyConfig, TrainingConfig
from hccfusion.training.dataset import StudyData
from hccfusion.training.loop import (
    FittedModel, clinical_preprocessor, fit_model, predict_frame,
)
from hccfusion.training.metrics import harrell_c

__all__ = ["SplitResult", "run_split", "tune_model", "DEFAULT_MODEL"]

DEFAULT_MODEL = "multimodal"


@dataclass
class SplitResult:
    split_id: str
    fitted: FittedModel
    chosen: dict
    tuning: pd.DataFrame
    predictions: pd.DataFrame
    baseline_notes: list[str] = field(default_factory=list)


def _harrell(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    ok = np.isfinite(risk)
    if ok.sum() < 5 or not event[ok].any():
        return np.nan
    return harrell_c(time=time[ok], event=event[ok], risk=risk[ok])


def _val_score(fitted: FittedModel, data: StudyData, val_ids: list[str]) -> float:
    pred = predict_frame(fitted, data, val_ids)
    t = data.targets.loc[val_ids]
    scores = [_harrell(t[f"{ep}_time"].to_numpy(float), t[f"{ep}_event"].to_numpy(bool),
                       pred[f"risk_{ep}"].to_numpy(float)) for ep in ("os", "pfs")]
    return float(np.nanmean(scores)) if np.isfinite(scores).any() else np.nan


def _candidates(config: StudyConfig) -> list[dict]:
    grid = config.tuning.grid
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _apply(config: StudyConfig, params: dict) -> tuple[ModelConfig, TrainingConfig]:
    m = {k: v for k, v in params.items() if k in ModelConfig.model_fields}
    t = {k: v for k, v in params.items() if k in TrainingConfig.model_fields}
    return config.model.model_copy(update=m), config.training.model_copy(update=t)


def tune_model(data: StudyData, *, train_ids: list[str], val_ids: list[str],
               config: StudyConfig) -> tuple[FittedModel, dict, pd.DataFrame]:
    """Choose hyper-parameters by the validation share's mean Harrell C of OS and PFS.

    Returns the best fit, its parameters and the table of every candidate tried.
    """
    rows, best = [], (None, None, -np.inf)
    if config.tuning.method == "optuna":
        try:
            import optuna
        except ImportError as exc:
            raise UsageError("tuning.method optuna needs optuna: pip install "
                             "'hccfusion[tuning]'") from exc
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        grid = config.tuning.grid
        fits: dict[int, FittedModel] = {}

        def objective(trial: Any) -> float:
            params = {k: trial.suggest_categorical(k, v) for k, v in sorted(grid.items())}
            mcfg, tcfg = _apply(config, params)
            fitted = fit_model(data, train_ids=train_ids, val_ids=val_ids, model=mcfg,
                               training=tcfg)
            fits[trial.number] = fitted
            score = _val_score(fitted, data, val_ids)
            rows.append({**params, "val_c": score, "seconds": fitted.seconds})
            return score if np.isfinite(score) else 0.0

        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=config.training.seed))
        study.optimize(objective, n_trials=config.tuning.n_trials)
        best = (fits[study.best_trial.number], study.best_trial.params, study.best_value)
    else:
        for params in _candidates(config):
            mcfg, tcfg = _apply(config, params)
            fitted = fit_model(data, train_ids=train_ids, val_ids=val_ids, model=mcfg,
                               training=tcfg)
            score = _val_score(fitted, data, val_ids)
            rows.append({**params, "val_c": score, "seconds": fitted.seconds})
            if best[0] is None or (np.isfinite(score) and score > best[2]):
                best = (fitted, params, score)
    return best[0], dict(best[1]), pd.DataFrame(rows)


def _long(pred: pd.DataFrame, *, model: str, split_id: str, labels: pd.Series) -> pd.DataFrame:
    """Per-patient predictions → the long evaluation table."""
    frames = []
    for endpoint, col in (("os", "risk_os"), ("pfs", "risk_pfs"), ("orr", "p_response")):
        if col not in pred.columns:
            continue
        part = pd.DataFrame({"model": model, "split_id": split_id,
                             "cohort_label": labels.reindex(pred["patient_id"]).to_numpy(),
                             "patient_id": pred["patient_id"].to_numpy(),
                             "endpoint": endpoint, "risk": pred[col].to_numpy(float)})
        for extra in [c for c in pred.columns if c.startswith(f"surv_{endpoint}_")]:
            part[extra.replace(f"surv_{endpoint}_", "surv_prob_")] = pred[extra].to_numpy()
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def _design(data: StudyData, train_ids: list[str], ids: list[str], *, radiomics: bool,
            pca: int | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Clinical (+ radiomics) matrices for the classical baselines, fitted on ``train_ids``;
    patients without radiomics get the training mean (0 after scaling) plus an indicator."""
    from hccfusion.training.preprocess import VectorPreprocessor

    clin = clinical_preprocessor(data.clinical.loc[train_ids])
    xs_tr, xs = [clin.transform(data.clinical.loc[train_ids])], \
        [clin.transform(data.clinical.loc[ids])]
    names = list(clin.feature_names_out_)
    if radiomics and data.radiomics is not None:
        rows = data.radiomics[data.radiomics.index.isin(train_ids)]
        vec = VectorPreprocessor(pca=None if pca is None else min(pca, len(rows) - 1)).fit(rows)
        width = len(vec.feature_names_out_)
        for sel, dest in ((train_ids, xs_tr), (ids, xs)):
            have = np.asarray([p in data.radiomics.index for p in sel])
            block = np.zeros((len(sel), width + 1), np.float32)
            if have.any():
                block[have, :width] = vec.transform(data.radiomics.loc[np.asarray(sel)[have]])
            block[:, width] = ~have
            dest.append(block)
        names += [f"radiomics__{n}" for n in vec.feature_names_out_] + ["radiomics__missing"]
    return np.hstack(xs_tr), np.hstack(xs), names


def _baselines(data: StudyData, **kw: Any) -> tuple[list[pd.DataFrame], list[str]]:
    """The baselines of one split; lifelines' convergence chatter is kept out of the output
    (a fit that fails is a note, see below)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _fit_baselines(data, **kw)


def _fit_baselines(data: StudyData, *, train_ids: list[str], val_ids: list[str],
               test_ids: list[str],
               config: StudyConfig, chosen: dict, split_id: str, labels: pd.Series,
               progress: Callable[[str], None]) -> tuple[list[pd.DataFrame], list[str]]:
    from hccfusion.training import baselines as bl

    b, frames, notes = config.baselines, [], []
    fit_ids = list(train_ids) + list(val_ids)
    ttr = data.targets.loc[fit_ids]

    def add(model: str, pred: pd.DataFrame) -> None:
        frames.append(_long(pred, model=model, split_id=split_id, labels=labels))

    if b.clinical_scores and data.scores is not None:
        for score in bl.CLINICAL_SCORES:
            if score not in data.scores.columns:
                continue
            r = bl.score_risk(data.scores.loc[test_ids].reset_index(), score).to_numpy(float)
            add(f"score:{score}", pd.DataFrame({"patient_id": test_ids, "risk_os": r,
                                                "risk_pfs": r}))
    designs: dict[bool, tuple] = {}  # one design per input set, shared by the baselines
    for name, radiomics, wanted in (("cox:clinical", False, b.cox_clinical),
                                    ("penalised_cox:clinical+radiomics", True, b.penalised_cox),
                                    ("rsf:clinical+radiomics", True, b.random_survival_forest)):
        if not wanted:
            continue
        progress(f"{split_id}: baseline {name}")
        if radiomics not in designs:
            designs[radiomics] = _design(data, fit_ids, test_ids, radiomics=radiomics,
                                         pca=config.model.radiomics_pca)
        x_tr, x_te, _ = designs[radiomics]
        pred = pd.DataFrame({"patient_id": test_ids})
        try:
            for ep in ("os", "pfs"):
                kind = name.split(":")[0]
                est = (bl.CoxBaseline(penalizer=0.1) if kind == "cox"
                       else bl.PenalisedCoxBaseline(penalizers=(0.1, 0.3, 1.0, 3.0, 10.0),
                                                    seed=config.validation.seed)
                       if kind == "penalised_cox"
                       else bl.RandomSurvivalForestBaseline(seed=config.validation.seed))
                est.fit(X=x_tr, time=ttr[f"{ep}_time"].to_numpy(float),
                        event=ttr[f"{ep}_event"].to_numpy(bool))
                pred[f"risk_{ep}"] = est.predict(x_te)
            if name.startswith("cox"):
                y = ttr["orr"].to_numpy(float)
                ok = np.isfinite(y)
                logit = bl.LogisticBaseline(seed=config.validation.seed).fit(X=x_tr[ok], y=y[ok])
                pred["p_response"] = logit.predict(x_te)
        except (UsageError, DataError) as exc:  # scikit-survival missing, a fit that fails
            notes.append(f"{name} skipped in {split_id}: {exc}")
            continue
        add(name, pred)
    if b.single_modality:
        for m in data.modalities:
            if m not in config.model.modalities:
                continue
            progress(f"{split_id}: {m} alone")
            mcfg, tcfg = _apply(config, chosen)
            mcfg = mcfg.model_copy(update={"modalities": (m,)})
            have = data.available()[m]
            tr = [p for p in train_ids if have[p]]
            val = [p for p in val_ids if have[p]]
            if len(tr) < 10:
                notes.append(f"{m} alone skipped in {split_id}: {len(tr)} training patients "
                             "have it")
                continue
            fitted = fit_model(data, train_ids=tr, val_ids=val, model=mcfg, training=tcfg)
            te = [p for p in test_ids if have[p]]
            add(f"single:{m}", predict_frame(fitted, data, te))
    return frames, notes


def run_split(data: StudyData, *, split_id: str, train_ids: list[str], val_ids: list[str],
              test_ids: list[str], labels: pd.Series, config: StudyConfig,
              progress: Callable[[str], None] = lambda _: None) -> SplitResult:
    """Tune and fit the model and the baselines on one split; predict its test patients."""
    overlap = set(test_ids) & (set(train_ids) | set(val_ids))
    if overlap:
        raise UsageError(f"split {split_id}: patient {sorted(overlap)[0]} is both a test and a "
                         "training patient")
    progress(f"{split_id}: tuning the multimodal model ({len(_candidates(config)) if config.tuning.method == 'grid' else config.tuning.n_trials} candidates)")
    fitted, chosen, tuning = tune_model(data, train_ids=train_ids, val_ids=val_ids,
                                        config=config)
    horizons = config.evaluation.horizons_days
    frames = [_long(predict_frame(fitted, data, test_ids, horizons_days=horizons),
                    model=DEFAULT_MODEL, split_id=split_id, labels=labels)]
    if config.baselines.modality_subsets and len(fitted.modalities) > 1:
        mods = fitted.modalities
        for k in range(1, len(mods)):
            for subset in itertools.combinations(mods, k):
                drop = tuple(m for m in mods if m not in subset)
                frames.append(_long(predict_frame(fitted, data, test_ids, drop=drop),
                                    model=f"{DEFAULT_MODEL}[{'+'.join(subset)}]",
                                    split_id=split_id, labels=labels))
    base, notes = _baselines(data, train_ids=list(train_ids), val_ids=list(val_ids),
                             test_ids=test_ids, config=config,
                             chosen=chosen, split_id=split_id, labels=labels,
                             progress=progress)
    predictions = pd.concat(frames + base, ignore_index=True)
    return SplitResult(split_id=split_id, fitted=fitted, chosen=chosen, tuning=tuning,
                       predictions=predictions, baseline_notes=notes)
