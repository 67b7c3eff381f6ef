"""Discrete-time survival bins fitted on the training patients: :class:`TimeBins`.

Quantiles of the training event times (Kvamme & Borgan 2021, Lifetime Data Anal. 27:710; the
pycox ``LabTransDiscreteTime`` "quantiles" scheme) or uniform edges. Re-exported from
:mod:`hccfusion.training.preprocess`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hccfusion.errors import DataError, UsageError, unknown_option
from hccfusion.training._frame_checks import FORMAT_VERSION, _check_kind, _floats, _not_fitted

__all__ = ["TIME_BIN_SCHEMES", "TimeBins"]

TIME_BIN_SCHEMES = ("quantile", "uniform")


class TimeBins:
    """Discrete-time survival bins fitted on training patients (no leakage of test times).

    ``scheme="quantile"``: the interior edges are the ``k / n_bins`` quantiles
    (``k = 1..n_bins-1``, linear interpolation) of the training patients' *event* times, so each
    bin holds about as many training events (Kvamme & Borgan 2021; pycox
    ``LabTransDiscreteTime(scheme="quantiles")``); censored times do not move them.
    ``scheme="uniform"``: equally spaced edges. Either way the first edge is 0 and the last is
    the largest training time (event or censored). Repeated edges (tied event times) are merged,
    so ``n_bins_`` can be smaller than ``n_bins``: build the head with ``n_bins_``.

    Bin ``k`` is the interval ``(edges_[k], edges_[k + 1]]`` (bin 0 also holds time 0): an
    event at exactly an edge falls in the bin that the edge closes. Times beyond the last edge
    go to the last bin.

    Attributes
    ----------
    edges_ : ndarray [n_bins_ + 1]
        Days, strictly increasing, ``edges_[0] == 0``.
    n_bins_ : int
    """

    def __init__(self, n_bins: int = 8, scheme: str = "quantile") -> None:
        self.n_bins = n_bins
        self.scheme = scheme

    def _check_params(self) -> None:
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, int) or self.n_bins < 1:
            raise UsageError(f"The 'n_bins' parameter of TimeBins must be an int >= 1. "
                             f"Got {self.n_bins!r} instead.")
        if self.scheme not in TIME_BIN_SCHEMES:
            raise unknown_option("time-bin scheme", str(self.scheme), TIME_BIN_SCHEMES)

    def fit(self, *, time: Sequence[float] | np.ndarray, event: Sequence[bool] | np.ndarray
            ) -> TimeBins:
        """Learn the edges from the training patients' survival.

        Parameters
        ----------
        time : array [n_patients]
            Days, finite, >= 0.
        event : array [n_patients]
            bool (True = event observed); 0/1 integers are accepted, nothing else.
        """
        self._check_params()
        time_arr = _times(time, "TimeBins.fit")
        event_arr = np.asarray(event)
        if event_arr.shape != time_arr.shape:
            raise UsageError(f"The 'event' parameter of TimeBins.fit must have one value per "
                             f"time ({time_arr.shape[0]}). Got shape {event_arr.shape} instead.")
        if event_arr.dtype != bool:
            if not np.isin(event_arr, (0, 1)).all():
                raise UsageError("The 'event' parameter of TimeBins.fit must be boolean "
                                 "(True = event) or 0/1. Got other values instead (e.g. R's "
                                 "1/2 status coding: convert it with status == 2).")
            event_arr = event_arr.astype(bool)
        if time_arr.size == 0 or time_arr.max() <= 0:
            raise DataError("TimeBins.fit: needs at least one training time > 0; got "
                            f"{time_arr.size} time(s), max {time_arr.max(initial=0.0)}.")
        last = float(time_arr.max())
        if self.scheme == "quantile":
            events = time_arr[event_arr]
            if events.size == 0:
                raise DataError("TimeBins.fit: the quantile scheme needs at least one event "
                                "among the training patients; got none. Use "
                                "scheme='uniform' or more patients.")
            probs = np.arange(1, self.n_bins) / self.n_bins
            interior = np.quantile(events, probs) if probs.size else np.zeros(0)
        else:
            interior = np.linspace(0.0, last, self.n_bins + 1)[1:-1]
        interior = interior[(interior > 0) & (interior < last)]
        self.edges_ = np.unique(np.concatenate([[0.0], interior, [last]]))
        self.n_bins_ = len(self.edges_) - 1
        return self

    def bin_index(self, time: Sequence[float] | np.ndarray) -> np.ndarray:
        """The bin of each time, int64 ``[n]`` in ``0..n_bins_-1``."""
        _not_fitted(self, "edges_")
        t = _times(time, "TimeBins.bin_index")
        index = np.searchsorted(self.edges_[1:-1], t, side="left")
        return np.minimum(index, self.n_bins_ - 1).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as a JSON-able dict (``kind`` "time_bins")."""
        _not_fitted(self, "edges_")
        return {"kind": "time_bins", "version": FORMAT_VERSION,
                "params": {"n_bins": self.n_bins, "scheme": self.scheme},
                "edges": _floats(self.edges_)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TimeBins:
        """Fitted bins from :meth:`to_dict`'s dict."""
        d = _check_kind(d, "time_bins", cls.__name__)
        try:
            self = cls(**d["params"])
            self._check_params()
            edges = np.asarray(d["edges"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"TimeBins.from_dict: the dict is incomplete or malformed "
                            f"({err!r}); write it with to_dict().") from err
        if edges.ndim != 1 or edges.size < 2 or edges[0] != 0 or np.any(np.diff(edges) <= 0):
            raise DataError(f"TimeBins.from_dict: the edges must start at 0 and increase "
                            f"strictly. Got {edges.tolist()} instead.")
        self.edges_, self.n_bins_ = edges, len(edges) - 1
        return self


def _times(time: object, where: str) -> np.ndarray:
    try:
        t = np.asarray(time, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise UsageError(f"The 'time' parameter of {where} must be numeric days. "
                         f"Got {type(time).__name__} that is not instead.") from err
    if t.ndim != 1:
        raise UsageError(f"The 'time' parameter of {where} must be 1-D [n]. "
                         f"Got shape {t.shape} instead.")
    if not np.isfinite(t).all() or (t < 0).any():
        raise DataError(f"The 'time' parameter of {where} must be finite days >= 0; "
                        f"got NaN, infinite or negative values at positions "
                        f"{np.flatnonzero(~np.isfinite(t) | (t < 0))[:5].tolist()}.")
    return t
