"""The frozen cohort: an analysis snapshot of the study database at a data cut-off.

On disk a snapshot is a folder with one Parquet file per CRF table and ``cohort.json``::

    cohort.json     format/schema/package version, cutoff, source_hash, created_at (UTC),
                    batches (id + hash), row counts, sha256 of every Parquet file,
                    rows removed and cells capped by the cut-off, identifier columns dropped
    patients.parquet, labs.parquet, ...

It holds no direct identifier (``TableSchema.identifier_columns``) and nothing dated after the
cut-off (rules in :mod:`hccfusion.io.cohort_cutoff`). ``source_hash`` is the sha256 of the
included batches' hashes and the written files' hashes, so two snapshots with the same hash hold
the same data. :meth:`Cohort.load` checks every hash and version before returning the tables.

Example
-------
>>> snap = freeze_cohort(db_path="study.duckdb", cutoff=date(2024, 6, 30),  # doctest: +SKIP
...                      out=Path("cohort"))
>>> cohort = Cohort.load("cohort")  # doctest: +SKIP
>>> cohort["followup"]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hccfusion import __version__
from hccfusion.errors import DataError, SchemaVersionError, UsageError, unknown_option
from hccfusion.io.schema import SCHEMA_VERSION, TABLES
from hccfusion.io.weights import sha256_file

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COHORT_FORMAT_VERSION", "Cohort", "CohortSnapshot", "freeze_cohort"]

#: Version of the snapshot layout; readers refuse another one.
COHORT_FORMAT_VERSION = "1"
META_FILE = "cohort.json"


@dataclass(frozen=True)
class CohortSnapshot:
    """What :func:`freeze_cohort` wrote."""

    path: Path
    cutoff: date
    source_hash: str
    batch_ids: tuple[str, ...]
    row_counts: dict[str, int]
    removed_by_cutoff: dict[str, int]
    capped_by_cutoff: dict[str, int]


def _source_hash(batches: list[dict[str, str]], files: dict[str, dict[str, str]]) -> str:
    payload = {"batches": [b["source_hash"] for b in batches],
               "files": {name: files[name]["sha256"] for name in sorted(files)}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _kept_columns(name: str, frame: "pd.DataFrame") -> list[str]:
    drop = set(TABLES[name].identifier_columns)
    return [c for c in frame.columns if c not in drop]


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; expected a new or empty folder for the "
                         "cohort snapshot.")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise UsageError(f"the snapshot folder {out} is not empty; choose a new folder or "
                             "pass overwrite=True (--overwrite) to replace the snapshot in it.")
        if not (out / META_FILE).is_file():
            raise UsageError(f"{out} is not empty and holds no {META_FILE}, so it is not a "
                             "cohort snapshot; refusing to replace its contents. Choose a new "
                             "or empty folder.")


def freeze_cohort(*, db_path: Path | str, cutoff: date, out: Path | str,
                  overwrite: bool = False) -> CohortSnapshot:
    """Write the analysis snapshot of the study database at ``cutoff``.

    Parameters
    ----------
    db_path
        The study database (DuckDB file).
    cutoff
        Data cut-off; nothing dated after it enters the snapshot, deaths after it are censored.
    out
        Folder to write; must be new or empty, unless ``overwrite`` and it holds a snapshot.
    overwrite
        Replace an existing snapshot in ``out``.

    Returns
    -------
    CohortSnapshot

    Raises
    ------
    UsageError
        ``out`` is not empty (and not an overwritable snapshot), or the database is missing.
    DataError
        The database holds no imported batch.
    """
    from hccfusion.io.cohort_cutoff import apply_cutoff
    from hccfusion.io.database import batch_hashes, read_tables

    if isinstance(cutoff, datetime) or not isinstance(cutoff, date):
        raise UsageError(f"The 'cutoff' parameter of freeze_cohort must be a datetime.date. "
                         f"Got {cutoff!r} instead.")
    out = Path(out)
    _prepare_out(out, overwrite)
    batches = [{"batch_id": b, "source_hash": h} for b, h in batch_hashes(db_path)]
    if not batches:
        raise DataError(f"the study database {db_path} holds no imported batch; ingest a "
                        "workbook with 'hccfusion crf ingest' before freezing a cohort.")
    cut = apply_cutoff(read_tables(db_path), cutoff=cutoff)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        files: dict[str, dict[str, str]] = {}
        dropped: dict[str, list[str]] = {}
        for name, frame in cut.tables.items():
            keep = _kept_columns(name, frame)
            dropped[name] = [c for c in frame.columns if c not in keep]
            target = tmp / f"{name}.parquet"
            frame[keep].to_parquet(target, index=False, engine="pyarrow")
            files[name] = {"file": target.name, "sha256": sha256_file(target)}
        meta: dict[str, Any] = {
            "format_version": COHORT_FORMAT_VERSION, "schema_version": SCHEMA_VERSION,
            "package_version": __version__, "cutoff": cutoff.isoformat(),
            "source_hash": _source_hash(batches, files),
            "created_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            "database": Path(db_path).name, "batches": batches,
            "batch_ids": [b["batch_id"] for b in batches],
            "row_counts": {name: int(len(f)) for name, f in cut.tables.items()},
            "files": files, "removed_by_cutoff": cut.removed, "capped_by_cutoff": cut.capped,
            "identifier_columns_dropped": {k: v for k, v in dropped.items() if v},
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return CohortSnapshot(path=out, cutoff=cutoff, source_hash=meta["source_hash"],
                          batch_ids=tuple(meta["batch_ids"]), row_counts=meta["row_counts"],
                          removed_by_cutoff=cut.removed, capped_by_cutoff=cut.capped)


@dataclass(frozen=True, eq=False)
class Cohort:
    """A verified cohort snapshot: the tables, the cut-off and where they came from.

    Use :meth:`load`; ``cohort["labs"]`` gives one table (canonical dtypes, no identifiers).
    """

    path: Path
    tables: dict[str, "pd.DataFrame"]
    cutoff: date
    source_hash: str
    meta: dict[str, Any] = field(repr=False)

    def __getitem__(self, name: str) -> "pd.DataFrame":
        if name not in self.tables:
            raise unknown_option("cohort table", name, list(self.tables))
        return self.tables[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tables)

    @classmethod
    def load(cls, path: Path | str) -> "Cohort":
        """Read and verify a snapshot written by :func:`freeze_cohort`.

        Raises
        ------
        UsageError
            ``path`` holds no ``cohort.json``.
        SchemaVersionError
            The snapshot's format or schema version is not this package's (both named).
        DataError
            A Parquet file is missing or its sha256 differs from ``cohort.json`` (file named),
            or ``cohort.json`` itself was edited.
        """
        import pandas as pd

        from hccfusion.io.schema import coerce_table

        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise UsageError(f"{path} is not a cohort snapshot: no {META_FILE}. Write one with "
                             "'hccfusion cohort freeze'.")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{meta_path} is not valid JSON ({exc}); re-freeze the "
                            "cohort.") from exc
        for key, ours in (("format_version", COHORT_FORMAT_VERSION),
                          ("schema_version", SCHEMA_VERSION)):
            theirs = meta.get(key)
            if str(theirs) != ours:
                raise SchemaVersionError(
                    f"cohort snapshot {path} has {key} {theirs}, but this hccfusion "
                    f"{__version__} reads {key} {ours}; re-freeze the cohort with this version "
                    "or load it with the version that wrote it.")
        files = meta.get("files", {})
        missing = [t for t in TABLES if t not in files]
        if missing:
            raise DataError(f"{meta_path} lists no file for tables {missing}; the snapshot is "
                            "incomplete. Re-freeze the cohort.")
        tables: dict[str, pd.DataFrame] = {}
        for name in TABLES:
            entry = files[name]
            target = path / Path(entry["file"]).name
            if not target.is_file():
                raise DataError(f"cohort snapshot {path} lacks {target.name}, listed in "
                                f"{META_FILE}; re-freeze the cohort.")
            found = sha256_file(target)
            if found != entry["sha256"]:
                raise DataError(f"{target.name} in cohort snapshot {path} has sha256 "
                                f"{found[:12]}…, but {META_FILE} records {entry['sha256'][:12]}…: "
                                "the file was changed after the freeze. Re-freeze the cohort "
                                "from the study database.")
            try:
                frame = coerce_table(name, pd.read_parquet(target, engine="pyarrow"))
            except (ValueError, TypeError, OSError) as exc:
                raise DataError(f"{target.name} in cohort snapshot {path} is not a readable "
                                f"{name} table ({exc}); re-freeze the cohort.") from exc
            tables[name] = frame[_kept_columns(name, frame)]
        if _source_hash(meta.get("batches", []), files) != meta.get("source_hash"):
            raise DataError(f"{meta_path} was edited: its source_hash does not match the batches "
                            "and files it lists. Re-freeze the cohort.")
        return cls(path=path, tables=tables, cutoff=date.fromisoformat(meta["cutoff"]),
                   source_hash=meta["source_hash"], meta=meta)
