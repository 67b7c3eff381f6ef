"""Binary discrimination: ROC AUC with DeLong variance, the paired DeLong test, and the
Clopper–Pearson interval of a proportion (domain.md §7.3: "For ORR (binary), ROC AUC with DeLong
CI and DeLong test for paired AUCs").

The DeLong variance uses the fast algorithm of Sun & Xu (2014): the structural components
(placements) of DeLong, DeLong & Clarke-Pearson (1988) are obtained from three mid-rankings
instead of the O(m·n) pairwise kernel, so the cost is O((m + n) log(m + n)) per score.

``clopper_pearson`` is a small standalone copy of the exact interval in
``hccfusion.endpoints.rates`` (``evaluation`` must not import ``endpoints``); a test pins the
two to each other and to scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hccfusion.errors import DataError, UsageError

__all__ = ["RocAuc", "DelongComparison", "BinomialCI", "roc_auc", "delong_test",
           "clopper_pearson"]


@dataclass(frozen=True)
class RocAuc:
    """A ROC AUC with its DeLong variance and Wald confidence interval.

    Attributes
    ----------
    auc
        Area under the ROC curve, P(score_case > score_control) + 0.5 P(tie).
    variance, se
        DeLong (1988) variance of ``auc`` and its square root.
    ci_low, ci_high
        ``auc ± z_{1-α/2} · se``, clipped to [0, 1] (as R ``pROC::ci.auc(method="delong")``).
    confidence
        Nominal two-sided coverage.
    n_positive, n_negative
        Number of cases (``y_true`` True) and controls.
    """

    auc: float
    variance: float
    se: float
    ci_low: float
    ci_high: float
    confidence: float
    n_positive: int
    n_negative: int


@dataclass(frozen=True)
class DelongComparison:
    """The paired DeLong test of two correlated AUCs measured on the same patients.

    Attributes
    ----------
    auc_a, auc_b
        The two AUCs.
    difference
        ``auc_a - auc_b``.
    variance, se
        DeLong variance of the difference, Var(A) + Var(B) − 2 Cov(A, B).
    ci_low, ci_high
        Wald interval of the difference.
    z, p_value
        ``difference / se`` and its two-sided normal p-value (NaN when ``se`` is 0).
    confidence
        Nominal coverage of the interval.
    n_positive, n_negative
        Number of cases and controls.
    """

    auc_a: float
    auc_b: float
    difference: float
    variance: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    confidence: float
    n_positive: int
    n_negative: int


@dataclass(frozen=True)
class BinomialCI:
    """A binomial proportion with its exact (Clopper–Pearson) interval.

    Attributes
    ----------
    successes, n
        Number of events and of patients.
    proportion
        ``successes / n``.
    ci_low, ci_high
        Interval bounds.
    confidence
        Nominal coverage.
    method
        ``"clopper-pearson"``.
    """

    successes: int
    n: int
    proportion: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str = "clopper-pearson"


def _check_confidence(confidence: float, where: str) -> None:
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise UsageError(f"The 'confidence' parameter of {where} must be a float in (0, 1). "
                         f"Got {confidence!r} instead.")


def _labels(y_true: object, where: str) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise UsageError(f"The 'y_true' parameter of {where} must be 1-dimensional. "
                         f"Got shape {y.shape} instead.")
    if y.dtype != bool:
        values = set(np.unique(y).tolist()) if y.size else set()
        if not values <= {0, 1}:
            raise UsageError(f"The 'y_true' parameter of {where} must be boolean or 0/1 "
                             f"(True = case). Got values {sorted(values, key=str)[:5]} instead.")
        y = y.astype(bool)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise DataError(f"{where} needs at least one case and one control; got {n_pos} cases "
                        f"and {y.size - n_pos} controls. The AUC is undefined for one class.")
    return y


def _scores(score: object, n: int, name: str, where: str) -> np.ndarray:
    s = np.asarray(score, dtype=float)
    if s.shape != (n,):
        raise UsageError(f"The '{name}' parameter of {where} must have shape ({n},) like "
                         f"'y_true'. Got shape {s.shape} instead.")
    if not np.all(np.isfinite(s)):
        raise DataError(f"The '{name}' parameter of {where} contains NaN or infinite values; "
                        "drop or impute those patients first.")
    return s


def _midrank(x: np.ndarray) -> np.ndarray:
    """Mid-ranks (1-based, ties get their average rank), as in Sun & Xu (2014), Algorithm 1."""
    from scipy.stats import rankdata

    return rankdata(x, method="average")


def _placements(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and DeLong structural components for k score vectors (rows of ``scores``).

    Sun & Xu (2014): with positives X (m) and negatives Y (n), T_Z the mid-ranks in the pooled
    sample, T_X within X and T_Y within Y,
    AUC = (Σ T_Z[X] − m(m+1)/2) / (m n), V10 = (T_Z[X] − T_X) / n, V01 = 1 − (T_Z[Y] − T_Y) / m.
    """
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    k = scores.shape[0]
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    aucs = np.empty(k)
    for r in range(k):
        tx = _midrank(pos[r])
        ty = _midrank(neg[r])
        tz = _midrank(np.concatenate([pos[r], neg[r]]))
        aucs[r] = (tz[:m].sum() - m * (m + 1) / 2.0) / (m * n)
        v10[r] = (tz[:m] - tx) / n
        v01[r] = 1.0 - (tz[m:] - ty) / m
    return aucs, v10, v01


def _delong_cov(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10, ddof=1)) if m > 1 else np.zeros((v10.shape[0],) * 2)
    s01 = np.atleast_2d(np.cov(v01, ddof=1)) if n > 1 else np.zeros((v01.shape[0],) * 2)
    return s10 / m + s01 / n


def roc_auc(*, y_true: object, score: object, confidence: float = 0.95) -> RocAuc:
    """ROC AUC with DeLong variance and a Wald confidence interval.

    DeLong, DeLong & Clarke-Pearson, Biometrics 1988;44:837–845, computed with the fast
    mid-rank algorithm of Sun & Xu, IEEE Signal Process Lett 2014;21:1389–1393.
    With placements V10_i (share of controls a case i outranks, ties ½) and V01_j (share of cases
    that outrank control j): AUC = mean(V10) = mean(V01) and
    Var(AUC) = S10 / m + S01 / n, where S10, S01 are the sample variances of V10, V01.

    Parameters
    ----------
    y_true
        Shape (n,), bool or 0/1; True = case (e.g. objective responder).
    score
        Shape (n,), higher = more likely a case.
    confidence
        Two-sided coverage of the interval, default 0.95.

    Returns
    -------
    RocAuc

    Examples
    --------
    >>> r = roc_auc(y_true=[0, 0, 1, 1], score=[0.1, 0.4, 0.35, 0.8])
    >>> r.auc
    0.75
    """
    from scipy.stats import norm

    _check_confidence(confidence, "roc_auc")
    y = _labels(y_true, "roc_auc")
    s = _scores(score, y.size, "score", "roc_auc")
    aucs, v10, v01 = _placements(y, s[None, :])
    var = float(_delong_cov(v10, v01)[0, 0])
    se = float(np.sqrt(max(var, 0.0)))
    z = float(norm.ppf(0.5 + confidence / 2))
    auc = float(aucs[0])
    return RocAuc(auc=auc, variance=var, se=se, ci_low=max(0.0, auc - z * se),
                  ci_high=min(1.0, auc + z * se), confidence=confidence,
                  n_positive=int(y.sum()), n_negative=int((~y).sum()))


def delong_test(*, y_true: object, score_a: object, score_b: object,
                confidence: float = 0.95) -> DelongComparison:
    """Paired DeLong test of two correlated ROC AUCs (same patients, two scores).

    DeLong, DeLong & Clarke-Pearson, Biometrics 1988; fast algorithm of Sun & Xu 2014.
    With the 2×2 covariance S = S10 / m + S01 / n of the two AUC estimates,
    z = (AUC_a − AUC_b) / sqrt(S_aa + S_bb − 2 S_ab), p = 2 (1 − Φ(|z|)).
    As R ``pROC::roc.test(method="delong", paired=TRUE)``.

    Parameters
    ----------
    y_true
        Shape (n,), bool or 0/1; True = case.
    score_a, score_b
        Shape (n,) each, higher = more likely a case, measured on the same patients.
    confidence
        Coverage of the interval of the difference, default 0.95.

    Returns
    -------
    DelongComparison
    """
    from scipy.stats import norm

    _check_confidence(confidence, "delong_test")
    y = _labels(y_true, "delong_test")
    a = _scores(score_a, y.size, "score_a", "delong_test")
    b = _scores(score_b, y.size, "score_b", "delong_test")
    aucs, v10, v01 = _placements(y, np.vstack([a, b]))
    cov = _delong_cov(v10, v01)
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    diff = float(aucs[0] - aucs[1])
    zq = float(norm.ppf(0.5 + confidence / 2))
    if se > 0:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    else:
        z, p = float("nan"), float("nan")
    return DelongComparison(auc_a=float(aucs[0]), auc_b=float(aucs[1]), difference=diff,
                            variance=var, se=se, ci_low=diff - zq * se, ci_high=diff + zq * se,
                            z=float(z), p_value=p, confidence=confidence,
                            n_positive=int(y.sum()), n_negative=int((~y).sum()))


def clopper_pearson(*, successes: int, n: int, confidence: float = 0.95) -> BinomialCI:
    """Clopper–Pearson exact confidence interval of a binomial proportion.

    Clopper & Pearson, Biometrika 1934;26:404–413. With x successes of n and α = 1 − confidence:
    lower = B(α/2; x, n − x + 1) (0 when x = 0), upper = B(1 − α/2; x + 1, n − x) (1 when x = n),
    B(q; a, b) the q-quantile of the beta distribution.

    Parameters
    ----------
    successes
        Number of events, 0 ≤ successes ≤ n.
    n
        Number of patients, n ≥ 1.
    confidence
        Two-sided coverage, default 0.95.

    Returns
    -------
    BinomialCI
    """
    from scipy.stats import beta

    _check_confidence(confidence, "clopper_pearson")
    try:
        x, n_ = int(successes), int(n)
    except (TypeError, ValueError):
        x, n_ = -1, -1
    if x != successes or n_ != n or n_ < 1 or not 0 <= x <= n_:
        raise UsageError("The 'successes' and 'n' parameters of clopper_pearson must be integers "
                         f"with 0 <= successes <= n and n >= 1. Got successes={successes!r}, "
                         f"n={n!r} instead.")
    alpha = 1.0 - confidence
    low = 0.0 if x == 0 else float(beta.ppf(alpha / 2, x, n_ - x + 1))
    high = 1.0 if x == n_ else float(beta.ppf(1 - alpha / 2, x + 1, n_ - x))
    return BinomialCI(successes=x, n=n_, proportion=x / n_, ci_low=low, ci_high=high,
                      confidence=confidence)
