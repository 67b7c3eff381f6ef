"""The index date T0 of every treated patient (domain.md §2.1, §10 decision 2).

T0 is the first day of the combination regimen = min(first TACE/HAIC session, first TKI dose,
first PD-1 dose). Other anticancer treatments (resection, ablation, radiotherapy, other
systemic lines) never define T0; a patient who received one before T0 was not treatment-naive
(see the ``no_prior_therapy`` eligibility rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hccfusion.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

#: Treatment kinds that make up the combination, by component.
IA_KINDS: tuple[str, ...] = ("TACE", "HAIC")
TKI_KINDS: tuple[str, ...] = ("TKI",)
PD1_KINDS: tuple[str, ...] = ("PD1",)

INDEX_COLUMNS: tuple[str, ...] = ("patient_id", "t0", "first_ia_date", "first_tki_date",
                                  "first_pd1_date", "combination_received")


def index_dates(treatments: pd.DataFrame) -> pd.DataFrame:
    """T0 and the first date of each component of the combination, per patient.

    Parameters
    ----------
    treatments
        Canonical ``treatments`` table (long: ``patient_id``, ``kind``, ``start_date`` …).
        Rows without a start date are ignored.

    Returns
    -------
    pandas.DataFrame
        One row per patient that appears in ``treatments``, sorted by ``patient_id``:
        ``patient_id``, ``t0`` = min of the three first dates (NaT when the patient received
        none of the three), ``first_ia_date`` (first TACE or HAIC), ``first_tki_date``,
        ``first_pd1_date``, and ``combination_received`` (bool: all three components have a
        start date).

    Notes
    -----
    domain.md §2.1 marks the index date [U]: the clinical lead may prefer the first
    intra-arterial session; ``first_ia_date`` is returned so that reading is one column away.
    """
    import pandas as pd

    missing = [c for c in ("patient_id", "kind", "start_date") if c not in treatments.columns]
    if missing:
        raise DataError(f"treatments table lacks columns {missing}; expected the canonical "
                        "treatments table (patient_id, kind, start_date, …).")
    df = treatments[["patient_id", "kind", "start_date"]].copy()
    if df["patient_id"].isna().any():
        raise DataError(f"treatments has {int(df['patient_id'].isna().sum())} row(s) without "
                        "patient_id; every treatment row needs the patient's study code.")
    df["start_date"] = pd.to_datetime(df["start_date"])
    patients = pd.Series(sorted(df["patient_id"].astype(str).unique()), name="patient_id",
                         dtype="string")
    out = pd.DataFrame({"patient_id": patients})
    dated = df.loc[df["start_date"].notna()].copy()
    dated["patient_id"] = dated["patient_id"].astype("string")
    for col, kinds in (("first_ia_date", IA_KINDS), ("first_tki_date", TKI_KINDS),
                       ("first_pd1_date", PD1_KINDS)):
        first = (dated.loc[dated["kind"].isin(kinds)].groupby("patient_id")["start_date"].min()
                 .rename(col).reset_index())
        out = out.merge(first, on="patient_id", how="left")
        out[col] = out[col].astype("datetime64[ns]")
    components = out[["first_ia_date", "first_tki_date", "first_pd1_date"]]
    out["t0"] = components.min(axis=1, skipna=True).astype("datetime64[ns]")
    out["combination_received"] = components.notna().all(axis=1).astype(bool)
    return out[list(INDEX_COLUMNS)]
