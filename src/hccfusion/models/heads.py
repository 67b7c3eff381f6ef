"""Prediction heads: the fused patient vector → an endpoint's prediction.

Registry :data:`HEADS` (built by :func:`get_head`; both live in
:mod:`hccfusion.models.registry`):

- ``survival`` (:class:`SurvivalHead`): OS or PFS, as discrete-time hazards or a Cox log-risk.
- ``response`` (:class:`ResponseHead`): objective response (ORR), one logit.
- ``ordinal`` (:class:`OrdinalHead`): best overall response CR < PR < SD < PD, cumulative
  link.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hccfusion.errors import UsageError, unknown_option
from hccfusion.models.losses import survival_from_hazards
from hccfusion.models.registry import HEADS, check_positive_int, get_head

__all__ = ["HEADS", "SURVIVAL_KINDS", "OrdinalHead", "ResponseHead", "SurvivalHead",
           "SurvivalOutput", "get_head"]

SURVIVAL_KINDS = ("discrete", "cox")
"""The survival head kinds."""


def _check_input(z: object, in_dim: int, owner: str) -> torch.Tensor:
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != in_dim:
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise UsageError(f"The 'z' parameter of {owner}.forward must be a tensor of shape "
                         f"[B, {in_dim}]. Got {got} instead.")
    return z


@dataclass(frozen=True)
class SurvivalOutput:
    """A survival head's prediction.

    Attributes
    ----------
    risk : torch.Tensor
        Shape ``[B]``, higher = worse. Discrete-time: ``−Σ_k S(t_k)``, minus the area under the
        predicted survival curve over the K bins in units of bins (the expected number of bins
        survived, negated; monotone in survival). Cox: the log-risk score ``βᵀz``.
    hazard_logits : torch.Tensor or None
        Shape ``[B, K]``, logit of the discrete hazard of each bin (discrete-time only).
    """

    risk: torch.Tensor
    hazard_logits: torch.Tensor | None = None


class SurvivalHead(nn.Module):
    """Survival head, discrete-time or Cox.

    ``kind="discrete"``: one logit per time bin, the logistic-hazard model (Gensheimer &
    Narasimhan, PeerJ 2019; Kvamme & Borgan, "Continuous and discrete-time survival prediction
    with neural networks", 2019), trained with
    :func:`~hccfusion.models.losses.discrete_time_nll`.
    ``kind="cox"``: a linear log-risk without bias (the Cox partial likelihood is invariant to
    a shift, so a bias would never learn), trained with
    :func:`~hccfusion.models.losses.cox_nll` (DeepSurv, Katzman et al. 2018).

    Parameters
    ----------
    in_dim : int
        Width of the fused vector.
    kind : {"discrete", "cox"}
    n_bins : int, optional
        K, the number of time bins; required for ``"discrete"``, not allowed for ``"cox"``.

    Shapes
    ------
    ``forward(z [B, in_dim]) → SurvivalOutput(risk [B], hazard_logits [B, K] | None)``.
    """

    def __init__(self, *, in_dim: int, kind: str = "discrete", n_bins: int | None = None
                 ) -> None:
        super().__init__()
        if kind not in SURVIVAL_KINDS:
            raise unknown_option("survival head kind", str(kind), SURVIVAL_KINDS)
        self.in_dim, self.kind = in_dim, kind
        if kind == "discrete":
            if n_bins is None:
                raise UsageError("The 'n_bins' parameter of SurvivalHead must be a positive "
                                 "int for kind='discrete'. Got None instead.")
            self.n_bins: int | None = check_positive_int(n_bins, "n_bins", "SurvivalHead")
            self.linear = nn.Linear(in_dim, self.n_bins)
        else:
            if n_bins is not None:
                raise UsageError(f"The 'n_bins' parameter of SurvivalHead must be None for "
                                 f"kind='cox'. Got {n_bins!r} instead.")
            self.n_bins = None
            self.linear = nn.Linear(in_dim, 1, bias=False)

    def forward(self, z: torch.Tensor, offset: torch.Tensor | None = None) -> SurvivalOutput:
        """``offset`` ``[B]`` (optional) is added to the log-risk, or to every bin's hazard
        logit of a discrete-time head (a proportional-odds shift)."""
        out = self.linear(_check_input(z, self.in_dim, "SurvivalHead"))
        if offset is not None:
            out = out + offset[:, None]
        if self.kind == "cox":
            return SurvivalOutput(risk=out.squeeze(-1))
        return SurvivalOutput(risk=-survival_from_hazards(out).sum(dim=1), hazard_logits=out)


class ResponseHead(nn.Module):
    """Objective response: one logit, ``P(response) = sigmoid(logit)``.

    Shapes
    ------
    ``forward(z [B, in_dim]) → logit [B]``.
    """

    def __init__(self, *, in_dim: int) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.linear = nn.Linear(in_dim, 1)

    def forward(self, z: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """``offset`` ``[B]`` (optional) is added to the logit."""
        logit: torch.Tensor = self.linear(_check_input(z, self.in_dim, "ResponseHead"))
        logit = logit.squeeze(-1)
        return logit if offset is None else logit + offset


class OrdinalHead(nn.Module):
    """Cumulative-link (proportional odds) head for an ordered outcome (McCullagh, "Regression
    models for ordinal data", JRSS B 1980).

    With the score ``s = wᵀz`` (higher = worse) and ordered thresholds
    ``θ_1 < … < θ_{C−1}``, ``logit P(Y ≤ k) = θ_k − s``. Order is built in:
    ``θ_k = θ_1 + Σ_{j<k} softplus(δ_j)``. For best overall response the classes are coded
    0 = CR, 1 = PR, 2 = SD, 3 = PD, so column k of the output is the logit of
    "BOR at least as good as class k".

    Parameters
    ----------
    in_dim : int
        Width of the fused vector.
    n_classes : int
        C ≥ 2 (default 4).

    Shapes
    ------
    ``forward(z [B, in_dim]) → cumulative logits [B, C−1]`` (increasing along a row).
    """

    def __init__(self, *, in_dim: int, n_classes: int = 4) -> None:
        super().__init__()
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise UsageError(f"The 'n_classes' parameter of OrdinalHead must be an int >= 2. "
                             f"Got {n_classes!r} instead.")
        self.in_dim, self.n_classes = in_dim, n_classes
        self.score = nn.Linear(in_dim, 1, bias=False)
        # thresholds start evenly spread over [-1.5, 1.5] (gaps of 3 / (C - 2))
        gap = 3.0 / max(n_classes - 2, 1)
        self.first_threshold = nn.Parameter(torch.tensor(-1.5 if n_classes > 2 else 0.0))
        self.raw_gaps = nn.Parameter(torch.full((n_classes - 2,), math.log(math.expm1(gap))))

    def thresholds(self) -> torch.Tensor:
        """The ordered thresholds ``θ`` [C−1]."""
        gaps = nn.functional.softplus(self.raw_gaps)
        return torch.cat([self.first_threshold[None],
                          self.first_threshold + torch.cumsum(gaps, dim=0)])

    def forward(self, z: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """``offset`` ``[B]`` (optional) is added to the score."""
        s = self.score(_check_input(z, self.in_dim, "OrdinalHead"))            # [B, 1]
        if offset is not None:
            s = s + offset[:, None]
        return self.thresholds()[None, :] - s
