"""Bulk RNA-seq raw counts of biopsy cores, driven by the latent state.

Model (gamma–Poisson, i.e. negative binomial, as DESeq2 assumes)::

    count[g, s] ~ NB(mean = depth[s] * share[g] * 2 ** (B[g] @ x[s] + centre[g, c(s)] + batch[g, b(s)]),
                     dispersion = alpha[g])

``share`` is a gene's share of the transcriptome (a mixture of expressed and barely expressed
genes, over the whole 19,280-gene universe, so per-gene counts stay realistic whatever
``n_genes``); ``alpha[g] = (0.1 + 1.5 / typical count) * lognormal`` follows the mean–dispersion
trend of bulk tumour RNA-seq; ``depth`` is the number of mapped reads (about 15–60 M);
``x[s]`` holds the patient's ``immune``, ``proliferation``, ``hypoxia`` (z) and ``wnt`` (0/1);
``B`` is non-zero only for the members of the planted gene sets (:data:`PLANTED_SETS`) and
:data:`EXTRA_PLANTED_GENES`. Every other gene is null apart from the centre and batch effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hccfusion.errors import UsageError
from hccfusion.simulate.omics_genesets import gene_universe, shipped_gene_sets

FACTORS = ("immune", "proliferation", "hypoxia", "wnt")

#: Shipped gene sets whose members follow a latent factor (direction +1). Every other shipped
#: set (MCP-counter monocytic lineage, neutrophils, fibroblasts; IMmotion150 myeloid
#: inflammation; Ayers housekeeping) is null.
PLANTED_SETS: dict[str, str] = {
    "AYERS2017_IFNG_6": "immune",
    "AYERS2017_EXPANDED_IMMUNE_18": "immune",
    "AYERS2017_TCELL_INFLAMED_GEP_18": "immune",
    "ROONEY2015_CYTOLYTIC_ACTIVITY": "immune",
    "MCDERMOTT2018_TEFF": "immune",
    "MCPCOUNTER_T_CELLS": "immune",
    "MCPCOUNTER_CD8_T_CELLS": "immune",
    "MCPCOUNTER_CYTOTOXIC_LYMPHOCYTES": "immune",
    "MCPCOUNTER_NK_CELLS": "immune",
    "MCPCOUNTER_B_LINEAGE": "immune",
    "MCPCOUNTER_MYELOID_DENDRITIC_CELLS": "immune",
    "TIROSH2016_S_PHASE": "proliferation",
    "TIROSH2016_G2M": "proliferation",
    "NIELSEN2010_PAM50_PROLIFERATION": "proliferation",
    "BUFFA2010_HYPOXIA_METAGENE": "hypoxia",
    "MCDERMOTT2018_ANGIOGENESIS": "hypoxia",
    "MCPCOUNTER_ENDOTHELIAL_CELLS": "hypoxia",
    "WNT_CTNNB1_LIVER_TARGETS": "wnt",
}

#: Planted genes outside every shipped set.
EXTRA_PLANTED_GENES: dict[str, str] = {"ANGPT2": "hypoxia"}

#: Range of the per-gene effect (log2 fold change per SD of the factor; per True for ``wnt``).
EFFECT_RANGE_LOG2: dict[str, tuple[float, float]] = {
    "immune": (0.6, 1.1), "proliferation": (0.5, 1.0), "hypoxia": (0.4, 0.8), "wnt": (1.5, 3.0)}

_TYPICAL_DEPTH = 30e6
_BATCH_SIZE = 24


@dataclass(frozen=True)
class RnaSeqResult:
    """Simulated RNA-seq and its truth.

    Attributes
    ----------
    counts : pandas.DataFrame
        Raw counts, genes × samples (index ``gene``; columns the QC-passed ``sample_id``), int64.
    qc : pandas.DataFrame
        One row per RNA sample: ``sample_id``, ``patient_id``, ``center``, ``batch``,
        ``preservation`` (``fresh_frozen``/``ffpe``), ``dv200_pct``, ``mapped_reads``,
        ``library_size`` (sum of counts over the simulated genes; NA if failed), ``qc_pass``,
        ``qc_reason``.
    gene_truth : pandas.DataFrame
        One row per gene: ``gene``, ``planted``, ``<factor>_log2fc`` for each factor,
        ``baseline_log10_cpm``, ``dispersion``, ``center_<code>_log2fc``.
    set_truth : pandas.DataFrame
        One row per (shipped set, factor): ``set_name``, ``source_file``, ``factor``,
        ``direction`` (+1 planted, 0 null), ``planted``, ``n_genes``,
        ``fraction_members_loaded`` (share of members with a non-zero effect on the factor).
    """

    counts: pd.DataFrame
    qc: pd.DataFrame
    gene_truth: pd.DataFrame
    set_truth: pd.DataFrame


def planted_gene_factors() -> dict[str, set[str]]:
    """Gene → factors it follows, from :data:`PLANTED_SETS` and :data:`EXTRA_PLANTED_GENES`."""
    sets = shipped_gene_sets()
    out: dict[str, set[str]] = {}
    for name, factor in PLANTED_SETS.items():
        for gene in sets.loc[sets["set_name"] == name, "gene"]:
            out.setdefault(gene, set()).add(factor)
    for gene, factor in EXTRA_PLANTED_GENES.items():
        out.setdefault(gene, set()).add(factor)
    return out


def simulate_rnaseq(*, latent: pd.DataFrame, rna_samples: pd.DataFrame, rng: np.random.Generator,
                    n_genes: int | None = None) -> RnaSeqResult:
    """Simulate raw counts for the RNA samples.

    Parameters
    ----------
    latent : pandas.DataFrame
        Latent state indexed by ``patient_id`` with ``center``, ``cohort`` and :data:`FACTORS`.
    rna_samples : pandas.DataFrame
        Rows of the sample table with ``kind == "rna"`` (``sample_id``, ``patient_id``).
    rng : numpy.random.Generator
        Random stream.
    n_genes : int, optional
        Number of genes; all shipped gene-set members are always included and the rest is a
        random draw from the universe. None (default) simulates the whole universe (19,280).

    Returns
    -------
    RnaSeqResult
    """
    universe = np.array(gene_universe())
    sets = shipped_gene_sets()
    planted = planted_gene_factors()
    required = set(sets["gene"]) | set(planted)
    is_required = np.isin(universe, sorted(required))
    if n_genes is None:
        n_genes = universe.size
    if not int(is_required.sum()) <= n_genes <= universe.size:
        raise UsageError(f"The 'n_genes' parameter of simulate_omics must be an int in "
                         f"[{int(is_required.sum())}, {universe.size}] (every gene-set member is "
                         f"simulated) or None. Got {n_genes!r} instead.")

    # Transcriptome shares over the whole universe, so per-gene counts do not depend on n_genes.
    expressed = is_required | (rng.random(universe.size) < 0.65)
    log10_cpm = np.where(expressed, rng.normal(0.9, 0.8, universe.size),
                         rng.normal(-1.2, 0.6, universe.size))
    share = 10.0 ** log10_cpm
    share /= share.sum()
    background = rng.choice(np.flatnonzero(~is_required), n_genes - int(is_required.sum()),
                            replace=False)
    keep = np.sort(np.concatenate([np.flatnonzero(is_required), background]))
    genes, share = universe[keep], share[keep]
    typical = share * _TYPICAL_DEPTH
    dispersion = np.clip((0.1 + 1.5 / np.maximum(typical, 0.05))
                         * np.exp(rng.normal(0.0, 0.35, genes.size)), 0.01, 20.0)

    effects = np.zeros((genes.size, len(FACTORS)))
    for i, gene in enumerate(genes):
        for factor in sorted(planted.get(gene, ())):
            lo, hi = EFFECT_RANGE_LOG2[factor]
            effects[i, FACTORS.index(factor)] = rng.uniform(lo, hi)

    centers = sorted(latent["center"].unique())
    center_effect = {c: (np.zeros(genes.size) if k == 0 else rng.normal(0.0, 0.25, genes.size))
                     for k, c in enumerate(centers)}

    qc = _qc_table(latent=latent, rna_samples=rna_samples, rng=rng)
    batch_effect = {b: rng.normal(0.0, 0.1, genes.size) for b in sorted(qc["batch"].unique())}
    passed = qc[qc["qc_pass"]]
    x = latent.loc[passed["patient_id"], list(FACTORS)].to_numpy(dtype=float)
    log2_mean = (np.log2(share)[:, None] + np.log2(passed["mapped_reads"].to_numpy(float))[None, :]
                 + effects @ x.T
                 + np.column_stack([center_effect[c] + batch_effect[b]
                                    for c, b in zip(passed["center"], passed["batch"])]))
    mean = 2.0 ** log2_mean
    shape = 1.0 / dispersion[:, None]
    lam = rng.gamma(shape=np.broadcast_to(shape, mean.shape), scale=mean / shape)
    counts = pd.DataFrame(rng.poisson(lam).astype(np.int64), index=pd.Index(genes, name="gene"),
                          columns=passed["sample_id"].to_list())
    qc["library_size"] = qc["sample_id"].map(counts.sum(axis=0)).astype("Int64")

    gene_truth = pd.DataFrame({"gene": genes, "planted": (effects != 0).any(axis=1)})
    for j, factor in enumerate(FACTORS):
        gene_truth[f"{factor}_log2fc"] = effects[:, j]
    gene_truth["baseline_log10_cpm"] = np.log10(share * 1e6)
    gene_truth["dispersion"] = dispersion
    for c in centers:
        gene_truth[f"center_{c}_log2fc"] = center_effect[c]
    return RnaSeqResult(counts=counts, qc=qc, gene_truth=gene_truth,
                        set_truth=_set_truth(sets, gene_truth))


def _qc_table(*, latent: pd.DataFrame, rna_samples: pd.DataFrame,
              rng: np.random.Generator) -> pd.DataFrame:
    """Sequencing QC: prospective cores are fresh-frozen, retrospective ones archived FFPE;
    DV200 < 30 % fails (about 7 % fresh-frozen, 15 % FFPE)."""
    qc = rna_samples[["sample_id", "patient_id"]].reset_index(drop=True).copy()
    qc["center"] = latent.loc[qc["patient_id"], "center"].to_numpy()
    ffpe = latent.loc[qc["patient_id"], "cohort"].to_numpy() != "prospective"
    qc["preservation"] = np.where(ffpe, "ffpe", "fresh_frozen")
    fail = rng.random(len(qc)) < np.where(ffpe, 0.15, 0.07)
    good = np.where(ffpe, 30 + 45 * rng.beta(2, 2, len(qc)), 30 + 65 * rng.beta(5, 2, len(qc)))
    qc["dv200_pct"] = np.round(np.where(fail, rng.uniform(5, 29.5, len(qc)), good), 1)
    qc["mapped_reads"] = np.round(np.clip(_TYPICAL_DEPTH * np.exp(rng.normal(0, 0.3, len(qc))),
                                          15e6, 60e6)).astype(np.int64)
    qc["qc_pass"] = ~fail
    qc["qc_reason"] = pd.Series(np.where(fail, "DV200 < 30 %", None), dtype="object")
    qc["batch"] = ""
    for center in sorted(qc["center"].unique()):
        idx = rng.permutation(np.flatnonzero(qc["center"].to_numpy() == center))
        for k in range(0, idx.size, _BATCH_SIZE):
            qc.loc[idx[k:k + _BATCH_SIZE], "batch"] = f"{center}-RNA{k // _BATCH_SIZE + 1}"
    qc["library_size"] = pd.NA
    return qc[["sample_id", "patient_id", "center", "batch", "preservation", "dv200_pct",
               "mapped_reads", "library_size", "qc_pass", "qc_reason"]]


def _set_truth(sets: pd.DataFrame, gene_truth: pd.DataFrame) -> pd.DataFrame:
    loaded = gene_truth.set_index("gene")
    rows = []
    for (name, source), members in sets.groupby(["set_name", "source_file"], sort=True):
        genes = members["gene"].to_list()
        for factor in FACTORS:
            direction = int(PLANTED_SETS.get(name) == factor)
            rows.append({"set_name": name, "source_file": source, "factor": factor,
                         "direction": direction, "planted": bool(direction), "n_genes": len(genes),
                         "fraction_members_loaded":
                             float((loaded.loc[genes, f"{factor}_log2fc"] != 0).mean())})
    return pd.DataFrame(rows)
