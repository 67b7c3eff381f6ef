"""Benchmark: differential expression + preranked GSEA on 150 samples × 20,000 genes (issue 9).

Goal (mechanism issue): DE + GSEA under 3 minutes on 2 cores.

Counts are negative-binomial draws (numpy, fixed seed) for 150 samples of two centres, gene names
from the packaged HGNC protein-coding list so that the packaged gene sets apply; 200 genes (the
members of the packaged immune sets first) are up in the "high" group. Timed, in one process:

- ``hccfusion``: :func:`hccfusion.omics.differential.differential_expression` (design
  ``~ center + group``, low-count pre-filter, LFC shrinkage), then
  :func:`hccfusion.omics.genesets.preranked_gsea` on the Wald statistics over the packaged sets
  (1,000 permutations);
- ``pydeseq2 direct``: the same DESeq2 fit and shrinkage written directly against pydeseq2 on
  the same filtered matrix (the reference library; our wrapper's overhead is the difference).

The agreement of the two DE tables is printed: genes whose log2 fold change differs by more
than 1e-6, the largest p-value difference and how many padj < 0.05 calls differ.

Usage::

    .venv/bin/python benchmarks/bench_mechanism.py [--quick] [--genes 20000] [--samples 150]
"""

from __future__ import annotations

import argparse
import time
from importlib import resources

import numpy as np
import pandas as pd


def simulate_counts(*, n_samples: int, n_genes: int, n_up: int, seed: int):
    from hccfusion.omics.genesets import packaged_gene_sets

    names = resources.files("hccfusion.data.genes").joinpath(
        "hgnc_protein_coding_symbols.txt").read_text().split()
    names = [g for g in dict.fromkeys(names) if g and not g.startswith("#")]
    sets = packaged_gene_sets()
    immune = [g for name, genes in sets.items() if "AYERS" in name or "T_CELL" in name for g in genes]
    planted = list(dict.fromkeys(g for g in immune if g in set(names)))[:n_up]
    rest = [g for g in names if g not in set(planted)]
    # the protein-coding list has ~19,400 symbols; beyond it, non-coding-like placeholders
    genes = (planted + rest + [f"NONCODING{i:05d}" for i in range(n_genes)])[:n_genes]
    rng = np.random.default_rng(seed)
    base = rng.lognormal(mean=4.0, sigma=1.8, size=n_genes)
    group = np.array(["low", "high"] * (n_samples // 2) + ["low"] * (n_samples % 2))
    center = np.where(np.arange(n_samples) % 3 == 0, "NJ", "WX")
    size_factor = rng.lognormal(0.0, 0.25, size=n_samples)
    effect = np.zeros(n_genes)
    effect[: len(planted)] = 1.0
    mu = base[None, :] * size_factor[:, None] * np.exp(
        np.outer(group == "high", effect) + np.outer(center == "NJ", rng.normal(0, 0.1, n_genes)))
    dispersion = 0.1 + 1.0 / np.sqrt(base)
    counts = rng.negative_binomial(1.0 / dispersion[None, :], 1.0 / (1.0 + mu * dispersion[None, :]))
    index = [f"S{i:03d}" for i in range(n_samples)]
    return (pd.DataFrame(counts, index=index, columns=genes), pd.Series(group, index=index),
            pd.DataFrame({"center": center}, index=index), sets)


def direct_pydeseq2(counts: pd.DataFrame, groups: pd.Series, covariates: pd.DataFrame,
                    n_cpus: int) -> pd.DataFrame:
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    meta = covariates.assign(group=pd.Categorical(groups, categories=["low", "high"]))
    dds = DeseqDataSet(counts=counts, metadata=meta, design="~ center + group",
                       inference=DefaultInference(n_cpus=n_cpus), quiet=True)
    dds.deseq2()
    stats = DeseqStats(dds, contrast=["group", "high", "low"],
                       inference=DefaultInference(n_cpus=n_cpus), quiet=True)
    stats.summary()
    return stats.results_df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 genes, 60 samples, 200 permutations")
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--samples", type=int, default=150)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    if args.quick:
        args.genes, args.samples, args.permutations = 2_000, 60, 200

    from hccfusion.omics.differential import differential_expression
    from hccfusion.omics.genesets import preranked_gsea

    counts, groups, covariates, sets = simulate_counts(n_samples=args.samples, n_genes=args.genes,
                                                       n_up=200, seed=0)
    print(f"{args.samples} samples × {counts.shape[1]:,} genes, {len(sets)} packaged gene sets, "
          f"{args.permutations} permutations, {args.cpus} CPUs")

    t0 = time.perf_counter()
    de = differential_expression(counts=counts, groups=groups, covariates=covariates,
                                 reference="low", shrink=True, n_cpus=args.cpus)
    t_de = time.perf_counter() - t0
    print(f"  hccfusion DE done in {t_de:.1f} s ({len(de.table):,} genes after the pre-filter)",
          flush=True)
    ranking = de.table.set_index("gene")["stat"].dropna()
    t0 = time.perf_counter()
    gsea = preranked_gsea(ranking=ranking, gene_sets=sets, permutations=args.permutations, seed=0)
    t_gsea = time.perf_counter() - t0
    print(f"  hccfusion GSEA done in {t_gsea:.1f} s", flush=True)

    kept = de.table["gene"].tolist()
    t0 = time.perf_counter()
    ref = direct_pydeseq2(counts[kept], groups, covariates, args.cpus)
    t_ref = time.perf_counter() - t0

    ours = de.table.set_index("gene").loc[ref.index]
    d_lfc = np.abs(ours["log2_fold_change"] - ref["log2FoldChange"])
    d_p = np.abs(ours["pvalue"] - ref["pvalue"])
    calls = ((ours["padj"] < 0.05) != (ref["padj"] < 0.05)).sum()
    print(f"agreement with a direct pydeseq2 run: {int((d_lfc > 1e-6).sum())} of {len(ref):,} genes "
          f"differ in log2FC by > 1e-6 (max {d_lfc.max():.1e}), max |Δp| {d_p.max():.1e}, "
          f"{int(calls)} padj < 0.05 calls differ")
    print(f"{'step':<42}{'seconds':>9}")
    print(f"{'hccfusion DE (fit + Wald + LFC shrinkage)':<42}{t_de:>9.1f}")
    print(f"{'hccfusion preranked GSEA':<42}{t_gsea:>9.1f}")
    print(f"{'hccfusion DE + GSEA':<42}{t_de + t_gsea:>9.1f}   goal < 180 s")
    print(f"{'pydeseq2 direct (fit + Wald, no shrinkage)':<42}{t_ref:>9.1f}")
    top = gsea.head(3)[["term", "nes", "fdr"]]
    print("top sets:", "; ".join(f"{r.term} NES {r.nes:.2f} FDR {r.fdr:.3f}" for r in top.itertuples()))


if __name__ == "__main__":
    main()
