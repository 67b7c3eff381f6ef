"""Per-sample pathway scores that do not depend on the other samples scored with them.

A model trained on one cohort and applied to another needs a score of a sample that is the
same whichever samples it was computed with; ssGSEA's normalisation by the range of a run's
scores and GSVA's kernel estimates across samples are not. We use the rank-based single-sample
score of Foroutan et al. (BMC Bioinformatics 2018, "singscore"): within one sample genes are
ranked by expression, and a set's score is the mean rank of its genes divided by the number of
genes, centred by (n + 1) / (2n), the expected value for a random set: 0 means "no different
from a random set", and the range is about ±0.5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

__all__ = ["log_cpm", "rank_scores"]


def log_cpm(counts: pd.DataFrame, *, prior_count: float = 1.0) -> pd.DataFrame:
    """log2 counts-per-million of a samples × genes count matrix (edgeR's ``cpm(log=TRUE)``
    with a fixed prior count, without TMM factors).

    Parameters
    ----------
    counts : DataFrame, shape (n_samples, n_genes)
        Non-negative counts; index ``sample_id``.
    prior_count : float
        Added to every count before the log (scaled by library size / mean library size).
    """
    values = counts.to_numpy(dtype=float)
    if not np.isfinite(values).all() or (values < 0).any():
        i, j = np.argwhere(~np.isfinite(values) | (values < 0))[0]
        raise DataError(f"count of gene {counts.columns[j]} in sample {counts.index[i]} is "
                        f"{values[i, j]!r}; counts must be finite and non-negative")
    lib = values.sum(axis=1, keepdims=True)
    if (lib <= 0).any():
        raise DataError(f"sample {counts.index[int(np.argmin(lib))]} has no counts")
    prior = prior_count * lib / lib.mean()
    out = np.log2((values + prior) / (lib + 2 * prior) * 1e6)
    return pd.DataFrame(out, index=counts.index, columns=counts.columns)


def rank_scores(expression: pd.DataFrame, gene_sets: Mapping[str, Sequence[str]], *,
                min_size: int = 5) -> pd.DataFrame:
    """Rank-based single-sample scores (Foroutan et al. 2018), centred at 0.

    Parameters
    ----------
    expression : DataFrame, shape (n_samples, n_genes)
        Any within-sample monotone expression scale (log-CPM, TPM); index ``sample_id``.
    gene_sets : mapping
        Set name → gene symbols; genes absent from ``expression`` are ignored.
    min_size : int
        Sets with fewer genes present are left out.

    Returns
    -------
    DataFrame, shape (n_samples, n_sets)
        ``mean rank of the set's genes / n_genes − (n_genes + 1) / (2 n_genes)``, ranks from 1
        (lowest) to n_genes with ties averaged.
    """
    if not isinstance(min_size, int) or min_size < 1:
        raise UsageError(f"The 'min_size' parameter of rank_scores must be a positive int. "
                         f"Got {min_size!r} instead.")
    from scipy.stats import rankdata

    genes = pd.Index(expression.columns.astype(str))
    if genes.duplicated().any():
        raise DataError(f"gene {genes[genes.duplicated()][0]} appears twice in the expression "
                        "matrix; sum or drop duplicates first")
    values = expression.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        i, j = np.argwhere(~np.isfinite(values))[0]
        raise DataError(f"expression of gene {genes[j]} in sample {expression.index[i]} is "
                        f"not finite")
    n = values.shape[1]
    ranks = rankdata(values, axis=1) / n
    scores = {}
    for name, members in gene_sets.items():
        idx = genes.get_indexer(pd.Index([str(g) for g in members]).unique())
        idx = idx[idx >= 0]
        if len(idx) >= min_size:
            scores[name] = ranks[:, idx].mean(axis=1) - (n + 1) / (2 * n)
    if not scores:
        raise DataError(f"no gene set has {min_size} or more genes in the expression matrix; "
                        "check that gene ids are HGNC symbols (see omics.rnaseq.gene_id_type)")
    return pd.DataFrame(scores, index=expression.index)
