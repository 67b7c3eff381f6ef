"""Agreement between the two blinded readers before MDT adjudication (domain.md §1.11, §7.8).

- :func:`reader_disagreements` / :func:`mdt_summary`: where R1 and R2 disagree (time-point
  category, baseline target selection), whether the MDT recorded a consensus, the share of time
  points that need the MDT and target-selection concordance.
- :func:`cohen_kappa` (unweighted or linearly weighted, asymptotic CI of Fleiss, Cohen &
  Everitt 1969) and :func:`response_agreement` (responder κ and weighted κ over CR/PR/SD/PD,
  with an optional patient-level bootstrap CI).
- Continuous measurements (ICC(2,1), Bland–Altman, R1/R2 pairs) live in
  :mod:`hccfusion.endpoints.agreement_continuous` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hccfusion.endpoints.agreement_continuous import (  # noqa: F401 - re-exports
    _check_confidence,
    _require,
    BlandAltman,
    IccResult,
    bland_altman,
    icc_2_1,
    koo_li_band,
    paired_measurements,
)
from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BlandAltman", "IccResult", "KappaResult", "MdtSummary", "bland_altman",
           "cohen_kappa", "icc_2_1", "koo_li_band", "landis_koch_band", "mdt_summary",
           "paired_measurements", "reader_disagreements", "response_agreement"]

ORDERED_RESPONSES: tuple[str, ...] = ("CR", "PR", "SD", "PD")
RESPONDER: frozenset[str] = frozenset({"CR", "PR"})
#: Landis & Koch, Biometrics 1977: upper bound (inclusive) → band.
LANDIS_KOCH: tuple[tuple[float, str], ...] = (
    (0.0, "poor"), (0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial"),
    (1.0, "almost perfect"))


def landis_koch_band(kappa: float) -> str:
    """Landis–Koch band of a κ: < 0 poor, ≤ .20 slight, ≤ .40 fair, ≤ .60 moderate,
    ≤ .80 substantial, above almost perfect (Landis & Koch, Biometrics 1977)."""
    if kappa < 0:
        return LANDIS_KOCH[0][1]
    return next((band for upper, band in LANDIS_KOCH[1:] if kappa <= upper), LANDIS_KOCH[-1][1])


# --------------------------------------------------------------------------- disagreements
def reader_disagreements(*, timepoints: pd.DataFrame, lesion_reads: pd.DataFrame,
                         criterion: str = "mrecist") -> pd.DataFrame:
    """Flag, per patient and time point, where R1 and R2 disagree (domain.md §1.11).

    Parameters
    ----------
    timepoints
        Time-point table with ``patient_id``, ``exam_id``, ``reader``, ``criterion``,
        ``overall_response``, ``is_baseline``. Rows of readers other than R1/R2/MDT are ignored.
    lesion_reads
        Canonical ``lesion_reads``; the set of ``kind == "target"`` lesion_ids per reader on the
        baseline exam defines target selection.
    criterion
        ``mrecist`` or ``recist11``.

    Returns
    -------
    pandas.DataFrame
        One row per patient × exam read by R1 or R2: ``patient_id``, ``exam_id``,
        ``is_baseline``, ``r1_response``, ``r2_response``, ``single_reader`` (only one reader
        read it), ``category_disagree``, ``target_selection_disagree`` (baseline rows only;
        the two target sets differ), ``needs_mdt`` (any of the three), ``mdt_recorded`` (an MDT
        time point or MDT lesion read exists for the exam).
    """
    import pandas as pd

    _require(timepoints, ("patient_id", "exam_id", "reader", "criterion", "overall_response",
                          "is_baseline"), "timepoints")
    _require(lesion_reads, ("patient_id", "exam_id", "reader", "lesion_id", "kind"),
             "lesion_reads")
    tp = timepoints.loc[timepoints["criterion"] == criterion]
    pair = tp.loc[tp["reader"].isin(["R1", "R2"])]
    if pair.duplicated(["exam_id", "reader"]).any():
        raise DataError("the timepoints table has more than one row per exam × reader for "
                        f"criterion '{criterion}'; expected one.")
    wide = pair.pivot(index=["patient_id", "exam_id"], columns="reader",
                      values="overall_response").reindex(columns=["R1", "R2"])
    base = pair.groupby(["patient_id", "exam_id"])["is_baseline"].agg(
        lambda s: bool(s.fillna(False).astype(bool).any()))
    out = pd.DataFrame({"is_baseline": base, "r1_response": wide["R1"],
                        "r2_response": wide["R2"]}).reset_index()
    out["single_reader"] = out["r1_response"].isna() | out["r2_response"].isna()
    out["category_disagree"] = ~out["single_reader"] & (out["r1_response"] != out["r2_response"])
    targets = lesion_reads.loc[(lesion_reads["kind"] == "target")
                               & lesion_reads["reader"].isin(["R1", "R2"])]
    sets = targets.groupby(["exam_id", "reader"])["lesion_id"].agg(frozenset)
    r1 = out["exam_id"].map(lambda e: sets.get((e, "R1"), frozenset()))
    r2 = out["exam_id"].map(lambda e: sets.get((e, "R2"), frozenset()))
    out["is_baseline"] = out["is_baseline"].astype(bool)
    out["target_selection_disagree"] = out["is_baseline"] & (r1 != r2).to_numpy()
    out["needs_mdt"] = (out["single_reader"] | out["category_disagree"]
                        | out["target_selection_disagree"])
    mdt_exams = set(tp.loc[tp["reader"] == "MDT", "exam_id"]) | set(
        lesion_reads.loc[lesion_reads["reader"] == "MDT", "exam_id"])
    out["mdt_recorded"] = out["exam_id"].isin(mdt_exams)
    out["target_jaccard"] = [len(a & b) / len(a | b) if (a | b) else 1.0 for a, b in zip(r1, r2)]
    return out.sort_values(["patient_id", "exam_id"]).reset_index(drop=True)


@dataclass(frozen=True)
class MdtSummary:
    """What the MDT has to adjudicate, summarised (domain.md §7.8).

    Attributes
    ----------
    n_timepoints, n_needing_mdt, pct_needing_mdt
        Time points (baseline included), those needing the MDT, and their share in %.
    n_unresolved
        Time points needing the MDT with no MDT record yet.
    n_category_disagree
        Follow-up time points where R1 and R2 give different overall categories.
    n_baselines, n_target_sets_identical, target_selection_concordance
        Baseline exams read by both readers, those with identical target sets, and the share.
    mean_target_jaccard
        Mean Jaccard index |R1 ∩ R2| / |R1 ∪ R2| of the baseline target sets.
    """

    n_timepoints: int
    n_needing_mdt: int
    pct_needing_mdt: float
    n_unresolved: int
    n_category_disagree: int
    n_baselines: int
    n_target_sets_identical: int
    target_selection_concordance: float
    mean_target_jaccard: float


def mdt_summary(*, disagreements: pd.DataFrame) -> MdtSummary:
    """Summarise :func:`reader_disagreements` (share needing MDT, target-set concordance)."""
    d = disagreements
    n = len(d)
    if n == 0:
        raise DataError("no time points to summarise; the disagreement table is empty.")
    base = d.loc[d["is_baseline"].astype(bool) & ~d["single_reader"].astype(bool)]
    same = int((~base["target_selection_disagree"].astype(bool)).sum())
    nan = float("nan")
    return MdtSummary(
        n_timepoints=n, n_needing_mdt=int(d["needs_mdt"].sum()),
        pct_needing_mdt=100.0 * float(d["needs_mdt"].mean()),
        n_unresolved=int((d["needs_mdt"] & ~d["mdt_recorded"]).sum()),
        n_category_disagree=int(d["category_disagree"].sum()),
        n_baselines=len(base), n_target_sets_identical=same,
        target_selection_concordance=same / len(base) if len(base) else nan,
        mean_target_jaccard=float(base["target_jaccard"].mean()) if len(base) else nan)


# --------------------------------------------------------------------------- kappa
@dataclass(frozen=True)
class KappaResult:
    """Cohen's κ with its asymptotic confidence interval.

    Attributes
    ----------
    kappa, se, ci_low, ci_high
        Estimate, large-sample (non-null) standard error, two-sided interval ``kappa ± z·se``.
    p_observed, p_expected
        Observed and chance agreement (weighted when ``weights`` is set).
    n, n_excluded
        Pairs used, and pairs dropped (a category outside ``categories`` or missing).
    weights
        ``None`` (unweighted) or ``"linear"``.
    band
        Landis–Koch band.
    confidence
        Nominal coverage.
    """

    kappa: float
    se: float
    ci_low: float
    ci_high: float
    p_observed: float
    p_expected: float
    n: int
    n_excluded: int
    weights: str | None
    band: str
    confidence: float


def cohen_kappa(*, rater1: Any, rater2: Any, categories: tuple[Any, ...],
                weights: str | None = None, confidence: float = 0.95) -> KappaResult:
    """Cohen's κ (Cohen 1960) or linearly weighted κ (Cohen 1968) for two raters.

    With agreement weights w_ij (identity, or 1 − |i − j| / (k − 1) for ``"linear"``), cell
    proportions p_ij and margins p_i·, p_·j: p_o = Σ w_ij p_ij, p_e = Σ w_ij p_i· p_·j,
    κ = (p_o − p_e) / (1 − p_e). Large-sample variance (Fleiss, Cohen & Everitt, Psychol Bull
    1969, eq. 13)::

        var(κ) = {Σ p_ij [w_ij − (w̄_i· + w̄_·j)(1 − κ)]² − [κ − p_e(1 − κ)]²} / (n (1 − p_e)²)

    with w̄_i· = Σ_j p_·j w_ij and w̄_·j = Σ_i p_i· w_ij; CI = κ ± z_{1−α/2}·SE.

    Parameters
    ----------
    rater1, rater2
        Equal-length sequences of categories, one pair per rated item.
    categories
        The categories in their order (the order matters only when weighted). Pairs with a
        value outside them (e.g. NE) or missing are dropped and counted in ``n_excluded``.
    weights
        ``None`` or ``"linear"``.
    confidence
        Two-sided coverage.

    Returns
    -------
    KappaResult
    """
    import numpy as np
    from scipy.stats import norm

    _check_confidence(confidence, "cohen_kappa")
    if weights not in (None, "linear"):
        raise UsageError("The 'weights' parameter of cohen_kappa must be None or 'linear'. "
                         f"Got {weights!r} instead.")
    a, b = list(rater1), list(rater2)
    if len(a) != len(b):
        raise UsageError(f"rater1 and rater2 must have the same length; got {len(a)} and {len(b)}.")
    k = len(categories)
    if k < 2:
        raise UsageError(f"cohen_kappa needs at least 2 categories; got {categories!r}.")
    index = {c: i for i, c in enumerate(categories)}
    keep = [(index[x], index[y]) for x, y in zip(a, b) if x in index and y in index]
    n = len(keep)
    if n == 0:
        raise DataError(f"no pair of ratings falls in the categories {list(categories)}.")
    table = np.zeros((k, k))
    for i, j in keep:
        table[i, j] += 1
    p = table / n
    idx = np.arange(k)
    w = (np.eye(k) if weights is None
         else 1.0 - np.abs(idx[:, None] - idx[None, :]) / (k - 1))
    row, col = p.sum(axis=1), p.sum(axis=0)
    p_o = float((w * p).sum())
    p_e = float((w * np.outer(row, col)).sum())
    if np.isclose(p_e, 1.0):
        raise DataError("κ is undefined: both raters used a single, identical category for every "
                        "item (chance agreement is 1).")
    kappa = (p_o - p_e) / (1 - p_e)
    w_row, w_col = w @ col, row @ w  # w̄_i·, w̄_·j
    inner = (p * (w - (w_row[:, None] + w_col[None, :]) * (1 - kappa)) ** 2).sum()
    var = (inner - (kappa - p_e * (1 - kappa)) ** 2) / (n * (1 - p_e) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    z = float(norm.ppf(0.5 + confidence / 2))
    return KappaResult(kappa=float(kappa), se=se, ci_low=float(kappa - z * se),
                       ci_high=float(kappa + z * se), p_observed=p_o, p_expected=p_e, n=n,
                       n_excluded=len(a) - n, weights=weights, band=landis_koch_band(kappa),
                       confidence=confidence)


def _kappa_pairs(table: pd.DataFrame) -> tuple[Any, ...]:
    resp1 = table["R1"].to_numpy(dtype=object)
    resp2 = table["R2"].to_numpy(dtype=object)
    binary = (tuple("yes" if r in RESPONDER else ("no" if isinstance(r, str) else None)
                    for r in resp1),
              tuple("yes" if r in RESPONDER else ("no" if isinstance(r, str) else None)
                    for r in resp2))
    return binary, (tuple(resp1), tuple(resp2))


def response_agreement(*, responses: pd.DataFrame, criterion: str = "mrecist",
                       confidence: float = 0.95, n_boot: int = 0,
                       seed: int | None = None) -> pd.DataFrame:
    """Responder κ and linearly weighted κ over CR/PR/SD/PD between R1 and R2 (§7.8).

    Responder κ: CR/PR vs everything else (SD, PD and NE count as non-responders, as in the
    rates, §1.9). Weighted κ: ordered CR < PR < SD < PD with linear weights; NE pairs are
    excluded and counted. Asymptotic CIs follow Fleiss, Cohen & Everitt (1969); with
    ``n_boot > 0`` a percentile bootstrap CI resamples patients with replacement (all of a
    patient's rows together), seeded by ``seed`` (Efron & Tibshirani 1993).

    Parameters
    ----------
    responses
        A time-point table (``overall_response``; baseline rows are dropped) or a BOR table
        (``best_response``), with ``patient_id``, ``reader``, ``criterion``; exam-level rows
        also need ``exam_id``.
    criterion
        ``mrecist`` or ``recist11``.
    confidence, n_boot, seed
        Interval coverage, bootstrap replicates (0 = none), bootstrap seed.

    Returns
    -------
    pandas.DataFrame
        Two rows (``measure`` = ``responder`` / ``weighted_crprsdpd``) with ``kappa``, ``se``,
        ``ci_low``, ``ci_high`` (asymptotic), ``boot_ci_low``, ``boot_ci_high`` (NaN when
        ``n_boot == 0``), ``p_observed``, ``p_expected``, ``n``, ``n_excluded``, ``band``,
        ``n_patients``, ``n_boot``, ``n_boot_used`` (replicates where κ was defined; the
        others, e.g. a resample where both readers used one category, are skipped), ``seed``.
    """
    import numpy as np
    import pandas as pd

    _check_confidence(confidence, "response_agreement")
    if n_boot < 0:
        raise UsageError(f"The 'n_boot' parameter of response_agreement must be >= 0. "
                         f"Got {n_boot!r} instead.")
    col = "overall_response" if "overall_response" in responses.columns else "best_response"
    _require(responses, ("patient_id", "reader", "criterion", col), "responses")
    rows = responses.loc[(responses["criterion"] == criterion)
                         & responses["reader"].isin(["R1", "R2"])]
    if "is_baseline" in rows.columns:
        rows = rows.loc[~rows["is_baseline"].fillna(False).astype(bool)]
    keys = ["patient_id", "exam_id"] if "exam_id" in rows.columns else ["patient_id"]
    if rows.duplicated([*keys, "reader"]).any():
        raise DataError(f"more than one {col} per {' × '.join(keys)} × reader.")
    wide = rows.pivot(index=keys, columns="reader", values=col).reindex(
        columns=["R1", "R2"]).dropna().reset_index()
    if wide.empty:
        raise DataError(f"no {criterion} item was rated by both R1 and R2.")
    specs = (("responder", ("yes", "no"), None), ("weighted_crprsdpd", ORDERED_RESPONSES, "linear"))

    def kappas(table: pd.DataFrame) -> list[KappaResult]:
        binary, ordinal = _kappa_pairs(table)
        return [cohen_kappa(rater1=pairs[0], rater2=pairs[1], categories=cats, weights=w,
                            confidence=confidence)
                for pairs, (_, cats, w) in zip((binary, ordinal), specs)]

    point = kappas(wide)
    boot = np.full((len(specs), 2), np.nan)
    draws: list[list[float]] = [[] for _ in specs]
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        groups = [g for _, g in wide.groupby("patient_id", sort=True)]
        for _ in range(n_boot):
            pick = rng.integers(0, len(groups), size=len(groups))
            sample = pd.concat([groups[i] for i in pick], ignore_index=True)
            for s, ((_, cats, w), pairs) in enumerate(zip(specs, _kappa_pairs(sample))):
                try:
                    draws[s].append(cohen_kappa(rater1=pairs[0], rater2=pairs[1],
                                                categories=cats, weights=w).kappa)
                except DataError:  # a resample with no usable pair or no variation
                    continue
        alpha = 1 - confidence
        for s, values in enumerate(draws):
            if values:
                boot[s] = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    out = []
    for s, ((name, _, _), res) in enumerate(zip(specs, point)):
        out.append(dict(measure=name, kappa=res.kappa, se=res.se, ci_low=res.ci_low,
                        ci_high=res.ci_high, boot_ci_low=boot[s, 0], boot_ci_high=boot[s, 1],
                        p_observed=res.p_observed, p_expected=res.p_expected, n=res.n,
                        n_excluded=res.n_excluded, band=res.band,
                        n_patients=int(wide["patient_id"].nunique()), n_boot=n_boot,
                        n_boot_used=len(draws[s]) if n_boot > 0 else 0, seed=seed))
    return pd.DataFrame(out)

