"""Tumour shrinkage rate, depth of response and early tumour shrinkage (domain.md §2.4).

- TSR at time t = (S_0 − S_t) / S_0 × 100 (positive = shrinkage) on the criterion's own target
  sum: viable diameters (mRECIST), longest diameters (RECIST 1.1). The signed percent change
  (S_t − S_0) / S_0 × 100 (negative = shrinkage) is kept for waterfall plots.
- Depth of response (DpR): the maximum TSR over scans before PD (and on or before the first
  non-protocol anticancer therapy); an mRECIST CR counts as 100 %. Missing — not 0 — without a
  post-baseline scan. A patient whose first scan is already PD has no scan before PD; the DpR is
  then the TSR of that PD scan (negative = growth), as in the waterfall convention of
  Heinemann et al., Eur J Cancer 2015 (FIRE-3 DpR).
- Early tumour shrinkage (ETS): TSR at the first post-baseline scan >= a threshold (setting).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hccfusion.endpoints.survival_rules import (
    CRITERIA, check_criterion, require_known_reader, select_timepoints,
)
from hccfusion.errors import unknown_option

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ETS_VARIANTS", "EtsSettings", "depth_of_response", "early_tumour_shrinkage",
           "tumour_shrinkage"]

TSR_COLUMNS: tuple[str, ...] = (
    "patient_id", "exam_id", "criterion", "date", "days_from_t0", "overall_response",
    "baseline_sum_mm", "target_sum_mm", "pct_change", "tsr_pct")
DPR_COLUMNS: tuple[str, ...] = (
    "patient_id", "criterion", "depth_pct", "exam_id", "date", "days_from_t0", "basis")


class EtsSettings(BaseModel):
    """Early tumour shrinkage (domain.md §2.4 [M]).

    Attributes
    ----------
    threshold_pct
        ETS when the TSR at the first post-baseline scan is >= this (percent; default 20).
    max_days_from_t0
        A first scan later than this is not "early": ETS is missing (``None`` = no limit;
        §2.4 expects the first scan at 6–10 weeks).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold_pct: float = Field(20.0, gt=0, le=100)
    max_days_from_t0: int | None = Field(None, ge=1, le=365)


#: Named ETS settings; ``ets20`` is the default reading.
ETS_VARIANTS: dict[str, EtsSettings] = {
    "ets20": EtsSettings(threshold_pct=20.0),
    "ets10": EtsSettings(threshold_pct=10.0),
}


def _criteria(criteria: tuple[str, ...] | Literal["all"]) -> tuple[str, ...]:
    chosen = CRITERIA if criteria == "all" else tuple(criteria)
    for c in chosen:
        check_criterion(c)
    return chosen


def tumour_shrinkage(*, timepoints: pd.DataFrame, reader: str = "final",
                     criteria: tuple[str, ...] | Literal["all"] = "all") -> pd.DataFrame:
    """Tumour shrinkage rate at every post-baseline scan (domain.md §2.4).

    Parameters
    ----------
    timepoints
        The time-point table (``target_sum_mm``, ``baseline_sum_mm``, ``overall_response`` …).
    reader
        Reader whose measurements count (default ``final``).
    criteria
        Criteria to compute (``mrecist``, ``recist11``; default both, each on its own sums).

    Returns
    -------
    pandas.DataFrame
        :data:`TSR_COLUMNS`, one row per patient × post-baseline exam × criterion:
        ``pct_change`` = (S_t − S_0)/S_0 × 100 (negative = shrinkage), ``tsr_pct`` = −pct_change
        (positive = shrinkage). NaN where a sum is missing or S_0 is 0.
    """
    import pandas as pd

    require_known_reader(reader)
    parts = []
    for criterion in _criteria(criteria):
        tp = select_timepoints(timepoints, criterion=criterion, reader=reader)
        base = tp.get("baseline_sum_mm", pd.Series(np.nan, index=tp.index)).astype(float)
        own = (tp.loc[tp["is_baseline"]].groupby("patient_id")["target_sum_mm"].first()
               .astype(float))
        base = base.fillna(tp["patient_id"].map(own).astype(float))
        tp["baseline_sum_mm"] = base
        tp["target_sum_mm"] = tp["target_sum_mm"].astype(float)
        s0 = base.where(base > 0)
        tp["pct_change"] = (tp["target_sum_mm"] - s0) / s0 * 100.0
        tp["tsr_pct"] = -tp["pct_change"]
        if "days_from_t0" not in tp.columns:
            tp["days_from_t0"] = np.nan
        parts.append(tp.loc[~tp["is_baseline"], list(TSR_COLUMNS)])
    out = pd.concat(parts, ignore_index=True)
    out["days_from_t0"] = out["days_from_t0"].astype(float)
    return out.sort_values(["patient_id", "criterion", "date"]).reset_index(drop=True)


def depth_of_response(*, timepoints: pd.DataFrame, treatments: pd.DataFrame | None = None,
                      reader: str = "final",
                      criteria: tuple[str, ...] | Literal["all"] = "all") -> pd.DataFrame:
    """Depth of response: maximum TSR before PD / non-protocol therapy (domain.md §2.4).

    Parameters
    ----------
    timepoints
        The time-point table.
    treatments
        Canonical treatments table; scans after the first ``other_anticancer`` start after T0
        are left out (scans on that day count). ``None`` = no such window.
    reader, criteria
        As :func:`tumour_shrinkage`.

    Returns
    -------
    pandas.DataFrame
        :data:`DPR_COLUMNS`, one row per patient × criterion with a baseline:
        ``depth_pct`` (mRECIST CR = 100), the exam it came from, and ``basis``:
        ``before_pd``, ``first_scan_pd`` (first scan already PD: its TSR),
        ``no_post_baseline_scan`` or ``no_measured_scan`` (``depth_pct`` NaN in the last two).
    """
    import pandas as pd

    tsr = tumour_shrinkage(timepoints=timepoints, reader=reader, criteria=criteria)
    is_cr = (tsr["criterion"] == "mrecist") & (tsr["overall_response"] == "CR")
    tsr.loc[is_cr, "tsr_pct"] = 100.0
    if treatments is not None:
        from hccfusion.io.index_date import index_dates

        t0 = index_dates(treatments).set_index("patient_id")["t0"]
        other = treatments.loc[treatments["kind"] == "other_anticancer"].copy()
        other["start_date"] = pd.to_datetime(other["start_date"])
        other = other.loc[other["start_date"] > other["patient_id"].astype("string").map(t0)]
        npt = other.groupby(other["patient_id"].astype("string"))["start_date"].min()
        limit = tsr["patient_id"].map(npt)
        tsr = tsr.loc[limit.isna() | (tsr["date"] <= limit)]
    first_pd = (tsr.loc[tsr["overall_response"] == "PD"].groupby(["patient_id", "criterion"])
                ["date"].min().rename("first_pd"))
    tsr = tsr.merge(first_pd, on=["patient_id", "criterion"], how="left")
    before = tsr.loc[tsr["first_pd"].isna() | (tsr["date"] < tsr["first_pd"])]
    measured = before.dropna(subset=["tsr_pct"])
    best = (measured.sort_values(["tsr_pct", "date"], ascending=[False, True])
            .drop_duplicates(["patient_id", "criterion"]).assign(basis="before_pd"))
    pd_only = tsr.loc[tsr["date"] == tsr["first_pd"]].dropna(subset=["tsr_pct"])
    pd_only = pd_only.loc[~pd_only.set_index(["patient_id", "criterion"]).index.isin(
        before.set_index(["patient_id", "criterion"]).index)]
    pd_only = pd_only.drop_duplicates(["patient_id", "criterion"]).assign(basis="first_scan_pd")
    found = pd.concat([best, pd_only], ignore_index=True).rename(columns={"tsr_pct": "depth_pct"})

    crit = _criteria(criteria)
    allp = timepoints.loc[(timepoints["reader"] == reader)
                          & timepoints["criterion"].isin(crit), ["patient_id", "criterion"]]
    allp = allp.drop_duplicates().astype({"patient_id": "string"})
    out = allp.merge(found[list(DPR_COLUMNS)], on=["patient_id", "criterion"], how="left")
    scanned = tsr.set_index(["patient_id", "criterion"]).index
    has_scan = out.set_index(["patient_id", "criterion"]).index.isin(scanned)
    out["basis"] = out["basis"].where(out["basis"].notna(),
                                      np.where(has_scan, "no_measured_scan",
                                               "no_post_baseline_scan"))
    out["depth_pct"] = out["depth_pct"].astype(float)
    return out[list(DPR_COLUMNS)].sort_values(["patient_id", "criterion"]).reset_index(drop=True)


def early_tumour_shrinkage(*, timepoints: pd.DataFrame, settings: EtsSettings | str = "ets20",
                           reader: str = "final",
                           criteria: tuple[str, ...] | Literal["all"] = "all") -> pd.DataFrame:
    """Early tumour shrinkage at the first post-baseline scan (domain.md §2.4).

    Parameters
    ----------
    timepoints
        The time-point table.
    settings
        An :class:`EtsSettings` or a name in :data:`ETS_VARIANTS` (``ets20``, ``ets10``).
    reader, criteria
        As :func:`tumour_shrinkage`.

    Returns
    -------
    pandas.DataFrame
        One row per patient × criterion with a post-baseline scan: ``patient_id``,
        ``criterion``, ``exam_id``, ``date``, ``days_from_t0``, ``tsr_pct`` of the first scan,
        ``threshold_pct`` and ``ets`` (nullable boolean: NA when the first scan has no
        measured sum or is later than ``max_days_from_t0``).
    """
    import pandas as pd

    if isinstance(settings, str):
        if settings not in ETS_VARIANTS:
            raise unknown_option("ETS setting", settings, tuple(ETS_VARIANTS))
        settings = ETS_VARIANTS[settings]
    tsr = tumour_shrinkage(timepoints=timepoints, reader=reader, criteria=criteria)
    first = tsr.drop_duplicates(["patient_id", "criterion"], keep="first").copy()
    ets = pd.Series(first["tsr_pct"] >= settings.threshold_pct, dtype="boolean")
    ets[first["tsr_pct"].isna()] = pd.NA
    if settings.max_days_from_t0 is not None:
        ets[~(first["days_from_t0"] <= settings.max_days_from_t0)] = pd.NA
    first["threshold_pct"] = settings.threshold_pct
    first["ets"] = ets
    return first[["patient_id", "criterion", "exam_id", "date", "days_from_t0", "tsr_pct",
                  "threshold_pct", "ets"]].reset_index(drop=True)
