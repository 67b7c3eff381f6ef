"""Tumour-marker response: AFP and PIVKA-II decline from baseline (domain.md §3.8).

AFP response is defined only for patients with baseline AFP >= 20 ng/mL; PIVKA-II response
only for baseline PIVKA-II >= 40 mAU/mL. The response is a decline of at least
``response_pct`` (default 50 %) at 6–8 weeks; the decline is also reported against every
threshold in ``thresholds_pct`` (default 20 / 50 / 75 %). References: Riaz et al., J Clin
Oncol 2009 (AFP response after locoregional therapy); Kim et al., Ann Surg Oncol 2017
(PIVKA-II kinetics). The thresholds are settings, recorded with each run.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from hccfusion.clinical.scores import _num, _same_length
from hccfusion.errors import DataError

AFP_MIN_BASELINE_NG_ML = 20.0
PIVKA_MIN_BASELINE_MAU_ML = 40.0
DEFAULT_THRESHOLDS_PCT: tuple[float, ...] = (20.0, 50.0, 75.0)


def marker_response(*, baseline: Any, follow_up: Any, min_baseline: float,
                    response_pct: float = 50.0,
                    thresholds_pct: Sequence[float] = DEFAULT_THRESHOLDS_PCT,
                    prefix: str = "marker") -> pd.DataFrame:
    """Percent decline from baseline and response, in the marker's own unit.

    Returns ``{prefix}_decline_pct`` ((baseline − follow-up) / baseline × 100; negative = rise),
    ``{prefix}_evaluable`` (baseline >= ``min_baseline`` and both values present),
    ``{prefix}_response`` (decline >= ``response_pct``; NA when not evaluable) and one
    ``{prefix}_decline_ge_{t}`` column per threshold (NA when not evaluable).
    """
    if not 0 < response_pct <= 100 or any(not 0 < t <= 100 for t in thresholds_pct):
        raise DataError(f"decline thresholds are percentages in (0, 100]; got response_pct="
                        f"{response_pct}, thresholds_pct={list(thresholds_pct)}.")
    b = _num(baseline, "baseline")
    f = _num(follow_up, "follow_up")
    _same_length(baseline=b, follow_up=f)
    decline = ((b - f) / b.where(b > 0) * 100).round(9)
    evaluable = (b >= min_baseline) & f.notna()
    out = pd.DataFrame({f"{prefix}_decline_pct": decline,
                        f"{prefix}_evaluable": evaluable.to_numpy(dtype=bool)})

    def at(t: float) -> pd.Series:
        return pd.Series(np.asarray(decline >= t), dtype="boolean").mask(~evaluable)

    out[f"{prefix}_response"] = at(response_pct)
    for t in thresholds_pct:
        out[f"{prefix}_decline_ge_{t:g}"] = at(t)
    return out


def afp_response(*, afp_baseline_ng_ml: Any, afp_follow_up_ng_ml: Any,
                 response_pct: float = 50.0,
                 thresholds_pct: Sequence[float] = DEFAULT_THRESHOLDS_PCT) -> pd.DataFrame:
    """AFP response (baseline >= 20 ng/mL; decline >= ``response_pct`` %). See module docs."""
    return marker_response(baseline=afp_baseline_ng_ml, follow_up=afp_follow_up_ng_ml,
                           min_baseline=AFP_MIN_BASELINE_NG_ML, response_pct=response_pct,
                           thresholds_pct=thresholds_pct, prefix="afp")


def pivka_response(*, pivka_baseline_mau_ml: Any, pivka_follow_up_mau_ml: Any,
                   response_pct: float = 50.0,
                   thresholds_pct: Sequence[float] = DEFAULT_THRESHOLDS_PCT) -> pd.DataFrame:
    """PIVKA-II response (baseline >= 40 mAU/mL; decline >= ``response_pct`` %)."""
    return marker_response(baseline=pivka_baseline_mau_ml, follow_up=pivka_follow_up_mau_ml,
                           min_baseline=PIVKA_MIN_BASELINE_MAU_ML, response_pct=response_pct,
                           thresholds_pct=thresholds_pct, prefix="pivka")


def follow_up_marker(labs: pd.DataFrame, index: pd.DataFrame, *, test: str,
                     window_days: tuple[int, int] = (42, 56)) -> pd.DataFrame:
    """The marker value measured ``window_days`` after T0 (both ends inclusive; default
    6–8 weeks); of several, the one closest to the middle of the window (earlier on a tie).

    Returns one row per patient of ``index``: ``patient_id``, ``follow_up`` (NaN if none),
    ``follow_up_day``.
    """
    lo, hi = window_days
    if not 0 < lo <= hi:
        raise DataError("window_days must be (start, end) with 0 < start <= end; "
                        f"got {window_days}.")
    out = index[["patient_id"]].drop_duplicates().reset_index(drop=True)
    sub = labs.loc[(labs["test"] == test) & labs["value"].notna(), ["patient_id", "date", "value"]]
    sub = sub.merge(index[["patient_id", "t0"]], on="patient_id", how="inner")
    sub["day"] = (pd.to_datetime(sub["date"]) - pd.to_datetime(sub["t0"])).dt.days
    sub = sub.loc[(sub["day"] >= lo) & (sub["day"] <= hi)].copy()
    sub["dist"] = (sub["day"] - (lo + hi) / 2).abs()
    sub = sub.sort_values(["patient_id", "dist", "day"]).drop_duplicates("patient_id")
    sub = sub.rename(columns={"value": "follow_up", "day": "follow_up_day"})
    out = out.merge(sub[["patient_id", "follow_up", "follow_up_day"]], on="patient_id", how="left")
    out["follow_up"] = out["follow_up"].astype("float64")
    out["follow_up_day"] = out["follow_up_day"].astype("Int64")
    return out
