import pandas as pd
import pytest

from hccfusion.io.index_date import index_dates
from hccfusion.errors import DataError
from hccfusion.io.schema import coerce_table


def _treatments(rows):
    return coerce_table("treatments", pd.DataFrame(rows))


def test_t0_is_the_earliest_component_even_when_the_tki_comes_first():
    df = index_dates(_treatments([
        dict(patient_id="P1", kind="TACE", agent="cTACE", start_date="2023-03-10"),
        dict(patient_id="P1", kind="TACE", agent="cTACE", start_date="2023-04-10"),
        dict(patient_id="P1", kind="TKI", agent="lenvatinib", start_date="2023-03-01"),
        dict(patient_id="P1", kind="PD1", agent="sintilimab", start_date="2023-03-15"),
    ]))
    row = df.iloc[0]
    assert row["t0"] == pd.Timestamp("2023-03-01")
    assert row["first_ia_date"] == pd.Timestamp("2023-03-10")
    assert row["first_tki_date"] == pd.Timestamp("2023-03-01")
    assert row["first_pd1_date"] == pd.Timestamp("2023-03-15")
    assert bool(row["combination_received"]) is True


def test_haic_counts_as_intra_arterial_and_other_anticancer_never_defines_t0():
    df = index_dates(_treatments([
        dict(patient_id="P2", kind="other_anticancer", agent="resection", start_date="2022-01-01"),
        dict(patient_id="P2", kind="HAIC", agent="HAIC-FOLFOX", start_date="2023-05-02"),
        dict(patient_id="P2", kind="PD1", agent="camrelizumab", start_date="2023-05-02"),
    ])).set_index("patient_id")
    assert df.loc["P2", "t0"] == pd.Timestamp("2023-05-02")
    assert df.loc["P2", "first_ia_date"] == pd.Timestamp("2023-05-02")
    assert pd.isna(df.loc["P2", "first_tki_date"])
    assert not df.loc["P2", "combination_received"]


def test_patient_with_only_other_treatment_has_no_t0():
    df = index_dates(_treatments([
        dict(patient_id="P3", kind="other_anticancer", agent="ablation", start_date="2023-01-01"),
    ]))
    assert list(df.columns) == ["patient_id", "t0", "first_ia_date", "first_tki_date",
                                "first_pd1_date", "combination_received"]
    assert pd.isna(df.iloc[0]["t0"]) and not df.iloc[0]["combination_received"]


def test_one_row_per_patient_sorted():
    df = index_dates(_treatments([
        dict(patient_id="B", kind="TKI", agent="sorafenib", start_date="2023-01-01"),
        dict(patient_id="A", kind="TKI", agent="sorafenib", start_date="2023-02-01"),
        dict(patient_id="A", kind="TKI", agent="sorafenib", start_date="2023-01-15"),
    ]))
    assert df["patient_id"].tolist() == ["A", "B"]
    assert df.set_index("patient_id").loc["A", "t0"] == pd.Timestamp("2023-01-15")


def test_missing_columns_raise_data_error():
    with pytest.raises(DataError, match="start_date"):
        index_dates(pd.DataFrame({"patient_id": ["A"], "kind": ["TKI"]}))
