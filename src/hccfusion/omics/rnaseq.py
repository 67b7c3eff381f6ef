"""Bulk RNA-seq count matrices: validation, gene-identifier checks and per-sample QC.

Every function takes raw counts as a samples × genes table (index ``sample_id``, columns gene
ids) — the orientation pydeseq2 uses; transpose a genes × samples table (``counts.T``) first.
Differential expression needs non-negative integer counts (Love, Huber & Anders 2014, *Genome
Biol* 15:550), so :func:`validate_counts` rejects anything else and names the sample and gene.
Gene sets are written in HGNC symbols; :func:`harmonise_gene_ids` converts Ensembl ids with a
mapping table or says which type was found, so a mismatch is never silent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option

ID_TYPES: tuple[str, ...] = ("ensembl", "symbol", "mixed", "unknown")
TARGETS: tuple[str, ...] = ("symbol", "ensembl")

_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
# HGNC symbols: a letter, then letters/digits, optionally '-'/'.'-joined parts (e.g. HLA-DRA,
# C1orf112); lower-case letters allowed for mouse-style or 'orf' symbols.
_SYMBOL = re.compile(r"^[A-Za-z][A-Za-z0-9]*([-.][A-Za-z0-9]+)*$")
# Share of ids that must fit one type when no id fits the other (tolerates a few odd names).
_MAJORITY = 0.9
_TOP_GENES = 50
_OUTLIER_Z = 3.5


def validate_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Check a raw count matrix and return it as int64.

    Parameters
    ----------
    counts : pandas.DataFrame, shape (n_samples, n_genes)
        Raw read counts; index ``sample_id``, columns gene ids.

    Returns
    -------
    pandas.DataFrame
        The same table with int64 values (a copy), index named ``sample_id``, columns ``gene``.

    Raises
    ------
    UsageError
        If ``counts`` is not a non-empty DataFrame.
    DataError
        If a sample or gene id repeats, or a count is missing (NaN), negative or not a whole
        number; the message names the first offending sample and gene and how many there are.
    """
    if not isinstance(counts, pd.DataFrame) or counts.empty:
        got = type(counts).__name__ if not isinstance(counts, pd.DataFrame) else "an empty table"
        raise UsageError("The 'counts' parameter of validate_counts must be a non-empty "
                         f"samples x genes DataFrame. Got {got} instead.")
    for axis, label in ((counts.index, "sample"), (counts.columns, "gene")):
        dup = axis[axis.duplicated()].unique()
        if len(dup):
            shown = ", ".join(map(str, dup[:5]))
            raise DataError(f"{len(dup)} {label} id(s) appear more than once in the count matrix "
                            f"(e.g. {shown}); make them unique (sum or drop duplicated "
                            f"{label}s) first.")
    try:
        values = counts.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        bad = [c for c in counts.columns if not pd.api.types.is_numeric_dtype(counts[c])]
        raise DataError(f"Counts must be numbers; gene(s) {', '.join(map(str, bad[:5]))} hold "
                        "non-numeric values.") from err
    checks = (
        (np.isnan(values), "is missing (NaN)"),
        (values < 0, "is negative"),
        (~np.isnan(values) & (values != np.round(values)), "is not a whole number"),
    )
    for mask, reason in checks:
        if mask.any():
            i, j = np.argwhere(mask)[0]
            value = values[i, j]
            raise DataError(f"Count of gene {counts.columns[j]} in sample {counts.index[i]} "
                            f"{reason} ({value!r}); raw counts must be non-negative integers "
                            f"({int(mask.sum())} such value(s) in the matrix). Use raw counts, "
                            "not normalised or estimated expression.")
    out = pd.DataFrame(values.astype(np.int64), index=counts.index.copy(),
                       columns=counts.columns.copy())
    out.index.name = "sample_id"
    out.columns.name = "gene"
    return out


def _classify(ids: Iterable[object]) -> tuple[int, int, int]:
    n_ens = n_sym = n_other = 0
    for raw in ids:
        text = str(raw)
        if _ENSEMBL.match(text):
            n_ens += 1
        elif _SYMBOL.match(text):
            n_sym += 1
        else:
            n_other += 1
    return n_ens, n_sym, n_other


def gene_id_type(ids: Iterable[object]) -> str:
    """The kind of gene identifiers in ``ids``.

    Parameters
    ----------
    ids : iterable of str
        Gene identifiers, e.g. the columns of a count matrix.

    Returns
    -------
    str
        ``'ensembl'`` (``ENSG00000141510`` or with a version suffix ``ENSG00000141510.17``),
        ``'symbol'`` (HGNC-style, ``TP53``), ``'mixed'`` (both kinds present) or ``'unknown'``
        (empty, or under 90 % of the ids fit either kind, e.g. Entrez numbers).

    Examples
    --------
    >>> gene_id_type(["ENSG00000141510.17", "ENSG00000111640"])
    'ensembl'
    >>> gene_id_type(["TP53", "ENSG00000111640"])
    'mixed'
    """
    ids = list(ids)
    n_ens, n_sym, _ = _classify(ids)
    if not ids:
        return "unknown"
    if n_ens and n_sym:
        return "mixed"
    if n_ens >= _MAJORITY * len(ids):
        return "ensembl"
    if n_sym >= _MAJORITY * len(ids):
        return "symbol"
    return "unknown"


def _strip_version(ids: Iterable[object]) -> list[str]:
    return [re.sub(r"\.\d+$", "", str(i)) if _ENSEMBL.match(str(i)) else str(i) for i in ids]


def harmonise_gene_ids(counts: pd.DataFrame, *, to: str = "symbol",
                       mapping: pd.DataFrame | None = None) -> pd.DataFrame:
    """Express a count matrix in the gene-id type the gene sets use.

    Ensembl version suffixes are ignored when matching. Counts of several ids that map to the
    same target id are summed (read counts are additive); ids absent from ``mapping`` are
    dropped and listed in ``result.attrs['unmapped']``.

    Parameters
    ----------
    counts : pandas.DataFrame, shape (n_samples, n_genes)
        Raw counts, columns gene ids.
    to : {'symbol', 'ensembl'}
        The id type wanted (the shipped gene sets use HGNC symbols).
    mapping : pandas.DataFrame, optional
        Columns ``ensembl`` and ``symbol``, one row per Ensembl gene. Needed unless the ids are
        already of type ``to``.

    Returns
    -------
    pandas.DataFrame
        Counts with columns of type ``to`` (Ensembl ids without version).
        ``attrs['unmapped']`` holds the dropped ids, ``attrs['source_id_type']`` the type found.

    Raises
    ------
    UsageError
        If ``to`` is unknown or ``mapping`` lacks a column.
    DataError
        If the ids need converting and no mapping is given (the message names the type found
        and the type wanted), if the id type cannot be recognised, if a source id maps to two
        targets, or if no id maps at all.
    """
    if to not in TARGETS:
        raise unknown_option("gene id type", str(to), TARGETS)
    found = gene_id_type(counts.columns)
    if found == "unknown":
        raise DataError("Could not recognise the gene ids of the count matrix (neither Ensembl "
                        f"ids nor gene symbols, e.g. {', '.join(map(str, counts.columns[:3]))}); "
                        f"gene sets use {to} ids.")
    if found == to:
        out = counts.copy()
        out.columns = _strip_version(out.columns)
        out.attrs.update(unmapped=(), source_id_type=found)
        return _sum_duplicates(out)
    if mapping is None:
        raise DataError(f"The count matrix uses {found} gene ids but the gene sets use {to} ids; "
                        "pass mapping= a table with columns 'ensembl' and 'symbol' to convert.")
    missing = [c for c in ("ensembl", "symbol") if c not in mapping.columns]
    if missing:
        raise UsageError("The 'mapping' parameter of harmonise_gene_ids must have columns "
                         f"'ensembl' and 'symbol'. Got columns {list(mapping.columns)} instead.")
    table = pd.DataFrame({"ensembl": _strip_version(mapping["ensembl"]),
                          "symbol": mapping["symbol"].astype(str)}).dropna().drop_duplicates()
    source = "symbol" if to == "ensembl" else "ensembl"
    ambiguous = table.loc[table[source].duplicated(), source].unique()
    if len(ambiguous):
        raise DataError(f"The mapping gives {len(ambiguous)} {source} id(s) more than one {to} "
                        f"id (e.g. {', '.join(map(str, ambiguous[:5]))}); make it one-to-one.")
    lookup = dict(zip(table[source], table[to], strict=True))
    ids = _strip_version(counts.columns)
    # Ids already of the target type (a 'mixed' matrix) are kept as they are.
    known_targets = set(table[to])
    targets = [lookup.get(i, i if i in known_targets else None) for i in ids]
    keep = [t is not None for t in targets]
    if not any(keep):
        raise DataError(f"None of the {len(ids)} gene ids of the count matrix ({found}) is in the "
                        f"mapping; check the mapping is for {found} -> {to}.")
    out = counts.loc[:, keep].copy()
    out.columns = [t for t in targets if t is not None]
    out = _sum_duplicates(out)
    out.attrs.update(unmapped=tuple(i for i, k in zip(counts.columns, keep, strict=True) if not k),
                     source_id_type=found)
    return out


def _sum_duplicates(counts: pd.DataFrame) -> pd.DataFrame:
    attrs = dict(counts.attrs)
    if counts.columns.duplicated().any():
        counts = counts.T.groupby(level=0, sort=False).sum().T
    counts.columns.name = "gene"
    counts.attrs.update(attrs)
    return counts


def _robust_z(values: np.ndarray) -> np.ndarray:
    med = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - med))
    if mad == 0:
        return np.zeros_like(values, dtype=float)
    return (values - med) / mad


def count_qc(counts: pd.DataFrame, *, z_threshold: float = _OUTLIER_Z) -> pd.DataFrame:
    """Per-sample QC of a raw count matrix with robust outlier flags.

    A sample is an outlier when the robust z-score — ``(x - median) / (1.4826 * MAD)``
    (Leys et al. 2013, *J Exp Soc Psychol* 49:764) — of its log10 library size or of its
    log10 number of detected genes is beyond ``z_threshold`` in absolute value.

    Parameters
    ----------
    counts : pandas.DataFrame, shape (n_samples, n_genes)
        Raw counts (checked with :func:`validate_counts`).
    z_threshold : float
        Absolute robust z above which a sample is flagged (default 3.5).

    Returns
    -------
    pandas.DataFrame
        One row per sample: ``sample_id``, ``library_size`` (total counts), ``detected_genes``
        (genes with a count > 0), ``pct_counts_top50`` (share of counts in the sample's 50
        most-counted genes, %), ``library_size_z``, ``detected_genes_z`` (robust z of the
        logs), ``outlier`` (bool) and ``outlier_reason`` (empty when not an outlier).
    """
    if not z_threshold > 0:
        raise UsageError("The 'z_threshold' parameter of count_qc must be a positive number. "
                         f"Got {z_threshold!r} instead.")
    counts = validate_counts(counts)
    values = counts.to_numpy()
    library = values.sum(axis=1)
    detected = (values > 0).sum(axis=1)
    top = np.sort(values, axis=1)[:, ::-1][:, :_TOP_GENES].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct_top = np.where(library > 0, 100.0 * top / np.maximum(library, 1), np.nan)
    z_lib = _robust_z(np.log10(library + 1.0))
    z_det = _robust_z(np.log10(detected + 1.0))
    reasons = []
    for zl, zd in zip(z_lib, z_det, strict=True):
        parts = []
        if abs(zl) > z_threshold:
            parts.append(f"library size robust z = {zl:.1f}")
        if abs(zd) > z_threshold:
            parts.append(f"detected genes robust z = {zd:.1f}")
        reasons.append("; ".join(parts))
    return pd.DataFrame({
        "sample_id": counts.index.to_numpy(), "library_size": library,
        "detected_genes": detected, "pct_counts_top50": pct_top, "library_size_z": z_lib,
        "detected_genes_z": z_det, "outlier": [bool(r) for r in reasons],
        "outlier_reason": reasons})
