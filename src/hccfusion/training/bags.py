"""Patient-level bags assembled from a feature store: all slides of a patient in one bag.

The patient is the unit (STYLE.md habit 14): a patient's slide bags are concatenated, in
``bag_id`` order, into one :class:`PatientBag` whose ``slide_index`` says which slide each
instance came from (the ``groups`` a MIL pooler takes), so attention pooling weighs the tiles
of all the patient's slides against each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

__all__ = ["PatientBag", "patient_bags"]

MANIFEST_COLUMNS: tuple[str, ...] = ("bag_id", "patient_id", "path", "status")


@dataclass(frozen=True)
class PatientBag:
    """The instances of all slides of one patient.

    Attributes
    ----------
    patient_id : str
        Pseudonymous patient id.
    features : numpy.ndarray
        Shape ``[N, d]``, float32 instance embeddings, slide after slide.
    slide_index : numpy.ndarray
        Shape ``[N]``, int64, position in ``slide_ids`` of each instance's slide.
    slide_ids : tuple of str
        The bag ids (slide ids) that make up the patient bag, in ``bag_id`` order.
    coords : numpy.ndarray
        Shape ``[N, 2]``, int64 level-0 (x, y) px of each tile's top-left corner in its own
        slide (for pathology bags).
    """

    patient_id: str
    features: np.ndarray
    slide_index: np.ndarray
    slide_ids: tuple[str, ...]
    coords: np.ndarray

    def __post_init__(self) -> None:
        n = self.features.shape[0]
        if self.features.ndim != 2 or self.slide_index.shape != (n,) \
                or self.coords.shape[0] != n:
            raise DataError(f"patient {self.patient_id}: bag arrays disagree — features "
                            f"{self.features.shape}, slide_index {self.slide_index.shape}, "
                            f"coords {self.coords.shape}; expected [N, d], [N], [N, 2].")

    @property
    def n_instances(self) -> int:
        """Number of instances N."""
        return int(self.features.shape[0])

    def slide(self, slide_id: str) -> np.ndarray:
        """Boolean mask ``[N]`` of the instances that come from ``slide_id``."""
        if slide_id not in self.slide_ids:
            raise UsageError(f"The 'slide_id' parameter of PatientBag.slide must be one of the "
                             f"patient's slides {list(self.slide_ids)}. Got {slide_id!r} "
                             f"instead.")
        return self.slide_index == self.slide_ids.index(slide_id)


def patient_bags(manifest: pd.DataFrame, *, store_dir: Path | str) -> dict[str, PatientBag]:
    """Read a feature store's bags, grouped by patient.

    Parameters
    ----------
    manifest : pandas.DataFrame
        The store's manifest (``FeatureStore.manifest()`` / ``read_manifest``), with at least
        the columns ``bag_id``, ``patient_id``, ``path`` (relative to ``store_dir``) and
        ``status``. Only rows with status ``'ok'`` are read.
    store_dir : path-like
        The store folder the manifest paths are relative to.

    Returns
    -------
    dict of str to PatientBag
        ``patient_id`` → bag, in sorted ``patient_id`` order. Slide bags with no instance (no
        tissue tile) are skipped; a patient left with no instance is omitted.

    Raises
    ------
    hccfusion.errors.UsageError
        If ``manifest`` is not a DataFrame or lacks a required column.
    hccfusion.errors.DataError
        If a bag's features are not 2-D, its coords do not match them, or feature widths
        differ between bags (naming the patient and the bag).
    """
    from hccfusion.io.feature_store import read_bag

    if not isinstance(manifest, pd.DataFrame):
        raise UsageError(f"The 'manifest' parameter of patient_bags must be a pandas DataFrame. "
                         f"Got {type(manifest).__name__} instead.")
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise UsageError(f"The 'manifest' parameter of patient_bags must have the columns "
                         f"{list(MANIFEST_COLUMNS)}. Got {list(manifest.columns)} instead "
                         f"(missing {missing}).")
    store_dir = Path(store_dir)
    ok = manifest[manifest["status"] == "ok"].sort_values(["patient_id", "bag_id"])
    bags: dict[str, PatientBag] = {}
    width: int | None = None
    for patient_id, rows in ok.groupby("patient_id", sort=True):
        features, coords, index, slide_ids = [], [], [], []
        for row in rows.itertuples(index=False):
            bag = read_bag(store_dir / str(row.path))
            feats = np.asarray(bag.features, dtype=np.float32)
            xy = np.asarray(bag.coords)
            if feats.ndim != 2 or xy.ndim != 2 or xy.shape[0] != feats.shape[0] \
                    or xy.shape[1] < 2:
                raise DataError(f"patient {patient_id}, bag {row.bag_id}: features "
                                f"{feats.shape} and coords {xy.shape} must be [n, d] and "
                                f"[n, >= 2].")
            if feats.shape[0] == 0:
                continue
            if width is not None and feats.shape[1] != width:
                raise DataError(f"patient {patient_id}, bag {row.bag_id}: feature width "
                                f"{feats.shape[1]} differs from the other bags' {width}; "
                                f"a store holds one encoder.")
            width = feats.shape[1]
            index.append(np.full(feats.shape[0], len(slide_ids), dtype=np.int64))
            slide_ids.append(str(row.bag_id))
            features.append(feats)
            coords.append(xy[:, :2].astype(np.int64))
        if not slide_ids:
            continue
        bags[str(patient_id)] = PatientBag(
            patient_id=str(patient_id), features=np.concatenate(features),
            slide_index=np.concatenate(index), slide_ids=tuple(slide_ids),
            coords=np.concatenate(coords))
    return bags


def bag_dim(bags: Mapping[str, PatientBag]) -> int:
    """The common feature width ``d`` of ``bags`` (DataError if they disagree or are empty)."""
    dims = {b.features.shape[1] for b in bags.values()}
    if len(dims) != 1:
        raise DataError(f"the bags must share one feature width and be non-empty. "
                        f"Got widths {sorted(dims)} instead.")
    return dims.pop()
