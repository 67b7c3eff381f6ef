"""Which imaging exams of each patient count as baseline and first follow-up (domain.md §1.2).

The selection reads only the cohort's ``exams`` and ``treatments`` tables (T0 from
:func:`hccfusion.io.index_date.index_dates`), so it lives with them: the imaging feature job
(:mod:`hccfusion.pipeline.features_imaging`, which re-exports it) measures these exams and the
training data (:mod:`hccfusion.training.dataset`) keeps the baseline radiomics of the same ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["select_exams"]


def select_exams(exams: pd.DataFrame, treatments: pd.DataFrame, *,
                 include_followup: bool = True) -> pd.DataFrame:
    """Each patient's baseline exam (the last imaged exam on or before T0) and first follow-up
    exam (the first imaged exam after T0), as rows ``patient_id, exam_id, timepoint, image_path``.

    Patients without T0 or without an imaged exam on or before T0 are left out (they have no
    baseline, domain.md §1.2); a missing follow-up leaves only the baseline row, and
    ``include_followup=False`` leaves only the baseline rows of every patient.
    """
    import pandas as pd

    from hccfusion.io.index_date import index_dates

    imaged = exams[exams["image_path"].notna() & (exams["image_path"].astype(str) != "")]
    t0 = index_dates(treatments)[["patient_id", "t0"]]
    ex = imaged[["patient_id", "exam_id", "date", "image_path"]].merge(t0, on="patient_id")
    ex["date"] = pd.to_datetime(ex["date"])
    ex = ex[ex["t0"].notna()].sort_values(["patient_id", "date", "exam_id"], kind="stable")
    base = ex[ex["date"] <= ex["t0"]].groupby("patient_id", sort=False).tail(1)
    after = ex[ex["date"] > ex["t0"]]
    after = after[after["patient_id"].isin(base["patient_id"])]
    follow = after.groupby("patient_id", sort=False).head(1)
    if not include_followup:
        follow = follow.iloc[0:0]
    out = pd.concat([base.assign(timepoint="baseline"), follow.assign(timepoint="followup")])
    return (out[["patient_id", "exam_id", "timepoint", "image_path", "date"]]
            .sort_values(["patient_id", "date"], kind="stable").reset_index(drop=True))
