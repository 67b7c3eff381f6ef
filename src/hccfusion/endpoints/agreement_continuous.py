"""Reader agreement on continuous measurements (domain.md §7.8): per-lesion viable diameters,
per-exam target sums.

- :func:`paired_measurements`: R1/R2 pairs per target lesion or per exam sum from
  ``lesion_reads``.
- :func:`icc_2_1`: ICC(2,1), two-way random, absolute agreement, single rater (Shrout & Fleiss
  1979; McGraw & Wong 1996) with its F-based CI and the Koo–Li band.
- :func:`bland_altman`: bias and 95 % limits of agreement with their CIs (Bland & Altman 1986).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

#: Koo & Li, J Chiropr Med 2016: lower bound (inclusive) → band.
KOO_LI: tuple[tuple[float, str], ...] = (
    (0.9, "excellent"), (0.75, "good"), (0.5, "moderate"), (float("-inf"), "poor"))


def koo_li_band(icc: float) -> str:
    """Koo–Li band of an ICC: < .5 poor, .5–.75 moderate, .75–.9 good, > .9 excellent."""
    return next(band for lower, band in KOO_LI if icc >= lower)


def _check_confidence(confidence: float, where: str) -> None:
    if not 0 < confidence < 1:
        raise UsageError(f"The 'confidence' parameter of {where} must be in (0, 1). "
                         f"Got {confidence!r} instead.")


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"the {name} table lacks columns {missing}; it has {list(frame.columns)}.")

@dataclass(frozen=True)
class IccResult:
    """ICC(2,1) — two-way random effects, absolute agreement, single rater.

    Attributes
    ----------
    icc, ci_low, ci_high
        Estimate and its F-based interval (McGraw & Wong 1996).
    f_value, df1, df2, p_value
        Test of ICC = 0: F = MSR / MSE on (n − 1, (n − 1)(k − 1)) degrees of freedom.
    ms_rows, ms_cols, ms_error
        Mean squares of subjects, raters and residual from the two-way ANOVA.
    n_subjects, n_raters, n_excluded
        Complete subjects used, raters, subjects dropped for a missing rating.
    band, confidence
        Koo–Li band; nominal coverage.
    """

    icc: float
    ci_low: float
    ci_high: float
    f_value: float
    df1: int
    df2: int
    p_value: float
    ms_rows: float
    ms_cols: float
    ms_error: float
    n_subjects: int
    n_raters: int
    n_excluded: int
    band: str
    confidence: float


def icc_2_1(*, ratings: Any, confidence: float = 0.95) -> IccResult:
    """ICC(2,1) of Shrout & Fleiss (Psychol Bull 1979) = ICC(A,1) of McGraw & Wong (1996).

    From the two-way ANOVA of an n × k matrix (subjects × raters) with mean squares MSR
    (subjects), MSC (raters) and MSE (residual)::

        ICC = (MSR − MSE) / (MSR + (k − 1) MSE + k (MSC − MSE) / n)

    The 95 % CI is McGraw & Wong (Psychol Methods 1996, table 7, case 2A): with
    a = kρ̂ / (n(1 − ρ̂)), b = 1 + kρ̂(n − 1) / (n(1 − ρ̂)) and Satterthwaite df
    v = (a MSC + b MSE)² / ((a MSC)² / (k − 1) + (b MSE)² / ((n − 1)(k − 1))),
    F* = F_{1−α/2}(n − 1, v), F_* = F_{1−α/2}(v, n − 1)::

        lower = n (MSR − F* MSE) / (F* [k MSC + (kn − k − n) MSE] + n MSR)
        upper = n (F_* MSR − MSE) / (k MSC + (kn − k − n) MSE + n F_* MSR)

    Parameters
    ----------
    ratings
        Array-like of shape (n_subjects, n_raters), e.g. ``pairs[["R1", "R2"]]``; rows with
        a missing value are dropped and counted.
    confidence
        Two-sided coverage.

    Returns
    -------
    IccResult
    """
    import numpy as np
    from scipy.stats import f as f_dist

    _check_confidence(confidence, "icc_2_1")
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise UsageError("The 'ratings' parameter of icc_2_1 must be a 2-D array with one column "
                         f"per rater (>= 2). Got shape {x.shape} instead.")
    complete = ~np.isnan(x).any(axis=1)
    x = x[complete]
    n, k = x.shape
    if n < 2:
        raise DataError(f"ICC needs at least 2 subjects rated by every rater; got {n}.")
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    df1, df2 = n - 1, (n - 1) * (k - 1)
    msr, msc, mse = ss_rows / df1, ss_cols / (k - 1), ss_err / df2
    if mse <= 0 or msr <= 0:
        raise DataError("ICC is undefined: no residual or no between-subject variation.")
    icc = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    a = k * icc / (n * (1 - icc))
    b = 1 + k * icc * (n - 1) / (n * (1 - icc))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / df2)
    q = 0.5 + confidence / 2
    f_hi, f_lo = f_dist.ppf(q, df1, v), f_dist.ppf(q, v, df1)
    c = k * msc + (k * n - k - n) * mse
    lower = n * (msr - f_hi * mse) / (f_hi * c + n * msr)
    upper = n * (f_lo * msr - mse) / (c + n * f_lo * msr)
    f_value = msr / mse
    return IccResult(icc=float(icc), ci_low=float(lower), ci_high=float(upper),
                     f_value=float(f_value), df1=df1, df2=df2,
                     p_value=float(f_dist.sf(f_value, df1, df2)), ms_rows=float(msr),
                     ms_cols=float(msc), ms_error=float(mse), n_subjects=n, n_raters=k,
                     n_excluded=int((~complete).sum()), band=koo_li_band(icc),
                     confidence=confidence)


@dataclass(frozen=True)
class BlandAltman:
    """Bland–Altman agreement of two measurements (difference = first − second).

    Attributes
    ----------
    bias, bias_ci_low, bias_ci_high
        Mean difference and its t interval.
    sd_diff
        Standard deviation of the differences (ddof = 1).
    loa_low, loa_high
        Limits of agreement, bias ∓ z·sd (z = 1.96 at 95 %).
    loa_low_ci, loa_high_ci
        (low, high) intervals of each limit.
    n, confidence
        Pairs used; nominal coverage.
    """

    bias: float
    bias_ci_low: float
    bias_ci_high: float
    sd_diff: float
    loa_low: float
    loa_high: float
    loa_low_ci: tuple[float, float]
    loa_high_ci: tuple[float, float]
    n: int
    confidence: float


def bland_altman(*, first: Any, second: Any, confidence: float = 0.95) -> BlandAltman:
    """Bias and limits of agreement (Bland & Altman, Lancet 1986).

    d_i = first_i − second_i; bias = d̄, s = SD(d); LoA = d̄ ± z_{1−α/2} s. CI of the bias:
    d̄ ± t_{1−α/2, n−1} s/√n; CI of each limit: LoA ± t_{1−α/2, n−1} √(3 s²/n) (the
    approximate SE of a limit, Bland & Altman 1986, section 5). Pairs with a missing value are
    dropped. Several lesions of one patient are not independent: the intervals are then too
    narrow (Bland & Altman 2007 give the repeated-measures version, not implemented here).
    """
    import numpy as np
    from scipy.stats import norm, t

    _check_confidence(confidence, "bland_altman")
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise UsageError("The 'first' and 'second' parameters of bland_altman must be 1-D and of "
                         f"equal length. Got shapes {a.shape} and {b.shape} instead.")
    d = (a - b)[~(np.isnan(a) | np.isnan(b))]
    n = d.size
    if n < 2:
        raise DataError(f"Bland–Altman needs at least 2 complete pairs; got {n}.")
    bias, s = float(d.mean()), float(d.std(ddof=1))
    z, tq = float(norm.ppf(0.5 + confidence / 2)), float(t.ppf(0.5 + confidence / 2, n - 1))
    lo, hi = bias - z * s, bias + z * s
    half_bias, half_loa = tq * s / float(np.sqrt(n)), tq * float(np.sqrt(3 * s**2 / n))
    return BlandAltman(bias=bias, bias_ci_low=bias - half_bias, bias_ci_high=bias + half_bias,
                       sd_diff=s, loa_low=lo, loa_high=hi,
                       loa_low_ci=(lo - half_loa, lo + half_loa),
                       loa_high_ci=(hi - half_loa, hi + half_loa), n=n, confidence=confidence)


def paired_measurements(*, lesion_reads: pd.DataFrame, measure: str = "viable_diameter_mm",
                        level: str = "lesion") -> pd.DataFrame:
    """R1/R2 pairs of a target-lesion measurement, per lesion or summed per exam.

    Parameters
    ----------
    lesion_reads
        Canonical ``lesion_reads``; only ``kind == "target"`` rows of R1 and R2 are used.
    measure
        ``viable_diameter_mm`` (mRECIST) or ``longest_diameter_mm`` (RECIST 1.1).
    level
        ``lesion``: one row per lesion_id both readers chose as target on the same exam;
        ``exam``: one row per exam read by both, each reader's sum over their own targets.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``exam_id`` (, ``lesion_id``), ``R1``, ``R2`` in mm.
    """
    if measure not in ("viable_diameter_mm", "longest_diameter_mm"):
        raise UsageError("The 'measure' parameter of paired_measurements must be "
                         f"'viable_diameter_mm' or 'longest_diameter_mm'. Got {measure!r} instead.")
    if level not in ("lesion", "exam"):
        raise UsageError("The 'level' parameter of paired_measurements must be 'lesion' or "
                         f"'exam'. Got {level!r} instead.")
    _require(lesion_reads, ("patient_id", "exam_id", "reader", "lesion_id", "kind", measure),
             "lesion_reads")
    rows = lesion_reads.loc[(lesion_reads["kind"] == "target")
                            & lesion_reads["reader"].isin(["R1", "R2"])]
    keys = ["patient_id", "exam_id"] + (["lesion_id"] if level == "lesion" else [])
    values = rows.groupby([*keys, "reader"])[measure].sum(min_count=1)
    wide = values.unstack("reader").reindex(columns=["R1", "R2"]).dropna()
    wide.columns.name = None
    return wide.reset_index().sort_values(keys).reset_index(drop=True)
