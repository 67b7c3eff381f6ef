"""Time-point response (domain.md §1.4–§1.7, worked examples E1–E14 of §1.12)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from hccfusion.endpoints.response import COLUMNS, baseline_exams, timepoint_responses
from hccfusion.endpoints.response_rules import ResponseSettings, pct_change_tenths
from hccfusion.errors import DataError
from hccfusion.io.index_date import index_dates

T0 = pd.Timestamp("2023-03-01")
PID = "WX-0001"


def treatments(pid: str = PID, other_day: int | None = None) -> pd.DataFrame:
    rows = [{"patient_id": pid, "kind": k, "start_date": T0} for k in ("TACE", "TKI", "PD1")]
    if other_day is not None:
        rows.append({"patient_id": pid, "kind": "other_anticancer",
                     "start_date": T0 + pd.Timedelta(days=other_day)})
    return pd.DataFrame(rows)


def target(k: int, lid: str, viable: float, longest: float | None = None, **kw) -> dict:
    return {"k": k, "lesion_id": lid, "kind": "target", "organ": "liver", "typical_hcc": True,
            "viable_diameter_mm": viable,
            "longest_diameter_mm": viable if longest is None else longest, **kw}


def nontarget(k: int, lid: str, status: str, organ: str = "liver", **kw) -> dict:
    return {"k": k, "lesion_id": lid, "kind": "non_target", "organ": organ,
            "nontarget_status": status, **kw}


def new(k: int, lid: str, size: float, typical: bool, organ: str = "liver", **kw) -> dict:
    return {"k": k, "lesion_id": lid, "kind": "new", "organ": organ, "typical_hcc": typical,
            "viable_diameter_mm": size if organ == "liver" else None, "longest_diameter_mm": size,
            **kw}


def tables(rows: list[dict], days: list[int], *, pid: str = PID, readers=("R1", "R2"),
           phases: dict[int, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    exams = pd.DataFrame({"exam_id": [f"{pid}-E{k}" for k in range(len(days))], "patient_id": pid,
                          "date": [T0 + pd.Timedelta(days=d) for d in days],
                          "phases": [(phases or {}).get(k, "arterial,portal_venous")
                                     for k in range(len(days))]})
    reads = []
    for reader in readers:
        for r in rows:
            row = {k: v for k, v in r.items() if k != "k"}
            reads.append({"patient_id": pid, "exam_id": f"{pid}-E{r['k']}", "reader": reader, **row})
    cols = ["viable_diameter_mm", "longest_diameter_mm", "short_axis_mm"]
    reads = pd.DataFrame(reads)
    for c in cols:
        reads[c] = pd.to_numeric(reads.get(c), errors="coerce") if c in reads else float("nan")
    return reads, exams


def run(rows, days, *, criterion="mrecist", reader="final", other_day=None, **kw):
    s = kw.pop("settings", ResponseSettings())
    reads, exams = tables(rows, days, **kw)
    tp = timepoint_responses(reads, exams, index_dates=index_dates(treatments(other_day=other_day)),
                             settings=s)
    return tp[(tp["criterion"] == criterion) & (tp["reader"] == reader)].reset_index(drop=True)


def two_targets(values: list[tuple[float, float]], **kw) -> list[dict]:
    return [row for k, (a, b) in enumerate(values)
            for row in (target(k, "L1", a, **kw), target(k, "L2", b, **kw))]


# --- worked examples of domain.md §1.12 ------------------------------------------------------

def test_e1_pr_at_minus_37_5_percent():
    tp = run(two_targets([(50, 30), (30, 20)]), [-7, 42])
    assert list(tp["overall_response"]) == ["baseline", "PR"]
    assert tp.loc[1, "pct_change_baseline"] == -37.5
    assert tp.loc[1, "target_sum_mm"] == 50.0 and tp.loc[0, "baseline_sum_mm"] == 80.0


def test_e2_depth_of_response_at_week_12():
    tp = run(two_targets([(50, 30), (30, 20), (28, 18)]), [-7, 42, 84])
    assert list(tp["overall_response"]) == ["baseline", "PR", "PR"]
    assert tp.loc[2, "pct_change_baseline"] == -42.5
    assert tp.loc[2, "nadir_mm"] == 50.0


def test_e3_exactly_minus_30_is_pr():
    tp = run([target(0, "L1", 80), target(1, "L1", 56)], [-7, 42])
    assert tp.loc[1, "pct_change_baseline"] == -30.0
    assert tp.loc[1, "target_response"] == "PR"


def test_e4_minus_28_75_is_sd():
    tp = run([target(0, "L1", 80), target(1, "L1", 57)], [-7, 42])
    assert tp.loc[1, "pct_change_baseline"] == -28.8
    assert tp.loc[1, "overall_response"] == "SD"


def test_e5_pd_against_nadir_despite_minus_50_vs_baseline():
    tp = run([target(0, "L1", 100), target(1, "L1", 70), target(2, "L1", 40),
              target(3, "L1", 50)], [-7, 42, 84, 126])
    assert tp.loc[3, "nadir_mm"] == 40.0
    assert tp.loc[3, "pct_change_baseline"] == -50.0
    assert tp.loc[3, "pct_change_nadir"] == 25.0
    assert tp.loc[3, "overall_response"] == "PD"
    assert tp.loc[3, "pd_date"] == T0 + pd.Timedelta(days=126)


def test_e6_plus_two_mm_is_pd_for_mrecist_and_sd_for_recist():
    rows = [target(0, "L1", 10, 10), target(1, "L1", 12, 12)]
    m = run(rows, [-7, 42], criterion="mrecist")
    r = run(rows, [-7, 42], criterion="recist11")
    assert m.loc[1, "pct_change_nadir"] == 20.0 == r.loc[1, "pct_change_nadir"]
    assert m.loc[1, "overall_response"] == "PD"
    assert r.loc[1, "overall_response"] == "SD"
    floored = run(rows, [-7, 42], settings=ResponseSettings(mrecist_pd_min_abs_mm=5))
    assert floored.loc[1, "overall_response"] == "SD"


def test_e7_lipiodol_filled_cr_for_mrecist_sd_for_recist():
    rows = [target(0, "L1", 40, 45), target(0, "L2", 20, 28),
            target(1, "L1", 0, 40), target(1, "L2", 0, 25)]
    m = run(rows, [-7, 42], criterion="mrecist")
    r = run(rows, [-7, 42], criterion="recist11")
    assert m.loc[1, "overall_response"] == "CR"
    assert r.loc[1, "pct_change_baseline"] == -11.0
    assert r.loc[1, "overall_response"] == "SD"


def test_e8_pvtt_extension_vp3_to_vp4_is_pd():
    base = two_targets([(50, 50), (45, 45)])
    by_status = run(base + [nontarget(0, "V1", "present", "vessel", vascular_class="Vp3"),
                            nontarget(1, "V1", "unequivocal_progression", "vessel",
                                      vascular_class="Vp4")], [-7, 42])
    by_class = run(base + [nontarget(0, "V1", "present", "vessel", vascular_class="Vp3"),
                           nontarget(1, "V1", "present", "vessel", vascular_class="Vp4")], [-7, 42])
    for tp in (by_status, by_class):
        assert tp.loc[1, "target_response"] == "SD"
        assert tp.loc[1, "nontarget_response"] == "PD"
        assert tp.loc[1, "overall_response"] == "PD"


def test_e9_new_ascites_without_cytology_ignored():
    rows = two_targets([(50, 30), (30, 20)]) + [
        new(1, "A1", 0, False, "peritoneum", is_effusion=True)]
    assert run(rows, [-7, 42]).loc[1, "overall_response"] == "PR"


def test_effusion_progression_is_pd_only_with_malignant_cytology():
    base = two_targets([(50, 30), (30, 20)])
    eff = dict(organ="peritoneum", is_effusion=True)
    no_cyto = run(base + [nontarget(0, "A1", "present", **eff),
                          nontarget(1, "A1", "unequivocal_progression", **eff)], [-7, 42])
    cyto = run(base + [nontarget(0, "A1", "present", **eff),
                       nontarget(1, "A1", "unequivocal_progression", cytology_malignant=True,
                                 **eff)], [-7, 42])
    new_cyto = run(base + [new(1, "A2", 0, False, "peritoneum", is_effusion=True,
                               cytology_malignant=True)], [-7, 42])
    assert no_cyto.loc[1, "overall_response"] == "PR"
    assert no_cyto.loc[1, "nontarget_response"] == "ND"
    assert cyto.loc[1, "overall_response"] == "PD"
    assert new_cyto.loc[1, "overall_response"] == "PD"


def test_e10_equivocal_nodule_confirmed_later_backdates_pd():
    rows = two_targets([(50, 50), (46, 46), (46, 46)]) + [
        new(1, "N1", 8, False), new(2, "N1", 19, True)]
    tp = run(rows, [-7, 42, 84])
    assert list(tp["new_lesion"]) == ["none", "equivocal", "confirmed"]
    assert list(tp["overall_response"]) == ["baseline", "SD", "PD"]
    assert tp.loc[2, "pd_date"] == T0 + pd.Timedelta(days=42)
    assert pd.isna(tp.loc[1, "pd_date"])


def test_equivocal_nodule_confirmed_by_growth_alone():
    rows = two_targets([(50, 50), (46, 46), (46, 46)]) + [
        new(1, "N1", 4, False), new(2, "N1", 14, False)]
    tp = run(rows, [-7, 42, 84])
    assert tp.loc[2, "overall_response"] == "PD"
    assert tp.loc[2, "pd_date"] == T0 + pd.Timedelta(days=42)


def test_e11_new_typical_12mm_nodule_is_pd():
    rows = two_targets([(50, 30), (30, 20)]) + [new(1, "N1", 12, True)]
    tp = run(rows, [-7, 42])
    assert tp.loc[1, "target_response"] == "PR"
    assert tp.loc[1, "new_lesion"] == "confirmed" and tp.loc[1, "overall_response"] == "PD"


def test_e12_target_missing_arterial_phase_is_ne_not_pd():
    rows = [target(0, "L1", 50), target(0, "L2", 50), target(1, "L1", 30),
            target(1, "L2", None, evaluable=False)]
    tp = run(rows, [-7, 42])
    assert tp.loc[1, "target_response"] == "NE" and tp.loc[1, "overall_response"] == "NE"
    whole_exam = run(two_targets([(50, 50), (30, 30)]), [-7, 42], phases={1: "portal_venous"})
    assert whole_exam.loc[1, "overall_response"] == "NE"


def test_ne_target_is_pd_when_the_evaluable_subset_already_progressed():
    rows = [target(0, "L1", 50), target(0, "L2", 50), target(1, "L1", 130),
            target(1, "L2", None, evaluable=False)]
    assert run(rows, [-7, 42]).loc[1, "overall_response"] == "PD"
    missing_row = [target(0, "L1", 50), target(0, "L2", 50), target(1, "L1", 30)]
    assert run(missing_row, [-7, 42]).loc[1, "overall_response"] == "NE"


def test_e14_targets_cr_with_enhancing_nontarget_node_is_pr():
    rows = two_targets([(50, 30), (0, 0)]) + [
        nontarget(0, "N1", "present", "node", short_axis_mm=16),
        nontarget(1, "N1", "present", "node", short_axis_mm=14)]
    tp = run(rows, [-7, 42])
    assert tp.loc[1, "target_response"] == "CR"
    assert tp.loc[1, "nontarget_response"] == "nonCR/nonPD"
    assert tp.loc[1, "overall_response"] == "PR"


def test_reappearance_after_cr_is_pd():
    tp = run([target(0, "L1", 30), target(1, "L1", 0, 20), target(2, "L1", 5, 20)],
             [-7, 42, 84])
    assert list(tp["overall_response"]) == ["baseline", "CR", "PD"]
    assert tp.loc[2, "nadir_mm"] == 0.0


def test_porta_hepatis_node_counts_only_from_20mm():
    base = two_targets([(50, 50), (45, 45)])

    def node(size):
        return new(1, "P1", None, False, "node", short_axis_mm=size, porta_hepatis=True)
    small = run(base + [node(18)], [-7, 42])
    assert small.loc[1, "overall_response"] == "SD" and small.loc[1, "new_lesion"] == "equivocal"
    assert run(base + [node(21)], [-7, 42]).loc[1, "overall_response"] == "PD"
    other = new(1, "P2", None, False, "node", short_axis_mm=15)
    assert run(base + [other], [-7, 42]).loc[1, "overall_response"] == "PD"


def test_extrahepatic_new_lesion_is_pd():
    rows = two_targets([(50, 30), (30, 20)]) + [new(1, "M1", 8, False, "lung")]
    assert run(rows, [-7, 42]).loc[1, "overall_response"] == "PD"


def test_nontarget_only_disease():
    rows = [nontarget(0, "L1", "present"), nontarget(1, "L1", "present"),
            nontarget(2, "L1", "absent")]
    tp = run(rows, [-7, 42, 84])
    assert list(tp["target_response"].iloc[1:]) == ["ND", "ND"]
    assert list(tp["overall_response"]) == ["baseline", "nonCR/nonPD", "CR"]


def test_target_absent_at_baseline_raises_naming_patient_and_exam():
    rows = [target(0, "L1", 50), target(1, "L1", 40), target(1, "L9", 20)]
    with pytest.raises(DataError, match=rf"patient {PID}, exam {PID}-E1.*L9"):
        run(rows, [-7, 42])


def test_too_many_targets_per_organ_raises():
    rows = [target(0, f"L{i}", 30) for i in range(3)]
    with pytest.raises(DataError, match="at most 2"):
        run(rows, [-7, 42])


def test_baseline_is_last_exam_before_t0_and_old_baseline_flagged():
    rows = [target(0, "L1", 99), target(1, "L1", 50), target(2, "L1", 30)]
    tp = run(rows, [-60, -35, 42])
    assert list(tp["exam_id"]) == [f"{PID}-E1", f"{PID}-E2"]
    assert tp.loc[1, "overall_response"] == "PR"
    reads, exams = tables(rows, [-60, -35, 42])
    b = baseline_exams(exams, index_dates=index_dates(treatments()))
    assert b.loc[0, "baseline_exam_id"] == f"{PID}-E1" and bool(b.loc[0, "baseline_too_old"])


def test_reader_disagreement_without_mdt_needs_mdt():
    r1, ex = tables([target(0, "L1", 80), target(1, "L1", 57)], [-7, 42], readers=("R1",))
    r2, _ = tables([target(0, "L1", 80), target(1, "L1", 55)], [-7, 42], readers=("R2",))
    tp = timepoint_responses(pd.concat([r1, r2]), ex, index_dates=index_dates(treatments()))
    assert list(tp.columns) == list(COLUMNS)
    m = tp[tp["criterion"] == "mrecist"].set_index("reader")
    fin = m.loc["final"].iloc[1]
    assert pd.isna(fin["overall_response"]) and bool(fin["needs_mdt"])
    assert bool(m.loc["R1"].iloc[1]["needs_mdt"])
    mdt, _ = tables([target(1, "L1", 56)], [-7, 42], readers=("MDT",))
    tp = timepoint_responses(pd.concat([r1, r2, mdt]), ex, index_dates=index_dates(treatments()))
    m = tp[(tp["criterion"] == "mrecist") & ~tp["is_baseline"]].set_index("reader")
    assert m.loc["MDT", "overall_response"] == "PR" == m.loc["final", "overall_response"]
    assert not m["needs_mdt"].any()


def test_pct_change_rounds_half_away_from_zero():
    assert list(pct_change_tenths([57.0 * 10, 12.0 * 10], [80.0 * 10, 10.0 * 10])) == [-288, 200]


# --- properties: a later scan changes an earlier time point only through forward rules ------

sizes = st.lists(st.integers(min_value=0, max_value=1200), min_size=2, max_size=5)


@hsettings(max_examples=4, deadline=None)
@given(values=sizes, extra=st.integers(min_value=0, max_value=1200),
       new_size=st.one_of(st.none(), st.integers(min_value=10, max_value=300)))
def test_adding_a_later_scan_leaves_earlier_time_points_unchanged(values, extra, new_size):
    values = [max(values[0], 100)] + values[1:]
    days = [-7] + [42 * i for i in range(1, len(values))]
    rows = [target(k, "L1", v / 10) for k, v in enumerate(values)]
    longer_rows = rows + [target(len(values), "L1", extra / 10)]
    if new_size is not None:
        longer_rows.append(new(len(values), "N9", new_size / 10, True))
    short = run(rows, days)
    long = run(longer_rows, days + [days[-1] + 42]).iloc[: len(values)]
    pd.testing.assert_frame_equal(short, long)


def test_backdated_pd_is_the_one_way_a_later_scan_reaches_back():
    rows = two_targets([(50, 50), (46, 46)]) + [new(1, "N1", 8, False)]
    before = run(rows, [-7, 42])
    after = run(rows + two_targets([(50, 50), (46, 46), (46, 46)])[4:] + [new(2, "N1", 19, True)],
                [-7, 42, 84])
    pd.testing.assert_frame_equal(before, after.iloc[:2])
    assert after.loc[2, "pd_date"] == before.loc[1, "date"]
