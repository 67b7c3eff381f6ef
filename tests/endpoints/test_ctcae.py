import pandas as pd
import pytest

from hccfusion.endpoints.ctcae import (
    CtcaeSettings, biopsy_window, check_ae_grades, grade3_counts, grade_labs, lab_grades,
    worst_grades)
from hccfusion.errors import UsageError


def g(test, value, uln=None, lln=None, baseline=None):
    return lab_grades(test=[test], value=[value], uln=[uln], lln=[lln],
                      baseline=[baseline])["grade"].iloc[0]


# domain.md §6.1 worked examples
def test_alt_normal_baseline_325_uln_is_g2():
    assert g("alt", 130, uln=40, baseline=35) == 2


def test_alt_abnormal_baseline_163_bl_is_g1():
    assert g("alt", 130, uln=40, baseline=80) == 1


def test_alt_abnormal_baseline_138_bl_is_g0():
    assert g("alt", 110, uln=40, baseline=80) == 0


def test_bilirubin_190_uln_is_g2():
    assert g("bilirubin", 40, uln=21, baseline=15) == 2


def test_platelets_48_is_g3():
    assert g("platelets", 48) == 3


@pytest.mark.parametrize("value,grade", [(40, 0), (40.1, 1), (120, 1), (120.1, 2), (200, 2),
                                         (200.1, 3), (800, 3), (800.1, 4)])
def test_alt_normal_baseline_boundaries(value, grade):
    assert g("ast", value, uln=40, baseline=30) == grade


@pytest.mark.parametrize("value,grade", [(119.9, 0), (120, 1), (240, 1), (240.1, 2), (400.1, 3),
                                         (1600.1, 4)])
def test_alt_abnormal_baseline_boundaries(value, grade):
    assert g("alt", value, uln=40, baseline=80) == grade


@pytest.mark.parametrize("value,grade", [(21, 0), (31.5, 1), (31.6, 2), (63, 2), (63.1, 3),
                                         (210.1, 4)])
def test_bilirubin_boundaries(value, grade):
    assert g("bilirubin", value, uln=21, baseline=10) == grade


def test_bilirubin_abnormal_baseline_uses_baseline():
    assert g("bilirubin", 30, uln=21, baseline=30) == 0
    assert g("bilirubin", 30.1, uln=21, baseline=30) == 1
    assert g("bilirubin", 45.1, uln=21, baseline=30) == 2


@pytest.mark.parametrize("value,grade", [(125, 0), (312.5, 1), (312.6, 2), (625.1, 3)])
def test_alp_boundaries(value, grade):
    assert g("alp", value, uln=125, baseline=100) == grade


def test_ggt_abnormal_baseline_g1_starts_at_two_times_baseline():
    assert g("ggt", 199, uln=60, baseline=100) == 0
    assert g("ggt", 200, uln=60, baseline=100) == 1


def test_creatinine_baseline_multiplier():
    # 1.06 × ULN alone is G1; 2.2 × baseline makes it G2; 3.1 × baseline G3
    assert g("creatinine", 110, uln=104, baseline=90) == 1
    assert g("creatinine", 110, uln=104, baseline=50) == 2
    assert g("creatinine", 110, uln=104, baseline=35) == 3
    assert g("creatinine", 100, uln=104, baseline=50) == 0   # within normal limits
    assert g("creatinine", 625, uln=104, baseline=110) == 4  # > 6 × ULN
    assert g("creatinine", 110, uln=104) == 1                # baseline unknown: ULN only


@pytest.mark.parametrize("value,grade", [(100, 0), (99, 1), (75, 1), (74.9, 2), (50, 2),
                                         (49.9, 3), (25, 3), (24.9, 4)])
def test_platelet_boundaries(value, grade):
    assert g("platelets", value, lln=100) == grade


@pytest.mark.parametrize("test,value,grade", [
    ("neutrophils", 1.5, 1), ("neutrophils", 0.49, 4), ("wbc", 1.99, 3),
    ("lymphocytes", 0.8, 1), ("lymphocytes", 0.19, 4), ("hemoglobin", 79, 3),
    ("hemoglobin", 30, 3), ("albumin", 29.9, 2), ("albumin", 15, 3)])
def test_decreased_terms(test, value, grade):
    assert g(test, value, lln={"neutrophils": 1.8, "wbc": 3.5, "lymphocytes": 1.1,
                               "hemoglobin": 120, "albumin": 35}[test]) == grade


@pytest.mark.parametrize("value,grade", [(1.2, 0), (1.21, 1), (1.5, 1), (1.51, 2), (2.5, 2),
                                         (2.51, 3)])
def test_inr_absolute(value, grade):
    assert g("inr", value) == grade


def test_unknown_limit_gives_na_not_zero():
    assert pd.isna(g("platelets", 90))          # G1 needs an LLN
    assert pd.isna(g("alt", 130, baseline=35))  # needs an ULN


def test_settings_pin_version():
    with pytest.raises(UsageError, match="'5.0'"):
        CtcaeSettings(version="6.0")


def _labs():
    rows = [("P1", "2023-02-25", "alt", 35, 40), ("P1", "2023-03-01", "alt", 30, 40),
            ("P1", "2023-03-20", "alt", 130, 40), ("P1", "2023-04-20", "alt", 900, None),
            ("P1", "2023-03-20", "platelets", 48, None),
            ("P2", "2023-02-20", "alt", 80, 40), ("P2", "2023-03-20", "alt", 130, 40),
            ("P2", "2023-01-01", "bilirubin", 80, 21)]
    return pd.DataFrame(rows, columns=["patient_id", "date", "test", "value", "uln"]).assign(
        date=lambda d: pd.to_datetime(d["date"]), lln=float("nan"))


def test_grade_labs_worst_after_t0_with_default_limits():
    index = pd.DataFrame({"patient_id": ["P1", "P2"],
                          "t0": pd.to_datetime(["2023-03-01", "2023-03-01"])})
    res = grade_labs(_labs(), index=index)
    worst = res.worst.set_index(["patient_id", "test"])["worst_grade"]
    assert worst[("P1", "alt")] == 4           # default ULN 40 fills the missing limit
    assert worst[("P1", "platelets")] == 3
    assert worst[("P2", "alt")] == 1           # baseline 80 (9 days before T0) is abnormal
    assert ("P2", "bilirubin") not in worst.index  # before T0: not an AE
    per = res.per_measurement
    assert per.loc[(per.patient_id == "P1") & (per.test == "alt"), "baseline"].eq(30).all()


def _aes():
    return pd.DataFrame({
        "patient_id": ["P1", "P1", "P2", "P2", "P3", "P3"],
        "term": ["Vasovagal reaction", "Hepatic hemorrhage", "Sepsis", "Fever", "Fevr",
                 "Hematoma"],
        "grade": [2, 2, 4, 1, 1, 3],
        "onset_date": pd.to_datetime(["2023-03-01", "2023-03-02", "2023-04-01", "2023-05-01",
                                      "2023-05-01", "2023-03-05"]),
        "procedure": ["biopsy", "biopsy", "TACE", "PD1", "TKI", "biopsy"],
        "transfusion": [False, True, False, False, False, True],
    }, index=[10, 11, 12, 13, 14, 15])


def test_check_ae_grades_names_patient_and_row():
    found = check_ae_grades(_aes())
    got = set(zip(found["row"], found["patient_id"], found["rule"]))
    assert got == {(10, "P1", "grade_not_defined"), (11, "P1", "transfusion_grade"),
                   (14, "P3", "unknown_term")}
    assert "allowed [3, 4, 5]" in found.loc[found.row == 10, "message"].iloc[0]


def test_sepsis_grade_3_is_not_defined():
    ae = _aes().iloc[[2]].assign(grade=3)
    assert check_ae_grades(ae)["rule"].tolist() == ["grade_not_defined"]


def test_biopsy_window_is_a_setting():
    ae = _aes()
    bx = pd.DataFrame({"patient_id": ["P1", "P3"], "date": pd.to_datetime(["2023-01-30",
                                                                           "2023-03-01"])})
    inside = biopsy_window(ae, biopsy_dates=bx)
    # day 30 is inside (inclusive), day 31 outside
    assert bool(inside[10]) and not bool(inside[11]) and bool(inside[15])
    assert pd.isna(inside[12])
    wide = biopsy_window(ae, biopsy_dates=bx, settings=CtcaeSettings(biopsy_window_days=40))
    assert bool(wide[11])


def test_worst_grades_and_grade3_counts():
    ae = pd.concat([_aes(), _aes().iloc[[5]].assign(grade=1)])
    w = worst_grades(ae)
    assert w.loc[(w.patient_id == "P3") & (w.term == "Hematoma"), "worst_grade"].item() == 3
    counts = grade3_counts(w, n_patients=3).set_index(["procedure", "term"])
    assert counts.loc[("biopsy", "any"), "n_any"] == 2
    assert counts.loc[("biopsy", "any"), "n_grade3plus"] == 1
    assert counts.loc[("TACE", "Sepsis"), "n_grade3plus"] == 1
    assert counts.loc[("biopsy", "any"), "pct_grade3plus"] == pytest.approx(100 / 3)
