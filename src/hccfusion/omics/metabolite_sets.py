"""Over-representation analysis of metabolite sets read from a local GMT-like file.

File format (one set per line, tab-separated, as the GMT format of GSEA): set name, a
description (may be empty), then the member metabolite identifiers. Blank lines and lines
starting with ``#`` are ignored. Nothing is downloaded: KEGG / SMPDB sets are exported to such a
file once, with their source and licence noted next to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

__all__ = ["read_metabolite_sets", "over_representation"]


def read_metabolite_sets(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Read metabolite sets from a GMT-like file.

    Returns
    -------
    dict
        Set name → member identifiers (whitespace-trimmed, duplicates removed, file order kept).

    Raises
    ------
    UsageError
        The file does not exist.
    DataError
        A line with fewer than three fields, an empty member list, a duplicated set name, or a
        file without any set (each names the line number).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"The 'path' parameter of read_metabolite_sets must be an existing "
                         f"file. Got '{path}' instead.")
    sets: dict[str, tuple[str, ...]] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in raw.split("\t")]
        if len(fields) < 3:
            raise DataError(f"{path.name} line {number}: expected 'name<TAB>description<TAB>"
                            f"member…' (>= 3 tab-separated fields); got {len(fields)}.")
        name, members = fields[0], tuple(dict.fromkeys(m for m in fields[2:] if m))
        if not name:
            raise DataError(f"{path.name} line {number}: the set name is empty.")
        if not members:
            raise DataError(f"{path.name} line {number}: set '{name}' has no members.")
        if name in sets:
            raise DataError(f"{path.name} line {number}: set '{name}' is defined twice.")
        sets[name] = members
    if not sets:
        raise DataError(f"{path.name}: no metabolite set found.")
    return sets


def over_representation(hits: Iterable[str], *, background: Iterable[str],
                        sets: Mapping[str, Iterable[str]], min_size: int = 2) -> pd.DataFrame:
    """Hypergeometric over-representation test of every set, with BH q-values.

    For a set with ``K`` members in the background of ``N`` measured metabolites and ``n`` hits
    (e.g. the differential metabolites), of which ``k`` fall in the set,
    ``p = P(X ≥ k)``, ``X ~ Hypergeometric(N, K, n)`` — the one-sided Fisher exact test used by
    MetaboAnalyst's ORA (Xia & Wishart, 2010, Bioinformatics 26:2342). q-values by
    Benjamini & Hochberg (1995) over the tested sets.

    Parameters
    ----------
    hits : iterable of str
        Identifiers of interest; all must be in ``background``.
    background : iterable of str
        Every identifier that was measured (the universe); set members outside it are ignored.
    sets : mapping
        Set name → member identifiers (e.g. from :func:`read_metabolite_sets`).
    min_size : int
        Sets with fewer members in the background get status ``too_small`` and are not tested.

    Returns
    -------
    pandas.DataFrame
        One row per set, sorted by ``p``: ``set``, ``n_background`` (K), ``n_hits`` (k),
        ``expected`` (n K / N), ``fold_enrichment`` (k / expected), ``p``, ``q``, ``status``
        (``tested``/``too_small``), ``hit_members`` (';'-joined).
    """
    from scipy.stats import hypergeom

    from hccfusion.omics.multiple_testing import bh_fdr

    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 1:
        raise UsageError(f"The 'min_size' parameter of over_representation must be an integer "
                         f">= 1. Got {min_size!r} instead.")
    if isinstance(hits, str) or isinstance(background, str):
        raise UsageError("The 'hits' and 'background' parameters of over_representation must "
                         "be collections of identifiers, not a single string.")
    universe = set(background)
    hit_set = set(hits)
    outside = sorted(hit_set - universe)
    if outside:
        raise DataError(f"hit '{outside[0]}' is not in the background ({len(outside)} such); "
                        "the background must contain every measured metabolite.")
    if not sets:
        raise DataError("no metabolite sets were given.")
    n_universe, n_hits = len(universe), len(hit_set)
    rows = []
    for name, members in sets.items():
        measured = set(members) & universe
        in_set = sorted(measured & hit_set)
        big_k, k = len(measured), len(in_set)
        expected = n_hits * big_k / n_universe if n_universe else np.nan
        tested = big_k >= min_size
        rows.append({"set": name, "n_background": big_k, "n_hits": k, "expected": expected,
                     "fold_enrichment": k / expected if expected else np.nan,
                     "p": float(hypergeom.sf(k - 1, n_universe, big_k, n_hits)) if tested
                     else np.nan,
                     "status": "tested" if tested else "too_small",
                     "hit_members": ";".join(in_set)})
    table = pd.DataFrame(rows)
    table.insert(table.columns.get_loc("p") + 1, "q", bh_fdr(table["p"].to_numpy(float)))
    return table.sort_values(["p", "set"], na_position="last", kind="mergesort") \
        .reset_index(drop=True)
