"""Treatment categories to integer codes for embedding layers: :class:`CategoryEncoder`.

Re-exported from :mod:`hccfusion.training.preprocess`.
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

__all__ = ["CategoryEncoder"]


class CategoryEncoder:
    """Categorical columns → integer codes for embedding layers.

    Each column's training levels (sorted by name) get the codes ``1..k``; code 0 is shared by
    missing values and levels unseen in training. ``cardinalities_`` counts the 0 code
    (``k + 1``), so it is the ``num_embeddings`` of the column's embedding table. The values 1,
    1.0 and "1" are the same level.

    Attributes
    ----------
    levels_ : dict[str, list[str]]
    cardinalities_ : list of int
        ``len(levels_[c]) + 1`` per column, in ``columns`` order.
    feature_names_out_ : list of str
    transform_report_ : dict
        Set by ``transform``: ``{"unknown_levels": {col: {level: n}}, "missing": {col: n}}``.
    """

    def __init__(self, columns: Sequence[str] = ()) -> None:
        self.columns = columns

    def fit(self, frame: pd.DataFrame) -> CategoryEncoder:
        """Learn each column's levels from the training patients."""
        columns = _check_columns_param(self.columns, "columns", "CategoryEncoder")
        if not columns:
            raise UsageError("The 'columns' parameter of CategoryEncoder must name at least "
                             "one column. Got [] instead.")
        where = "CategoryEncoder.fit"
        frame = _check_frame(frame, where)
        _require_columns(frame, columns, where)
        _require_rows(frame, where)
        self.columns_ = columns
        self.levels_ = {c: sorted({v for v in _categories(frame, c) if v is not None})
                        for c in columns}
        self._derive()
        return self

    def _derive(self) -> None:
        self.cardinalities_ = [len(self.levels_[c]) + 1 for c in self.columns_]
        self.feature_names_out_ = list(self.columns_)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Codes, int64 ``[n_patients, len(columns)]`` (0 = unknown / missing)."""
        _not_fitted(self, "cardinalities_")
        where = "CategoryEncoder.transform"
        frame = _check_frame(frame, where)
        _require_columns(frame, self.columns_, where)
        out = np.zeros((len(frame), len(self.columns_)), dtype=np.int64)
        unknown: dict[str, dict[str, int]] = {}
        missing: dict[str, int] = {}
        for j, col in enumerate(self.columns_):
            code = {level: i + 1 for i, level in enumerate(self.levels_[col])}
            for row, value in enumerate(_categories(frame, col)):
                if value is None:
                    missing[col] = missing.get(col, 0) + 1
                elif value in code:
                    out[row, j] = code[value]
                else:
                    seen = unknown.setdefault(col, {})
                    seen[value] = seen.get(value, 0) + 1
        self.transform_report_ = {"unknown_levels": unknown, "missing": missing}
        return out

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        """``fit(frame).transform(frame)``."""
        return self.fit(frame).transform(frame)

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as a JSON-able dict (``kind`` "category")."""
        _not_fitted(self, "cardinalities_")
        return {"kind": "category", "version": FORMAT_VERSION,
                "params": {"columns": list(self.columns_)},
                "levels": {c: list(self.levels_[c]) for c in self.columns_},
                "cardinalities": list(self.cardinalities_)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CategoryEncoder:
        """A fitted encoder from :meth:`to_dict`'s dict."""
        d = _check_kind(d, "category", cls.__name__)
        try:
            self = cls(**d["params"])
            self.columns_ = _check_columns_param(self.columns, "columns", "CategoryEncoder")
            self.levels_ = {c: [str(v) for v in d["levels"][c]] for c in self.columns_}
        except (KeyError, TypeError) as err:
            raise DataError(f"CategoryEncoder.from_dict: the dict is incomplete or malformed "
                            f"({err!r}); write it with to_dict().") from err
        self._derive()
        return self
