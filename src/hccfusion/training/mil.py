"""A small, plain training loop for a MIL model on one patient-level target.

``fit_mil_classifier`` trains a registered pooler plus a linear head on a binary label
(logistic loss), ``fit_mil_survival`` on (time, event) with the negative Cox partial
log-likelihood (Breslow ties) over mini-batches of patients. Both:

1. split the patients (never slides: habit 14) into training and validation, stratified by
   the label (by the event for survival), with ``seed``;
2. fit the feature standardisation on the training patients' instances only (habit 3);
3. train with Adam, one mini-batch of patients per step, and keep the weights of the epoch
   with the lowest validation loss (the last epoch without validation).

The multimodal trainer (fusion, folds, bundles) is built elsewhere; this loop exists to probe
what a feature store's bags carry (e.g. "does an ABMIL on these features predict the immune
state on held-out patients?").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from hccfusion.errors import DataError, UsageError
from hccfusion.models.mil import get_mil
from hccfusion.training.bags import PatientBag, bag_dim
from hccfusion.training.metrics import auc_score, harrell_c  # re-exported (selection metrics)

__all__ = ["FittedMil", "MilModel", "fit_mil_classifier", "fit_mil_survival", "predict_mil",
           "attention_scores", "stratified_patient_split", "auc_score", "harrell_c",
           "neg_cox_partial_log_likelihood"]


def neg_cox_partial_log_likelihood(*, risk: torch.Tensor, time: torch.Tensor,
                                   event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood with Breslow ties, averaged over events:
    :func:`hccfusion.models.losses.cox_nll` with a 0/1 (or bool) ``event``."""
    from hccfusion.models.losses import cox_nll

    return cox_nll(risk=risk, time=time, event=event > 0.5 if event.is_floating_point()
                   else event.bool())


class MilModel(nn.Module):
    """A MIL pooler followed by a linear head to one logit (binary) or one log-risk (survival)."""

    def __init__(self, pooler: nn.Module) -> None:
        super().__init__()
        self.pooler = pooler
        self.head = nn.Linear(pooler.out_dim, 1)

    def forward(self, x: torch.Tensor, *, groups: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """One bag ``x`` [N, in_dim] → (scalar output, attention [N])."""
        out = self.pooler(x, groups=groups)
        return self.head(out.embedding).squeeze(-1), out.attention


@dataclass(frozen=True)
class FittedMil:
    """A trained MIL model with its preprocessing and training record.

    Attributes
    ----------
    model : MilModel
        The pooler and head, in eval mode, weights of ``best_epoch``.
    pooler : str
        Registry name of the pooler.
    task : str
        ``"binary"`` (output = logit of label 1) or ``"survival"`` (output = log relative risk,
        higher = worse).
    history : pandas.DataFrame
        One row per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_metric`` (AUC for
        binary, Harrell's C for survival; NaN without validation patients).
    feature_mean_, feature_std_ : numpy.ndarray
        Shape ``[d]``, the instance standardisation fitted on the training patients only.
    train_patients, val_patients : tuple of str
        The patient split.
    best_epoch : int
        The epoch whose weights were kept (1-based).
    seed : int
        Seed of the split, the initialisation and the batch order.
    """

    model: MilModel
    pooler: str
    task: str
    history: pd.DataFrame
    feature_mean_: np.ndarray
    feature_std_: np.ndarray
    train_patients: tuple[str, ...]
    val_patients: tuple[str, ...]
    best_epoch: int
    seed: int


def _check_args(*, epochs: object, lr: object, weight_decay: object, val_fraction: object,
                batch_size: object, where: str) -> None:
    for name, value, ok, what in (
            ("epochs", epochs, isinstance(epochs, int) and not isinstance(epochs, bool)
             and epochs >= 1, "a positive int"),
            ("batch_size", batch_size, isinstance(batch_size, int)
             and not isinstance(batch_size, bool) and batch_size >= 1, "a positive int"),
            ("lr", lr, isinstance(lr, (int, float)) and lr > 0, "a positive float"),
            ("weight_decay", weight_decay, isinstance(weight_decay, (int, float))
             and weight_decay >= 0, "a float >= 0"),
            ("val_fraction", val_fraction, isinstance(val_fraction, (int, float))
             and 0 <= val_fraction < 1, "a float in [0, 1)")):
        if not ok:
            raise UsageError(f"The '{name}' parameter of {where} must be {what}. "
                             f"Got {value!r} instead.")


def stratified_patient_split(*, patients: list[str], strata: np.ndarray, val_fraction: float,
                             seed: int) -> tuple[list[str], list[str]]:
    """Split patients into (train, validation), each stratum split in the same proportion."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for level in np.unique(strata):
        members = [p for p, s in zip(patients, strata, strict=True) if s == level]
        members = [members[i] for i in rng.permutation(len(members))]
        # every stratum keeps at least one training patient, and gives one to validation
        # whenever it can spare it
        n_val = min(int(round(val_fraction * len(members))), len(members) - 1)
        if val_fraction > 0 and len(members) >= 2:
            n_val = max(n_val, 1)
        val += members[:n_val]
        train += members[n_val:]
    return sorted(train), sorted(val)


def _fit_scaler(bags: Mapping[str, PatientBag], patients: list[str]
                ) -> tuple[np.ndarray, np.ndarray]:
    total = np.concatenate([bags[p].features for p in patients]).astype(np.float64)
    mean, std = total.mean(axis=0), total.std(axis=0)
    return mean, np.where(std > 1e-6, std, 1.0)


def _tensors(bag: PatientBag, mean: np.ndarray, std: np.ndarray, device: str
             ) -> tuple[torch.Tensor, torch.Tensor]:
    if bag.features.shape[1] != mean.shape[0]:
        raise DataError(f"patient {bag.patient_id}: the bag has {bag.features.shape[1]} "
                        f"features per instance; the model was fitted on {mean.shape[0]}.")
    x = torch.as_tensor(((bag.features - mean) / std).astype(np.float32), device=device)
    return x, torch.as_tensor(bag.slide_index, dtype=torch.long, device=device)


def _outputs(model: MilModel, data: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    return torch.stack([model(x, groups=g)[0] for x, g in data])


def _fit(*, bags: Mapping[str, PatientBag], targets: pd.DataFrame, task: str,
         loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
         metric_fn: Callable[[np.ndarray, np.ndarray], float], strata: np.ndarray,
         pooler: str, epochs: int, lr: float, weight_decay: float, seed: int,
         val_fraction: float, batch_size: int, device: str, pooler_kw: dict) -> FittedMil:
    patients = list(targets.index)
    train_ids, val_ids = stratified_patient_split(patients=patients, strata=strata,
                                                  val_fraction=val_fraction, seed=seed)
    mean, std = _fit_scaler(bags, train_ids)
    data = {p: _tensors(bags[p], mean, std, device) for p in patients}
    y = {p: torch.as_tensor(targets.loc[p].to_numpy(dtype=np.float32), device=device)
         for p in patients}
    history = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MilModel(get_mil(pooler, in_dim=bag_dim(bags), **pooler_kw)).to(device)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        order_rng = np.random.default_rng(seed + 1)
        best_loss, best_epoch, best_state = np.inf, epochs, None
        for epoch in range(1, epochs + 1):
            model.train()
            losses = []
            shuffled = [train_ids[i] for i in order_rng.permutation(len(train_ids))]
            for start in range(0, len(shuffled), batch_size):
                batch = shuffled[start:start + batch_size]
                loss = loss_fn(_outputs(model, [data[p] for p in batch]),
                               torch.stack([y[p] for p in batch]))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                losses.append(float(loss.detach()))
            val_loss = val_metric = float("nan")
            if val_ids:
                model.eval()
                with torch.no_grad():
                    out = _outputs(model, [data[p] for p in val_ids])
                    truth = torch.stack([y[p] for p in val_ids])
                    val_loss = float(loss_fn(out, truth))
                    val_metric = metric_fn(out.cpu().numpy(), truth.cpu().numpy())
                if val_loss < best_loss:
                    best_loss, best_epoch = val_loss, epoch
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            history.append({"epoch": epoch, "train_loss": float(np.mean(losses)),
                            "val_loss": val_loss, "val_metric": val_metric})
        if best_state is not None:
            model.load_state_dict(best_state)
    model.eval()
    return FittedMil(model=model, pooler=pooler, task=task, history=pd.DataFrame(history),
                     feature_mean_=mean, feature_std_=std, train_patients=tuple(train_ids),
                     val_patients=tuple(val_ids), best_epoch=best_epoch, seed=seed)


def _common_patients(bags: object, targets: Mapping[str, object], where: str) -> list[str]:
    if not isinstance(bags, Mapping) or not all(isinstance(b, PatientBag)
                                                for b in bags.values()):
        raise UsageError(f"The 'bags' parameter of {where} must be a mapping of patient_id to "
                         f"PatientBag (see patient_bags). Got {type(bags).__name__} instead.")
    patients = sorted(set(bags) & set(targets))
    if len(patients) < 2:
        raise DataError(f"{where} needs at least 2 patients with both a bag and a target; "
                        f"found {len(patients)}.")
    return patients


def fit_mil_classifier(*, bags: Mapping[str, PatientBag], labels: Mapping[str, int],
                       pooler: str = "abmil", epochs: int = 30, lr: float = 1e-3,
                       weight_decay: float = 1e-4, seed: int = 0, val_fraction: float = 0.2,
                       batch_size: int = 1, device: str = "cpu",
                       pooler_kw: Mapping[str, object] | None = None) -> FittedMil:
    """Train a MIL pooler + linear head on a patient-level binary label.

    Parameters
    ----------
    bags : mapping of str to PatientBag
        ``patient_id`` → bag (:func:`hccfusion.training.bags.patient_bags`).
    labels : mapping of str to int
        ``patient_id`` → 0/1. Only patients in both ``bags`` and ``labels`` are used.
    pooler : str
        Registry name (``"abmil"``, ``"transmil"``, ``"mean"``).
    epochs, lr, weight_decay : int, float, float
        Adam settings; ``epochs`` passes over the training patients.
    seed : int
        Seed of the split, initialisation, dropout and batch order.
    val_fraction : float
        Share of patients held out (stratified by label) to select the epoch; 0 keeps the last.
    batch_size : int
        Patients per optimiser step (loss = mean logistic loss of the batch).
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    pooler_kw : mapping, optional
        Extra :func:`~hccfusion.models.mil.get_mil` arguments (``hidden_dim``, ``dropout``, …).

    Returns
    -------
    FittedMil
        With ``task == "binary"``; ``history.val_metric`` is the validation ROC AUC.

    Raises
    ------
    hccfusion.errors.UsageError
        For a bad argument or a label other than 0/1.
    hccfusion.errors.DataError
        If fewer than 2 patients, or only one class, remain among the training patients.
    """
    where = "fit_mil_classifier"
    _check_args(epochs=epochs, lr=lr, weight_decay=weight_decay, val_fraction=val_fraction,
                batch_size=batch_size, where=where)
    patients = _common_patients(bags, labels, where)
    values = np.array([labels[p] for p in patients])
    if not np.isin(values, [0, 1]).all():
        raise UsageError(f"The 'labels' parameter of {where} must map patients to 0 or 1. "
                         f"Got values {sorted(set(values.tolist()))[:5]} instead.")
    if len(np.unique(values)) < 2:
        raise DataError(f"{where} needs both classes among the patients; all are "
                        f"{int(values[0])}.")
    targets = pd.DataFrame({"label": values.astype(np.float32)}, index=patients)

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(out, y[:, 0])

    return _fit(bags=bags, targets=targets, task="binary", loss_fn=loss_fn,
                metric_fn=lambda out, y: auc_score(y_true=y[:, 0], score=out), strata=values,
                pooler=pooler, epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed,
                val_fraction=val_fraction, batch_size=batch_size, device=device,
                pooler_kw=dict(pooler_kw or {}))


def fit_mil_survival(*, bags: Mapping[str, PatientBag], time: Mapping[str, float],
                     event: Mapping[str, bool], pooler: str = "abmil", epochs: int = 30,
                     lr: float = 1e-3, weight_decay: float = 1e-4, seed: int = 0,
                     val_fraction: float = 0.2, batch_size: int = 16, device: str = "cpu",
                     pooler_kw: Mapping[str, object] | None = None) -> FittedMil:
    """Train a MIL pooler + linear head on (time, event) with the Cox partial likelihood.

    The loss is the negative Breslow partial log-likelihood (Cox 1972) of the batch's
    log-risks, so ``batch_size`` must leave events in most batches (default 16 patients).
    Arguments as :func:`fit_mil_classifier`, with ``time`` (days, ≥ 0) and ``event`` (True =
    observed) per ``patient_id``; the split is stratified by ``event``.

    Returns
    -------
    FittedMil
        With ``task == "survival"``; outputs are log relative risks (higher = worse) and
        ``history.val_metric`` is Harrell's C on the validation patients.
    """
    where = "fit_mil_survival"
    _check_args(epochs=epochs, lr=lr, weight_decay=weight_decay, val_fraction=val_fraction,
                batch_size=batch_size, where=where)
    patients = _common_patients(bags, {p: 0 for p in set(time) & set(event)}, where)
    t = np.array([time[p] for p in patients], dtype=np.float64)
    e = np.array([bool(event[p]) for p in patients])
    if not (np.isfinite(t).all() and (t >= 0).all()):
        raise UsageError(f"The 'time' parameter of {where} must hold finite days >= 0. "
                         f"Got min {np.nanmin(t)!r} instead.")
    if not e.any():
        raise DataError(f"{where} needs at least one observed event; none among "
                        f"{len(patients)} patients.")
    targets = pd.DataFrame({"time": t.astype(np.float32), "event": e.astype(np.float32)},
                           index=patients)
    return _fit(bags=bags, targets=targets, task="survival",
                loss_fn=lambda out, y: neg_cox_partial_log_likelihood(
                    risk=out, time=y[:, 0], event=y[:, 1]),
                metric_fn=lambda out, y: harrell_c(time=y[:, 0], event=y[:, 1] > 0, risk=out),
                strata=e, pooler=pooler, epochs=epochs, lr=lr, weight_decay=weight_decay,
                seed=seed, val_fraction=val_fraction, batch_size=batch_size, device=device,
                pooler_kw=dict(pooler_kw or {}))


def _check_fitted(fitted: object, where: str) -> FittedMil:
    if not isinstance(fitted, FittedMil):
        raise UsageError(f"The 'fitted' parameter of {where} must be a FittedMil. "
                         f"Got {type(fitted).__name__} instead.")
    return fitted


def predict_mil(fitted: FittedMil, bags: Mapping[str, PatientBag]) -> pd.DataFrame:
    """Patient-level predictions of a fitted MIL model.

    Returns
    -------
    pandas.DataFrame
        ``patient_id`` and ``score``: the probability of label 1 (binary) or the log relative
        risk (survival, higher = worse), one row per bag, in ``bags`` order.
    """
    fitted = _check_fitted(fitted, "predict_mil")
    device = next(fitted.model.parameters()).device
    rows = []
    fitted.model.eval()
    with torch.no_grad():
        for patient_id, bag in bags.items():
            x, g = _tensors(bag, fitted.feature_mean_, fitted.feature_std_, str(device))
            out = float(fitted.model(x, groups=g)[0])
            score = 1.0 / (1.0 + np.exp(-out)) if fitted.task == "binary" else out
            rows.append({"patient_id": str(patient_id), "score": float(score)})
    return pd.DataFrame(rows, columns=["patient_id", "score"])


def attention_scores(fitted: FittedMil, bag: PatientBag) -> np.ndarray:
    """Attention of a fitted model over one patient bag: shape ``[N]``, sums to 1, in the bag's
    instance order (use ``bag.slide_index`` / ``bag.coords`` to map it onto the slides)."""
    fitted = _check_fitted(fitted, "attention_scores")
    device = next(fitted.model.parameters()).device
    fitted.model.eval()
    with torch.no_grad():
        x, g = _tensors(bag, fitted.feature_mean_, fitted.feature_std_, str(device))
        return fitted.model(x, groups=g)[1].cpu().numpy().astype(np.float64)
