"""Landmark analysis of survival by response (domain.md §2.6).

Comparing OS between responders and non-responders from T0 is biased: a responder had to live
long enough to respond (immortal time; Anderson, Cain & Gelber, J Clin Oncol 1983). The landmark
method keeps the patients alive and under follow-up at the landmark, classifies them by the
response achieved by then and measures time from the landmark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hccfusion.endpoints.survival_rules import (
    SURVIVAL_COLUMNS, check_criterion, months, require_columns, require_known_reader,
    select_timepoints,
)
from hccfusion.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LANDMARK_COLUMNS", "landmark"]

#: Best-response order (best first) used to classify by the landmark (§1.8, unconfirmed).
RESPONSE_ORDER: tuple[str, ...] = ("CR", "PR", "SD", "PD", "NE")
LANDMARK_COLUMNS: tuple[str, ...] = SURVIVAL_COLUMNS + (
    "landmark_days", "best_response_by_landmark", "responder")


def landmark(table: pd.DataFrame, *, landmark_days: int, response: pd.DataFrame,
             criterion: str = "mrecist", reader: str = "final") -> pd.DataFrame:
    """Survival from a landmark, by response achieved by then (domain.md §2.6).

    Parameters
    ----------
    table
        A survival table measured from T0 (``OS``, ``PFS`` or ``TTP`` from
        :mod:`hccfusion.endpoints.survival`).
    landmark_days
        Landmark in days after T0 (e.g. 91 ≈ 3 months, 183 ≈ 6 months).
    response
        The time-point table; the best overall response (CR > PR > SD > PD > NE, unconfirmed)
        among post-baseline scans on or before the landmark, up to the first PD, classifies
        each patient.
    criterion, reader
        Which time points classify (default mRECIST, the final consensus).

    Returns
    -------
    pandas.DataFrame
        :data:`LANDMARK_COLUMNS`: the rows of ``table`` with ``time`` > ``landmark_days``
        (alive, event-free and followed at the landmark), ``start_date`` moved to the landmark,
        ``time`` and ``time_months`` measured from it, ``best_response_by_landmark`` (NE when
        no scan by then) and ``responder`` (CR or PR by then).
    """
    import pandas as pd

    if not isinstance(landmark_days, int) or isinstance(landmark_days, bool) or landmark_days < 1:
        raise UsageError("The 'landmark_days' parameter of landmark must be an integer >= 1. "
                         f"Got {landmark_days!r} instead.")
    require_columns(table, SURVIVAL_COLUMNS, "survival")
    origin_free = set(table["endpoint"]) - {"OS", "PFS", "TTP"}
    if origin_free:
        raise UsageError(f"landmark needs survival measured from T0 (OS, PFS, TTP). Got endpoint "
                         f"{sorted(origin_free)} instead.")
    check_criterion(criterion)
    require_known_reader(reader)
    kept = table.loc[table["time"] > landmark_days].copy()
    kept["start_date"] = kept["start_date"] + pd.Timedelta(days=landmark_days)
    kept["time"] = kept["time"] - landmark_days
    kept["time_months"] = months(kept["time"])
    kept["landmark_days"] = landmark_days

    tp = select_timepoints(response, criterion=criterion, reader=reader)
    t0 = (table[["patient_id", "start_date"]].drop_duplicates("patient_id")
          .rename(columns={"start_date": "t0"}))
    t0["patient_id"] = t0["patient_id"].astype("string")
    tp = tp.loc[~tp["is_baseline"]].merge(t0, on="patient_id")
    tp = tp.loc[(tp["date"] - tp["t0"]).dt.days <= landmark_days]
    first_pd = tp.loc[tp["overall_response"] == "PD"].groupby("patient_id")["date"].min()
    tp = tp.merge(first_pd.rename("first_pd"), on="patient_id", how="left")
    tp = tp.loc[tp["first_pd"].isna() | (tp["date"] <= tp["first_pd"])]
    rank = tp["overall_response"].map({r: i for i, r in enumerate(RESPONSE_ORDER)})
    best = (tp.assign(rank=rank.fillna(len(RESPONSE_ORDER) - 1)).groupby("patient_id")["rank"]
            .min().map(dict(enumerate(RESPONSE_ORDER))).rename("best_response_by_landmark"))
    kept["patient_id"] = kept["patient_id"].astype("string")
    kept = kept.merge(best, on="patient_id", how="left")
    kept["best_response_by_landmark"] = kept["best_response_by_landmark"].fillna("NE").astype("string")
    kept["responder"] = kept["best_response_by_landmark"].isin(("CR", "PR")).astype(bool)
    return kept[list(LANDMARK_COLUMNS)].reset_index(drop=True)
