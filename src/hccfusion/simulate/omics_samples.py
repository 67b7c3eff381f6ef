"""Who gives which specimen: the simulated biobank of the omics sub-studies.

All prospective patients have a research biopsy; some retrospective patients have archived tissue.
RNA-seq is run on most biopsies (some have no core left for RNA; failed QC is decided later, in
:mod:`hccfusion.simulate.omics_rnaseq`), IHC on most. Blood for flow cytometry (hepatic artery,
hepatic vein and peripheral blood, drawn at the intra-arterial procedure) and serum for LC-MS
metabolomics exist for the prospective cohort only; some patients give a second, on-treatment
peripheral blood sample.

Sample ids: ``<patient_id>-RNA1``, ``-IHC1`` (biopsy); ``-HAB1``, ``-HVB1``, ``-PB1``, ``-PB2``
(blood draws, kind ``blood``); ``<blood id>-FC`` (flow cytometry) and ``<patient_id>-PB1-MS``
(serum metabolomics) with the draw as ``parent_sample_id``. Kinds and sites use the codes of the
CRF ``specimens`` table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SAMPLE_COLUMNS = ("sample_id", "patient_id", "kind", "site", "timepoint", "days_from_t0",
                  "parent_sample_id")

#: Blood sites, their sample-id code and the day they are drawn (day 0 = first procedure).
BLOOD_SITES = (("hepatic_artery_blood", "HAB"), ("hepatic_vein_blood", "HVB"),
               ("peripheral_blood", "PB"))


@dataclass(frozen=True)
class SamplingPlan:
    """Availability probabilities of each specimen.

    Parameters
    ----------
    retrospective_biopsy_fraction
        Share of retrospective patients with archived biopsy tissue.
    rna_available_prospective, rna_available_retrospective
        Share of biopsied patients with an RNA sample (before sequencing QC).
    ihc_available
        Share of biopsied patients with IHC.
    blood_available
        Share of prospective patients with each baseline blood draw (per site).
    on_treatment_blood
        Share of prospective patients with a second peripheral blood draw (day ~42).
    metabolomics_available
        Share of baseline peripheral draws with serum sent for LC-MS.
    """

    retrospective_biopsy_fraction: float = 0.3
    rna_available_prospective: float = 0.95
    rna_available_retrospective: float = 0.6
    ihc_available: float = 0.9
    blood_available: float = 0.95
    on_treatment_blood: float = 0.5
    metabolomics_available: float = 0.95


def allocate_samples(*, latent: pd.DataFrame, rng: np.random.Generator,
                     plan: SamplingPlan = SamplingPlan()) -> pd.DataFrame:
    """Draw the specimen table of the cohort.

    Parameters
    ----------
    latent : pandas.DataFrame
        One row per patient with ``patient_id`` and ``cohort``.
    rng : numpy.random.Generator
        Random stream.
    plan : SamplingPlan
        Availability probabilities.

    Returns
    -------
    pandas.DataFrame
        One row per specimen, columns :data:`SAMPLE_COLUMNS`; ``timepoint`` is ``baseline`` or
        ``on_treatment``; ``days_from_t0`` is the collection day relative to T0.
    """
    rows: list[dict] = []
    for pid, cohort in zip(latent["patient_id"], latent["cohort"]):
        prospective = cohort == "prospective"
        u = rng.random(8)
        biopsied = prospective or u[0] < plan.retrospective_biopsy_fraction
        if biopsied:
            biopsy_day = -int(rng.integers(1, 15))
            p_rna = (plan.rna_available_prospective if prospective
                     else plan.rna_available_retrospective)
            if u[1] < p_rna:
                rows.append(_row(f"{pid}-RNA1", pid, "rna", "liver_tumour", biopsy_day))
            if u[2] < plan.ihc_available:
                rows.append(_row(f"{pid}-IHC1", pid, "ihc", "liver_tumour", biopsy_day))
        if not prospective:
            continue
        for k, (site, code) in enumerate(BLOOD_SITES):
            if u[3 + k] >= plan.blood_available:
                continue
            draw = f"{pid}-{code}1"
            rows.append(_row(draw, pid, "blood", site, 0))
            rows.append(_row(f"{draw}-FC", pid, "flow", site, 0, parent=draw))
            if code == "PB" and u[6] < plan.metabolomics_available:
                rows.append(_row(f"{draw}-MS", pid, "metabolomics", site, 0, parent=draw))
        if u[7] < plan.on_treatment_blood:
            day = int(rng.integers(35, 50))
            draw = f"{pid}-PB2"
            rows.append(_row(draw, pid, "blood", "peripheral_blood", day, timepoint="on_treatment"))
            rows.append(_row(f"{draw}-FC", pid, "flow", "peripheral_blood", day,
                             timepoint="on_treatment", parent=draw))
    table = pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS))
    table["days_from_t0"] = table["days_from_t0"].astype("int64")
    return table


def _row(sample_id: str, patient_id: str, kind: str, site: str, day: int, *,
         timepoint: str = "baseline", parent: str | None = None) -> dict:
    return {"sample_id": sample_id, "patient_id": patient_id, "kind": kind, "site": site,
            "timepoint": timepoint, "days_from_t0": day, "parent_sample_id": parent}
