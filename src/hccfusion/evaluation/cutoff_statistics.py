"""The split statistics behind the risk-group cut-offs (:mod:`hccfusion.evaluation.cutoffs`):
the at-risk / event matrices over the distinct event times, the Mantel (1966) two-group and
k-group log-rank χ² for candidate splits, the log-rank scores of R ``maxstat``
(``exactRankTests::cscores``), the Lausen–Schumacher (1992) adjusted p-value of a maximally
selected statistic, and the validation of the ``time`` / ``event`` / ``risk`` inputs they share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hccfusion.errors import DataError, UsageError

__all__ = ["logrank_splits", "logrank_scores", "lausen_schumacher_p"]


@dataclass(frozen=True)
class _RiskSets:
    """At-risk and event indicator matrices over the distinct event times (n × T)."""

    at_risk: np.ndarray
    deaths: np.ndarray
    n: np.ndarray
    d: np.ndarray

    @classmethod
    def build(cls, time: np.ndarray, event: np.ndarray) -> _RiskSets:
        times = np.unique(time[event])
        at_risk = (time[:, None] >= times[None, :]).astype(float)
        deaths = ((time[:, None] == times[None, :]) & event[:, None]).astype(float)
        return cls(at_risk=at_risk, deaths=deaths, n=at_risk.sum(0), d=deaths.sum(0))

    def weights(self) -> np.ndarray:
        """d (n − d) / (n − 1), zero where n = 1."""
        with np.errstate(divide="ignore", invalid="ignore"):
            w = self.d * (self.n - self.d) / (self.n - 1)
        return np.where(self.n > 1, w, 0.0)


def _two_group(rs: _RiskSets, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observed − expected deaths U and hypergeometric variance V of group ``members``
    (shape (c, n), one candidate split per row)."""
    m = members.astype(float)
    n1 = m @ rs.at_risk
    d1 = m @ rs.deaths
    u = (d1 - n1 * rs.d / rs.n).sum(axis=1)
    v = (rs.weights() * n1 * (rs.n - n1) / rs.n**2).sum(axis=1)
    return u, v


def logrank_splits(*, time: object, event: object, risk: object,
                   cutoffs: object) -> np.ndarray:
    """Two-group log-rank χ² for each candidate split ``risk <= c`` versus ``risk > c``.

    Mantel, Cancer Chemother Rep 1966;50:163–170: χ² = U² / V with
    U = Σ_t (d_1t − n_1t d_t / n_t) and V = Σ_t n_1t n_0t d_t (n_t − d_t) / (n_t² (n_t − 1)).

    Parameters
    ----------
    time, event, risk
        Shape (n,) each; days, True = event, higher = worse.
    cutoffs
        Shape (c,), candidate cut-offs.

    Returns
    -------
    numpy.ndarray
        Shape (c,), χ² with 1 degree of freedom (NaN where one group is empty).
    """
    t, e, r = _check_survival(time, event, risk, "logrank_splits")
    c = np.atleast_1d(np.asarray(cutoffs, dtype=float))
    u, v = _two_group(_RiskSets.build(t, e), r[None, :] <= c[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, u**2 / v, np.nan)


def _k_group_chi2(rs: _RiskSets, groups: np.ndarray, k: int) -> float:
    """k-group log-rank χ² (df k − 1): U' V⁻ U over the first k − 1 groups."""
    onehot = np.stack([groups == g for g in range(k)]).astype(float)
    n_g = onehot @ rs.at_risk
    d_g = onehot @ rs.deaths
    u = (d_g - n_g * rs.d / rs.n).sum(axis=1)[: k - 1]
    w = rs.weights() / rs.n
    p = n_g / rs.n
    cov = np.einsum("t,it,jt->ij", w * rs.n, p, -p)
    cov[np.diag_indices(k)] += (w * rs.n * p).sum(axis=1)
    cov = cov[: k - 1, : k - 1]
    return float(u @ np.linalg.pinv(cov) @ u)


def lausen_schumacher_p(statistic: float, *, minprop: float = 0.1,
                        maxprop: float = 0.9) -> float:
    """Approximate p-value of a maximally selected standardised statistic.

    Lausen & Schumacher, Biometrics 1992;48:73–85 (after Miller & Siegmund 1982), as R
    ``maxstat:::pLausen92``: with b the maximum of |standardised statistic| and φ the standard
    normal density,
    p ≈ 4 φ(b) / b + φ(b) (b − 1/b) log(maxprop (1 − minprop) / ((1 − maxprop) minprop)),
    truncated to [0, 1]. The approximation holds for large b; below b = 1 the formula is not
    monotone in b (R returns it anyway), so 1 is returned there.

    Parameters
    ----------
    statistic
        The maximum |U / sqrt(V)| over the admissible cut-offs.
    minprop, maxprop
        Smallest and largest share of patients in the lower group.

    Returns
    -------
    float
    """
    from scipy.stats import norm

    b = float(statistic)
    if b < 1:
        return 1.0
    db = float(norm.pdf(b))
    p = 4 * db / b + db * (b - 1 / b) * np.log((maxprop * (1 - minprop))
                                               / ((1 - maxprop) * minprop))
    return float(min(max(p, 0.0), 1.0))


def logrank_scores(*, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Log-rank scores a_i = δ_i − Σ_{u ≤ t_i} d_u / (N − #{t ≤ u} + 1), exactly as
    ``exactRankTests::cscores.Surv`` that R ``maxstat`` uses (without tied times this is
    δ_i − Nelson–Aalen Ĥ(t_i); with ties R counts the risk set after the last tied member, so
    it is kept here to reproduce R)."""
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    uniq, inverse = np.unique(t, return_inverse=True)
    deaths = np.bincount(inverse, weights=d, minlength=uniq.size)
    at_risk = t.size - np.searchsorted(np.sort(t), uniq, side="right") + 1
    hazard = np.cumsum(deaths / at_risk)
    return d - hazard[inverse]


def _check_survival(time: object, event: object, risk: object,
                    where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float)
    r = np.asarray(risk, dtype=float)
    e_raw = np.asarray(event)
    if t.ndim != 1 or e_raw.shape != t.shape or r.shape != t.shape:
        raise UsageError(f"The 'time', 'event' and 'risk' parameters of {where} must be "
                         f"1-dimensional of equal length. Got shapes {t.shape}, {e_raw.shape}, "
                         f"{r.shape} instead.")
    if e_raw.dtype != bool:
        vals = set(np.unique(e_raw).tolist()) if e_raw.size else set()
        if not vals <= {0, 1}:
            raise UsageError(f"The 'event' parameter of {where} must be boolean (True = event) "
                             f"or 0/1. Got values {sorted(vals, key=str)[:5]} instead; recode "
                             "R-style 1/2 status explicitly.")
    e = e_raw.astype(bool)
    if not (np.all(np.isfinite(t)) and np.all(t >= 0)):
        raise DataError(f"The 'time' parameter of {where} must be finite days >= 0.")
    if not np.all(np.isfinite(r)):
        raise DataError(f"The 'risk' parameter of {where} contains NaN or infinite values; "
                        "impute or drop those patients before fitting a cut-off.")
    if not e.any():
        raise DataError(f"{where} needs at least one event; got none among {t.size} patients.")
    return t, e, r


def _check_prop(value: float, name: str, where: str, low: float, high: float) -> None:
    if not (isinstance(value, (int, float)) and low < value < high):
        raise UsageError(f"The '{name}' parameter of {where} must be a float in "
                         f"({low}, {high}). Got {value!r} instead.")
