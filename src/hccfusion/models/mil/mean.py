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

__all__ = ["MilPooler", "MeanMil", "segment_softmax"]


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

    @property
    def has_flat_pool(self) -> bool:
        """True when the pooler pools a batch of bags as one concatenated matrix (its result
        does not depend on the slide groups)."""
        return type(self)._pool_flat is not MilPooler._pool_flat

    def pool_batch(self, bags: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Pool several non-empty bags at once: ``(embeddings [B, out_dim], attention list)``.

        Equal to calling the pooler on each bag; poolers whose attention is computed per
        instance (ABMIL, mean) override :meth:`_pool_flat` to run the whole batch as one
        concatenated matrix, which is what makes training on many small biopsy bags fast.
        """
        if not bags:
            raise UsageError("pool_batch needs at least one bag")
        sizes = [int(b.shape[0]) for b in bags]
        if min(sizes) < 1 or any(b.ndim != 2 or b.shape[1] != self.in_dim for b in bags):
            raise UsageError(f"The bags passed to {type(self).__name__}.pool_batch must be "
                             f"non-empty tensors of shape [N, {self.in_dim}].")
        if not self.has_flat_pool:
            outs = [self._pool(b, None) for b in bags]
            return torch.stack([e for e, _ in outs]), [a for _, a in outs]
        x = torch.cat(bags)
        segment = torch.repeat_interleave(torch.arange(len(bags), device=x.device),
                                          torch.as_tensor(sizes, device=x.device))
        embedding, attention = self._pool_flat(x, segment, len(bags))
        return embedding, list(torch.split(attention, sizes))

    def _pool_flat(self, x: torch.Tensor, segment: torch.Tensor, n_bags: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Instances of many bags ``x [ΣN, in_dim]`` with their bag index ``segment`` →
        ``(embeddings [n_bags, out_dim], attention [ΣN])`` (attention sums to 1 per bag)."""
        raise NotImplementedError


def segment_softmax(logits: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Softmax of ``logits [T]`` within each segment (``segment [T]`` in ``0..n_segments-1``)."""
    top = torch.full((n_segments,), float("-inf"), dtype=logits.dtype, device=logits.device)
    top = top.scatter_reduce(0, segment, logits.detach(), reduce="amax", include_self=True)
    e = torch.exp(logits - top[segment])
    total = torch.zeros(n_segments, dtype=e.dtype, device=e.device).index_add(0, segment, e)
    return e / total[segment]


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

    def _pool_flat(self, x: torch.Tensor, segment: torch.Tensor, n_bags: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.project(x)
        count = torch.zeros(n_bags, dtype=h.dtype, device=h.device) \
            .index_add(0, segment, torch.ones_like(segment, dtype=h.dtype))
        attention = 1.0 / count[segment]
        pooled = torch.zeros((n_bags, h.shape[1]), dtype=h.dtype, device=h.device) \
            .index_add(0, segment, h * attention[:, None])
        return pooled, attention
