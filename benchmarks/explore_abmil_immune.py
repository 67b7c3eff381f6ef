"""Do the built-in encoder's tile features carry the simulator's planted immune signal?

Trains a gated-attention MIL (ABMIL) on the ``hcc_stats`` bags of the simulated 300-patient
study to predict ``immune > 0`` (the latent immune state in ``truth/latent.parquet``), on a
stratified patient-level split; reports the held-out ROC AUC with its DeLong interval and a
patient-level bootstrap 95 % CI, then checks that ABMIL's attention concentrates on tiles that
overlap the planted lymphoid aggregates listed in each slide's sidecar JSON, and renders the
attention heatmap (PNG) and QuPath GeoJSON of the highest-immune held-out slide.

Usage (defaults point at the scratch study)::

    .venv/bin/python benchmarks/explore_abmil_immune.py \\
        --store /work/scratch/features/pathology/hcc_stats/<spec> \\
        --study /work/scratch/demo300/study --out /work/scratch/h7_abmil

Writes ``summary.json``, ``test_predictions.parquet``, ``tile_attention.parquet``, the heatmap
PNG and GeoJSON under ``--out``.
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _default_store() -> str | None:
    found = sorted(glob.glob("/work/scratch/features*/pathology/hcc_stats/*/manifest.parquet"))
    return str(Path(found[-1]).parent) if found else None


def _region_tiles(coords: np.ndarray, tile_px: int, regions: list[dict]) -> np.ndarray:
    """Boolean [n]: the tile square intersects at least one planted circle (level-0 px)."""
    hit = np.zeros(len(coords), dtype=bool)
    for region in regions:
        cx, cy, r = region["x"], region["y"], region["radius_px"]
        nearest_x = np.clip(cx, coords[:, 0], coords[:, 0] + tile_px)
        nearest_y = np.clip(cy, coords[:, 1], coords[:, 1] + tile_px)
        hit |= (nearest_x - cx) ** 2 + (nearest_y - cy) ** 2 <= r ** 2
    return hit


def _mann_whitney_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    a, b = positive[:, None], negative[None, :]
    return float(((a > b) + 0.5 * (a == b)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=_default_store(), help="feature store folder")
    parser.add_argument("--study", default="/work/scratch/demo300/study")
    parser.add_argument("--out", default="/work/scratch/h7_abmil")
    parser.add_argument("--pooler", default="abmil")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--baseline", default="mean",
                        help="a second pooler fitted on the same split for comparison ('' = none)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest for these tiny bags)")
    args = parser.parse_args()
    if args.store is None:
        raise SystemExit("no feature store found; pass --store")

    import torch

    from hccfusion.evaluation.binary import roc_auc
    from hccfusion.evaluation.bootstrap import bootstrap
    from hccfusion.io.feature_store import read_manifest
    from hccfusion.training.bags import patient_bags
    from hccfusion.training.mil import (
        attention_scores,
        fit_mil_classifier,
        predict_mil,
        stratified_patient_split,
    )
    from hccfusion.pathology.heatmaps import attention_geojson, attention_heatmap
    from hccfusion.pathology.slides import open_slide

    torch.set_num_threads(args.threads)
    store, study, out = Path(args.store), Path(args.study), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    manifest = read_manifest(store)
    bags = patient_bags(manifest, store_dir=store)
    latent = pd.read_parquet(study / "truth" / "latent.parquet").set_index("patient_id")
    patients = sorted(set(bags) & set(latent.index))
    labels = {p: int(latent.loc[p, "immune"] > 0) for p in patients}
    strata = np.array([labels[p] for p in patients])
    train_ids, test_ids = stratified_patient_split(patients=patients, strata=strata,
                                                   val_fraction=args.test_fraction,
                                                   seed=args.seed)
    fitted = fit_mil_classifier(bags={p: bags[p] for p in train_ids}, labels=labels,
                                pooler=args.pooler, epochs=args.epochs, lr=args.lr,
                                seed=args.seed, val_fraction=0.2)
    fit_s = time.perf_counter() - started

    pred = predict_mil(fitted, {p: bags[p] for p in test_ids})
    pred["label"] = pred["patient_id"].map(labels)
    pred["immune"] = pred["patient_id"].map(latent["immune"])
    pred.to_parquet(out / "test_predictions.parquet", index=False)
    delong = roc_auc(y_true=pred["label"].to_numpy(), score=pred["score"].to_numpy())

    def auc_of(frame: pd.DataFrame) -> float:
        if frame["label"].nunique() < 2:
            return float("nan")
        return roc_auc(y_true=frame["label"].to_numpy(), score=frame["score"].to_numpy()).auc

    boot = bootstrap(auc_of, data=pred, n_resamples=args.n_boot, seed=args.seed, strata="label")
    baseline = None
    if args.baseline:
        other = fit_mil_classifier(bags={p: bags[p] for p in train_ids}, labels=labels,
                                   pooler=args.baseline, epochs=args.epochs, lr=args.lr,
                                   seed=args.seed, val_fraction=0.2)
        other_pred = predict_mil(other, {p: bags[p] for p in test_ids})
        baseline = {"pooler": args.baseline, "test_auc": roc_auc(
            y_true=other_pred["patient_id"].map(labels).to_numpy(),
            score=other_pred["score"].to_numpy()).auc}
    spearman = float(pred[["score", "immune"]].corr(method="spearman").iloc[0, 1])

    # attention vs the planted lymphoid aggregates, on every held-out high-immune slide
    ok = manifest[manifest["status"] == "ok"].set_index("bag_id")
    if "size_level0_px" in ok:
        tile_size = ok["size_level0_px"].astype(int).to_dict()
    else:   # tile side at target_mpp, in level-0 px of each slide
        tile_size = (ok["tile_px"] * ok["target_mpp"] / ok["slide_mpp"]).round().astype(int)
        tile_size = tile_size.to_dict()
    rows = []
    for patient_id in test_ids:
        if not labels[patient_id]:
            continue
        bag = bags[patient_id]
        attention = attention_scores(fitted, bag)
        for k, slide_id in enumerate(bag.slide_ids):
            sidecar = json.loads((study / "wsi" / f"{slide_id}.json").read_text())
            mask = bag.slide_index == k
            coords = bag.coords[mask]
            in_region = _region_tiles(coords, tile_size[slide_id], sidecar["planted_regions"])
            rows.append(pd.DataFrame({
                "patient_id": patient_id, "slide_id": slide_id, "x": coords[:, 0],
                "y": coords[:, 1], "attention": attention[mask], "in_region": in_region,
                "immune": latent.loc[patient_id, "immune"]}))
    tiles = pd.concat(rows, ignore_index=True)
    tiles.to_parquet(out / "tile_attention.parquet", index=False)
    per_slide = []
    for slide_id, group in tiles.groupby("slide_id"):
        inside = group["in_region"].to_numpy()
        if inside.all() or not inside.any():
            continue
        att = group["attention"].to_numpy()
        per_slide.append({"slide_id": slide_id, "immune": group["immune"].iloc[0],
                          "n_tiles": len(group), "region_tile_share": float(inside.mean()),
                          "region_attention_share": float(att[inside].sum() / att.sum()),
                          "attention_auc": _mann_whitney_auc(att[inside], att[~inside])})
    per_slide = pd.DataFrame(per_slide)
    per_slide["enrichment"] = per_slide["region_attention_share"] / per_slide["region_tile_share"]

    # the heatmap of the highest-immune held-out slide that has aggregate tiles
    best = per_slide.sort_values(["immune", "n_tiles"], ascending=False).iloc[0]
    slide_tiles = tiles[tiles["slide_id"] == best["slide_id"]]
    slide = open_slide(study / "wsi" / f"{best['slide_id']}.tiff")
    coords = slide_tiles[["x", "y"]].to_numpy()
    png = attention_heatmap(slide=slide, coords=coords,
                            tile_size_level0_px=tile_size[best["slide_id"]],
                            scores=slide_tiles["attention"].to_numpy(),
                            out_png=out / f"{best['slide_id']}_attention.png", max_px=2048)
    geojson = attention_geojson(coords=coords, tile_size_level0_px=tile_size[best["slide_id"]],
                                scores=slide_tiles["attention"].to_numpy(),
                                out=out / f"{best['slide_id']}_attention.geojson")
    top = slide_tiles.nlargest(max(1, int(slide_tiles["in_region"].sum())), "attention")

    summary = {
        "store": str(store), "pooler": args.pooler, "seed": args.seed, "epochs": args.epochs,
        "lr": args.lr, "best_epoch": fitted.best_epoch,
        "n_patients": len(patients), "n_train": len(train_ids), "n_test": len(test_ids),
        "n_test_positive": int(pred["label"].sum()),
        "n_slides": int((manifest["status"] == "ok").sum()),
        "feature_dim": int(next(iter(bags.values())).features.shape[1]),
        "test_auc": delong.auc, "delong_ci": [delong.ci_low, delong.ci_high],
        "bootstrap_ci": [boot.ci_low, boot.ci_high], "n_boot": args.n_boot,
        "spearman_score_vs_immune": spearman, "baseline": baseline,
        "attention": {
            "n_slides": len(per_slide),
            "median_attention_auc": float(per_slide["attention_auc"].median()),
            "share_slides_auc_gt_0.5": float((per_slide["attention_auc"] > 0.5).mean()),
            "median_enrichment": float(per_slide["enrichment"].median()),
            "median_region_tile_share": float(per_slide["region_tile_share"].median()),
            "median_region_attention_share": float(per_slide["region_attention_share"].median()),
        },
        "heatmap": {"slide_id": best["slide_id"], "immune": float(best["immune"]),
                    "n_tiles": int(best["n_tiles"]),
                    "region_tile_share": float(best["region_tile_share"]),
                    "region_attention_share": float(best["region_attention_share"]),
                    "attention_auc": float(best["attention_auc"]),
                    "top_k_precision": float(top["in_region"].mean()),
                    "png": str(png), "geojson": str(geojson)},
        "wall_s": round(time.perf_counter() - started, 1), "fit_s": round(fit_s, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    print(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
