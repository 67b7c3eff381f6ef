"""The fitted numeric-matrix preprocessor: :class:`VectorPreprocessor`.

Owns the radiomics / omics matrix → float matrix estimator (drop sparse and constant columns,
optional variance cap, clipping to the training quantiles, median imputation, standardisation,
optional PCA) and its exact JSON round trip. Re-exported from :mod:`hccfusion.training.preprocess`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.training._frame_checks import (
    FORMAT_VERSION,
    _check_frame,
    _check_kind,
    _floats,
    _not_fitted,
    _require_columns,
    _require_rows,
)
from hccfusion.training._numeric_columns import _numeric_block, _standardise

__all__ = ["VectorPreprocessor"]


class VectorPreprocessor:
    """A numeric feature matrix (radiomics, pathway scores) → standardised, optionally
    PCA-reduced float matrix.

    In order: drop columns missing in more than ``max_missing`` of the training rows; drop
    columns whose training variance (ddof 0, observed values) is <= ``variance_threshold``;
    optionally keep the ``max_features`` columns of highest training variance (meaningful when
    the columns share a scale, e.g. pathway scores; ties keep the earlier column); clip every
    value to the ``clip_quantile`` and ``1 − clip_quantile`` quantiles of the column's observed
    training values (winsorising: one extreme value — PyRadiomics writes NGTDM coarseness as 10⁶
    for a homogeneous region — would otherwise dominate the standardised scale and everything
    a linear layer makes of that patient; the default 0 clips to the training range, so nothing
    is extrapolated beyond what the model was fitted on); median-impute; standardise (mean / sd
    of the imputed training values); optionally project onto the first ``pca`` principal
    components of the standardised training matrix (Pearson 1901; computed by
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
    lower_, upper_ : ndarray [len(kept_)] or None
        The clipping bounds (None when ``clip_quantile`` is None).
    medians_, means_, scales_ : ndarray [len(kept_)]
    components_ : ndarray [pca, len(kept_)] or None
    explained_variance_ratio_ : ndarray [pca] or None
    feature_names_out_ : list of str
        ``kept_`` or ``["pc1", ..., "pc<pca>"]``.
    transform_report_ : dict
        Set by ``transform``: ``{"imputed_values": n, "clipped_values": n,
        "all_missing_rows": [patient_id, ...]}``.
    """

    def __init__(self, max_missing: float = 0.2, variance_threshold: float = 1e-8,
                 max_features: int | None = None, pca: int | None = None,
                 clip_quantile: float | None = 0.0) -> None:
        self.max_missing = max_missing
        self.clip_quantile = clip_quantile
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
        q = self.clip_quantile
        if q is not None and (isinstance(q, bool) or not isinstance(q, int | float)
                              or not 0 <= q < 0.5):
            raise UsageError(f"The 'clip_quantile' parameter of {where} must be a float in "
                             f"[0, 0.5) or None. Got {q!r} instead.")
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
        lower = upper = None
        if self.clip_quantile is not None:
            lower, upper = (np.array([np.quantile(c[~np.isnan(c)], q) for c in kept.T])
                            for q in (self.clip_quantile, 1.0 - self.clip_quantile))
            kept = np.clip(kept, lower, upper)
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
        self.lower_, self.upper_ = lower, upper
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
        clipped = 0
        if self.lower_ is not None:
            clipped = int(((x < self.lower_) | (x > self.upper_)).sum())
            x = np.clip(x, self.lower_, self.upper_)
        x = np.where(missing, self.medians_[None, :], x)
        z = (x - self.means_) / self.scales_
        if self.components_ is not None:
            z = z @ self.components_.T
        self.transform_report_ = {"imputed_values": int(missing.sum()), "clipped_values": clipped,
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
                       "max_features": self.max_features, "pca": self.pca,
                       "clip_quantile": self.clip_quantile},
            "columns_in": list(self.columns_in_), "kept": list(self.kept_),
            "dropped": {k: list(v) for k, v in self.dropped_.items()},
            "clip": None if self.lower_ is None else {"lower": _floats(self.lower_),
                                                      "upper": _floats(self.upper_)},
            "median": _floats(self.medians_), "mean": _floats(self.means_),
            "scale": _floats(self.scales_), "pca": pca,
            "feature_names_out": list(self.feature_names_out_),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VectorPreprocessor:
        """A fitted preprocessor from :meth:`to_dict`'s dict."""
        d = _check_kind(d, "vector", cls.__name__)
        try:
            # a dict written before clipping existed clips nothing
            self = cls(**{"clip_quantile": None, **d["params"]})
            self._check_params()
            self.columns_in_ = list(d["columns_in"])
            self.kept_ = list(d["kept"])
            self.dropped_ = {k: list(v) for k, v in d["dropped"].items()}
            clip = d.get("clip")
            self.lower_, self.upper_ = (None, None) if clip is None else (
                np.asarray(clip["lower"], dtype=np.float64),
                np.asarray(clip["upper"], dtype=np.float64))
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
        if self.lower_ is not None and not len(self.lower_) == len(self.upper_) == n:
            raise DataError(f"VectorPreprocessor.from_dict: {n} kept columns but "
                            f"{len(self.lower_)} lower and {len(self.upper_)} upper clipping "
                            "bounds; the dict was edited or corrupted.")
        if (self.clip_quantile is None) != (self.lower_ is None):
            raise DataError("VectorPreprocessor.from_dict: 'clip_quantile' and the clipping "
                            "bounds disagree; the dict was edited or corrupted.")
        if not (len(self.medians_) == len(self.means_) == len(self.scales_) == n):
            raise DataError(f"VectorPreprocessor.from_dict: {n} kept columns but "
                            f"{len(self.medians_)} medians, {len(self.means_)} means and "
                            f"{len(self.scales_)} scales; the dict was edited or corrupted.")
        self.feature_names_out_ = self._names()
        return self
