"""simulate_latent: the contract, determinism, per-patient streams, argument checks."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import UsageError
from hccfusion.simulate.latent import CONTRACT_COLUMNS, simulate_latent

LESION_COLUMNS = ("patient_id", "lesion_id", "diameter_mm_baseline", "diameter_mm_followup",
                  "viable_mm_baseline", "viable_mm_followup", "necrosis_fraction_baseline",
                  "necrosis_fraction_followup", "arterial_enhancement_hu", "washout",
                  "margin_irregularity")


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def test_contract_columns_first_and_in_order(truth_small):
    assert tuple(truth_small.latent.columns[:len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    assert set(LESION_COLUMNS) <= set(truth_small.lesions.columns)
    lat = truth_small.latent
    assert lat["patient_id"].is_unique
    assert set(lat["center"]) == {"WX", "NJ"}
    assert lat["pvtt_class"].between(0, 4).all()
    assert set(lat["ia_modality"]) <= {"TACE", "HAIC"}
    assert lat["p_response"].between(0, 1).all()


def test_lesion_truth_is_coherent(truth_small):
    les = truth_small.lesions
    assert (les["viable_mm_baseline"] <= les["diameter_mm_baseline"]).all()
    assert (les["viable_mm_followup"] <= les["diameter_mm_followup"] + 1e-9).all()
    assert les["necrosis_fraction_baseline"].between(0, 1).all()
    assert les["arterial_enhancement_hu"].between(30, 90).all()
    first = les.groupby("patient_id").first()
    largest = truth_small.latent.set_index("patient_id")["largest_diameter_mm"]
    assert np.allclose(first["diameter_mm_baseline"], largest.loc[first.index])
    # targets: viable >= 10 mm at baseline, at most 2 per patient (domain.md §1.2, §10)
    targets = les[les["target"]]
    assert (targets["viable_mm_baseline"] >= 10).all()
    assert targets.groupby("patient_id").size().max() <= 2


def test_same_seed_identical_bytes_and_other_seed_differs():
    a = simulate_latent(n_patients=40, seed=5)
    b = simulate_latent(n_patients=40, seed=5)
    c = simulate_latent(n_patients=40, seed=6)
    for name in ("latent", "lesions", "outcomes", "exams", "lesion_exams"):
        assert _parquet(getattr(a, name)) == _parquet(getattr(b, name)), name
    assert not a.latent["burden"].equals(c.latent["burden"])
    assert not a.outcomes["os_days"].equals(c.outcomes["os_days"])


def test_patient_draws_do_not_depend_on_cohort_size():
    small = simulate_latent(n_patients=20, seed=3).latent.set_index("patient_id")
    big = simulate_latent(n_patients=50, seed=3).latent.set_index("patient_id")
    shared = [p for p in small.index if small.at[p, "cohort"] == big.at[p, "cohort"]]
    assert len(shared) >= 10
    cols = ["burden", "immune", "proliferation", "pvtt_class", "afp_ng_ml", "lp_os"]
    pd.testing.assert_frame_equal(small.loc[shared, cols], big.loc[shared, cols])


def test_prospective_share_and_accrual_windows():
    truth = simulate_latent(n_patients=100, seed=1, prospective_share=0.2)
    lat = truth.latent
    pro = lat[lat["cohort"] == "prospective"]
    assert len(pro) == 20
    assert (pro["t0"] >= "2025-10-01").all() and (pro["t0"] <= "2026-06-30").all()
    retro = lat[lat["cohort"] == "retrospective"]
    short = retro["screen_failure"] == "followup_3_months"  # planted: T0 < cut-off − 90 days
    assert short.any()
    assert (retro.loc[short, "t0"] > "2026-04-01").all()
    retro = retro[~short]
    assert (retro["t0"] >= "2019-01-01").all() and (retro["t0"] <= "2024-12-31").all()
    # default: 150 prospective when n allows (domain.md §0), 30 % otherwise
    assert (simulate_latent(n_patients=30, seed=1).latent["cohort"] == "prospective").sum() == 9


def test_cutoff_censors_everything():
    truth = simulate_latent(n_patients=80, seed=2, cutoff=pd.Timestamp("2025-12-31").date())
    o = truth.outcomes
    cutoff = pd.Timestamp("2025-12-31")
    assert (o["last_contact_date"] <= cutoff).all()
    assert (o["death_date"].dropna() <= cutoff).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"n_patients": 0}, "n_patients"),
    ({"n_patients": 10, "n_centers": 3}, "n_centers"),
    ({"n_patients": 10, "prospective_share": 1.5}, "prospective_share"),
    ({"n_patients": 10, "cutoff": pd.Timestamp("2019-03-01").date()}, "cutoff"),
])
def test_bad_arguments_raise_usage_error(kwargs, match):
    with pytest.raises(UsageError, match=match):
        simulate_latent(seed=0, **kwargs)
