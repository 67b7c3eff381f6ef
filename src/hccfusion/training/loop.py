"""Fit one multimodal model on training patients: preprocess, batch, train, predict.

A plain PyTorch loop (Adam, early stopping on the validation share of the *training* patients,
deterministic by seed). Everything learned from data — scalers, imputers, category codes, the
pathology instance scaler, survival time bins — is fitted on the training patients passed in
here and frozen into the :class:`FittedModel`, which :mod:`hccfusion.io.bundle` writes to disk.
"""

from __future__ import annotations

import copy
import time as _time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.training.config import ModelConfig, TrainingConfig
from hccfusion.training.dataset import (
    CLINICAL_CATEGORICAL, CLINICAL_LOG, CLINICAL_NUMERIC, TREATMENT_COLUMNS,
    StudyData,
)
from hccfusion.training.objective import (
    ENDPOINTS, input_group_norm, slice_batch, study_loss, unimodal_loss,
)
from hccfusion.training.site_scaler import fit_site_scaler, harmonised_bags, tile_statistics

__all__ = ["FittedModel", "fit_model", "model_config_dict", "predict_frame"]



@dataclass
class FittedModel:
    """A trained network with everything fitted beside it (training patients only)."""

    net: Any
    net_config: dict
    modalities: tuple[str, ...]
    preprocessors: dict[str, Any]
    time_bins: dict[str, Any]
    bag_scaler: dict[str, list[float]] | None
    history: pd.DataFrame
    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)
    site_scaler: dict | None = None
    """Per-centre statistics of the pathology tile features (``ModelConfig.harmonise_sites``;
    :mod:`hccfusion.training.site_scaler`)."""


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is in the models extra
        raise UsageError("training needs torch: pip install 'hccfusion[models]'") from exc
    return torch


def model_config_dict(config: ModelConfig, *, dims: dict[str, int],
                      cardinalities: list[int], n_bins: dict[str, int]) -> dict:
    """The network config (:func:`hccfusion.models.multimodal.build_model`) for given input
    dimensions."""
    mods: dict[str, dict] = {}
    for m in config.modalities:
        if m not in dims:
            continue
        if m == "pathology":
            mods[m] = {"encoder": "mil", "pooler": config.pooler, "in_dim": dims[m]}
        elif m == "omics":
            mods[m] = {"encoder": "pathway_tokens", "in_dim": dims[m]}
        else:
            mods[m] = {"encoder": "tabular", "in_dim": dims[m], "hidden": [config.hidden]}
    heads: dict[str, Any] = {
        ep: ({"kind": "discrete", "n_bins": int(n_bins[ep])}
             if config.survival_head == "discrete" else {"kind": "cox"}) for ep in ENDPOINTS}
    return {"modalities": mods, "embed_dim": config.embed_dim, "dropout": config.dropout,
            "modality_dropout": config.modality_dropout, "fusion": {"name": config.fusion},
            "treatment": {"cardinalities": cardinalities,
                          "embed_dim": config.treatment_embed_dim},
            "heads": {**heads, "response": True, "bor": True},
            "wide": [m for m in config.wide if m in mods]}


def clinical_preprocessor(train: pd.DataFrame) -> Any:
    """The clinical preprocessor fitted on ``train``; a numeric variable no training patient
    has (a centre that never measures PIVKA-II) is left out rather than imputed from nothing."""
    from hccfusion.training.preprocess import TabularPreprocessor

    numeric = [c for c in CLINICAL_NUMERIC
               if pd.to_numeric(train[c], errors="coerce").notna().any()]
    return TabularPreprocessor(numeric=numeric, categorical=list(CLINICAL_CATEGORICAL),
                               log=[c for c in CLINICAL_LOG if c in numeric]).fit(train)


def _fit_preprocessors(data: StudyData, ids: list[str], config: ModelConfig) -> dict[str, Any]:
    from hccfusion.training.preprocess import CategoryEncoder, VectorPreprocessor

    pre: dict[str, Any] = {
        "clinical": clinical_preprocessor(data.clinical.loc[ids]),
        "treatment": CategoryEncoder(columns=list(TREATMENT_COLUMNS))
        .fit(data.treatment.loc[ids])}
    if "radiomics" in config.modalities and data.radiomics is not None:
        rows = data.radiomics[data.radiomics.index.isin(ids)]
        if len(rows) >= 5:
            pca = config.radiomics_pca
            pre["radiomics"] = VectorPreprocessor(
                pca=None if pca is None else min(pca, len(rows) - 1)).fit(rows)
    if "omics" in config.modalities and data.omics is not None:
        rows = data.omics[data.omics.index.isin(ids)]
        if len(rows) >= 5:
            pre["omics"] = VectorPreprocessor().fit(rows)
    return pre


def _tile_features(site_scaler: dict | None, data: StudyData, ids: list[str]
                   ) -> dict[str, np.ndarray]:
    """The tile features of the ``ids`` with slides, per-centre harmonised when the model
    does that (:mod:`hccfusion.training.site_scaler`), before the instance scaler."""
    if site_scaler is not None:
        return harmonised_bags(site_scaler, data, ids)
    return {p: data.pathology[p].features for p in ids if p in data.pathology}


def _fit_bag_scaler(data: StudyData, ids: list[str],
                    site_scaler: dict | None = None) -> dict[str, list[float]] | None:
    if data.pathology is None:
        return None
    feats = list(_tile_features(site_scaler, data, list(ids)).values())
    if not feats:
        return None
    stats = tile_statistics(feats)
    return {"mean": stats["mean"], "std": stats["std"]}


def make_batch(fitted: FittedModel, data: StudyData, ids: list[str]) -> dict[str, Any]:
    """Tensors of ``ids`` in the model's input contract (``available`` in modality order)."""
    torch = _torch()
    avail = data.available().loc[ids]
    batch: dict[str, Any] = {}
    pre = fitted.preprocessors
    batch["clinical"] = torch.as_tensor(pre["clinical"].transform(data.clinical.loc[ids]))
    batch["treatment"] = torch.as_tensor(
        pre["treatment"].transform(data.treatment.loc[ids]), dtype=torch.long)
    masks = []
    for m in fitted.modalities:
        if m == "clinical":
            masks.append(np.ones(len(ids), bool))
        elif m in ("radiomics", "omics"):
            table = data.radiomics if m == "radiomics" else data.omics
            p = pre[m]
            width = len(p.feature_names_out_)
            x = np.zeros((len(ids), width), np.float32)
            have = avail[m].to_numpy()
            if have.any():
                x[have] = p.transform(table.loc[np.asarray(ids)[have]])
            batch[m] = torch.as_tensor(x)
            masks.append(have)
        elif m == "pathology":
            mean = np.asarray(fitted.bag_scaler["mean"], np.float32)
            std = np.asarray(fitted.bag_scaler["std"], np.float32)
            bags, groups = [], []
            have = avail[m].to_numpy()
            tiles = _tile_features(fitted.site_scaler, data,
                                   [p for p, h in zip(ids, have) if h])
            for pid, h in zip(ids, have):
                if h:
                    bags.append(torch.as_tensor((tiles[pid] - mean) / std))
                    groups.append(torch.as_tensor(data.pathology[pid].slide_index,
                                                  dtype=torch.long))
                else:
                    bags.append(torch.zeros((0, len(mean))))
                    groups.append(torch.zeros(0, dtype=torch.long))
            batch["pathology"], batch["pathology_groups"] = bags, groups
            masks.append(have)
    batch["available"] = torch.as_tensor(np.stack(masks, axis=1))
    return batch


def _targets(fitted: FittedModel, data: StudyData, ids: list[str]) -> dict[str, Any]:
    torch = _torch()
    t = data.targets.loc[ids]
    out: dict[str, Any] = {}
    for ep in ENDPOINTS:
        time = t[f"{ep}_time"].to_numpy(float)
        out[f"{ep}_time"] = torch.as_tensor(time, dtype=torch.float32)
        out[f"{ep}_event"] = torch.as_tensor(t[f"{ep}_event"].to_numpy(bool))
        if fitted.time_bins.get(ep) is not None:
            out[f"{ep}_bin"] = torch.as_tensor(fitted.time_bins[ep].bin_index(time),
                                               dtype=torch.long)
    out["orr"] = torch.as_tensor(t["orr"].to_numpy(float), dtype=torch.float32)
    out["bor"] = torch.as_tensor(t["bor"].to_numpy(float), dtype=torch.float32)
    return out


def fit_model(data: StudyData, *, train_ids: list[str], val_ids: list[str],
              model: ModelConfig, training: TrainingConfig) -> FittedModel:
    """Fit preprocessors, bins and the network on ``train_ids``; stop early on ``val_ids``.

    Both id lists are training patients of the caller's split: the test patients of the split
    never reach this function.
    """
    torch = _torch()
    from hccfusion.training.preprocess import TimeBins

    started = _time.perf_counter()
    overlap = set(train_ids) & set(val_ids)
    if overlap:
        raise UsageError(f"patient {sorted(overlap)[0]} is both a training and a validation "
                         "patient")
    if len(train_ids) < 10:
        raise DataError(f"only {len(train_ids)} training patients; at least 10 are needed")
    torch.manual_seed(training.seed)
    np.random.seed(training.seed)
    pre = _fit_preprocessors(data, list(train_ids), model)
    modalities = tuple(m for m in model.modalities
                       if m == "clinical" or m in pre or (m == "pathology"
                                                          and data.pathology is not None))
    site_scaler = fit_site_scaler(data, list(train_ids)) \
        if "pathology" in modalities and model.harmonise_sites else None
    bag_scaler = _fit_bag_scaler(data, list(train_ids), site_scaler) \
        if "pathology" in modalities else None
    if "pathology" in modalities and bag_scaler is None:
        modalities = tuple(m for m in modalities if m != "pathology")
    tr = data.targets.loc[list(train_ids)]
    bins = {}
    if model.survival_head == "discrete":
        for ep in ENDPOINTS:
            bins[ep] = TimeBins(n_bins=model.n_bins).fit(
                time=tr[f"{ep}_time"].to_numpy(float), event=tr[f"{ep}_event"].to_numpy(bool))
    dims = {"clinical": len(pre["clinical"].feature_names_out_)}
    for m in ("radiomics", "omics"):
        if m in modalities:
            dims[m] = len(pre[m].feature_names_out_)
    if "pathology" in modalities:
        dims["pathology"] = len(bag_scaler["mean"])
    net_config = model_config_dict(model, dims=dims,
                                   cardinalities=list(pre["treatment"].cardinalities_),
                                   n_bins={ep: b.n_bins_ for ep, b in bins.items()})
    from hccfusion.models.multimodal import MODALITY_ORDER

    fitted = FittedModel(net=None, net_config=net_config,
                         modalities=tuple(m for m in MODALITY_ORDER
                                          if m in net_config["modalities"]),
                         preprocessors=pre, time_bins=bins, bag_scaler=bag_scaler,
                         history=pd.DataFrame(), train_ids=tuple(train_ids),
                         val_ids=tuple(val_ids), site_scaler=site_scaler)
    train_batch = make_batch(fitted, data, list(train_ids))
    train_target = _targets(fitted, data, list(train_ids))
    val_batch = make_batch(fitted, data, list(val_ids)) if len(val_ids) else None
    val_target = _targets(fitted, data, list(val_ids)) if len(val_ids) else None
    fitted.net, rows, best_epochs = fit_members(
        net_config, train_batch, train_target, val_batch, val_target,
        ensemble=model.ensemble, training=training)
    fitted.net_config = fitted.net.config
    fitted.extra["best_epoch"] = best_epochs[0] if len(best_epochs) == 1 else best_epochs
    if model.experts and (len(fitted.modalities) > 1 or model.linear_expert):
        from hccfusion.training.experts import add_experts

        rows += add_experts(fitted, data, model=model, training=training, dims=dims,
                            cardinalities=list(pre["treatment"].cardinalities_),
                            n_bins={ep: b.n_bins_ for ep, b in bins.items()})
    fitted.history = pd.DataFrame(rows)
    fitted.seconds = _time.perf_counter() - started
    return fitted


def fit_members(net_config: dict, train_batch: dict, train_target: dict,
                val_batch: dict | None, val_target: dict | None, *, ensemble: int,
                training: TrainingConfig) -> tuple[Any, list[dict], list[int]]:
    """Train ``ensemble`` nets of ``net_config`` (member k seeded ``training.seed + k``);
    returns the net (an :class:`~hccfusion.models.ensemble.EnsembleNet` when ``ensemble > 1``),
    the history rows (with ``member``) and each member's best epoch."""
    torch = _torch()
    from hccfusion.models.multimodal import build_model

    members, rows, best_epochs = [], [], []
    for k in range(ensemble):
        # member k: its own initialisation and modality-dropout draws (seed + k)
        torch.manual_seed(training.seed + k)
        net = build_model(net_config)
        history = _train(net, train_batch, train_target, val_batch, val_target, training,
                         seed=training.seed + k)
        rows.extend({**r, "member": k} for r in history)
        monitor = "val_loss" if val_batch is not None else "train_loss"
        best_epochs.append(int(pd.DataFrame(history)[monitor].idxmin()))
        members.append(net.eval())
    if ensemble == 1:
        return members[0], rows, best_epochs
    from hccfusion.models.ensemble import EnsembleNet

    return EnsembleNet(members).eval(), rows, best_epochs


def _train(net: Any, train_batch: dict, train_target: dict, val_batch: dict | None,
           val_target: dict | None, training: TrainingConfig, *, seed: int) -> list[dict]:
    """AdamW on the training patients; keep the weights of the epoch with the lowest
    validation loss (training loss without validation patients); stop after ``patience``
    epochs without improvement."""
    torch = _torch()
    optimiser = torch.optim.AdamW(net.parameters(), lr=training.lr,
                                  weight_decay=training.weight_decay)
    n = len(train_target["os_time"])
    bs = n if training.batch_size in (0, None) or training.batch_size >= n else training.batch_size
    gen = np.random.default_rng(seed)
    best, best_state, stale, rows = np.inf, None, 0, []
    for epoch in range(training.epochs):
        net.train()
        order = gen.permutation(n)
        epoch_loss = 0.0
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            if len(idx) < 2:
                continue
            optimiser.zero_grad()
            batch, target = slice_batch(train_batch, idx), slice_batch(train_target, idx)
            loss = study_loss(net(batch), target, training.loss_weights)
            if training.unimodal_weight > 0 and len(net.modalities) > 1:
                loss = loss + training.unimodal_weight * unimodal_loss(
                    net, batch, target, training, gen)
            if training.input_group_lasso > 0:
                loss = loss + training.input_group_lasso * input_group_norm(net)
            loss.backward()
            optimiser.step()
            epoch_loss += float(loss.detach()) * len(idx) / n
        val_loss = np.nan
        if val_batch is not None:
            net.eval()
            with torch.no_grad():
                val_loss = float(study_loss(net(val_batch), val_target, training.loss_weights))
        rows.append({"epoch": epoch, "train_loss": epoch_loss, "val_loss": val_loss})
        monitor = val_loss if val_batch is not None else epoch_loss
        if monitor < best - 1e-4:
            best, best_state, stale = monitor, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= training.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return rows


def predict_frame(fitted: FittedModel, data: StudyData, ids: list[str], *,
                  drop: tuple[str, ...] = (), horizons_days: tuple[float, ...] = ()
                  ) -> pd.DataFrame:
    """Per patient: ``risk_os``, ``risk_pfs``, ``p_response``, ``p_bor_<class>`` and, for a
    discrete-time head, ``surv_os_<h>d`` at the horizons. ``drop`` hides modalities from the
    model (as if unavailable), for ablations; a patient left with none gets NaN. With modality
    experts, the risks and P(response) combine the fused net and the experts; S(t) and
    P(BOR) are the fused net's (:mod:`hccfusion.models.experts`)."""
    torch = _torch()
    from hccfusion.models.losses import survival_from_hazards

    if not ids:
        return pd.DataFrame(columns=["patient_id"])
    batch = make_batch(fitted, data, list(ids))
    avail = batch["available"].clone()
    for m in drop:
        if m in fitted.modalities:
            avail[:, fitted.modalities.index(m)] = False
    keep = avail.any(dim=1).numpy()
    out = pd.DataFrame({"patient_id": list(ids)})
    cols = ["risk_os", "risk_pfs", "p_response"]
    for c in cols:
        out[c] = np.nan
    if keep.any():
        idx = np.flatnonzero(keep)
        sub = slice_batch(batch, idx)
        sub["available"] = avail[idx]
        if fitted.net.training:   # nets are fitted and loaded in eval mode; a walk of every
            fitted.net.eval()     # submodule costs ~7 ms per call with experts
        with torch.no_grad():
            res = fitted.net(sub)
        out.loc[idx, "risk_os"] = res.risk["os"].numpy()
        out.loc[idx, "risk_pfs"] = res.risk["pfs"].numpy()
        out.loc[idx, "p_response"] = torch.sigmoid(res.response_logit).numpy()
        for ep in ENDPOINTS:
            logits = res.hazard_logits.get(ep) if res.hazard_logits else None
            if logits is None or not horizons_days:
                continue
            surv = survival_from_hazards(logits).numpy()
            edges = np.asarray(fitted.time_bins[ep].edges_)
            # S at the bin edges (S(0) = 1), linearly interpolated to each horizon; beyond the
            # last edge (the longest training follow-up) it is not extrapolated
            at_edges = np.hstack([np.ones((len(surv), 1)), surv])
            for h in horizons_days:
                if h > edges[-1]:
                    continue
                out.loc[idx, f"surv_{ep}_{int(h)}d"] = [np.interp(h, edges, row)
                                                        for row in at_edges]
    return out
