"""Planted screen failures: one reason each, named after the eligibility rule that must exclude
the patient, and the eligibility module finds exactly them (domain.md §0, §10 decision 3)."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

from hccfusion.clinical.eligibility import EligibilitySettings, assess_eligibility
from hccfusion.clinical.eligibility_rules import build_rules
from hccfusion.errors import UsageError
from hccfusion.simulate.centers import DEFAULT_CUTOFF
from hccfusion.simulate.crf_tables import crf_tables
from hccfusion.simulate.latent import simulate_latent
from hccfusion.simulate.screening import ECOG, REASONS

#: Rules that read a cell the simulator sometimes leaves empty (missing-data exclusions).
MISSING_DATA_RULES = {"hcc_diagnosis_documented": ("diagnosis_date", "diagnosis_basis"),
                      "child_pugh_not_c": ("ascites",)}


@functools.lru_cache(maxsize=None)
def _assessed():
    truth = simulate_latent(n_patients=200, seed=21, screen_failure_share=0.3)
    tables = crf_tables(truth)
    result = assess_eligibility(tables, settings=EligibilitySettings(cutoff=truth.cutoff))
    per = result.per_patient.merge(truth.latent[["patient_id", "screen_failure"]],
                                   on="patient_id", validate="one_to_one")
    patients = tables["patients"].set_index("patient_id").loc[per["patient_id"]].reset_index()
    return per, result.rules, patients


def _is(per: pd.DataFrame, name: str, status: str) -> pd.Series:
    return (per[name] == status).fillna(False).astype(bool)


def test_reasons_are_rules_of_the_patients_cohort():
    rules = {r.name: r for r in build_rules(EligibilitySettings(cutoff=DEFAULT_CUTOFF))}
    for cohort, reasons in REASONS.items():
        for name, weight in reasons:
            assert name in rules and cohort in rules[name].cohorts, (cohort, name)
            assert weight > 0


def test_every_planted_patient_fails_its_rule_and_nobody_fails_anything_else():
    per, rules, _ = _assessed()
    planted = per["screen_failure"] != ""
    assert planted.sum() >= 40 and per.loc[planted, "screen_failure"].nunique() >= 7
    for name in rules:
        failed = _is(per, name, "fail")
        expected = per["screen_failure"] == name
        if name == "bclc_a_b_c":  # ECOG 3 means BCLC D (BCLC 2022): the second, implied failure
            expected = per["screen_failure"] == ECOG
        assert failed.equals(expected), (name, per.loc[failed != expected, "patient_id"].tolist())


def test_unknowns_come_only_from_empty_cells():
    per, rules, patients = _assessed()
    for name in rules:
        unknown = _is(per, name, "unknown")
        if name not in MISSING_DATA_RULES:
            assert not unknown.any(), name
            continue
        empty = patients[list(MISSING_DATA_RULES[name])].isna().any(axis=1)
        assert not (unknown & ~empty).any(), name
    documented = _is(per, "hcc_diagnosis_documented", "unknown")
    assert documented.any() and documented.equals(patients[["diagnosis_date", "diagnosis_basis"]].isna().any(axis=1))


def test_excluded_are_exactly_the_planted_plus_missing_data_at_the_planted_rule():
    per, rules, _ = _assessed()
    planted = per["screen_failure"] != ""
    missing = pd.concat([_is(per, n, "unknown") for n in rules], axis=1).any(axis=1)
    assert missing.any() and (~per["eligible"]).equals(planted | missing)
    # Each planted patient is counted at its planted rule unless a missing-data rule earlier
    # in the CONSORT order took it first.
    order = {name: i for i, name in enumerate(rules)}
    for row in per[planted].itertuples(index=False):
        earlier = [n for n in rules[:order[row.screen_failure]] if getattr(row, n) == "unknown"]
        assert row.excluded_at == (earlier[0] if earlier else row.screen_failure), row.patient_id
    clean = planted & ~missing
    assert clean.sum() >= 35
    assert (per.loc[clean, "excluded_at"] == per.loc[clean, "screen_failure"]).all()


def test_share_zero_and_eligible_patients_do_not_depend_on_the_share():
    none = simulate_latent(n_patients=40, seed=5, screen_failure_share=0.0)
    some = simulate_latent(n_patients=40, seed=5, screen_failure_share=0.3)
    assert (none.latent["screen_failure"] == "").all()
    kept = some.latent["screen_failure"] == ""
    assert 0 < (~kept).sum() < 40
    pd.testing.assert_frame_equal(some.latent[kept], none.latent[kept])
    pd.testing.assert_frame_equal(some.outcomes[kept], none.outcomes[kept])


@pytest.mark.parametrize("share", [-0.1, 0.9, "8 %", True])
def test_bad_share_raises_usage_error(share):
    with pytest.raises(UsageError, match="screen_failure_share"):
        simulate_latent(n_patients=10, seed=0, screen_failure_share=share)
