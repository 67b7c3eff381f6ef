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

The split statistics live in :mod:`hccfusion.evaluation.cutoff_statistics` and the shared
fit/transform/JSON machinery in :mod:`hccfusion.evaluation.cutoff_estimator`; their public names
are re-exported here.
"""

from __future__ import annotations

import numpy as np

from hccfusion.errors import DataError, UsageError
from hccfusion.evaluation.cutoff_estimator import (  # noqa: F401 - re-exported
    CUTOFF_FORMAT_VERSION,
    _Cutoff,
    cutoff_from_dict,
)
from hccfusion.evaluation.cutoff_statistics import (  # noqa: F401 - re-exported
    _check_prop,
    _k_group_chi2,
    _two_group,
    lausen_schumacher_p,
    logrank_scores,
    logrank_splits,
)

__all__ = ["MedianCutoff", "TertileCutoff", "XTileCutoff", "MaxStatCutoff", "cutoff_from_dict",
           "logrank_splits", "lausen_schumacher_p", "CUTOFF_FORMAT_VERSION"]


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
