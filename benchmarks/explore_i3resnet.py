"""What frozen chest-CT I3ResNet-152 features add on the simulated study (a rough figure).

For the baseline CT exam of up to ``--n-patients`` patients of a simulated study, crop a fixed
physical box (``--box-mm``, resampled to ``--spacing-mm``) around the centroid of the largest
lesion (``lesion_labels.nii.gz`` + ``lesion_labels.json``) in both phases, embed the crops with

- ``i3resnet152_ct`` (packaged chest-CT weights, portal-venous phase, HU -1000 … 1000 → 0 … 1),
- an untrained ``resnet18_3d`` (seed 0, both phases, liver window 60/400 HU → 0 … 1),

and predict the simulator's true OS linear predictor ``lp_os`` by 5-fold cross-validated
standardise → PCA → ridge (α chosen inside each training fold). Reported per feature set: the
Pearson correlation of the out-of-fold predictions with ``lp_os`` and Harrell's C of them against
observed OS. "log volume" (the largest lesion's mask volume) is the obvious size baseline; "+"
rows add it to the deep features.

Run (≈ 1–3 s per patient on 2 idle CPU cores; the default 128 mm box at 4 mm is 32³ voxels, the
simulated exams' own 4 × 4 × 8 mm resolution)::

    .venv/bin/python benchmarks/explore_i3resnet.py --study /work/scratch/demo300/study \
        --n-patients 150 --out /work/scratch/h3_i3res

Embeddings are cached in ``<out>/embeddings.npz``; ``<out>/results.json`` holds the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _largest_lesion_crop(exam_dir: Path, *, box_mm: float, spacing_mm: float) -> tuple[np.ndarray, float]:
    """HU crop [2 phases, Z, Y, X] around the largest lesion, and its mask volume (mL)."""
    import SimpleITK as sitk

    sidecar = json.loads((exam_dir / "lesion_labels.json").read_text())
    largest = max(sidecar["lesions"], key=lambda lesion: lesion["mask_volume_ml"])
    labels = sitk.ReadImage(str(exam_dir / "lesion_labels.nii.gz"))
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(labels)
    centre = np.array(stats.GetCentroid(int(largest["label"])))
    n_vox = int(round(box_mm / spacing_mm))
    reference = sitk.Image([n_vox] * 3, sitk.sitkFloat32)
    reference.SetSpacing([spacing_mm] * 3)
    reference.SetOrigin(tuple(centre - (n_vox - 1) * spacing_mm / 2))
    phases = []
    for phase in ("arterial", "portal_venous"):
        image = sitk.Cast(sitk.ReadImage(str(exam_dir / f"{phase}.nii.gz")), sitk.sitkFloat32)
        crop = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, -1000.0)
        phases.append(sitk.GetArrayFromImage(crop))
    return np.stack(phases).astype(np.float32), float(largest["mask_volume_ml"])


def _window(hu: np.ndarray, level_width: tuple[float, float]) -> np.ndarray:
    level, width = level_width
    return np.clip((hu - level + width / 2) / width, 0.0, 1.0).astype(np.float32)


def _embed(study: Path, patients: list[str], args: argparse.Namespace) -> dict[str, np.ndarray]:
    from hccfusion.imaging.encoders import get_volume_encoder

    encoders = {
        "i3resnet152_ct": get_volume_encoder("i3resnet152_ct", in_channels=2).freeze(),
        "resnet18_3d_untrained": get_volume_encoder("resnet18_3d", in_channels=2, seed=0).freeze(),
    }
    out: dict[str, list] = {name: [] for name in encoders} | {"log_volume": []}
    seconds = {name: 0.0 for name in encoders}
    for i, patient in enumerate(patients):
        exam_dir = study / "ct" / patient / f"{patient}-E01"
        hu, volume_ml = _largest_lesion_crop(exam_dir, box_mm=args.box_mm, spacing_mm=args.spacing_mm)
        out["log_volume"].append([np.log1p(volume_ml)])
        for name, encoder in encoders.items():
            crop = _window(hu, encoder.spec.window_hu)[None]
            t0 = time.perf_counter()
            out[name].append(encoder.encode(crop, batch_size=1)[0])
            seconds[name] += time.perf_counter() - t0
        if (i + 1) % 25 == 0:
            print(f"{i + 1}/{len(patients)} patients", {k: round(v / (i + 1), 3) for k, v in seconds.items()}, flush=True)
    arrays = {name: np.asarray(rows, dtype=np.float32) for name, rows in out.items()}
    arrays["seconds_per_crop"] = np.array([seconds[name] / len(patients) for name in encoders])
    return arrays


def _cv_predict(deep: np.ndarray | None, extra: np.ndarray | None, y: np.ndarray, *, n_components: int,
                seed: int) -> np.ndarray:
    """Out-of-fold predictions of 5-fold CV: [PCA(standardised deep features), extra] → ridge.

    The PCA runs on the deep block only, so a one-column covariate such as log volume is not
    drowned among 2,048 embedding columns.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    blocks = [b for b in (deep, extra) if b is not None]
    x = np.hstack(blocks)
    n_deep = 0 if deep is None else deep.shape[1]
    pred = np.empty_like(y)
    for train, test in KFold(5, shuffle=True, random_state=seed).split(x):
        parts = []
        if n_deep:
            k = min(n_components, n_deep, len(train) - 1)
            parts.append(("deep", make_pipeline(StandardScaler(), PCA(k, random_state=seed)), list(range(n_deep))))
        if x.shape[1] > n_deep:
            parts.append(("extra", StandardScaler(), list(range(n_deep, x.shape[1]))))
        model = make_pipeline(ColumnTransformer(parts), StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 25)))
        model.fit(x[train], y[train])
        pred[test] = model.predict(x[test])
    return pred


def main() -> None:
    import pandas as pd

    from hccfusion.evaluation.concordance import harrell_c

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=Path("/work/scratch/demo300/study"))
    parser.add_argument("--n-patients", type=int, default=150)
    parser.add_argument("--box-mm", type=float, default=128.0)
    parser.add_argument("--spacing-mm", type=float, default=4.0)
    parser.add_argument("--n-components", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("i3res_explore"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    latent = pd.read_parquet(args.study / "truth" / "latent.parquet").set_index("patient_id")
    outcomes = pd.read_parquet(args.study / "truth" / "outcomes.parquet").set_index("patient_id")
    patients = sorted(p.name for p in (args.study / "ct").iterdir() if (p / f"{p.name}-E01").is_dir())
    patients = [p for p in patients if p in latent.index and p in outcomes.index][: args.n_patients]

    cache = args.out / "embeddings.npz"
    if cache.exists() and list(np.load(cache)["patients"]) == patients:
        arrays = dict(np.load(cache))
    else:
        arrays = _embed(args.study, patients, args)
        np.savez(cache, patients=np.array(patients), **arrays)

    y = latent.loc[patients, "lp_os"].to_numpy(float)
    time_days = outcomes.loc[patients, "os_days"].to_numpy(float)
    event = outcomes.loc[patients, "os_event"].to_numpy(bool)
    volume = arrays["log_volume"]
    resnet, i3res = arrays["resnet18_3d_untrained"], arrays["i3resnet152_ct"]
    feature_sets = {  # (deep block, extra columns)
        "log volume": (None, volume),
        "resnet18_3d untrained": (resnet, None),
        "i3resnet152_ct": (i3res, None),
        "resnet18_3d untrained + log volume": (resnet, volume),
        "i3resnet152_ct + log volume": (i3res, volume),
    }
    rows = []
    for name, (deep, extra) in feature_sets.items():
        x = np.hstack([b for b in (deep, extra) if b is not None])
        preds = [_cv_predict(deep, extra, y, n_components=args.n_components, seed=seed) for seed in range(5)]
        r = [float(np.corrcoef(p, y)[0, 1]) for p in preds]
        c = [harrell_c(time=time_days, event=event, risk=p).c for p in preds]
        rows.append({"features": name, "dim": int(x.shape[1]), "r_lp_os": float(np.mean(r)), "r_sd": float(np.std(r)),
                     "c_index_os": float(np.mean(c)), "c_sd": float(np.std(c))})
    oracle_c = harrell_c(time=time_days, event=event, risk=y)
    result = {
        "n_patients": len(patients),
        "box_mm": args.box_mm,
        "spacing_mm": args.spacing_mm,
        "n_components": args.n_components,
        "seconds_per_crop": dict(zip(["i3resnet152_ct", "resnet18_3d_untrained"], map(float, arrays["seconds_per_crop"]))),
        "oracle_c_index_of_lp_os": oracle_c.c,
        "rows": rows,
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=1))
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print({k: v for k, v in result.items() if k != "rows"})


if __name__ == "__main__":
    main()
