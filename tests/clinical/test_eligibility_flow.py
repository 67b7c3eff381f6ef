"""The CONSORT flow, the settings model and the follow-up warning."""

import datetime as dt

import pydantic
import pytest

from hccfusion.clinical.eligibility import EligibilitySettings, assess_eligibility
from hccfusion.errors import DataError

CUTOFF = dt.date(2024, 6, 30)


@pytest.fixture
def screened(make_patient, make_tables):
    """Nine retrospective + three prospective patients over two centres with known fates."""
    ps = []
    for i in range(5):  # WX retrospective: 0,1 eligible; 2 old; 3 ECOG 3 and old; 4 no PD-1
        ps.append(make_patient(f"WX-{i:04d}", center="WX"))
    ps[2]["patients"][0]["age_years"] = 85
    ps[3]["patients"][0].update(age_years=90, ecog=3)  # counted once, at the age step
    ps[4]["treatments"] = [t for t in ps[4]["treatments"] if t["kind"] != "PD1"]
    for i in range(4):  # NJ retrospective: 0 eligible; 1 missing ECOG; 2 late T0; 3 early death
        ps.append(make_patient(f"NJ-{i:04d}", center="NJ",
                               t0="2024-05-01" if i == 2 else "2023-03-01"))
    ps[6]["patients"][0]["ecog"] = None
    ps[8]["followup"][0].update(last_contact_date=dt.date(2023, 4, 1),
                                death_date=dt.date(2023, 4, 1))
    for i in range(3):  # NJ prospective: 0, 1 eligible; 2 biopsy contraindicated
        ps.append(make_patient(f"NJP-{i:04d}", center="NJ", cohort="prospective"))
    ps[11]["patients"][0]["biopsy_contraindicated"] = True
    return make_tables(*ps)


def _n(flow, cohort, center, *, stage, rule=None):
    sel = (flow["cohort"] == cohort) & (flow["center"] == center) & (flow["stage"] == stage)
    if rule is not None:
        sel &= flow["rule"] == rule
    return int(flow.loc[sel, "n"].sum())


def test_flow_counts_add_up_per_centre_and_overall(screened):
    flow = assess_eligibility(screened, settings=EligibilitySettings(cutoff=CUTOFF)).flow
    for (cohort, center), block in flow.groupby(["cohort", "center"]):
        assessed = int(block.loc[block["stage"] == "assessed", "n"].iloc[0])
        excluded = int(block.loc[block["stage"] == "excluded", "n"].sum())
        included = int(block.loc[block["stage"] == "included", "n"].iloc[0])
        assert assessed == excluded + included, (cohort, center)
    assert _n(flow, "retrospective", "WX", stage="assessed") == 5
    assert _n(flow, "retrospective", "NJ", stage="assessed") == 4
    assert _n(flow, "retrospective", "all", stage="assessed") == 9
    assert _n(flow, "prospective", "NJ", stage="assessed") == 3


def test_each_patient_is_counted_once_at_the_first_failed_rule(screened):
    res = assess_eligibility(screened, settings=EligibilitySettings(cutoff=CUTOFF))
    flow = res.flow
    assert _n(flow, "retrospective", "WX", stage="excluded", rule="age_18_80") == 2
    assert _n(flow, "retrospective", "WX", stage="excluded", rule="ecog_0_2") == 0
    assert _n(flow, "retrospective", "WX", stage="excluded", rule="received_combination") == 1
    assert _n(flow, "retrospective", "NJ", stage="excluded", rule="ecog_0_2") == 1
    unknown = flow.loc[(flow["center"] == "NJ") & (flow["rule"] == "ecog_0_2") &
                       (flow["cohort"] == "retrospective"), "n_unknown"]
    assert int(unknown.iloc[0]) == 1
    assert _n(flow, "retrospective", "NJ", stage="excluded", rule="followup_3_months") == 1
    assert _n(flow, "retrospective", "all", stage="included") == 4  # early death stays in
    assert _n(flow, "prospective", "all", stage="excluded",
              rule="biopsy_not_contraindicated") == 1
    assert _n(flow, "prospective", "all", stage="included") == 2
    pp = res.per_patient.set_index("patient_id")
    assert pp.loc["WX-0003", "excluded_at"] == "age_18_80"
    assert "ecog_0_2: ECOG 3 > 2" in pp.loc["WX-0003", "reasons"]  # every reason is listed
    # prospective flow has no retrospective-only steps and vice versa
    pro_rules = set(flow.loc[flow["cohort"] == "prospective", "rule"].dropna())
    assert "followup_3_months" not in pro_rules and "consent_signed" in pro_rules
    assert "consent_signed" not in set(flow.loc[flow["cohort"] == "retrospective", "rule"].dropna())


def test_survived_reading_excludes_the_early_death_and_warns(screened):
    potential = assess_eligibility(screened, settings=EligibilitySettings(cutoff=CUTOFF))
    survived = assess_eligibility(
        screened, settings=EligibilitySettings(cutoff=CUTOFF, followup_rule="survived"))
    assert potential.warnings == ()
    assert len(survived.warnings) == 1 and "landmark" in survived.warnings[0]
    pp = survived.per_patient.set_index("patient_id")
    assert not pp.loc["NJ-0003", "eligible"]
    assert potential.per_patient.set_index("patient_id").loc["NJ-0003", "eligible"]
    assert _n(survived.flow, "retrospective", "all", stage="included") == 3


def test_settings_reject_unknown_keys_and_bad_values():
    with pytest.raises(pydantic.ValidationError, match="extra"):
        EligibilitySettings(cutoff=CUTOFF, followup="potential")
    with pytest.raises(pydantic.ValidationError):
        EligibilitySettings(cutoff=CUTOFF, followup_rule="alive")
    with pytest.raises(pydantic.ValidationError, match="age_min"):
        EligibilitySettings(cutoff=CUTOFF, age_min=81, age_max=80)
    with pytest.raises(pydantic.ValidationError, match="clinical_fields"):
        EligibilitySettings(cutoff=CUTOFF, clinical_fields=("shoe_size",))


def test_missing_cohort_and_duplicates_are_data_errors(make_patient, make_tables):
    p = make_patient()
    p["patients"][0]["cohort"] = None
    with pytest.raises(DataError, match="no cohort"):
        assess_eligibility(make_tables(p), settings=EligibilitySettings(cutoff=CUTOFF))
    q = make_patient()
    with pytest.raises(DataError, match="duplicate patient_id"):
        assess_eligibility(make_tables(q, q), settings=EligibilitySettings(cutoff=CUTOFF))
