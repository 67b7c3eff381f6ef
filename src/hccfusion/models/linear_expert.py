"""A penalised linear expert: fixed linear predictors over one preprocessed feature vector.

On a few hundred patients, a deep net and even an unpenalised Cox model spread weight over
every clinical variable, most of which carry no prognostic signal; an elastic-net Cox model
that keeps a handful ranks patients in the other centre better (on the simulated study, OS
C 0.725 against 0.711 for the model without it, trained in NJ and tested in WX).
:class:`LinearExpert` holds such a model's coefficients — OS and PFS log-risk, response
logit — as buffers, so it joins the modality
experts of :class:`~hccfusion.models.experts.ExpertsNet` as one more voting component and is
saved and reloaded with the weights like any net. The training layer fits it
(:func:`hccfusion.training.experts.fit_linear_expert`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hccfusion.errors import UsageError
from hccfusion.models.experts import COMBINED_OUTPUTS

__all__ = ["LinearExpert", "LinearOutput"]


@dataclass
class LinearOutput:
    """``risk`` (``"os"``, ``"pfs"`` → ``[B]`` log-risk) and ``response_logit`` ``[B]``; an
    output whose model could not be fitted is NaN (it does not vote)."""

    risk: dict[str, torch.Tensor]
    response_logit: torch.Tensor


class LinearExpert(nn.Module):
    """Linear predictors ``x · coef[k] + intercept[k]`` over one dense modality.

    Parameters
    ----------
    modality : str
        The modality whose preprocessed vector it reads (``batch[modality]``, ``[B, p]``).
    in_dim : int
        p.

    Attributes
    ----------
    coef : torch.Tensor
        ``[3, p]`` buffer, one row per combined output
        (:data:`~hccfusion.models.experts.COMBINED_OUTPUTS`: OS, PFS, response; 0 until
        fitted).
    intercept : torch.Tensor
        ``[3]`` buffer (the response logit's intercept; 0 for the log-risks).
    fitted : torch.Tensor
        ``[3]`` bool buffer; an output not fitted is NaN.
    """

    def __init__(self, *, modality: str, in_dim: int) -> None:
        super().__init__()
        if isinstance(in_dim, bool) or not isinstance(in_dim, int) or in_dim < 1:
            raise UsageError(f"The 'in_dim' parameter of LinearExpert must be an int >= 1. "
                             f"Got {in_dim!r} instead.")
        self.modalities = (str(modality),)
        self.in_dim = in_dim
        self.register_buffer("coef", torch.zeros(len(COMBINED_OUTPUTS), in_dim))
        self.register_buffer("intercept", torch.zeros(len(COMBINED_OUTPUTS)))
        self.register_buffer("fitted", torch.zeros(len(COMBINED_OUTPUTS), dtype=torch.bool))
        self.config = {"linear": {"modality": self.modalities[0], "in_dim": in_dim}}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LinearExpert:
        """Rebuild from :attr:`config` (``{"linear": {"modality": m, "in_dim": p}}``)."""
        spec = config.get("linear") if isinstance(config, Mapping) else None
        if not isinstance(spec, Mapping) or set(spec) != {"modality", "in_dim"}:
            raise UsageError("A linear expert config must be {'linear': {'modality': ..., "
                             f"'in_dim': ...}}. Got {config!r} instead.")
        return cls(modality=spec["modality"], in_dim=spec["in_dim"])

    def set_coefficients(self, output: str, coef: Any, intercept: float = 0.0) -> None:
        """Set one output's coefficients (``[p]``) and intercept, and mark it fitted."""
        if output not in COMBINED_OUTPUTS:
            raise UsageError(f"LinearExpert output must be one of {COMBINED_OUTPUTS}. Got "
                             f"{output!r} instead.")
        coef = torch.as_tensor(coef, dtype=self.coef.dtype).reshape(-1)
        if coef.shape[0] != self.in_dim or not bool(torch.isfinite(coef).all()):
            raise UsageError(f"LinearExpert.set_coefficients needs {self.in_dim} finite "
                             f"coefficients. Got {coef.shape[0]} instead.")
        k = COMBINED_OUTPUTS.index(output)
        self.coef[k] = coef
        self.intercept[k] = float(intercept)
        self.fitted[k] = True

    def forward(self, batch: Mapping[str, Any]) -> LinearOutput:
        name = self.modalities[0]
        x = batch.get(name) if isinstance(batch, Mapping) else None
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.in_dim:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise UsageError(f"LinearExpert needs batch['{name}'] of shape [B, {self.in_dim}]. "
                             f"Got {got} instead.")
        values = x.to(self.coef.dtype) @ self.coef.T + self.intercept         # [B, 3]
        values = torch.where(self.fitted[None, :], values,
                             torch.full_like(values, float("nan")))
        return LinearOutput(risk={"os": values[:, 0], "pfs": values[:, 1]},
                            response_logit=values[:, 2])
