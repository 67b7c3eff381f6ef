"""The report's "Mechanism" section, built from the folder ``hccfusion mechanism`` writes.

``mechanism.json`` is required (settings, notes, headline); every table is optional and read
from Parquet (else the CSV beside it). A missing part is replaced by a one-line note:

===========================  ==================================================================
``de``                       DESeq2 high vs low risk (volcano figure, top genes)
``gsea``                     preranked GSEA on the Wald statistic (NES bar chart, table)
``score_groups``             pathway / immune-population scores between the groups
``assay_groups``             IHC and flow read-outs between the groups
``assay_pre_post``           paired baseline vs on-treatment read-outs
``metabolomics_plsda``       PLS-DA R²Y, Q² and its permutation p
``metabolomics_univariate``  univariate tests with BH, VIP (volcano figure)
``metabolite_ora``           metabolite-set over-representation
``risk_associations``        every score against the continuous risk (forest of ρ)
===========================  ==================================================================

Figures are redrawn from the tables by :mod:`hccfusion.reporting.figures` so the report and
the CSVs beside it always agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    from hccfusion.reporting.html import Section

__all__ = ["mechanism_section", "read_mechanism"]

FORMATS: dict[str, str] = {c: "{:.3f}" for c in (
    "rho", "ci_low", "ci_high", "nes", "es", "log2_fold_change", "log2_fold_change_shrunk",
    "log2_fc", "difference", "effect", "r2x", "r2y", "q2", "vip", "base_mean")}
FORMATS.update({c: "{:.3g}" for c in ("p", "q", "p_value", "q_value", "q_value_within_kind",
                                      "q_within_kind", "pvalue", "padj", "fdr",
                                      "q2_permutation_p")})
N_TOP = 30
_TRIPOD = ("exploratory biology of the risk groups (not part of the prediction model): "
           "RNA-seq, IHC, flow cytometry and metabolomics, adjusted for centre, BH FDR per layer")


def _table(folder: Path, stem: str) -> pd.DataFrame | None:
    parquet, csv = folder / f"{stem}.parquet", folder / f"{stem}.csv"
    if parquet.is_file():
        return pd.read_parquet(parquet)
    if csv.is_file():
        return pd.read_csv(csv)
    return None


def read_mechanism(folder: Path) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """``mechanism.json`` and every table found in a mechanism folder.

    Raises
    ------
    UsageError
        If the folder or its ``mechanism.json`` is missing.
    DataError
        If ``mechanism.json`` is not valid JSON.
    """
    folder = Path(folder)
    meta_path = folder / "mechanism.json"
    if not meta_path.is_file():
        raise UsageError(f"{folder} is not a mechanism folder: no mechanism.json. Write one with "
                         "`hccfusion mechanism --predictions … --omics … --out …`.")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{meta_path} is not valid JSON ({exc}); rerun hccfusion "
                        "mechanism.") from exc
    stems = ("de", "gsea", "score_groups", "assay_groups", "assay_pre_post", "metabolomics_plsda",
             "metabolomics_univariate", "metabolite_ora", "risk_associations")
    tables = {s: t for s in stems if (t := _table(folder, s)) is not None}
    return meta, tables


def _note(what: str, files: str) -> Any:
    from hccfusion.reporting.html import NoteBlock

    return NoteBlock(f"{what} omitted: the mechanism folder has no {files}.")


def _rna_blocks(t: dict[str, pd.DataFrame], meta: dict[str, Any]) -> list[Any]:
    from hccfusion.reporting.figures.mechanism_gsea import plot_gsea_bar
    from hccfusion.reporting.figures.mechanism_volcano import plot_volcano
    from hccfusion.reporting.html import FigureBlock, TableBlock

    settings = meta.get("settings", {})
    padj, lfc = settings.get("deg_padj", 0.05), settings.get("deg_abs_log2fc", 1.0)
    blocks: list[Any] = []
    de = t.get("de")
    if de is None:
        blocks.append(_note("Differential expression", "de.parquet"))
    else:
        design = str(de["design"].iloc[0]) if "design" in de.columns and len(de) else ""
        shown = de.drop(columns=[c for c in ("design",) if c in de.columns])
        cols = ["gene", "log2_fold_change", "padj"]
        blocks.append(FigureBlock(
            caption=f"Differential expression, high vs low risk (DESeq2 Wald test, design "
                    f"{design}); dashed lines: padj {padj:g}, |log2 FC| {lfc:g}",
            name="mechanism_de_volcano", data=shown[cols],
            draw=lambda d=shown[cols]: plot_volcano(d, min_abs_x=lfc, q_max=padj)))
        blocks.append(TableBlock(f"The {N_TOP} genes with the smallest p-value "
                                 f"({len(shown)} genes tested)", shown.head(N_TOP),
                                 "mechanism_de_top", FORMATS))
    gsea = t.get("gsea")
    if gsea is None:
        blocks.append(_note("Gene-set enrichment", "gsea.parquet"))
    else:
        cols = [c for c in ("term", "nes", "pvalue", "fdr", "size", "direction_in_high_risk")
                if c in gsea.columns]
        blocks.append(FigureBlock(
            caption="Preranked GSEA on the DESeq2 Wald statistic: NES > 0 = higher in high-risk "
                    "tumours; solid bars FDR < 0.05",
            name="mechanism_gsea_nes", data=gsea[["term", "nes", "fdr"]],
            draw=lambda d=gsea[["term", "nes", "fdr"]]: plot_gsea_bar(d)))
        blocks.append(TableBlock(f"GSEA, {len(gsea)} gene sets", gsea[cols], "mechanism_gsea",
                                 FORMATS))
    groups = t.get("score_groups")
    if groups is None:
        blocks.append(_note("Pathway and immune-population scores by risk group",
                            "score_groups.parquet"))
    else:
        blocks.append(TableBlock("Per-sample pathway scores (singscore), MCP-counter and "
                                 "ESTIMATE scores by risk group", groups, "mechanism_score_groups",
                                 FORMATS))
    return blocks


def _assay_blocks(t: dict[str, pd.DataFrame]) -> list[Any]:
    from hccfusion.reporting.html import TableBlock

    groups = t.get("assay_groups")
    if groups is None:
        return [_note("IHC and flow cytometry", "assay_groups.parquet")]
    blocks: list[Any] = [TableBlock("IHC and flow-cytometry read-outs at baseline, high vs low "
                                    "risk (one BH family)", groups, "mechanism_assay_groups",
                                    FORMATS)]
    pre_post = t.get("assay_pre_post")
    if pre_post is not None:
        blocks.append(TableBlock("Paired baseline vs on-treatment read-outs (Wilcoxon "
                                 "signed-rank), all patients and per risk group", pre_post,
                                 "mechanism_assay_pre_post", FORMATS))
    return blocks


def _metabolomics_blocks(t: dict[str, pd.DataFrame]) -> list[Any]:
    from hccfusion.reporting.figures.mechanism_volcano import plot_volcano
    from hccfusion.reporting.html import FigureBlock, TableBlock

    plsda, uni = t.get("metabolomics_plsda"), t.get("metabolomics_univariate")
    if plsda is None and uni is None:
        return [_note("Metabolomics", "metabolomics_plsda.parquet or "
                                      "metabolomics_univariate.parquet")]
    blocks: list[Any] = []
    if plsda is not None:
        blocks.append(TableBlock("PLS-DA high vs low risk: R²Y, cross-validated Q² and the "
                                 "permutation p of Q²", plsda, "mechanism_plsda", FORMATS))
    if uni is not None:
        label = "name" if "name" in uni.columns else "feature"
        data = uni[[label, "log2_fc", "q"]]
        blocks.append(FigureBlock(
            caption="Metabolites, high vs low risk (Wilcoxon on PQN-normalised intensities, "
                    "BH); dashed lines: q 0.05, |log2 FC| 0.585",
            name="mechanism_metabolomics_volcano", data=data,
            draw=lambda d=data: plot_volcano(d, x="log2_fc", q="q", label=label,
                                             min_abs_x=0.585)))
        top = uni.sort_values("p", na_position="last").head(N_TOP)
        n_diff = int(uni["differential"].sum()) if "differential" in uni.columns else 0
        blocks.append(TableBlock(f"The {N_TOP} metabolites with the smallest p-value "
                                 f"({n_diff} differential: VIP > 1, q < 0.05, "
                                 "|log2 FC| ≥ 0.585)", top, "mechanism_metabolites_top",
                                 FORMATS))
    ora = t.get("metabolite_ora")
    if ora is not None:
        blocks.append(TableBlock("Metabolite-set over-representation of the differential "
                                 "metabolites (hypergeometric, BH)", ora, "mechanism_ora",
                                 FORMATS))
    return blocks


def _association_blocks(t: dict[str, pd.DataFrame]) -> list[Any]:
    from hccfusion.reporting.figures.mechanism_associations import plot_risk_associations
    from hccfusion.reporting.html import FigureBlock, TableBlock

    assoc = t.get("risk_associations")
    if assoc is None:
        return [_note("Scores against the continuous risk", "risk_associations.parquet")]
    adjusted = str(assoc["adjusted_for"].iloc[0]) if len(assoc) else ""
    how = f"partial Spearman adjusted for {adjusted}" if adjusted else "Spearman"
    blocks: list[Any] = []
    drawn = assoc.dropna(subset=["rho"])
    if not drawn.empty:
        blocks.append(FigureBlock(
            caption=f"Scores against the continuous risk ({how}, 95 % CI): the {N_TOP} with "
                    "the smallest q", name="mechanism_risk_associations", data=drawn,
            draw=lambda d=drawn: plot_risk_associations(d, n_features=N_TOP)))
    blocks.append(TableBlock(f"Every score against the continuous risk ({how}; q over all "
                             f"{len(assoc)} scores and within each kind); top {2 * N_TOP}",
                             assoc.head(2 * N_TOP), "mechanism_risk_associations", FORMATS))
    return blocks


def _text(meta: dict[str, Any]) -> str:
    head = meta.get("headline", {})
    n = head.get("n_patients", {})
    parts = [f"Risk groups from '{head.get('risk_column', '?')}': {n.get('low', 0)} low-risk and "
             f"{n.get('high', 0)} high-risk patients."]
    if "n_deg" in head:
        sig = head.get("gsea_significant", [])
        ranked = sorted(sig, key=lambda r: r["nes"])  # strongest first at either end
        down = [r["term"] for r in ranked if r["nes"] < 0][:5]
        up = [r["term"] for r in reversed(ranked) if r["nes"] > 0][:5]
        parts.append(f"RNA-seq of {head['rna_samples']} biopsies: {head['n_deg']} genes "
                     f"differentially expressed; {len(sig)} gene sets at FDR < 0.05"
                     + (f", down in high risk: {', '.join(down)}" if down else "")
                     + (f"; up: {', '.join(up)}" if up else "") + ".")
    if "plsda_q2" in head:
        parts.append(f"Metabolomics of {head['metabolomics_patients']} patients: PLS-DA Q² "
                     f"{head['plsda_q2']:.2f} (permutation p {head['plsda_permutation_p']:.3g}).")
    if "associations_significant" in head:
        parts.append(f"{head['associations_significant']} scores associated with the continuous "
                     "risk at q < 0.05.")
    return " ".join(parts)


def mechanism_section(mechanism: Path) -> Section:
    """Build the "Mechanism" report section from a mechanism folder.

    Parameters
    ----------
    mechanism
        Folder written by ``hccfusion mechanism`` (see the module docstring).

    Returns
    -------
    hccfusion.reporting.html.Section
        ``id="mechanism"``: headline text, the notes of the run, then RNA-seq, IHC/flow,
        metabolomics and integration blocks; each missing part is a one-line note.

    Raises
    ------
    hccfusion.errors.UsageError
        If the folder or its ``mechanism.json`` is missing.
    """
    from hccfusion.reporting.html import NoteBlock, Section

    meta, tables = read_mechanism(Path(mechanism))
    blocks: list[Any] = [NoteBlock(f"Note: {n}") for n in meta.get("notes", [])]
    blocks += _rna_blocks(tables, meta)
    blocks += _assay_blocks(tables)
    blocks += _metabolomics_blocks(tables)
    blocks += _association_blocks(tables)
    return Section(id="mechanism", title="Mechanism: biology of the risk groups", tripod=_TRIPOD,
                   text=_text(meta), blocks=tuple(blocks))
