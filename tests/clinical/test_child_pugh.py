import numpy as np
import pandas as pd
import pytest

from hccfusion.clinical.baseline_labs import baseline_labs
from hccfusion.clinical.child_pugh import (
    albumin_points, bilirubin_points, child_pugh, child_pugh_class, inr_points)
from hccfusion.errors import DataError


def test_domain_example_is_b8():
    # domain.md §3.1: bili 40, alb 32, INR 1.5, mild ascites, no HE → 2+2+1+2+1 = 8 → B8
    out = child_pugh(bilirubin_umol_l=[40], albumin_g_l=[32], inr=[1.5], ascites=["mild"],
                     encephalopathy=["none"]).iloc[0]
    assert [out[c] for c in ("bilirubin_points", "albumin_points", "inr_points",
                             "ascites_points", "encephalopathy_points")] == [2, 2, 1, 2, 1]
    assert out["score"] == 8 and out["cp_class"] == "B" and out["label"] == "B8"


@pytest.mark.parametrize("value,points", [(33.9, 1), (34, 2), (50, 2), (50.1, 3)])
def test_bilirubin_boundaries(value, points):
    assert bilirubin_points([value]).iloc[0] == points


@pytest.mark.parametrize("value,points", [(35.1, 1), (35, 2), (28, 2), (27.9, 3)])
def test_albumin_boundaries(value, points):
    assert albumin_points([value]).iloc[0] == points


@pytest.mark.parametrize("value,points", [(1.69, 1), (1.7, 2), (0.1 + 1.6, 2), (2.3, 2), (2.31, 3)])
def test_inr_boundaries(value, points):
    assert inr_points([value]).iloc[0] == points


@pytest.mark.parametrize("score,cls", [(5, "A"), (6, "A"), (7, "B"), (9, "B"), (10, "C"), (15, "C")])
def test_class_boundaries(score, cls):
    assert child_pugh_class([score]).iloc[0] == cls


def test_vectorised_and_missing_inputs_give_bounds():
    out = child_pugh(bilirubin_umol_l=np.array([20.0, np.nan, 60.0]),
                     albumin_g_l=[40, 40, 25], inr=[1.0, 1.0, 2.5],
                     ascites=["none", "none", "moderate_severe"],
                     encephalopathy=["none", None, "grade_3_4"])
    assert out["score"].tolist()[0] == 5 and pd.isna(out["score"].iloc[1])
    assert (out["score_min"].iloc[1], out["score_max"].iloc[1]) == (5, 9)
    assert out["label"].iloc[2] == "C15"


def test_unknown_code_is_a_data_error():
    with pytest.raises(DataError, match="ascites must be one of"):
        child_pugh(bilirubin_umol_l=[20], albumin_g_l=[40], inr=[1.0], ascites=["lots"],
                   encephalopathy=["none"])


def test_baseline_is_last_value_within_14_days_on_or_before_t0():
    labs = pd.DataFrame({
        "patient_id": ["A"] * 4 + ["B"],
        "date": pd.to_datetime(["2023-02-10", "2023-02-20", "2023-02-25", "2023-03-02",
                                "2023-02-14"]),
        "test": ["bilirubin"] * 5,
        "value": [10.0, 20.0, 30.0, 99.0, 15.0],
    })
    index = pd.DataFrame({"patient_id": ["A", "B", "C"],
                          "t0": pd.to_datetime(["2023-03-01", "2023-03-01", None])})
    out = baseline_labs(labs, index, tests=("bilirubin", "albumin")).set_index("patient_id")
    assert out.loc["A", "bilirubin"] == 30.0  # 2023-03-02 is after T0
    assert np.isnan(out.loc["B", "bilirubin"])  # 15 days before T0
    assert np.isnan(out.loc["C", "bilirubin"]) and np.isnan(out.loc["A", "albumin"])
    wider = baseline_labs(labs, index, tests=("bilirubin",), window_days=15).set_index("patient_id")
    assert wider.loc["B", "bilirubin"] == 15.0
