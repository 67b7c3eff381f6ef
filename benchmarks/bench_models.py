"""Benchmark: multimodal model training and inference from cached features.

Prints, on the machine it runs on (CPU, and CUDA when torch sees a GPU):

1. training time per epoch of the default multimodal model (all modalities the study has),
   with the classical baselines fitted on the same patients beside it (lifelines Cox PH,
   penalised Cox with inner CV, scikit-survival's random survival forest when installed, and
   our elastic-net Cox path of the linear expert on the same matrix);
2. inference time per patient of a saved ModelBundle (reloaded from disk, batch of all
   patients and one patient at a time) — goal < 50 ms per patient;
3. the full nested, centre-aware validation of the default model with its baselines
   (``hccfusion train`` on the demo's study.yaml) — goal < 10 minutes for 300 patients on
   2 cores.

Run ``make demo`` first (it writes the cohort, endpoints and features), then::

    .venv/bin/python benchmarks/bench_models.py --demo demo_output [--workers 2] [--skip-full]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def _timer() -> float:
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("demo_output"),
                        help="folder written by `make demo` / `hccfusion demo`")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-full", action="store_true",
                        help="skip the full validation run (part 3)")
    args = parser.parse_args()
    config_path = args.demo / "study.yaml"
    if not config_path.is_file():
        raise SystemExit(f"{config_path} not found: run `make demo` first")

    import torch

    from hccfusion.pipeline.train import run_training
    from hccfusion.training import baselines as bl
    from hccfusion.training.config import load_study_config
    from hccfusion.training.dataset import load_study_data
    from hccfusion.training.loop import fit_model, make_batch, predict_frame
    from hccfusion.training.persist import load_fitted, save_fitted
    from hccfusion.training.validation import _design

    torch.set_num_threads(1)
    config = load_study_config(config_path)
    d = config.data
    started = _timer()
    data = load_study_data(cohort=d.cohort, endpoints=d.endpoints, features=d.features)
    print(f"data: {len(data.patient_ids)} patients, modalities {data.modalities}, "
          f"loaded in {_timer() - started:.1f} s")
    ids = data.patient_ids
    rng = np.random.default_rng(0)
    perm = list(rng.permutation(ids))
    val, train = perm[: len(perm) // 5], perm[len(perm) // 5:]

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("\n1. training (default model, fixed 30 epochs, no early stop), per epoch of one "
          "net (the fused ensemble members and the modality experts)")
    for device in devices:
        if device != "cpu":
            print(f"   {device}: the training loop runs on CPU tensors today; not measured")
            continue
        training = config.training.model_copy(update={"epochs": 30, "patience": 10_000})
        t0 = _timer()
        fitted = fit_model(data, train_ids=train, val_ids=val, model=config.model,
                           training=training)
        total = _timer() - t0
        n_epochs = len(fitted.history)
        experts = int(fitted.history["expert"].notna().sum()) \
            if "expert" in fitted.history else 0
        print(f"   cpu: {total / n_epochs * 1000:.0f} ms/epoch over {len(train)} patients "
              f"({total:.1f} s for {n_epochs} epochs incl. preprocessing; {experts} of them "
              f"single-modality expert epochs)")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x_tr, _, _ = _design(data, train + val, ids[:1], radiomics=True,
                             pca=config.model.radiomics_pca)
        t = data.targets.loc[train + val]
        for name, est in (("lifelines Cox PH (clinical+radiomics)", bl.CoxBaseline(penalizer=0.1)),
                          ("penalised Cox, 5 penalties x 3 inner folds",
                           bl.PenalisedCoxBaseline(penalizers=(0.1, 0.3, 1.0, 3.0, 10.0))),
                          ("scikit-survival RSF, 200 trees", bl.RandomSurvivalForestBaseline())):
            t0 = _timer()
            try:
                est.fit(X=x_tr, time=t["os_time"].to_numpy(float),
                        event=t["os_event"].to_numpy(bool))
            except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
                print(f"   {name}: not run ({exc})")
                continue
            print(f"   {name}: {(_timer() - t0) * 1000:.0f} ms per fit (one endpoint)")
        from hccfusion.training.elastic_net import fit_coxnet_cv

        t0 = _timer()
        net = fit_coxnet_cv(x_tr, t["os_time"].to_numpy(float), t["os_event"].to_numpy(bool))
        print(f"   our elastic-net Cox (the linear expert's), {len(net.alphas)} penalties x 5 "
              f"folds: {(_timer() - t0) * 1000:.0f} ms per fit (one endpoint)")

    print("\n2. inference from a reloaded bundle")
    with tempfile.TemporaryDirectory() as tmp:
        save_fitted(fitted, Path(tmp) / "bundle", training_config={}, cutoffs={},
                    feature_specs=data.feature_specs, summary={"n_patients": len(train)},
                    seed=0)
        t0 = _timer()
        loaded, _ = load_fitted(Path(tmp) / "bundle")
        print(f"   bundle reload: {(_timer() - t0) * 1000:.0f} ms")
        for device in devices:
            if device != "cpu":
                print(f"   {device}: predict_frame runs on CPU tensors today; not measured")
                continue
            t0 = _timer()
            predict_frame(loaded, data, ids)
            batch_ms = (_timer() - t0) * 1000 / len(ids)
            sample = ids[:50]
            t0 = _timer()
            for pid in sample:
                predict_frame(loaded, data, [pid])
            single_ms = (_timer() - t0) * 1000 / len(sample)
            t0 = _timer()
            with torch.no_grad():
                batch = make_batch(loaded, data, ids)
                loaded.net(batch)
            net_ms = (_timer() - t0) * 1000 / len(ids)
            print(f"   cpu: {batch_ms:.2f} ms/patient in one batch of {len(ids)} "
                  f"(tensors + net: {net_ms:.2f} ms/patient); {single_ms:.1f} ms/patient one "
                  f"at a time (goal < 50 ms)")

    if args.skip_full:
        return
    print(f"\n3. full validation (external both ways + nested CV + baselines), "
          f"{args.workers} worker(s)")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = _timer()
        run = run_training(config, out=Path(tmp) / "run", workers=args.workers)
        wall = _timer() - t0
        meta = json.loads((Path(tmp) / "run" / "run.json").read_text())
    print(f"   {run.n_patients} patients, {len(run.splits)} splits: {wall:.0f} s wall "
          f"({wall / 60:.1f} min; goal < 10 min for 300 patients on 2 cores)")
    print("   per split (chosen model fit only): "
          + ", ".join(f"{s['split_id']} {s['seconds_model']:.1f} s" for s in meta["splits"]))


if __name__ == "__main__":
    main()
