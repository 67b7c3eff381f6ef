"""Best overall response (BOR) per patient, reader and criterion, with and without confirmation
(domain.md §1.8; RECIST 1.1, Eisenhauer et al., Eur J Cancer 2009, section 4.4).

The assessment window runs from T0 up to and including the first PD, and stops before the first
non-protocol anticancer therapy (``other_anticancer`` on or after T0; repeat TACE/HAIC sessions
are part of the regimen). A ``final`` time point still awaiting MDT adjudication counts as NE and
sets ``needs_mdt``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hccfusion.endpoints.response_rules import RANK, ResponseSettings
from hccfusion.io.index_date import index_dates as _index_dates

BOR_COLUMNS: tuple[str, ...] = (
    "patient_id", "reader", "criterion", "bor", "bor_unconfirmed", "bor_confirmed",
    "n_assessments", "window_end_date", "needs_mdt",
)
_GOOD = ("CR", "PR", "SD", "nonCR/nonPD")


def _sd_rule(cats: Sequence[str], days: Sequence[int], settings: ResponseSettings) -> str:
    """BOR when the best is SD: SD needs an SD-or-better assessment >= ``min_sd_days`` after
    T0; otherwise PD if the next assessment is PD, else NE (§1.8)."""
    stable = [c for c in cats if c in _GOOD]
    if any(c in _GOOD and d >= settings.min_sd_days for c, d in zip(cats, days)):
        return "nonCR/nonPD" if stable and all(c == "nonCR/nonPD" for c in stable) else "SD"
    return "PD" if "PD" in cats else "NE"


def _unconfirmed(cats: Sequence[str], days: Sequence[int], settings: ResponseSettings) -> str:
    if not cats:
        return "NE"
    best = min(cats, key=RANK.__getitem__)
    if best in ("SD", "nonCR/nonPD"):
        return _sd_rule(cats, days, settings)
    return best


def _confirmed(cats: Sequence[str], days: Sequence[int], settings: ResponseSettings) -> str:
    """CR (PR) counts only if a later assessment >= ``confirmation_min_days`` later is CR
    (CR or PR); an unconfirmed CR/PR is SD when the SD duration rule holds."""
    gap = settings.confirmation_min_days
    confirmed: list[str] = []
    for i, (c, d) in enumerate(zip(cats, days)):
        later = [cats[j] for j in range(i + 1, len(cats)) if days[j] - d >= gap]
        if c == "CR" and "CR" in later:
            confirmed.append("CR")
        elif c in ("CR", "PR") and any(x in ("CR", "PR") for x in later):
            confirmed.append("PR")
    if confirmed:
        return min(confirmed, key=RANK.__getitem__)
    downgraded = ["SD" if c in ("CR", "PR") else c for c in cats]
    return _unconfirmed(downgraded, days, settings)


def bor_of_series(*, categories: Sequence[str], days: Sequence[int], confirmed: bool,
                  settings: ResponseSettings = ResponseSettings()) -> str:
    """BOR of one patient's in-window, post-baseline time points (domain.md §1.8).

    Parameters
    ----------
    categories
        Overall responses in date order, already cut at the first PD and before non-protocol
        therapy (``NE`` allowed).
    days
        Days from T0 of each time point.
    confirmed
        Apply the confirmation rule.

    Returns
    -------
    str
        CR, PR, SD, PD, NE (``nonCR/nonPD`` for non-target-only disease).
    """
    if not any(c != "NE" for c in categories):
        return "NE"
    fn = _confirmed if confirmed else _unconfirmed
    return fn(list(categories), list(days), settings)


def best_overall_response(timepoints: pd.DataFrame, *, treatments: pd.DataFrame,
                          reader: str = "final",
                          settings: ResponseSettings = ResponseSettings()) -> pd.DataFrame:
    """Best overall response per patient and criterion for one reader (domain.md §1.8).

    Parameters
    ----------
    timepoints
        Output of :func:`hccfusion.endpoints.response.timepoint_responses`.
    treatments
        Canonical ``treatments`` table: T0 and the first ``other_anticancer`` start on or after
        T0, which closes the window (time points strictly before it count).
    reader
        ``final`` (default), ``R1``, ``R2`` or ``MDT``.
    settings
        ``confirmation_required`` picks which reading is ``bor``; both are returned.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`BOR_COLUMNS`: one row per patient × criterion with ``bor``,
        ``bor_unconfirmed``, ``bor_confirmed``, ``n_assessments`` (in-window post-baseline time
        points), ``window_end_date`` (date of the last in-window assessment) and ``needs_mdt``
        (an in-window time point awaits adjudication). NE when no evaluable post-baseline scan.
    """
    tp = timepoints[(timepoints["reader"] == reader) & ~timepoints["is_baseline"]]
    t0 = _index_dates(treatments)[["patient_id", "t0"]]
    other = treatments[treatments["kind"] == "other_anticancer"][["patient_id", "start_date"]]
    other = other.merge(t0, on="patient_id")
    other = other[pd.to_datetime(other["start_date"]) >= other["t0"]]
    stop = other.groupby("patient_id", observed=True)["start_date"].min().rename("stop")
    tp = tp.merge(stop.reset_index(), on="patient_id", how="left")
    tp = tp[tp["stop"].isna() | (tp["date"] < pd.to_datetime(tp["stop"]))]
    tp = tp.sort_values(["patient_id", "criterion", "date"], kind="stable")
    cat = tp["overall_response"].astype(object).where(tp["overall_response"].notna(), "NE")
    g = [tp["patient_id"], tp["criterion"]]
    after_pd = (cat == "PD").astype(int).groupby(g).cumsum().groupby(g).shift(1).fillna(0) > 0
    tp, cat = tp[~after_pd.to_numpy()], cat[~after_pd.to_numpy()]
    rows = []
    all_keys = timepoints.loc[timepoints["reader"] == reader, ["patient_id", "criterion"]]
    groups = {k: v for k, v in tp.assign(cat=cat).groupby(["patient_id", "criterion"],
                                                           observed=True, sort=False)}
    for pid, crit in all_keys.drop_duplicates().itertuples(index=False):
        grp = groups.get((pid, crit))
        cats = [] if grp is None else grp["cat"].tolist()
        days = [] if grp is None else grp["days_from_t0"].astype(int).tolist()
        unconf = bor_of_series(categories=cats, days=days, confirmed=False, settings=settings)
        conf = bor_of_series(categories=cats, days=days, confirmed=True, settings=settings)
        rows.append({
            "patient_id": pid, "reader": reader, "criterion": crit,
            "bor": conf if settings.confirmation_required else unconf,
            "bor_unconfirmed": unconf, "bor_confirmed": conf, "n_assessments": len(cats),
            "window_end_date": grp["date"].max() if grp is not None else pd.NaT,
            "needs_mdt": bool(grp is not None and grp["needs_mdt"].any()),
        })
    out = pd.DataFrame(rows, columns=list(BOR_COLUMNS))
    out["window_end_date"] = pd.to_datetime(out["window_end_date"])
    out["n_assessments"] = out["n_assessments"].astype(np.int64)
    return out.sort_values(["patient_id", "criterion"]).reset_index(drop=True)
