"""Fitted preprocessing of the tabular modalities, the treatment codes and the survival time bins.

Every class here is an estimator in the scikit-learn sense (habit 3: fitted on training patients
only): ``__init__`` stores its arguments, ``fit`` learns the attributes that end in ``_`` and
returns ``self``, ``transform`` applies them. ``to_dict()`` gives a JSON-able dict (no pickle)
that ``from_dict`` (or :func:`preprocessor_from_dict`, dispatching on ``"kind"``) turns back into
an estimator whose ``transform`` is identical to the original's, bit for bit.

- :class:`TabularPreprocessor` — clinical variables: ``log1p`` of skewed columns, median
  imputation with missing indicators, standardisation, clipping; one-hot categoricals.
- :class:`VectorPreprocessor` — radiomics / omics matrices: drop sparse and constant columns,
  median imputation, standardisation, optional PCA.
- :class:`CategoryEncoder` — treatment categories to integer codes (0 = unknown / missing) for
  embedding layers.
- :class:`TimeBins` — discrete-time survival bins at the quantiles of the training event times
  (Kvamme & Borgan 2021, "Continuous and discrete-time survival prediction with neural networks",
  Lifetime Data Anal. 27:710; the pycox ``LabTransDiscreteTime`` "quantiles" scheme).

:class:`CategoryEncoder` lives in :mod:`hccfusion.training.category_codes`, :class:`TimeBins` in
:mod:`hccfusion.training.time_bins` and the shared checks in
:mod:`hccfusion.training._frame_checks`; both classes are re-exported here.

Frames passed to ``fit`` / ``transform`` are indexed by ``patient_id``; columns the estimator was
not fitted on are ignored, a column it was fitted on that is missing is a :class:`DataError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option
from hccfusion.training import time_bins as _time_bins
from hccfusion.training._frame_checks import (
    FORMAT_VERSION,
    _categories,
    _check_columns_param,
    _check_frame,
    _check_kind,
    _floats,
    _not_fitted,
    _require_columns,
    _require_rows,
)
from hccfusion.training.category_codes import CategoryEncoder  # re-exported
from hccfusion.training.time_bins import TimeBins  # re-exported

__all__ = ["TabularPreprocessor", "VectorPreprocessor", "CategoryEncoder", "TimeBins",
           "Preprocessor", "preprocessor_from_dict"]

#: Re-exported from :mod:`hccfusion.training.time_bins`.
TIME_BIN_SCHEMES = _time_bins.TIME_BIN_SCHEMES
OTHER = "other"
_MISSING_SUFFIX = "__missing"


# --------------------------------------------------------------------------- numeric helpers

def _numeric(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """A column as float64 with NaN for missing; text or infinite values are a DataError."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        who = list(frame.index[bad.to_numpy()][:5])
        raise DataError(f"{where}: column '{column}' must be numeric; patient(s) {who} hold "
                        f"{list(raw[bad].iloc[:5])!r}. Convert the values or set them to NaN.")
    out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    inf = np.isinf(out)
    if inf.any():
        who = list(frame.index[inf][:5])
        raise DataError(f"{where}: column '{column}' holds infinite values for patient(s) "
                        f"{who}; set them to NaN (missing) or to a finite value.")
    return out


def _numeric_block(frame: pd.DataFrame, columns: Sequence[str], where: str) -> np.ndarray:
    """Several columns as float64 ``[n, len(columns)]``; numeric dtypes take one vectorised
    path (radiomics tables have ~1,000 columns), others go through :func:`_numeric`."""
    block = frame[list(columns)]
    if all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
           for t in block.dtypes):
        out = block.to_numpy(dtype=np.float64, na_value=np.nan)
        inf = np.isinf(out)
        if inf.any():
            i, j = np.argwhere(inf)[0]
            raise DataError(f"{where}: column '{columns[j]}' holds infinite values for patient "
                            f"{frame.index[i]!r}; set them to NaN (missing) or to a finite value.")
        return out
    return np.column_stack([_numeric(frame, c, where) for c in columns])


def _log1p(values: np.ndarray, column: str, index: pd.Index, where: str) -> np.ndarray:
    negative = values < 0
    if negative.any():
        raise DataError(f"{where}: column '{column}' is log-transformed (log1p) and must be "
                        f">= 0; patient(s) {list(index[negative][:5])} hold "
                        f"{values[negative][:5].tolist()}. Remove it from 'log' or fix the "
                        f"values.")
    return np.log1p(values)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (ddof 0); a zero deviation becomes 1."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


# --------------------------------------------------------------------------- tabular

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
        for col in self.numeric_:
            x = _numeric(frame, col, where)
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


# --------------------------------------------------------------------------- vector

class VectorPreprocessor:
    """A numeric feature matrix (radiomics, pathway scores) → standardised, optionally
    PCA-reduced float matrix.

    In order: drop columns missing in more than ``max_missing`` of the training rows; drop
    columns whose training variance (ddof 0, observed values) is <= ``variance_threshold``;
    optionally keep the ``max_features`` columns of highest training variance (meaningful when
    the columns share a scale, e.g. pathway scores; ties keep the earlier column); median-impute;
    standardise (mean / sd of the imputed training values); optionally project onto the first
    ``pca`` principal components of the standardised training matrix (Pearson 1901; computed by
    SVD, each component's sign fixed so its largest-magnitude loading is positive).

    Rows are patients with the modality; patients without it are not passed (the availability
    mask covers them).

    Attributes
    ----------
    columns_in_ : list of str
        The training columns (all numeric).
    kept_ : list of str
        Columns kept after the filters, in training order.
    dropped_ : dict[str, list[str]]
        ``{"missing": [...], "variance": [...], "max_features": [...]}``.
    medians_, means_, scales_ : ndarray [len(kept_)]
    components_ : ndarray [pca, len(kept_)] or None
    explained_variance_ratio_ : ndarray [pca] or None
    feature_names_out_ : list of str
        ``kept_`` or ``["pc1", ..., "pc<pca>"]``.
    transform_report_ : dict
        Set by ``transform``: ``{"imputed_values": n, "all_missing_rows": [patient_id, ...]}``.
    """

    def __init__(self, max_missing: float = 0.2, variance_threshold: float = 1e-8,
                 max_features: int | None = None, pca: int | None = None) -> None:
        self.max_missing = max_missing
        self.variance_threshold = variance_threshold
        self.max_features = max_features
        self.pca = pca

    def _check_params(self) -> None:
        where = "VectorPreprocessor"
        if isinstance(self.max_missing, bool) or not isinstance(self.max_missing, int | float) \
                or not 0 <= self.max_missing <= 1:
            raise UsageError(f"The 'max_missing' parameter of {where} must be a float in "
                             f"[0, 1]. Got {self.max_missing!r} instead.")
        if isinstance(self.variance_threshold, bool) \
                or not isinstance(self.variance_threshold, int | float) \
                or not self.variance_threshold >= 0:
            raise UsageError(f"The 'variance_threshold' parameter of {where} must be a float "
                             f">= 0. Got {self.variance_threshold!r} instead.")
        for name in ("max_features", "pca"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise UsageError(f"The '{name}' parameter of {where} must be an int >= 1 or "
                                 f"None. Got {value!r} instead.")

    def fit(self, frame: pd.DataFrame) -> VectorPreprocessor:
        """Learn the kept columns, medians, scales (and PCA) from the training patients.

        Parameters
        ----------
        frame : DataFrame [n_patients, n_features]
            Every column is a feature; indexed by ``patient_id``.
        """
        self._check_params()
        where = "VectorPreprocessor.fit"
        # column names as text, so that the fitted state is JSON and transform finds them
        frame = _check_frame(frame, where).rename(columns=str)
        _require_rows(frame, where)
        columns = list(frame.columns)
        if len(set(columns)) != len(columns):
            raise DataError(f"{where}: the frame has duplicate column names; make them unique.")
        x = _numeric_block(frame, columns, where) \
            if columns else np.zeros((len(frame), 0))
        missing_share = np.isnan(x).mean(axis=0)
        too_sparse = missing_share > self.max_missing
        with warnings.catch_warnings():        # an all-missing column has no variance
            warnings.simplefilter("ignore", RuntimeWarning)
            variance = np.nanvar(np.where(too_sparse[None, :], 0.0, x), axis=0)
        variance = np.nan_to_num(variance, nan=0.0)
        constant = ~too_sparse & (variance <= self.variance_threshold)
        keep = ~too_sparse & ~constant
        capped = np.zeros_like(keep)
        if self.max_features is not None and keep.sum() > self.max_features:
            candidates = np.flatnonzero(keep)
            # stable sort on -variance: ties keep the earlier column
            order = candidates[np.argsort(-variance[candidates], kind="stable")]
            capped[order[self.max_features:]] = True
            keep &= ~capped
        if not keep.any():
            raise DataError(f"{where}: no column is left of {len(columns)} "
                            f"({int(too_sparse.sum())} missing in > {self.max_missing:.0%} of "
                            f"the {len(frame)} training rows, {int(constant.sum())} with "
                            f"variance <= {self.variance_threshold}); loosen 'max_missing' / "
                            f"'variance_threshold' or check the features.")
        kept = x[:, keep]
        medians = np.array([np.median(c[~np.isnan(c)]) for c in kept.T])
        kept = np.where(np.isnan(kept), medians[None, :], kept)
        means, scales = _standardise(kept)
        components = ratio = None
        if self.pca is not None:
            z = (kept - means) / scales
            if self.pca > min(z.shape):
                raise DataError(f"{where}: pca={self.pca} components need at least that many "
                                f"training rows and kept columns; got {z.shape[0]} rows and "
                                f"{z.shape[1]} columns. Lower 'pca'.")
            _, s, vt = np.linalg.svd(z, full_matrices=False)
            pivot = np.argmax(np.abs(vt), axis=1)
            vt = vt * np.sign(vt[np.arange(len(vt)), pivot])[:, None]
            power = s ** 2
            components = vt[: self.pca]
            ratio = power[: self.pca] / power.sum() if power.sum() > 0 else \
                np.zeros(self.pca)
        self.columns_in_ = columns
        self.kept_ = [c for c, k in zip(columns, keep, strict=True) if k]
        self.dropped_ = {"missing": [c for c, d in zip(columns, too_sparse, strict=True) if d],
                         "variance": [c for c, d in zip(columns, constant, strict=True) if d],
                         "max_features": [c for c, d in zip(columns, capped, strict=True) if d]}
        self.medians_, self.means_, self.scales_ = medians, means, scales
        self.components_, self.explained_variance_ratio_ = components, ratio
        self.feature_names_out_ = self._names()
        return self

    def _names(self) -> list[str]:
        if self.components_ is None:
            return list(self.kept_)
        return [f"pc{i + 1}" for i in range(len(self.components_))]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The preprocessed matrix, float32 ``[n_patients, len(feature_names_out_)]``."""
        _not_fitted(self, "feature_names_out_")
        where = "VectorPreprocessor.transform"
        frame = _check_frame(frame, where).rename(columns=str)
        _require_columns(frame, self.kept_, where)
        x = _numeric_block(frame, self.kept_, where)
        missing = np.isnan(x)
        x = np.where(missing, self.medians_[None, :], x)
        z = (x - self.means_) / self.scales_
        if self.components_ is not None:
            z = z @ self.components_.T
        self.transform_report_ = {"imputed_values": int(missing.sum()),
                                  "all_missing_rows": list(frame.index[missing.all(axis=1)])}
        return z.astype(np.float32)

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        """``fit(frame).transform(frame)``."""
        return self.fit(frame).transform(frame)

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as a JSON-able dict (``kind`` "vector")."""
        _not_fitted(self, "feature_names_out_")
        pca = None
        if self.components_ is not None:
            pca = {"components": [_floats(row) for row in self.components_],
                   "explained_variance_ratio": _floats(self.explained_variance_ratio_)}
        return {
            "kind": "vector", "version": FORMAT_VERSION,
            "params": {"max_missing": self.max_missing,
                       "variance_threshold": self.variance_threshold,
                       "max_features": self.max_features, "pca": self.pca},
            "columns_in": list(self.columns_in_), "kept": list(self.kept_),
            "dropped": {k: list(v) for k, v in self.dropped_.items()},
            "median": _floats(self.medians_), "mean": _floats(self.means_),
            "scale": _floats(self.scales_), "pca": pca,
            "feature_names_out": list(self.feature_names_out_),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VectorPreprocessor:
        """A fitted preprocessor from :meth:`to_dict`'s dict."""
        d = _check_kind(d, "vector", cls.__name__)
        try:
            self = cls(**d["params"])
            self._check_params()
            self.columns_in_ = list(d["columns_in"])
            self.kept_ = list(d["kept"])
            self.dropped_ = {k: list(v) for k, v in d["dropped"].items()}
            self.medians_ = np.asarray(d["median"], dtype=np.float64)
            self.means_ = np.asarray(d["mean"], dtype=np.float64)
            self.scales_ = np.asarray(d["scale"], dtype=np.float64)
            pca = d["pca"]
            self.components_ = None if pca is None else \
                np.asarray(pca["components"], dtype=np.float64).reshape(-1, len(self.kept_))
            self.explained_variance_ratio_ = None if pca is None else \
                np.asarray(pca["explained_variance_ratio"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"VectorPreprocessor.from_dict: the dict is incomplete or "
                            f"malformed ({err!r}); write it with to_dict().") from err
        n = len(self.kept_)
        if not (len(self.medians_) == len(self.means_) == len(self.scales_) == n):
            raise DataError(f"VectorPreprocessor.from_dict: {n} kept columns but "
                            f"{len(self.medians_)} medians, {len(self.means_)} means and "
                            f"{len(self.scales_)} scales; the dict was edited or corrupted.")
        self.feature_names_out_ = self._names()
        return self


# --------------------------------------------------------------------------- category codes


# --------------------------------------------------------------------------- dispatch

_KINDS: dict[str, type] = {"tabular": TabularPreprocessor, "vector": VectorPreprocessor,
                           "category": CategoryEncoder, "time_bins": TimeBins}


Preprocessor = TabularPreprocessor | VectorPreprocessor | CategoryEncoder | TimeBins


def preprocessor_from_dict(d: Mapping[str, Any]) -> Preprocessor:
    """A fitted preprocessor from any ``to_dict()`` dict, by its ``"kind"`` key
    ("tabular", "vector", "category", "time_bins")."""
    if not isinstance(d, Mapping) or "kind" not in d:
        raise DataError("preprocessor_from_dict needs a dict with a 'kind' key, as written by "
                        f"a preprocessor's to_dict(). Got {type(d).__name__} without one.")
    kind = d["kind"]
    if kind not in _KINDS:
        error = unknown_option("preprocessor kind", str(kind), tuple(_KINDS))
        raise DataError(str(error))
    return _KINDS[kind].from_dict(d)
