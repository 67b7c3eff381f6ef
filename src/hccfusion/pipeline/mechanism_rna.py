"""RNA-seq steps of ``hccfusion mechanism`` (domain.md §8): count QC, DESeq2 high vs low risk
adjusted for centre / batch (``de``), preranked GSEA on the Wald statistic (``gsea``), rank-based
per-sample pathway scores (``pathway_scores``) and immune deconvolution when
:mod:`hccfusion.omics.deconvolution` exists (``immune_populations``).

Called by :func:`hccfusion.pipeline.mechanism.run_mechanism`, which holds the orchestration.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from hccfusion.errors import DataError
from hccfusion.pipeline.mechanism import DEG_ABS_LFC, DEG_PADJ, ORDER, Q_MAX

if TYPE_CHECKING:
    from hccfusion.pipeline.mechanism import _Writer


def _rna(omics: Path, risk: pd.DataFrame, gene_sets: Path | None, n_permutations: int,
         shrink: bool, seed: int, w: _Writer, notes: list[str], progress: Callable[[str], None]
         ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    from hccfusion.omics.differential import differential_expression
    from hccfusion.omics.genesets import packaged_gene_sets, preranked_gsea, read_gmt
    from hccfusion.omics.pathway_scores import log_cpm, rank_scores
    from hccfusion.omics.rnaseq import count_qc, validate_counts
    from hccfusion.reporting.figures.mechanism_gsea import plot_gsea_bar
    from hccfusion.reporting.figures.mechanism_volcano import plot_volcano

    raw = pd.read_parquet(omics / "rna_counts.parquet")
    counts = (raw.set_index("gene") if "gene" in raw.columns else raw).T
    counts.index = counts.index.astype(str)
    patient = pd.Series(dtype=object)
    if (omics / "samples.csv").is_file():
        spec = pd.read_csv(omics / "samples.csv")
        spec = spec[(spec["kind"] == "rna") & (spec.get("timepoint", "baseline") == "baseline")]
        patient = spec.set_index("sample_id")["patient_id"].astype(str)
    qc_meta = pd.read_csv(omics / "rna_qc.csv") if (omics / "rna_qc.csv").is_file() else None
    if patient.empty and qc_meta is not None:
        patient = qc_meta.set_index("sample_id")["patient_id"].astype(str)
    if patient.empty:
        raise DataError(f"{omics}: RNA samples cannot be matched to patients: add samples.csv "
                        "or rna_qc.csv with sample_id and patient_id.")
    keep = [s for s in counts.index if patient.get(s) in risk.index
            and pd.notna(risk.at[patient.get(s), "group"])]
    if qc_meta is not None and "qc_pass" in qc_meta.columns:
        failed = set(qc_meta.loc[qc_meta["qc_pass"].astype(str).str.lower() == "false",
                                 "sample_id"].astype(str))
        if failed & set(keep):
            notes.append(f"RNA-seq: {len(failed & set(keep))} sample(s) failed RNA QC "
                         "(rna_qc.csv qc_pass) and are left out")
            keep = [s for s in keep if s not in failed]
    if not keep:
        notes.append("RNA-seq skipped: no QC-passed baseline RNA sample belongs to a patient "
                     "with a risk group")
        return {}, {}
    counts = validate_counts(counts.loc[keep])
    counts = counts.loc[~patient.reindex(counts.index).duplicated().to_numpy()]
    qc = count_qc(counts)
    w.table("rna_count_qc", qc)
    if qc["outlier"].any():
        notes.append(f"RNA-seq: {int(qc['outlier'].sum())} outlier sample(s) by library size / "
                     "detected genes left out")
        counts = counts.loc[~qc["outlier"].to_numpy()]
    pid = patient.reindex(counts.index)
    groups = pd.Series(risk.loc[pid, "group"].to_numpy(), index=counts.index).astype(str)
    cov = pd.DataFrame(index=counts.index)
    if "center" in risk.columns:
        cov["center"] = risk.loc[pid, "center"].to_numpy()
    if qc_meta is not None and "batch" in qc_meta.columns:
        batch = qc_meta.set_index("sample_id")["batch"].reindex(counts.index).astype(str)
        if batch.nunique() > 1:
            nested = "center" in cov and (pd.DataFrame({"b": batch, "c": cov.get("center")})
                                          .groupby("b")["c"].nunique() <= 1).all()
            if nested:  # a batch within one centre absorbs the centre effect
                cov = cov.drop(columns="center")
            cov["batch"] = batch
    progress(f"RNA-seq: DESeq2 on {counts.shape[0]} samples x {counts.shape[1]} genes")
    try:
        de = differential_expression(counts=counts, groups=groups,
                                     covariates=cov if cov.shape[1] else None,
                                     reference=ORDER[0], shrink=shrink, seed=seed)
    except DataError as err:
        if "confounded" not in str(err) or "batch" not in cov:
            raise
        notes.append("RNA-seq: sequencing batch is confounded with the risk group; DE adjusted "
                     "for centre only")
        cen = pd.DataFrame({"center": risk.loc[pid, "center"].to_numpy()}, index=counts.index) \
            if "center" in risk.columns else None
        de = differential_expression(counts=counts, groups=groups, covariates=cen,
                                     reference=ORDER[0], shrink=shrink, seed=seed)
    table = de.table.copy()
    with np.errstate(divide="ignore"):
        table["neg_log10_padj"] = -np.log10(table["padj"].to_numpy(float))
    table["deg"] = ((table["padj"] < DEG_PADJ) & (table["log2_fold_change"].abs() >= DEG_ABS_LFC)
                    ).fillna(False).astype(bool)
    table.insert(0, "design", de.design)
    w.table("de", table)
    w.figure("de_volcano", lambda: plot_volcano(table, x="log2_fold_change", q="padj",
                                                label="gene", min_abs_x=DEG_ABS_LFC))
    sets = dict(read_gmt(gene_sets) if gene_sets is not None else packaged_gene_sets())
    progress(f"RNA-seq: preranked GSEA over {len(sets)} gene sets")
    gsea = preranked_gsea(ranking=de.table.set_index("gene")["stat"], gene_sets=sets,
                          permutations=n_permutations, seed=seed)
    gsea["direction_in_high_risk"] = np.where(gsea["nes"] > 0, "up", "down")
    w.table("gsea", gsea)
    w.figure("gsea_nes", lambda: plot_gsea_bar(gsea, q_max=Q_MAX))
    scores = rank_scores(log_cpm(counts), sets)
    scores.index = pid.to_numpy()
    scores.index.name = "patient_id"
    w.table("pathway_scores", scores.reset_index())
    out = {"pathway": scores}
    out.update(_deconvolution(counts, pid, w, notes))
    head = {"rna_samples": int(counts.shape[0]), "genes_tested": int(len(de.table)),
            "design": de.design, "n_deg": int(table["deg"].sum()),
            "gsea_significant": gsea.loc[gsea["fdr"] < Q_MAX, ["term", "nes", "fdr"]]
            .to_dict("records")}
    return out, head


def _deconvolution(counts: pd.DataFrame, pid: pd.Series, w: _Writer,
                   notes: list[str]) -> dict[str, pd.DataFrame]:
    """MCP-counter populations and ESTIMATE immune/stromal scores on log2 CPM, per patient."""
    import importlib.util

    if importlib.util.find_spec("hccfusion.omics.deconvolution") is None:
        notes.append("immune deconvolution skipped: hccfusion.omics.deconvolution is not "
                     "installed")
        return {}
    from hccfusion.omics import deconvolution
    from hccfusion.omics.pathway_scores import log_cpm

    expr = log_cpm(counts)
    found: dict[str, pd.DataFrame] = {}
    mcp = deconvolution.mcp_counter_scores(expr)
    w.table("mcp_counter_markers", mcp.markers_used)
    found["immune_population"] = mcp.scores
    try:
        found["estimate"] = deconvolution.immune_stromal_scores(expr)
    except DataError as err:
        notes.append(f"ESTIMATE immune/stromal scores skipped: {err}")
    for frame in found.values():
        frame.index = pid.reindex(frame.index).to_numpy()
        frame.index.name = "patient_id"
    w.table("immune_populations", pd.concat(list(found.values()), axis=1).reset_index())
    return found
