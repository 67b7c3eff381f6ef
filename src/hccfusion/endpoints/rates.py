"""Response rates — ORR, DCR and CR rate with Clopper–Pearson exact CIs (domain.md §1.9).

The denominator is the analysis population: every eligible patient with at least one
measurable target lesion at baseline. Patients whose best overall response is NE, and patients
of the population with no BOR at all, stay in the denominator and count as non-responders.

- ORR = (#CR + #PR) / N
- DCR = (#CR + #PR + #SD) / N
- CR rate = #CR / N

Worked example E15 (domain.md §1.12): N = 150, CR 18, PR 72, SD 40, PD 15, NE 5 →
ORR 60.0 % (51.7–67.9), DCR 86.7 % (80.2–91.7), CR 12.0 % (7.3–18.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

#: Endpoint name → the BOR categories that count as an event.
ENDPOINTS: dict[str, frozenset[str]] = {
    "ORR": frozenset({"CR", "PR"}),
    "DCR": frozenset({"CR", "PR", "SD"}),
    "CR": frozenset({"CR"}),
}
BOR_CATEGORIES: tuple[str, ...] = ("CR", "PR", "SD", "PD", "NE")
RATE_COLUMNS: tuple[str, ...] = (
    "criterion", "cohort", "center", "endpoint", "n_patients", "n_events", "n_ne", "n_missing",
    "proportion", "ci_low", "ci_high", "method")


@dataclass(frozen=True)
class ProportionCI:
    """A binomial proportion with its confidence interval.

    Attributes
    ----------
    successes, n
        Number of events and of patients.
    proportion
        ``successes / n``.
    ci_low, ci_high
        Bounds of the two-sided interval.
    confidence
        Nominal coverage, e.g. 0.95.
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
    if not 0 < confidence < 1:
        raise UsageError(f"The 'confidence' parameter of {where} must be in (0, 1). "
                         f"Got {confidence!r} instead.")


def clopper_pearson(*, successes: int, n: int, confidence: float = 0.95) -> ProportionCI:
    """Clopper–Pearson exact confidence interval of a binomial proportion.

    Clopper & Pearson, Biometrika 1934. With x successes out of n and α = 1 − confidence:
    lower = B(α/2; x, n − x + 1) (0 when x = 0) and upper = B(1 − α/2; x + 1, n − x)
    (1 when x = n), where B(q; a, b) is the q-quantile of the beta distribution.

    Parameters
    ----------
    successes
        Number of events, 0 ≤ successes ≤ n.
    n
        Number of trials (patients), n ≥ 1.
    confidence
        Two-sided coverage, default 0.95.

    Returns
    -------
    ProportionCI
    """
    from scipy.stats import beta

    _check_confidence(confidence, "clopper_pearson")
    x, n_ = int(successes), int(n)
    if x != successes or n_ != n or n_ < 1 or not 0 <= x <= n_:
        raise UsageError("The 'successes' and 'n' parameters of clopper_pearson must be integers "
                         f"with 0 <= successes <= n and n >= 1. Got successes={successes!r}, "
                         f"n={n!r} instead.")
    alpha = 1.0 - confidence
    low = 0.0 if x == 0 else float(beta.ppf(alpha / 2, x, n_ - x + 1))
    high = 1.0 if x == n_ else float(beta.ppf(1 - alpha / 2, x + 1, n_ - x))
    return ProportionCI(successes=x, n=n_, proportion=x / n_, ci_low=low, ci_high=high,
                        confidence=confidence)


def analysis_population(*, eligibility: pd.DataFrame, timepoints: pd.DataFrame,
                        criterion: str = "mrecist", reader: str = "final") -> pd.DataFrame:
    """The response analysis population: eligible patients with ≥ 1 measurable baseline target.

    Parameters
    ----------
    eligibility
        Per-patient verdicts with ``patient_id``, ``cohort``, ``center`` and ``eligible``
        (e.g. ``assess_eligibility(...).per_patient``).
    timepoints
        The time-point table (``patient_id``, ``reader``, ``criterion``, ``is_baseline``,
        ``baseline_sum_mm``). A patient has a measurable target when the chosen reader's baseline
        row for ``criterion`` has a baseline sum > 0 mm (targets are chosen from measurable
        lesions only, §1.2).
    criterion, reader
        Which reading defines measurability; final endpoints use the consensus (``final``).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``cohort``, ``center``, one row per patient of the population.
    """
    import pandas as pd

    _require(eligibility, ("patient_id", "cohort", "center", "eligible"), "eligibility")
    _require(timepoints, ("patient_id", "reader", "criterion", "is_baseline", "baseline_sum_mm"),
             "timepoints")
    base = timepoints.loc[(timepoints["reader"] == reader) & (timepoints["criterion"] == criterion)
                          & timepoints["is_baseline"].fillna(False).astype(bool)]
    sums = pd.to_numeric(base["baseline_sum_mm"], errors="coerce")
    measurable = set(base.loc[sums.gt(0).fillna(False).to_numpy(), "patient_id"])
    keep = eligibility["eligible"].fillna(False).astype(bool) & eligibility["patient_id"].isin(
        measurable)
    return (eligibility.loc[keep, ["patient_id", "cohort", "center"]]
            .sort_values("patient_id").reset_index(drop=True))


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"the {name} table lacks columns {missing}; it has "
                        f"{list(frame.columns)}. Build it with the endpoints functions.")


def response_rates(*, bor: pd.DataFrame, population: pd.DataFrame, reader: str = "final",
                   confidence: float = 0.95) -> pd.DataFrame:
    """ORR, DCR and CR rate with Clopper–Pearson CIs, per criterion, cohort and centre.

    Method: domain.md §1.9; CIs from :func:`clopper_pearson` (Clopper & Pearson 1934).
    Every patient of ``population`` is in the denominator; a BOR of NE and a missing BOR count
    as non-events. BOR rows of patients outside the population are ignored.

    Parameters
    ----------
    bor
        Best-overall-response table: ``patient_id``, ``reader``, ``criterion``,
        ``best_response`` (CR/PR/SD/PD/NE); one row per patient × reader × criterion.
    population
        The analysis population (``patient_id``, ``cohort``, ``center``), e.g. from
        :func:`analysis_population`.
    reader
        Which reading to use; final endpoints use the MDT consensus (``final``).
    confidence
        Two-sided coverage of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per criterion × (cohort, centre) block × endpoint, with columns
        :data:`RATE_COLUMNS`. Blocks: each cohort × centre, each cohort over all centres
        (``center == "all"``) and everything (``cohort == center == "all"``). ``n_ne`` and
        ``n_missing`` count the NE and missing BORs inside ``n_patients``.
    """
    import pandas as pd

    _check_confidence(confidence, "response_rates")
    _require(bor, ("patient_id", "reader", "criterion", "best_response"), "BOR")
    _require(population, ("patient_id", "cohort", "center"), "population")
    if population.empty:
        raise DataError("the analysis population is empty; rates need at least one patient.")
    if population["patient_id"].duplicated().any():
        dup = sorted(population.loc[population["patient_id"].duplicated(), "patient_id"])
        raise DataError(f"the population lists patients {dup} more than once; expected one row "
                        "per patient.")
    rows = bor.loc[bor["reader"] == reader]
    if rows.empty:
        raise DataError(f"the BOR table has no rows for reader '{reader}'; readers present: "
                        f"{sorted(bor['reader'].dropna().unique())}.")
    bad = sorted(set(rows["best_response"].dropna()) - set(BOR_CATEGORIES))
    if bad:
        raise DataError(f"best_response values {bad} are not BOR categories; expected one of "
                        f"{list(BOR_CATEGORIES)}.")
    dups = rows.duplicated(["patient_id", "criterion"])
    if dups.any():
        who = sorted(rows.loc[dups, "patient_id"].unique())
        raise DataError(f"patients {who} have more than one '{reader}' BOR for one criterion; "
                        "expected one row per patient × reader × criterion.")
    pop = population[["patient_id", "cohort", "center"]].astype({"center": "object"})
    blocks = [((c, s), g) for (c, s), g in pop.groupby(["cohort", "center"], sort=True)]
    blocks += [((c, "all"), g) for c, g in pop.groupby("cohort", sort=True)]
    blocks.append((("all", "all"), pop))
    out = []
    for crit in sorted(rows["criterion"].dropna().unique()):
        best = rows.loc[rows["criterion"] == crit].set_index("patient_id")["best_response"]
        for (cohort, centre), group in blocks:
            resp = group["patient_id"].map(best)
            n = len(group)
            for name, events in ENDPOINTS.items():
                k = int(resp.isin(events).sum())
                ci = clopper_pearson(successes=k, n=n, confidence=confidence)
                out.append(dict(criterion=crit, cohort=cohort, center=centre, endpoint=name,
                                n_patients=n, n_events=k, n_ne=int((resp == "NE").sum()),
                                n_missing=int(resp.isna().sum()), proportion=ci.proportion,
                                ci_low=ci.ci_low, ci_high=ci.ci_high, method=ci.method))
    return pd.DataFrame(out, columns=list(RATE_COLUMNS))
