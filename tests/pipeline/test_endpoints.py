"""The endpoints job on a simulated cohort: derived responses and survival agree with the
simulator's ground truth, and the tables are mutually consistent."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from hccfusion.io.schema import coerce_table
from hccfusion.pipeline.endpoints import derive_endpoints
from hccfusion.simulate.crf_tables import crf_tables
from hccfusion.simulate.latent import simulate_latent

CUTOFF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def derived():
    truth = simulate_latent(n_patients=120, seed=7, cutoff=CUTOFF)
    tables = {name: coerce_table(name, frame) for name, frame in crf_tables(truth).items()}
    return truth, derive_endpoints(tables, cutoff=CUTOFF)


def test_best_response_matches_the_truth(derived) -> None:
    truth, results = derived
    bor = results.tables["best_response"]
    final = bor[(bor["reader"] == "final") & (bor["criterion"] == "mrecist")]
    merged = final.merge(truth.outcomes[["patient_id", "bor_mrecist"]], on="patient_id")
    assert len(merged) >= 100
    assert (merged["bor_unconfirmed"] == merged["bor_mrecist"]).mean() >= 0.95


def test_survival_matches_the_truth(derived) -> None:
    truth, results = derived
    surv = results.tables["survival"]
    os_ = surv[surv["endpoint"] == "OS"].merge(truth.outcomes, on="patient_id")
    assert (os_["time"] == os_["os_days"]).mean() >= 0.95
    assert (os_["event"] == os_["os_event"]).mean() >= 0.95
    pfs = surv[(surv["endpoint"] == "PFS") & (surv["criterion"] == "mrecist")]
    pfs = pfs.merge(truth.outcomes, on="patient_id")
    assert (pfs["event"] == pfs["pfs_event"]).mean() >= 0.9


def test_tables_agree_with_each_other(derived) -> None:
    _, results = derived
    surv = results.tables["survival"]
    wide = surv[surv["endpoint"].isin(["OS", "PFS"])].pivot_table(
        index="patient_id", columns=["endpoint", "criterion"], values="time", dropna=False)
    os_time = surv[surv["endpoint"] == "OS"].set_index("patient_id")["time"]
    for criterion in ("mrecist", "recist11"):
        pfs = surv[(surv["endpoint"] == "PFS") & (surv["criterion"] == criterion)]
        pfs = pfs.set_index("patient_id")["time"]
        assert (pfs <= os_time.reindex(pfs.index)).all()
    assert len(wide) > 0
    rates = results.tables["response_rates"]
    overall = rates[(rates["cohort"] == "all") & (rates["center"] == "all")
                    & (rates["criterion"] == "mrecist")].set_index("endpoint")
    assert overall.loc["CR", "n_events"] <= overall.loc["ORR", "n_events"] <= overall.loc["DCR", "n_events"]
    assert overall.loc["ORR", "n_patients"] == results.summary["rates"]["mrecist_ORR"]["n"]
    assert results.summary["eligible"] <= results.summary["patients"] == 120
    medians = results.summary["medians"]
    assert medians["os"]["n"] == results.summary["eligible"]


def test_write_round_trips(derived, tmp_path) -> None:
    _, results = derived
    written = results.write(tmp_path)
    assert {p.name for p in written} >= {"timepoints.parquet", "survival.parquet",
                                         "response_rates.parquet", "summary.json"}
    back = pd.read_parquet(tmp_path / "response_rates.parquet")
    assert len(back) == len(results.tables["response_rates"])
