"""``hccfusion mechanism``: the biology that separates the model's risk groups (domain.md §8).

Predictions (``patient_id`` plus a continuous risk, and the frozen risk group when present)
and the study's omics folder in; one folder of tables (Parquet + CSV) and figures (PNG + SVG)
out. Every step runs only when its input files exist; a missing input is a note, not an error:

======================  ======================================================================
RNA-seq                 ``rna_counts.parquet`` (+ ``samples.csv``, ``rna_qc.csv``): count QC,
                        DESeq2 high vs low risk adjusted for centre / batch (``de``), preranked
                        GSEA on the Wald statistic (``gsea``), rank-based per-sample pathway
                        scores (``pathway_scores``), immune deconvolution when
                        :mod:`hccfusion.omics.deconvolution` exists (``immune_populations``)
IHC / flow cytometry    ``ihc.csv`` / ``flow.csv``: groups compared per read-out
                        (``assay_groups``) and paired pre/post (``assay_pre_post``)
LC-MS metabolomics      ``metabolomics_intensities.parquet`` + ``metabolomics_injections.csv``:
                        QC-RSD / missingness filter, half-minimum imputation, PQN, log2 +
                        Pareto, PCA, PLS-DA Q² with a permutation test and VIP, univariate
                        tests with BH (``metabolomics_*``); ORA when a metabolite-set file is
                        given (``metabolite_ora``)
integration             every per-patient score against the continuous risk, partial Spearman
                        adjusted for centre (``risk_associations``), and the pathway /
                        population scores between groups (``score_groups``)
======================  ======================================================================

``mechanism.json`` records the inputs, settings, notes and the headline. The RNA-seq steps are
in :mod:`hccfusion.pipeline.mechanism_rna`, the metabolomics step in
:mod:`hccfusion.pipeline.mechanism_metabolomics`; this module reads the inputs, runs the IHC /
flow step and the integration, and orchestrates.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

__all__ = ["MechanismResult", "run_mechanism", "ORDER"]

ORDER = ("low", "high")
DEG_PADJ = 0.05
DEG_ABS_LFC = 1.0
Q_MAX = 0.05


@dataclass(frozen=True)
class MechanismResult:
    """What :func:`run_mechanism` wrote.

    Attributes
    ----------
    out : folder; tables : table name -> Parquet path (a CSV lies beside each);
    figures : figure name -> PNG path (an SVG lies beside each); notes : steps skipped and why;
    headline : the main numbers (also in ``mechanism.json``); seconds : run time.
    """

    out: Path
    tables: dict[str, Path] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    headline: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class _Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.tables: dict[str, Path] = {}
        self.figures: dict[str, Path] = {}
        (out / "figures").mkdir(parents=True, exist_ok=True)

    def table(self, name: str, frame: pd.DataFrame) -> None:
        from hccfusion.io.atomic import atomic_write_parquet, atomic_write_text

        frame = frame.copy()
        for col in frame.columns:  # tuples (leading edges) do not survive Parquet/CSV as such
            if frame[col].map(lambda v: isinstance(v, tuple)).any():
                frame[col] = frame[col].map(lambda v: ";".join(map(str, v))
                                            if isinstance(v, tuple) else v)
        path = self.out / f"{name}.parquet"
        atomic_write_parquet(path, frame)
        atomic_write_text(path.with_suffix(".csv"), frame.to_csv(index=False))
        self.tables[name] = path

    def figure(self, name: str, draw: Callable[[], Any]) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = draw()
        stem = self.out / "figures" / name
        for suffix in ("png", "svg"):
            ax.figure.savefig(stem.with_suffix(f".{suffix}"), dpi=150, bbox_inches="tight")
        plt.close(ax.figure)
        self.figures[name] = stem.with_suffix(".png")


# --------------------------------------------------------------------------------- inputs

def _read_any(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix in (".csv", ".txt"):
        return pd.read_csv(path)
    raise UsageError(f"The predictions file must be Parquet or CSV. Got '{path}' instead.")


def _risk_table(predictions: Path, risk_column: str, group_column: str,
                notes: list[str]) -> pd.DataFrame:
    """patient_id -> risk, group ('low'/'high'), center (when the predictions hold it)."""
    path = Path(predictions)
    if not path.is_file():
        raise UsageError(f"The predictions file '{path}' does not exist; write it with "
                         "`hccfusion predict` (or give any table with patient_id and a risk).")
    pred = _read_any(path)
    for col in ("patient_id", risk_column):
        if col not in pred.columns:
            raise DataError(f"{path.name} has no column '{col}'; columns: "
                            f"{', '.join(map(str, pred.columns))}. Pass --risk-column to name "
                            "the risk column.")
    dup = pred.loc[pred["patient_id"].duplicated(), "patient_id"]
    if len(dup):
        raise DataError(f"{path.name}: patient_id '{dup.iloc[0]}' appears more than once; give "
                        "one prediction per patient.")
    table = pd.DataFrame({"patient_id": pred["patient_id"].astype(str),
                          "risk": pd.to_numeric(pred[risk_column], errors="coerce")})
    table = table.set_index("patient_id")
    if group_column in pred.columns:
        table["group"] = pred[group_column].astype("string").str.lower().to_numpy()
        other = sorted(set(table["group"].dropna()) - set(ORDER))
        if other:
            notes.append(f"risk groups {other} are left out: the comparisons are "
                         f"{ORDER[1]} vs {ORDER[0]}")
        table.loc[~table["group"].isin(ORDER), "group"] = pd.NA
    else:
        med = float(table["risk"].median())
        table["group"] = np.where(table["risk"] > med, "high", "low")
        table.loc[table["risk"].isna(), "group"] = pd.NA
        notes.append(f"no '{group_column}' column: groups split at the median risk "
                     f"({med:.3g}), not at a frozen cut-off")
    if "center" in pred.columns:
        table["center"] = pred["center"].astype(str).to_numpy()
    table = table.dropna(subset=["risk"])
    return table


def _attach_centre(risk: pd.DataFrame, cohort: Path | None, omics: Path,
                   notes: list[str]) -> pd.DataFrame:
    if cohort is not None:
        from hccfusion.io.cohort import Cohort

        patients = Cohort.load(cohort)["patients"]
        risk["center"] = risk.index.map(patients.set_index("patient_id")["center"].astype(str))
    elif "center" not in risk.columns and (omics / "rna_qc.csv").is_file():
        qc = pd.read_csv(omics / "rna_qc.csv")
        if "center" in qc.columns:
            risk["center"] = risk.index.map(qc.drop_duplicates("patient_id")
                                            .set_index("patient_id")["center"])
    if "center" in risk.columns and risk["center"].isna().any():
        notes.append(f"the centre of {int(risk['center'].isna().sum())} patient(s) is unknown "
                     "(pass --cohort): tests are not adjusted for centre")
        return risk.drop(columns="center")
    if "center" not in risk.columns or risk["center"].nunique() < 2:
        notes.append("no centre known for the patients (or a single centre): tests are not "
                     "adjusted for centre")
        risk = risk.drop(columns="center", errors="ignore")
    return risk


# ------------------------------------------------------------------------- IHC and flow

def _assays(omics: Path, risk: pd.DataFrame, w: _Writer,
            notes: list[str]) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    from hccfusion.omics.assays import assay_table, compare_assays

    read = {n: pd.read_csv(omics / f"{n}.csv") for n in ("ihc", "flow", "samples")
            if (omics / f"{n}.csv").is_file()}
    table = assay_table(ihc=read.get("ihc"), flow=read.get("flow"), samples=read.get("samples"))
    table["patient_id"] = table["patient_id"].astype(str)
    table = table[table["patient_id"].isin(risk.index)]
    groups = risk["group"].dropna().astype(str)
    if not (table["timepoint"] == "baseline").any():
        notes.append("IHC / flow cytometry skipped: no baseline read-out of a patient with a "
                     "risk")
        return {}, {}
    res = compare_assays(table, groups, order=ORDER)
    w.table("assay_groups", res.groups)
    if not res.pre_post.empty:
        w.table("assay_pre_post", res.pre_post)
    base = table[table["timepoint"] == "baseline"].copy()
    base["name"] = base["assay"] + ":" + base["site"] + ":" + base["feature"]
    wide = base.pivot_table(index="patient_id", columns="name", values="value", aggfunc="mean")
    out = {kind: wide[[c for c in wide.columns if c.startswith(f"{kind}:")]]
           for kind in ("ihc", "flow", "protein")}
    head = {"assay_features_tested": res.n_tests,
            "assay_significant": res.groups.loc[res.groups["q"] < Q_MAX,
                                                ["assay", "site", "feature", "q"]]
            .to_dict("records")}
    return {k: v for k, v in out.items() if v.shape[1]}, head


# -------------------------------------------------------------------------------- job

def run_mechanism(*, cohort: Path | str | None, predictions: Path | str, omics_root: Path | str,
                  out: Path | str, risk_column: str = "risk_os",
                  group_column: str = "risk_group_os", gene_sets: Path | str | None = None,
                  metabolite_sets: Path | str | None = None, n_permutations: int = 1000,
                  plsda_permutations: int = 200, shrink: bool = True, seed: int = 0,
                  progress: Callable[[str], None] | None = None) -> MechanismResult:
    """Run every mechanism analysis whose inputs exist and write the tables and figures.

    Parameters
    ----------
    cohort : path or None
        Frozen cohort folder; gives each patient's centre (else the predictions' ``center``
        column or ``rna_qc.csv``).
    predictions : path
        Parquet or CSV with ``patient_id`` and ``risk_column`` (higher = worse); the groups come
        from ``group_column`` (``low``/``high``, the frozen cut-off) or, when it is absent, from
        a median split (noted).
    omics_root : path
        The study's omics folder (``samples.csv``, ``rna_counts.parquet``, ``rna_qc.csv``,
        ``ihc.csv``, ``flow.csv``, ``metabolomics_*``).
    out : path
        Output folder (created).
    risk_column, group_column : str
        Column names in ``predictions``.
    gene_sets : path, optional
        GMT file (e.g. MSigDB Hallmark); default the gene sets shipped with hccfusion.
    metabolite_sets : path, optional
        Metabolite-set file for over-representation; without it ORA is skipped.
    n_permutations : int
        GSEA permutations (>= 10).
    plsda_permutations : int
        PLS-DA label permutations (domain.md §8.3: >= 200).
    shrink : bool
        Also compute apeGLM-style shrunken log2 fold changes (slow; GSEA and the volcano use
        the Wald statistic and the MLE fold change, which do not depend on it).
    seed : int
        Seed of GSEA, PLS-DA folds and permutations.
    progress : callable, optional
        Receives one line per step.

    Returns
    -------
    MechanismResult

    Raises
    ------
    UsageError
        If the predictions or the omics folder do not exist, or an option is malformed.
    DataError
        If the predictions lack a column or repeat a patient, or an omics table breaks its rules.
    """
    from hccfusion.pipeline.mechanism_metabolomics import _metabolomics
    from hccfusion.pipeline.mechanism_rna import _rna

    start = time.perf_counter()
    say = progress or (lambda _text: None)
    omics = Path(omics_root)
    if not omics.is_dir():
        raise UsageError(f"The omics folder '{omics}' does not exist.")
    for name, value, low in (("n_permutations", n_permutations, 10),
                             ("plsda_permutations", plsda_permutations, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise UsageError(f"The '{name}' parameter of run_mechanism must be an integer >= "
                             f"{low}. Got {value!r} instead.")
    for label, path in (("gene_sets", gene_sets), ("metabolite_sets", metabolite_sets)):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"The '{label}' file '{path}' does not exist.")
    notes: list[str] = []
    risk = _risk_table(Path(predictions), risk_column, group_column, notes)
    risk = _attach_centre(risk, None if cohort is None else Path(cohort), omics, notes)
    out = Path(out)
    w = _Writer(out)
    w.table("risk_groups", risk.reset_index())
    scores: dict[str, pd.DataFrame] = {}
    headline: dict[str, Any] = {"risk_column": risk_column,
                                "n_patients": {g: int((risk["group"] == g).sum()) for g in ORDER}}
    steps = (("RNA-seq", "rna_counts.parquet",
              lambda: _rna(omics, risk, None if gene_sets is None else Path(gene_sets),
                           int(n_permutations), bool(shrink), seed, w, notes, say)),
             ("IHC / flow cytometry", ("ihc.csv", "flow.csv"),
              lambda: _assays(omics, risk, w, notes)),
             ("metabolomics", ("metabolomics_intensities.parquet",
                               "metabolomics_injections.csv"),
              lambda: _metabolomics(omics, risk, None if metabolite_sets is None
                                    else Path(metabolite_sets), int(plsda_permutations), seed,
                                    w, notes)))
    for label, files, step in steps:
        files = (files,) if isinstance(files, str) else files
        present = [f for f in files if (omics / f).is_file()]
        needs_all = label == "metabolomics"
        if not present or (needs_all and len(present) < len(files)):
            notes.append(f"{label} skipped: {omics} has no {' / '.join(files)}")
            continue
        say(f"{label}")
        found, head = step()
        scores.update(found)
        headline.update(head)
    if scores:
        _integrate(risk, scores, w, headline, say)
    else:
        notes.append("integration skipped: no per-patient omics score was computed")
    seconds = time.perf_counter() - start
    meta = {"inputs": {"cohort": None if cohort is None else str(cohort),
                       "predictions": str(predictions), "omics": str(omics),
                       "gene_sets": None if gene_sets is None else str(gene_sets),
                       "metabolite_sets": None if metabolite_sets is None
                       else str(metabolite_sets)},
            "settings": {"risk_column": risk_column, "group_column": group_column,
                         "order": list(ORDER), "n_permutations": int(n_permutations),
                         "plsda_permutations": int(plsda_permutations), "shrink": bool(shrink),
                         "seed": int(seed),
                         "deg_padj": DEG_PADJ, "deg_abs_log2fc": DEG_ABS_LFC, "q_max": Q_MAX},
            "notes": notes, "headline": headline, "tables": sorted(w.tables),
            "figures": sorted(w.figures), "seconds": seconds}
    from hccfusion.io.atomic import atomic_write_text

    atomic_write_text(out / "mechanism.json", json.dumps(meta, indent=1, default=str))
    return MechanismResult(out=out, tables=dict(w.tables), figures=dict(w.figures),
                           notes=tuple(notes), headline=headline, seconds=seconds)


def _integrate(risk: pd.DataFrame, scores: dict[str, pd.DataFrame], w: _Writer,
               headline: dict[str, Any], say: Callable[[str], None]) -> None:
    from hccfusion.mechanism.risk_biology import (adjusted_tests_available, risk_associations,
                                                  risk_group_comparison)
    from hccfusion.reporting.figures.mechanism_associations import plot_risk_associations

    frames, kinds = [], {}
    for kind, frame in scores.items():
        frame = frame.groupby(level=0).mean()
        frames.append(frame)
        kinds.update({c: kind for c in frame.columns})
    wide = pd.concat(frames, axis=1)
    wide.index = wide.index.astype(str)
    cov = risk[["center"]] if "center" in risk.columns else None
    say(f"integration: {wide.shape[1]} scores against the risk")
    assoc = risk_associations(risk["risk"], wide, kinds=kinds, covariates=cov)
    w.table("risk_associations", assoc)
    if assoc["rho"].notna().any():
        w.figure("risk_associations", lambda: plot_risk_associations(assoc, q_max=Q_MAX))
    rna_kinds = [c for c in wide.columns
                 if kinds[c] in ("pathway", "immune_population", "estimate")]
    if rna_kinds:
        use_cov = cov if cov is not None and adjusted_tests_available() else None
        groups = risk["group"].dropna().astype(str)
        comp = risk_group_comparison(groups, wide[rna_kinds], kinds=kinds, covariates=use_cov,
                                     order=ORDER)
        w.table("score_groups", comp)
    top = assoc.dropna(subset=["q_value"]).head(10)
    headline["associations_significant"] = int((assoc["q_value"] < Q_MAX).sum())
    headline["top_associations"] = top[["feature", "kind", "rho", "q_value"]].to_dict("records")
