"""Omics features for the model: per-patient pathway scores of the baseline tumour RNA-seq.

For each patient the baseline (pre-treatment) tumour RNA sample is taken, counts become log2
CPM and every packaged (or given) gene set becomes one rank-based single-sample score
(:func:`hccfusion.omics.pathway_scores.rank_scores`). The scores do not depend on the other
samples, so a bundle can score a new centre's samples exactly as it scored its training ones.

Writes ``<out>/omics/rank_scores/<gene_sets>/pathway_scores.parquet`` (``patient_id``,
``sample_id``, one column per set) and ``provenance.json`` beside it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hccfusion.errors import DataError

__all__ = ["OmicsFeatures", "extract_omics_features"]


@dataclass(frozen=True)
class OmicsFeatures:
    path: Path
    n_patients: int
    n_sets: int
    skipped: tuple[str, ...]


def _baseline_rna(specimens: pd.DataFrame, t0: pd.Series) -> pd.DataFrame:
    rna = specimens[specimens["kind"] == "rna"].copy()
    rna["date"] = pd.to_datetime(rna["date"])
    rna = rna.merge(t0.rename("t0").reset_index(), on="patient_id", how="inner")
    rna = rna[rna["date"] <= rna["t0"]]
    if "site" in rna.columns:
        rna = rna[rna["site"].astype(str).str.contains("tumour", na=False)]
    return rna.sort_values(["patient_id", "date"]).groupby("patient_id").tail(1)


def extract_omics_features(*, cohort: Path | str, data_root: Path | str, out: Path | str,
                           gene_sets: Path | str | None = None,
                           min_size: int = 5) -> OmicsFeatures:
    """Pathway scores of each patient's baseline tumour RNA sample.

    Parameters
    ----------
    cohort
        Frozen cohort folder (its ``specimens`` table lists the RNA samples and the count file).
    data_root
        Folder the specimens' relative paths start from.
    out
        Feature-store root.
    gene_sets
        A GMT file; default: the gene sets packaged with hccfusion.
    """
    from hccfusion.io.atomic import atomic_write_parquet, atomic_write_text
    from hccfusion.io.cohort import Cohort
    from hccfusion.io.index_date import index_dates
    from hccfusion.omics.genesets import packaged_gene_sets, read_gmt
    from hccfusion.omics.pathway_scores import log_cpm, rank_scores
    from hccfusion.omics.rnaseq import validate_counts

    tables = Cohort.load(Path(cohort)).tables
    t0 = index_dates(tables["treatments"]).set_index("patient_id")["t0"].dropna()
    chosen = _baseline_rna(tables["specimens"], pd.to_datetime(t0))
    if chosen.empty:
        raise DataError(f"{cohort}: no baseline tumour RNA sample in the specimens table")
    sets = packaged_gene_sets() if gene_sets is None else read_gmt(gene_sets)
    set_label = "packaged" if gene_sets is None else Path(gene_sets).stem
    frames, skipped = [], []
    for rel, group in chosen.groupby("path"):
        path = Path(data_root) / str(rel)
        if not path.is_file():
            skipped.extend(group["patient_id"])
            continue
        counts = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        counts = counts.set_index(counts.columns[0])
        present = [s for s in group["sample_id"] if s in counts.columns]
        skipped.extend(group.loc[~group["sample_id"].isin(present), "patient_id"])
        if not present:
            continue
        matrix = validate_counts(counts[present].T)
        scores = rank_scores(log_cpm(matrix), sets, min_size=min_size)
        ids = group.set_index("sample_id").loc[present, "patient_id"]
        scores.insert(0, "sample_id", scores.index)
        scores.insert(0, "patient_id", ids.to_numpy())
        frames.append(scores.reset_index(drop=True))
    if not frames:
        raise DataError(f"{cohort}: none of the baseline RNA samples was found in its count file")
    table = pd.concat(frames, ignore_index=True).sort_values("patient_id")
    folder = Path(out) / "omics" / "rank_scores" / set_label
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(folder / "pathway_scores.parquet", table)
    from hccfusion import __version__

    digest = hashlib.sha256(json.dumps({k: list(v) for k, v in sorted(sets.items())})
                            .encode()).hexdigest()
    atomic_write_text(folder / "provenance.json", json.dumps({
        "method": "rank_scores (Foroutan et al. 2018) of log2 CPM", "gene_sets": set_label,
        "gene_sets_sha256": digest, "min_size": min_size, "package_version": __version__,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "n_patients": int(table["patient_id"].nunique())}, indent=1))
    return OmicsFeatures(path=folder / "pathway_scores.parquet",
                         n_patients=int(table["patient_id"].nunique()),
                         n_sets=int(table.shape[1] - 2), skipped=tuple(sorted(set(skipped))))
