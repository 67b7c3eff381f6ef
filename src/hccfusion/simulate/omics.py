"""Simulated omics of the cohort: biopsy RNA-seq and IHC, blood flow cytometry, serum LC-MS.

:func:`simulate_omics` reads the latent state (``docs/simulator_contract.md``: ``patient_id``,
``center``, ``cohort``, ``immune``, ``proliferation``, ``hypoxia``, ``wnt``) and returns every
table with its ground truth; :func:`write_omics` writes them to a folder that describes itself.
The parts live in ``omics_samples`` (who gives what), ``omics_rnaseq``, ``omics_ihc``,
``omics_flow`` and ``omics_metabolomics``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion.errors import UsageError
from hccfusion.simulate.omics_flow import simulate_flow
from hccfusion.simulate.omics_ihc import simulate_ihc
from hccfusion.simulate.omics_metabolomics import simulate_metabolomics
from hccfusion.simulate.omics_rnaseq import FACTORS, simulate_rnaseq
from hccfusion.simulate.omics_samples import SamplingPlan, allocate_samples

OMICS_FORMAT_VERSION = "1"
REQUIRED_LATENT_COLUMNS = ("patient_id", "center", "cohort") + FACTORS
COHORTS = ("retrospective", "prospective")


@dataclass(frozen=True)
class SimulatedOmics:
    """All simulated omics tables of a cohort, with their truth.

    Attributes
    ----------
    samples : pandas.DataFrame
        One row per specimen: ``sample_id``, ``patient_id``, ``kind`` (rna, ihc, blood, flow,
        metabolomics), ``site`` (liver_tumour, hepatic_artery_blood, hepatic_vein_blood,
        peripheral_blood), ``timepoint`` (baseline, on_treatment), ``days_from_t0``,
        ``parent_sample_id`` (the blood draw of a flow or metabolomics aliquot).
    rna_counts : pandas.DataFrame
        Raw counts, genes × QC-passed RNA samples, int64 (see ``omics_rnaseq``).
    rna_qc : pandas.DataFrame
        Per RNA sample: centre, sequencing batch, preservation, DV200, mapped reads, library
        size, QC pass/fail and reason.
    gene_truth, gene_set_truth : pandas.DataFrame
        Planted gene effects per factor; planted direction of each shipped gene set per factor.
    ihc : pandas.DataFrame
        CD8 densities, immune phenotype and PD-L1 counts per IHC sample.
    flow : pandas.DataFrame
        Lymphocyte subsets per flow sample.
    metabolomics, metabolomics_injections, metabolomics_features, metabolomics_truth :
    pandas.DataFrame
        LC-MS peak table (injections × features, NaN = missing), run order with pooled QCs,
        feature annotation, planted effects and bad features.
    seed : int
        The seed everything was drawn from.
    """

    samples: pd.DataFrame
    rna_counts: pd.DataFrame
    rna_qc: pd.DataFrame
    gene_truth: pd.DataFrame
    gene_set_truth: pd.DataFrame
    ihc: pd.DataFrame
    flow: pd.DataFrame
    metabolomics: pd.DataFrame
    metabolomics_injections: pd.DataFrame
    metabolomics_features: pd.DataFrame
    metabolomics_truth: pd.DataFrame
    seed: int


def simulate_omics(*, latent: pd.DataFrame, seed: int, n_genes: int | None = None,
                   n_metabolomics_features: int = 300,
                   plan: SamplingPlan = SamplingPlan()) -> SimulatedOmics:
    """Simulate the omics of a cohort from its latent state.

    Parameters
    ----------
    latent : pandas.DataFrame
        One row per patient with at least :data:`REQUIRED_LATENT_COLUMNS`; ``immune``,
        ``proliferation`` and ``hypoxia`` are z-scores, ``wnt`` is boolean.
    seed : int
        Seed of everything random; the same latent state and seed give identical tables,
        whatever the row order of ``latent``.
    n_genes : int, optional
        Number of RNA-seq genes (all shipped gene-set members plus a random draw of the
        19,280-gene universe); None for the whole universe. Tests use a few hundred.
    n_metabolomics_features : int
        Number of LC-MS features (the ~80 named metabolites first).
    plan : SamplingPlan
        Availability of each specimen kind.

    Returns
    -------
    SimulatedOmics

    Raises
    ------
    UsageError
        If ``latent`` lacks a column, repeats a patient or holds an unknown cohort, or a size
        is out of range.
    """
    latent = _check_latent(latent)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(5)]
    samples = allocate_samples(latent=latent.reset_index(), rng=streams[0], plan=plan)
    rna = simulate_rnaseq(latent=latent, rna_samples=samples[samples["kind"] == "rna"],
                          rng=streams[1], n_genes=n_genes)
    ihc = simulate_ihc(latent=latent, ihc_samples=samples[samples["kind"] == "ihc"],
                       rng=streams[2])
    flow = simulate_flow(latent=latent, flow_samples=samples[samples["kind"] == "flow"],
                         rng=streams[3])
    ms = simulate_metabolomics(latent=latent,
                               ms_samples=samples[samples["kind"] == "metabolomics"],
                               rng=streams[4], n_features=n_metabolomics_features)
    return SimulatedOmics(samples=samples, rna_counts=rna.counts, rna_qc=rna.qc,
                          gene_truth=rna.gene_truth, gene_set_truth=rna.set_truth, ihc=ihc,
                          flow=flow, metabolomics=ms.intensities,
                          metabolomics_injections=ms.injections,
                          metabolomics_features=ms.features, metabolomics_truth=ms.truth,
                          seed=int(seed))


def _check_latent(latent: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(latent, pd.DataFrame):
        raise UsageError(f"The 'latent' parameter of simulate_omics must be a pandas DataFrame. "
                         f"Got {type(latent).__name__} instead.")
    missing = [c for c in REQUIRED_LATENT_COLUMNS if c not in latent.columns]
    if missing:
        raise UsageError(f"The 'latent' parameter of simulate_omics must have the columns "
                         f"{', '.join(REQUIRED_LATENT_COLUMNS)}. Missing: {', '.join(missing)}.")
    duplicated = latent["patient_id"][latent["patient_id"].duplicated()].unique()
    if len(duplicated):
        raise UsageError(f"The 'latent' parameter of simulate_omics must have one row per "
                         f"patient. Got repeated patient_id: {', '.join(map(str, duplicated[:5]))}.")
    bad = sorted(set(latent["cohort"]) - set(COHORTS))
    if bad:
        raise UsageError(f"The 'cohort' column of latent must hold {' or '.join(COHORTS)}. "
                         f"Got {', '.join(map(str, bad))} instead.")
    out = latent[list(REQUIRED_LATENT_COLUMNS)].copy()
    for column in ("immune", "proliferation", "hypoxia"):
        out[column] = pd.to_numeric(out[column], errors="raise").astype(float)
    out["wnt"] = out["wnt"].astype(bool)
    return out.sort_values("patient_id").set_index("patient_id")


_FILES = {
    "samples": ("samples.csv", "One row per specimen (sample_id, patient_id, kind, site, "
                "timepoint, days_from_t0, parent_sample_id); kinds and sites use the CRF "
                "specimens codes."),
    "rna_counts": ("rna_counts.parquet", "RNA-seq raw counts: column 'gene' (HGNC symbol) then "
                   "one int64 column per QC-passed RNA sample."),
    "rna_qc": ("rna_qc.csv", "RNA sample QC: centre, sequencing batch, preservation, DV200 (%), "
               "mapped reads, library size (counts), qc_pass, qc_reason."),
    "ihc": ("ihc.csv", "IHC per biopsy: CD8+ cells/mm² (core, invasive margin), immune "
            "phenotype, PD-L1 clone and cell counts for TPS/CPS."),
    "flow": ("flow.csv", "Flow cytometry per blood sample: subsets as % of lymphocytes (Treg as % "
             "of CD4+), lymphocytes 10^9/L, absolute counts cells/µL."),
    "metabolomics": ("metabolomics_intensities.parquet", "LC-MS peak areas: column "
                     "'injection_id' then one column per feature_id; NaN = not detected."),
    "metabolomics_injections": ("metabolomics_injections.csv", "Run order: injection_id, "
                                "sample_id, patient_id, sample_type (sample/qc), batch, "
                                "injection_order, order_in_batch."),
    "metabolomics_features": ("metabolomics_features.csv", "Feature annotation: feature_id, "
                              "name, formula, ion_mode, adduct, m/z, rt_min (simulated), "
                              "msi_level."),
    "gene_truth": ("truth/gene_truth.parquet", "Truth: per gene, planted effects "
                   "(<factor>_log2fc per SD, per True for wnt), baseline log10 CPM, dispersion, "
                   "centre effects."),
    "gene_set_truth": ("truth/gene_set_truth.csv", "Truth: per shipped gene set and factor, "
                       "direction (+1 planted, 0 null) and share of members loaded."),
    "metabolomics_truth": ("truth/metabolomics_truth.csv", "Truth: per feature and factor, "
                           "log2 fold change, planted, bad_feature, technical SD."),
}


def write_omics(omics: SimulatedOmics, *, out_dir: Path) -> dict[str, Path]:
    """Write the simulated omics as Parquet/CSV files plus ``omics_manifest.json`` and a README.

    Parameters
    ----------
    omics : SimulatedOmics
        Output of :func:`simulate_omics`.
    out_dir : pathlib.Path
        Folder to write into (created if needed; files of the same names are replaced).

    Returns
    -------
    dict of str to pathlib.Path
        Table name (the :class:`SimulatedOmics` attribute, plus ``manifest`` and ``readme``) to
        the file written.
    """
    from hccfusion import __version__

    out_dir = Path(out_dir)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    manifest_files = {}
    for name, (file_name, description) in _FILES.items():
        table: pd.DataFrame = getattr(omics, name)
        path = out_dir / file_name
        if file_name.endswith(".parquet"):
            frame = table.reset_index() if table.index.name else table
            frame.to_parquet(path, index=False)
        else:
            table.to_csv(path, index=False)
        written[name] = path
        manifest_files[name] = {"path": file_name, "rows": int(len(table)),
                                "columns": int(table.shape[1]), "description": description}
    manifest = {"format": "hccfusion-simulated-omics", "format_version": OMICS_FORMAT_VERSION,
                "hccfusion_version": __version__, "seed": omics.seed,
                "n_genes": int(omics.rna_counts.shape[0]),
                "n_rna_samples_passed": int(omics.rna_counts.shape[1]),
                "latent_factors": list(FACTORS), "files": manifest_files}
    written["manifest"] = out_dir / "omics_manifest.json"
    written["manifest"].write_text(json.dumps(manifest, indent=1, ensure_ascii=False),
                                   encoding="utf-8")
    lines = ["# Simulated omics (hccfusion)", "",
             f"Seed {omics.seed}. Format version {OMICS_FORMAT_VERSION}. Files:", ""]
    lines += [f"- `{f}` — {d}" for f, d in _FILES.values()]
    lines += ["", "Files under `truth/` hold the simulation's ground truth; an analysis must not "
              "read them.", ""]
    written["readme"] = out_dir / "README.md"
    written["readme"].write_text("\n".join(lines), encoding="utf-8")
    return written
