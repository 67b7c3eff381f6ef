"""Risk-group cut-offs as estimators, fitted on the development cohort only and then frozen
(domain.md §7.6; STYLE.md habit 3).

- :class:`MedianCutoff` — the training median of the risk score.
- :class:`TertileCutoff` — the training tertiles (three groups).
- :class:`XTileCutoff` — Camp, Dolled-Filhart & Rimm, Clin Cancer Res 2004;10:7252–7259: every
  division of the training risk into two (or three) groups, each holding at least ``min_prop``
  of the patients, is scored by the log-rank χ²; the maximum wins.
- :class:`MaxStatCutoff` — maximally selected (standardised) log-rank statistic with the
  Lausen & Schumacher (Biometrics 1992;48:73–85) approximation of the adjusted p-value, as in
  R ``maxstat::maxstat.test(..., smethod="LogRank", pmethod="Lau92", minprop=0.1, maxprop=0.9)``.

A patient with ``risk <= cutoff`` falls in the lower group; higher risk = worse. ``fit`` learns
``cutoffs_``, ``labels_``, ``statistic_``, ``p_value_`` and ``n_train_`` and can run only once;
``transform`` only applies the frozen values. ``to_dict`` / :func:`cutoff_from_dict` carry a
fitted cut-off through a model bundle as JSON. Nothing here refits on validation data.

X-tile and the split statistics use the Mantel (1966) log-rank form with the hypergeometric
variance (as R ``survival::survdiff`` and lifelines ``logrank_test``). ``MaxStatCutoff`` follows
R ``maxstat`` exactly instead: the sum of log-rank scores (``exactRankTests::cscores``) of the
lower group standardised by its permutation variance (the two forms agree only asymptotically;
on veterans lung cancer / Karnofsky the Mantel form gives 6.67 where maxstat gives 4.62). Cut-
points, statistics and Lausen–Schumacher p-values are pinned to R in
tests/evaluation/test_r_reference.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hccfusion.errors import DataError, UsageError, unknown_option

__all__ = ["MedianCutoff", "TertileCutoff", "XTileCutoff", "MaxStatCutoff", "cutoff_from_dict",
           "logrank_splits", "lausen_schumacher_p", "CUTOFF_FORMAT_VERSION"]

CUTOFF_FORMAT_VERSION = 1


# --------------------------------------------------------------------------- log-rank machinery

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


# --------------------------------------------------------------------------- validation

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


# --------------------------------------------------------------------------- estimators

_REGISTRY: dict[str, type[_Cutoff]] = {}


class _Cutoff:
    """Shared fit/transform/serialise logic; subclasses implement ``_learn``."""

    kind: ClassVar[str]
    _param_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.kind] = cls

    # -- sklearn-style parameters
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {name: getattr(self, name) for name in self._param_names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitting
    def _learn(self, t: np.ndarray, e: np.ndarray, r: np.ndarray,
               rs: _RiskSets) -> tuple[np.ndarray, float, float]:
        raise NotImplementedError

    def fit(self, *, time: object, event: object, risk: object) -> _Cutoff:
        """Learn the cut-off(s) on the development (training) patients.

        Parameters
        ----------
        time
            Shape (n,), follow-up in days.
        event
            Shape (n,), True = event observed.
        risk
            Shape (n,), higher = worse.

        Returns
        -------
        self
            With ``cutoffs_``, ``labels_``, ``statistic_``, ``p_value_`` and ``n_train_``.

        Raises
        ------
        UsageError
            If this cut-off is already fitted: a frozen cut-off is never refitted (create a new
            instance for a new development cohort).
        """
        name = f"{type(self).__name__}.fit"
        if hasattr(self, "cutoffs_"):
            raise UsageError(f"{name}: this cut-off is already fitted and frozen "
                             f"(cutoffs {self.cutoffs_.tolist()}); never refit on another "
                             "cohort. Create a new instance to fit on new development data.")
        t, e, r = _check_survival(time, event, risk, name)
        if np.unique(r).size < 2:
            raise DataError(f"{name}: the risk score is constant; no split is possible.")
        rs = _RiskSets.build(t, e)
        cutoffs, stat, p = self._learn(t, e, r, rs)
        cutoffs = np.asarray(cutoffs, dtype=float)
        cutoffs.setflags(write=False)
        self.cutoffs_ = cutoffs
        self.labels_ = _labels_for(cutoffs.size + 1)
        self.statistic_ = float(stat)
        self.p_value_ = float(p)
        self.n_train_ = int(t.size)
        return self

    def _check_fitted(self, where: str) -> None:
        if not hasattr(self, "cutoffs_"):
            raise UsageError(f"{type(self).__name__}.{where}: this cut-off is not fitted yet; "
                             "call fit(time=..., event=..., risk=...) on the development "
                             "cohort first.")

    def transform(self, risk: object) -> np.ndarray:
        """Assign risk groups with the frozen cut-off(s).

        Parameters
        ----------
        risk
            Shape (n,), higher = worse; patients of any cohort.

        Returns
        -------
        numpy.ndarray
            Shape (n,), object dtype, labels from ``labels_`` (``risk <= cutoff`` → lower group).
        """
        self._check_fitted("transform")
        r = np.asarray(risk, dtype=float)
        if r.ndim != 1:
            raise UsageError(f"The 'risk' parameter of {type(self).__name__}.transform must be "
                             f"1-dimensional. Got shape {r.shape} instead.")
        if not np.all(np.isfinite(r)):
            raise DataError(f"The 'risk' parameter of {type(self).__name__}.transform contains "
                            "NaN or infinite values.")
        idx = np.searchsorted(self.cutoffs_, r, side="left")
        return np.asarray(self.labels_, dtype=object)[idx]

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the fitted cut-off (for the model bundle)."""
        self._check_fitted("to_dict")
        return {"format_version": CUTOFF_FORMAT_VERSION, "kind": self.kind,
                "params": self.get_params(), "cutoffs": [float(c) for c in self.cutoffs_],
                "labels": list(self.labels_), "statistic": self.statistic_,
                "p_value": self.p_value_, "n_train": self.n_train_}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> _Cutoff:
        """Rebuild a fitted, frozen cut-off from :meth:`to_dict` output."""
        obj = cutoff_from_dict(payload)
        if cls is not _Cutoff and not isinstance(obj, cls):
            raise UsageError(f"{cls.__name__}.from_dict got a '{payload.get('kind')}' cut-off; "
                             "use cutoff_from_dict to load any kind.")
        return obj


def _labels_for(k: int) -> tuple[str, ...]:
    if k == 2:
        return ("low", "high")
    if k == 3:
        return ("low", "intermediate", "high")
    return tuple(f"group_{i + 1}" for i in range(k))


def cutoff_from_dict(payload: dict[str, Any]) -> _Cutoff:
    """Rebuild any fitted cut-off from its :meth:`to_dict` form.

    Raises
    ------
    SchemaVersionError
        If the payload was written by another format version.
    UsageError
        If the kind is unknown or the payload is malformed.
    """
    from hccfusion.errors import SchemaVersionError

    if not isinstance(payload, dict):
        raise UsageError("cutoff_from_dict expects the dict written by to_dict(). "
                         f"Got {type(payload).__name__} instead.")
    version = payload.get("format_version")
    if version != CUTOFF_FORMAT_VERSION:
        raise SchemaVersionError(f"cut-off format_version {version!r} cannot be read; this "
                                 f"hccfusion reads version {CUTOFF_FORMAT_VERSION}.")
    kind = payload.get("kind")
    if kind not in _REGISTRY:
        raise unknown_option("cut-off kind", str(kind), tuple(_REGISTRY))
    try:
        obj = _REGISTRY[kind](**payload["params"])
        cutoffs = np.asarray(payload["cutoffs"], dtype=float)
        if cutoffs.ndim != 1 or np.any(np.diff(cutoffs) <= 0):
            raise ValueError("cut-offs must be strictly increasing")
        labels = tuple(str(x) for x in payload["labels"])
        if len(labels) != cutoffs.size + 1:
            raise ValueError("need one label more than cut-offs")
        cutoffs.setflags(write=False)
        obj.cutoffs_ = cutoffs
        obj.labels_ = labels
        obj.statistic_ = float(payload["statistic"])
        obj.p_value_ = float(payload["p_value"])
        obj.n_train_ = int(payload["n_train"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"cutoff_from_dict: malformed '{kind}' payload ({exc}).") from exc
    return obj


class MedianCutoff(_Cutoff):
    """Two groups split at the training median of the risk score (domain.md §7.6 a).

    ``statistic_`` / ``p_value_`` are the log-rank χ² (1 df) and its p-value on the training
    patients (descriptive; the cut-off was not chosen by outcome).
    """

    kind = "median"

    def _learn(self, t, e, r, rs):  # type: ignore[no-untyped-def]
        from scipy.stats import chi2

        c = float(np.median(r))
        if c >= r.max():  # more than half tied at the maximum: keep a non-empty high group
            c = float(np.max(r[r < c]))
        stat = _k_group_chi2(rs, (r > c).astype(int), 2)
        return np.array([c]), stat, float(chi2.sf(stat, 1))


class TertileCutoff(_Cutoff):
    """Three groups split at the training 1/3 and 2/3 quantiles of the risk score.

    ``statistic_`` / ``p_value_`` are the 3-group log-rank χ² (2 df) on the training patients.
    """

    kind = "tertile"

    def _learn(self, t, e, r, rs):  # type: ignore[no-untyped-def]
        from scipy.stats import chi2

        cuts = np.unique(np.quantile(r, [1 / 3, 2 / 3]))
        if cuts.size < 2 or cuts[-1] >= r.max():
            raise DataError("TertileCutoff.fit: too many tied risk values for three "
                            "non-empty groups.")
        groups = np.searchsorted(cuts, r, side="left")
        stat = _k_group_chi2(rs, groups, 3)
        return cuts, stat, float(chi2.sf(stat, 2))


def _candidates(r: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Observed values c whose lower group {r <= c} holds between low·N and high·N patients."""
    values = np.unique(r)[:-1]
    left = np.searchsorted(np.sort(r), values, side="right")
    n = r.size
    keep = (left >= low * n) & (left <= high * n)
    return values[keep], left[keep]


class XTileCutoff(_Cutoff):
    """X-tile optimal cut-off(s): the division of the training risk maximising the log-rank χ².

    Camp, Dolled-Filhart & Rimm, Clin Cancer Res 2004;10:7252–7259. All divisions at observed
    risk values (thinned to ``n_grid`` training quantiles when there are more) with every group
    holding at least ``min_prop`` of the patients are scored; ``n_groups=3`` searches all pairs
    (low / intermediate / high, 2-df χ²).

    Parameters
    ----------
    n_groups
        2 (one cut-off) or 3 (two cut-offs).
    min_prop
        Smallest share of patients in any group, default 0.1.
    n_grid
        Largest number of candidate cut-offs searched, default 100.

    Notes
    -----
    ``p_value_`` is the *unadjusted* χ² p-value of the selected split and is optimistic; Camp
    et al. validate by a split-sample or Monte-Carlo procedure. Use :class:`MaxStatCutoff` for an
    adjusted p-value, and never pick between cut-off methods by p (domain.md §7.9).
    """

    kind = "xtile"
    _param_names = ("n_groups", "min_prop", "n_grid")

    def __init__(self, n_groups: int = 2, min_prop: float = 0.1, n_grid: int = 100) -> None:
        self.n_groups = n_groups
        self.min_prop = min_prop
        self.n_grid = n_grid

    def _learn(self, t, e, r, rs):  # type: ignore[no-untyped-def]
        from scipy.stats import chi2

        if self.n_groups not in (2, 3):
            raise UsageError("The 'n_groups' parameter of XTileCutoff must be 2 or 3. "
                             f"Got {self.n_groups!r} instead.")
        _check_prop(self.min_prop, "min_prop", "XTileCutoff", 0.0, 1 / self.n_groups)
        if not isinstance(self.n_grid, int) or self.n_grid < 2:
            raise UsageError("The 'n_grid' parameter of XTileCutoff must be an int >= 2. "
                             f"Got {self.n_grid!r} instead.")
        n = r.size
        cand, left = _candidates(r, self.min_prop, 1 - self.min_prop)
        if cand.size > self.n_grid:
            pick = np.unique(np.round(np.linspace(0, cand.size - 1, self.n_grid)).astype(int))
            cand, left = cand[pick], left[pick]
        if cand.size == 0:
            raise DataError("XTileCutoff.fit: no division leaves every group with at least "
                            f"min_prop={self.min_prop} of {n} patients.")
        members = r[None, :] <= cand[:, None]
        if self.n_groups == 2:
            u, v = _two_group(rs, members)
            with np.errstate(divide="ignore", invalid="ignore"):
                stats = np.where(v > 0, u**2 / v, -np.inf)
            best = int(np.argmax(stats))
            return cand[[best]], float(stats[best]), float(chi2.sf(stats[best], 1))
        return self._learn_three(r, rs, cand, left, members, n)

    def _learn_three(self, r, rs, cand, left, members, n):  # type: ignore[no-untyped-def]
        from scipy.stats import chi2

        low = members.astype(float)              # r <= c1
        high = (~members).astype(float)          # r > c2
        w = rs.weights()
        n_low, n_high = low @ rs.at_risk, high @ rs.at_risk
        u_low = (low @ rs.deaths - n_low * rs.d / rs.n).sum(1)
        u_high = (high @ rs.deaths - n_high * rs.d / rs.n).sum(1)
        v_low = (w * n_low * (rs.n - n_low) / rs.n**2).sum(1)
        v_high = (w * n_high * (rs.n - n_high) / rs.n**2).sum(1)
        v_cross = -(n_low * w / rs.n**2) @ n_high.T                # (c1, c2)
        ul, uh = u_low[:, None], u_high[None, :]
        vl, vh = v_low[:, None], v_high[None, :]
        det = vl * vh - v_cross**2
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = (ul**2 * vh - 2 * ul * uh * v_cross + uh**2 * vl) / det
        middle = left[None, :] - left[:, None]
        ok = (middle >= self.min_prop * n) & (n - left[None, :] >= self.min_prop * n) & (det > 0)
        stat = np.where(ok, stat, -np.inf)
        if not np.isfinite(stat).any():
            raise DataError("XTileCutoff.fit: no pair of cut-offs leaves three groups of at "
                            f"least min_prop={self.min_prop} of {n} patients.")
        i, j = np.unravel_index(int(np.argmax(stat)), stat.shape)
        best = float(stat[i, j])
        return np.array([cand[i], cand[j]]), best, float(chi2.sf(best, 2))


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


class MaxStatCutoff(_Cutoff):
    """Maximally selected log-rank statistic with the Lausen–Schumacher adjusted p-value.

    Lausen & Schumacher, Biometrics 1992;48:73–85; R ``maxstat::maxstat.test`` defaults.
    For every observed risk value c with ⌊minprop·N⌋ ≤ #{risk ≤ c} ≤ ⌊maxprop·N⌋ (as R) the
    standardised statistic S_c of the log-rank scores (:func:`logrank_scores`) of the lower group
    is computed with the permutation variance m (N − m) / (N² (N − 1)) · (N Σa² − (Σa)²), exactly
    as R ``maxstat`` (smethod "LogRank"); the cut-off maximises |S_c|,
    ``statistic_`` = max |S_c| and ``p_value_`` = :func:`lausen_schumacher_p`.

    Parameters
    ----------
    minprop, maxprop
        Admissible share of patients in the lower group, default 0.1 and 0.9.
    """

    kind = "maxstat"
    _param_names = ("minprop", "maxprop")

    def __init__(self, minprop: float = 0.1, maxprop: float = 0.9) -> None:
        self.minprop = minprop
        self.maxprop = maxprop

    def _learn(self, t, e, r, rs):  # type: ignore[no-untyped-def]
        _check_prop(self.minprop, "minprop", "MaxStatCutoff", 0.0, 0.5)
        _check_prop(self.maxprop, "maxprop", "MaxStatCutoff", 0.5, 1.0)
        # R maxstat's admissible set: max(1, floor(N minprop)) <= #{risk <= c} <= floor(N maxprop)
        n = r.size
        values = np.unique(r)[:-1]
        left = np.searchsorted(np.sort(r), values, side="right")
        cand = values[(left >= max(1, np.floor(n * self.minprop)))
                      & (left <= np.floor(n * self.maxprop))]
        if cand.size == 0:
            raise DataError("MaxStatCutoff.fit: no cut-off leaves between "
                            f"minprop={self.minprop} and maxprop={self.maxprop} of the "
                            f"{r.size} patients in the lower group.")
        a = logrank_scores(time=t, event=e)
        lower = r[None, :] <= cand[:, None]
        m = lower.sum(axis=1).astype(float)
        total, total_sq = a.sum(), (a * a).sum()
        expected = m * total / n
        variance = m * (n - m) / (n * n * (n - 1.0)) * (n * total_sq - total * total)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(variance > 0, np.abs(lower @ a - expected) / np.sqrt(variance), -np.inf)
        best = int(np.argmax(s))
        stat = float(s[best])
        return cand[[best]], stat, lausen_schumacher_p(stat, minprop=self.minprop,
                                                       maxprop=self.maxprop)
