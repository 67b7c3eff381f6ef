"""Who enters the analysis: the study's eligibility criteria applied per patient, and the
CONSORT flow (domain.md §0 inclusion/exclusion, §2.1 T0, §2.6 and §10 decision 3 follow-up).

Each criterion is a named rule (:mod:`hccfusion.clinical.eligibility_rules`) that gives
``pass`` / ``fail`` / ``unknown`` (missing data) / ``n/a`` (other cohort) with a reason.
**Unknown counts as not eligible**: a patient is included only when every applicable rule
passes. In the flow each excluded patient is counted once, at the first rule (in the fixed
order of :func:`~hccfusion.clinical.eligibility_rules.build_rules`) that did not pass, and the
number of those exclusions that were ``unknown`` is reported beside it.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hccfusion.clinical.eligibility_rules import NOT_APPLICABLE, PASS, Rule, build_rules
from hccfusion.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

FOLLOWUP_RULES: tuple[str, ...] = ("potential", "survived")
DEFAULT_CLINICAL_FIELDS: tuple[str, ...] = (
    "sex", "etiology", "tumour_number", "largest_diameter_mm", "pvtt", "extrahepatic_spread")
SURVIVED_WARNING = (
    "followup_rule='survived' excludes patients who died or were lost within {days} days of "
    "T0; survival (OS/PFS) must then be reported from the {days}-day landmark (conditional on "
    "being alive and followed at T0 + {days} days), never from T0, or it carries immortal "
    "time (domain.md §2.6, §10 decision 3).")


class EligibilitySettings(BaseModel):
    """Settings of the eligibility assessment; recorded with every run.

    ``followup_rule``: ``potential`` (default, §10 decision 3) — T0 ≤ cut-off − 90 days, early
    deaths stay in; ``survived`` — alive and followed ≥ 90 days after T0 (then survival must be
    reported from the 3-month landmark; the result carries that warning).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cutoff: dt.date
    followup_rule: Literal["potential", "survived"] = "potential"
    followup_days: int = Field(90, ge=1, le=3650)
    age_min: int = Field(18, ge=0, le=120)
    age_max: int = Field(80, ge=0, le=120)
    baseline_lab_window_days: int = Field(14, ge=0, le=365)
    clinical_fields: tuple[str, ...] = DEFAULT_CLINICAL_FIELDS

    @model_validator(mode="after")
    def _check(self) -> EligibilitySettings:
        if self.age_min > self.age_max:
            raise ValueError(f"age_min ({self.age_min}) must not exceed age_max ({self.age_max})")
        from hccfusion.io.schema import TABLES

        known = TABLES["patients"].columns
        bad = [f for f in self.clinical_fields if f not in known]
        if bad:
            raise ValueError(f"clinical_fields {bad} are not columns of the patients table")
        return self


@dataclass(frozen=True)
class EligibilityResult:
    """Outcome of :func:`assess_eligibility`.

    Attributes
    ----------
    per_patient
        One row per screened patient: ``patient_id``, ``center``, ``cohort``, ``t0``, one
        status column per rule (pass/fail/unknown/n/a), ``eligible`` (bool), ``excluded_at``
        (first rule not passed, or NA) and ``reasons`` (every non-passing rule's reason).
    flow
        The CONSORT flow, tidy: ``cohort``, ``center`` (a centre or ``all``), ``step`` (0 =
        assessed, 1… = exclusion steps, last = included), ``stage`` (assessed / excluded /
        included), ``rule``, ``label``, ``n`` and ``n_unknown`` (exclusions for missing data).
    rules
        Rule names in flow order.
    settings
        The settings used.
    warnings
        Things the analysis must state (e.g. the landmark for ``followup_rule='survived'``).
    """

    per_patient: pd.DataFrame
    flow: pd.DataFrame
    rules: tuple[str, ...]
    settings: EligibilitySettings
    warnings: tuple[str, ...] = ()


@functools.lru_cache(maxsize=None)
def _canonical_dtypes(name: str) -> tuple[tuple[str, str], ...]:
    from hccfusion.io.schema import empty_table

    return tuple((c, str(t)) for c, t in empty_table(name).dtypes.items())


def _table(tables: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    from hccfusion.io.schema import coerce_table, empty_table, table_columns

    if name not in tables or tables[name] is None:
        return empty_table(name)
    df = tables[name]
    if tuple((c, str(t)) for c, t in df.dtypes.items()) == _canonical_dtypes(name):
        return df  # already canonical (a Cohort's tables are): skip the re-coercion
    extra = [c for c in df.columns if c not in table_columns(name)]
    return coerce_table(name, df.drop(columns=extra))


def _context(tables: Mapping[str, pd.DataFrame], settings: EligibilitySettings) -> pd.DataFrame:
    """One row per patient with every fact the rules look at."""
    import pandas as pd

    from hccfusion.clinical.baseline_labs import baseline_labs
    from hccfusion.clinical.child_pugh import child_pugh
    from hccfusion.io.index_date import index_dates

    patients = _table(tables, "patients")
    if patients["patient_id"].isna().any():
        raise DataError("patients has rows without patient_id; every row needs a study code.")
    dup = patients["patient_id"][patients["patient_id"].duplicated()]
    if len(dup):
        raise DataError(f"patients has duplicate patient_id {sorted(set(dup.tolist()))}; "
                        "keep one row per patient.")
    no_cohort = patients["patient_id"][~patients["cohort"].isin(["retrospective", "prospective"])]
    if len(no_cohort):
        raise DataError(f"patients {sorted(no_cohort.tolist())} have no cohort; expected "
                        "'retrospective' or 'prospective'. Fill the cohort column in the CRF.")
    treatments = _table(tables, "treatments")
    ctx = patients.merge(index_dates(treatments), on="patient_id", how="left")
    received = ctx["combination_received"].astype("boolean")
    ctx["combination_received"] = received.fillna(False).astype(bool)

    # Any other anticancer treatment that started before T0 means the patient was not naive.
    other = treatments.loc[treatments["kind"] == "other_anticancer",
                           ["patient_id", "agent", "start_date"]]
    other = other.merge(ctx[["patient_id", "t0"]], on="patient_id")
    other = other.loc[(other["start_date"] < other["t0"]).fillna(False).astype(bool)]
    prior = other.sort_values("start_date").groupby("patient_id")["agent"].first()
    ctx["prior_other_agent"] = ctx["patient_id"].map(prior).astype("string")

    labs = baseline_labs(_table(tables, "labs"), ctx[["patient_id", "t0"]],
                         window_days=settings.baseline_lab_window_days)
    labs = ctx[["patient_id"]].merge(labs, on="patient_id", how="left")
    cp = child_pugh(bilirubin_umol_l=labs["bilirubin"], albumin_g_l=labs["albumin"],
                    inr=labs["inr"], ascites=ctx["ascites"], encephalopathy=ctx["encephalopathy"])
    ctx["cp_score"], ctx["cp_score_min"], ctx["cp_score_max"] = (
        cp["score"].to_numpy(), cp["score_min"].to_numpy(), cp["score_max"].to_numpy())
    inputs = pd.DataFrame({"bilirubin": labs["bilirubin"].isna(), "albumin": labs["albumin"].isna(),
                           "inr": labs["inr"].isna(), "ascites": ctx["ascites"].isna(),
                           "encephalopathy": ctx["encephalopathy"].isna()})
    ctx["cp_missing"] = [", ".join(c for c in inputs.columns if row[c])
                         for _, row in inputs.iterrows()]

    exams = _table(tables, "exams").merge(ctx[["patient_id", "t0"]], on="patient_id")
    exams = exams.loc[(exams["date"] <= exams["t0"]).fillna(False).astype(bool)]
    phases = exams["phases"].fillna("").str.split(",")
    exams["phased"] = [{"arterial", "portal_venous"} <= {p.strip() for p in ps} for ps in phases]
    exams["phases_missing"] = exams["phases"].isna()
    by_patient = exams.groupby("patient_id")[["phased", "phases_missing"]].any()
    ctx["baseline_exam_phased"] = ctx["patient_id"].map(by_patient["phased"])
    ctx["baseline_exam_phases_missing"] = ctx["patient_id"].map(by_patient["phases_missing"])

    specimens = _table(tables, "specimens")
    wsi = set(specimens.loc[specimens["kind"] == "biopsy_wsi", "patient_id"].dropna())
    ctx["has_biopsy_wsi"] = ctx["patient_id"].isin(wsi)

    followup = _table(tables, "followup")
    if followup["patient_id"].duplicated().any():
        raise DataError("followup has more than one row for a patient; keep one row per patient.")
    ctx = ctx.merge(followup[["patient_id", "last_contact_date", "death_date"]],
                    on="patient_id", how="left")
    return ctx.reset_index(drop=True)


def assess_eligibility(
    tables: Mapping[str, pd.DataFrame],
    *,
    settings: EligibilitySettings,
) -> EligibilityResult:
    """Apply every eligibility rule to every screened patient and build the CONSORT flow.

    Parameters
    ----------
    tables
        Canonical tables by name (``patients`` required; ``treatments``, ``labs``, ``exams``,
        ``specimens``, ``followup`` used when present, otherwise treated as empty).
    settings
        Cut-off, follow-up reading, age bounds, baseline window.

    Returns
    -------
    EligibilityResult
        Per-patient verdicts and the flow; see the class. Rules: domain.md §0; T0: §10.2;
        Child–Pugh from baseline labs (last value within 14 days before or on T0): §3, §3.1;
        follow-up: §2.6 and §10 decision 3.
    """
    import pandas as pd

    if "patients" not in tables:
        raise DataError(f"the patients table is required; got tables {sorted(tables)}.")
    ctx = _context(tables, settings)
    rules = build_rules(settings)
    out = ctx[["patient_id", "center", "cohort", "t0"]].copy()
    reasons = pd.DataFrame(index=ctx.index)
    for rule in rules:
        applies = ctx["cohort"].isin(rule.cohorts).to_numpy()
        verdict = rule.check(ctx, settings)
        out[rule.name] = verdict["status"].where(applies, NOT_APPLICABLE).astype("string")
        reasons[rule.name] = verdict["reason"].where(applies, "")
    names = tuple(r.name for r in rules)
    status = out[list(names)]
    out["eligible"] = (status.isin([PASS, NOT_APPLICABLE])).all(axis=1).astype(bool)
    not_passed = ~status.isin([PASS, NOT_APPLICABLE])
    out["excluded_at"] = pd.Series(
        [next((n for n in names if row[n]), pd.NA) for _, row in not_passed.iterrows()],
        index=out.index, dtype="string")
    out["reasons"] = pd.Series(
        ["; ".join(f"{n}: {reasons.at[i, n]}" for n in names if not_passed.at[i, n])
         for i in out.index], index=out.index, dtype="string")
    warnings: tuple[str, ...] = ()
    if settings.followup_rule == "survived":
        warnings = (SURVIVED_WARNING.format(days=settings.followup_days),)
    flow = consort_flow(out, rules=rules)
    return EligibilityResult(per_patient=out.sort_values("patient_id").reset_index(drop=True),
                             flow=flow, rules=names, settings=settings, warnings=warnings)


def consort_flow(per_patient: pd.DataFrame, *, rules: tuple[Rule, ...]) -> pd.DataFrame:
    """The CONSORT flow of a per-patient verdict table, per cohort and centre and overall.

    Each patient is counted once: as assessed, then either excluded at ``excluded_at`` or
    included. Every applicable rule gets a row (also with n = 0), so assessed = sum of the
    exclusions + included holds in every cohort × centre block.
    """
    import pandas as pd

    import numpy as np

    excluded_at = per_patient["excluded_at"].fillna("").astype(str).to_numpy(dtype=object)
    status_at = np.full(len(per_patient), "", dtype=object)
    for rule in rules:
        hit = excluded_at == rule.name
        status_at[hit] = per_patient.loc[hit, rule.name].to_numpy()
    frame = pd.DataFrame({"cohort": per_patient["cohort"].to_numpy(),
                          "center": per_patient["center"].astype("object").to_numpy(),
                          "excluded_at": excluded_at, "unknown": status_at == "unknown",
                          "eligible": per_patient["eligible"].to_numpy(dtype=bool)})
    rows: list[dict[str, object]] = []
    for cohort in ("retrospective", "prospective"):
        sub = frame.loc[frame["cohort"] == cohort]
        if sub.empty:
            continue
        steps = [r for r in rules if cohort in r.cohorts]
        centres = [(c, sub.loc[sub["center"] == c]) for c in sorted(sub["center"].dropna().unique())]
        for centre, part in [*centres, ("all", sub)]:
            n_at = part["excluded_at"].value_counts()
            n_unknown = part.loc[part["unknown"], "excluded_at"].value_counts()
            rows.append(dict(cohort=cohort, center=centre, step=0, stage="assessed", rule=None,
                             label="Assessed for eligibility", n=len(part), n_unknown=0))
            for i, rule in enumerate(steps, start=1):
                rows.append(dict(cohort=cohort, center=centre, step=i, stage="excluded",
                                 rule=rule.name, label=rule.label,
                                 n=int(n_at.get(rule.name, 0)),
                                 n_unknown=int(n_unknown.get(rule.name, 0))))
            rows.append(dict(cohort=cohort, center=centre, step=len(steps) + 1, stage="included",
                             rule=None, label="Included", n=int(part["eligible"].sum()),
                             n_unknown=0))
    flow = pd.DataFrame(rows, columns=["cohort", "center", "step", "stage", "rule", "label", "n",
                                       "n_unknown"])
    for col in ("cohort", "center", "stage", "rule", "label"):
        flow[col] = flow[col].astype("string")
    return flow.astype({"step": "int64", "n": "int64", "n_unknown": "int64"})
