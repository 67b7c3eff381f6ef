"""The shared machinery of the risk-group cut-off estimators: the ``_Cutoff`` base class (fit
once on the development cohort, then frozen; ``transform`` applies the frozen values), the
registry of cut-off kinds, and the JSON form that carries a fitted cut-off through a model
bundle (``to_dict`` / :func:`cutoff_from_dict`, versioned by ``CUTOFF_FORMAT_VERSION``). The
concrete cut-offs live in :mod:`hccfusion.evaluation.cutoffs`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from hccfusion.errors import DataError, UsageError, unknown_option
from hccfusion.evaluation.cutoff_statistics import _check_survival, _RiskSets

__all__ = ["cutoff_from_dict", "CUTOFF_FORMAT_VERSION"]

CUTOFF_FORMAT_VERSION = 1


_REGISTRY: dict[str, type[_Cutoff]] = {}


class _Cutoff:
    """Shared fit/transform/serialise logic; subclasses implement ``_learn``."""

    kind: ClassVar[str]
    _param_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.kind] = cls

    # -- sklearn-style parameters
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {name: getattr(self, name) for name in self._param_names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitting
    def _learn(self, t: np.ndarray, e: np.ndarray, r: np.ndarray,
               rs: _RiskSets) -> tuple[np.ndarray, float, float]:
        raise NotImplementedError

    def fit(self, *, time: object, event: object, risk: object) -> _Cutoff:
        """Learn the cut-off(s) on the development (training) patients.

        Parameters
        ----------
        time
            Shape (n,), follow-up in days.
        event
            Shape (n,), True = event observed.
        risk
            Shape (n,), higher = worse.

        Returns
        -------
        self
            With ``cutoffs_``, ``labels_``, ``statistic_``, ``p_value_`` and ``n_train_``.

        Raises
        ------
        UsageError
            If this cut-off is already fitted: a frozen cut-off is never refitted (create a new
            instance for a new development cohort).
        """
        name = f"{type(self).__name__}.fit"
        if hasattr(self, "cutoffs_"):
            raise UsageError(f"{name}: this cut-off is already fitted and frozen "
                             f"(cutoffs {self.cutoffs_.tolist()}); never refit on another "
                             "cohort. Create a new instance to fit on new development data.")
        t, e, r = _check_survival(time, event, risk, name)
        if np.unique(r).size < 2:
            raise DataError(f"{name}: the risk score is constant; no split is possible.")
        rs = _RiskSets.build(t, e)
        cutoffs, stat, p = self._learn(t, e, r, rs)
        cutoffs = np.asarray(cutoffs, dtype=float)
        cutoffs.setflags(write=False)
        self.cutoffs_ = cutoffs
        self.labels_ = _labels_for(cutoffs.size + 1)
        self.statistic_ = float(stat)
        self.p_value_ = float(p)
        self.n_train_ = int(t.size)
        return self

    def _check_fitted(self, where: str) -> None:
        if not hasattr(self, "cutoffs_"):
            raise UsageError(f"{type(self).__name__}.{where}: this cut-off is not fitted yet; "
                             "call fit(time=..., event=..., risk=...) on the development "
                             "cohort first.")

    def transform(self, risk: object) -> np.ndarray:
        """Assign risk groups with the frozen cut-off(s).

        Parameters
        ----------
        risk
            Shape (n,), higher = worse; patients of any cohort.

        Returns
        -------
        numpy.ndarray
            Shape (n,), object dtype, labels from ``labels_`` (``risk <= cutoff`` → lower group).
        """
        self._check_fitted("transform")
        r = np.asarray(risk, dtype=float)
        if r.ndim != 1:
            raise UsageError(f"The 'risk' parameter of {type(self).__name__}.transform must be "
                             f"1-dimensional. Got shape {r.shape} instead.")
        if not np.all(np.isfinite(r)):
            raise DataError(f"The 'risk' parameter of {type(self).__name__}.transform contains "
                            "NaN or infinite values.")
        idx = np.searchsorted(self.cutoffs_, r, side="left")
        return np.asarray(self.labels_, dtype=object)[idx]

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the fitted cut-off (for the model bundle)."""
        self._check_fitted("to_dict")
        return {"format_version": CUTOFF_FORMAT_VERSION, "kind": self.kind,
                "params": self.get_params(), "cutoffs": [float(c) for c in self.cutoffs_],
                "labels": list(self.labels_), "statistic": self.statistic_,
                "p_value": self.p_value_, "n_train": self.n_train_}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> _Cutoff:
        """Rebuild a fitted, frozen cut-off from :meth:`to_dict` output."""
        obj = cutoff_from_dict(payload)
        if cls is not _Cutoff and not isinstance(obj, cls):
            raise UsageError(f"{cls.__name__}.from_dict got a '{payload.get('kind')}' cut-off; "
                             "use cutoff_from_dict to load any kind.")
        return obj


def _labels_for(k: int) -> tuple[str, ...]:
    if k == 2:
        return ("low", "high")
    if k == 3:
        return ("low", "intermediate", "high")
    return tuple(f"group_{i + 1}" for i in range(k))


def cutoff_from_dict(payload: dict[str, Any]) -> _Cutoff:
    """Rebuild any fitted cut-off from its :meth:`to_dict` form.

    Raises
    ------
    SchemaVersionError
        If the payload was written by another format version.
    UsageError
        If the kind is unknown or the payload is malformed.
    """
    from importlib import import_module

    from hccfusion.errors import SchemaVersionError

    import_module("hccfusion.evaluation.cutoffs")   # registers the built-in kinds

    if not isinstance(payload, dict):
        raise UsageError("cutoff_from_dict expects the dict written by to_dict(). "
                         f"Got {type(payload).__name__} instead.")
    version = payload.get("format_version")
    if version != CUTOFF_FORMAT_VERSION:
        raise SchemaVersionError(f"cut-off format_version {version!r} cannot be read; this "
                                 f"hccfusion reads version {CUTOFF_FORMAT_VERSION}.")
    kind = payload.get("kind")
    if kind not in _REGISTRY:
        raise unknown_option("cut-off kind", str(kind), tuple(_REGISTRY))
    try:
        obj = _REGISTRY[kind](**payload["params"])
        cutoffs = np.asarray(payload["cutoffs"], dtype=float)
        if cutoffs.ndim != 1 or np.any(np.diff(cutoffs) <= 0):
            raise ValueError("cut-offs must be strictly increasing")
        labels = tuple(str(x) for x in payload["labels"])
        if len(labels) != cutoffs.size + 1:
            raise ValueError("need one label more than cut-offs")
        cutoffs.setflags(write=False)
        obj.cutoffs_ = cutoffs
        obj.labels_ = labels
        obj.statistic_ = float(payload["statistic"])
        obj.p_value_ = float(payload["p_value"])
        obj.n_train_ = int(payload["n_train"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"cutoff_from_dict: malformed '{kind}' payload ({exc}).") from exc
    return obj
