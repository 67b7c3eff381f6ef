"""Cox wrappers: numbers must equal lifelines', R's and scikit-survival's; only names change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi
from lifelines.statistics import proportional_hazard_test as ll_ph_test

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.cox import (
    COX_COLUMNS,
    cox_multivariable,
    cox_univariable,
    proportional_hazards_test,
)

ROSSI = load_rossi()
COVARIATES = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
# R: coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = Rossi)
# (Efron ties), Fox & Weisberg, "Cox proportional-hazards regression for survival data in R".
R_COEF = {"fin": -0.37942, "age": -0.05744, "race": 0.31390, "wexp": -0.14980,
          "mar": -0.43370, "paro": -0.08487, "prio": 0.09150}


def test_multivariable_equals_lifelines_summary_and_r() -> None:
    table = cox_multivariable(data=ROSSI, time="week", event="arrest", covariates=COVARIATES)
    ref = CoxPHFitter().fit(ROSSI, "week", "arrest").summary
    assert list(table.columns) == list(COX_COLUMNS)
    assert list(table["covariate"]) == COVARIATES
    table = table.set_index("covariate")
    np.testing.assert_allclose(table["hr"], ref.loc[COVARIATES, "exp(coef)"], rtol=1e-12)
    np.testing.assert_allclose(table["ci_low"], ref.loc[COVARIATES, "exp(coef) lower 95%"],
                               rtol=1e-12)
    np.testing.assert_allclose(table["ci_high"], ref.loc[COVARIATES, "exp(coef) upper 95%"],
                               rtol=1e-12)
    np.testing.assert_allclose(table["p_value"], ref.loc[COVARIATES, "p"], rtol=1e-12)
    np.testing.assert_allclose(table.loc[COVARIATES, "coef"], list(R_COEF.values()), atol=5e-5)
    assert (table["n"] == 432).all() and (table["events"] == 114).all()
    assert table.attrs["events_per_parameter"] == pytest.approx(114 / 7)


def test_multivariable_coefficients_match_scikit_survival() -> None:
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    y = Surv.from_arrays(event=ROSSI["arrest"].astype(bool), time=ROSSI["week"])
    ours = cox_multivariable(data=ROSSI, time="week", event="arrest", covariates=COVARIATES)
    efron = CoxPHSurvivalAnalysis(ties="efron").fit(ROSSI[COVARIATES].astype(float), y)
    np.testing.assert_allclose(ours["coef"], efron.coef_, atol=1e-4)
    # lifelines only implements Efron ties; on Rossi's heavily tied weeks Breslow differs by
    # more than 1e-4 but stays within 1e-2 — the ordering/direction is the same.
    breslow = CoxPHSurvivalAnalysis(ties="breslow").fit(ROSSI[COVARIATES].astype(float), y)
    np.testing.assert_allclose(ours["coef"], breslow.coef_, atol=1e-2)
    assert np.all(np.sign(ours["coef"]) == np.sign(breslow.coef_))


def test_univariable_one_model_per_covariate() -> None:
    table = cox_univariable(data=ROSSI, time="week", event="arrest", covariates=["age", "prio"])
    assert list(table["model"]) == ["univariable", "univariable"]
    for name in ("age", "prio"):
        ref = CoxPHFitter().fit(ROSSI[["week", "arrest", name]], "week", "arrest").summary
        row = table.set_index("covariate").loc[name]
        assert row["hr"] == pytest.approx(ref.loc[name, "exp(coef)"], rel=1e-12)
        assert row["ci_low"] == pytest.approx(ref.loc[name, "exp(coef) lower 95%"], rel=1e-12)
        assert row["p_value"] == pytest.approx(ref.loc[name, "p"], rel=1e-12)
    # Older age lowers the re-arrest hazard, more priors raise it: the direction is kept.
    assert table.loc[0, "hr"] < 1 < table.loc[1, "hr"]


def test_univariable_uses_complete_cases_per_covariate() -> None:
    data = ROSSI.copy()
    data.loc[:9, "age"] = np.nan
    table = cox_univariable(data=data, time="week", event="arrest", covariates=["age", "prio"])
    assert list(table["n"]) == [422, 432]
    assert table.loc[0, "events"] == int(data.loc[10:, "arrest"].sum())


def test_stratified_model_matches_lifelines_strata() -> None:
    data = ROSSI.assign(centre=np.where(np.arange(len(ROSSI)) % 2 == 0, "A", "B"))
    covs = ["fin", "age", "prio"]
    table = cox_multivariable(data=data, time="week", event="arrest", covariates=covs,
                              strata=["centre"])
    ref = CoxPHFitter().fit(data[["week", "arrest", *covs, "centre"]], "week", "arrest",
                            strata=["centre"]).summary
    np.testing.assert_allclose(table["hr"], ref.loc[covs, "exp(coef)"], rtol=1e-10)
    unstratified = cox_multivariable(data=data, time="week", event="arrest", covariates=covs)
    assert not np.allclose(table["coef"], unstratified["coef"], atol=1e-6)
    assert "centre" not in set(table["covariate"])


def test_boolean_event_column_gives_the_same_fit() -> None:
    data = ROSSI.assign(arrest=ROSSI["arrest"].astype(bool))
    a = cox_multivariable(data=data, time="week", event="arrest", covariates=["age"])
    b = cox_multivariable(data=ROSSI, time="week", event="arrest", covariates=["age"])
    assert a.loc[0, "hr"] == b.loc[0, "hr"]


def test_ph_test_equals_lifelines_rank_transform() -> None:
    table = proportional_hazards_test(data=ROSSI, time="week", event="arrest",
                                      covariates=COVARIATES)
    fitter = CoxPHFitter().fit(ROSSI, "week", "arrest")
    ref = ll_ph_test(fitter, ROSSI, time_transform="rank").summary
    assert list(table["covariate"]) == COVARIATES
    np.testing.assert_allclose(table["statistic"], ref.loc[COVARIATES, "test_statistic"],
                               rtol=1e-10)
    np.testing.assert_allclose(table["p_value"], ref.loc[COVARIATES, "p"], rtol=1e-10)
    # Known violations on Rossi (age, wexp; Fox & Weisberg).
    flagged = set(table.loc[table["p_value"] < 0.05, "covariate"])
    assert flagged == {"age", "wexp"}


def test_non_numeric_covariate_is_refused_with_hint() -> None:
    data = ROSSI.assign(centre="A")
    with pytest.raises(UsageError, match="dummy-encode|Dummy-encode"):
        cox_univariable(data=data, time="week", event="arrest", covariates=["centre"])


def test_missing_column_is_named() -> None:
    with pytest.raises(UsageError, match=r"\['albi'\] are not in 'data'"):
        cox_multivariable(data=ROSSI, time="week", event="arrest", covariates=["albi"])


def test_no_events_is_a_data_error() -> None:
    data = ROSSI.assign(arrest=0)
    with pytest.raises(DataError, match="no events"):
        cox_multivariable(data=data, time="week", event="arrest", covariates=["age"])


def test_status_coded_one_two_is_refused() -> None:
    data = ROSSI.assign(arrest=ROSSI["arrest"] + 1)
    with pytest.raises(DataError, match="must be boolean"):
        cox_multivariable(data=data, time="week", event="arrest", covariates=["age"])


def test_unknown_transform_suggests_the_nearest() -> None:
    with pytest.raises(UsageError, match="did you mean 'rank'"):
        proportional_hazards_test(data=ROSSI, time="week", event="arrest", covariates=["age"],
                                  transform="rnak")


def test_string_covariates_is_refused() -> None:
    with pytest.raises(UsageError, match="non-empty list"):
        cox_multivariable(data=ROSSI, time="week", event="arrest", covariates="age")
    assert isinstance(cox_univariable(data=ROSSI, time="week", event="arrest",
                                      covariates=["age"]), pd.DataFrame)
