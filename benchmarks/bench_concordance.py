"""Harrell's C: hccfusion vs scikit-survival vs lifelines, in one process.

1. C for n = 100,000 patients (continuous risk, 70 % events).
2. 1,000 patient-level bootstrap resamples of C for n = 1,000 (same resample indices for all
   three libraries: ``numpy.random.default_rng(seed).integers(0, n, (1000, n))``).

Values are checked equal (1e-9) before times are printed. Run with
``.venv/bin/python benchmarks/bench_concordance.py`` (scikit-survival and lifelines are
benchmark-only dependencies).
"""

from __future__ import annotations

import time

import numpy as np


def _timed(fn, repeat: int = 1):  # noqa: ANN001, ANN202
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    from lifelines.utils import concordance_index
    from sksurv.metrics import concordance_index_censored

    from hccfusion.evaluation.concordance import bootstrap_harrell_c, harrell_c

    rng = np.random.default_rng(2024)
    n = 100_000
    t = np.round(rng.exponential(400.0, n))       # whole days: many tied times
    e = rng.random(n) < 0.7
    r = rng.normal(size=n)
    harrell_c(time=t[:100], event=e[:100], risk=r[:100])  # warm-up
    t_ours, ours = _timed(lambda: harrell_c(time=t, event=e, risk=r), repeat=3)
    t_ll, ll = _timed(lambda: concordance_index(t, -r, e))
    t_sk, sk = _timed(lambda: concordance_index_censored(e, t, r)[0])
    assert abs(ours.c - ll) < 1e-9 and abs(ours.c - sk) < 1e-9, (ours.c, ll, sk)
    print(f"Harrell C, n={n:,}: C={ours.c:.6f}")
    print(f"  hccfusion {t_ours:8.3f} s | lifelines {t_ll:8.3f} s ({t_ll / t_ours:5.1f}x) | "
          f"scikit-survival {t_sk:8.3f} s ({t_sk / t_ours:5.1f}x)")

    n, n_res, seed = 1_000, 1_000, 7
    t, e, r = t[:n], e[:n], r[:n]
    idx = np.random.default_rng(seed).integers(0, n, size=(n_res, n))
    t_ours, boot = _timed(lambda: bootstrap_harrell_c(time=t, event=e, risk=r,
                                                      n_resamples=n_res, seed=seed), repeat=3)
    t_ll, ll = _timed(lambda: np.array([concordance_index(t[i], -r[i], e[i]) for i in idx]))
    t_sk, sk = _timed(lambda: np.array([concordance_index_censored(e[i], t[i], r[i])[0]
                                        for i in idx]))
    np.testing.assert_allclose(boot.replicates[:, 0], ll, atol=1e-9)
    np.testing.assert_allclose(boot.replicates[:, 0], sk, atol=1e-9)
    print(f"Bootstrap of C, n={n:,}, {n_res:,} resamples: 95% CI "
          f"{boot.ci_low[0]:.4f}-{boot.ci_high[0]:.4f}")
    print(f"  hccfusion {t_ours:8.3f} s | lifelines {t_ll:8.3f} s ({t_ll / t_ours:5.1f}x) | "
          f"scikit-survival {t_sk:8.3f} s ({t_sk / t_ours:5.1f}x)")


if __name__ == "__main__":
    main()
