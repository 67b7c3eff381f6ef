"""Tests for hccfusion.endpoints.rates (domain.md §1.9, worked example E15)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from hccfusion.endpoints.rates import analysis_population, clopper_pearson, response_rates
from hccfusion.errors import DataError, UsageError


def _bor(counts: dict[str, int], *, criterion: str = "mrecist", start: int = 0) -> pd.DataFrame:
    cats = [c for c, k in counts.items() for _ in range(k)]
    return pd.DataFrame({"patient_id": [f"P{start + i:03d}" for i in range(len(cats))],
                         "reader": "final", "criterion": criterion, "best_response": cats})


def _population(ids, cohort="retrospective", center="A") -> pd.DataFrame:
    return pd.DataFrame({"patient_id": list(ids), "cohort": cohort, "center": center})


def _row(rates: pd.DataFrame, endpoint: str, cohort="all", center="all", criterion="mrecist"):
    sel = rates.loc[(rates["endpoint"] == endpoint) & (rates["cohort"] == cohort)
                    & (rates["center"] == center) & (rates["criterion"] == criterion)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_e15_orr_dcr_cr_with_clopper_pearson():
    """E15: N=150, CR 18, PR 72, SD 40, PD 15, NE 5 → ORR 60.0 % (51.7–67.9),
    DCR 86.7 % (80.2–91.7), CR 12.0 % (7.3–18.3)  (domain.md §1.12)."""
    bor = _bor({"CR": 18, "PR": 72, "SD": 40, "PD": 15, "NE": 5})
    rates = response_rates(bor=bor, population=_population(bor["patient_id"]))
    expected = {"ORR": (60.0, 51.7, 67.9), "DCR": (86.7, 80.2, 91.7), "CR": (12.0, 7.3, 18.3)}
    for endpoint, (pct, low, high) in expected.items():
        row = _row(rates, endpoint)
        assert row["n_patients"] == 150 and row["n_ne"] == 5
        assert round(100 * row["proportion"], 1) == pct
        assert round(100 * row["ci_low"], 1) == low
        assert round(100 * row["ci_high"], 1) == high


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), frac=st.floats(0, 1), conf=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_clopper_pearson_matches_scipy_binomtest(n, frac, conf):
    k = round(frac * n)
    ours = clopper_pearson(successes=k, n=n, confidence=conf)
    ref = binomtest(k, n).proportion_ci(confidence_level=conf, method="exact")
    assert ours.ci_low == pytest.approx(ref.low, abs=1e-9)
    assert ours.ci_high == pytest.approx(ref.high, abs=1e-9)
    assert ours.ci_low <= ours.proportion <= ours.ci_high


def test_clopper_pearson_edges():
    assert clopper_pearson(successes=0, n=10).ci_low == 0.0
    assert clopper_pearson(successes=10, n=10).ci_high == 1.0
    # 0/10: upper = 1 − 0.025^(1/10) (closed form of the exact bound)
    assert clopper_pearson(successes=0, n=10).ci_high == pytest.approx(1 - 0.025 ** 0.1)


@pytest.mark.parametrize("kw", [dict(successes=3, n=2), dict(successes=-1, n=5),
                                dict(successes=1, n=0), dict(successes=1.5, n=4),
                                dict(successes=1, n=4, confidence=1.0)])
def test_clopper_pearson_rejects_bad_arguments(kw):
    with pytest.raises(UsageError, match="clopper_pearson"):
        clopper_pearson(**kw)


def test_missing_bor_counts_as_non_responder_in_denominator():
    bor = _bor({"CR": 1, "PR": 1, "SD": 1})           # P000..P002
    pop = _population(["P000", "P001", "P002", "P003"])  # P003 has no BOR
    bor_extra = pd.concat([bor, _bor({"PR": 1}, start=50)])  # P050 is outside the population
    rates = response_rates(bor=bor_extra, population=pop)
    orr = _row(rates, "ORR")
    assert (orr["n_patients"], orr["n_events"], orr["n_missing"]) == (4, 2, 1)
    assert _row(rates, "DCR")["proportion"] == pytest.approx(3 / 4)


def test_blocks_by_cohort_and_centre_and_criterion():
    bor = pd.concat([_bor({"PR": 2, "PD": 2}), _bor({"SD": 4}, criterion="recist11")])
    pop = pd.DataFrame({"patient_id": ["P000", "P001", "P002", "P003"],
                        "cohort": ["retrospective", "retrospective", "prospective", "prospective"],
                        "center": ["A", "B", "A", "A"]})
    rates = response_rates(bor=bor, population=pop)
    blocks = set(zip(rates["cohort"], rates["center"]))
    assert blocks == {("retrospective", "A"), ("retrospective", "B"), ("prospective", "A"),
                      ("retrospective", "all"), ("prospective", "all"), ("all", "all")}
    assert len(rates) == 2 * len(blocks) * 3
    # P000 PR (A), P001 PR (B) → retrospective ORR 2/2; prospective PD, PD → 0/2
    assert _row(rates, "ORR", "retrospective", "all")["proportion"] == 1.0
    assert _row(rates, "ORR", "prospective", "A")["n_events"] == 0
    assert _row(rates, "ORR", criterion="recist11")["n_events"] == 0
    assert _row(rates, "DCR", criterion="recist11")["n_events"] == 4


def test_only_the_requested_reader_is_used():
    bor = _bor({"PR": 2})
    r1 = bor.assign(reader="R1", best_response="PD")
    rates = response_rates(bor=pd.concat([bor, r1]), population=_population(bor["patient_id"]))
    assert _row(rates, "ORR")["n_events"] == 2
    rates_r1 = response_rates(bor=pd.concat([bor, r1]), reader="R1",
                              population=_population(bor["patient_id"]))
    assert _row(rates_r1, "ORR")["n_events"] == 0


def test_named_failures():
    bor = _bor({"PR": 2})
    pop = _population(bor["patient_id"])
    with pytest.raises(DataError, match="more than one 'final' BOR"):
        response_rates(bor=pd.concat([bor, bor]), population=pop)
    with pytest.raises(DataError, match="not BOR categories"):
        response_rates(bor=bor.assign(best_response="iCPD"), population=pop)
    with pytest.raises(DataError, match="no rows for reader 'MDT'"):
        response_rates(bor=bor, population=pop, reader="MDT")
    with pytest.raises(DataError, match="more than once"):
        response_rates(bor=bor, population=pd.concat([pop, pop]))
    with pytest.raises(DataError, match="lacks columns"):
        response_rates(bor=bor.drop(columns="criterion"), population=pop)
    with pytest.raises(DataError, match="empty"):
        response_rates(bor=bor, population=pop.iloc[:0])


def test_analysis_population_needs_eligible_and_a_measurable_baseline_target():
    elig = pd.DataFrame({"patient_id": ["P1", "P2", "P3", "P4"], "cohort": "retrospective",
                         "center": "A", "eligible": [True, True, False, True]})
    tp = pd.DataFrame({"patient_id": ["P1", "P2", "P3", "P1", "P4"],
                       "reader": ["final", "final", "final", "final", "R1"],
                       "criterion": "mrecist", "is_baseline": [True, True, True, False, True],
                       "baseline_sum_mm": [80.0, 0.0, 50.0, 80.0, 40.0]})
    pop = analysis_population(eligibility=elig, timepoints=tp)
    # P2: no viable target; P3: not eligible; P4: only an R1 baseline read.
    assert pop["patient_id"].tolist() == ["P1"]
    assert list(pop.columns) == ["patient_id", "cohort", "center"]
