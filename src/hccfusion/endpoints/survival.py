"""Overall survival, PFS, TTP, time to response and duration of response (domain.md §2.2–§2.4).

Every function returns a tidy table with :data:`~.survival_rules.SURVIVAL_COLUMNS`: one row per
patient, ``time`` in days (float >= 0) from ``start_date`` to ``date`` (the event or censoring
date), ``event`` (bool), ``event_kind`` (death / progression / clinical_deterioration /
response; NA when censored), ``censor_reason`` (NA for events) and ``time_months``
(days / 30.4375).

PFS censoring follows the §2.3 table, itself the FDA guidance "Clinical Trial Endpoints for the
Approval of Cancer Drugs and Biologics" (2018), PFS censoring appendix:

=================================================  =========================================
situation                                          primary rule (sensitivity variant)
=================================================  =========================================
no adequate post-baseline scan, alive              censor at T0 (``no_adequate_assessment``)
no PD, alive                                       censor at the last adequate assessment
death without PD within ``max_gap_days``           event at death
PD or death after a gap > ``max_gap_days``         censor at the last adequate assessment
                                                   (``missed_assessments``) [event]
non-protocol anticancer therapy before PD          censor at the last adequate assessment on or
                                                   before it (``non_protocol_therapy``) [ignore]
clinical deterioration                             not an event [event at its date]
=================================================  =========================================

An adequate assessment is a post-baseline scan whose overall response is not NE. The gap is
measured from the last adequate non-PD assessment before the event, or from T0 when there is
none (so a death before the first scheduled scan is an event).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hccfusion.endpoints.survival_rules import (
    ADEQUATE_RESPONSES, OBJECTIVE_RESPONSES, SURVIVAL_COLUMNS, DateWarning, PfsCensoring,
    check_criterion, check_dates, months, patient_dates, pfs_censoring, require_columns,
    require_known_reader, select_timepoints,
)
from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SurvivalEndpoints", "duration_of_response", "overall_survival",
           "progression_free_survival", "survival_endpoints", "time_to_progression",
           "time_to_response"]


def _table(*, patient_id: pd.Series, endpoint: str, criterion: str | None, start: pd.Series,
           date: pd.Series, event: pd.Series, kind: pd.Series,
           reason: pd.Series) -> pd.DataFrame:
    import pandas as pd

    out = pd.DataFrame({
        "patient_id": patient_id.astype("string").to_numpy(),
        "endpoint": endpoint,
        "criterion": pd.Series([criterion] * len(patient_id), dtype="string").to_numpy(),
        "start_date": start.to_numpy(), "date": date.to_numpy(),
        "event": event.astype(bool).to_numpy(),
        "event_kind": kind.astype("string").to_numpy(),
        "censor_reason": reason.astype("string").to_numpy(),
    })
    out["criterion"] = out["criterion"].astype("string")
    out["time"] = (out["date"] - out["start_date"]).dt.days.astype(float)
    negative = out["time"] < 0
    if negative.any():
        first = out.loc[negative].iloc[0]
        raise DataError(f"patient {first['patient_id']}: negative {endpoint} duration "
                        f"({first['start_date'].date()} → {first['date'].date()}; domain.md §2.5). "
                        "Check the dates of this patient.")
    out["time_months"] = months(out["time"])
    return out[list(SURVIVAL_COLUMNS)].sort_values("patient_id").reset_index(drop=True)


def overall_survival(*, treatments: pd.DataFrame, followup: pd.DataFrame,
                     cutoff: dt.date | str) -> pd.DataFrame:
    """Overall survival from T0 (domain.md §2.2).

    Event = death from any cause on or before the cut-off. Otherwise censored at the last date
    known alive = min(last contact, cut-off); a death after the cut-off is censored at the
    cut-off. Never censored at progression or new therapy.

    Parameters
    ----------
    treatments, followup
        Canonical tables; the population is every patient with a T0 (§2.1).
    cutoff
        Data cut-off.

    Returns
    -------
    pandas.DataFrame
        :data:`SURVIVAL_COLUMNS`; ``endpoint`` = ``OS``; ``censor_reason`` one of
        ``last_contact``, ``cutoff`` (last contact after the cut-off), ``death_after_cutoff``.

    Raises
    ------
    DataError
        Date-hygiene violations (§2.5), naming the patient.
    """
    import pandas as pd

    p = patient_dates(treatments=treatments, followup=followup, cutoff=cutoff)
    check_dates(patients=p, timepoints=None)
    cut = pd.Timestamp(cutoff)
    contact = p["last_contact_date"].fillna(cut)
    censor = contact.where(contact <= cut, cut)
    died = p["death_in_window"]
    reason = pd.Series("last_contact", index=p.index, dtype="string")
    reason[p["last_contact_date"].isna() | (p["last_contact_date"] > cut)] = "cutoff"
    reason[p["death_date"].notna() & ~died] = "death_after_cutoff"
    return _table(patient_id=p["patient_id"], endpoint="OS", criterion=None, start=p["t0"],
                  date=p["death_date"].where(died, censor), event=died,
                  kind=pd.Series("death", index=p.index).where(died),
                  reason=reason.where(~died))


def _course(*, patients: pd.DataFrame, timepoints: pd.DataFrame, settings: PfsCensoring,
            cutoff: dt.date | str, deterioration: pd.DataFrame | None) -> pd.DataFrame:
    """Per patient: the assessment window and its dates (the shared core of PFS/TTP/DoR/TTR)."""
    import pandas as pd

    cut = pd.Timestamp(cutoff)
    p = patients.copy()
    if settings.non_protocol_therapy == "ignore":
        p["npt_date"] = pd.NaT
    p["npt_date"] = p["npt_date"].astype("datetime64[ns]")
    post = timepoints.loc[~timepoints["is_baseline"] & (timepoints["date"] <= cut)]
    post = post.merge(p[["patient_id", "npt_date"]], on="patient_id", how="inner")
    post = post.loc[post["npt_date"].isna() | (post["date"] <= post["npt_date"])]
    adequate = post.loc[post["overall_response"].isin(ADEQUATE_RESPONSES)].copy()
    adequate["event_date"] = adequate["pd_date"].fillna(adequate["date"])
    progs = adequate.loc[adequate["overall_response"] == "PD", ["patient_id", "event_date"]]
    progs = progs.assign(prog_kind="progression")
    if settings.clinical_deterioration == "event":
        if deterioration is None:
            raise UsageError("The 'deterioration' parameter must be a table (patient_id, date) when "
                             "clinical_deterioration='event'. Got None instead.")
        require_columns(deterioration, ("patient_id", "date"), "deterioration")
        det = deterioration[["patient_id", "date"]].dropna().copy()
        det["patient_id"] = det["patient_id"].astype("string")
        det["event_date"] = pd.to_datetime(det["date"]).astype("datetime64[ns]")
        det = det.merge(p[["patient_id", "t0", "npt_date"]], on="patient_id")
        det = det.loc[(det["event_date"] >= det["t0"]) & (det["event_date"] <= cut)
                      & (det["npt_date"].isna() | (det["event_date"] <= det["npt_date"]))]
        progs = pd.concat([progs, det[["patient_id", "event_date"]].assign(
            prog_kind="clinical_deterioration")], ignore_index=True)
    first = (progs.sort_values(["patient_id", "event_date"])
             .drop_duplicates("patient_id")
             .rename(columns={"event_date": "prog_date"}))
    p = p.merge(first, on="patient_id", how="left")
    p["prog_date"] = p["prog_date"].astype("datetime64[ns]")
    p["death_eff"] = p["death_date"].where(
        p["death_in_window"] & (p["npt_date"].isna() | (p["death_date"] <= p["npt_date"])))
    p["death_eff"] = p["death_eff"].astype("datetime64[ns]")

    # Last adequate non-PD assessment before the progression (all of them without one).
    ad = adequate.loc[adequate["overall_response"] != "PD", ["patient_id", "date",
                                                             "overall_response"]]
    ad = ad.merge(p[["patient_id", "prog_date"]], on="patient_id")
    before = ad.loc[ad["prog_date"].isna() | (ad["date"] < ad["prog_date"])]
    p = p.merge(before.groupby("patient_id")["date"].max().rename("last_adequate"),
                on="patient_id", how="left")
    resp = before.loc[before["overall_response"].isin(OBJECTIVE_RESPONSES)]
    p = p.merge(resp.groupby("patient_id")["date"].min().rename("first_response"),
                on="patient_id", how="left")
    for col in ("last_adequate", "first_response"):
        p[col] = p[col].astype("datetime64[ns]")
    p["any_adequate"] = p["patient_id"].isin(adequate["patient_id"])
    return p


def _censored_progression(p: pd.DataFrame, *, settings: PfsCensoring, death_counts: bool,
                          endpoint: str, criterion: str, start: pd.Series) -> pd.DataFrame:
    import pandas as pd

    death = p["death_eff"] if death_counts else pd.Series(pd.NaT, index=p.index,
                                                          dtype="datetime64[ns]")
    prog_first = p["prog_date"].notna() & (death.isna() | (p["prog_date"] <= death))
    event_date = p["prog_date"].where(prog_first, death)
    kind = p["prog_kind"].where(prog_first, "death").where(event_date.notna())
    ref = p["last_adequate"].fillna(p["t0"])
    has_event = event_date.notna()
    late = has_event & ((event_date - ref).dt.days > settings.gap_days)
    missed = late & (settings.missed_assessments == "censor")
    event = has_event & ~missed
    reason = pd.Series("no_progression", index=p.index, dtype="string")
    reason[~p["any_adequate"]] = "no_adequate_assessment"
    if not death_counts:
        reason[p["death_eff"].notna()] = "death_without_progression"
    reason[p["npt_date"].notna()] = "non_protocol_therapy"
    reason[missed] = "missed_assessments"
    return _table(patient_id=p["patient_id"], endpoint=endpoint, criterion=criterion, start=start,
                  date=event_date.where(event, ref), event=event, kind=kind.where(event),
                  reason=reason.where(~event))


def _prepare(timepoints: pd.DataFrame, treatments: pd.DataFrame, followup: pd.DataFrame,
             cutoff: dt.date | str, criterion: str, reader: str,
             censoring: PfsCensoring | str) -> tuple[pd.DataFrame, pd.DataFrame, PfsCensoring]:
    check_criterion(criterion)
    require_known_reader(reader)
    settings = pfs_censoring(censoring) if isinstance(censoring, str) else censoring
    if not isinstance(settings, PfsCensoring):
        raise UsageError("The 'censoring' parameter must be a PfsCensoring or a variant name. "
                         f"Got {type(censoring).__name__} instead.")
    patients = patient_dates(treatments=treatments, followup=followup, cutoff=cutoff)
    tp = select_timepoints(timepoints, criterion=criterion, reader=reader)
    check_dates(patients=patients, timepoints=tp, max_gap_days=settings.gap_days)
    return patients, tp, settings


def progression_free_survival(*, timepoints: pd.DataFrame, treatments: pd.DataFrame,
                              followup: pd.DataFrame, cutoff: dt.date | str,
                              criterion: str = "mrecist", reader: str = "final",
                              censoring: PfsCensoring | str = "primary",
                              deterioration: pd.DataFrame | None = None) -> pd.DataFrame:
    """Progression-free survival from T0 (domain.md §2.3; FDA 2018 PFS censoring table).

    Parameters
    ----------
    timepoints
        The time-point table (patient × exam × reader × criterion; ``overall_response``,
        ``pd_date``, ``is_baseline`` …).
    treatments, followup
        Canonical tables: T0 (§2.1), the first ``other_anticancer`` start after T0, death and
        last contact.
    cutoff
        Data cut-off; scans and deaths after it are not seen.
    criterion
        ``mrecist`` (primary) or ``recist11`` (secondary).
    reader
        Reader whose time points count (default ``final``, the MDT consensus, §1.11).
    censoring
        A :class:`PfsCensoring` or a name in :data:`PFS_VARIANTS` (``primary``,
        ``missed_assessments_event``, ``non_protocol_ignored``, ``clinical_deterioration_event``).
    deterioration
        Clinical deterioration dates (``patient_id``, ``date``); used only when
        ``censoring.clinical_deterioration == "event"``.

    Returns
    -------
    pandas.DataFrame
        :data:`SURVIVAL_COLUMNS`; ``endpoint`` = ``PFS``. ``censor_reason``:
        ``no_adequate_assessment`` (day 0), ``no_progression``, ``missed_assessments``,
        ``non_protocol_therapy``.

    Raises
    ------
    DataError
        Date-hygiene violations (§2.5) naming the patient.
    """
    patients, tp, settings = _prepare(timepoints, treatments, followup, cutoff, criterion,
                                      reader, censoring)
    p = _course(patients=patients, timepoints=tp, settings=settings, cutoff=cutoff,
                deterioration=deterioration)
    return _censored_progression(p, settings=settings, death_counts=True, endpoint="PFS",
                                 criterion=criterion, start=p["t0"])


def time_to_progression(*, timepoints: pd.DataFrame, treatments: pd.DataFrame,
                        followup: pd.DataFrame, cutoff: dt.date | str, criterion: str = "mrecist",
                        reader: str = "final", censoring: PfsCensoring | str = "primary",
                        deterioration: pd.DataFrame | None = None) -> pd.DataFrame:
    """Time to progression (domain.md §2.4): PFS without death as an event.

    Deaths without PD are censored at the last adequate assessment (``censor_reason`` =
    ``death_without_progression``); everything else as :func:`progression_free_survival`.
    """
    patients, tp, settings = _prepare(timepoints, treatments, followup, cutoff, criterion,
                                      reader, censoring)
    p = _course(patients=patients, timepoints=tp, settings=settings, cutoff=cutoff,
                deterioration=deterioration)
    return _censored_progression(p, settings=settings, death_counts=False, endpoint="TTP",
                                 criterion=criterion, start=p["t0"])


def duration_of_response(*, timepoints: pd.DataFrame, treatments: pd.DataFrame,
                         followup: pd.DataFrame, cutoff: dt.date | str, criterion: str = "mrecist",
                         reader: str = "final", censoring: PfsCensoring | str = "primary",
                         deterioration: pd.DataFrame | None = None) -> pd.DataFrame:
    """Duration of response (domain.md §2.4): first CR/PR → PD or death, PFS censoring rules.

    Responders only: patients with a CR or PR time point before their first PD and inside the
    non-protocol-therapy window (unconfirmed responses; filter on a confirmed BOR first if the
    analysis needs confirmation, §1.8). ``start_date`` is the first CR/PR scan date; the end is
    the patient's PFS event or censoring date, so every PFS rule carries over.
    """
    patients, tp, settings = _prepare(timepoints, treatments, followup, cutoff, criterion,
                                      reader, censoring)
    p = _course(patients=patients, timepoints=tp, settings=settings, cutoff=cutoff,
                deterioration=deterioration)
    p = p.loc[p["first_response"].notna()].reset_index(drop=True)
    return _censored_progression(p, settings=settings, death_counts=True, endpoint="DoR",
                                 criterion=criterion, start=p["first_response"])


def time_to_response(*, timepoints: pd.DataFrame, treatments: pd.DataFrame,
                     followup: pd.DataFrame, cutoff: dt.date | str, criterion: str = "mrecist",
                     reader: str = "final",
                     censoring: PfsCensoring | str = "primary") -> pd.DataFrame:
    """Time to response (domain.md §2.4): T0 → first CR/PR scan, responders only.

    Descriptive (median / IQR), not for Kaplan–Meier: every row is an event
    (``event_kind`` = ``response``). Responses after the first PD, or after non-protocol
    therapy under the primary censoring, do not count.
    """
    import pandas as pd

    patients, tp, settings = _prepare(timepoints, treatments, followup, cutoff, criterion,
                                      reader, censoring)
    p = _course(patients=patients, timepoints=tp, settings=settings, cutoff=cutoff,
                deterioration=None)
    p = p.loc[p["first_response"].notna()].reset_index(drop=True)
    return _table(patient_id=p["patient_id"], endpoint="TTR", criterion=criterion, start=p["t0"],
                  date=p["first_response"], event=pd.Series(True, index=p.index),
                  kind=pd.Series("response", index=p.index),
                  reason=pd.Series(pd.NA, index=p.index, dtype="string"))


@dataclass(frozen=True)
class SurvivalEndpoints:
    """Every time-to-event endpoint of a cohort, with what produced it.

    Attributes
    ----------
    table
        Long table (:data:`SURVIVAL_COLUMNS`): OS once, then PFS, TTP, DoR and TTR per criterion.
    warnings
        §2.5 date-hygiene warnings of each criterion's time points.
    cutoff
        Data cut-off (stored with every derived dataset, §2.5).
    censoring
        The PFS censoring settings used.
    """

    table: pd.DataFrame
    warnings: tuple[DateWarning, ...]
    cutoff: dt.date
    censoring: PfsCensoring


def survival_endpoints(*, timepoints: pd.DataFrame, treatments: pd.DataFrame,
                       followup: pd.DataFrame, cutoff: dt.date | str,
                       criteria: tuple[str, ...] = ("mrecist", "recist11"), reader: str = "final",
                       censoring: PfsCensoring | str = "primary",
                       deterioration: pd.DataFrame | None = None) -> SurvivalEndpoints:
    """OS, and PFS/TTP/DoR/TTR for each criterion, in one long table (domain.md §2.2–§2.5)."""
    import pandas as pd

    kw = dict(timepoints=timepoints, treatments=treatments, followup=followup, cutoff=cutoff,
              reader=reader, censoring=censoring)
    parts = [overall_survival(treatments=treatments, followup=followup, cutoff=cutoff)]
    warnings: list[DateWarning] = []
    for criterion in criteria:
        patients, tp, settings = _prepare(timepoints, treatments, followup, cutoff, criterion,
                                          reader, censoring)
        warnings += check_dates(patients=patients, timepoints=tp, max_gap_days=settings.gap_days)
        for func in (progression_free_survival, time_to_progression, duration_of_response):
            parts.append(func(criterion=criterion, deterioration=deterioration, **kw))
        parts.append(time_to_response(criterion=criterion, **kw))
    settings = pfs_censoring(censoring) if isinstance(censoring, str) else censoring
    return SurvivalEndpoints(table=pd.concat(parts, ignore_index=True), warnings=tuple(warnings),
                             cutoff=pd.Timestamp(cutoff).date(), censoring=settings)
