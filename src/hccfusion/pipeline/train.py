"""``hccfusion train``: the centre-aware validation of the multimodal model and its baselines.

Reads ``study.yaml`` (:mod:`hccfusion.training.config`), assembles the modelling data, makes the
splits (external: train on one centre's retrospective patients, test on the other centre's and,
for the development centre's model, on the prospective cohort; nested CV on the development
centre), runs every split (:func:`hccfusion.training.validation.run_split`), freezes each split's
risk-group cut-offs on its training patients (:func:`freeze_cutoffs`: an evaluation estimator,
which the training layer may not import) and writes::

    <out>/splits.parquet            who was train / val / test where
    <out>/predictions.parquet       long: model, split_id, cohort_label, patient_id, endpoint, risk,
                                    risk_group (the multimodal model's OS/PFS rows) …
    <out>/outcomes.parquet          os/pfs time and event, orr per patient
    <out>/availability.parquet      patient_id, pattern (e.g. "clinical+pathology")
    <out>/tuning.parquet            every hyper-parameter candidate of every split, val C
    <out>/bundles/<split_id>/       one ModelBundle per split
    <out>/bundles/final/            the development centre's external-split model
    <out>/run.json                  config, seeds, timings, notes
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from hccfusion.errors import DataError
from hccfusion.training.config import StudyConfig

__all__ = ["TrainingRun", "run_training", "development_centre", "freeze_cutoffs",
           "add_risk_groups"]

#: Endpoints whose risk is split into groups by a frozen cut-off.
CUTOFF_ENDPOINTS = ("os", "pfs")


@dataclass(frozen=True)
class TrainingRun:
    out: Path
    n_patients: int
    splits: tuple[str, ...]
    final_bundle: Path | None
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def development_centre(patients: pd.DataFrame, configured: str | None) -> str:
    """The configured development centre, else the one with most retrospective patients."""
    retro = patients[patients["cohort"] == "retrospective"]
    if configured is not None:
        if configured not in set(patients["center"]):
            raise DataError(f"development centre {configured!r} has no patients; centres: "
                            f"{sorted(set(patients['center']))}")
        return configured
    counts = retro["center"].value_counts()
    return str(sorted(counts.index, key=lambda c: (-counts[c], c))[0])


def _splits(data, config: StudyConfig, dev: str) -> pd.DataFrame:
    from hccfusion.training.folds import make_splits

    v = config.validation
    patients = data.patients.join(data.targets[["os_event"]]).reset_index()
    parts = []
    for scheme in v.schemes:
        if scheme == "external":
            if patients["center"].nunique() < 2:
                continue
            s = make_splits(patients, scheme="external", val_fraction=v.val_fraction,
                            seed=v.seed)
            # the prospective cohort validates the development centre's model only, so each
            # patient has one prediction per model and cohort
            reverse = (s["split_id"] != f"external-{dev}") \
                & (s["cohort_label"] == "temporal prospective")
            parts.append(s[~reverse])
        else:
            parts.append(make_splits(patients, scheme="nested_cv", development=dev,
                                     n_outer=v.n_outer, val_fraction=v.val_fraction,
                                     seed=v.seed))
    if not parts:
        raise DataError("no split could be made: external validation needs two centres; add "
                        "'nested_cv' to validation.schemes")
    return pd.concat(parts, ignore_index=True)


def freeze_cutoffs(fitted: object, data: object, train_ids: list[str]) -> dict:
    """The median risk cut-off of each survival endpoint, fitted on ``train_ids`` only.

    Parameters
    ----------
    fitted : hccfusion.training.loop.FittedModel
        The split's model.
    data : hccfusion.training.dataset.StudyData
        The modelling data (targets of ``train_ids`` are read; no other patient's).
    train_ids : list of str
        The split's training patients (training + validation share).

    Returns
    -------
    dict
        ``{"os": MedianCutoff.to_dict(), "pfs": ...}`` (STYLE habit 3: frozen into the bundle).
    """
    from hccfusion.evaluation.cutoffs import MedianCutoff
    from hccfusion.training.loop import predict_frame

    pred = predict_frame(fitted, data, train_ids)
    t = data.targets.loc[train_ids]
    out = {}
    for ep in CUTOFF_ENDPOINTS:
        r = pred[f"risk_{ep}"].to_numpy(float)
        ok = np.isfinite(r)
        out[ep] = MedianCutoff().fit(time=t[f"{ep}_time"].to_numpy(float)[ok],
                                     event=t[f"{ep}_event"].to_numpy(bool)[ok],
                                     risk=r[ok]).to_dict()
    return out


def add_risk_groups(predictions: pd.DataFrame, cutoffs: dict, *,
                    model: str = "multimodal") -> pd.DataFrame:
    """``predictions`` with a ``risk_group`` column (after ``risk``) from the frozen ``cutoffs``.

    Only ``model``'s rows of an endpoint in ``cutoffs`` get a group; a non-finite risk gets
    None and every other row NaN.
    """
    from hccfusion.evaluation.cutoffs import cutoff_from_dict

    group = np.full(len(predictions), np.nan, dtype=object)
    risk = predictions["risk"].to_numpy(float)
    for endpoint, payload in cutoffs.items():
        rows = ((predictions["model"] == model) & (predictions["endpoint"] == endpoint)).to_numpy()
        group[rows] = None
        ok = rows & np.isfinite(risk)
        if ok.any():
            group[ok] = cutoff_from_dict(payload).transform(risk[ok])
    out = predictions.drop(columns="risk_group", errors="ignore")
    out.insert(out.columns.get_loc("risk") + 1, "risk_group", group)
    return out


def _pattern(row: pd.Series) -> str:
    return "+".join(m for m, have in row.items() if have)


def _worker_init() -> None:
    # many tiny fits: one thread per process is faster than threads waiting on each other
    import torch

    torch.set_num_threads(1)


def _run_one(args: tuple, progress: Callable[[str], None] = lambda _: None) -> object:
    """One split with its frozen cut-offs, as ``(SplitResult, cutoffs)``; a split too small to
    fit (a small centre, a tiny demo) is a note, not a crash: the result is then the
    DataError's message."""
    from dataclasses import replace

    from hccfusion.errors import DataError
    from hccfusion.training.validation import DEFAULT_MODEL, run_split

    data, split_id, train, val, test, labels, config = args
    try:
        result = run_split(data, split_id=split_id, train_ids=train, val_ids=val,
                           test_ids=test, labels=labels, config=config, progress=progress)
        cutoffs = freeze_cutoffs(result.fitted, data, list(train) + list(val))
    except DataError as exc:
        return f"split {split_id} skipped: {exc}"
    predictions = add_risk_groups(result.predictions, cutoffs, model=DEFAULT_MODEL)
    return replace(result, predictions=predictions), cutoffs


def _split_jobs(data, splits: pd.DataFrame, config: StudyConfig) -> list[tuple]:
    jobs = []
    for split_id, rows in splits.groupby("split_id", sort=False):
        test = rows[rows["role"] == "test"]
        jobs.append((data, str(split_id),
                     rows.loc[rows["role"] == "train", "patient_id"].tolist(),
                     rows.loc[rows["role"] == "val", "patient_id"].tolist(),
                     test["patient_id"].tolist(), test.set_index("patient_id")["cohort_label"],
                     config))
    return jobs


def _run_splits(jobs: list[tuple], workers: int, progress: Callable[[str], None]) -> list:
    """Run the splits, in ``workers`` processes when > 1 (each split is independent)."""
    if workers <= 1:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            results = []
            for job in jobs:
                progress(f"{job[1]}: {len(job[2])} training + {len(job[3])} validation "
                         f"patients, {len(job[4])} test patients")
                results.append(_run_one(job, progress))
            return results
        finally:
            torch.set_num_threads(threads)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked child of a process whose OpenMP pool already ran can hang
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_worker_init) as pool:
        futures = [pool.submit(_run_one, job) for job in jobs]
        results = []
        for job, future in zip(jobs, futures):
            results.append(future.result())
            progress(f"{job[1]}: done")
        return results


def run_training(config: StudyConfig, *, out: Path | str, workers: int = 1,
                 progress: Callable[[str], None] = lambda _: None) -> TrainingRun:
    """Run every split of the validation and write predictions and bundles under ``out``.

    ``workers`` > 1 runs the splits in that many processes (one torch thread each); the
    results do not depend on it.
    """
    from hccfusion.io.atomic import atomic_write_parquet, atomic_write_text
    from hccfusion.training.dataset import load_study_data
    from hccfusion.training.persist import save_fitted

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    d = config.data
    progress("assembling the modelling data (cohort, endpoints, features)")
    data = load_study_data(cohort=d.cohort, endpoints=d.endpoints, features=d.features,
                           radiomics=d.radiomics, pathology=d.pathology, omics=d.omics)
    modalities = [m for m in data.modalities if m in config.model.modalities]
    dev = development_centre(data.patients.reset_index(), config.validation.development)
    splits = _splits(data, config, dev)
    atomic_write_parquet(out / "splits.parquet", splits)
    atomic_write_parquet(out / "outcomes.parquet", data.outcomes())
    avail = data.available()[modalities]
    atomic_write_parquet(out / "availability.parquet", pd.DataFrame(
        {"patient_id": avail.index, "pattern": avail.apply(_pattern, axis=1).to_numpy()}))

    predictions, tuning, notes, split_rows = [], [], [], []
    final = None
    training_config = json.loads(config.model_dump_json())
    jobs = _split_jobs(data, splits, config)
    progress(f"{len(jobs)} splits ({', '.join(j[1] for j in jobs)}) on {workers} worker(s)")
    for job, outcome in zip(jobs, _run_splits(jobs, workers, progress)):
        split_id, train, val = job[1], job[2], job[3]
        if isinstance(outcome, str):
            notes.append(outcome)
            progress(outcome)
            continue
        result, cutoffs = outcome
        rows = splits[splits["split_id"] == split_id]
        predictions.append(result.predictions)
        tuning.append(result.tuning.assign(split_id=split_id))
        notes.extend(result.baseline_notes)
        fit_ids = train + val
        targets = data.targets.loc[fit_ids]
        summary = {"n_patients": len(fit_ids), "split_id": str(split_id),
                   "centres": sorted(set(data.patients.loc[fit_ids, "center"])),
                   "cohort_label": str(rows.loc[rows["role"] != "test", "cohort_label"].iloc[0]),
                   "n_events": {"os": int(targets["os_event"].sum()),
                                "pfs": int(targets["pfs_event"].sum())},
                   "chosen": result.chosen, "best_epoch": result.fitted.extra.get("best_epoch")}
        path = save_fitted(result.fitted, out / "bundles" / str(split_id),
                           training_config=training_config, cutoffs=cutoffs,
                           feature_specs=data.feature_specs, summary=summary,
                           seed=config.training.seed)
        if split_id == f"external-{dev}":
            final = save_fitted(result.fitted, out / "bundles" / "final",
                                training_config=training_config, cutoffs=cutoffs,
                                feature_specs=data.feature_specs,
                                summary={**summary, "final": True}, seed=config.training.seed)
        split_rows.append({"split_id": str(split_id), "bundle": str(path.relative_to(out)),
                           "seconds_model": round(result.fitted.seconds, 2)})
    if not predictions:
        raise DataError("every split was skipped: " + "; ".join(notes))
    pred = pd.concat(predictions, ignore_index=True)
    atomic_write_parquet(out / "predictions.parquet", pred)
    atomic_write_parquet(out / "tuning.parquet", pd.concat(tuning, ignore_index=True))
    seconds = time.perf_counter() - started
    atomic_write_text(out / "run.json", json.dumps({
        "config": training_config, "development_centre": dev, "modalities": modalities,
        "workers": workers,
        "splits": split_rows, "seconds": round(seconds, 1), "notes": notes,
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
        indent=1, default=str))
    return TrainingRun(out=out, n_patients=len(data.patients),
                       splits=tuple(str(s) for s in splits["split_id"].unique()),
                       final_bundle=final, seconds=seconds, notes=tuple(notes))
