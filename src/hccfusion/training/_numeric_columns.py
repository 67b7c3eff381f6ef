"""Numeric column reading and scaling shared by the fitted preprocessors.

Owns turning frame columns into float64 arrays (text and infinite values are a
:class:`~hccfusion.errors.DataError` naming the patients), the ``log1p`` transform with its
non-negativity check, and the ddof-0 standardisation used by
:class:`~hccfusion.training.tabular_preprocessor.TabularPreprocessor` and
:class:`~hccfusion.training.vector_preprocessor.VectorPreprocessor`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hccfusion.errors import DataError


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
    """Several columns as float64 ``[n, len(columns)]``: the numeric-dtype columns in one
    vectorised read (radiomics tables have ~1,000 columns; one patient's clinical row is
    scored in a fraction of a millisecond), the others through :func:`_numeric`."""
    columns = list(columns)
    block = frame[columns]
    fast = np.array([pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
                     for t in block.dtypes], dtype=bool)
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    if fast.any():
        out[:, fast] = block.iloc[:, np.flatnonzero(fast)].to_numpy(dtype=np.float64,
                                                                     na_value=np.nan)
        inf = np.isinf(out[:, fast])
        if inf.any():
            i, j = np.argwhere(inf)[0]
            column = columns[np.flatnonzero(fast)[j]]
            raise DataError(f"{where}: column '{column}' holds infinite values for patient "
                            f"{frame.index[i]!r}; set them to NaN (missing) or to a finite value.")
    for j in np.flatnonzero(~fast):
        out[:, j] = _numeric(frame, columns[j], where)
    return out


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
