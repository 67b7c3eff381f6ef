"""ROC AUC / DeLong / Clopper–Pearson against independent implementations.

References: scikit-learn ``roc_auc_score`` for the AUC; a brute-force O(m·n) computation of the
DeLong (1988) structural components written out below for the variance and the paired
covariance; scipy ``binomtest(...).proportion_ci(method="exact")`` and the endpoints module for
Clopper–Pearson.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, norm
from sklearn.metrics import roc_auc_score

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.binary import clopper_pearson, delong_test, roc_auc


def _brute_components(y, s):
    """DeLong 1988 eq. (structural components) by the pairwise kernel ψ (1, ½ for ties, 0)."""
    x, z = s[y], s[~y]
    psi = (x[:, None] > z[None, :]).astype(float) + 0.5 * (x[:, None] == z[None, :])
    return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)


def _brute_cov(y, a, b):
    auc_a, v10a, v01a = _brute_components(y, a)
    auc_b, v10b, v01b = _brute_components(y, b)
    m, n = v10a.size, v01a.size
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    return auc_a, auc_b, s10 / m + s01 / n


def _data(seed, n=120, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    a = rng.normal(size=n) + 1.0 * y
    b = 0.6 * a + rng.normal(size=n) * 0.8 + 0.3 * y
    if ties:
        a, b = np.round(a), np.round(b * 2) / 2
    return y, a, b


@pytest.mark.parametrize("ties", [False, True])
def test_auc_matches_sklearn_and_variance_matches_brute_force(ties):
    y, a, _ = _data(1, ties=ties)
    r = roc_auc(y_true=y, score=a)
    assert r.auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    auc, v10, v01 = _brute_components(y, a)
    var = v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size
    assert r.variance == pytest.approx(var, rel=1e-10)
    assert r.se == pytest.approx(np.sqrt(var))
    z = norm.ppf(0.975)
    assert r.ci_low == pytest.approx(r.auc - z * r.se)
    assert r.ci_high == pytest.approx(min(1.0, r.auc + z * r.se))
    assert (r.n_positive, r.n_negative) == (int(y.sum()), int((~y).sum()))


def test_hand_example():
    # Cases 0.35, 0.8; controls 0.1, 0.4. Pairs: (0.35>0.1)=1, (0.35>0.4)=0, (0.8>·)=1,1 → 3/4.
    # V10 = [0.5, 1.0], V01 = [1.0, 0.5]; S10 = S01 = 0.125; Var = 0.125/2 + 0.125/2 = 0.125.
    r = roc_auc(y_true=[0, 0, 1, 1], score=[0.1, 0.4, 0.35, 0.8])
    assert r.auc == 0.75
    assert r.variance == pytest.approx(0.125)


@pytest.mark.parametrize("ties", [False, True])
def test_paired_delong_matches_brute_force(ties):
    y, a, b = _data(7, ties=ties)
    res = delong_test(y_true=y, score_a=a, score_b=b)
    auc_a, auc_b, cov = _brute_cov(y, a, b)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    assert res.auc_a == pytest.approx(auc_a)
    assert res.auc_b == pytest.approx(auc_b)
    assert res.variance == pytest.approx(var, rel=1e-10)
    z = (auc_a - auc_b) / np.sqrt(var)
    assert res.z == pytest.approx(z)
    assert res.p_value == pytest.approx(2 * norm.sf(abs(z)))
    # Correlated scores: the paired variance is smaller than the independent sum.
    assert res.variance < cov[0, 0] + cov[1, 1]


def test_delong_identical_scores_gives_nan_p_and_zero_difference():
    y, a, _ = _data(3)
    res = delong_test(y_true=y, score_a=a, score_b=a.copy())
    assert res.difference == 0.0
    assert np.isnan(res.p_value)


def test_delong_is_antisymmetric():
    y, a, b = _data(11)
    ab = delong_test(y_true=y, score_a=a, score_b=b)
    ba = delong_test(y_true=y, score_a=b, score_b=a)
    assert ab.z == pytest.approx(-ba.z)
    assert ab.p_value == pytest.approx(ba.p_value)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=4, max_size=40))
def test_auc_negation_symmetry_and_range(rows):
    y = np.array([r[0] for r in rows])
    if y.all() or not y.any():
        return
    s = np.array([r[1] for r in rows], dtype=float)
    r, rn = roc_auc(y_true=y, score=s), roc_auc(y_true=y, score=-s)
    assert 0.0 <= r.auc <= 1.0
    assert r.auc + rn.auc == pytest.approx(1.0)
    assert r.variance == pytest.approx(rn.variance, abs=1e-12)
    assert r.auc == pytest.approx(roc_auc_score(y, s))


def test_one_class_is_a_data_error():
    with pytest.raises(DataError, match="one case and one control"):
        roc_auc(y_true=[1, 1, 1], score=[0.1, 0.2, 0.3])


def test_bad_labels_and_shapes():
    with pytest.raises(UsageError, match="'y_true' parameter of roc_auc must be boolean or 0/1"):
        roc_auc(y_true=[1, 2, 0], score=[0.1, 0.2, 0.3])
    with pytest.raises(UsageError, match="'score' parameter of roc_auc must have shape"):
        roc_auc(y_true=[1, 0, 0], score=[0.1, 0.2])
    with pytest.raises(DataError, match="NaN"):
        roc_auc(y_true=[1, 0, 0], score=[0.1, np.nan, 0.3])
    with pytest.raises(UsageError, match="'confidence' parameter"):
        roc_auc(y_true=[1, 0], score=[0.1, 0.2], confidence=95)


@pytest.mark.parametrize("x,n", [(0, 10), (3, 10), (10, 10), (90, 150), (130, 150)])
def test_clopper_pearson_matches_scipy_and_endpoints(x, n):
    from hccfusion.endpoints.rates import clopper_pearson as cp_endpoints

    ci = clopper_pearson(successes=x, n=n)
    ref = binomtest(x, n).proportion_ci(confidence_level=0.95, method="exact")
    assert ci.ci_low == pytest.approx(ref.low, abs=1e-10)
    assert ci.ci_high == pytest.approx(ref.high, abs=1e-10)
    other = cp_endpoints(successes=x, n=n)
    assert (ci.ci_low, ci.ci_high) == pytest.approx((other.ci_low, other.ci_high))


def test_clopper_pearson_domain_example_e15():
    # domain.md §1.12 E15: ORR 90/150 = 60.0 % (51.7–67.9).
    ci = clopper_pearson(successes=90, n=150)
    assert round(ci.ci_low * 100, 1) == 51.7
    assert round(ci.ci_high * 100, 1) == 67.9


def test_clopper_pearson_rejects_bad_counts():
    with pytest.raises(UsageError, match="0 <= successes <= n"):
        clopper_pearson(successes=11, n=10)
    with pytest.raises(UsageError, match="0 <= successes <= n"):
        clopper_pearson(successes=1.5, n=10)
