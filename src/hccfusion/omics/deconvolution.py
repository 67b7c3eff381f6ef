"""Immune and stromal cell abundance from bulk expression by marker-gene scores.

Two published marker-based methods, re-implemented on the gene lists shipped in
``hccfusion/data/genes`` (sources in its ``SOURCES.md``):

* MCP-counter (Becht et al. 2016, *Genome Biol* 17:218): the abundance score of a cell
  population in a sample is the arithmetic mean of the log2 expression of its marker genes.
  Scores compare one population across samples, not populations within a sample.
* ESTIMATE (Yoshihara et al. 2013, *Nat Commun* 4:2612): a stromal and an immune score, each the
  un-normalised single-sample GSEA enrichment score (Barbie et al. 2009, *Nature* 462:108) of a
  141-gene signature, and their sum, the ESTIMATE score.

Both need HGNC symbols; an expression matrix in Ensembl ids is refused with a pointer to
:func:`hccfusion.omics.rnaseq.harmonise_gene_ids`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.rnaseq import gene_id_type

__all__ = ["ESTIMATE_FILE", "MCP_COUNTER_FILE", "McpCounterResult", "immune_stromal_scores",
           "mcp_counter_scores"]

MCP_COUNTER_FILE = "becht2016_mcpcounter.gmt"
ESTIMATE_FILE = "yoshihara2013_estimate.gmt"
MARKER_REPORT_COLUMNS: tuple[str, ...] = ("population", "n_markers", "n_present", "scored")
ESTIMATE_COLUMNS: tuple[str, ...] = ("stromal_score", "immune_score", "estimate_score")
# ESTIMATE weights each signature gene by its within-sample rank to this power (as ssGSEA).
_ESTIMATE_ALPHA = 0.25
# log2 expression above this (2**40 ~ 1e12) can only be an untransformed scale.
_MAX_LOG2 = 40.0

GeneLists = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class McpCounterResult:
    """MCP-counter abundance scores and which markers they rest on.

    Attributes
    ----------
    scores : pandas.DataFrame, shape (n_samples, n_scored_populations)
        Mean log2 expression of each population's markers present in the data; index
        ``sample_id`` (input order), one column per scored population.
    markers_used : pandas.DataFrame
        One row per population (:data:`MARKER_REPORT_COLUMNS`): ``population``, ``n_markers``
        (markers in the signature), ``n_present`` (of those, genes in the expression matrix),
        ``scored`` (False when too few markers were present and the population was left out).
    """

    scores: pd.DataFrame
    markers_used: pd.DataFrame


def _packaged(file_name: str) -> dict[str, tuple[str, ...]]:
    from hccfusion.omics.genesets import read_gmt

    with resources.as_file(resources.files("hccfusion.data").joinpath("genes", file_name)) as p:
        return read_gmt(p)


def _check_expression(expression: object, caller: str) -> pd.DataFrame:
    if not isinstance(expression, pd.DataFrame) or expression.empty:
        got = (type(expression).__name__ if not isinstance(expression, pd.DataFrame)
               else "an empty DataFrame")
        raise UsageError(f"The 'expression' parameter of {caller} must be a non-empty samples x "
                         f"genes DataFrame of log2 expression. Got {got} instead.")
    for axis, label in ((expression.index, "sample"), (expression.columns, "gene")):
        if axis.duplicated().any():
            raise DataError(f"{label.capitalize()} {axis[axis.duplicated()][0]} appears more "
                            f"than once in the expression matrix; make {label} ids unique first.")
    try:
        values = expression.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        bad = [c for c in expression.columns if not pd.api.types.is_numeric_dtype(expression[c])]
        raise DataError(f"Expression must be numbers; gene(s) {', '.join(map(str, bad[:5]))} "
                        "hold non-numeric values.") from err
    if not np.isfinite(values).all():
        i, j = np.argwhere(~np.isfinite(values))[0]
        raise DataError(f"Expression of gene {expression.columns[j]} in sample "
                        f"{expression.index[i]} is not a finite number ({values[i, j]!r}).")
    if values.max() > _MAX_LOG2:
        i, j = np.unravel_index(int(np.argmax(values)), values.shape)
        raise DataError(f"Expression of gene {expression.columns[j]} in sample "
                        f"{expression.index[i]} is {values[i, j]:.4g}, too large for a log2 "
                        "scale; transform counts first (e.g. "
                        "hccfusion.omics.pathway_scores.log_cpm).")
    id_type = gene_id_type(expression.columns)
    if id_type != "symbol":
        raise DataError(f"The expression matrix uses {id_type} gene ids but the marker genes are "
                        "HGNC symbols; convert with hccfusion.omics.rnaseq.harmonise_gene_ids "
                        "first.")
    out = pd.DataFrame(values, index=expression.index.copy(),
                       columns=pd.Index(expression.columns.astype(str)))
    out.index.name = "sample_id"
    return out


def _resolve_markers(markers: object, caller: str) -> dict[str, tuple[str, ...]]:
    from hccfusion.omics.genesets import read_gmt

    if isinstance(markers, (str, Path)):
        return read_gmt(markers)
    if (not isinstance(markers, Mapping) or not markers
            or any(isinstance(v, str) for v in markers.values())):
        raise UsageError(f"The 'markers' parameter of {caller} must be None, a GMT path or a "
                         "non-empty mapping of population name to a list of genes. Got "
                         f"{type(markers).__name__} instead.")
    return {str(k): tuple(dict.fromkeys(map(str, v))) for k, v in markers.items()}


def _population_name(set_name: str) -> str:
    return set_name.removeprefix("MCPCOUNTER_").lower()


def mcp_counter_scores(expression: pd.DataFrame, *, markers: GeneLists | str | Path | None = None,
                       min_markers: int = 2) -> McpCounterResult:
    """MCP-counter abundance scores of immune and stromal cell populations.

    MCP-counter (Becht et al. 2016, *Genome Biol* 17:218) scores a population in a sample by the
    arithmetic mean of the log2 expression of its transcriptomic markers, genes expressed
    specifically by that population. A score is proportional to the population's abundance
    across samples of one data set; it does not compare populations within a sample, and it has
    no unit.

    Parameters
    ----------
    expression : pandas.DataFrame, shape (n_samples, n_genes)
        log2 expression (e.g. :func:`hccfusion.omics.pathway_scores.log_cpm`, log2 TPM + 1,
        RMA microarray values); index ``sample_id``, columns HGNC symbols.
    markers : mapping of str to sequence of str, GMT path, or None
        Population -> marker genes. Default: the 10 MCP-counter populations shipped in
        ``becht2016_mcpcounter.gmt`` (T cells, CD8 T cells, cytotoxic lymphocytes, B lineage, NK
        cells, monocytic lineage, myeloid dendritic cells, neutrophils, endothelial cells,
        fibroblasts), named ``t_cells``, ``cd8_t_cells``, … in the output.
    min_markers : int
        A population is scored only when at least ``min(min_markers, n_markers)`` of its markers
        are in ``expression`` (so the one-marker CD8 T-cell population, CD8B, is scored when
        CD8B is present); otherwise it is left out of ``scores`` and reported with
        ``scored=False``.

    Returns
    -------
    McpCounterResult
        ``scores`` (samples x scored populations) and ``markers_used`` (one row per population).

    Raises
    ------
    UsageError
        If an argument is malformed.
    DataError
        If expression values are missing, not finite or not on a log2 scale, ids repeat, the
        genes are not HGNC symbols (e.g. Ensembl ids: harmonise with
        :func:`hccfusion.omics.rnaseq.harmonise_gene_ids`), or no population can be scored.

    Examples
    --------
    >>> import pandas as pd
    >>> x = pd.DataFrame({"CD8B": [1.0, 5.0], "GNLY": [2.0, 6.0], "TP53": [8.0, 8.0]},
    ...                  index=["s1", "s2"])
    >>> res = mcp_counter_scores(x, markers={"cd8": ["CD8B"], "nk_like": ["GNLY", "NKG7"]},
    ...                          min_markers=1)
    >>> res.scores.loc["s2"].tolist()
    [5.0, 6.0]
    """
    caller = "mcp_counter_scores"
    if isinstance(min_markers, bool) or not isinstance(min_markers, (int, np.integer)) or (
            min_markers < 1):
        raise UsageError(f"The 'min_markers' parameter of {caller} must be an integer >= 1. "
                         f"Got {min_markers!r} instead.")
    data = _check_expression(expression, caller)
    if markers is None:
        sets = {_population_name(k): v for k, v in _packaged(MCP_COUNTER_FILE).items()}
    else:
        sets = _resolve_markers(markers, caller)
    genes = data.columns
    scores: dict[str, np.ndarray] = {}
    report = []
    for population, members in sets.items():
        present = [g for g in members if g in genes]
        scored = len(present) >= min(int(min_markers), len(members))
        if scored:
            scores[population] = data[present].to_numpy().mean(axis=1)
        report.append((population, len(members), len(present), scored))
    markers_used = pd.DataFrame(report, columns=list(MARKER_REPORT_COLUMNS))
    if not scores:
        raise DataError(f"No population has {min_markers} or more of its markers in the "
                        f"expression matrix ({len(genes)} genes); check that the genes are HGNC "
                        "symbols and the matrix is not a filtered subset.")
    table = pd.DataFrame(scores, index=data.index)
    return McpCounterResult(scores=table, markers_used=markers_used)


def _resolve_signature(value: object, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    from hccfusion.omics.genesets import read_gmt

    if value is None:
        return default
    if isinstance(value, (str, Path)):
        sets = read_gmt(value)
        if len(sets) != 1:
            raise UsageError(f"The '{name}' parameter of immune_stromal_scores must be a GMT "
                             f"file holding exactly one gene set. Got {len(sets)} sets "
                             f"({', '.join(list(sets)[:5])}) in '{value}' instead.")
        return next(iter(sets.values()))
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise UsageError(f"The '{name}' parameter of immune_stromal_scores must be a mapping "
                             f"with exactly one gene set. Got {len(value)} sets instead.")
        value = next(iter(value.values()))
    if isinstance(value, str) or not isinstance(value, (Sequence, pd.Index, np.ndarray)) or (
            len(value) == 0):
        raise UsageError(f"The '{name}' parameter of immune_stromal_scores must be None, a "
                         "non-empty list of gene symbols, a one-set mapping or a one-set GMT "
                         f"path. Got {type(value).__name__} instead.")
    return tuple(dict.fromkeys(map(str, value)))


def _ssgsea_sum(ranks: np.ndarray, order: np.ndarray, hit: np.ndarray, alpha: float) -> np.ndarray:
    """Un-normalised ssGSEA enrichment score of one gene set in every sample.

    ``ranks`` (samples x genes) are ascending within-sample ranks (1 = lowest); ``order`` holds
    each sample's 0-based position of every gene when genes are sorted by decreasing
    expression; ``hit`` marks the set's genes. The running sum at position i is
    ``P_hit(i) - P_miss(i)`` with ``P_hit`` the rank^alpha-weighted share of set genes at
    positions <= i and ``P_miss`` the share of the other genes; the score is its sum over all
    positions. A gene at position p contributes to the n_genes - p running sums that follow it,
    which gives the sum without materialising the walk.
    """
    n_genes = ranks.shape[1]
    after = n_genes - order  # number of running-sum positions at or after each gene
    weights = ranks[:, hit] ** alpha
    p_hit = (weights * after[:, hit]).sum(axis=1) / weights.sum(axis=1)
    p_miss = after[:, ~hit].sum(axis=1) / float((~hit).sum())
    return p_hit - p_miss


def immune_stromal_scores(expression: pd.DataFrame, *,
                          immune: Sequence[str] | GeneLists | str | Path | None = None,
                          stromal: Sequence[str] | GeneLists | str | Path | None = None,
                          min_genes: int = 10) -> pd.DataFrame:
    """ESTIMATE stromal, immune and ESTIMATE scores (Yoshihara et al. 2013).

    Within each sample genes are ranked by expression, and each signature's un-normalised
    single-sample GSEA score (Barbie et al. 2009, *Nature* 462:108) is computed as in the
    ESTIMATE method (Yoshihara et al. 2013, *Nat Commun* 4:2612): walking down the genes from the
    highest expressed, the running difference between the share of signature genes seen
    (each weighted by its within-sample rank to the power 0.25) and the share of other genes
    seen is summed over all positions. The ESTIMATE score is stromal + immune. Each score
    depends on its sample only, so it is unchanged by the other samples scored with it.

    The published tool first restricts a matrix to the 10,412 genes common to six expression
    platforms; this function scores the genes given, so absolute values match the published
    scores only on that same gene set. Compare scores within one data set and gene universe.
    The ESTIMATE tumour-purity formula was fitted on Affymetrix arrays and is not provided.

    Parameters
    ----------
    expression : pandas.DataFrame, shape (n_samples, n_genes)
        log2 expression (e.g. :func:`hccfusion.omics.pathway_scores.log_cpm`); index
        ``sample_id``, columns HGNC symbols. Only within-sample ranks are used.
    immune, stromal : sequence of str, one-set mapping, one-set GMT path, or None
        The signatures. Default: the 141-gene ESTIMATE immune and stromal signatures shipped in
        ``yoshihara2013_estimate.gmt`` (in the symbols of the packaged gene universe; four
        predate current HGNC names, see ``SOURCES.md``).
    min_genes : int
        Each signature needs at least this many genes in ``expression``.

    Returns
    -------
    pandas.DataFrame, shape (n_samples, 3)
        Columns :data:`ESTIMATE_COLUMNS` (``stromal_score``, ``immune_score``,
        ``estimate_score``), index ``sample_id`` in input order. ``attrs['genes_present']``
        holds ``{'stromal': n, 'immune': n}``, the signature genes found in ``expression``.

    Raises
    ------
    UsageError
        If an argument is malformed.
    DataError
        If expression values are missing, not finite or not log2, ids repeat, genes are not HGNC
        symbols (harmonise with :func:`hccfusion.omics.rnaseq.harmonise_gene_ids`), or a
        signature has fewer than ``min_genes`` genes in the data, or covers every gene.
    """
    from scipy.stats import rankdata

    caller = "immune_stromal_scores"
    if isinstance(min_genes, bool) or not isinstance(min_genes, (int, np.integer)) or (
            min_genes < 1):
        raise UsageError(f"The 'min_genes' parameter of {caller} must be an integer >= 1. "
                         f"Got {min_genes!r} instead.")
    data = _check_expression(expression, caller)
    packaged = _packaged(ESTIMATE_FILE) if immune is None or stromal is None else {}
    signatures = {
        "stromal": _resolve_signature(stromal, "stromal",
                                      packaged.get("ESTIMATE_STROMAL_SIGNATURE", ())),
        "immune": _resolve_signature(immune, "immune",
                                     packaged.get("ESTIMATE_IMMUNE_SIGNATURE", ())),
    }
    values = data.to_numpy()
    ranks = rankdata(values, axis=1)
    # Position in decreasing expression; ties keep column order (stable sort).
    sort = np.argsort(-values, axis=1, kind="stable")
    order = np.empty_like(sort)
    np.put_along_axis(order, sort, np.arange(values.shape[1])[None, :], axis=1)
    genes = data.columns
    out: dict[str, np.ndarray] = {}
    present: dict[str, int] = {}
    for name, members in signatures.items():
        hit = genes.isin(members)
        present[name] = int(hit.sum())
        if hit.sum() < min_genes:
            raise DataError(f"Only {int(hit.sum())} of the {len(members)} {name} signature genes "
                            f"are in the expression matrix; {min_genes} are needed. Check that "
                            "the genes are HGNC symbols and the matrix is not a filtered subset.")
        if hit.all():
            raise DataError(f"Every gene of the expression matrix is in the {name} signature; "
                            "a rank-based score needs genes outside it.")
        out[f"{name}_score"] = _ssgsea_sum(ranks, order, np.asarray(hit), _ESTIMATE_ALPHA)
    table = pd.DataFrame(out, index=data.index)
    table["estimate_score"] = table["stromal_score"] + table["immune_score"]
    table.attrs["genes_present"] = present
    return table[list(ESTIMATE_COLUMNS)]
