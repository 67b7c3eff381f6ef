import pandas as pd
import pytest

from hccfusion.clinical.scores_kinetics import (
    afp_response, follow_up_marker, marker_response, pivka_response)
from hccfusion.errors import DataError


def test_afp_response_needs_baseline_20():
    out = afp_response(afp_baseline_ng_ml=[20, 19.9, 400], afp_follow_up_ng_ml=[10, 1, 210])
    assert out["afp_evaluable"].tolist() == [True, False, True]
    assert out["afp_response"].tolist()[0] is True and pd.isna(out["afp_response"][1])
    assert out["afp_response"][2] == False  # noqa: E712  (47.5 % < 50 %)
    assert out["afp_decline_ge_20"].tolist()[2] is True


@pytest.mark.parametrize("follow,ge20,ge50,ge75", [(80, True, False, False), (50, True, True, False),
                                                   (25, True, True, True), (120, False, False, False)])
def test_decline_thresholds_inclusive(follow, ge20, ge50, ge75):
    row = pivka_response(pivka_baseline_mau_ml=[100], pivka_follow_up_mau_ml=[follow]).iloc[0]
    assert (row["pivka_decline_ge_20"], row["pivka_decline_ge_50"],
            row["pivka_decline_ge_75"]) == (ge20, ge50, ge75)


def test_pivka_baseline_threshold_and_setting():
    out = pivka_response(pivka_baseline_mau_ml=[39, 40], pivka_follow_up_mau_ml=[1, 30],
                         response_pct=20)
    assert pd.isna(out["pivka_response"][0]) and bool(out["pivka_response"][1])
    with pytest.raises(DataError):
        marker_response(baseline=[1], follow_up=[1], min_baseline=1, response_pct=0)


def test_follow_up_marker_window():
    labs = pd.DataFrame({"patient_id": ["P1"] * 4 + ["P2"], "test": ["afp"] * 5,
                         "date": pd.to_datetime(["2023-03-01", "2023-04-10", "2023-04-20",
                                                 "2023-04-30", "2023-04-27"]),
                         "value": [500, 300, 200, 100, 9]})
    index = pd.DataFrame({"patient_id": ["P1", "P2"], "t0": pd.to_datetime(["2023-03-01",
                                                                            "2023-03-01"])})
    out = follow_up_marker(labs, index, test="afp").set_index("patient_id")
    assert out.loc["P1", "follow_up"] == 200 and out.loc["P1", "follow_up_day"] == 50
    assert pd.isna(out.loc["P2", "follow_up"])  # day 57 lies outside 42–56
