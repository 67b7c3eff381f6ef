"""Tumour shrinkage rate, depth of response, early tumour shrinkage (domain.md §2.4, §1.12)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from pydantic import ValidationError

from hccfusion.endpoints.shrinkage import (
    EtsSettings, depth_of_response, early_tumour_shrinkage, tumour_shrinkage,
)
from hccfusion.errors import UsageError


def _tp(scans: dict[str, list[tuple[str, float | None, str]]], criterion: str = "mrecist") -> pd.DataFrame:
    """scans: id → [(date, target_sum_mm, overall_response)], first = baseline."""
    rows = []
    for pid, seq in scans.items():
        s0 = seq[0][1]
        for i, (date, total, resp) in enumerate(seq):
            rows.append({"patient_id": pid, "exam_id": f"{pid}-E{i}", "date": pd.Timestamp(date),
                         "reader": "final", "criterion": criterion, "target_sum_mm": total,
                         "baseline_sum_mm": s0, "overall_response": resp, "is_baseline": i == 0,
                         "pd_date": pd.Timestamp(date) if resp == "PD" else pd.NaT,
                         "days_from_t0": (pd.Timestamp(date) - pd.Timestamp("2023-03-01")).days})
    return pd.DataFrame(rows)


E2 = {"E2": [("2023-02-27", 80.0, "baseline"), ("2023-04-12", 50.0, "PR"),
             ("2023-05-24", 46.0, "PR")]}


def test_e1_e2_tsr_and_signed_change():
    out = tumour_shrinkage(timepoints=_tp(E2))
    assert list(out["tsr_pct"]) == [37.5, 42.5]
    assert list(out["pct_change"]) == [-37.5, -42.5]


def test_e2_depth_of_response_42_5():
    dpr = depth_of_response(timepoints=_tp(E2)).iloc[0]
    assert dpr["depth_pct"] == 42.5 and dpr["exam_id"] == "E2-E2" and dpr["basis"] == "before_pd"


def test_e5_depth_stops_before_pd():
    e5 = {"E5": [("2023-02-27", 100.0, "baseline"), ("2023-05-24", 40.0, "PR"),
                 ("2023-07-05", 50.0, "PD"), ("2023-08-30", 20.0, "PR")]}
    assert depth_of_response(timepoints=_tp(e5)).iloc[0]["depth_pct"] == 60.0


def test_mrecist_cr_counts_100_recist_does_not():
    seq = {"C": [("2023-02-27", 80.0, "baseline"), ("2023-04-12", 10.0, "CR")]}
    tp = pd.concat([_tp(seq, "mrecist"), _tp(seq, "recist11")], ignore_index=True)
    dpr = depth_of_response(timepoints=tp).set_index("criterion")["depth_pct"]
    assert dpr["mrecist"] == 100.0 and dpr["recist11"] == 87.5


def test_depth_missing_without_post_baseline_scan_and_first_scan_pd():
    tp = _tp({"none": [("2023-02-27", 80.0, "baseline")],
              "pd": [("2023-02-27", 80.0, "baseline"), ("2023-04-12", 100.0, "PD")],
              "ne": [("2023-02-27", 80.0, "baseline"), ("2023-04-12", None, "NE")]})
    dpr = depth_of_response(timepoints=tp).set_index("patient_id")
    assert math.isnan(dpr.loc["none", "depth_pct"]) and dpr.loc["none", "basis"] == "no_post_baseline_scan"
    assert dpr.loc["pd", "depth_pct"] == -25.0 and dpr.loc["pd", "basis"] == "first_scan_pd"
    assert math.isnan(dpr.loc["ne", "depth_pct"]) and dpr.loc["ne", "basis"] == "no_measured_scan"


def test_depth_window_ends_at_non_protocol_therapy():
    seq = {"N": [("2023-02-27", 80.0, "baseline"), ("2023-04-12", 60.0, "SD"),
                 ("2023-06-12", 20.0, "PR")]}
    treat = pd.DataFrame({"patient_id": ["N", "N"], "kind": ["TACE", "other_anticancer"],
                          "start_date": pd.to_datetime(["2023-03-01", "2023-05-01"])})
    assert depth_of_response(timepoints=_tp(seq), treatments=treat).iloc[0]["depth_pct"] == 25.0
    assert depth_of_response(timepoints=_tp(seq)).iloc[0]["depth_pct"] == 75.0


def test_early_tumour_shrinkage_threshold_settings():
    tp = _tp({**E2, "S": [("2023-02-27", 80.0, "baseline"), ("2023-06-01", 72.0, "SD")]})
    ets = early_tumour_shrinkage(timepoints=tp).set_index("patient_id")
    assert ets.loc["E2", "tsr_pct"] == 37.5 and bool(ets.loc["E2", "ets"])
    assert ets.loc["S", "tsr_pct"] == 10.0 and not bool(ets.loc["S", "ets"])
    ten = early_tumour_shrinkage(timepoints=tp, settings="ets10").set_index("patient_id")
    assert bool(ten.loc["S", "ets"])
    late = early_tumour_shrinkage(timepoints=tp, settings=EtsSettings(max_days_from_t0=70))
    assert late.set_index("patient_id")["ets"].isna().tolist() == [False, True]
    with pytest.raises(UsageError, match="ets20"):
        early_tumour_shrinkage(timepoints=tp, settings="ets2O")
    with pytest.raises(ValidationError):
        EtsSettings(threshold=20)
