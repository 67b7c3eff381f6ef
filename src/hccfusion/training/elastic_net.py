"""Elastic-net Cox and logistic regression along a penalty path, the penalty chosen by
cross-validation.

The objectives are glmnet's (Simon, Friedman, Hastie & Tibshirani, J Stat Softw 2011):

    −(1/n) · log PL(β) + α · (l1_ratio · ‖β‖₁ + (1 − l1_ratio)/2 · ‖β‖²)

with Breslow's partial likelihood for tied times, and the same penalty on the mean binomial
deviance / 2 of a logistic model (its intercept unpenalised), minimised by accelerated proximal gradient
descent (FISTA with backtracking; Beck & Teboulle, SIAM J Imaging Sci 2009), warm-started from
the previous, larger α of a path that runs from the smallest α that keeps every coefficient at
0 down to ``alpha_min_ratio`` of it. :func:`fit_coxnet_cv` picks α by K-fold cross-validation
on Harrell's C of the held-out fold (the largest α among equal scores) and refits on all rows;
:func:`fit_logistic_cv` does the same on the ROC AUC.

Written here because the elastic-net Cox of scikit-survival is GPL-3 (the core does not import
it; the tests compare against it), lifelines' smoothed L1 takes minutes on a path, and one
solver for both keeps the linear expert's two models alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hccfusion.errors import DataError, UsageError

__all__ = ["CoxnetFit", "LogisticFit", "coxnet_path", "fit_coxnet_cv", "fit_logistic_cv",
           "logistic_path"]


class _Breslow:
    """Negative mean log partial likelihood and its gradient for fixed (X, time, event)."""

    def __init__(self, X: np.ndarray, time: np.ndarray, event: np.ndarray) -> None:
        order = np.argsort(time, kind="stable")
        self.X = X[order]
        t = time[order]
        self.event = event[order].astype(bool)
        # the risk set of row i is every row from the first one with time >= t_i on
        self.first = np.searchsorted(t, t, side="left")[self.event]
        self.n = len(t)

    def __call__(self, beta: np.ndarray, *, grad: bool = True
                 ) -> tuple[float, np.ndarray | None]:
        eta = self.X @ beta
        shift = eta.max()
        w = np.exp(eta - shift)
        s0 = np.cumsum(w[::-1])[::-1]
        loss = -(eta[self.event].sum() - (np.log(s0[self.first]) + shift).sum()) / self.n
        if not grad:
            return float(loss), None
        s1 = np.cumsum((w[:, None] * self.X)[::-1], axis=0)[::-1]
        g = -(self.X[self.event].sum(axis=0)
              - (s1[self.first] / s0[self.first, None]).sum(axis=0)) / self.n
        return float(loss), g


class _Logistic:
    """Mean negative log-likelihood of a logistic model whose last coefficient is the
    intercept (``X`` gets a column of ones), and its gradient."""

    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        self.X = np.hstack([X, np.ones((len(X), 1))])
        self.y = y.astype(np.float64)
        self.n = len(y)

    def __call__(self, beta: np.ndarray, *, grad: bool = True
                 ) -> tuple[float, np.ndarray | None]:
        eta = self.X @ beta
        loss = float(np.mean(np.logaddexp(0.0, eta) - self.y * eta))
        if not grad:
            return loss, None
        p = 0.5 * (1.0 + np.tanh(0.5 * eta))           # the logistic function, overflow-free
        return loss, self.X.T @ (p - self.y) / self.n


def _fista(f: _Breslow | _Logistic, beta: np.ndarray, alpha: float, l1_ratio: float, *,
           tol: float = 1e-5, max_iter: int = 500, free: int = 0) -> np.ndarray:
    """Minimise f + penalty from ``beta``; the last ``free`` coefficients are unpenalised."""
    mask = np.ones_like(beta)
    if free:
        mask[-free:] = 0.0
    lam1, lam2 = alpha * l1_ratio * mask, alpha * (1.0 - l1_ratio) * mask

    def smooth(b: np.ndarray) -> tuple[float, np.ndarray]:
        loss, g = f(b)
        return loss + 0.5 * float(lam2 @ (b * b)), g + lam2 * b

    step, y, momentum, prev = 1.0, beta.copy(), 1.0, beta.copy()
    for _ in range(max_iter):
        fy, gy = smooth(y)
        while True:
            z = y - step * gy
            new = np.sign(z) * np.maximum(np.abs(z) - step * lam1, 0.0)
            d = new - y
            f_new, _ = f(new, grad=False)
            if f_new + 0.5 * float(lam2 @ (new * new)) <= fy + gy @ d + (d @ d) / (2 * step) \
                    + 1e-12:
                break
            step *= 0.5
            if step < 1e-12:
                break
        nxt = (1.0 + np.sqrt(1.0 + 4.0 * momentum ** 2)) / 2.0
        y = new + ((momentum - 1.0) / nxt) * (new - prev)
        momentum = nxt
        if np.max(np.abs(new - prev)) < tol * max(1.0, float(np.max(np.abs(new)))):
            return new
        prev = new
    return prev


def _check(X: np.ndarray, time: np.ndarray, event: np.ndarray, l1_ratio: float,
           where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    if X.ndim != 2 or len(time) != len(X) or len(event) != len(X):
        raise UsageError(f"{where}: X must be [n, p] with n times and n event flags. Got X "
                         f"{X.shape}, {len(time)} times and {len(event)} flags instead.")
    if not (np.isfinite(X).all() and np.isfinite(time).all()):
        raise DataError(f"{where}: X and time must be finite (preprocess and impute first).")
    if not event.any():
        raise DataError(f"{where}: no event among the {len(X)} rows; a Cox model needs one.")
    _check_l1(l1_ratio, where)
    return X, time, event


def _check_l1(l1_ratio: float, where: str) -> None:
    if not 0.0 < l1_ratio <= 1.0:
        raise UsageError(f"{where}: l1_ratio must be in (0, 1]. Got {l1_ratio!r} instead.")


def _walk_path(f: _Breslow | _Logistic, beta: np.ndarray, *, l1_ratio: float, n_alphas: int,
               alpha_min_ratio: float, alphas: np.ndarray | None, free: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Minimise along a decreasing path, warm-starting each α from the previous solution.

    Without ``alphas``: ``n_alphas`` log-spaced values from α_max = max|∇ f| at ``beta`` over
    the penalised coefficients / l1_ratio (every one of them stays 0) down to
    ``alpha_min_ratio · α_max``. The last ``free`` coefficients are unpenalised."""
    if alphas is None:
        _, g0 = f(beta)
        top = float(np.max(np.abs(g0[:len(g0) - free]))) / l1_ratio
        top = top if top > 0 else 1.0
        alphas = np.geomspace(top, top * alpha_min_ratio, n_alphas)
    alphas = np.sort(np.asarray(alphas, dtype=np.float64))[::-1]
    coefs = np.empty((len(alphas), len(beta)))
    for k, alpha in enumerate(alphas):
        beta = _fista(f, beta, float(alpha), l1_ratio, free=free)
        coefs[k] = beta
    return coefs, alphas


def coxnet_path(X: np.ndarray, time: np.ndarray, event: np.ndarray, *, l1_ratio: float = 0.9,
                n_alphas: int = 15, alpha_min_ratio: float = 0.05,
                alphas: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``[len(alphas), p]`` along a decreasing penalty path, and the path.

    Without ``alphas`` the path is ``n_alphas`` log-spaced values from α_max =
    max|∇(−log PL/n) at β = 0| / l1_ratio (all coefficients 0) down to
    ``alpha_min_ratio · α_max``."""
    X, time, event = _check(X, time, event, l1_ratio, "coxnet_path")
    return _walk_path(_Breslow(X, time, event), np.zeros(X.shape[1]), l1_ratio=l1_ratio,
                      n_alphas=n_alphas, alpha_min_ratio=alpha_min_ratio, alphas=alphas)


def _choose(scores: np.ndarray, undefined: str) -> tuple[np.ndarray, int]:
    """Mean held-out score per α (``scores`` ``[n_alphas, folds]``, NaN where undefined) and
    the index of the best; the α are decreasing, so ties go to the largest."""
    ok = np.isfinite(scores).any(axis=1)
    if not ok.any():
        raise DataError(undefined)
    mean = np.full(len(scores), np.nan)
    mean[ok] = np.nanmean(scores[ok], axis=1)
    return mean, int(np.nanargmax(mean))


@dataclass(frozen=True)
class CoxnetFit:
    """What :func:`fit_coxnet_cv` returns: ``coef`` ``[p]`` at the chosen ``alpha``, refitted
    on all rows; the path; the mean held-out Harrell's C per α (NaN where undefined); the
    chosen α's mean C (``cv_c``, the model's cross-validated skill); ``cv_c_also``: for
    each other outcome asked for, the mean over the folds of Harrell's C of the same held-out
    risks (chosen α) against that outcome (NaN where undefined on every fold); and
    ``held_out``: each row's risk from the model fitted without its fold, at the chosen α (NaN
    for a fold that was skipped)."""

    coef: np.ndarray
    alpha: float
    alphas: np.ndarray
    mean_c: np.ndarray
    cv_c: float
    cv_c_also: dict[str, float] = field(default_factory=dict)
    held_out: np.ndarray = field(default_factory=lambda: np.zeros(0))


def fit_coxnet_cv(X: np.ndarray, time: np.ndarray, event: np.ndarray, *, l1_ratio: float = 0.9,
                  n_alphas: int = 15, alpha_min_ratio: float = 0.05, folds: int = 5,
                  seed: int = 0,
                  also: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> CoxnetFit:
    """Choose α by ``folds``-fold cross-validation (folds stratified on the event flag) on
    Harrell's C of the held-out rows, then refit on all rows at that α. ``also`` maps a name
    to another outcome (time, event) of the same rows: the chosen α's held-out risks are
    scored against it too (``CoxnetFit.cv_c_also``), e.g. how well an OS model ranks PFS."""
    from hccfusion.training.baseline_checks import _stratified_folds
    from hccfusion.training.metrics import harrell_c

    X, time, event = _check(X, time, event, l1_ratio, "fit_coxnet_cv")
    others = {}
    for name, (t_o, e_o) in (also or {}).items():
        _, t_o, e_o = _check(X, t_o, e_o, l1_ratio, f"fit_coxnet_cv (also {name!r})")
        others[name] = (t_o, e_o)
    if folds < 2 or int(event.sum()) < folds:
        raise DataError(f"fit_coxnet_cv: {int(event.sum())} event(s) cannot be spread over "
                        f"{folds} folds.")
    _, alphas = coxnet_path(X, time, event, l1_ratio=l1_ratio, n_alphas=n_alphas,
                            alpha_min_ratio=alpha_min_ratio)
    fold = _stratified_folds(event.astype(int), folds, seed)
    scores = np.full((len(alphas), folds), np.nan)
    held = np.full((len(alphas), len(time)), np.nan)   # held-out risk of each row, per α
    for k in range(folds):
        train, test = fold != k, fold == k
        if not event[train].any() or not event[test].any():
            continue
        coefs, _ = coxnet_path(X[train], time[train], event[train], l1_ratio=l1_ratio,
                               alphas=alphas)
        for j, beta in enumerate(coefs):
            risk = X[test] @ beta
            held[j, test] = risk
            if np.ptp(risk) > 0:
                scores[j, k] = harrell_c(time=time[test], event=event[test], risk=risk)
    mean_c, best = _choose(scores, "fit_coxnet_cv: Harrell's C is undefined on every held-out "
                                   "fold (too few events, or no coefficient leaves 0 on the path).")
    cv_also = {}
    for name, (t_o, e_o) in others.items():
        per_fold = []
        for k in range(folds):
            test = (fold == k) & np.isfinite(held[best])
            risk = held[best, test]
            if risk.size and np.ptp(risk) > 0 and e_o[test].any():
                per_fold.append(harrell_c(time=t_o[test], event=e_o[test], risk=risk))
        per_fold = [c for c in per_fold if np.isfinite(c)]   # NaN: no comparable pair
        cv_also[name] = float(np.mean(per_fold)) if per_fold else float("nan")
    coefs, _ = coxnet_path(X, time, event, l1_ratio=l1_ratio, alphas=alphas[: best + 1])
    return CoxnetFit(coef=coefs[-1], alpha=float(alphas[best]), alphas=alphas, mean_c=mean_c,
                     cv_c=float(mean_c[best]), cv_c_also=cv_also, held_out=held[best].copy())


def _check_binary(X: np.ndarray, y: np.ndarray, l1_ratio: float, where: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or len(y) != len(X):
        raise UsageError(f"{where}: X must be [n, p] with n labels. Got X {X.shape} and "
                         f"{len(y)} labels instead.")
    if not (np.isfinite(X).all() and np.isin(y, (0.0, 1.0)).all()):
        raise DataError(f"{where}: X must be finite and every label 0 or 1.")
    _check_l1(l1_ratio, where)
    return X, y


def logistic_path(X: np.ndarray, y: np.ndarray, *, l1_ratio: float = 0.9, n_alphas: int = 15,
                  alpha_min_ratio: float = 0.05, alphas: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``[len(alphas), p + 1]`` coefficients (the intercept last) along a decreasing path,
    and the path; α_max keeps every slope at 0 (the intercept is the log-odds)."""
    X, y = _check_binary(X, y, l1_ratio, "logistic_path")
    beta = np.zeros(X.shape[1] + 1)
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    beta[-1] = np.log(rate / (1.0 - rate))
    return _walk_path(_Logistic(X, y), beta, l1_ratio=l1_ratio, n_alphas=n_alphas,
                      alpha_min_ratio=alpha_min_ratio, alphas=alphas, free=1)


@dataclass(frozen=True)
class LogisticFit:
    """What :func:`fit_logistic_cv` returns: slopes ``coef`` ``[p]`` and ``intercept`` at the
    chosen ``alpha`` refitted on all rows, the path, the mean held-out AUC per α, the chosen
    α's (``cv_auc``) and ``held_out``: each row's logit (intercept included) from the model
    fitted without its fold, at the chosen α."""

    coef: np.ndarray
    intercept: float
    alpha: float
    alphas: np.ndarray
    mean_auc: np.ndarray
    cv_auc: float
    held_out: np.ndarray = field(default_factory=lambda: np.zeros(0))


def fit_logistic_cv(X: np.ndarray, y: np.ndarray, *, l1_ratio: float = 0.9, n_alphas: int = 15,
                    alpha_min_ratio: float = 0.05, folds: int = 5, seed: int = 0
                    ) -> LogisticFit:
    """Choose α by ``folds``-fold cross-validation (stratified on the label) on the held-out
    ROC AUC, then refit on all rows at that α."""
    from hccfusion.training.baseline_checks import _stratified_folds
    from hccfusion.training.metrics import auc_score

    X, y = _check_binary(X, y, l1_ratio, "fit_logistic_cv")
    if min(int(y.sum()), int((1 - y).sum())) < folds or folds < 2:
        raise DataError(f"fit_logistic_cv: {int(y.sum())} positive and {int((1 - y).sum())} "
                        f"negative row(s) cannot be spread over {folds} folds.")
    _, alphas = logistic_path(X, y, l1_ratio=l1_ratio, n_alphas=n_alphas,
                              alpha_min_ratio=alpha_min_ratio)
    fold = _stratified_folds(y.astype(int), folds, seed)
    scores = np.full((len(alphas), folds), np.nan)
    held = np.full((len(alphas), len(y)), np.nan)      # held-out logit of each row, per α
    for k in range(folds):
        train, test = fold != k, fold == k
        coefs, _ = logistic_path(X[train], y[train], l1_ratio=l1_ratio, alphas=alphas)
        for j, beta in enumerate(coefs):
            score = X[test] @ beta[:-1]
            held[j, test] = score + beta[-1]
            if np.ptp(score) > 0:
                scores[j, k] = auc_score(y_true=y[test], score=score)
    mean_auc, best = _choose(scores, "fit_logistic_cv: the AUC is undefined on every held-out "
                                     "fold (no slope leaves 0 on the path).")
    coefs, _ = logistic_path(X, y, l1_ratio=l1_ratio, alphas=alphas[: best + 1])
    return LogisticFit(coef=coefs[-1][:-1], intercept=float(coefs[-1][-1]),
                       alpha=float(alphas[best]), alphas=alphas, mean_auc=mean_auc,
                       cv_auc=float(mean_auc[best]), held_out=held[best].copy())
