"""LC-MS metabolomics preprocessing: QC-RSD / missingness filter, half-minimum imputation, PQN,
log + Pareto scaling, PCA and a volcano-ready univariate table (domain.md §8.3).

Every step that learns something from the data is an estimator (``fit`` → attributes ending in
``_``, ``transform``), so it is fitted on the training (or pooled-QC) samples only and applied
unchanged to new samples (STYLE habit 3). Tables are samples × features: index = ``sample_id``,
columns = feature ids, values = linear peak areas, NaN = not detected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

__all__ = ["check_intensities", "qc_rsd", "FeatureFilter", "HalfMinimumImputer",
           "PQNNormalizer", "LogParetoScaler", "PCAResult", "pca", "volcano_table"]


def check_intensities(intensities: pd.DataFrame, *, name: str = "intensities",
                      allow_empty: bool = False) -> np.ndarray:
    """Validate a peak table and return it as a float array.

    ``allow_empty`` accepts features missing in every sample (pooled QCs, where a NaN RSD then
    drops them).

    Raises
    ------
    UsageError
        Not a DataFrame, or duplicated sample ids / feature ids.
    DataError
        A negative or infinite intensity (names the sample and feature) or a feature that is
        missing in every sample.
    """
    if not isinstance(intensities, pd.DataFrame):
        raise UsageError(f"The '{name}' parameter must be a pandas DataFrame (rows = samples, "
                         f"columns = features). Got {type(intensities).__name__} instead.")
    if not intensities.index.is_unique:
        dup = intensities.index[intensities.index.duplicated()][0]
        raise DataError(f"sample_id '{dup}' appears more than once in '{name}'.")
    if not intensities.columns.is_unique:
        dup = intensities.columns[intensities.columns.duplicated()][0]
        raise DataError(f"feature '{dup}' appears more than once in '{name}'.")
    try:
        x = intensities.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"'{name}' must hold numeric peak areas ({exc}).") from None
    bad = np.argwhere(np.isinf(x) | (x < 0))
    if bad.size:
        i, j = bad[0]
        raise DataError(f"sample_id '{intensities.index[i]}', feature '{intensities.columns[j]}': "
                        f"intensity {float(x[i, j])!r} is negative or infinite; peak areas "
                        "must be >= 0 (NaN = not detected). Check the export / baseline "
                        "correction.")
    empty = np.flatnonzero(np.isnan(x).all(axis=0))
    if empty.size and not allow_empty:
        raise DataError(f"feature '{intensities.columns[empty[0]]}' is missing (NaN) in every "
                        f"sample of '{name}' ({empty.size} such features); drop it before "
                        "preprocessing.")
    return x


def qc_rsd(qc_intensities: pd.DataFrame) -> pd.Series:
    """Relative standard deviation of every feature over the pooled-QC injections.

    ``RSD = SD / mean`` (sample SD, ``ddof=1``, ignoring NaN), as a fraction (0.3 = 30 %);
    Broadhurst et al. (2018) Metabolomics 14:72. NaN where fewer than 2 QC values exist.
    """
    x = check_intensities(qc_intensities, name="qc_intensities", allow_empty=True)
    import warnings

    n = (~np.isnan(x)).sum(axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN QC columns → NaN RSD
        sd = np.nanstd(x, axis=0, ddof=1) if x.shape[0] > 1 else np.full(x.shape[1], np.nan)
        rsd = np.where(n >= 2, sd / np.nanmean(x, axis=0), np.nan)
    return pd.Series(rsd, index=qc_intensities.columns, name="qc_rsd")


class FeatureFilter:
    """Drop features with a high pooled-QC RSD or too many missing values (domain.md §8.3).

    Parameters
    ----------
    max_qc_rsd : float or None
        Largest QC RSD kept (fraction; default 0.30). Features with fewer than 2 QC values are
        dropped when this is set. None skips the QC filter.
    max_missing : float
        Largest share of missing values over the training samples (default 0.5).
    max_missing_group : float or None
        If set (e.g. 0.2), a feature is also kept when its missing share is at most this value
        in at least one group (the "80 % rule" of Bijlsma et al., 2006, Anal Chem 78:567).

    Attributes
    ----------
    keep_ : pandas.Index  — kept features; ``report_`` : DataFrame per feature (``qc_rsd``,
    ``missing_share``, ``kept``, ``reason``: ``all_missing``, ``qc_rsd``, ``missing`` or empty).
    A feature missing in every sample is always dropped (reason ``all_missing``); the later
    steps refuse such a feature with a named :class:`DataError`.
    """

    def __init__(self, *, max_qc_rsd: float | None = 0.30, max_missing: float = 0.5,
                 max_missing_group: float | None = None) -> None:
        self.max_qc_rsd = max_qc_rsd
        self.max_missing = max_missing
        self.max_missing_group = max_missing_group

    def fit(self, intensities: pd.DataFrame, *, qc: pd.DataFrame | None = None,
            groups: pd.Series | None = None) -> FeatureFilter:
        for label, value in (("max_missing", self.max_missing),
                             ("max_qc_rsd", self.max_qc_rsd),
                             ("max_missing_group", self.max_missing_group)):
            if value is None and label != "max_missing":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise UsageError(f"The '{label}' parameter of FeatureFilter must be a number "
                                 f">= 0. Got {value!r} instead.")
        x = check_intensities(intensities, allow_empty=True)
        missing = pd.Series(np.isnan(x).mean(axis=0), index=intensities.columns)
        keep_missing = missing <= self.max_missing
        if self.max_missing_group is not None:
            if groups is None:
                raise UsageError("The 'groups' parameter of FeatureFilter.fit is required when "
                                 "max_missing_group is set. Got None instead.")
            g = groups.reindex(intensities.index)
            per_group = intensities.isna().groupby(g.to_numpy()).mean()
            keep_missing = keep_missing | (per_group <= self.max_missing_group).any(axis=0)
        rsd = pd.Series(np.nan, index=intensities.columns)
        keep_rsd = pd.Series(True, index=intensities.columns)
        if self.max_qc_rsd is not None:
            if qc is None:
                raise UsageError("The 'qc' parameter of FeatureFilter.fit must be the pooled-QC "
                                 "peak table when max_qc_rsd is set. Got None instead.")
            rsd = qc_rsd(qc.reindex(columns=intensities.columns))
            keep_rsd = rsd <= self.max_qc_rsd
        reason = np.where(missing >= 1.0, "all_missing", np.where(
            ~keep_rsd, "qc_rsd", np.where(~keep_missing, "missing", "")))
        keep_missing &= missing < 1.0
        self.report_ = pd.DataFrame({"feature": intensities.columns, "qc_rsd": rsd.to_numpy(),
                                     "missing_share": missing.to_numpy(),
                                     "kept": (keep_rsd & keep_missing).to_numpy(),
                                     "reason": reason})
        self.keep_ = intensities.columns[self.report_["kept"].to_numpy()]
        if len(self.keep_) == 0:
            raise DataError("every feature failed the QC-RSD / missingness filter; check the QC "
                            "injections or loosen max_qc_rsd / max_missing.")
        return self

    def transform(self, intensities: pd.DataFrame) -> pd.DataFrame:
        absent = self.keep_.difference(intensities.columns)
        if len(absent):
            raise DataError(f"feature '{absent[0]}' was kept at fit but is absent now.")
        return intensities.loc[:, self.keep_]


class HalfMinimumImputer:
    """Replace a missing value by half the smallest observed value of its feature.

    Missing LC-MS values are mostly below the detection limit (missing not at random), so a
    value below every observed one is used (Wei et al., 2018, Sci Rep 8:663, who find
    half-minimum adequate for left-censored data). The minima are learned at ``fit``.

    Attributes
    ----------
    fill_ : pandas.Series — the value imputed per feature (half the training minimum).
    """

    def fit(self, intensities: pd.DataFrame) -> HalfMinimumImputer:
        x = check_intensities(intensities)
        self.fill_ = pd.Series(np.nanmin(x, axis=0) / 2.0, index=intensities.columns,
                               name="fill")
        return self

    def transform(self, intensities: pd.DataFrame) -> pd.DataFrame:
        check_intensities(intensities)
        return intensities.loc[:, self.fill_.index].fillna(self.fill_)


class PQNNormalizer:
    """Probabilistic quotient normalisation (Dieterle et al., 2006, Anal Chem 78:4281).

    Each sample is divided by the median, over features, of its quotients to a reference
    spectrum; the reference is the feature-wise median of the samples given to ``fit``
    (training or pooled-QC samples). Values must be complete (impute first) and positive.
    Dieterle's optional preceding integral (total-area) normalisation is not applied: the
    median quotient alone removes the dilution factor.

    Attributes
    ----------
    reference_ : pandas.Series — the reference spectrum.
    """

    def fit(self, intensities: pd.DataFrame) -> PQNNormalizer:
        x = _complete_positive(intensities, "PQNNormalizer.fit")
        self.reference_ = pd.Series(np.median(x, axis=0), index=intensities.columns,
                                    name="reference")
        return self

    def dilution_factors(self, intensities: pd.DataFrame) -> pd.Series:
        """Per-sample median quotient to the reference (the factor each sample is divided by)."""
        x = _complete_positive(intensities.loc[:, self.reference_.index],
                               "PQNNormalizer.transform")
        factor = np.median(x / self.reference_.to_numpy(), axis=1)
        return pd.Series(factor, index=intensities.index, name="dilution_factor")

    def transform(self, intensities: pd.DataFrame) -> pd.DataFrame:
        factor = self.dilution_factors(intensities)
        return intensities.loc[:, self.reference_.index].div(factor, axis=0)


class LogParetoScaler:
    """``log_base(x)`` then Pareto scaling: centre by the mean, divide by the square root of the
    SD (van den Berg et al., 2006, BMC Genomics 7:142).

    Attributes
    ----------
    mean_, scale_ : pandas.Series — per-feature mean and sqrt(SD) of the log values at fit.
    """

    def __init__(self, *, base: float = 2.0, pareto: bool = True) -> None:
        self.base = base
        self.pareto = pareto

    def _log(self, intensities: pd.DataFrame, where: str) -> pd.DataFrame:
        x = _complete_positive(intensities, where)
        return pd.DataFrame(np.log(x) / np.log(self.base), index=intensities.index,
                            columns=intensities.columns)

    def fit(self, intensities: pd.DataFrame) -> LogParetoScaler:
        if isinstance(self.base, bool) or not isinstance(self.base, (int, float)) or \
                self.base <= 1:
            raise UsageError(f"The 'base' parameter of LogParetoScaler must be a number > 1. "
                             f"Got {self.base!r} instead.")
        logged = self._log(intensities, "LogParetoScaler.fit")
        self.mean_ = logged.mean(axis=0)
        sd = logged.std(axis=0, ddof=1)
        self.scale_ = np.sqrt(sd).where(sd > 0, 1.0) if self.pareto else \
            pd.Series(1.0, index=logged.columns)
        return self

    def transform(self, intensities: pd.DataFrame) -> pd.DataFrame:
        logged = self._log(intensities.loc[:, self.mean_.index], "LogParetoScaler.transform")
        return (logged - self.mean_) / self.scale_


def _complete_positive(intensities: pd.DataFrame, where: str) -> np.ndarray:
    x = check_intensities(intensities)
    nan = np.argwhere(np.isnan(x) | (x <= 0))
    if nan.size:
        i, j = nan[0]
        raise DataError(f"{where}: sample_id '{intensities.index[i]}', feature "
                        f"'{intensities.columns[j]}' is {float(x[i, j])!r}; values must be "
                        "positive and complete (impute missing values first).")
    return x


@dataclass(frozen=True)
class PCAResult:
    """Principal components of a scaled table.

    Attributes
    ----------
    scores : DataFrame (samples × ``PC1``…); loadings : DataFrame (features × ``PC1``…);
    explained_variance_ratio : Series (``PC1``… → share of total variance).
    """

    scores: pd.DataFrame
    loadings: pd.DataFrame
    explained_variance_ratio: pd.Series


def pca(scaled: pd.DataFrame, *, n_components: int = 2) -> PCAResult:
    """PCA by singular value decomposition of the column-centred table (Jolliffe, 2002).

    Parameters
    ----------
    scaled : pandas.DataFrame, shape (n_samples, n_features)
        Complete, already scaled values (e.g. from :class:`LogParetoScaler`).
    n_components : int
        Number of components (1 ≤ k ≤ min(n_samples, n_features)).
    """
    if not isinstance(scaled, pd.DataFrame):
        raise UsageError(f"The 'scaled' parameter of pca must be a pandas DataFrame. "
                         f"Got {type(scaled).__name__} instead.")
    x = scaled.to_numpy(dtype=float)
    if np.isnan(x).any():
        raise DataError("pca needs a complete table; impute missing values first.")
    k_max = min(x.shape)
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or \
            not 1 <= n_components <= k_max:
        raise UsageError(f"The 'n_components' parameter of pca must be an integer in "
                         f"[1, {k_max}]. Got {n_components!r} instead.")
    xc = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    sign = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])  # deterministic signs
    u, vt = u * sign, vt * sign[:, None]
    names = [f"PC{i + 1}" for i in range(n_components)]
    var = s ** 2
    return PCAResult(
        scores=pd.DataFrame(u[:, :n_components] * s[:n_components], index=scaled.index,
                            columns=names),
        loadings=pd.DataFrame(vt[:n_components].T, index=scaled.columns, columns=names),
        explained_variance_ratio=pd.Series(var[:n_components] / var.sum(), index=names,
                                           name="explained_variance_ratio"))


def volcano_table(normalised: pd.DataFrame, groups: pd.Series, *, order: tuple[str, str],
                  test: str = "wilcoxon", vip: pd.Series | None = None,
                  q_max: float = 0.05, min_abs_log2_fc: float = 0.585,
                  min_vip: float = 1.0) -> pd.DataFrame:
    """Univariate tests with BH q-values and a volcano-ready table (domain.md §8.3).

    Runs :func:`hccfusion.omics.multiple_testing.compare_groups` on the normalised (linear,
    imputed, PQN) intensities, so ``log2_fc = log2(mean_b / mean_a)`` for ``order = (a, b)``.
    Adds ``neg_log10_q``, the optional ``vip`` and ``differential`` (q < ``q_max``,
    |log2 FC| ≥ ``min_abs_log2_fc`` and, when ``vip`` is given, VIP > ``min_vip``).
    A group with fewer than 3 samples gives status ``too_few_samples`` (not tested).
    """
    from hccfusion.omics.multiple_testing import compare_groups

    check_intensities(normalised, name="normalised")
    table = compare_groups(normalised, groups, test=test, order=order)
    with np.errstate(divide="ignore"):
        table["neg_log10_q"] = -np.log10(table["q"].to_numpy(float))
    sig = (table["q"] < q_max) & (table["log2_fc"].abs() >= min_abs_log2_fc)
    if vip is not None:
        table["vip"] = vip.reindex(table["feature"]).to_numpy(float)
        sig &= table["vip"] > min_vip
    table["differential"] = sig.fillna(False).astype(bool)
    return table
