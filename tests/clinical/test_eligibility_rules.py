"""One named test per rule outcome: each test breaks the eligible patient in one way."""

import datetime as dt

import pytest


def _set(p, table, **values):
    for row in p[table]:
        row.update(values)


# --- the reference patient ---------------------------------------------------------------

def test_reference_patient_passes_every_rule(patient, make_tables, settings):
    from hccfusion.clinical.eligibility import assess_eligibility

    res = assess_eligibility(make_tables(patient), settings=settings)
    row = res.per_patient.iloc[0]
    assert bool(row["eligible"]) and row["reasons"] == ""
    statuses = {r: row[r] for r in res.rules}
    assert statuses.pop("consent_signed") == "n/a"
    assert statuses.pop("biopsy_not_contraindicated") == "n/a"
    assert statuses.pop("able_to_follow_up") == "n/a"
    assert set(statuses.values()) == {"pass"}


# --- hcc_diagnosis_documented -------------------------------------------------------------

def test_hcc_diagnosis_documented_fail_when_dated_after_t0(patient, judge):
    _set(patient, "patients", diagnosis_date=dt.date(2023, 4, 1))
    assert judge(patient, "hcc_diagnosis_documented")[0] == "fail"


def test_hcc_diagnosis_documented_unknown_without_basis(patient, judge):
    _set(patient, "patients", diagnosis_basis=None)
    status, reasons = judge(patient, "hcc_diagnosis_documented")
    assert status == "unknown" and "missing diagnosis_basis" in reasons


# --- age ----------------------------------------------------------------------------------

@pytest.mark.parametrize("age,expected", [(18, "pass"), (80, "pass"), (17, "fail"), (81, "fail")])
def test_age_18_80_bounds_are_inclusive(patient, judge, age, expected):
    _set(patient, "patients", age_years=age)
    status, reasons = judge(patient, "age_18_80")
    assert status == expected
    if expected == "fail":
        assert f"age {age} outside 18–80" in reasons


def test_age_unknown_when_missing(patient, judge):
    _set(patient, "patients", age_years=None)
    assert judge(patient, "age_18_80") == ("unknown", "age_18_80: missing age_years")


def test_age_rule_name_follows_settings(patient, judge):
    _set(patient, "patients", age_years=78)
    assert judge(patient, "age_20_75", age_min=20, age_max=75)[0] == "fail"


# --- ecog_0_2 / bclc_a_b_c ------------------------------------------------------------------

def test_ecog_0_2_pass_fail_unknown(patient, judge):
    _set(patient, "patients", ecog=2)
    assert judge(patient, "ecog_0_2")[0] == "pass"
    _set(patient, "patients", ecog=3)
    assert judge(patient, "ecog_0_2")[0] == "fail"
    _set(patient, "patients", ecog=None)
    assert judge(patient, "ecog_0_2")[0] == "unknown"


@pytest.mark.parametrize("stage,expected", [("A", "pass"), ("C", "pass"), ("0", "fail"),
                                            ("D", "fail"), (None, "unknown")])
def test_bclc_a_b_c(patient, judge, stage, expected):
    _set(patient, "patients", bclc=stage)
    assert judge(patient, "bclc_a_b_c")[0] == expected


# --- child_pugh_not_c ----------------------------------------------------------------------

def test_child_pugh_not_c_fail_for_class_c(patient, judge):
    for row in patient["labs"]:
        row["value"] = {"bilirubin": 60.0, "albumin": 25.0, "inr": 2.0}[row["test"]]
    _set(patient, "patients", ascites="mild")  # 3 + 3 + 2 + 2 + 1 = 11
    status, reasons = judge(patient, "child_pugh_not_c")
    assert status == "fail" and "Child–Pugh C11" in reasons


def test_child_pugh_not_c_unknown_when_a_missing_input_could_make_it_c(patient, judge):
    for row in patient["labs"]:
        row["value"] = {"bilirubin": 45.0, "albumin": 30.0, "inr": 1.8}[row["test"]]
    _set(patient, "patients", ascites=None)  # 2 + 2 + 2 + ? + 1: between 8 and 10
    status, reasons = judge(patient, "child_pugh_not_c")
    assert status == "unknown" and "missing baseline ascites" in reasons


def test_child_pugh_not_c_passes_when_missing_input_cannot_make_it_c(patient, judge):
    _set(patient, "patients", encephalopathy=None)  # 1 + 1 + 1 + 1 + ? ≤ 7
    assert judge(patient, "child_pugh_not_c")[0] == "pass"


def test_child_pugh_labs_outside_the_14_day_window_are_not_baseline(patient, judge):
    for row in patient["labs"]:
        row["date"] = dt.date(2023, 2, 14)  # 15 days before T0
    assert judge(patient, "child_pugh_not_c")[0] == "unknown"
    for row in patient["labs"]:
        row["date"] = dt.date(2023, 3, 2)  # after T0: never baseline
    assert judge(patient, "child_pugh_not_c")[0] == "unknown"
    for row in patient["labs"]:
        row["date"] = dt.date(2023, 3, 1)  # on T0 counts
    assert judge(patient, "child_pugh_not_c")[0] == "pass"


# --- yes/no facts ----------------------------------------------------------------------------

@pytest.mark.parametrize("rule,column,bad", [
    ("unresectable", "unresectable", False),
    ("no_combined_hcc_cca", "combined_hcc_cca", True),
    ("no_other_malignancy", "other_malignancy", True),
    ("no_prior_therapy", "prior_hcc_therapy", True),
])
def test_yes_no_rules_pass_fail_unknown(patient, judge, rule, column, bad):
    assert judge(patient, rule)[0] == "pass"
    _set(patient, "patients", **{column: bad})
    assert judge(patient, rule)[0] == "fail"
    _set(patient, "patients", **{column: None})
    status, reasons = judge(patient, rule)
    assert status == "unknown" and f"missing {column}" in reasons


def test_no_prior_therapy_fails_on_a_resection_before_t0(patient, judge):
    patient["treatments"].append(dict(patient_id="WX-0001", kind="other_anticancer",
                                      agent="resection", start_date=dt.date(2022, 6, 1)))
    status, reasons = judge(patient, "no_prior_therapy")
    assert status == "fail" and "resection" in reasons


# --- retrospective only ----------------------------------------------------------------------

def test_received_combination_fails_without_pd1(patient, judge):
    patient["treatments"] = [t for t in patient["treatments"] if t["kind"] != "PD1"]
    status, reasons = judge(patient, "received_combination")
    assert status == "fail" and "no PD-1" in reasons


def test_followup_potential_keeps_an_early_death(patient, judge):
    _set(patient, "followup", last_contact_date=dt.date(2023, 3, 20),
         death_date=dt.date(2023, 3, 20))
    assert judge(patient, "followup_3_months")[0] == "pass"


def test_followup_potential_fails_when_t0_is_within_90_days_of_cutoff(make_patient, judge):
    p = make_patient(t0="2024-04-15")  # cut-off 2024-06-30: 76 days
    status, reasons = judge(p, "followup_3_months")
    assert status == "fail" and "potential follow-up 76 days" in reasons


def test_followup_potential_boundary_90_days_passes(make_patient, judge):
    p = make_patient(t0="2024-04-01")  # exactly 90 days before the cut-off
    assert judge(p, "followup_3_months")[0] == "pass"


def test_followup_unknown_without_followup_record(patient, judge):
    patient["followup"] = []
    assert judge(patient, "followup_3_months")[0] == "unknown"


def test_followup_survived_excludes_an_early_death(patient, judge):
    _set(patient, "followup", last_contact_date=dt.date(2023, 3, 20),
         death_date=dt.date(2023, 3, 20))
    status, reasons = judge(patient, "followup_3_months", followup_rule="survived")
    assert status == "fail" and "died 19 days after T0" in reasons


def test_followup_survived_excludes_early_loss_and_keeps_late_death(patient, judge):
    _set(patient, "followup", last_contact_date=dt.date(2023, 4, 1))
    status, reasons = judge(patient, "followup_3_months", followup_rule="survived")
    assert status == "fail" and "followed 31 days" in reasons
    _set(patient, "followup", last_contact_date=dt.date(2023, 7, 1), death_date=dt.date(2023, 7, 1))
    assert judge(patient, "followup_3_months", followup_rule="survived")[0] == "pass"


# --- prospective only ------------------------------------------------------------------------

def test_consent_signed_unknown_without_date_and_na_for_retrospective(make_patient, judge):
    p = make_patient("NJ-0001", center="NJ", cohort="prospective")
    assert judge(p, "consent_signed")[0] == "pass"
    assert judge(p, "received_combination")[0] == "n/a"
    assert judge(p, "followup_3_months")[0] == "n/a"
    _set(p, "patients", consent_date=None)
    assert judge(p, "consent_signed")[0] == "unknown"


def test_consent_after_cutoff_fails(make_patient, judge):
    p = make_patient("NJ-0001", center="NJ", cohort="prospective")
    _set(p, "patients", consent_date=dt.date(2024, 7, 1))
    assert judge(p, "consent_signed")[0] == "fail"


@pytest.mark.parametrize("rule,column", [("biopsy_not_contraindicated", "biopsy_contraindicated"),
                                         ("able_to_follow_up", "unable_to_follow_up")])
def test_prospective_flags_pass_fail_unknown(make_patient, judge, rule, column):
    p = make_patient("NJ-0001", center="NJ", cohort="prospective")
    assert judge(p, rule)[0] == "pass"
    _set(p, "patients", **{column: True})
    assert judge(p, rule)[0] == "fail"
    _set(p, "patients", **{column: None})
    assert judge(p, rule)[0] == "unknown"


# --- data availability ------------------------------------------------------------------------

def test_clinical_data_complete_fails_and_names_the_gap(patient, judge):
    _set(patient, "patients", pvtt=None)
    status, reasons = judge(patient, "clinical_data_complete")
    assert status == "fail" and "missing pvtt" in reasons


def test_imaging_available_needs_both_phases_before_t0(patient, judge):
    _set(patient, "exams", phases="pre_contrast,arterial")
    assert judge(patient, "imaging_available")[0] == "fail"
    _set(patient, "exams", phases="arterial,portal_venous", date=dt.date(2023, 3, 20))
    assert judge(patient, "imaging_available")[0] == "fail"  # after T0 is not baseline
    _set(patient, "exams", phases=None, date=dt.date(2023, 2, 20))
    assert judge(patient, "imaging_available")[0] == "unknown"


def test_pathology_available_needs_a_biopsy_slide(patient, judge):
    _set(patient, "specimens", kind="blood")
    status, reasons = judge(patient, "pathology_available")
    assert status == "fail" and "biopsy_wsi" in reasons


def test_missing_t0_makes_time_dependent_rules_unknown(patient, judge):
    patient["treatments"] = []
    assert judge(patient, "imaging_available")[0] == "unknown"
    assert judge(patient, "followup_3_months")[0] == "unknown"
    assert judge(patient, "received_combination")[0] == "fail"
