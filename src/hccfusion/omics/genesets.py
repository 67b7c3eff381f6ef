"""Gene sets from local GMT files, preranked GSEA and single-sample enrichment scores.

Nothing is downloaded: sets come from GMT files on disk — the curated sets shipped in
``hccfusion/data/genes`` (sources in its ``SOURCES.md``) or a file the user fetched, such as
MSigDB Hallmark. Preranked GSEA (Subramanian et al. 2005, *PNAS* 102:15545) and ssGSEA (Barbie
et al. 2009, *Nature* 462:108) are computed with gseapy (Fang et al. 2023, *Bioinformatics*
39:btac757) without writing files or plots.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError, unknown_option
from hccfusion.omics.rnaseq import gene_id_type

GSEA_COLUMNS: tuple[str, ...] = ("term", "es", "nes", "pvalue", "fdr", "size", "leading_edge")
SINGLE_SAMPLE_METHODS: tuple[str, ...] = ("ssgsea",)

GeneSets = Mapping[str, tuple[str, ...] | list[str]]


def read_gmt(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Read a GMT file: one set a line, ``name<TAB>description<TAB>gene<TAB>gene…``.

    Parameters
    ----------
    path : str or Path
        The ``.gmt`` file.

    Returns
    -------
    dict of str to tuple of str
        Set name to its genes in file order (repeats within a set dropped). Blank lines and
        lines starting with ``#`` are skipped.

    Raises
    ------
    UsageError
        If the file does not exist.
    DataError
        If a line has no gene, or a set name repeats (the message names file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError("The 'path' parameter of read_gmt must be an existing GMT file. "
                         f"Got '{path}' instead.")
    return _parse(path.read_text(encoding="utf-8"), source=path.name)


def _parse(text: str, *, source: str) -> dict[str, tuple[str, ...]]:
    sets: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        genes = tuple(dict.fromkeys(g.strip() for g in fields[2:] if g.strip()))
        name = fields[0].strip()
        if not name or not genes:
            raise DataError(f"{source}, line {number}: a GMT line needs a set name, a description "
                            "and at least one gene, separated by tabs.")
        if name in sets:
            raise DataError(f"{source}, line {number}: gene set '{name}' appears twice.")
        sets[name] = genes
    return sets


def packaged_gene_sets() -> dict[str, tuple[str, ...]]:
    """Every gene set shipped in ``hccfusion/data/genes/*.gmt``, merged.

    A set name found in two files is prefixed with its file stem (``<stem>:<name>``) in both.

    Returns
    -------
    dict of str to tuple of str
        Set name to genes (HGNC symbols), files in alphabetical order.
    """
    folder = resources.files("hccfusion.data").joinpath("genes")
    per_file = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".gmt"):
            per_file[entry.name[:-4]] = _parse(entry.read_text(encoding="utf-8"),
                                               source=entry.name)
    seen: dict[str, int] = {}
    for sets in per_file.values():
        for name in sets:
            seen[name] = seen.get(name, 0) + 1
    merged: dict[str, tuple[str, ...]] = {}
    for stem, sets in per_file.items():
        for name, genes in sets.items():
            merged[f"{stem}:{name}" if seen[name] > 1 else name] = genes
    return merged


def _resolve_sets(gene_sets: GeneSets | str | Path, caller: str) -> dict[str, tuple[str, ...]]:
    if isinstance(gene_sets, (str, Path)):
        return read_gmt(gene_sets)
    if not isinstance(gene_sets, Mapping) or not gene_sets:
        raise UsageError(f"The 'gene_sets' parameter of {caller} must be a non-empty mapping of "
                         f"set name to genes or a GMT path. Got {type(gene_sets).__name__} "
                         "instead.")
    return {str(k): tuple(dict.fromkeys(map(str, v))) for k, v in gene_sets.items()}


def _check_id_match(genes: pd.Index, sets: dict[str, tuple[str, ...]], what: str) -> None:
    data_type = gene_id_type(genes)
    set_type = gene_id_type([g for members in sets.values() for g in members])
    if {data_type, set_type} == {"ensembl", "symbol"} or "mixed" in (data_type, set_type):
        raise DataError(f"The {what} uses {data_type} gene ids but the gene sets use {set_type} "
                        "ids; convert with hccfusion.omics.rnaseq.harmonise_gene_ids first.")


def _filter_sizes(genes: pd.Index, sets: dict[str, tuple[str, ...]], min_size: int,
                  max_size: int, what: str) -> dict[str, list[str]]:
    if not (isinstance(min_size, (int, np.integer)) and isinstance(max_size, (int, np.integer))
            and 1 <= min_size <= max_size):
        raise UsageError("The 'min_size' and 'max_size' parameters must be integers with "
                         f"1 <= min_size <= max_size. Got {min_size!r} and {max_size!r} instead.")
    present = set(map(str, genes))
    kept = {name: [g for g in members if g in present] for name, members in sets.items()}
    kept = {n: m for n, m in kept.items() if min_size <= len(m) <= max_size}
    if not kept:
        raise DataError(f"No gene set has between {min_size} and {max_size} genes in the {what} "
                        f"({len(present)} genes); check the gene ids and the size limits.")
    return kept


@contextlib.contextmanager
def _silenced():
    """gseapy logs and prints progress; keep library calls quiet."""
    logger = logging.getLogger("gseapy")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def preranked_gsea(*, ranking: pd.Series, gene_sets: GeneSets | str | Path,
                   permutations: int = 1000, seed: int = 0, min_size: int = 5,
                   max_size: int = 500) -> pd.DataFrame:
    """Preranked gene-set enrichment analysis (GSEA, Subramanian et al. 2005) with gseapy.

    The running-sum enrichment score is weighted by the ranking statistic (weight 1); its
    significance comes from ``permutations`` gene-set permutations, normalised by set size
    (NES) and FDR-controlled as in GSEA (gseapy's q-values).

    Parameters
    ----------
    ranking : pandas.Series
        Gene -> ranking statistic (e.g. the DESeq2 Wald ``stat``); higher = up in the
        comparison group. NaN entries are dropped.
    gene_sets : mapping of str to sequence of str, or path
        Gene sets, or a GMT file path.
    permutations : int
        Number of gene-set permutations (>= 10).
    seed : int
        Seed of the permutations.
    min_size, max_size : int
        Sets with fewer / more genes present in ``ranking`` are skipped.

    Returns
    -------
    pandas.DataFrame
        :data:`GSEA_COLUMNS`: ``term``, ``es``, ``nes``, ``pvalue`` (nominal), ``fdr``,
        ``size`` (genes of the set in the ranking), ``leading_edge`` (tuple of genes); sorted
        by ``nes`` descending.

    Raises
    ------
    UsageError
        If an argument is malformed.
    DataError
        If the ranking repeats a gene, its ids do not match the sets' id type, or no set fits
        the size limits.
    """
    import gseapy

    if not isinstance(ranking, pd.Series):
        raise UsageError("The 'ranking' parameter of preranked_gsea must be a pandas Series "
                         f"(gene -> statistic). Got {type(ranking).__name__} instead.")
    if not isinstance(permutations, (int, np.integer)) or permutations < 10:
        raise UsageError("The 'permutations' parameter of preranked_gsea must be an integer "
                         f">= 10. Got {permutations!r} instead.")
    rank = pd.to_numeric(ranking, errors="coerce").dropna()
    rank.index = rank.index.astype(str)
    if rank.index.duplicated().any():
        raise DataError(f"Gene {rank.index[rank.index.duplicated()][0]} appears more than once "
                        "in the ranking.")
    sets = _resolve_sets(gene_sets, "preranked_gsea")
    _check_id_match(rank.index, sets, "ranking")
    kept = _filter_sizes(rank.index, sets, min_size, max_size, "ranking")
    rank = rank.sort_values(ascending=False, kind="mergesort")
    with _silenced():
        result = gseapy.prerank(rnk=rank, gene_sets=kept, outdir=None, no_plot=True,
                                permutation_num=int(permutations), seed=int(seed),
                                min_size=int(min_size), max_size=int(max_size), threads=1,
                                verbose=False)
    res = result.res2d
    table = pd.DataFrame({
        "term": res["Term"].astype(str).to_numpy(),
        "es": pd.to_numeric(res["ES"]).to_numpy(dtype=float),
        "nes": pd.to_numeric(res["NES"]).to_numpy(dtype=float),
        "pvalue": pd.to_numeric(res["NOM p-val"]).to_numpy(dtype=float),
        "fdr": pd.to_numeric(res["FDR q-val"]).to_numpy(dtype=float)})
    table["size"] = [len(kept[t]) for t in table["term"]]
    table["leading_edge"] = [tuple(g for g in str(lead).split(";") if g)
                             for lead in res["Lead_genes"]]
    table = table.sort_values(["nes", "term"], ascending=[False, True], kind="mergesort")
    return table.reset_index(drop=True)


def single_sample_scores(*, expression: pd.DataFrame, gene_sets: GeneSets | str | Path,
                         method: str = "ssgsea", min_size: int = 2,
                         max_size: int = 500) -> pd.DataFrame:
    """Single-sample gene-set enrichment scores (ssGSEA, Barbie et al. 2009) with gseapy.

    Within each sample genes are ranked by expression and a rank-weighted (weight 0.25)
    running-sum difference between set members and the rest is integrated; scores are divided
    by the range of all scores (as GSVA's ``ssgsea.norm``), so they compare across samples of
    one call, not across calls.

    Parameters
    ----------
    expression : pandas.DataFrame, shape (n_samples, n_genes)
        Normalised, log-scale expression (e.g. VST or log2 CPM); index ``sample_id``.
    gene_sets : mapping of str to sequence of str, or path
        Gene sets, or a GMT file path.
    method : {'ssgsea'}
        Scoring method.
    min_size, max_size : int
        Sets with fewer / more genes present in ``expression`` are skipped.

    Returns
    -------
    pandas.DataFrame, shape (n_samples, n_sets)
        Normalised ssGSEA scores, index ``sample_id`` (input order), one column per scored set.

    Raises
    ------
    UsageError
        If ``method`` is unknown or an argument is malformed.
    DataError
        If values are missing or not finite, ids do not match, or no set fits the size limits.
    """
    import gseapy

    if method not in SINGLE_SAMPLE_METHODS:
        raise unknown_option("single-sample method", str(method), SINGLE_SAMPLE_METHODS)
    if not isinstance(expression, pd.DataFrame) or expression.empty:
        raise UsageError("The 'expression' parameter of single_sample_scores must be a non-empty "
                         "samples x genes DataFrame. Got "
                         f"{type(expression).__name__} instead.")
    values = expression.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        i, j = np.argwhere(~np.isfinite(values))[0]
        raise DataError(f"Expression of gene {expression.columns[j]} in sample "
                        f"{expression.index[i]} is not a finite number ({values[i, j]!r}).")
    if expression.columns.duplicated().any() or expression.index.duplicated().any():
        raise DataError("Expression has repeated gene or sample ids; make them unique first.")
    data = pd.DataFrame(values.T, index=expression.columns.astype(str),
                        columns=expression.index.astype(str))
    sets = _resolve_sets(gene_sets, "single_sample_scores")
    _check_id_match(data.index, sets, "expression matrix")
    kept = _filter_sizes(data.index, sets, min_size, max_size, "expression matrix")
    with _silenced():
        result = gseapy.ssgsea(data=data, gene_sets=kept, outdir=None, no_plot=True,
                               min_size=int(min_size), max_size=int(max_size), threads=1,
                               seed=0, verbose=False)
    res = result.res2d
    scores = (res.assign(NES=pd.to_numeric(res["NES"]))
              .pivot(index="Name", columns="Term", values="NES"))
    scores = scores.reindex(index=data.columns, columns=[t for t in kept if t in scores.columns])
    scores.index = expression.index.copy()
    scores.index.name = "sample_id"
    scores.columns.name = None
    return scores.astype(float)
