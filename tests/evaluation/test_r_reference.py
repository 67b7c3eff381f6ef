"""Median survival and maximally selected log-rank cut-offs against R.

Reference values: ``tests/evaluation/reference/r_reference.json``, written by
``make_r_reference.R`` (R, survival, maxstat versions recorded in the JSON) from the CSVs that
``export_data.py`` exported from lifelines (waltons, rossi) and scikit-survival (veterans).
R is not needed to run these tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccfusion.evaluation.cutoffs import MaxStatCutoff, lausen_schumacher_p
from hccfusion.evaluation.survival_curves import median_survival

REF = Path(__file__).resolve().parent / "reference"
R = json.loads((REF / "r_reference.json").read_text())
MAXSTAT_DATA = {"rossi_age": ("rossi", "age"), "rossi_prio": ("rossi", "prio"),
                "veterans_karnofsky": ("veterans", "karnofsky")}


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"{name}.csv")


def _same(ours: float, ref: float | None) -> bool:
    """R's NA ("not reached") is JSON null and our NaN."""
    return math.isnan(ours) if ref is None else ours == pytest.approx(ref, abs=1e-6)


def test_reference_records_its_provenance():
    assert R["generated_by"].endswith("make_r_reference.R")
    assert R["survival_version"] and R["maxstat_version"] and R["r_version"]


@pytest.mark.parametrize("name", ["waltons", "rossi", "veterans"])
def test_median_and_brookmeyer_crowley_ci_match_r_survfit_loglog(name):
    """R ``summary(survfit(Surv(time, event) ~ group, conf.type = "log-log"))$table``:
    median, 0.95LCL, 0.95UCL per group and for the whole cohort. Rossi never reaches 0.5
    (all NA); veterans' "test" arm has a median on a flat piece at exactly 0.5 (52.5)."""
    df = _data(name)
    by_group = median_survival(time=df["time"], event=df["event"].astype(bool),
                               group=df["group"]).table
    overall = median_survival(time=df["time"], event=df["event"].astype(bool)).table
    ours = pd.concat([by_group, overall], ignore_index=True).set_index("group")
    for ref in R["median_survival"][name]:
        row = ours.loc[ref["group"]]
        assert (row["n"], row["n_events"]) == (ref["n"], ref["n_events"])
        for col in ("median", "ci_low", "ci_high"):
            assert _same(float(row[col]), ref[col]), (ref["group"], col, row[col], ref[col])


@pytest.mark.parametrize("key", list(MAXSTAT_DATA))
def test_maxstat_cutpoint_and_admissible_cuts_match_r(key):
    """The selected cut-point equals R's ``estimate`` exactly, and the admissible set
    (⌊N·minprop⌋ <= #{x <= c} <= ⌊N·maxprop⌋) equals R's ``cuts``."""
    name, col = MAXSTAT_DATA[key]
    df, ref = _data(name), R["maxstat"][key]
    fit = MaxStatCutoff(minprop=0.1, maxprop=0.9).fit(
        time=df["time"].to_numpy(float), event=df["event"].to_numpy(bool),
        risk=df[col].to_numpy(float))
    assert fit.cutoffs_.tolist() == [ref["cutpoint"]]
    # the admissible set: shifting minprop/maxprop by R's floor rule must not change it
    x = np.sort(df[col].to_numpy(float))
    values = np.unique(x)[:-1]
    left = np.searchsorted(x, values, side="right")
    n = x.size
    ours = values[(left >= max(1, math.floor(0.1 * n))) & (left <= math.floor(0.9 * n))]
    assert ours.tolist() == ref["cuts"]
    assert fit.p_value_ == lausen_schumacher_p(fit.statistic_, minprop=0.1, maxprop=0.9)


@pytest.mark.parametrize("key", list(MAXSTAT_DATA))
def test_lausen_schumacher_p_matches_r_pLausen92(key):
    """Our Lau92 formula applied to R's statistic gives R's p-value."""
    ref = R["maxstat"][key]
    assert lausen_schumacher_p(ref["statistic"], minprop=0.1, maxprop=0.9) == pytest.approx(
        ref["p_value"], rel=1e-10)


@pytest.mark.parametrize("key", list(MAXSTAT_DATA))
def test_maxstat_statistic_and_p_match_r(key):
    """R ``maxstat`` standardises the sum of ``exactRankTests::cscores`` log-rank scores with the
    permutation variance m (N − m) / (N² (N − 1)) · (N Σa² − (Σa)²); ``MaxStatCutoff`` does the
    same, so statistic and Lausen–Schumacher p equal R's."""
    name, col = MAXSTAT_DATA[key]
    df, ref = _data(name), R["maxstat"][key]
    fit = MaxStatCutoff().fit(time=df["time"].to_numpy(float),
                              event=df["event"].to_numpy(bool), risk=df[col].to_numpy(float))
    assert fit.cutoffs_[0] == ref["cutpoint"]
    assert fit.statistic_ == pytest.approx(ref["statistic"], abs=1e-4)
    assert fit.p_value_ == pytest.approx(ref["p_value"], abs=1e-3, rel=1e-4)
