"""Losses of the multimodal model: small pure tensor functions, keyword-only.

Survival vocabulary: ``time`` in days, ``event`` bool (True = observed), ``risk`` higher =
worse. Missing targets (ORR or BOR not evaluable) are NaN and are left out of the mean.

- :func:`discrete_time_nll` — logistic-hazard likelihood (Gensheimer & Narasimhan, PeerJ
  2019; Kvamme & Borgan 2019), with :func:`survival_from_hazards`.
- :func:`cox_nll` — negative Cox partial log-likelihood, Breslow ties (DeepSurv, Katzman et
  al., BMC Med Res Methodol 2018).
- :func:`binary_nll` — binary cross-entropy on logits.
- :func:`ordinal_nll` — cumulative-link likelihood (McCullagh, JRSS B 1980).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from hccfusion.errors import UsageError

__all__ = ["binary_nll", "cox_nll", "discrete_time_nll", "ordinal_nll",
           "survival_from_hazards"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_1d(value: object, name: str, owner: str, n: int | None) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 1 \
            or (n is not None and value.shape[0] != n):
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        shape = f"[{n}]" if n is not None else "[B]"
        raise UsageError(f"The '{name}' parameter of {owner} must be a 1-d tensor of shape "
                         f"{shape}. Got {got} instead.")
    return value


def _check_event(event: object, owner: str, n: int) -> torch.Tensor:
    event = _check_1d(event, "event", owner, n)
    if event.dtype != torch.bool:
        raise UsageError(f"The 'event' parameter of {owner} must be a bool tensor (True = "
                         f"event observed). Got dtype {event.dtype} instead; convert with "
                         f"`event.bool()` only if it is coded 1/0.")
    return event


def survival_from_hazards(hazard_logits: torch.Tensor) -> torch.Tensor:
    """Survival at the right edge of each bin from discrete hazard logits.

    ``S(t_k) = Π_{j≤k} (1 − h_j)`` with ``h_j = sigmoid(logit_j)``, computed in log space.

    Parameters
    ----------
    hazard_logits : torch.Tensor
        Shape ``[B, K]``.

    Returns
    -------
    torch.Tensor
        Shape ``[B, K]``, non-increasing along a row, in (0, 1].
    """
    if not isinstance(hazard_logits, torch.Tensor) or hazard_logits.ndim != 2:
        got = (tuple(hazard_logits.shape) if isinstance(hazard_logits, torch.Tensor)
               else type(hazard_logits).__name__)
        raise UsageError(f"The 'hazard_logits' parameter of survival_from_hazards must be a "
                         f"tensor of shape [B, K]. Got {got} instead.")
    return torch.exp(torch.cumsum(F.logsigmoid(-hazard_logits), dim=1))


def _reduce(loss: torch.Tensor, reduction: str, owner: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise UsageError(f"The 'reduction' parameter of {owner} must be one of {_REDUCTIONS}. "
                     f"Got {reduction!r} instead.")


def discrete_time_nll(*, hazard_logits: torch.Tensor, bin_index: torch.Tensor,
                      event: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Negative log-likelihood of the discrete-time logistic-hazard model.

    With ``h_k = sigmoid(hazard_logits[:, k])`` and j a patient's bin:

    - event in bin j: ``−log h_j − Σ_{k<j} log(1 − h_k)`` (survived the earlier bins, then
      the event);
    - censored in bin j: ``−Σ_{k<j} log(1 − h_k)`` — the patient counts as having survived
      the bins *before* j only; bin j, in which follow-up ended, gives no information (no
      credit for the partial bin, unlike the half-bin rule of Gensheimer & Narasimhan). A
      patient censored in bin 0 contributes 0.

    Parameters
    ----------
    hazard_logits : torch.Tensor
        Shape ``[B, K]``.
    bin_index : torch.Tensor
        Shape ``[B]``, integer in ``[0, K)``: the bin of each patient's time (from
        ``TimeBins.bin_index`` fitted on the training patients).
    event : torch.Tensor
        Shape ``[B]``, bool.
    reduction : {"mean", "sum", "none"}
        Mean over patients (default), sum, or the ``[B]`` per-patient losses.

    Returns
    -------
    torch.Tensor
        Scalar (or ``[B]``), in nats.
    """
    owner = "discrete_time_nll"
    if not isinstance(hazard_logits, torch.Tensor) or hazard_logits.ndim != 2:
        got = (tuple(hazard_logits.shape) if isinstance(hazard_logits, torch.Tensor)
               else type(hazard_logits).__name__)
        raise UsageError(f"The 'hazard_logits' parameter of {owner} must be a tensor of "
                         f"shape [B, K]. Got {got} instead.")
    b, k = hazard_logits.shape
    bin_index = _check_1d(bin_index, "bin_index", owner, b)
    event = _check_event(event, owner, b)
    if bin_index.dtype.is_floating_point or bool(((bin_index < 0) | (bin_index >= k)).any()):
        raise UsageError(f"The 'bin_index' parameter of {owner} must hold integers in "
                         f"[0, {k}). Got dtype {bin_index.dtype}, range "
                         f"[{bin_index.min().item()}, {bin_index.max().item()}] instead.")
    bins = torch.arange(k, device=hazard_logits.device)[None, :]
    index = bin_index.to(hazard_logits.device)[:, None]
    survived = (bins < index).to(hazard_logits.dtype)                       # [B, K]
    log_survive = F.logsigmoid(-hazard_logits)
    log_hazard = F.logsigmoid(hazard_logits).gather(1, index).squeeze(1)
    loss = -(survived * log_survive).sum(dim=1) - event.to(hazard_logits.dtype) * log_hazard
    return _reduce(loss, reduction, owner)


def cox_nll(*, risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood per event, Breslow's handling of ties.

    ``−(1/d) Σ_{i: event} [ r_i − log Σ_{j: t_j ≥ t_i} exp(r_j) ]`` with d the number of
    events (Cox 1972; Breslow 1974). Without tied event times it equals the Efron likelihood
    that lifelines reports.

    Parameters
    ----------
    risk : torch.Tensor
        Shape ``[B]``, log-risk (higher = worse).
    time : torch.Tensor
        Shape ``[B]``, days.
    event : torch.Tensor
        Shape ``[B]``, bool.

    Returns
    -------
    torch.Tensor
        Scalar. 0 (still attached to ``risk``'s graph, so ``backward`` works) when the batch
        has no event.
    """
    owner = "cox_nll"
    risk = _check_1d(risk, "risk", owner, None)
    n = risk.shape[0]
    time = _check_1d(time, "time", owner, n)
    event = _check_event(event, owner, n)
    if not bool(event.any()):
        return risk.sum() * 0.0
    order = torch.argsort(time, descending=True)
    r, t, e = risk[order], time[order], event[order].to(risk.device)
    log_cumsum = torch.logcumsumexp(r, dim=0)
    # ties: everyone with t_j ≥ t_i is at risk, i.e. up to the last of i's tie group
    _, inverse, counts = torch.unique_consecutive(t, return_inverse=True, return_counts=True)
    group_end = torch.cumsum(counts, dim=0) - 1
    log_risk_set = log_cumsum[group_end.to(risk.device)[inverse.to(risk.device)]]
    return -((r - log_risk_set)[e]).sum() / e.sum()


def _observed(target: object, owner: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    target = _check_1d(target, "target", owner, n)
    if target.dtype.is_floating_point:
        return target, ~torch.isnan(target)
    return target, target >= 0


def binary_nll(*, logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits, averaged over the observed targets.

    Parameters
    ----------
    logit : torch.Tensor
        Shape ``[B]``, ``P(y = 1) = sigmoid(logit)``.
    target : torch.Tensor
        Shape ``[B]``, 1/0; NaN (float) or a negative value (integer) = not evaluable, ignored.

    Returns
    -------
    torch.Tensor
        Scalar, nats per observed patient; 0 (attached to the graph) when none is observed.
    """
    logit = _check_1d(logit, "logit", "binary_nll", None)
    target, observed = _observed(target, "binary_nll", logit.shape[0])
    if not bool(observed.any()):
        return logit.sum() * 0.0
    y = target[observed].to(logit.dtype)
    if bool(((y != 0) & (y != 1)).any()):
        raise UsageError(f"The 'target' parameter of binary_nll must hold 1, 0 or NaN. "
                         f"Got values {sorted(set(y.tolist()))} instead.")
    return F.binary_cross_entropy_with_logits(logit[observed], y)


def ordinal_nll(*, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of the cumulative-link model, averaged over observed targets.

    With ``logits[:, k] = logit P(Y ≤ k)`` (increasing in k, as
    :class:`~hccfusion.models.heads.OrdinalHead` returns), ``P(Y = k) = σ(l_k) − σ(l_{k−1})``
    with ``σ(l_{−1}) = 0``, ``σ(l_{C−1}) = 1`` (McCullagh 1980). Computed stably as
    ``log σ(a) + log σ(−b) + log(1 − e^{b−a})``.

    Parameters
    ----------
    logits : torch.Tensor
        Shape ``[B, C−1]``.
    target : torch.Tensor
        Shape ``[B]``, class code 0..C−1 (BOR: 0 = CR, 1 = PR, 2 = SD, 3 = PD); NaN (float) or
        negative (integer) = not evaluable, ignored.

    Returns
    -------
    torch.Tensor
        Scalar; 0 (attached to the graph) when no target is observed.
    """
    owner = "ordinal_nll"
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] < 1:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise UsageError(f"The 'logits' parameter of {owner} must be a tensor of shape "
                         f"[B, C-1]. Got {got} instead.")
    n_classes = logits.shape[1] + 1
    target, observed = _observed(target, owner, logits.shape[0])
    if not bool(observed.any()):
        return logits.sum() * 0.0
    y = target[observed]
    if bool(((y != y.round()) | (y < 0) | (y >= n_classes)).any()):
        raise UsageError(f"The 'target' parameter of {owner} must hold class codes in "
                         f"0..{n_classes - 1} (or NaN). Got values {sorted(set(y.tolist()))} "
                         f"instead.")
    y = y.long().to(logits.device)
    lo = logits[observed]
    b = lo.shape[0]
    inf = lo.new_full((b, 1), float("inf"))
    upper = torch.cat([lo, inf], dim=1).gather(1, y[:, None]).squeeze(1)        # l_k
    lower = torch.cat([-inf, lo], dim=1).gather(1, y[:, None]).squeeze(1)       # l_{k-1}
    gap = (upper - lower).clamp_min(1e-12)
    # log(σ(a) − σ(b)); an infinite a or b makes the last term log(1) = 0
    log_p = (F.logsigmoid(upper) + F.logsigmoid(-lower) + torch.log(-torch.expm1(-gap)))
    return -log_p.mean()
