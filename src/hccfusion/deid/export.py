"""Export of de-identified individual patient data (IPD) for sharing (domain.md §0: the study
promises de-identified individual data through a national data-sharing platform).

What happens to each column follows the data dictionary (:mod:`hccfusion.io.schema`):

- identifier fields (``Field.identifier``: name, phone, national ID, record number) and site
  file paths (``Field.path``) are dropped;
- ID columns (patient_id, exam_id, sample_id, slide_id, lesion_id) become keyed pseudonyms
  (:func:`hccfusion.deid.pseudonym.pseudonym`);
- every date of a patient moves by the patient's one offset (intervals preserved);
- ages above 89 are stored as 90 with ``age_top_coded`` = True (HIPAA Safe Harbor,
  45 CFR 164.514(b)(2)(i)(C));
- free text (``Field.free_text``) is scrubbed (:class:`hccfusion.deid.scrub.TextScrubber`);
- columns and tables that the data dictionary does not describe are not exported.

Before anything is written, every text cell of the result is checked for the input's
identifier values and original patient IDs; a hit stops the export. The report adds
k-anonymity over (age band, sex, centre) of the patients table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from hccfusion.deid.kanon import KAnonymityReport, age_band, k_anonymity
from hccfusion.deid.pseudonym import DeidKey, date_offset_days, pseudonym
from hccfusion.deid.scrub import TextScrubber, _substrings
from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = "1"
ID_COLUMNS: tuple[str, ...] = ("patient_id", "exam_id", "sample_id", "slide_id", "lesion_id")
QUASI_IDENTIFIERS: tuple[str, ...] = ("age_band", "sex", "center")
AGE_TOP_CODE = 90  # ages > 89 are stored as 90
NUMERIC_DTYPES = ("Int64", "boolean", "Float64")


@dataclass(frozen=True)
class DeidReport:
    """What :func:`export_deidentified` wrote and how identifiable the result still is."""

    out: Path
    rows: Mapping[str, int]
    files: tuple[Path, ...]
    dropped_columns: tuple[str, ...]
    skipped_tables: tuple[str, ...]
    n_age_top_coded: int
    n_text_cells_changed: int
    key_fingerprint: str
    kanon: KAnonymityReport


def _canonical(name: str, df: pd.DataFrame, dropped: list[str]) -> pd.DataFrame:
    from hccfusion.io.schema import coerce_table, table_columns

    unknown = [c for c in df.columns if c not in table_columns(name)]
    dropped.extend(f"{name}.{c}" for c in unknown)
    return coerce_table(name, df.drop(columns=unknown))


def _id_map(key: DeidKey, tables: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, str]]:
    """Original → pseudonym for every ID column (lesion IDs are scoped by patient)."""
    maps: dict[str, dict[str, str]] = {c: {} for c in ID_COLUMNS}
    for df in tables.values():
        for col in ID_COLUMNS:
            if col not in df.columns or col == "lesion_id":
                continue
            for v in df[col].dropna().astype(str).unique():
                maps[col][v] = pseudonym(key, v, namespace=col)
    return maps


def _transform(name: str, df: pd.DataFrame, *, key: DeidKey, ids: dict[str, dict[str, str]],
               scrub: TextScrubber, offsets: Mapping[str, int]
               ) -> tuple[pd.DataFrame, int, int]:
    import pandas as pd

    from hccfusion.io.schema import TABLES

    schema = TABLES[name]
    if df["patient_id"].isna().any():
        raise DataError(f"{name} has {int(df['patient_id'].isna().sum())} row(s) without "
                        "patient_id; each row needs one so its dates can be shifted.")
    pid = df["patient_id"].astype(str)
    out = df.copy()
    changed = 0
    for f in schema.fields:
        if f.free_text and f.name in out.columns:
            before = out[f.name]
            after = [scrub(None if pd.isna(t) else t) for t in before]
            out[f.name] = pd.Series(after, index=out.index, dtype="string")
            changed += int((before.fillna("") != out[f.name].fillna("")).sum())
    shift = pd.to_timedelta(pid.map(offsets).astype("int64"), unit="D")
    for col in schema.date_columns:
        out[col] = (out[col] + shift).astype("datetime64[ns]")
    for col in ID_COLUMNS:
        if col not in out.columns:
            continue
        if col == "lesion_id":
            new = [pd.NA if pd.isna(v) else pseudonym(key, f"{p}\x1f{v}", namespace=col)
                   for v, p in zip(out[col], pid)]
        else:
            new = out[col].map(lambda v: pd.NA if pd.isna(v) else ids[col][str(v)])
        out[col] = pd.Series(new, index=out.index, dtype="string")
    top_coded = 0
    if name == "patients":
        age = out["age_years"]
        over = (age > AGE_TOP_CODE - 1).fillna(False).astype(bool)
        top_coded = int(over.sum())
        out["age_years"] = age.mask(over, AGE_TOP_CODE).astype("Int64")
        out.insert(out.columns.get_loc("age_years") + 1, "age_top_coded", over)
    drop = [f.name for f in schema.fields if f.identifier or f.path]
    return out.drop(columns=[c for c in drop if c in out.columns]), top_coded, changed


def _contains_any(cells: Iterable[str], needles: set[str]) -> bool:
    """True when any cell holds any needle as a substring.

    Each cell's substrings of every needle length are looked up in the needle set, so the work
    grows with the text times the number of distinct needle lengths, not with the text times
    the number of needles (every identifier of every patient: testing each needle against each
    cell took 23 minutes for 2,000 patients).
    """
    lengths = {len(needle) for needle in needles}
    return any(not needles.isdisjoint(_substrings(cell, lengths)) for cell in cells)


def _check_no_leak(tables: Mapping[str, pd.DataFrame], needles: set[str]) -> None:
    """Refuse to write when any text cell still contains an identifier or original ID."""
    needles = {n for n in needles if len(n) >= 2}  # two-character Chinese names are common
    for name, df in tables.items():
        for col in df.columns:
            if df[col].dtype.kind in "Mfcbiu" or str(df[col].dtype) in NUMERIC_DTYPES:
                continue
            if _contains_any(df[col].dropna().astype(str).unique(), needles):
                raise DataError(f"de-identification check failed: {name}.{col} still contains "
                                "an identifier or an original ID after scrubbing; nothing was "
                                "written. Clean that column at the source or mark it free text.")


def _dictionary(outputs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    from hccfusion.io.schema import TABLES

    rows = []
    for name, df in outputs.items():
        schema = TABLES[name]
        by_name = {f.name: f for f in schema.fields}
        for col in df.columns:
            base = col.removesuffix("_censor")
            f = by_name.get(col) or by_name.get(base)
            if col in ID_COLUMNS:
                how = "keyed pseudonym (HMAC-SHA256)"
            elif f is not None and f.kind.value == "date":
                how = "shifted by the patient's date offset"
            elif f is not None and f.free_text:
                how = "free text scrubbed"
            elif col == "age_years":
                how = f"top-coded: ages above {AGE_TOP_CODE - 1} stored as {AGE_TOP_CODE}"
            else:
                how = "as collected"
            rows.append(dict(
                table=name, column=col,
                kind=f.kind.value if f else "bool" if col == "age_top_coded" else "str",
                unit=(f.unit or "") if f else "",
                label_en=f.label_en if f else ("Age top-coded" if col == "age_top_coded" else col),
                label_zh=f.label_zh if f else "",
                description=(f"Keyed pseudonym of the {col.removesuffix('_id')} ID; the same "
                             "value links rows across tables." if col in ID_COLUMNS else
                             f.description if f and col == f.name else
                             "True when the age was above 89 and is stored as 90."
                             if col == "age_top_coded" else f"Censor flag of {base}."),
                deidentification=how))
    return pd.DataFrame(rows)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_deidentified(
    tables: Mapping[str, pd.DataFrame],
    *,
    key: DeidKey,
    out: Path | str,
    k_threshold: int = 5,
    overwrite: bool = False,
) -> DeidReport:
    """Write a de-identified copy of the study tables for sharing.

    Parameters
    ----------
    tables
        Canonical tables by name (e.g. :func:`hccfusion.io.database.read_tables`); must hold
        ``patients``. Tables outside the data dictionary are skipped and reported.
    key
        The study's secret key (:func:`hccfusion.deid.pseudonym.load_key`); never written.
    out
        Output folder: ``<table>.csv`` and ``<table>.parquet`` per table,
        ``data_dictionary.csv`` and ``manifest.json``.
    k_threshold
        Smallest acceptable equivalence class over (age band, sex, centre).
    overwrite
        Write into a non-empty ``out`` (files of the same name are replaced).

    Returns
    -------
    DeidReport
    """
    from hccfusion import __version__
    from hccfusion.io.schema import SCHEMA_VERSION, TABLES

    if not isinstance(key, DeidKey):
        raise UsageError(f"key must be a DeidKey from load_key(); got {type(key).__name__}.")
    if "patients" not in tables:
        raise DataError(f"the patients table is required for an export; got {sorted(tables)}.")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"output folder {out} is not empty; choose a new folder or pass "
                         "overwrite=True (--overwrite) to replace its files.")
    dropped: list[str] = []
    skipped = tuple(sorted(n for n in tables if n not in TABLES))
    canon = {n: _canonical(n, df, dropped) for n, df in tables.items() if n in TABLES}

    patients = canon["patients"]
    ident_cols = TABLES["patients"].identifier_columns
    import pandas as pd

    _NA = pd.NA  # noqa: N806
    own: dict[str, set[str]] = {}
    for row in patients[["patient_id", *ident_cols]].itertuples(index=False):
        own[str(row[0])] = {str(v).strip() for v in row[1:] if v is not None and v is not _NA and not (isinstance(v, float) and v != v)}
    all_identifiers = set().union(*own.values()) if own else set()
    ids = _id_map(key, canon)
    offsets = {p: date_offset_days(key, p) for p in ids["patient_id"]}

    # one scrubber for every table: a patient's own identifiers are among all patients' ones
    scrub = TextScrubber(all_identifiers, {
        orig: new for col in ("patient_id", "exam_id", "sample_id", "slide_id")
        for orig, new in ids[col].items()})

    outputs: dict[str, pd.DataFrame] = {}
    n_top, n_changed = 0, 0
    for name, df in canon.items():
        outputs[name], top, changed = _transform(
            name, df, key=key, ids=ids, scrub=scrub, offsets=offsets)
        n_top += top
        n_changed += changed
    dropped += [f"{n}.{f.name}" for n in canon for f in TABLES[n].fields if f.identifier or f.path]
    _check_no_leak(outputs, all_identifiers | set(ids["patient_id"]))

    shared = outputs["patients"].assign(age_band=age_band(outputs["patients"]["age_years"]))
    kanon = k_anonymity(shared, quasi_identifiers=QUASI_IDENTIFIERS, k_threshold=k_threshold)

    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    table_info: dict[str, object] = {}
    for name, df in outputs.items():
        csv, parquet = out / f"{name}.csv", out / f"{name}.parquet"
        df.to_csv(csv, index=False, date_format="%Y-%m-%d")
        df.to_parquet(parquet, index=False)
        files += [csv, parquet]
        table_info[name] = {"rows": len(df), "columns": list(df.columns),
                            "sha256": {"csv": _sha256(csv), "parquet": _sha256(parquet)}}
    dictionary = out / "data_dictionary.csv"
    _dictionary(outputs).to_csv(dictionary, index=False)
    files.append(dictionary)
    manifest = {
        "format": "hccfusion-deidentified-ipd", "format_version": FORMAT_VERSION,
        "package_version": __version__, "schema_version": SCHEMA_VERSION,
        "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "key_fingerprint": key.fingerprint,
        "pseudonyms": "HMAC-SHA256 of the original ID with the study's secret key, 64 bits, "
                      "prefixed P/E/S/W/L (patient/exam/sample/slide/lesion)",
        "date_shift": "every date of a patient moved by one non-zero offset in [-365, 365] "
                      "days derived from the key; intervals within a patient are exact",
        "age_top_code": {"above": AGE_TOP_CODE - 1, "stored_as": AGE_TOP_CODE,
                         "records": n_top},
        "free_text": {"scrubbed_cells": n_changed},
        "dropped_columns": sorted(set(dropped)), "skipped_tables": list(skipped),
        "tables": table_info, "k_anonymity": kanon.summary(),
        "data_dictionary": {"file": dictionary.name, "sha256": _sha256(dictionary)},
    }
    manifest_path = out / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    files.append(manifest_path)
    return DeidReport(out=out, rows={n: len(df) for n, df in outputs.items()}, files=tuple(files),
                      dropped_columns=tuple(sorted(set(dropped))), skipped_tables=skipped,
                      n_age_top_coded=n_top, n_text_cells_changed=n_changed,
                      key_fingerprint=key.fingerprint, kanon=kanon)
