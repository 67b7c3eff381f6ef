"""log-CPM and the rank-based single-sample pathway score (Foroutan et al. 2018)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.pathway_scores import log_cpm, rank_scores


def _counts() -> pd.DataFrame:
    return pd.DataFrame([[10, 0, 90, 900], [0, 5, 5, 0], [1, 2, 3, 4]],
                        index=pd.Index(["s1", "s2", "s3"], name="sample_id"),
                        columns=["A", "B", "C", "D"], dtype=float)


# --------------------------------------------------------------------------- log_cpm

def test_log_cpm_matches_the_edger_formula_by_hand():
    counts = _counts()
    out = log_cpm(counts, prior_count=2.0)
    lib = np.array([1000.0, 10.0, 10.0])
    prior = 2.0 * lib / lib.mean()  # edgeR: prior.count scaled by library size / mean size
    # sample s1, gene A: log2((10 + p) / (1000 + 2p) * 1e6)
    assert out.loc["s1", "A"] == pytest.approx(np.log2((10 + prior[0]) / (1000 + 2 * prior[0])
                                                       * 1e6), rel=1e-12)
    # a zero count stays finite through the prior
    assert out.loc["s2", "A"] == pytest.approx(np.log2(prior[1] / (10 + 2 * prior[1]) * 1e6),
                                               rel=1e-12)
    assert list(out.index) == ["s1", "s2", "s3"] and list(out.columns) == list("ABCD")


def test_log_cpm_of_equal_libraries_is_log2_cpm_with_the_plain_prior():
    counts = pd.DataFrame([[1.0, 3.0, 6.0], [2.0, 2.0, 6.0]], index=["a", "b"],
                          columns=["g1", "g2", "g3"])
    out = log_cpm(counts, prior_count=0.5)
    want = np.log2((counts.to_numpy() + 0.5) / (10.0 + 1.0) * 1e6)
    np.testing.assert_allclose(out.to_numpy(), want, rtol=1e-12)


def test_log_cpm_is_per_sample_scale_free():
    counts = _counts()
    # a sample sequenced 10x deeper has the same CPM (up to the prior's share)
    deep = counts.copy()
    deep.loc["s1"] *= 10
    a, b = log_cpm(counts, prior_count=1e-9), log_cpm(deep, prior_count=1e-9)
    np.testing.assert_allclose(a.loc["s1", ["A", "C", "D"]], b.loc["s1", ["A", "C", "D"]],
                               atol=1e-6)


@pytest.mark.parametrize("value", [-1.0, np.nan, np.inf])
def test_log_cpm_names_a_bad_count(value):
    counts = _counts()
    counts.loc["s2", "C"] = value
    with pytest.raises(DataError, match=r"gene C in sample s2"):
        log_cpm(counts)


def test_log_cpm_names_an_empty_sample():
    counts = _counts()
    counts.loc["s3"] = 0.0
    with pytest.raises(DataError, match="sample s3 has no counts"):
        log_cpm(counts)


# --------------------------------------------------------------------------- rank_scores

def _expression(n_samples: int = 6, n_genes: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n_samples, n_genes)),
                        index=[f"s{i}" for i in range(n_samples)],
                        columns=[f"G{j}" for j in range(n_genes)])


def test_rank_score_of_a_hand_example():
    # one sample, genes ranked 1..5 by value; the set {d, e} has ranks 4, 5 → mean 4.5
    expr = pd.DataFrame([[1.0, 2.0, 3.0, 4.0, 5.0]], index=["x"], columns=list("abcde"))
    out = rank_scores(expr, {"top": ["d", "e"], "ties": ["a", "b"]}, min_size=2)
    assert out.loc["x", "top"] == pytest.approx(4.5 / 5 - 6 / 10)
    assert out.loc["x", "ties"] == pytest.approx(1.5 / 5 - 6 / 10)
    # tied values get the average rank
    tied = pd.DataFrame([[1.0, 1.0, 3.0, 4.0, 5.0]], index=["x"], columns=list("abcde"))
    assert rank_scores(tied, {"s": ["a", "c"]}, min_size=2).loc["x", "s"] == \
        pytest.approx((1.5 + 3) / 2 / 5 - 0.6)


def test_planted_top_genes_score_near_half_and_a_random_set_near_zero():
    expr = _expression(n_samples=8, n_genes=400)
    top = [f"G{j}" for j in range(20)]
    expr[top] += 100.0  # the 20 most expressed genes of every sample
    rng = np.random.default_rng(1)
    random_set = list(rng.choice([f"G{j}" for j in range(20, 400)], size=40, replace=False))
    bottom = [f"G{j}" for j in range(20, 40)]
    expr[bottom] -= 100.0
    out = rank_scores(expr, {"top": top, "random": random_set, "bottom": bottom})
    # top 20 of 400: mean rank 390.5 → 390.5/400 − 401/800 = 0.475
    np.testing.assert_allclose(out["top"], 390.5 / 400 - 401 / 800, atol=1e-12)
    np.testing.assert_allclose(out["bottom"], 10.5 / 400 - 401 / 800, atol=1e-12)
    assert (out["top"] > 0.45).all() and (out["bottom"] < -0.45).all()
    assert out["random"].abs().max() < 0.12
    assert abs(out["random"].mean()) < 0.05


def test_a_samples_score_does_not_depend_on_the_other_samples():
    expr = _expression(n_samples=6)
    sets = {"a": [f"G{j}" for j in range(0, 30)], "b": [f"G{j}" for j in range(50, 90, 2)]}
    together = rank_scores(expr, sets)
    alone = rank_scores(expr.loc[["s3"]], sets)
    others = _expression(4, seed=9).rename(index=lambda s: "other_" + s)
    with_others = rank_scores(pd.concat([expr.loc[["s3"]], others]), sets)
    pd.testing.assert_frame_equal(alone, together.loc[["s3"]], check_exact=True)
    pd.testing.assert_series_equal(with_others.loc["s3"], together.loc["s3"], check_exact=True)


def test_rank_scores_are_invariant_to_a_monotone_rescaling_of_a_sample():
    expr = _expression(n_samples=3) + 10.0
    sets = {"a": [f"G{j}" for j in range(15)]}
    rescaled = expr.copy()
    rescaled.loc["s1"] = np.log(rescaled.loc["s1"])
    pd.testing.assert_frame_equal(rank_scores(expr, sets), rank_scores(rescaled, sets))


def test_missing_genes_are_ignored_and_small_sets_left_out():
    expr = _expression(n_samples=2, n_genes=50)
    sets = {"partly": ["G1", "G2", "G3", "G4", "G5", "NOPE1", "NOPE2"],
            "small": ["G1", "G2", "NOPE"], "dup": ["G7"] * 6 + ["G8", "G9", "G10"]}
    out = rank_scores(expr, sets)
    # "dup" lists 9 genes but only 4 distinct ones: a repeated gene counts once
    assert list(out.columns) == ["partly"]
    assert list(out.index) == ["s0", "s1"]
    ref = rank_scores(expr, {"partly": ["G1", "G2", "G3", "G4", "G5"]})
    pd.testing.assert_frame_equal(out, ref)


def test_rank_scores_errors_are_named():
    expr = _expression(n_samples=2, n_genes=20)
    with pytest.raises(UsageError, match="The 'min_size' parameter of rank_scores"):
        rank_scores(expr, {"a": ["G1"]}, min_size=0)
    with pytest.raises(DataError, match="no gene set has 5 or more genes"):
        rank_scores(expr, {"a": ["X1", "X2"]})
    bad = expr.copy()
    bad.loc["s1", "G4"] = np.nan
    with pytest.raises(DataError, match="gene G4 in sample s1 is not finite"):
        rank_scores(bad, {"a": [f"G{j}" for j in range(10)]})
    dup = expr.copy()
    dup.columns = ["G0"] + list(expr.columns[1:-1]) + ["G0"]
    with pytest.raises(DataError, match="gene G0 appears twice"):
        rank_scores(dup, {"a": [f"G{j}" for j in range(10)]})
