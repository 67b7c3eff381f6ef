"""The shared MIL pooler base class and the mean-pooling baseline.

:class:`MilPooler` holds what every pooler shares — the input checks and the assembly of a
:class:`~hccfusion.models.mil.MilOutput` with per-slide attention shares — so a new pooler only
writes ``_pool``. :class:`MeanMil` is the simplest such pooler: a shared instance projection
followed by the average, the baseline every attention pooler should beat.
"""

from __future__ import annotations

import torch
from torch import nn

from hccfusion.errors import UsageError
from hccfusion.models.mil import MilOutput

__all__ = ["MilPooler", "MeanMil"]


class MilPooler(nn.Module):
    """Base class of the MIL poolers: a bag ``[N, in_dim]`` → :class:`MilOutput`.

    Subclasses set ``in_dim`` and ``out_dim`` and implement ``_pool(x, groups)`` returning
    ``(embedding [out_dim], attention [N])`` with ``attention`` non-negative and summing to 1.

    Several slides of a patient are one bag: their instances are concatenated and ``groups``
    holds each instance's slide index, so the pooler attends across slides.
    """

    in_dim: int
    out_dim: int

    def _pool(self, x: torch.Tensor, groups: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, *, groups: torch.Tensor | None = None) -> MilOutput:
        """Pool one bag.

        Parameters
        ----------
        x : torch.Tensor
            Shape ``[N, in_dim]``, N ≥ 1 instance embeddings (float).
        groups : torch.Tensor, optional
            Shape ``[N]``, integer slide index of each instance (any non-negative ids).

        Returns
        -------
        MilOutput
            ``embedding [out_dim]``, ``attention [N]`` (sums to 1) and, with ``groups``, the
            attention share of each slide.
        """
        name = type(self).__name__
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] < 1 \
                or x.shape[1] != self.in_dim:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise UsageError(f"The 'x' parameter of {name}.forward must be a tensor of shape "
                             f"[N >= 1, {self.in_dim}]. Got {got} instead.")
        if groups is not None:
            if not isinstance(groups, torch.Tensor) or groups.shape != (x.shape[0],) \
                    or groups.dtype.is_floating_point or bool((groups < 0).any()):
                got = tuple(groups.shape) if isinstance(groups, torch.Tensor) else groups
                raise UsageError(f"The 'groups' parameter of {name}.forward must be a "
                                 f"non-negative integer tensor of shape [{x.shape[0]}]. "
                                 f"Got {got} instead.")
            groups = groups.to(device=x.device, dtype=torch.long)
        embedding, attention = self._pool(x, groups)
        per_group = None
        if groups is not None:
            share = torch.zeros(int(groups.max()) + 1, dtype=attention.dtype,
                                device=attention.device).index_add(0, groups, attention)
            per_group = {int(g): share[int(g)] for g in torch.unique(groups).tolist()}
        return MilOutput(embedding=embedding, attention=attention, per_group=per_group)


class MeanMil(MilPooler):
    """Mean pooling: ``z = mean_i ReLU(W x_i + b)``; attention is uniform ``1/N``.

    Parameters
    ----------
    in_dim : int
        Instance feature dimension.
    hidden_dim : int
        Projection width; ``out_dim == hidden_dim``.
    dropout : float
        Dropout after the projection.
    """

    def __init__(self, *, in_dim: int, hidden_dim: int, dropout: float) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = hidden_dim
        self.project = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout))

    def _pool(self, x: torch.Tensor, groups: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.project(x)
        attention = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=h.dtype, device=h.device)
        return h.mean(dim=0), attention
