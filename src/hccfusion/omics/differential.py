"""Differential expression between the model's risk groups with DESeq2 semantics (pydeseq2).

Raw counts are modelled as negative binomial with median-of-ratios size factors, gene-wise
dispersions shrunk towards a fitted mean–dispersion trend, and a Wald test of the group
coefficient in the design ``~ <covariates> + group`` (centre / sequencing batch first, so the
group effect is adjusted for them); p-values are adjusted by Benjamini–Hochberg with
independent filtering and Cooks-distance outlier handling as in DESeq2 (Love, Huber & Anders
2014, *Genome Biol* 15:550; pydeseq2: Muzellec et al. 2023, *Bioinformatics* 39:btad547). The
shrunken log2 fold changes use pydeseq2's apeGLM-style Cauchy prior (Zhu, Ibrahim & Love 2019,
*Bioinformatics* 35:2084).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.rnaseq import validate_counts
from hccfusion.omics.covariates import covariates_for_samples

GROUP_COLUMN = "group"
TABLE_COLUMNS: tuple[str, ...] = ("gene", "base_mean", "log2_fold_change", "lfc_se", "stat",
                                  "pvalue", "padj", "log2_fold_change_shrunk")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class DeResult:
    """Differential expression of one two-group comparison.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per tested gene (:data:`TABLE_COLUMNS`): ``gene``, ``base_mean`` (mean of the
        normalised counts), ``log2_fold_change`` (MLE, comparison group vs reference),
        ``lfc_se``, ``stat`` (Wald), ``pvalue``, ``padj`` (pydeseq2's BH with independent
        filtering; NaN where filtered), ``log2_fold_change_shrunk`` (NaN when not shrunk).
        Sorted by ``pvalue``.
    design : str
        The design formula, e.g. ``'~ centre + group'``.
    contrast : tuple of str
        ``('group', comparison, reference)``.
    n_per_group : dict of str to int
        Samples per group.
    n_genes_filtered : int
        Genes dropped by the low-count pre-filter before fitting.
    """

    table: pd.DataFrame
    design: str
    contrast: tuple[str, str, str]
    n_per_group: dict[str, int] = field(default_factory=dict)
    n_genes_filtered: int = 0


def _check_groups(groups: pd.Series, samples: pd.Index, reference: str,
                  min_per_group: int) -> tuple[pd.Series, str]:
    if not isinstance(groups, pd.Series):
        raise UsageError("The 'groups' parameter of differential_expression must be a pandas "
                         f"Series (sample_id -> group). Got {type(groups).__name__} instead.")
    if groups.index.duplicated().any():
        dup = groups.index[groups.index.duplicated()][0]
        raise DataError(f"Sample {dup} appears more than once in 'groups'.")
    missing = samples.difference(groups.index)
    if len(missing):
        raise DataError(f"{len(missing)} sample(s) of the count matrix have no group (e.g. "
                        f"{', '.join(map(str, missing[:5]))}); give every sample a group or drop "
                        "it from the counts.")
    extra = groups.index.difference(samples)
    if len(extra):
        raise DataError(f"{len(extra)} sample(s) in 'groups' are not in the count matrix (e.g. "
                        f"{', '.join(map(str, extra[:5]))}).")
    groups = groups.reindex(samples)
    if groups.isna().any():
        raise DataError(f"Sample {groups.index[groups.isna()][0]} has a missing group.")
    groups = groups.astype(str)
    levels = sorted(groups.unique())
    if reference not in levels:
        raise UsageError("The 'reference' parameter of differential_expression must be one of "
                         f"the groups {levels}. Got {reference!r} instead.")
    if len(levels) != 2:
        raise DataError(f"Differential expression compares exactly two groups; 'groups' holds "
                        f"{len(levels)}: {levels}.")
    counts = groups.value_counts()
    small = counts[counts < min_per_group]
    if len(small):
        raise DataError(f"Group '{small.index[0]}' has {int(small.iloc[0])} sample(s); at least "
                        f"{min_per_group} per group are needed, so it is not tested.")
    other = next(level for level in levels if level != reference)
    return groups, other


def _check_covariates(covariates: pd.DataFrame | None, samples: pd.Index) -> pd.DataFrame:
    if covariates is None:
        return pd.DataFrame(index=samples)
    if not isinstance(covariates, pd.DataFrame):
        raise UsageError("The 'covariates' parameter of differential_expression must be a "
                         f"DataFrame indexed by sample_id or None. Got "
                         f"{type(covariates).__name__} instead.")
    for name in covariates.columns:
        if name == GROUP_COLUMN or not _IDENTIFIER.match(str(name)):
            raise UsageError("The 'covariates' parameter of differential_expression must have "
                             "column names usable in a formula (letters, digits, '_'; not "
                             f"'{GROUP_COLUMN}'). Got {name!r} instead.")
    return covariates_for_samples(covariates, samples)


def differential_expression(*, counts: pd.DataFrame, groups: pd.Series,
                            covariates: pd.DataFrame | None = None, reference: str = "low",
                            min_per_group: int = 3, min_count: int = 10, shrink: bool = True,
                            n_cpus: int = 1, seed: int = 0) -> DeResult:
    """DESeq2 Wald test of one group against the reference, adjusted for covariates.

    Parameters
    ----------
    counts : pandas.DataFrame, shape (n_samples, n_genes)
        Raw counts (index ``sample_id``); checked with
        :func:`hccfusion.omics.rnaseq.validate_counts`.
    groups : pandas.Series
        ``sample_id`` -> group label (e.g. ``'high'``/``'low'`` risk), every counted sample.
    covariates : pandas.DataFrame, optional
        Per-sample adjustment variables indexed by ``sample_id`` (e.g. ``centre``, ``batch``);
        text columns are factors, numeric columns continuous.
    reference : str
        The reference group; fold changes are comparison / reference.
    min_per_group : int
        Smallest group size tested (default 3); a smaller group raises :class:`DataError`.
    min_count : int
        Pre-filter: keep genes with at least ``min_count`` reads in at least as many samples as
        the smaller group has (domain rule §8.1); 0 keeps every gene.
    shrink : bool
        Also report apeGLM-style shrunken fold changes.
    n_cpus : int
        Worker processes of pydeseq2.
    seed : int
        Recorded for reproducibility; pydeseq2's fit is deterministic.

    Returns
    -------
    DeResult

    Raises
    ------
    UsageError
        If an argument is malformed.
    DataError
        If counts are not raw integers, samples lack a group or covariate, there are not
        exactly two groups, or a group has fewer than ``min_per_group`` samples.
    """
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    for name, value, low in (("min_per_group", min_per_group, 2), ("min_count", min_count, 0),
                             ("n_cpus", n_cpus, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise UsageError(f"The '{name}' parameter of differential_expression must be an "
                             f"integer >= {low}. Got {value!r} instead.")
    del seed  # accepted for a uniform interface; nothing here is random
    counts = validate_counts(counts)
    groups, other = _check_groups(groups, counts.index, str(reference), int(min_per_group))
    cov = _check_covariates(covariates, counts.index)
    n_per_group = {str(k): int(v) for k, v in groups.value_counts().sort_index().items()}
    n_min = min(n_per_group.values())
    keep = (counts.to_numpy() >= min_count).sum(axis=0) >= n_min
    if not keep.any():
        raise DataError(f"No gene has >= {min_count} counts in >= {n_min} samples; nothing to "
                        "test.")
    filtered = counts.loc[:, keep]
    metadata = cov.copy()
    metadata[GROUP_COLUMN] = pd.Categorical(groups, categories=[str(reference), other])
    design = "~ " + " + ".join([*map(str, cov.columns), GROUP_COLUMN])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dds = DeseqDataSet(counts=filtered, metadata=metadata, design=design, quiet=True,
                           n_cpus=int(n_cpus))
        matrix = np.asarray(dds.obsm["design_matrix"], dtype=float)
        if np.linalg.matrix_rank(matrix) < matrix.shape[1]:
            raise DataError(f"The design '{design}' cannot be fitted: the group is confounded "
                            "with the covariates (or covariates with each other), e.g. every "
                            "sample of a centre is in one group; drop or merge covariates.")
        dds.deseq2()
        stats = DeseqStats(dds, contrast=[GROUP_COLUMN, other, str(reference)], quiet=True,
                           n_cpus=int(n_cpus))
        stats.summary()
        res = stats.results_df.copy()
        shrunk = np.full(len(res), np.nan)
        if shrink:
            stats.lfc_shrink(coeff=f"{GROUP_COLUMN}[T.{other}]")
            shrunk = stats.results_df["log2FoldChange"].reindex(res.index).to_numpy()
    table = pd.DataFrame({
        "gene": res.index.astype(str), "base_mean": res["baseMean"].to_numpy(),
        "log2_fold_change": res["log2FoldChange"].to_numpy(), "lfc_se": res["lfcSE"].to_numpy(),
        "stat": res["stat"].to_numpy(), "pvalue": res["pvalue"].to_numpy(),
        "padj": res["padj"].to_numpy(), "log2_fold_change_shrunk": shrunk})
    table = table.sort_values(["pvalue", "gene"], na_position="last", kind="mergesort")
    return DeResult(table=table.reset_index(drop=True), design=design,
                    contrast=(GROUP_COLUMN, other, str(reference)), n_per_group=n_per_group,
                    n_genes_filtered=int((~keep).sum()))
