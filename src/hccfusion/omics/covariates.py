"""Checks shared by every omics test that adjusts for covariates (centre, batch)."""

from __future__ import annotations

import pandas as pd

from hccfusion.errors import DataError

__all__ = ["covariates_for_samples"]


def covariates_for_samples(covariates: pd.DataFrame, samples: pd.Index) -> pd.DataFrame:
    """``covariates`` reindexed to ``samples``; every sample needs a value of every covariate,
    and every covariate needs two values or more (a constant cannot be adjusted for)."""
    missing = samples.difference(covariates.index)
    if len(missing):
        raise DataError(f"{len(missing)} sample(s) have no covariates (e.g. "
                        f"{', '.join(map(str, missing[:5]))}).")
    cov = covariates.reindex(samples)
    for name in cov.columns:
        if cov[name].isna().any():
            raise DataError(f"Covariate '{name}' is missing for sample "
                            f"{cov.index[cov[name].isna()][0]}; impute it or drop the sample.")
        if cov[name].nunique() < 2:
            raise DataError(f"Covariate '{name}' takes a single value; it cannot be adjusted for "
                            "(drop it from 'covariates').")
    return cov
