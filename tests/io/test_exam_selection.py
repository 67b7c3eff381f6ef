"""Baseline and follow-up exam selection around T0 (moved from the imaging pipeline to io)."""

from __future__ import annotations

import pandas as pd

from hccfusion.io.exam_selection import select_exams


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    exams = pd.DataFrame({
        "patient_id": ["A", "A", "A", "A", "B", "C"],
        "exam_id": ["A1", "A2", "A3", "A4", "B1", "C1"],
        "date": ["2021-01-01", "2021-02-01", "2021-03-01", "2021-04-01", "2021-03-01",
                 "2021-01-01"],
        "image_path": ["a1", "a2", "a3", "a4", "b1", ""]})
    treatments = pd.DataFrame({"patient_id": ["A", "B", "C"], "kind": ["TACE", "TKI", "TACE"],
                               "agent": [None, "lenvatinib", None],
                               "start_date": ["2021-02-01", "2021-02-01", "2021-02-01"]})
    return exams, treatments


def test_select_exams_takes_the_last_exam_on_t0_and_the_first_after():
    sel = select_exams(*_tables())
    # A: A2 is on T0 (baseline), A3 the first after; B has no exam before T0; C's is not imaged
    assert list(zip(sel["patient_id"], sel["exam_id"], sel["timepoint"])) == [
        ("A", "A2", "baseline"), ("A", "A3", "followup")]


def test_select_exams_baseline_only_and_the_pipeline_reexport():
    from hccfusion.pipeline import features_imaging

    assert features_imaging.select_exams is select_exams
    sel = select_exams(*_tables(), include_followup=False)
    assert list(sel["exam_id"]) == ["A2"]
