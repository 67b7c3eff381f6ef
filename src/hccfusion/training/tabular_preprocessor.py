"""The fitted clinical-variable preprocessor: :class:`TabularPreprocessor`.

Owns the clinical table → float matrix estimator (``log1p``, median imputation with missing
indicators, standardisation, clipping, one-hot categoricals with rare levels pooled into
"other") and its exact JSON round trip. Re-exported from :mod:`hccfusion.training.preprocess`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.training._frame_checks import (
    FORMAT_VERSION,
    _categories,
    _check_columns_param,
    _check_frame,
    _check_kind,
    _not_fitted,
    _require_columns,
    _require_rows,
)
from hccfusion.training._numeric_columns import _log1p, _numeric, _numeric_block, _standardise

__all__ = ["OTHER", "TabularPreprocessor"]

OTHER = "other"
_MISSING_SUFFIX = "__missing"


class TabularPreprocessor:
    """Clinical variables → a standardised float matrix with missing indicators and one-hot
    categoricals.

    Numeric columns, in order: optional ``log1p`` (the columns in ``log``; values must be
    >= 0), median imputation, standardisation with the mean and standard deviation (ddof 0) of
    the *imputed* training values (a constant column gets scale 1), clipping to ``±clip_z``.
    A column that had at least one missing training value gets a missing-indicator column
    (``<col>__missing``, 1.0 = was missing); a value missing at transform time in a column
    without an indicator is imputed and counted in ``transform_report_``.

    Categorical columns: one-hot over the training levels (``<col>=<level>``); levels seen fewer
    than ``min_count`` times in training are pooled into ``<col>=other``. A level never seen in
    training gives an all-zero row (counted in ``transform_report_``). Missing values give an
    all-zero row plus, if the column had missing training values, ``<col>__missing`` = 1. The
    values 1, 1.0 and "1" are the same level.

    Parameters
    ----------
    numeric, categorical : list of str
        Column names; disjoint.
    log : list of str
        Numeric columns to ``log1p`` before anything else (skewed labs: AFP, CRP, ...).
    clip_z : float or None
        Standardised values are clipped to ``[-clip_z, clip_z]``; None keeps them.
    min_count : int
        Rarer training levels are pooled into "other" (1 = no pooling).

    Attributes
    ----------
    medians_, means_, scales_ : dict[str, float]
        Per numeric column, on the (log) scale the model sees.
    indicators_ : list of str
        Columns (numeric or categorical) with a missing indicator.
    levels_ : dict[str, list[str]]
        Training levels kept per categorical column (sorted), without "other".
    pooled_ : dict[str, list[str]]
        Rare training levels pooled into "other".
    feature_names_out_ : list of str
        The output columns, in order: per numeric column its value then its indicator; per
        categorical column its levels, "other", then its indicator.
    transform_report_ : dict
        Set by ``transform``: ``{"imputed_without_indicator": {col: n}, "unknown_levels":
        {col: {level: n}}}``.
    """

    def __init__(self, numeric: Sequence[str] = (), categorical: Sequence[str] = (),
                 log: Sequence[str] = (), clip_z: float | None = 5.0, min_count: int = 1) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.log = log
        self.clip_z = clip_z
        self.min_count = min_count

    def _check_params(self) -> tuple[list[str], list[str], list[str]]:
        where = "TabularPreprocessor"
        numeric = _check_columns_param(self.numeric, "numeric", where)
        categorical = _check_columns_param(self.categorical, "categorical", where)
        log = _check_columns_param(self.log, "log", where)
        both = sorted(set(numeric) & set(categorical))
        if both:
            raise UsageError(f"The 'numeric' and 'categorical' parameters of {where} must be "
                             f"disjoint. Got {both} in both instead.")
        if not numeric and not categorical:
            raise UsageError(f"{where} needs at least one column in 'numeric' or "
                             f"'categorical'. Got none.")
        stray = [c for c in log if c not in numeric]
        if stray:
            raise UsageError(f"The 'log' parameter of {where} must list numeric columns only. "
                             f"Got {stray}, not in 'numeric', instead.")
        if self.clip_z is not None and (isinstance(self.clip_z, bool)
                                        or not isinstance(self.clip_z, int | float)
                                        or not self.clip_z > 0):
            raise UsageError(f"The 'clip_z' parameter of {where} must be a float > 0 or None. "
                             f"Got {self.clip_z!r} instead.")
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int) \
                or self.min_count < 1:
            raise UsageError(f"The 'min_count' parameter of {where} must be an int >= 1. "
                             f"Got {self.min_count!r} instead.")
        return numeric, categorical, log

    def fit(self, frame: pd.DataFrame) -> TabularPreprocessor:
        """Learn medians, means, scales, indicators and levels from the training patients.

        Parameters
        ----------
        frame : DataFrame [n_patients, ...]
            The training patients' raw variables, indexed by ``patient_id``.
        """
        numeric, categorical, log = self._check_params()
        where = "TabularPreprocessor.fit"
        frame = _check_frame(frame, where)
        _require_columns(frame, numeric + categorical, where)
        _require_rows(frame, where)
        medians, means, scales, indicators = {}, {}, {}, []
        for col in numeric:
            x = _numeric(frame, col, where)
            if col in log:
                x = _log1p(x, col, frame.index, where)
            observed = ~np.isnan(x)
            if not observed.any():
                raise DataError(f"{where}: numeric column '{col}' has no observed value in the "
                                f"{len(frame)} training patients, so it cannot be imputed or "
                                f"scaled; remove it from 'numeric'.")
            median = float(np.median(x[observed]))
            x = np.where(observed, x, median)
            mean, scale = _standardise(x[:, None])
            medians[col], means[col], scales[col] = median, float(mean[0]), float(scale[0])
            if not observed.all():
                indicators.append(col)
        levels, pooled = {}, {}
        for col in categorical:
            values = _categories(frame, col)
            counts = pd.Series([v for v in values if v is not None], dtype=object).value_counts()
            keep = sorted(str(k) for k, n in counts.items() if n >= self.min_count)
            levels[col] = keep
            pooled[col] = sorted(str(k) for k, n in counts.items() if n < self.min_count)
            if any(v is None for v in values):
                indicators.append(col)
        self.numeric_ = numeric
        self.categorical_ = categorical
        self.log_ = log
        self.medians_, self.means_, self.scales_ = medians, means, scales
        self.indicators_ = indicators
        self.levels_, self.pooled_ = levels, pooled
        self.feature_names_out_ = self._names()
        return self

    def _names(self) -> list[str]:
        names = []
        for col in self.numeric_:
            names.append(col)
            if col in self.indicators_:
                names.append(col + _MISSING_SUFFIX)
        for col in self.categorical_:
            names += [f"{col}={level}" for level in self.levels_[col]]
            if self.pooled_[col]:
                names.append(f"{col}={OTHER}")
            if col in self.indicators_:
                names.append(col + _MISSING_SUFFIX)
        return names

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The preprocessed matrix, float32 ``[n_patients, len(feature_names_out_)]``, rows in
        the frame's order."""
        _not_fitted(self, "feature_names_out_")
        where = "TabularPreprocessor.transform"
        frame = _check_frame(frame, where)
        _require_columns(frame, self.numeric_ + self.categorical_, where)
        blocks: list[np.ndarray] = []
        imputed: dict[str, int] = {}
        unknown: dict[str, dict[str, int]] = {}
        # one vectorised read of every numeric column (per column only for non-numeric dtypes)
        numeric = _numeric_block(frame, self.numeric_, where) if self.numeric_ else None
        for j, col in enumerate(self.numeric_):
            x = numeric[:, j]
            if col in self.log_:
                x = _log1p(x, col, frame.index, where)
            missing = np.isnan(x)
            z = (np.where(missing, self.medians_[col], x) - self.means_[col]) / self.scales_[col]
            if self.clip_z is not None:
                z = np.clip(z, -self.clip_z, self.clip_z)
            blocks.append(z[:, None])
            if col in self.indicators_:
                blocks.append(missing.astype(np.float64)[:, None])
            elif missing.any():
                imputed[col] = int(missing.sum())
        for col in self.categorical_:
            values = _categories(frame, col)
            levels = self.levels_[col]
            pooled = set(self.pooled_[col])
            width = len(levels) + bool(pooled)
            onehot = np.zeros((len(values), width))
            position = {level: i for i, level in enumerate(levels)}
            for row, value in enumerate(values):
                if value is None:
                    continue
                if value in position:
                    onehot[row, position[value]] = 1.0
                elif value in pooled:
                    onehot[row, width - 1] = 1.0
                else:
                    seen = unknown.setdefault(col, {})
                    seen[value] = seen.get(value, 0) + 1
            blocks.append(onehot)
            missing = np.array([v is None for v in values], dtype=bool)
            if col in self.indicators_:
                blocks.append(missing.astype(np.float64)[:, None])
            elif missing.any():
                imputed[col] = int(missing.sum())
        self.transform_report_ = {"imputed_without_indicator": imputed,
                                  "unknown_levels": unknown}
        out = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(frame), 0))
        return out.astype(np.float32)

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        """``fit(frame).transform(frame)``."""
        return self.fit(frame).transform(frame)

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as a JSON-able dict (``kind`` "tabular")."""
        _not_fitted(self, "feature_names_out_")
        return {
            "kind": "tabular", "version": FORMAT_VERSION,
            "params": {"numeric": list(self.numeric_), "categorical": list(self.categorical_),
                       "log": list(self.log_), "clip_z": self.clip_z,
                       "min_count": self.min_count},
            "numeric": [{"column": c, "log": c in self.log_, "median": self.medians_[c],
                         "mean": self.means_[c], "scale": self.scales_[c],
                         "indicator": c in self.indicators_} for c in self.numeric_],
            "categorical": [{"column": c, "levels": list(self.levels_[c]),
                             "pooled": list(self.pooled_[c]),
                             "indicator": c in self.indicators_} for c in self.categorical_],
            "feature_names_out": list(self.feature_names_out_),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TabularPreprocessor:
        """A fitted preprocessor from :meth:`to_dict`'s dict."""
        d = _check_kind(d, "tabular", cls.__name__)
        try:
            self = cls(**d["params"])
            self.numeric_, self.categorical_ = self._check_params()[:2]
            self.log_ = [e["column"] for e in d["numeric"] if e["log"]]
            self.medians_ = {e["column"]: float(e["median"]) for e in d["numeric"]}
            self.means_ = {e["column"]: float(e["mean"]) for e in d["numeric"]}
            self.scales_ = {e["column"]: float(e["scale"]) for e in d["numeric"]}
            self.indicators_ = [e["column"] for e in d["numeric"] + d["categorical"]
                                if e["indicator"]]
            self.levels_ = {e["column"]: list(e["levels"]) for e in d["categorical"]}
            self.pooled_ = {e["column"]: list(e["pooled"]) for e in d["categorical"]}
        except (KeyError, TypeError) as err:
            raise DataError(f"TabularPreprocessor.from_dict: the dict is incomplete or "
                            f"malformed ({err!r}); write it with to_dict().") from err
        self.feature_names_out_ = self._names()
        if self.feature_names_out_ != list(d.get("feature_names_out", [])):
            raise DataError("TabularPreprocessor.from_dict: the stored feature_names_out do not "
                            "match the stored columns and levels; the dict was edited or "
                            "corrupted.")
        return self
