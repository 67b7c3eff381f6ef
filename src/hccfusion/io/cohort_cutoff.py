"""The data cut-off: what an analysis snapshot may know on the cut-off date and nothing after it.

Rules (domain.md §2.2; every date compared is "after the cut-off" when strictly later than it):

- ``labs``, ``exams``, ``specimens``: rows dated after the cut-off are removed;
  ``lesion_reads`` of a removed exam are removed with it.
- ``treatments``: courses starting after the cut-off are removed. A course still running at the
  cut-off (``end_date`` after it) keeps its row but its ``end_date`` is emptied — at the cut-off
  it had not ended — and its ``cycles`` is emptied too, because the count includes sessions
  given after the cut-off. Capping ``end_date`` at the cut-off instead would record an end that
  did not happen.
- ``adverse_events``: events with onset after the cut-off are removed; a ``resolution_date``
  after the cut-off is emptied (unresolved at the cut-off).
- ``followup``: a death after the cut-off becomes alive (``death_date``/``death_cause`` empty)
  with ``last_contact_date`` at the cut-off — the patient was known alive then, so OS is
  censored at the cut-off; any ``last_contact_date`` after the cut-off is capped at it, and
  ``lost_to_followup`` is set False for those patients (they were in follow-up at the cut-off).
- ``patients`` rows are baseline facts and are kept; whether a patient had enough potential
  follow-up before the cut-off is an eligibility rule, not a deletion here.

Free-text ``notes`` are kept as written; they may mention later events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Mapping

import pandas as pd

from hccfusion.io.schema import coerce_table

#: Tables whose rows are removed when the date column is after the cut-off.
DATED_ROWS: dict[str, str] = {"labs": "date", "exams": "date", "specimens": "date",
                              "treatments": "start_date", "adverse_events": "onset_date"}


@dataclass(frozen=True)
class CutoffResult:
    """Tables as known at the cut-off, and what the cut-off removed or emptied.

    ``removed`` maps table → rows removed; ``capped`` maps ``table.column`` → cells emptied or
    capped (``followup.death_date`` counts deaths censored at the cut-off).
    """

    tables: dict[str, pd.DataFrame]
    removed: dict[str, int]
    capped: dict[str, int]


def apply_cutoff(tables: Mapping[str, pd.DataFrame], *, cutoff: date) -> CutoffResult:
    """Remove or censor everything dated after ``cutoff`` (see the module docstring).

    Parameters
    ----------
    tables
        Canonical CRF tables (``read_tables``); not modified.
    cutoff
        The data cut-off; information dated on it is kept.
    """
    limit = pd.Timestamp(cutoff).normalize()
    out = {name: frame.copy() for name, frame in tables.items()}
    removed: dict[str, int] = {}
    capped: dict[str, int] = {}

    for name, col in DATED_ROWS.items():
        frame = out[name]
        late = frame[col] > limit
        removed[name] = int(late.sum())
        if name == "exams":
            gone = set(frame.loc[late, "exam_id"])
            reads = out["lesion_reads"]
            drop = reads["exam_id"].isin(gone)
            removed["lesion_reads"] = int(drop.sum())
            out["lesion_reads"] = reads[~drop].reset_index(drop=True)
        out[name] = frame[~late].reset_index(drop=True)

    treatments = out["treatments"]
    running = treatments["end_date"] > limit
    treatments.loc[running, "end_date"] = pd.NaT
    treatments.loc[running, "cycles"] = pd.NA
    capped["treatments.end_date"] = int(running.sum())

    events = out["adverse_events"]
    unresolved = events["resolution_date"] > limit
    events.loc[unresolved, "resolution_date"] = pd.NaT
    capped["adverse_events.resolution_date"] = int(unresolved.sum())

    followup = out["followup"]
    late_death = followup["death_date"] > limit
    followup.loc[late_death, "death_date"] = pd.NaT
    followup.loc[late_death, "death_cause"] = pd.NA
    late_contact = late_death | (followup["last_contact_date"] > limit)
    followup.loc[late_contact, "last_contact_date"] = limit
    followup.loc[late_contact & followup["lost_to_followup"].notna(), "lost_to_followup"] = False
    capped["followup.death_date"] = int(late_death.sum())
    capped["followup.last_contact_date"] = int(late_contact.sum())

    out = {name: coerce_table(name, frame) for name, frame in out.items()}
    return CutoffResult(tables=out, removed=removed, capped=capped)
