"""The study report job (``hccfusion report``): a frozen cohort and its endpoint tables in, one
HTML report folder out, structured by the TRIPOD+AI items that apply to what exists.

Computation happens here with :mod:`hccfusion.evaluation` (Kaplan–Meier, log-rank, medians,
follow-up, Table 1); drawing with :mod:`hccfusion.reporting.figures`; assembling with
:mod:`hccfusion.reporting.html`. Every number shown is written as a CSV beside the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hccfusion.errors import UsageError

AT_RISK_MONTHS = (0, 6, 12, 18, 24, 30, 36)
DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class ReportResult:
    path: Path
    n_tables: int
    n_figures: int


def _read_endpoints(folder: Path) -> dict[str, pd.DataFrame]:
    need = ("survival", "response_rates", "best_response", "shrinkage", "reader_agreement",
            "measurement_agreement", "ae_counts", "eligibility", "consort_flow",
            "baseline_scores")
    missing = [n for n in need if not (folder / f"{n}.parquet").exists()]
    if missing:
        raise UsageError(f"{folder} lacks {', '.join(f'{n}.parquet' for n in missing)}; run "
                         "`hccfusion endpoints --cohort … --out …` first")
    return {n: pd.read_parquet(folder / f"{n}.parquet") for n in need}


def _km_section(surv: pd.DataFrame, eligible: pd.DataFrame):  # noqa: ANN202
    from hccfusion.evaluation.logrank import logrank_test
    from hccfusion.evaluation.survival_curves import (kaplan_meier, median_survival,
                                                      reverse_km_followup)
    from hccfusion.reporting.figures import plot_km
    from hccfusion.reporting.html import FigureBlock, Section, TableBlock

    blocks = []
    medians = []
    centres = eligible.set_index("patient_id")["center"]
    at = [m * DAYS_PER_MONTH for m in AT_RISK_MONTHS]
    for endpoint, criterion, label in (("OS", None, "Overall survival"),
                                       ("PFS", "mrecist", "Progression-free survival (mRECIST)"),
                                       ("PFS", "recist11", "Progression-free survival (RECIST 1.1)")):
        part = surv[surv["endpoint"] == endpoint]
        if criterion is not None:
            part = part[part["criterion"] == criterion]
        part = part[part["patient_id"].isin(centres.index)]
        if part.empty:
            continue
        group = part["patient_id"].map(centres).astype(str).to_numpy()
        km = kaplan_meier(time=part["time"].to_numpy(), event=part["event"].to_numpy(bool),
                          group=group)
        lr = logrank_test(time=part["time"].to_numpy(), event=part["event"].to_numpy(bool),
                          group=group) if len(set(group)) > 1 else None
        risk = km.at_risk(at)
        med = median_survival(time=part["time"].to_numpy(), event=part["event"].to_numpy(bool),
                              group=group).table
        overall = median_survival(time=part["time"].to_numpy(),
                                  event=part["event"].to_numpy(bool)).table
        for frame in (med, overall):
            for rec in frame.itertuples():
                medians.append({"endpoint": label, "centre": rec.group, "n": int(rec.n),
                                "events": int(rec.n_events),
                                "median_months": rec.median / DAYS_PER_MONTH,
                                "ci_low_months": rec.ci_low / DAYS_PER_MONTH,
                                "ci_high_months": rec.ci_high / DAYS_PER_MONTH})
        p = None if lr is None else lr.p_value
        blocks.append(FigureBlock(
            caption=f"{label} by centre (eligible patients); numbers at risk beneath; "
                    f"log-rank p {'' if p is None else f'= {p:.3g}'}",
            name=f"km_{endpoint}_{criterion or 'all'}",
            data=km.table,
            draw=lambda km=km, risk=risk, p=p, label=label: plot_km(
                km.table, at_risk=risk, p_value=p, ylabel=label)))
    os_ = surv[(surv["endpoint"] == "OS") & surv["patient_id"].isin(centres.index)]
    fu = reverse_km_followup(time=os_["time"].to_numpy(), event=os_["event"].to_numpy(bool))
    follow = pd.DataFrame([{"median_follow_up_months": fu.median_days / DAYS_PER_MONTH,
                            "q1_months": fu.q1_days / DAYS_PER_MONTH,
                            "q3_months": fu.q3_days / DAYS_PER_MONTH, "n": fu.n}])
    tables = [TableBlock("Median survival (Kaplan–Meier; 95 % CI Brookmeyer–Crowley, log-log)",
                         pd.DataFrame(medians), "medians"),
              TableBlock("Median follow-up (reverse Kaplan–Meier)", follow, "follow_up")]
    return Section(id="survival", title="Survival: OS and PFS",
                   tripod="outcome definition (OS/PFS per domain rules, censoring table "
                          "§2.3); participants' outcomes",
                   blocks=tuple(blocks) + tuple(tables))


def _rates_table(rates: pd.DataFrame) -> pd.DataFrame:
    shown = rates.copy()
    for c in ("proportion", "ci_low", "ci_high"):
        shown[c] = (100 * shown[c]).round(1)
    return shown.rename(columns={"proportion": "percent", "ci_low": "ci_low_pct",
                                 "ci_high": "ci_high_pct"})[
        ["criterion", "cohort", "center", "endpoint", "n_patients", "n_events", "percent",
         "ci_low_pct", "ci_high_pct"]]


def _waterfall_data(shrinkage: pd.DataFrame, bor: pd.DataFrame, eligible: set[str]) -> pd.DataFrame:
    s = shrinkage[(shrinkage["criterion"] == "mrecist") & shrinkage["patient_id"].isin(eligible)]
    s = s.dropna(subset=["pct_change"])
    best = s.groupby("patient_id", as_index=False)["pct_change"].min()
    b = bor[(bor["reader"] == "final") & (bor["criterion"] == "mrecist")]
    best = best.merge(b[["patient_id", "bor_unconfirmed"]], on="patient_id", how="left")
    return best.rename(columns={"pct_change": "best_pct_change",
                                "bor_unconfirmed": "best_response"})


def build_report(*, cohort: Path, endpoints: Path, out: Path,
                 evaluation: Path | None = None,
                 mechanism: Path | None = None) -> ReportResult:
    """Render the study report for a frozen cohort and its endpoint tables.

    Parameters
    ----------
    cohort
        Frozen cohort folder (``hccfusion cohort freeze``).
    endpoints
        Folder written by ``hccfusion endpoints``.
    out
        Report folder (created): ``report.html`` with ``tables/`` and ``figures/``.
    evaluation
        Optional folder written by ``hccfusion evaluate``; when given, the "Model performance"
        section shows its tables and figures
        (:func:`hccfusion.reporting.model_performance.model_performance_section`), otherwise a
        note that no predictions are part of the report.
    mechanism
        Optional folder written by ``hccfusion mechanism``; adds the "Mechanism" section
        (:func:`hccfusion.reporting.mechanism_section.mechanism_section`).
    """
    from hccfusion.evaluation.table_one import table_one
    from hccfusion.io.cohort import Cohort
    from hccfusion.reporting.consort import plot_consort
    from hccfusion.reporting.figures import plot_waterfall
    from hccfusion.reporting.html import FigureBlock, Section, TableBlock, render_report

    snapshot = Cohort.load(cohort)
    ep = _read_endpoints(Path(endpoints))
    model_section = None
    if evaluation is not None:  # read it first: a bad evaluation folder fails before drawing
        from hccfusion.reporting.model_performance import model_performance_section

        model_section = model_performance_section(Path(evaluation))
    per_patient, flow = ep["eligibility"], ep["consort_flow"]  # as the endpoints job assessed it
    eligible = per_patient[per_patient["eligible"]]
    ids = set(eligible["patient_id"])
    patients = snapshot.tables["patients"]
    sections: list[Section] = []

    counts = (patients.groupby(["center", "cohort"]).size().rename("patients").reset_index())
    sections.append(Section(
        id="data", title="Data sources and participants",
        tripod="data sources and dates; eligibility criteria; participant flow",
        text=f"Frozen cohort at data cut-off {snapshot.cutoff.isoformat()} "
             f"(schema {snapshot.meta.get('schema_version')}, source hash "
             f"{snapshot.source_hash[:16]}…). {len(patients)} patients screened, "
             f"{len(eligible)} eligible.",
        blocks=(TableBlock("Screened patients by centre and cohort", counts, "screened"),
                FigureBlock("CONSORT flow: exclusions at the first criterion not met",
                            name="consort", data=flow,
                            draw=lambda: plot_consort(flow)))))

    scores = ep["baseline_scores"][["patient_id", "afp_ng_ml", "crp_mg_l", "child_pugh_class",
                                    "albi_grade", "crafity", "six_and_twelve"]]
    base = patients.merge(scores, on="patient_id", how="left")
    base = base[base["patient_id"].isin(ids)].copy()
    ia = snapshot.tables["treatments"]
    ia = ia[ia["kind"].isin(["TACE", "HAIC"])].sort_values("start_date")
    base["intra_arterial"] = base["patient_id"].map(ia.groupby("patient_id")["kind"].first())
    continuous = ("age_years", "largest_diameter_mm", "tumour_number", "afp_ng_ml", "crp_mg_l")
    categorical = ("sex", "etiology", "ecog", "bclc", "child_pugh_class", "albi_grade", "pvtt",
                   "extrahepatic_spread", "crafity", "six_and_twelve", "intra_arterial")
    for col in categorical:
        base[col] = base[col].astype("string")
    t1 = table_one(base, group="cohort", continuous=continuous, categorical=categorical)
    t1c = table_one(base, group="center", continuous=continuous, categorical=categorical)
    sections.append(Section(
        id="table1", title="Baseline characteristics (Table 1)",
        tripod="participant characteristics, by cohort and by centre (development vs "
               "external)",
        blocks=(TableBlock("By cohort", t1, "table1_cohort"),
                TableBlock("By centre", t1c, "table1_centre"))))

    waterfall = _waterfall_data(ep["shrinkage"], ep["best_response"], ids)
    sections.append(Section(
        id="response", title="Tumour response (mRECIST primary, RECIST 1.1 secondary)",
        tripod="outcome definition and assessment (two blinded readers, MDT consensus)",
        text="Objective response by the consensus read; NE and missing assessments count as "
             "non-responders; 95 % CIs Clopper–Pearson.",
        blocks=(TableBlock("ORR, DCR and CR rate", _rates_table(ep["response_rates"]), "rates"),
                FigureBlock("Best change of the viable target sum (mRECIST) per patient",
                            name="waterfall", data=waterfall,
                            draw=lambda: plot_waterfall(waterfall)))))

    sections.append(_km_section(ep["survival"], eligible))

    sections.append(Section(
        id="agreement", title="Reader agreement",
        tripod="blinding and agreement of outcome assessors",
        blocks=(TableBlock("Cohen's κ between R1 and R2 (best overall response)",
                           ep["reader_agreement"][["criterion", "measure", "kappa", "ci_low",
                                                   "ci_high", "n", "band"]], "kappa"),
                TableBlock("ICC(2,1) and Bland–Altman, viable diameters",
                           ep["measurement_agreement"], "icc"))))

    ae = ep["ae_counts"]
    sections.append(Section(
        id="safety", title="Adverse events (CTCAE v5.0)",
        tripod="harms (secondary outcome: biopsy and specimen-collection adverse events)",
        blocks=(TableBlock("Patients with any grade and grade ≥ 3, by procedure and term",
                           ae, "adverse_events"),)))

    if model_section is None:
        model_section = Section(
            id="model", title="Model performance",
            tripod="discrimination, calibration, clinical utility, risk groups, comparison "
                   "with clinical scores",
            note="No model predictions are part of this report yet: these sections are added "
                 "when predictions from a trained model bundle are supplied.")
    sections.append(model_section)
    if mechanism is not None:
        from hccfusion.reporting.mechanism_section import mechanism_section

        sections.append(mechanism_section(Path(mechanism)))

    meta = {"cutoff": snapshot.cutoff.isoformat(), "n_patients": len(patients),
            "centres": sorted(patients["center"].dropna().unique()),
            "source_hash": snapshot.source_hash}
    path = render_report(sections=sections, out=Path(out),
                         title="uHCC cohort study — data and endpoints report", meta=meta)
    n_tables = sum(1 for s in sections for b in s.blocks if isinstance(b, TableBlock))
    n_figures = sum(1 for s in sections for b in s.blocks if isinstance(b, FigureBlock))
    (Path(out) / "report.json").write_text(json.dumps(
        {"cutoff": meta["cutoff"], "sections": [s.id for s in sections],
         "evaluation": None if evaluation is None else str(evaluation),
         "mechanism": None if mechanism is None else str(mechanism),
         "tables": n_tables, "figures": n_figures}, indent=2), encoding="utf-8")
    return ReportResult(path=path, n_tables=n_tables, n_figures=n_figures)
