"""Censoring settings, inputs and date hygiene of the time-to-event endpoints (domain.md §2).

- :class:`PfsCensoring` holds the §2.3 censoring options; :data:`PFS_VARIANTS` names the primary
  rule and each sensitivity variant (FDA guidance "Clinical Trial Endpoints for the Approval of
  Cancer Drugs and Biologics", 2018, PFS censoring tables).
- :func:`patient_dates` assembles one row per treated patient (T0, death, last contact, first
  non-protocol anticancer therapy) from the canonical tables.
- :func:`check_dates` applies the §2.5 date-hygiene rules: hard errors raise
  :class:`~hccfusion.errors.DataError` naming the patient; warnings come back as a list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from hccfusion.errors import DataError, unknown_option

if TYPE_CHECKING:
    import pandas as pd

#: Months = days / 30.4375 (domain.md, global conventions).
DAYS_PER_MONTH = 30.4375
#: Overall time-point responses that make an assessment "adequate" (§2.3: not NE).
ADEQUATE_RESPONSES: tuple[str, ...] = ("CR", "PR", "SD", "PD")
OBJECTIVE_RESPONSES: tuple[str, ...] = ("CR", "PR")
CRITERIA: tuple[str, ...] = ("mrecist", "recist11")
#: Columns of every survival table, in order.
SURVIVAL_COLUMNS: tuple[str, ...] = (
    "patient_id", "endpoint", "criterion", "start_date", "date", "time", "event", "event_kind",
    "censor_reason", "time_months")
#: Baseline scan more than this many days before T0 → warning (§2.5).
BASELINE_SCAN_WARN_DAYS = 28
#: First follow-up scan more than this many days after T0 → warning (§2.5: 12 weeks).
FIRST_SCAN_WARN_DAYS = 84


class PfsCensoring(BaseModel):
    """PFS censoring options (domain.md §2.3; FDA 2018 PFS censoring table).

    Attributes
    ----------
    assessment_interval_days
        Planned interval between tumour assessments (default 8 weeks = 56 days).
    max_gap_days
        A PD or death more than this many days after the last adequate assessment followed
        >= 2 missed assessments. ``None`` = 2 × interval + 14 (126 days by default).
    missed_assessments
        ``censor`` (primary): censor at the last adequate assessment; ``event`` (sensitivity).
    non_protocol_therapy
        ``censor`` (primary): censor at the last adequate assessment on or before the first
        ``other_anticancer`` start after T0; ``ignore`` (sensitivity).
    clinical_deterioration
        ``ignore`` (primary): not an event; ``event`` (sensitivity): event at its date (needs a
        ``deterioration`` table).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    assessment_interval_days: int = Field(56, ge=1, le=365)
    max_gap_days: int | None = Field(None, ge=1, le=3650)
    missed_assessments: Literal["censor", "event"] = "censor"
    non_protocol_therapy: Literal["censor", "ignore"] = "censor"
    clinical_deterioration: Literal["ignore", "event"] = "ignore"

    @property
    def gap_days(self) -> int:
        """The effective ``max_gap_days`` (2 × interval + 14 when not set)."""
        if self.max_gap_days is not None:
            return self.max_gap_days
        return 2 * self.assessment_interval_days + 14


#: The primary rule and one sensitivity variant per bracketed row of the §2.3 table.
PFS_VARIANTS: dict[str, PfsCensoring] = {
    "primary": PfsCensoring(),
    "missed_assessments_event": PfsCensoring(missed_assessments="event"),
    "non_protocol_ignored": PfsCensoring(non_protocol_therapy="ignore"),
    "clinical_deterioration_event": PfsCensoring(clinical_deterioration="event"),
}


def pfs_censoring(name: str) -> PfsCensoring:
    """The named censoring variant of :data:`PFS_VARIANTS` (``primary`` or a sensitivity)."""
    if name not in PFS_VARIANTS:
        raise unknown_option("PFS censoring variant", name, tuple(PFS_VARIANTS))
    return PFS_VARIANTS[name]


def check_criterion(criterion: str) -> str:
    if criterion not in CRITERIA:
        raise unknown_option("criterion", criterion, CRITERIA)
    return criterion


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"the {table} table lacks columns {missing}; expected {list(columns)}.")


def name_patients(ids: pd.Series | list[str], limit: int = 5) -> str:
    ids = [str(i) for i in dict.fromkeys(list(ids))]
    head = ", ".join(ids[:limit])
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return f"patient{'s' if len(ids) > 1 else ''} {head}{more}"


def patient_dates(*, treatments: pd.DataFrame, followup: pd.DataFrame,
                  cutoff: dt.date | str) -> pd.DataFrame:
    """One row per treated patient: the dates every survival endpoint starts from.

    Parameters
    ----------
    treatments, followup
        Canonical tables. The population is every patient with a T0 (§2.1, via
        :func:`hccfusion.io.index_date.index_dates`); each needs a ``followup`` row.
    cutoff
        Data cut-off of the analysis (§2.5: global, stored with every derived dataset).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``t0``, ``last_contact_date``, ``death_date`` (as recorded),
        ``death_in_window`` (death on or before the cut-off), ``npt_date`` (first
        ``other_anticancer`` start after T0, NaT if none).
    """
    import pandas as pd

    from hccfusion.io.index_date import index_dates

    require_columns(followup, ("patient_id", "last_contact_date", "death_date"), "followup")
    idx = index_dates(treatments)
    idx = idx.loc[idx["t0"].notna(), ["patient_id", "t0"]]
    fu = followup[["patient_id", "last_contact_date", "death_date"]].copy()
    fu["patient_id"] = fu["patient_id"].astype("string")
    dup = fu["patient_id"].duplicated(keep=False)
    if dup.any():
        raise DataError(f"followup has more than one row for {name_patients(fu.loc[dup, 'patient_id'])}; "
                        "keep one row per patient.")
    for col in ("last_contact_date", "death_date"):
        fu[col] = pd.to_datetime(fu[col]).astype("datetime64[ns]")
    out = idx.merge(fu, on="patient_id", how="left", indicator=True)
    lacking = out.loc[out["_merge"] == "left_only", "patient_id"]
    if len(lacking):
        raise DataError(f"{name_patients(lacking)} received treatment but have no followup row; "
                        "add the last contact date (and death date) to the followup sheet.")
    no_contact = out.loc[out["last_contact_date"].isna() & out["death_date"].isna(), "patient_id"]
    if len(no_contact):
        raise DataError(f"{name_patients(no_contact)}: no last contact date and no death date; "
                        "OS cannot be censored without the last date known alive.")
    cut = pd.Timestamp(cutoff)
    out["death_in_window"] = out["death_date"].notna() & (out["death_date"] <= cut)
    tr = treatments.loc[treatments["kind"] == "other_anticancer", ["patient_id", "start_date"]].copy()
    tr["patient_id"] = tr["patient_id"].astype("string")
    tr["start_date"] = pd.to_datetime(tr["start_date"]).astype("datetime64[ns]")
    tr = tr.merge(out[["patient_id", "t0"]], on="patient_id")
    first = (tr.loc[tr["start_date"] > tr["t0"]].groupby("patient_id")["start_date"].min()
             .rename("npt_date"))
    out = out.drop(columns="_merge").merge(first, on="patient_id", how="left")
    out["npt_date"] = out["npt_date"].astype("datetime64[ns]")
    return out.reset_index(drop=True)


def select_timepoints(timepoints: pd.DataFrame, *, criterion: str, reader: str) -> pd.DataFrame:
    """Rows of one criterion and one reader, dates as datetimes (``pd_date`` filled by ``date``)."""
    import pandas as pd

    require_columns(timepoints, ("patient_id", "exam_id", "date", "reader", "criterion",
                                 "overall_response", "is_baseline"), "time-point")
    tp = timepoints.loc[(timepoints["criterion"] == criterion) & (timepoints["reader"] == reader)].copy()
    tp["patient_id"] = tp["patient_id"].astype("string")
    tp["date"] = pd.to_datetime(tp["date"]).astype("datetime64[ns]")
    pd_date = tp["pd_date"] if "pd_date" in tp.columns else pd.Series(pd.NaT, index=tp.index)
    tp["pd_date"] = pd.to_datetime(pd_date).astype("datetime64[ns]")
    tp["is_baseline"] = tp["is_baseline"].astype(bool)
    return tp.sort_values(["patient_id", "date", "exam_id"]).reset_index(drop=True)


@dataclass(frozen=True)
class DateWarning:
    """A §2.5 warning: the patient, the rule and a sentence saying what was found."""

    patient_id: str
    rule: str
    message: str


def _raise_if(mask: pd.Series, frame: pd.DataFrame, rule: str, fix: str) -> None:
    if mask.any():
        raise DataError(f"{name_patients(frame.loc[mask, 'patient_id'])}: {rule} "
                        f"(domain.md §2.5). {fix}")


def check_dates(*, patients: pd.DataFrame, timepoints: pd.DataFrame | None,
                max_gap_days: int = 126) -> list[DateWarning]:
    """Apply the date-hygiene rules of domain.md §2.5.

    Parameters
    ----------
    patients
        Output of :func:`patient_dates`.
    timepoints
        Time-point rows of one criterion and reader (:func:`select_timepoints`); ``None``
        checks the patient dates only.
    max_gap_days
        Follow-up gaps longer than this are warned about.

    Returns
    -------
    list of DateWarning
        Baseline scan > 28 days before T0, first follow-up scan > 12 weeks after T0, gap >
        ``max_gap_days`` between scans, PD without a scan date, response without measurements.

    Raises
    ------
    DataError
        Naming the patient(s), for: a post-baseline scan, death or last contact before T0; a
        scan, contact or non-protocol therapy after death; a PD date after death; the last
        contact before the last imaging exam (when alive).
    """
    p = patients
    _raise_if(p["death_date"].notna() & (p["death_date"] < p["t0"]), p,
              "death date before T0", "Check the death date and the first treatment date.")
    _raise_if(p["last_contact_date"].notna() & (p["last_contact_date"] < p["t0"]), p,
              "last contact before T0", "Check the last contact date.")
    _raise_if(p["death_date"].notna() & p["last_contact_date"].notna()
              & (p["last_contact_date"] > p["death_date"]), p,
              "death date before the last contact date", "A death is the last date of a patient.")
    _raise_if(p["death_date"].notna() & p["npt_date"].notna() & (p["npt_date"] > p["death_date"]),
              p, "death date before a non-protocol anticancer therapy",
              "Check the treatment and death dates.")
    if timepoints is None:
        return []
    tp = timepoints.merge(p[["patient_id", "t0", "death_date", "last_contact_date"]],
                          on="patient_id", how="inner")
    post = tp.loc[~tp["is_baseline"]]
    _raise_if(post["date"] < post["t0"], post, "post-baseline scan dated before T0",
              "A follow-up scan must be on or after the first treatment.")
    _raise_if(tp["death_date"].notna() & (tp["date"] > tp["death_date"]), tp,
              "death date before an imaging exam", "Check the exam and death dates.")
    _raise_if(tp["death_date"].notna() & (tp["pd_date"] > tp["death_date"]), tp,
              "PD date after death date", "Check the PD (exam) date and the death date.")
    _raise_if(tp["death_date"].isna() & (tp["date"] > tp["last_contact_date"]), tp,
              "last contact before the last imaging exam",
              "The last contact date must be on or after every exam.")

    warnings: list[DateWarning] = []
    base = tp.loc[tp["is_baseline"]]
    for row in base.loc[(base["t0"] - base["date"]).dt.days > BASELINE_SCAN_WARN_DAYS].itertuples():
        warnings.append(DateWarning(str(row.patient_id), "baseline_scan_early",
                                    f"baseline scan {row.date.date()} is more than "
                                    f"{BASELINE_SCAN_WARN_DAYS} days before T0 {row.t0.date()}"))
    first = post.groupby("patient_id", as_index=False).agg(date=("date", "min"), t0=("t0", "first"))
    for row in first.loc[(first["date"] - first["t0"]).dt.days > FIRST_SCAN_WARN_DAYS].itertuples():
        warnings.append(DateWarning(str(row.patient_id), "first_scan_late",
                                    f"first follow-up scan {row.date.date()} is more than 12 "
                                    f"weeks after T0 {row.t0.date()}"))
    seq = post.sort_values(["patient_id", "date"])
    prev = seq.groupby("patient_id")["date"].shift(1).fillna(seq["t0"])
    gap = (seq["date"] - prev).dt.days
    for row, g in zip(seq.loc[gap > max_gap_days].itertuples(), gap[gap > max_gap_days]):
        warnings.append(DateWarning(str(row.patient_id), "followup_gap",
                                    f"{int(g)} days without a scan before {row.date.date()} "
                                    f"(max_gap_days {max_gap_days})"))
    is_pd = post["overall_response"] == "PD"
    for row in post.loc[is_pd & post["date"].isna()].itertuples():
        warnings.append(DateWarning(str(row.patient_id), "pd_without_date",
                                    f"PD recorded on exam {row.exam_id} without a scan date"))
    if "target_sum_mm" in post.columns:
        resp = post["overall_response"].isin(("CR", "PR", "SD")) & post["target_sum_mm"].isna()
        for row in post.loc[resp].itertuples():
            warnings.append(DateWarning(str(row.patient_id), "response_without_measurements",
                                        f"{row.overall_response} on exam {row.exam_id} without "
                                        "target measurements"))
    return warnings


def require_known_reader(reader: str) -> str:
    if reader not in ("R1", "R2", "MDT", "final"):
        raise unknown_option("reader", reader, ("R1", "R2", "MDT", "final"))
    return reader


def months(days: pd.Series) -> pd.Series:
    """Days → months (days / 30.4375)."""
    return days / DAYS_PER_MONTH


__all__ = ["ADEQUATE_RESPONSES", "DAYS_PER_MONTH", "DateWarning", "OBJECTIVE_RESPONSES",
           "PFS_VARIANTS", "PfsCensoring", "SURVIVAL_COLUMNS", "check_dates",
           "patient_dates", "pfs_censoring", "select_timepoints"]
