"""Latent truth → the eight canonical CRF tables (``hccfusion.io.schema``), consistent with the
truth and with every rule of the data dictionary and the cross-table rules.

Lab values are in the unit each hospital reports (the ``unit`` column says which); everything
else is canonical. Identifiers (name, phone, national ID, record number) are fake.
"""

from __future__ import annotations

import pandas as pd

from hccfusion.io.schema import TABLES, coerce_table
from hccfusion.simulate.crf_events import (
    adverse_events_table, followup_table, specimens_table, treatments_table,
)
from hccfusion.simulate.crf_labs import baseline_si, labs_table
from hccfusion.simulate.crf_patients import anchors, patients_table
from hccfusion.simulate.crf_reads import exams_table, lesion_reads_table
from hccfusion.simulate.latent import SimulatedLatent
from hccfusion.simulate.screening import cap_child_pugh

#: Columns the validator adds to ``labs``; absent from a CRF as written.
_LAB_DERIVED = ("source_value", "source_unit")


def crf_tables(truth: SimulatedLatent) -> dict[str, pd.DataFrame]:
    """The eight CRF tables of a simulated cohort, coerced with :func:`coerce_table`.

    Parameters
    ----------
    truth
        Output of :func:`hccfusion.simulate.latent.simulate_latent`.

    Returns
    -------
    dict
        Table name → canonical DataFrame, in the data dictionary's order. ``exams.image_path``
        and ``specimens.path`` are empty until the modality writers fill them
        (:func:`hccfusion.simulate.cohort.simulate_study`).
    """
    anchor = anchors(truth)
    treatments = treatments_table(truth)
    labs = labs_table(truth, anchor)
    raw = {
        "patients": cap_child_pugh(patients_table(truth, anchor), baseline_si(labs, anchor)),
        "labs": labs,
        "treatments": treatments,
        "exams": exams_table(truth),
        "lesion_reads": lesion_reads_table(truth),
        "followup": followup_table(truth),
        "adverse_events": adverse_events_table(truth, anchor, treatments),
        "specimens": specimens_table(truth, anchor),
    }
    out = {}
    for name in TABLES:
        table = coerce_table(name, raw[name])
        sort = list(TABLES[name].key)
        out[name] = table.sort_values(sort, kind="stable").reset_index(drop=True)
    return out


def split_by_center(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, pd.DataFrame]]:
    """Per-hospital tables (each hospital fills its own workbook), keyed by centre code."""
    centers = tables["patients"][["patient_id", "center"]].set_index("patient_id")["center"]
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for code in pd.unique(centers):
        ids = set(centers.index[centers == code])
        out[str(code)] = {name: t[t["patient_id"].isin(ids)].reset_index(drop=True)
                          for name, t in tables.items()}
    return out


def as_written(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The table as a site writes it: without the columns only the validator produces."""
    if table == "labs":
        return frame.drop(columns=[c for c in _LAB_DERIVED if c in frame.columns])
    return frame
