"""Attention tables: tidy, ranked attention-MIL weights (Ilse et al., ICML 2018) of one
patient's bag.

- :func:`attention_table` — the pathology tiles of a patient, with their slide and level-0
  coordinates.
- :func:`lesion_attention_table` — the imaging instances (lesion × phase) of a patient.

Both are re-exported by :mod:`hccfusion.mechanism.attribution`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

__all__ = ["attention_table", "lesion_attention_table"]


def _vector(data: object, name: str, owner: str, n: int | None = None) -> np.ndarray:
    if hasattr(data, "detach"):   # a torch tensor, without importing torch
        data = data.detach().cpu().numpy()  # type: ignore[union-attr]
    array = np.asarray(data)
    if array.ndim != 1 or (n is not None and array.shape[0] != n):
        want = f"[{n}]" if n is not None else "[N]"
        raise UsageError(f"The '{name}' parameter of {owner} must be 1-D {want} (one per "
                         f"instance). Got shape {array.shape} instead.")
    return array


def _ranked(patient_id: object, attention: object, columns: dict[str, object], owner: str,
            top_k: int | None) -> pd.DataFrame:
    att = _vector(attention, "attention", owner).astype(float)
    if not np.isfinite(att).all():
        raise DataError(f"patient {patient_id}: attention must be finite; instance(s) "
                        f"{np.flatnonzero(~np.isfinite(att))[:5].tolist()} are not.")
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise UsageError(f"The 'top_k' parameter of {owner} must be a positive integer or None. "
                         f"Got {top_k!r} instead.")
    order = np.argsort(-att, kind="stable")[:top_k]
    frame = pd.DataFrame({"patient_id": patient_id, "instance": order})
    for name, values in columns.items():
        frame[name] = np.asarray(values)[order]
    frame["attention"] = att[order]
    frame["rank"] = np.arange(1, len(order) + 1)
    return frame


def attention_table(*, patient_id: object, attention: object, slide_ids: Sequence[str],
                    slide_index: object, coords: object,
                    top_k: int | None = None) -> pd.DataFrame:
    """Tidy tile attention of one patient's pathology bag, ranked.

    Parameters
    ----------
    patient_id : str
        The patient.
    attention : array or tensor [N]
        Attention weight per instance (``MultimodalOutput.instance_attention[i]``).
    slide_ids : sequence of str
        The patient's slides (``PatientBag.slide_ids``).
    slide_index : array [N]
        Position in ``slide_ids`` of each instance's slide (``PatientBag.slide_index``).
    coords : array [N, >= 2]
        Level-0 (x, y) px of each tile's top-left corner in its slide (``PatientBag.coords``).
    top_k : int, optional
        Keep only the ``top_k`` highest-attention tiles of the patient.

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id, instance, slide_id, x, y, attention, rank``, by rank (1 = highest
        attention over all the patient's slides; ties keep instance order); ``instance`` is the
        position in the bag.
    """
    owner = "attention_table"
    att = _vector(attention, "attention", owner)
    n = att.shape[0]
    index = _vector(slide_index, "slide_index", owner, n)
    slides = np.asarray(list(slide_ids), dtype=object)
    if index.size and (not np.issubdtype(index.dtype, np.integer) or index.min() < 0
                       or index.max() >= len(slides)):
        raise DataError(f"patient {patient_id}: slide_index must be integers in [0, "
                        f"{len(slides)}) for slides {list(slides)}. Got values "
                        f"{np.unique(index)[:10].tolist()} instead.")
    xy = np.asarray(coords)
    if xy.ndim != 2 or xy.shape[0] != n or xy.shape[1] < 2:
        raise UsageError(f"The 'coords' parameter of {owner} must have shape [{n}, >= 2]. Got "
                         f"{xy.shape} instead.")
    return _ranked(patient_id, att, {"slide_id": slides[index.astype(np.int64)],
                                     "x": xy[:, 0], "y": xy[:, 1]}, owner, top_k)


def lesion_attention_table(*, patient_id: object, attention: object, lesion_ids: object,
                           phases: object | None = None,
                           top_k: int | None = None) -> pd.DataFrame:
    """Tidy attention of one patient's imaging lesion bag (instances = lesion × phase), ranked.

    Parameters
    ----------
    patient_id : str
        The patient.
    attention : array or tensor [N]
        Attention weight per instance.
    lesion_ids : array [N]
        ``lesion_id`` of each instance (the bag's per-instance column).
    phases : array [N], optional
        Contrast phase of each instance (e.g. "arterial", "portal_venous"); None if unknown.
    top_k : int, optional
        Keep only the ``top_k`` highest-attention instances.

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id, instance, lesion_id, phase, attention, rank``, by rank (1 =
        highest attention; ties keep instance order).
    """
    owner = "lesion_attention_table"
    n = _vector(attention, "attention", owner).shape[0]
    lesions = _vector(lesion_ids, "lesion_ids", owner, n)
    phase = np.full(n, None, dtype=object) if phases is None \
        else _vector(phases, "phases", owner, n)
    return _ranked(patient_id, attention, {"lesion_id": lesions, "phase": phase}, owner, top_k)
