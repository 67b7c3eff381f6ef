"""The feature store: one HDF5 bag per slide (pathology) or per patient (imaging), plus a
manifest indexed by patient.

Layout::

    <root>/<modality>/<encoder>/<spec>/<bag_id>.h5
    <root>/<modality>/<encoder>/<spec>/failures.json     what could not be extracted, and why
    <root>/<modality>/<encoder>/<spec>/manifest.parquet  one row per bag (ok or failed)

A bag holds the datasets ``features`` (n, d) float32 and ``coords`` (n, k) at the file's root —
the layout CLAM and TRIDENT write, so their files can be read here and ours there — and, under
the group ``instances``, one 1-D dataset per per-instance column (lesion id, phase, slide index …).
Root attributes carry the provenance: format version, package version, encoder id, weight hash,
mpp or spacing, tile size, source file, creation time.

Bags are written atomically (a temporary file renamed into place), so a bag that exists is
complete: an interrupted run resumes by skipping what :meth:`FeatureStore.done` reports.

Example
-------
>>> store = FeatureStore("features", modality="pathology", encoder="hcc_stats",
...                      spec="mpp0.50-px224")  # doctest: +SKIP
>>> store.write("WX-0001-B1", patient_id="WX-0001", features=f, coords=xy,
...             provenance={"target_mpp": 0.5})  # doctest: +SKIP
>>> store.write_manifest()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hccfusion.errors import DataError, SchemaVersionError, UsageError
from hccfusion.io.atomic import atomic_write, atomic_write_parquet, atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

BAG_FORMAT_VERSION = 1
"""Version of the bag layout written here; readers refuse a newer one."""

MODALITIES = ("pathology", "imaging", "omics", "clinical")
MANIFEST_FILE = "manifest.parquet"
FAILURES_FILE = "failures.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")
#: Provenance keys the store sets itself; a caller cannot override them.
_RESERVED = ("format_version", "package_version", "created_at", "bag_id", "patient_id")


def _check_name(what: str, value: object, owner: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or value in (".", ".."):
        raise UsageError(f"The '{what}' parameter of {owner} must be a non-empty name of letters, "
                         f"digits and . _ + = - (it becomes a file or folder name). Got {value!r} instead.")
    return value


@dataclass(frozen=True, eq=False)
class Bag:
    """One bag read back.

    Attributes
    ----------
    path : pathlib.Path
        The HDF5 file.
    features : numpy.ndarray
        float32 (n, d): one row per instance (tile, lesion × phase).
    coords : numpy.ndarray
        (n, k): level-0 (x, y) px for tiles, (x, y, z) mm for lesions.
    provenance : dict
        Root attributes; ``source_format`` is ``"clam"`` for a file without our format version.
    instances : dict of str to numpy.ndarray
        Per-instance columns (length n); strings decoded to ``str``.
    """

    path: Path
    features: np.ndarray
    coords: np.ndarray
    provenance: dict[str, Any]
    instances: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_instances(self) -> int:
        return int(self.features.shape[0])


def _attr_value(value: object) -> object:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    raise UsageError(f"provenance values must be str, int, float, bool, None, list, tuple or dict; "
                     f"got {type(value).__name__}.")


def _decode(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_bag(path: str | Path, *, features: np.ndarray, coords: np.ndarray,
              provenance: Mapping[str, object],
              instances: Mapping[str, np.ndarray] | None = None) -> Path:
    """Write one bag atomically.

    Parameters
    ----------
    path
        Target ``.h5`` file; its folder is created.
    features
        (n, d) instance features; stored as float32. ``n`` may be 0 only with ``d`` known.
    coords
        (n, k) instance coordinates (level-0 px, or mm for volumes).
    provenance
        What produced the features: encoder, weights_sha256, target_mpp or spacing_mm, tile_px,
        source file … (scalars; lists and dicts are stored as JSON text).
    instances
        Per-instance columns, each of length n (numbers or strings).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    UsageError
        Shapes that disagree, a non-finite feature, or a reserved provenance key.
    """
    clash = [k for k in provenance if k in _RESERVED]
    if clash:
        raise UsageError(f"provenance keys {clash} are set by the feature store itself.")
    return _write(Path(path), features, coords, dict(provenance), instances)


def _write(path: Path, features: np.ndarray, coords: np.ndarray, attrs: dict[str, object],
           instances: Mapping[str, np.ndarray] | None) -> Path:
    import h5py

    from hccfusion import __version__

    feats = np.asarray(features, dtype=np.float32)
    xy = np.asarray(coords)
    if feats.ndim != 2:
        raise UsageError(f"The 'features' parameter of write_bag must be 2-D (instances × dims). "
                         f"Got shape {feats.shape} instead.")
    if xy.ndim != 2 or xy.shape[0] != feats.shape[0]:
        raise UsageError(f"The 'coords' parameter of write_bag must be 2-D with one row per "
                         f"instance ({feats.shape[0]}). Got shape {xy.shape} instead.")
    if not np.isfinite(feats).all():
        raise UsageError(f"features for {path.name} contain NaN or infinite values; the encoder "
                         "output is broken for at least one instance.")
    cols = {}
    for name, values in (instances or {}).items():
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.shape[0] != feats.shape[0]:
            raise UsageError(f"instance column {name!r} must be 1-D of length {feats.shape[0]}; "
                             f"got shape {arr.shape}.")
        cols[name] = arr
    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as h5:
            h5.create_dataset("features", data=feats)
            h5.create_dataset("coords", data=xy)
            group = h5.create_group("instances")
            for name, arr in cols.items():
                if arr.dtype.kind in "OUS":
                    group.create_dataset(name, data=np.array([str(v) for v in arr], dtype=object),
                                         dtype=h5py.string_dtype("utf-8"))
                else:
                    group.create_dataset(name, data=arr)
            for key, value in attrs.items():
                h5.attrs[str(key)] = _attr_value(value)
            h5.attrs["format_version"] = BAG_FORMAT_VERSION
            h5.attrs["package_version"] = __version__
            h5.attrs["created_at"] = datetime.now(timezone.utc).replace(microsecond=0).isoformat()

    return atomic_write(path, write)


def read_bag(path: str | Path) -> Bag:
    """Read a bag written by :func:`write_bag`, or a CLAM/TRIDENT feature file.

    Raises
    ------
    DataError
        Missing or unreadable file, or no ``features`` dataset.
    SchemaVersionError
        A bag written by a newer format version.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError(f"bag {path} does not exist.")
    try:
        with h5py.File(path, "r") as h5:
            if "features" not in h5:
                raise DataError(f"{path} holds no 'features' dataset; it is not a feature bag "
                                f"(datasets found: {sorted(h5.keys())}).")
            feats = np.asarray(h5["features"][()], dtype=np.float32)
            if feats.ndim == 3 and feats.shape[0] == 1:   # some CLAM versions keep a batch axis
                feats = feats[0]
            coords = (np.asarray(h5["coords"][()]) if "coords" in h5
                      else np.zeros((feats.shape[0], 0), dtype=np.int64))
            if coords.ndim == 3 and coords.shape[0] == 1:
                coords = coords[0]
            prov = {k: _decode(v) for k, v in h5.attrs.items()}
            if "coords" in h5:   # TRIDENT keeps patch geometry on the coords dataset
                for k, v in h5["coords"].attrs.items():
                    prov.setdefault(f"coords.{k}", _decode(v))
            inst = {}
            if "instances" in h5:
                for name, ds in h5["instances"].items():
                    arr = ds[()]
                    if arr.dtype.kind in "OS":
                        arr = np.array([_decode(v) for v in arr], dtype=object)
                    inst[name] = arr
    except OSError as exc:
        raise DataError(f"bag {path} cannot be read as HDF5 ({exc}); it is truncated or not a bag.") from exc
    version = prov.get("format_version")
    if version is None:
        prov["source_format"] = "clam"
    elif int(version) > BAG_FORMAT_VERSION:
        raise SchemaVersionError(f"bag {path} has format version {version}; this hccfusion reads up "
                                 f"to {BAG_FORMAT_VERSION}. Upgrade hccfusion to read it.")
    return Bag(path=path, features=feats, coords=coords, provenance=prov, instances=inst)


def _bag_summary(path: Path) -> dict[str, Any]:
    import h5py

    with h5py.File(path, "r") as h5:
        shape = h5["features"].shape
        row = {k: _decode(v) for k, v in h5.attrs.items()}
    row["n_instances"], row["dim"] = int(shape[0]), int(shape[1]) if len(shape) > 1 else 0
    return row


class FeatureStore:
    """The bags of one modality, encoder and spec under a feature-store root.

    Parameters
    ----------
    root
        The feature store folder (``features/``).
    modality
        ``pathology``, ``imaging``, ``omics`` or ``clinical``.
    encoder
        Registry name of the encoder that made the features.
    spec
        A short name for everything else that changes the features (``mpp0.50-px224``).
    """

    def __init__(self, root: str | Path, *, modality: str, encoder: str, spec: str) -> None:
        if modality not in MODALITIES:
            from hccfusion.errors import unknown_option

            raise unknown_option("modality", modality, MODALITIES)
        self.root = Path(root)
        self.modality = modality
        self.encoder = _check_name("encoder", encoder, "FeatureStore")
        self.spec = _check_name("spec", spec, "FeatureStore")
        self.dir = self.root / modality / encoder / spec

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.dir)!r})"

    def bag_path(self, bag_id: str) -> Path:
        """Where the bag of ``bag_id`` lives."""
        return self.dir / f"{_check_name('bag_id', bag_id, 'FeatureStore.bag_path')}.h5"

    def done(self, bag_id: str, *, provenance: Mapping[str, object] | None = None) -> bool:
        """Whether a complete bag of ``bag_id`` exists (bags are renamed into place whole) and,
        when ``provenance`` is given, records those values (compared as text): a bag made by
        another version of the encoder is not done."""
        path = self.bag_path(bag_id)
        if not path.is_file():
            return False
        if not provenance:
            return True
        import h5py

        try:
            with h5py.File(path, "r") as h5:
                attrs = {k: _decode(h5.attrs[k]) for k in provenance if k in h5.attrs}
        except OSError:
            return False          # unreadable: extract it again
        return all(k in attrs and str(attrs[k]) == str(v) for k, v in provenance.items())

    def write(self, bag_id: str, *, patient_id: str, features: np.ndarray, coords: np.ndarray,
              provenance: Mapping[str, object],
              instances: Mapping[str, np.ndarray] | None = None) -> Path:
        """Write (or replace) the bag of ``bag_id`` and clear any failure recorded for it."""
        target = self.bag_path(bag_id)
        clash = [k for k in provenance if k in _RESERVED]
        if clash:
            raise UsageError(f"provenance keys {clash} are set by the feature store itself.")
        attrs = {**dict(provenance), "encoder": self.encoder, "spec": self.spec,
                 "modality": self.modality, "bag_id": bag_id, "patient_id": str(patient_id)}
        _write(target, features, coords, attrs, instances)
        failures = self._failures()
        if bag_id in failures:
            del failures[bag_id]
            self._save_failures(failures)
        return target

    def _failures(self) -> dict[str, dict[str, str]]:
        path = self.dir / FAILURES_FILE
        if not path.is_file():
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    def _save_failures(self, failures: Mapping[str, Mapping[str, str]]) -> None:
        atomic_write_text(self.dir / FAILURES_FILE,
                          json.dumps(failures, indent=1, sort_keys=True, ensure_ascii=False) + "\n")

    def record_failure(self, bag_id: str, *, patient_id: str, error: str) -> None:
        """Record why ``bag_id`` could not be extracted (kept until a later run succeeds)."""
        failures = self._failures()
        failures[_check_name("bag_id", bag_id, "FeatureStore.record_failure")] = {
            "patient_id": str(patient_id), "error": str(error)}
        self._save_failures(failures)

    def failures(self) -> dict[str, dict[str, str]]:
        """bag_id → {patient_id, error} of the bags that failed and have not succeeded since."""
        return self._failures()

    def manifest(self) -> "pd.DataFrame":
        """One row per bag on disk (status ``ok``) and per recorded failure (``failed``)."""
        import pandas as pd

        rows = []
        if self.dir.is_dir():
            for path in sorted(self.dir.glob("*.h5")):
                row = _bag_summary(path)
                row.update(bag_id=path.stem, path=path.name, status="ok", error="")
                rows.append(row)
        done = {r["bag_id"] for r in rows}
        for bag_id, info in sorted(self._failures().items()):
            if bag_id not in done:
                rows.append({"bag_id": bag_id, "patient_id": info["patient_id"], "path": "",
                             "status": "failed", "error": info["error"], "n_instances": 0,
                             "dim": 0, "encoder": self.encoder, "spec": self.spec,
                             "modality": self.modality})
        first = ["bag_id", "patient_id", "path", "status", "error", "n_instances", "dim"]
        frame = pd.DataFrame(rows)
        if frame.empty:
            return pd.DataFrame(columns=first)
        rest = sorted(c for c in frame.columns if c not in first)
        frame = frame[first + rest]
        for c in ("n_instances", "dim"):
            frame[c] = frame[c].astype("int64")
        return frame.sort_values(["patient_id", "bag_id"], kind="stable").reset_index(drop=True)

    def write_manifest(self) -> Path:
        """Write ``manifest.parquet`` from what is on disk now; returns its path."""
        frame = self.manifest()
        return atomic_write_parquet(self.dir / MANIFEST_FILE, frame.astype(
            {c: "string" for c in frame.columns if frame[c].dtype == object}))


def read_manifest(store_dir: str | Path) -> "pd.DataFrame":
    """The manifest of a store folder (``<root>/<modality>/<encoder>/<spec>``).

    Raises
    ------
    DataError
        No manifest there (the extraction has not been run or did not finish).
    """
    import pandas as pd

    path = Path(store_dir) / MANIFEST_FILE
    if not path.is_file():
        raise DataError(f"no {MANIFEST_FILE} in {store_dir}; run 'hccfusion features …' first "
                        "(a run writes it when it finishes).")
    frame = pd.read_parquet(path)
    for c in frame.columns:
        if str(frame[c].dtype) == "string":
            frame[c] = frame[c].astype(object)
    return frame
