"""Do the imaging features carry the simulator's planted signal? (issue 6 acceptance)

Reads the output of ``hccfusion features imaging`` on a simulated study and reports:

1. per-lesion volume from the masks vs the simulator's truth (voxelised and true volumes);
2. the univariable C-index for OS of the best few baseline radiomics features, chosen on one
   half of the patients (training) and measured on the other half (held out), with patient
   bootstrap 95 % CIs, beside the oracle (the true linear predictor ``lp_os``) on the same
   held-out patients;
3. optionally, the same radiomics read from DICOM instead of NIfTI for a few patients, and the
   largest relative difference per feature class.

Usage::

    hccfusion demo --out demo300       # or: hccfusion simulate … + crf ingest + cohort freeze
    hccfusion features imaging --cohort demo300/cohort --data-root demo300/study \\
        --out features300 --radiomics ct_fast
    python benchmarks/explore_radiomics_signal.py --study demo300/study \\
        --endpoints demo300/endpoints --features features300 --radiomics ct_fast-nifti
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion.evaluation.concordance import bootstrap_harrell_c, harrell_c


def volumes(study: Path, lesions: pd.DataFrame) -> pd.DataFrame:
    rows = []
    base = lesions[(lesions["timepoint"] == "baseline") & (lesions["phase"] == "arterial")]
    for exam_id, group in base.groupby("exam_id"):
        pid = group["patient_id"].iloc[0]
        side = json.loads((study / "ct" / pid / exam_id / "lesion_labels.json").read_text())
        truth = {d["lesion_id"]: d for d in side["lesions"]}
        for r in group.itertuples():
            t = truth[r.lesion_id]
            rows.append({"lesion_id": r.lesion_id, "measured_ml": r.volume_ml,
                         "mask_ml": t["mask_volume_ml"], "true_ml": t["volume_ml"]})
    return pd.DataFrame(rows)


def best_features(patient: pd.DataFrame, os_: pd.DataFrame, latent: pd.DataFrame, *,
                  k: int, seed: int) -> pd.DataFrame:
    wide = patient.pivot_table(index="patient_id", columns="phase",
                               values=[c for c in patient.columns
                                       if (c.startswith(("largest_", "vwmean_"))
                                           or c in ("n_lesions", "total_volume_ml"))
                                       and pd.api.types.is_numeric_dtype(patient[c])])
    wide.columns = [f"{ph}:{name}" for name, ph in wide.columns]
    data = os_.set_index("patient_id").join(wide, how="inner").join(
        latent.set_index("patient_id")[["lp_os", "center"]], how="inner").dropna(axis=1)
    rng = np.random.default_rng(seed)
    ids = data.index.to_numpy()
    train = set(rng.choice(ids, size=len(ids) // 2, replace=False))
    is_train = data.index.isin(list(train))
    tr, te = data[is_train], data[~is_train]
    feats = [c for c in data.columns if ":" in c and data[c].std() > 0]
    scored = []
    for c in feats:
        c_tr = harrell_c(time=tr["time"], event=tr["event"], risk=tr[c]).c
        sign = 1.0 if c_tr >= 0.5 else -1.0
        scored.append((max(c_tr, 1 - c_tr), c, sign))
    scored.sort(reverse=True)
    top = scored[:k]
    risks = np.column_stack([te["lp_os"].to_numpy()] + [s * te[c].to_numpy() for _, c, s in top])
    boot = bootstrap_harrell_c(time=te["time"].to_numpy(), event=te["event"].to_numpy(),
                               risk=risks, n_resamples=1000, seed=seed,
                               model_names=["oracle lp_os"] + [c for _, c, _ in top])
    out = pd.DataFrame({"feature": boot.models, "train_c": [np.nan] + [s for s, _, _ in top],
                        "direction": [""] + ["+" if s > 0 else "−" for _, _, s in top],
                        "heldout_c": boot.estimate, "ci_low": boot.ci_low, "ci_high": boot.ci_high})
    out.attrs["n_train"], out.attrs["n_test"] = int(is_train.sum()), int((~is_train).sum())
    out.attrs["events_test"] = int(te["event"].sum())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", type=Path, required=True)
    ap.add_argument("--endpoints", type=Path, required=True)
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--radiomics", default="ct_fast-nifti", help="radiomics spec folder name")
    ap.add_argument("--dicom-features", type=Path, default=None,
                    help="a second feature store made with --prefer dicom (same radiomics set)")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rad = args.features / "imaging" / "radiomics" / args.radiomics
    lesions = pd.read_parquet(rad / "lesion_radiomics.parquet")
    patient = pd.read_parquet(rad / "patient_radiomics.parquet")
    latent = pd.read_parquet(args.study / "truth" / "latent.parquet")
    surv = pd.read_parquet(args.endpoints / "survival.parquet")
    os_ = surv[surv["endpoint"] == "OS"][["patient_id", "time", "event"]].astype(
        {"time": float, "event": bool})

    vol = volumes(args.study, lesions)
    err_mask = (vol["measured_ml"] - vol["mask_ml"]).abs() / vol["mask_ml"]
    err_true = (vol["measured_ml"] - vol["true_ml"]).abs() / vol["true_ml"]
    print(f"lesions measured: {len(lesions)} rows ({lesions['exam_id'].nunique()} exams, "
          f"{lesions['patient_id'].nunique()} patients)")
    print(f"baseline lesion volume vs simulator mask volume: max relative error {err_mask.max():.2e}")
    big = vol["true_ml"] >= 5
    print(f"… vs true (continuous) volume, lesions ≥ 5 mL (n={int(big.sum())}): median "
          f"{err_true[big].median():.1%}, 90th percentile {err_true[big].quantile(0.9):.1%}")
    print(f"… lesions < 5 mL (n={int((~big).sum())}): median {err_true[~big].median():.1%}")

    table = best_features(patient, os_, latent, k=args.top, seed=args.seed)
    print(f"\nunivariable C-index for OS, best {args.top} baseline features chosen on "
          f"{table.attrs['n_train']} training patients, measured on {table.attrs['n_test']} held-out "
          f"patients ({table.attrs['events_test']} deaths); 95 % CI from 1,000 patient bootstraps")
    with pd.option_context("display.width", 160, "display.max_colwidth", 70):
        print(table.round(3).to_string(index=False))

    if args.dicom_features is not None:
        other = pd.read_parquet(args.dicom_features / "imaging" / "radiomics" /
                                args.radiomics.replace("-nifti", "-dicom") / "lesion_radiomics.parquet")
        key = ["exam_id", "phase", "lesion_id"]
        a = lesions.merge(other, on=key, suffixes=("", "_dicom"))
        print(f"\nDICOM vs NIfTI, {len(a)} lesion-phases of {a['patient_id'].nunique()} patients:")
        for cls in ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"):
            cols = [c for c in lesions.columns if f"_{cls}_" in c and c + "_dicom" in a.columns]
            x, y = a[cols].to_numpy(float), a[[c + "_dicom" for c in cols]].to_numpy(float)
            rel = np.abs(x - y) / np.maximum(np.abs(x), 1e-9)
            print(f"  {cls:<10} {len(cols):>4} features: max relative difference {np.nanmax(rel):.2e}")


if __name__ == "__main__":
    main()
