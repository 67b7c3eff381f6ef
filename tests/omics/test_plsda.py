"""PLS-DA / OPLS-DA: parity with scikit-learn, VIP by hand, permutation test, known answer on the
simulated cohort, and named failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.plsda import oplsda, plsda, plsda_permutation_test

ORDER = ("low", "high")


def _data(n: int = 40, p: int = 15, effect: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0.0, 1.0], n // 2)
    x = rng.normal(0.0, 1.0, (n, p)) * rng.uniform(0.5, 2.0, p)
    x[:, :3] += effect * y[:, None] * np.array([1.0, -0.8, 0.6])
    x[:, 5] += rng.normal(0.0, 3.0, n)  # large y-orthogonal variation
    samples = pd.Index([f"S{i:02d}" for i in range(n)], name="sample_id")
    frame = pd.DataFrame(x, index=samples, columns=[f"F{j:02d}" for j in range(p)])
    groups = pd.Series(np.where(y == 1, "high", "low"), index=samples)
    return frame, groups, y


def _reference_q2(x: np.ndarray, y: np.ndarray, folds: np.ndarray, n_components: int,
                  scaling: str) -> float:
    """Q² = 1 − PRESS/TSS from scikit-learn's PLSRegression on the same folds."""
    from sklearn.cross_decomposition import PLSRegression

    prediction = np.empty_like(y)
    for k in np.unique(folds):
        test = folds == k
        scale = np.ones(x.shape[1])
        if scaling == "pareto":
            scale = np.sqrt(x[~test].std(axis=0, ddof=1))
        model = PLSRegression(n_components=n_components, scale=False)
        model.fit(x[~test] / scale, y[~test])
        prediction[test] = model.predict(x[test] / scale).ravel()
    return 1.0 - ((y - prediction) ** 2).sum() / ((y - y.mean()) ** 2).sum()


@pytest.mark.parametrize("n_components", [1, 2, 3])
@pytest.mark.parametrize("scaling", ["none", "pareto"])
def test_q2_matches_scikit_learn_reference(n_components, scaling):
    x, groups, y = _data()
    res = plsda(x, groups, order=ORDER, n_components=n_components, scaling=scaling, seed=3)
    assert np.bincount(res.folds).tolist() == [6, 6, 6, 6, 6, 5, 5]  # 7 stratified folds
    ref = _reference_q2(x.to_numpy(), y, res.folds, n_components, scaling)
    assert res.q2 == pytest.approx(ref, abs=1e-9)


def test_r2y_and_scores_match_scikit_learn():
    from sklearn.cross_decomposition import PLSRegression

    x, groups, y = _data(seed=1)
    res = plsda(x, groups, order=ORDER, n_components=2, scaling="none")
    ref = PLSRegression(n_components=2, scale=False).fit(x.to_numpy(), y)
    fitted = ref.predict(x.to_numpy()).ravel()
    assert res.r2y == pytest.approx(1 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    np.testing.assert_allclose(np.abs(res.scores.to_numpy()), np.abs(ref.x_scores_), atol=1e-9)


def test_vip_matches_hand_formula_on_tiny_matrix():
    x = pd.DataFrame([[1.0, 2.0, 0.5], [2.0, 1.0, 0.3], [3.0, 4.0, 0.9], [4.0, 3.0, 0.1],
                      [5.0, 7.0, 0.4], [6.0, 5.0, 0.8]],
                     index=[f"S{i}" for i in range(6)], columns=["a", "b", "c"])
    groups = pd.Series(["low"] * 3 + ["high"] * 3, index=x.index)
    res = plsda(x, groups, order=ORDER, n_components=2, n_folds=3, scaling="none")
    # Hand computation: NIPALS PLS1 written out in full, then Wold's VIP.
    xc = x.to_numpy() - x.to_numpy().mean(axis=0)
    yc = np.array([0, 0, 0, 1, 1, 1.0]) - 0.5
    ssy, w2 = [], []
    for _ in range(2):
        w = xc.T @ yc / np.sqrt((xc.T @ yc) @ (xc.T @ yc))
        t = xc @ w
        q = (yc @ t) / (t @ t)
        ssy.append(q * q * (t @ t))
        w2.append(w ** 2)
        xc = xc - np.outer(t, xc.T @ t / (t @ t))
        yc = yc - q * t
    vip = np.sqrt(3 * (np.array(w2).T @ np.array(ssy)) / sum(ssy))
    np.testing.assert_allclose(res.vip.to_numpy(), vip, rtol=1e-10)
    assert (res.vip.to_numpy() ** 2).mean() == pytest.approx(1.0)  # VIP's defining property


def test_opls_equals_pls_with_one_more_component():
    x, groups, y = _data(effect=2.0, seed=2)
    for k in (2, 1):
        opls = oplsda(x, groups, order=ORDER, n_orthogonal=k, scaling="pareto", seed=5)
        pls = plsda(x, groups, order=ORDER, n_components=k + 1, scaling="pareto", seed=5)
        assert opls.q2 == pytest.approx(pls.q2, abs=1e-9)
        assert opls.r2y == pytest.approx(pls.r2y, abs=1e-9)
        # Orthogonal scores carry no class information; the predictive score does.
        yc = y - y.mean()
        assert np.abs(opls.orthogonal_scores.to_numpy().T @ yc).max() < 1e-8
        assert abs(np.corrcoef(opls.predictive_scores, y)[0, 1]) > 0.5
    # The large y-orthogonal feature F05 loads on the orthogonal, not the predictive, direction.
    assert abs(opls.correlation_loadings["F05"]) < 0.3
    assert opls.correlation_loadings.abs().idxmax() in {"F00", "F01", "F02"}


def test_permutation_test_formula_and_power():
    x, groups, _ = _data(n=30, effect=2.0)
    res = plsda_permutation_test(x, groups, order=ORDER, n_permutations=50, n_components=1,
                                 seed=1)
    assert res.p_value == (1 + (res.q2_permuted >= res.q2).sum()) / 51
    assert res.p_value == pytest.approx(1 / 51) and res.q2 > 0.3
    noise, _, _ = _data(n=30, effect=0.0, seed=4)
    null = plsda_permutation_test(noise, groups, order=ORDER, n_permutations=50,
                                  n_components=1, seed=1)
    assert null.q2 < 0.1 and null.p_value > 0.05


# --- bad input -------------------------------------------------------------------------------

def test_group_with_fewer_than_three_samples_is_a_named_error():
    x, groups, _ = _data(n=20)
    groups = pd.Series(["low"] * 18 + ["high"] * 2, index=x.index)
    with pytest.raises(DataError, match=r"group 'high' has 2 samples; plsda needs at least 3"):
        plsda(x, groups, order=ORDER)
    with pytest.raises(DataError, match=r"group 'high' has 2 samples; oplsda"):
        oplsda(x, groups, order=ORDER)


def test_bad_arguments():
    x, groups, _ = _data(n=20)
    with pytest.raises(UsageError, match="unknown scaling 'paretto'; did you mean 'pareto'"):
        plsda(x, groups, order=ORDER, scaling="paretto")
    with pytest.raises(UsageError, match=r"'n_folds' parameter of plsda must be an integer in "
                                         r"\[2, 10\]"):
        plsda(x, groups, order=ORDER, n_folds=11)
    with pytest.raises(UsageError, match="'order' parameter"):
        plsda(x, groups, order=("low", "low"))
    with pytest.raises(DataError, match="label 'mid'"):
        plsda(x, groups.replace({"low": "mid"}), order=ORDER)
    x.iloc[4, 2] = np.nan
    with pytest.raises(DataError, match=r"sample_id 'S04', feature 'F02' is nan"):
        plsda(x, groups, order=ORDER)


# --- known answer on the simulated cohort -------------------------------------------------------

@pytest.fixture(scope="module", params=[4, 11])
def simulated(request):
    from hccfusion.omics.metabolomics import (
        FeatureFilter,
        HalfMinimumImputer,
        PQNNormalizer,
    )
    from hccfusion.simulate.latent import simulate_latent
    from hccfusion.simulate.omics import simulate_omics

    seed = request.param
    latent = simulate_latent(n_patients=180, seed=seed, prospective_share=1.0,
                             screen_failure_share=0.0).latent
    omics = simulate_omics(latent=latent, seed=seed)
    injections = omics.metabolomics_injections.set_index("injection_id")
    peaks = omics.metabolomics
    kind = injections.loc[peaks.index, "sample_type"].to_numpy()
    qc, samples = peaks[kind == "qc"], peaks[kind == "sample"]
    samples.index = pd.Index(injections.loc[samples.index, "sample_id"], name="sample_id")
    patient = injections.set_index("sample_id").loc[samples.index, "patient_id"]
    # Latent-derived risk: proliferation and hypoxia both raise the simulator's lp_os; the
    # planted metabolites load on them. (lp_os itself mixes in immune/wnt/clinical terms and
    # separates the metabolome too weakly for a stable Q² > 0 at this size — see report.)
    factors = latent.set_index("patient_id")[["proliferation", "hypoxia"]].astype(float)
    risk = ((factors - factors.mean()) / factors.std()).sum(axis=1)
    high = risk.loc[patient].to_numpy() > risk.median()
    groups = pd.Series(np.where(high, "high", "low"), index=samples.index)

    kept = FeatureFilter(max_qc_rsd=0.30, max_missing=0.5).fit(samples, qc=qc)
    complete = HalfMinimumImputer().fit(kept.transform(samples))
    imputed = complete.transform(kept.transform(samples))
    normalised = PQNNormalizer().fit(imputed).transform(imputed)
    truth = omics.metabolomics_truth
    return {"normalised": normalised, "groups": groups, "filter": kept,
            "planted": set(truth.loc[truth["planted"], "feature_id"]),
            "bad": set(truth.loc[truth["bad_feature"], "feature_id"])}


def test_simulated_planted_metabolites_separate_risk_groups(simulated):
    from hccfusion.omics.metabolomics import volcano_table

    normalised, groups = simulated["normalised"], simulated["groups"]
    assert len(normalised) > 150
    # The QC-RSD filter removes the simulator's high-noise features, no planted one.
    report = simulated["filter"].report_.set_index("feature")
    dropped_rsd = set(report.index[report["reason"] == "qc_rsd"])
    assert len(dropped_rsd & simulated["bad"]) / len(simulated["bad"]) > 0.9
    assert not dropped_rsd & simulated["planted"]

    logged = np.log2(normalised)
    model = plsda(logged, groups, order=ORDER, n_components=1, seed=0)
    perm = plsda_permutation_test(logged, groups, order=ORDER, n_permutations=99,
                                  n_components=1, seed=0)
    assert model.q2 > 0.1 and perm.q2 == pytest.approx(model.q2)
    assert perm.p_value < 0.05
    assert set(model.vip.sort_values(ascending=False).index[:5]) <= simulated["planted"]
    volcano = volcano_table(normalised, groups, order=ORDER, vip=model.vip)
    assert set(volcano.sort_values("p")["feature"].iloc[:5]) <= simulated["planted"]
    significant = set(volcano.loc[volcano["q"] < 0.05, "feature"])
    assert len(significant) >= 3
    assert len(significant & simulated["planted"]) / len(significant) >= 0.9
    assert set(volcano.loc[volcano["differential"], "feature"]) <= significant
