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

The estimators live in :mod:`hccfusion.training.tabular_preprocessor`,
:mod:`hccfusion.training.vector_preprocessor`, :mod:`hccfusion.training.category_codes` and
:mod:`hccfusion.training.time_bins`, with the shared checks in
:mod:`hccfusion.training._frame_checks` and the numeric column helpers in
:mod:`hccfusion.training._numeric_columns`; this module re-exports the four classes and owns
the dispatch from a ``to_dict()`` payload back to its estimator.

Frames passed to ``fit`` / ``transform`` are indexed by ``patient_id``; columns the estimator was
not fitted on are ignored, a column it was fitted on that is missing is a :class:`DataError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hccfusion.errors import DataError, unknown_option
from hccfusion.training import tabular_preprocessor as _tabular
from hccfusion.training import time_bins as _time_bins
from hccfusion.training.category_codes import CategoryEncoder  # re-exported
from hccfusion.training.tabular_preprocessor import TabularPreprocessor  # re-exported
from hccfusion.training.time_bins import TimeBins  # re-exported
from hccfusion.training.vector_preprocessor import VectorPreprocessor  # re-exported

__all__ = ["TabularPreprocessor", "VectorPreprocessor", "CategoryEncoder", "TimeBins",
           "Preprocessor", "preprocessor_from_dict"]

#: Re-exported from :mod:`hccfusion.training.time_bins`.
TIME_BIN_SCHEMES = _time_bins.TIME_BIN_SCHEMES
#: Re-exported from :mod:`hccfusion.training.tabular_preprocessor`.
OTHER = _tabular.OTHER


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
