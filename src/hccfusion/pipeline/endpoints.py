"""The endpoints job: a frozen cohort in, every derived endpoint table out (``hccfusion
endpoints``). It chains the pure functions of :mod:`hccfusion.endpoints` and
:mod:`hccfusion.clinical`; it computes nothing of its own except the one-screen summary.

Tables written (Parquet, one per name): ``timepoints`` (per reader × criterion × exam),
``best_response`` (per patient × reader × criterion, confirmed and unconfirmed),
``response_rates`` (ORR/DCR/CR with Clopper–Pearson CIs by cohort and centre), ``survival``
(OS, PFS, TTP, DoR, TTR for both criteria), ``shrinkage`` and ``depth_of_response``,
``reader_disagreements``, ``reader_agreement`` (κ), ``measurement_agreement`` (ICC,
Bland–Altman), ``lab_grades`` and ``ae_worst`` / ``ae_counts`` (CTCAE v5.0),
``ae_grade_checks``, ``baseline_scores``, ``eligibility`` and ``consort_flow``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd

READERS = ("final", "R1", "R2")
CRITERIA = ("mrecist", "recist11")


@dataclass(frozen=True)
class EndpointResults:
    """Every endpoint table of a cohort, the headline numbers and the warnings."""

    tables: dict[str, pd.DataFrame]
    summary: dict[str, object]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    cutoff: dt.date | None = None

    def write(self, out: Path) -> list[Path]:
        """Write every table as Parquet plus ``summary.json`` under ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in self.tables.items():
            path = out / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            written.append(path)
        meta = {"cutoff": None if self.cutoff is None else self.cutoff.isoformat(),
                "summary": self.summary, "warnings": list(self.warnings)}
        (out / "summary.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        return [*written, out / "summary.json"]


def _km_median(table: pd.DataFrame) -> dict[str, float | int | None]:
    """Kaplan–Meier median (months) with lifelines' 95 % CI of the median (log-log, Brookmeyer–
    Crowley via lifelines' ``median_survival_times`` of the CI curves)."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    if table.empty:
        return {"n": 0, "events": 0, "median_months": None, "ci_low": None, "ci_high": None}
    km = KaplanMeierFitter().fit(table["time"] / 30.4375, event_observed=table["event"].astype(bool))
    ci = median_survival_times(km.confidence_interval_)
    low, high = (float(v) for v in ci.iloc[0])
    median = float(km.median_survival_time_)

    def finite(x: float) -> float | None:
        return None if x != x or x == float("inf") else round(x, 2)

    return {"n": int(len(table)), "events": int(table["event"].sum()),
            "median_months": finite(median), "ci_low": finite(low), "ci_high": finite(high)}


def derive_endpoints(tables: Mapping[str, pd.DataFrame], *, cutoff: dt.date,
                     censoring: str = "primary") -> EndpointResults:
    """Derive every endpoint of a frozen cohort.

    Parameters
    ----------
    tables
        Canonical cohort tables (:class:`hccfusion.io.cohort.Cohort` ``.tables``).
    cutoff
        The cohort's data cut-off (§2.5): survival is censored there.
    censoring
        Named PFS censoring variant (``primary`` or a sensitivity variant, domain.md §2.3).
    """
    from hccfusion.clinical.eligibility import EligibilitySettings, assess_eligibility
    from hccfusion.clinical.scores_baseline import baseline_scores
    from hccfusion.endpoints.agreement import (bland_altman, icc_2_1, mdt_summary,
                                               paired_measurements, reader_disagreements,
                                               response_agreement)
    from hccfusion.endpoints.ctcae import (check_ae_grades, grade3_counts, grade_labs,
                                           worst_grades)
    from hccfusion.endpoints.rates import analysis_population, response_rates
    from hccfusion.endpoints.response import timepoint_responses
    from hccfusion.endpoints.response_bor import best_overall_response
    from hccfusion.endpoints.response_rules import ResponseSettings
    from hccfusion.endpoints.shrinkage import depth_of_response, tumour_shrinkage
    from hccfusion.endpoints.survival import survival_endpoints
    from hccfusion.io.index_date import index_dates

    out: dict[str, pd.DataFrame] = {}
    warnings: list[str] = []
    idx = index_dates(tables["treatments"])
    eligibility = assess_eligibility(tables, settings=EligibilitySettings(cutoff=cutoff))
    out["eligibility"] = eligibility.per_patient
    out["consort_flow"] = eligibility.flow
    eligible = set(eligibility.per_patient.loc[eligibility.per_patient["eligible"], "patient_id"])
    warnings.extend(eligibility.warnings)

    tp = timepoint_responses(tables["lesion_reads"], tables["exams"], index_dates=idx)
    out["timepoints"] = tp
    unconfirmed = ResponseSettings(confirmation_required=False)
    bor = pd.concat([best_overall_response(tp, treatments=tables["treatments"], reader=r,
                                           settings=unconfirmed) for r in READERS],
                    ignore_index=True)
    out["best_response"] = bor
    as_rates = bor.rename(columns={"bor_unconfirmed": "best_response"})
    rates = []
    for criterion in CRITERIA:
        population = analysis_population(eligibility=eligibility.per_patient, timepoints=tp,
                                         criterion=criterion, reader="final")
        rates.append(response_rates(bor=as_rates[as_rates["criterion"] == criterion],
                                    population=population, reader="final"))
    out["response_rates"] = pd.concat(rates, ignore_index=True)

    surv = survival_endpoints(timepoints=tp, treatments=tables["treatments"],
                              followup=tables["followup"], cutoff=cutoff, censoring=censoring)
    out["survival"] = surv.table
    warnings.extend(f"{w.patient_id}: {w.message}" for w in surv.warnings)
    out["shrinkage"] = tumour_shrinkage(timepoints=tp, reader="final")
    out["depth_of_response"] = depth_of_response(timepoints=tp, treatments=tables["treatments"],
                                                 reader="final")

    disagreements = reader_disagreements(timepoints=tp, lesion_reads=tables["lesion_reads"],
                                         criterion="mrecist")
    out["reader_disagreements"] = disagreements
    mdt = mdt_summary(disagreements=disagreements)
    reader_bor = bor[bor["reader"].isin(["R1", "R2"])].rename(
        columns={"bor_unconfirmed": "best_response"})
    kappa = pd.concat([response_agreement(responses=reader_bor, criterion=c).assign(criterion=c)
                       for c in CRITERIA], ignore_index=True)
    out["reader_agreement"] = kappa
    rows = []
    for level in ("lesion", "exam"):
        pairs = paired_measurements(lesion_reads=tables["lesion_reads"],
                                    measure="viable_diameter_mm", level=level)
        if len(pairs) >= 3:
            icc = icc_2_1(ratings=pairs[["R1", "R2"]].to_numpy())
            ba = bland_altman(first=pairs["R1"], second=pairs["R2"])
            rows.append({"measure": "viable_diameter_mm", "level": level, "n": int(len(pairs)),
                         "icc": icc.icc, "icc_ci_low": icc.ci_low, "icc_ci_high": icc.ci_high,
                         "icc_band": icc.band, "ba_bias": ba.bias, "ba_loa_low": ba.loa_low,
                         "ba_loa_high": ba.loa_high})
    out["measurement_agreement"] = pd.DataFrame(rows)

    labs = grade_labs(tables["labs"], index=idx)
    out["lab_grades"] = labs.worst
    specimens = tables["specimens"]
    biopsy = (specimens[specimens["kind"] == "biopsy_wsi"].groupby("patient_id", as_index=False)
              ["date"].min())
    worst = worst_grades(tables["adverse_events"], biopsy_dates=biopsy)
    out["ae_worst"] = worst
    out["ae_counts"] = grade3_counts(worst, n_patients=len(tables["patients"]))
    out["ae_grade_checks"] = check_ae_grades(tables["adverse_events"])
    out["baseline_scores"] = baseline_scores(tables, index_dates=idx)

    summary = _summary(out, eligible=eligible, mdt=mdt)
    return EndpointResults(tables=out, summary=summary, warnings=tuple(warnings), cutoff=cutoff)


def _summary(out: dict[str, pd.DataFrame], *, eligible: set[str], mdt: object) -> dict[str, object]:
    rates = out["response_rates"]
    overall = rates[(rates["cohort"] == "all") & (rates["center"] == "all")]
    rate_rows = {f"{r.criterion}_{r.endpoint}": {"n": int(r.n_patients), "events": int(r.n_events),
                                                 "pct": round(100 * r.proportion, 1),
                                                 "ci": [round(100 * r.ci_low, 1),
                                                        round(100 * r.ci_high, 1)]}
                 for r in overall.itertuples()}
    surv = out["survival"]
    surv = surv[surv["patient_id"].isin(eligible)]
    medians = {"os": _km_median(surv[surv["endpoint"] == "OS"])}
    for criterion in CRITERIA:
        medians[f"pfs_{criterion}"] = _km_median(
            surv[(surv["endpoint"] == "PFS") & (surv["criterion"] == criterion)])
    kappa = {f"{r.criterion}_{r.measure}": {"kappa": round(float(r.kappa), 3),
                                            "ci": [round(float(r.ci_low), 3), round(float(r.ci_high), 3)],
                                            "band": r.band}
             for r in out["reader_agreement"].itertuples()}
    counts = out["ae_counts"]
    ae = {str(r.procedure): int(r.n_grade3plus) for r in counts[counts["term"] == "any"].itertuples()}
    return {"patients": int(len(out["eligibility"])), "eligible": len(eligible), "rates": rate_rows,
            "medians": medians, "kappa": kappa,
            "mdt": {"pct_timepoints_needing_mdt": round(float(mdt.pct_needing_mdt), 1),
                    "unresolved": int(mdt.n_unresolved)},
            "ae_grade3plus_patients": ae}
