"""Row and cross-table rules of the data dictionary (domain.md §2.5, §3.3, §6, §0).

Each rule is a function of the parsed tables that yields findings; ``RULES`` lists them in the
order they run. Rule names are stable: tests, the simulator's error injector and users' scripts
refer to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from hccfusion.io.schema import AGENTS_BY_KIND, CTCAE_TERMS, CYCLES_BY_KIND, SPECIMEN_FATE
from hccfusion.types import Severity

#: Settings of the date-hygiene warnings (domain.md §2.5); defaults as decided in §10.
BASELINE_SCAN_MAX_DAYS = 28
FIRST_FOLLOWUP_MAX_DAYS = 84
MAX_GAP_DAYS = 126
BIOPSY_BEFORE_DAYS = 60
BIOPSY_AFTER_DAYS = 7


@dataclass(frozen=True)
class Finding:
    """A rule's finding about table ``table`` at positional row ``index`` (None: whole table)."""

    table: str
    index: int | None
    column: str | None
    rule: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class Context:
    tables: dict[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


Rule = Callable[[Context], Iterator[Finding]]
E, W = Severity.ERROR, Severity.WARNING


def _emit(table: str, mask: pd.Series, column: str, rule: str, severity: Severity,
          message: Callable[[int], str]) -> Iterator[Finding]:
    for i in np.flatnonzero(mask.fillna(False).to_numpy(dtype=bool)):
        yield Finding(table, int(i), column, rule, severity, message(int(i)))


def _d(value: object) -> str:
    return pd.Timestamp(value).date().isoformat()


# ---------------------------------------------------------------- keys and references

def unknown_patient(ctx: Context) -> Iterator[Finding]:
    known = set(ctx["patients"]["patient_id"].dropna())
    for name, df in ctx.tables.items():
        if name == "patients":
            continue
        bad = df["patient_id"].notna() & ~df["patient_id"].isin(known)
        yield from _emit(name, bad, "patient_id", "unknown_patient", E,
                         lambda i, df=df: f"patient '{df['patient_id'].iat[i]}' is not in the "
                                          "patients sheet; add the patient or fix the ID")


def unknown_exam(ctx: Context) -> Iterator[Finding]:
    reads, exams = ctx["lesion_reads"], ctx["exams"]
    owner = exams.dropna(subset=["exam_id"]).drop_duplicates("exam_id").set_index("exam_id")["patient_id"]
    missing = reads["exam_id"].notna() & ~reads["exam_id"].isin(owner.index)
    yield from _emit("lesion_reads", missing, "exam_id", "unknown_exam", E,
                     lambda i: f"exam '{reads['exam_id'].iat[i]}' is not in the exams sheet")
    mapped = reads["exam_id"].map(owner)
    mismatch = mapped.notna() & reads["patient_id"].notna() & (mapped != reads["patient_id"])
    yield from _emit("lesion_reads", mismatch, "patient_id", "exam_patient_mismatch", E,
                     lambda i: f"exam '{reads['exam_id'].iat[i]}' belongs to patient "
                               f"'{mapped.iat[i]}', not '{reads['patient_id'].iat[i]}'")


# ---------------------------------------------------------------- single-table consistency

def end_before_start(ctx: Context) -> Iterator[Finding]:
    t = ctx["treatments"]
    yield from _emit("treatments", t["end_date"] < t["start_date"], "end_date", "end_before_start", E,
                     lambda i: f"end date {_d(t['end_date'].iat[i])} is before the start date "
                               f"{_d(t['start_date'].iat[i])}")
    a = ctx["adverse_events"]
    yield from _emit("adverse_events", a["resolution_date"] < a["onset_date"], "resolution_date",
                     "resolution_before_onset", E,
                     lambda i: f"resolution {_d(a['resolution_date'].iat[i])} is before onset "
                               f"{_d(a['onset_date'].iat[i])}")


def treatment_codes(ctx: Context) -> Iterator[Finding]:
    t = ctx["treatments"]
    allowed = t["kind"].map(lambda k: AGENTS_BY_KIND.get(k, ()) if isinstance(k, str) else ())
    bad = pd.Series([isinstance(a, str) and isinstance(k, tuple) and k != () and a not in k
                     for a, k in zip(t["agent"], allowed)], index=t.index)
    yield from _emit("treatments", bad, "agent", "agent_kind_mismatch", E,
                     lambda i: f"agent '{t['agent'].iat[i]}' is not a {t['kind'].iat[i]} agent; "
                               f"expected one of {', '.join(AGENTS_BY_KIND[t['kind'].iat[i]])}")
    for kind, (lo, hi) in CYCLES_BY_KIND.items():
        c = t["cycles"].astype("float64")
        bad = (t["kind"] == kind) & ((c < lo) | (c > hi))
        yield from _emit("treatments", bad, "cycles", "cycles_out_of_range", E,
                         lambda i, lo=lo, hi=hi, kind=kind: f"{c.iat[i]:g} {kind} cycles/sessions "
                                                            f"is outside {lo}–{hi}")


def staging_consistency(ctx: Context) -> Iterator[Finding]:
    """BCLC 2022: ECOG 1–2, macrovascular invasion or extrahepatic spread imply stage C
    (domain.md §3.3); a record with BCLC 0/A/B and any of them is inconsistent."""
    p = ctx["patients"]
    early = p["bclc"].isin(["0", "A", "B"])
    ecog = early & (p["ecog"].astype("float64") >= 1)
    yield from _emit("patients", ecog, "bclc", "bclc_ecog_inconsistent", E,
                     lambda i: f"BCLC {p['bclc'].iat[i]} with ECOG {p['ecog'].iat[i]}: ECOG ≥ 1 "
                               "implies BCLC C (BCLC 2022); correct the stage or the ECOG")
    vascular = early & (p["pvtt"].isin(["Vp1", "Vp2", "Vp3", "Vp4"]) | (p["hvtt"] == True)  # noqa: E712
                        | (p["extrahepatic_spread"] == True))  # noqa: E712
    yield from _emit("patients", vascular, "bclc", "bclc_vascular_inconsistent", E,
                     lambda i: f"BCLC {p['bclc'].iat[i]} with tumour thrombus or extrahepatic "
                               "spread: these imply BCLC C (BCLC 2022)")
    ehs_sites = (p["extrahepatic_spread"] == False) & p["ehs_sites"].notna()  # noqa: E712
    yield from _emit("patients", ehs_sites, "ehs_sites", "ehs_sites_without_spread", E,
                     lambda i: "extrahepatic sites are given but extrahepatic_spread is 'no'")


def consent(ctx: Context) -> Iterator[Finding]:
    p = ctx["patients"]
    missing = (p["cohort"] == "prospective") & p["consent_date"].isna()
    yield from _emit("patients", missing, "consent_date", "consent_missing", E,
                     lambda i: "a prospective patient needs the informed consent date")
    first = ctx["treatments"].groupby("patient_id")["start_date"].min()
    biopsy = ctx["specimens"].groupby("patient_id")["date"].min()
    first_procedure = pd.concat([first, biopsy], axis=1).min(axis=1)
    started = p["patient_id"].map(first_procedure)
    late = (p["cohort"] == "prospective") & (p["consent_date"] > started)
    yield from _emit("patients", late, "consent_date", "consent_after_treatment", E,
                     lambda i: f"consent {_d(p['consent_date'].iat[i])} is after the first study "
                               f"procedure {_d(started.iat[i])}")


def lesion_reads(ctx: Context) -> Iterator[Finding]:
    r = ctx["lesion_reads"]
    measured = r["viable_diameter_mm"].notna() | r["longest_diameter_mm"].notna() | r["short_axis_mm"].notna()
    unmeasured = (r["kind"] == "target") & (r["evaluable"] != False) & ~measured  # noqa: E712
    yield from _emit("lesion_reads", unmeasured, "viable_diameter_mm", "target_without_measurement", E,
                     lambda i: f"target lesion '{r['lesion_id'].iat[i]}' of exam "
                               f"'{r['exam_id'].iat[i]}' has no diameter; measure it or set "
                               "evaluable = no")
    too_big = r["viable_diameter_mm"] > r["longest_diameter_mm"]
    yield from _emit("lesion_reads", too_big, "viable_diameter_mm", "viable_exceeds_longest", E,
                     lambda i: f"viable diameter {r['viable_diameter_mm'].iat[i]:g} mm exceeds the "
                               f"whole-lesion diameter {r['longest_diameter_mm'].iat[i]:g} mm")


def adverse_event_grades(ctx: Context) -> Iterator[Finding]:
    a = ctx["adverse_events"]
    known = a["term"].isin(list(CTCAE_TERMS))
    yield from _emit("adverse_events", a["term"].notna() & ~known, "term", "unknown_ae_term", W,
                     lambda i: f"'{a['term'].iat[i]}' is not one of the CTCAE v5.0 terms the study "
                               "expects; check the spelling")
    bad = pd.Series([isinstance(t, str) and t in CTCAE_TERMS and pd.notna(g)
                     and int(g) not in CTCAE_TERMS[t] for t, g in zip(a["term"], a["grade"])],
                    index=a.index, dtype=bool)
    yield from _emit("adverse_events", bad, "grade", "grade_not_defined_for_term", E,
                     lambda i: f"CTCAE v5.0 defines grades {CTCAE_TERMS[a['term'].iat[i]]} for "
                               f"'{a['term'].iat[i]}', not {a['grade'].iat[i]}")
    dead = set(ctx["followup"].loc[ctx["followup"]["death_date"].notna(), "patient_id"])
    g5 = (a["grade"] == 5) & ~a["patient_id"].isin(dead)
    yield from _emit("adverse_events", g5, "grade", "grade5_without_death", E,
                     lambda i: "grade 5 means death, but the follow-up sheet has no death date")


def specimens(ctx: Context) -> Iterator[Finding]:
    s = ctx["specimens"]
    no_slide = (s["kind"] == "biopsy_wsi") & s["slide_id"].isna()
    yield from _emit("specimens", no_slide, "slide_id", "slide_id_missing", E,
                     lambda i: "a biopsy_wsi specimen needs its slide_id")
    expected = s["kind"].map(SPECIMEN_FATE)
    wrong = s["fate"].notna() & expected.notna() & (s["fate"] != expected)
    yield from _emit("specimens", wrong, "fate", "specimen_fate_protocol", W,
                     lambda i: f"the protocol says {s['kind'].iat[i]} specimens are "
                               f"{expected.iat[i]}, the sheet says {s['fate'].iat[i]}")


# ---------------------------------------------------------------- dates across tables

_DATED = (("labs", "date"), ("treatments", "start_date"), ("exams", "date"),
          ("adverse_events", "onset_date"), ("specimens", "date"), ("followup", "last_contact_date"))


def death_dates(ctx: Context) -> Iterator[Finding]:
    """Death date earlier than any other date of the patient is an error (domain.md §2.5)."""
    f = ctx["followup"]
    death = f.dropna(subset=["death_date"]).drop_duplicates("patient_id").set_index("patient_id")["death_date"]
    for table, column in _DATED:
        df = ctx[table]
        d = df["patient_id"].map(death)
        bad = d.notna() & df[column].notna() & (df[column] > d)
        yield from _emit(table, bad, column, "death_before_other_date", E,
                         lambda i, df=df, d=d, column=column:
                         f"{column} {_d(df[column].iat[i])} is after the patient's death date "
                         f"{_d(d.iat[i])}")
    exams = ctx["exams"].groupby("patient_id")["date"].max()
    last_exam = f["patient_id"].map(exams)
    early = last_exam.notna() & (f["last_contact_date"] < last_exam)
    yield from _emit("followup", early, "last_contact_date", "last_contact_before_imaging", E,
                     lambda i: f"last contact {_d(f['last_contact_date'].iat[i])} is before the last "
                               f"imaging exam {_d(last_exam.iat[i])}; the last known-alive date "
                               "is at least the last exam date")


def completeness(ctx: Context) -> Iterator[Finding]:
    p = ctx["patients"]
    no_fu = ~p["patient_id"].isin(set(ctx["followup"]["patient_id"].dropna()))
    yield from _emit("patients", no_fu & p["patient_id"].notna(), "patient_id", "no_followup_record", W,
                     lambda i: "the patient has no row in the follow-up sheet")
    no_tx = ~p["patient_id"].isin(set(ctx["treatments"]["patient_id"].dropna()))
    yield from _emit("patients", no_tx & p["patient_id"].notna(), "patient_id", "no_treatment_record", W,
                     lambda i: "the patient has no row in the treatments sheet")


def schedule(ctx: Context) -> Iterator[Finding]:
    """Date-hygiene warnings around the index date T0 = first TACE/HAIC/TKI/PD-1 (§2.1, §2.5)."""
    t = ctx["treatments"]
    protocol = t[t["kind"].isin(["TACE", "HAIC", "TKI", "PD1"])]
    t0 = protocol.groupby("patient_id")["start_date"].min()
    ex = ctx["exams"].dropna(subset=["date", "patient_id"])
    ex_t0 = ex["patient_id"].map(t0)
    before = ex[ex["date"] <= ex_t0].groupby("patient_id")["date"].max()
    after = ex[ex["date"] > ex_t0].sort_values("date")
    p = ctx["patients"]
    p_t0 = p["patient_id"].map(t0)
    base = p["patient_id"].map(before)
    old = p_t0.notna() & (base.isna() | ((p_t0 - base).dt.days > BASELINE_SCAN_MAX_DAYS))
    yield from _emit("patients", old, "patient_id", "baseline_scan_too_old", W,
                     lambda i: "no baseline scan within "
                               f"{BASELINE_SCAN_MAX_DAYS} days before T0 {_d(p_t0.iat[i])}")
    first = after.groupby("patient_id")["date"].min()
    first_p = p["patient_id"].map(first)
    late = first_p.notna() & ((first_p - p_t0).dt.days > FIRST_FOLLOWUP_MAX_DAYS)
    yield from _emit("patients", late, "patient_id", "first_followup_late", W,
                     lambda i: f"first follow-up scan {_d(first_p.iat[i])} is more than "
                               f"{FIRST_FOLLOWUP_MAX_DAYS} days after T0 {_d(p_t0.iat[i])}")
    gap = after.groupby("patient_id")["date"].diff().dt.days
    exams = ctx["exams"]
    gap_by_exam = pd.Series(gap.to_numpy(), index=after["exam_id"].to_numpy())
    g = exams["exam_id"].map(gap_by_exam[~gap_by_exam.index.duplicated()])
    yield from _emit("exams", g > MAX_GAP_DAYS, "date", "followup_gap", W,
                     lambda i: f"{g.iat[i]:.0f} days since the previous follow-up scan "
                               f"(more than {MAX_GAP_DAYS}: missed assessments)")
    s = ctx["specimens"]
    s_t0 = s["patient_id"].map(t0)
    delta = (s["date"] - s_t0).dt.days
    outside = (s["kind"] == "biopsy_wsi") & ((delta < -BIOPSY_BEFORE_DAYS) | (delta > BIOPSY_AFTER_DAYS))
    yield from _emit("specimens", outside, "date", "biopsy_window", W,
                     lambda i: f"biopsy {_d(s['date'].iat[i])} is {delta.iat[i]:+.0f} days from T0; "
                               f"expected within {BIOPSY_BEFORE_DAYS} days before to "
                               f"{BIOPSY_AFTER_DAYS} days after")


RULES: tuple[Rule, ...] = (
    unknown_patient, unknown_exam, end_before_start, treatment_codes, staging_consistency,
    consent, lesion_reads, adverse_event_grades, specimens, death_dates, completeness, schedule,
)

#: Every rule name a finding can carry, with its severity (cell, sheet and cross-table rules).
RULE_NAMES: dict[str, Severity] = {
    "required": E, "type": E, "unknown_code": E, "out_of_range": E, "outside_expected_range": W,
    "partial_date": W, "date_out_of_range": E, "unknown_unit": E, "missing_unit": E,
    "missing_column": E, "duplicate_column": E, "unknown_column": W, "duplicate_key": E,
    "unknown_patient": E, "unknown_exam": E, "exam_patient_mismatch": E, "end_before_start": E,
    "resolution_before_onset": E, "agent_kind_mismatch": E, "cycles_out_of_range": E,
    "bclc_ecog_inconsistent": E, "bclc_vascular_inconsistent": E, "ehs_sites_without_spread": E,
    "consent_missing": E, "consent_after_treatment": E, "target_without_measurement": E,
    "viable_exceeds_longest": E, "unknown_ae_term": W, "grade_not_defined_for_term": E,
    "grade5_without_death": E, "slide_id_missing": E, "specimen_fate_protocol": W,
    "death_before_other_date": E, "last_contact_before_imaging": E, "no_followup_record": W,
    "no_treatment_record": W, "baseline_scan_too_old": W, "first_followup_late": W,
    "followup_gap": W, "biopsy_window": W,
}


def run_rules(tables: dict[str, pd.DataFrame]) -> list[Finding]:
    ctx = Context(tables)
    return [finding for rule in RULES for finding in rule(ctx)]
