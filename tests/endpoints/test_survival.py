"""OS / PFS / TTP / DoR / TTR and landmark (domain.md §2.2–§2.7)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hccfusion.endpoints.survival import (
    duration_of_response, overall_survival, progression_free_survival, survival_endpoints,
    time_to_progression, time_to_response,
)
from hccfusion.endpoints.survival_landmark import landmark
from hccfusion.endpoints.survival_rules import (
    PFS_VARIANTS, PfsCensoring, check_dates, patient_dates, pfs_censoring, select_timepoints,
)
from hccfusion.errors import DataError, UsageError

T0 = "2023-03-01"
CUTOFF = dt.date(2024, 6, 30)


def _tables(patients: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """patients: id → {death, contact, scans: [(date, response[, pd_date])], npt}."""
    treat, fu, tp = [], [], []
    for pid, p in patients.items():
        treat.append({"patient_id": pid, "kind": "TACE", "start_date": pd.Timestamp(T0)})
        treat.append({"patient_id": pid, "kind": "TKI", "start_date": pd.Timestamp(T0)})
        if p.get("npt"):
            treat.append({"patient_id": pid, "kind": "other_anticancer",
                          "start_date": pd.Timestamp(p["npt"])})
        fu.append({"patient_id": pid, "last_contact_date": pd.Timestamp(p.get("contact", p.get("death"))),
                   "death_date": pd.Timestamp(p["death"]) if p.get("death") else pd.NaT})
        rows = [("2023-02-25", "baseline")] + list(p.get("scans", []))
        for i, scan in enumerate(rows):
            date, resp = scan[0], scan[1]
            tp.append({"patient_id": pid, "exam_id": f"{pid}-E{i}", "date": pd.Timestamp(date),
                       "reader": "final", "criterion": "mrecist", "overall_response": resp,
                       "pd_date": pd.Timestamp(scan[2] if len(scan) > 2 else date)
                       if resp == "PD" else pd.NaT,
                       "is_baseline": i == 0, "target_sum_mm": 80.0, "baseline_sum_mm": 80.0})
    return {"treatments": pd.DataFrame(treat), "followup": pd.DataFrame(fu),
            "timepoints": pd.DataFrame(tp)}


def _one(func, patient: dict, **kw) -> pd.Series:
    t = _tables({"P1": patient})
    if func is overall_survival:
        out = func(treatments=t["treatments"], followup=t["followup"], cutoff=CUTOFF)
    else:
        out = func(cutoff=CUTOFF, **t, **kw)
    assert len(out) == 1
    return out.iloc[0]


# --- §2.7 worked date examples -------------------------------------------------------------

D1_NEAR = {"death": "2024-03-01", "scans": [("2023-04-26", "SD"), ("2024-01-15", "SD")]}
D1_FAR = {"death": "2024-03-01", "scans": [("2023-04-26", "SD"), ("2023-09-01", "SD")]}


def test_d1_os_event_366_days():
    os_ = _one(overall_survival, D1_NEAR)
    assert os_["time"] == 366.0 and os_["event"] and os_["event_kind"] == "death"
    assert round(os_["time_months"], 2) == 12.02


def test_d1_pfs_event_at_death_when_last_scan_within_max_gap():
    row = _one(progression_free_survival, D1_NEAR)
    assert row["event"] and row["time"] == 366.0 and row["event_kind"] == "death"


def test_d1_pfs_censored_at_last_scan_when_death_after_max_gap():
    row = _one(progression_free_survival, D1_FAR)
    assert not row["event"] and row["time"] == 184.0
    assert row["censor_reason"] == "missed_assessments"
    assert row["date"] == pd.Timestamp("2023-09-01")


def test_d1_sensitivity_missed_assessments_event():
    row = _one(progression_free_survival, D1_FAR, censoring="missed_assessments_event")
    assert row["event"] and row["time"] == 366.0


D2 = {"contact": "2024-01-10", "scans": [("2023-05-01", "SD"), ("2023-08-20", "PD")]}


def test_d2_os_censored_315_pfs_event_172():
    os_ = _one(overall_survival, D2)
    assert os_["time"] == 315.0 and not os_["event"] and os_["censor_reason"] == "last_contact"
    assert round(os_["time_months"], 2) == 10.35
    pfs = _one(progression_free_survival, D2)
    assert pfs["time"] == 172.0 and pfs["event"] and pfs["event_kind"] == "progression"
    assert round(pfs["time_months"], 2) == 5.65


D3 = {"contact": "2024-01-10", "scans": [("2023-05-01", "PR"), ("2023-11-15", "SD"),
                                          ("2023-12-20", "NE")]}


def test_d3_pfs_censored_at_last_adequate_scan_259():
    assert _one(overall_survival, D3)["time"] == 315.0
    pfs = _one(progression_free_survival, D3)
    assert pfs["time"] == 259.0 and not pfs["event"] and pfs["censor_reason"] == "no_progression"
    assert round(pfs["time_months"], 2) == 8.51


D4 = {"death": "2023-06-01", "scans": [("2023-05-01", "SD")]}


def test_d4_os_and_pfs_event_92():
    os_ = _one(overall_survival, D4)
    assert os_["time"] == 92.0 and os_["event"] and round(os_["time_months"], 2) == 3.02
    pfs = _one(progression_free_survival, D4)
    assert pfs["time"] == 92.0 and pfs["event"] and pfs["event_kind"] == "death"


D5 = {"contact": "2024-01-10", "npt": "2023-09-10",
      "scans": [("2023-05-01", "PR"), ("2023-09-01", "PR"), ("2023-11-01", "PD")]}


def test_d5_non_protocol_therapy_censors_at_last_scan_before_it():
    os_ = _one(overall_survival, D5)
    assert os_["time"] == 315.0  # OS continues
    pfs = _one(progression_free_survival, D5)
    assert not pfs["event"] and pfs["date"] == pd.Timestamp("2023-09-01")
    assert pfs["time"] == 184.0 and pfs["censor_reason"] == "non_protocol_therapy"


def test_d5_sensitivity_non_protocol_ignored():
    pfs = _one(progression_free_survival, D5, censoring="non_protocol_ignored")
    assert pfs["event"] and pfs["date"] == pd.Timestamp("2023-11-01") and pfs["time"] == 245.0


# --- other censoring branches -------------------------------------------------------------

def test_no_adequate_post_baseline_scan_alive_censored_at_day_0():
    row = _one(progression_free_survival, {"contact": "2023-12-01", "scans": [("2023-05-01", "NE")]})
    assert row["time"] == 0.0 and not row["event"]
    assert row["censor_reason"] == "no_adequate_assessment"


def test_death_without_any_scan_beyond_max_gap_is_censored_at_t0():
    row = _one(progression_free_survival, {"death": "2023-08-01"})
    assert row["time"] == 0.0 and not row["event"] and row["censor_reason"] == "missed_assessments"
    row = _one(progression_free_survival, {"death": "2023-06-01"})  # before the 1st scan: event
    assert row["event"] and row["time"] == 92.0


def test_pd_after_missed_assessments_censored_and_sensitivity_event():
    p = {"contact": "2024-01-10", "scans": [("2023-04-26", "SD"), ("2023-10-01", "PD")]}
    row = _one(progression_free_survival, p)
    assert not row["event"] and row["time"] == 56.0 and row["censor_reason"] == "missed_assessments"
    row = _one(progression_free_survival, p, censoring=PfsCensoring(missed_assessments="event"))
    assert row["event"] and row["time"] == 214.0
    row = _one(progression_free_survival, p, censoring=PfsCensoring(max_gap_days=200))
    assert row["event"]


def test_backdated_pd_date_is_the_event_date():
    p = {"contact": "2024-01-10",
         "scans": [("2023-04-26", "SD"), ("2023-06-20", "SD"), ("2023-08-15", "PD", "2023-06-20")]}
    row = _one(progression_free_survival, p)
    assert row["event"] and row["date"] == pd.Timestamp("2023-06-20") and row["time"] == 111.0


def test_clinical_deterioration_ignored_then_event_in_sensitivity():
    t = _tables({"P1": D3})
    det = pd.DataFrame({"patient_id": ["P1"], "date": [pd.Timestamp("2023-08-01")]})
    primary = progression_free_survival(cutoff=CUTOFF, deterioration=det, **t).iloc[0]
    assert not primary["event"]
    sens = progression_free_survival(cutoff=CUTOFF, deterioration=det,
                                     censoring="clinical_deterioration_event", **t).iloc[0]
    assert sens["event"] and sens["event_kind"] == "clinical_deterioration" and sens["time"] == 153.0
    with pytest.raises(UsageError, match="deterioration"):
        progression_free_survival(cutoff=CUTOFF, censoring="clinical_deterioration_event", **t)


def test_os_death_after_cutoff_and_contact_after_cutoff_censored_at_cutoff():
    t = _tables({"A": {"death": "2024-09-01", "contact": "2024-08-01"},
                 "B": {"contact": "2024-08-01"}})
    out = overall_survival(treatments=t["treatments"], followup=t["followup"], cutoff=CUTOFF)
    assert not out["event"].any()
    assert (out["date"] == pd.Timestamp(CUTOFF)).all()
    assert list(out["censor_reason"]) == ["death_after_cutoff", "cutoff"]


def test_os_never_censored_at_progression():
    assert _one(overall_survival, {**D2, "death": "2024-01-10"})["event"]


def test_ttp_censors_death_without_progression():
    row = _one(time_to_progression, D1_NEAR)
    assert not row["event"] and row["time"] == 320.0
    assert row["censor_reason"] == "death_without_progression"
    assert _one(time_to_progression, D2)["time"] == 172.0


def test_dor_and_ttr_responders_only():
    patients = {"R": {"contact": "2024-01-10", "scans": [("2023-04-26", "PR"), ("2023-08-20", "PD")]},
                "N": D2, "C": D5}
    t = _tables(patients)
    dor = duration_of_response(cutoff=CUTOFF, **t).set_index("patient_id")
    assert set(dor.index) == {"R", "C"}
    assert dor.loc["R", "time"] == 116.0 and dor.loc["R", "event"]
    assert dor.loc["C", "time"] == 123.0 and dor.loc["C", "censor_reason"] == "non_protocol_therapy"
    ttr = time_to_response(cutoff=CUTOFF, **t).set_index("patient_id")
    assert ttr.loc["R", "time"] == 56.0 and ttr.loc["C", "time"] == 61.0 and ttr["event"].all()


def test_survival_endpoints_long_table_and_warnings():
    t = _tables({"A": D1_FAR, "B": D2})
    res = survival_endpoints(cutoff=CUTOFF, criteria=("mrecist",), **t)
    assert set(res.table["endpoint"]) == {"OS", "PFS", "TTP"}
    assert any(w.rule == "followup_gap" and w.patient_id == "A" for w in res.warnings)
    assert res.cutoff == CUTOFF and res.censoring == PFS_VARIANTS["primary"]


# --- settings -----------------------------------------------------------------------------

def test_settings_default_gap_and_named_variants():
    assert PfsCensoring().gap_days == 126
    assert PfsCensoring(assessment_interval_days=42).gap_days == 98
    assert pfs_censoring("non_protocol_ignored").non_protocol_therapy == "ignore"
    with pytest.raises(UsageError, match="did you mean 'primary'"):
        pfs_censoring("primery")
    with pytest.raises(ValidationError):
        PfsCensoring(max_gap=100)
    with pytest.raises(UsageError, match="criterion"):
        _one(progression_free_survival, D2, criterion="recist")


# --- date hygiene (§2.5) ------------------------------------------------------------------

@pytest.mark.parametrize(("patient", "match"), [
    ({"death": "2023-06-01", "scans": [("2023-05-01", "PD", "2023-07-01")]}, "PD date after death"),
    ({"death": "2023-06-01", "contact": "2023-07-01"}, "death date before the last contact"),
    ({"death": "2023-06-01", "scans": [("2023-07-01", "SD")]}, "death date before an imaging"),
    ({"death": "2023-02-01"}, "death date before T0"),
    ({"contact": "2023-06-01", "scans": [("2023-07-01", "SD")]}, "last contact before the last"),
    ({"contact": "2023-09-01", "scans": [("2023-02-27", "SD")]}, "post-baseline scan dated before"),
])
def test_hard_date_errors_name_the_patient(patient, match):
    with pytest.raises(DataError, match=f"patient P1: {match}"):
        _one(progression_free_survival, patient)


def test_date_warnings():
    t = _tables({"P1": {"contact": "2024-01-10", "scans": [("2023-06-15", "SD"), ("2023-12-01", "SD")]}})
    p = patient_dates(treatments=t["treatments"], followup=t["followup"], cutoff=CUTOFF)
    tp = select_timepoints(t["timepoints"], criterion="mrecist", reader="final")
    rules = {w.rule for w in check_dates(patients=p, timepoints=tp)}
    assert rules == {"first_scan_late", "followup_gap"}


# --- landmark (§2.6) ----------------------------------------------------------------------

def test_landmark_keeps_alive_at_landmark_and_classifies_by_response_then():
    patients = {"early_death": D4, "resp": {"contact": "2024-01-10", "scans": [("2023-04-26", "PR")]},
                "late_resp": {"contact": "2024-01-10", "scans": [("2023-04-26", "SD"),
                                                                ("2023-07-20", "PR")]}}
    t = _tables(patients)
    os_ = overall_survival(treatments=t["treatments"], followup=t["followup"], cutoff=CUTOFF)
    lm = landmark(os_, landmark_days=92, response=t["timepoints"]).set_index("patient_id")
    assert set(lm.index) == {"resp", "late_resp"}
    assert lm.loc["resp", "responder"] and not lm.loc["late_resp", "responder"]
    assert lm.loc["late_resp", "best_response_by_landmark"] == "SD"
    assert lm.loc["resp", "time"] == 315.0 - 92
    assert lm.loc["resp", "start_date"] == pd.Timestamp("2023-06-01")
    with pytest.raises(UsageError, match="landmark_days"):
        landmark(os_, landmark_days=0, response=t["timepoints"])


# --- properties ---------------------------------------------------------------------------

_courses = st.lists(st.tuples(st.integers(1, 150), st.sampled_from(["CR", "PR", "SD", "PD", "NE"])),
                    max_size=6)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(courses=st.lists(st.tuples(_courses, st.integers(0, 400), st.booleans(),
                                  st.one_of(st.none(), st.integers(1, 600))), min_size=1, max_size=6))
def test_times_non_negative_and_pfs_not_after_os(courses):
    base = pd.Timestamp(T0)
    patients = {}
    for i, (scans, extra, dies, npt) in enumerate(courses):
        day, rows = 0, []
        for gap, resp in scans:
            day += gap
            rows.append(((base + pd.Timedelta(days=day)).strftime("%Y-%m-%d"), resp))
        end = (base + pd.Timedelta(days=day + extra)).strftime("%Y-%m-%d")
        p = {"scans": rows, "death" if dies else "contact": end}
        if npt is not None and npt <= day + extra:
            p["npt"] = (base + pd.Timedelta(days=npt)).strftime("%Y-%m-%d")
        patients[f"P{i}"] = p
    t = _tables(patients)
    os_ = overall_survival(treatments=t["treatments"], followup=t["followup"], cutoff=CUTOFF)
    for variant in PFS_VARIANTS:
        if variant == "clinical_deterioration_event":
            continue
        pfs = progression_free_survival(cutoff=CUTOFF, censoring=variant, **t)
        merged = pfs.merge(os_, on="patient_id", suffixes=("_pfs", "_os"))
        assert len(merged) == len(patients)
        assert (merged["time_pfs"] >= 0).all() and (merged["time_os"] >= 0).all()
        assert (merged["time_pfs"] <= merged["time_os"]).all()
    ttp = time_to_progression(cutoff=CUTOFF, **t)
    assert (ttp["time"] >= 0).all() and (ttp["time"] <= os_["time"]).all()
    assert (duration_of_response(cutoff=CUTOFF, **t)["time"] >= 0).all()


def test_recovers_simulator_ground_truth_os_and_pfs():
    from hccfusion.simulate.crf_tables import crf_tables
    from hccfusion.simulate.latent import simulate_latent

    truth = simulate_latent(n_patients=40, seed=3, screen_failure_share=0)
    tables = crf_tables(truth)
    ex = truth.exams
    tp = ex.assign(reader="final", criterion="mrecist", overall_response=ex["mrecist"],
                   is_baseline=ex["exam_index"] == 0, pd_date=pd.NaT)
    kw = dict(treatments=tables["treatments"], followup=tables["followup"], cutoff=truth.cutoff)
    expected = truth.outcomes.assign(patient_id=truth.outcomes["patient_id"].astype("string"))
    expected = expected.set_index("patient_id")
    os_ = overall_survival(**kw).set_index("patient_id").join(expected)
    pfs = progression_free_survival(timepoints=tp, **kw).set_index("patient_id").join(expected)
    assert len(os_) == 40
    assert (os_["time"] == os_["os_days"]).all() and (os_["event"] == os_["os_event"]).all()
    assert (pfs["time"] == pfs["pfs_days"]).all() and (pfs["event"] == pfs["pfs_event"]).all()
