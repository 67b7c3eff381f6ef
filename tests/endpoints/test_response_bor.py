"""Best overall response (domain.md §1.8, E2, E13) and the end-to-end check on the simulator."""

from __future__ import annotations

import pandas as pd

from hccfusion.endpoints.response import timepoint_responses
from hccfusion.endpoints.response_bor import best_overall_response, bor_of_series
from hccfusion.endpoints.response_rules import ResponseSettings
from hccfusion.io.index_date import index_dates
from tests.endpoints.test_response import T0, tables, target, treatments, two_targets


def bor(rows, days, *, other_day=None, criterion="mrecist"):
    reads, exams = tables(rows, days)
    tr = treatments(other_day=other_day)
    tp = timepoint_responses(reads, exams, index_dates=index_dates(tr))
    b = best_overall_response(tp, treatments=tr)
    return b[b["criterion"] == criterion].iloc[0]


def test_e2_pr_confirmed_after_42_days():
    b = bor(two_targets([(50, 30), (30, 20), (28, 18)]), [-7, 42, 84])
    assert b["bor_unconfirmed"] == "PR" and b["bor_confirmed"] == "PR"


def test_e13_unconfirmed_pr_becomes_sd_in_confirmation_mode():
    b = bor(two_targets([(50, 30), (30, 20), (45, 25)]), [-7, 42, 84])
    assert b["bor_unconfirmed"] == "PR" and b["bor_confirmed"] == "SD"


def test_confirmation_needs_28_days():
    assert bor_of_series(categories=["PR", "PR"], days=[42, 60], confirmed=True) == "SD"
    assert bor_of_series(categories=["PR", "PR"], days=[42, 70], confirmed=True) == "PR"
    assert bor_of_series(categories=["CR", "PR"], days=[42, 70], confirmed=True) == "PR"
    assert bor_of_series(categories=["CR", "CR"], days=[42, 70], confirmed=True) == "CR"


def test_sd_duration_rule():
    assert bor_of_series(categories=["SD"], days=[30], confirmed=False) == "NE"
    assert bor_of_series(categories=["SD", "PD"], days=[30, 60], confirmed=False) == "PD"
    assert bor_of_series(categories=["SD"], days=[42], confirmed=False) == "SD"
    assert bor_of_series(categories=["PR"], days=[30], confirmed=True) == "NE"
    assert bor_of_series(categories=[], days=[], confirmed=False) == "NE"
    assert bor_of_series(categories=["NE", "NE"], days=[42, 84], confirmed=False) == "NE"


def test_window_stops_at_first_pd():
    b = bor(two_targets([(50, 50), (70, 70), (20, 20)]), [-7, 42, 84])
    assert b["bor_unconfirmed"] == "PD" and b["n_assessments"] == 1


def test_confirmation_window_closed_by_other_anticancer_therapy():
    rows = two_targets([(50, 30), (30, 20), (28, 18)])
    open_ = bor(rows, [-7, 42, 84])
    closed = bor(rows, [-7, 42, 84], other_day=60)
    assert open_["bor_confirmed"] == "PR"
    assert closed["bor_confirmed"] == "SD" and closed["n_assessments"] == 1
    assert closed["window_end_date"] == T0 + pd.Timedelta(days=42)


def test_later_scan_changes_bor_only_by_confirming():
    rows = two_targets([(50, 30), (30, 20)])
    before = bor(rows, [-7, 42])
    after = bor(rows + two_targets([(50, 30), (30, 20), (28, 18)])[4:], [-7, 42, 84])
    assert before["bor_unconfirmed"] == after["bor_unconfirmed"] == "PR"
    assert (before["bor_confirmed"], after["bor_confirmed"]) == ("SD", "PR")


def test_settings_reject_unknown_keys():
    import pydantic
    import pytest
    with pytest.raises(pydantic.ValidationError):
        ResponseSettings(max_target=3)


def test_mrecist_bor_matches_simulator_truth():
    from hccfusion.simulate.crf_tables import crf_tables
    from hccfusion.simulate.latent import simulate_latent

    truth = simulate_latent(n_patients=200, seed=1)
    tabs = crf_tables(truth)
    tp = timepoint_responses(tabs["lesion_reads"], tabs["exams"],
                             index_dates=index_dates(tabs["treatments"]))
    b = best_overall_response(tp, treatments=tabs["treatments"])
    m = b[b["criterion"] == "mrecist"].merge(truth.outcomes[["patient_id", "bor_mrecist"]],
                                            on="patient_id", validate="one_to_one")
    assert len(m) == 200
    assert (m["bor_unconfirmed"] == m["bor_mrecist"]).mean() >= 0.95
