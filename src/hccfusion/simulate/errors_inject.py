"""Make a simulated CRF look like a real hospital's: (a) tolerated messiness the validator must
accept, (b) real errors it must catch, each recorded as an expected finding.

Works on one workbook's tables (one hospital) before :func:`write_workbook`; a table's row
``i`` is Excel row ``i + 2`` (header in row 1). Rule names are the validator's
(:data:`hccfusion.io.crf.rules.RULE_NAMES`); :data:`INJECTED_ERRORS` is the one place that maps
each injected error to the sheet, column and rule it must produce.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from hccfusion.errors import DataError

EXCEL_EPOCH = dt.date(1899, 12, 30)
HEADER_ROWS = 1
_FULLWIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")


@dataclass(frozen=True)
class ExpectedFinding:
    """A finding the validator must report: where (sheet, Excel row, column) and which rule."""

    sheet: str
    row: int
    column: str
    rule: str
    patient_id: str


@dataclass(frozen=True)
class InjectedErrors:
    """Tables with injected errors (object dtype, as written) and what the validator must find."""

    tables: dict[str, pd.DataFrame]
    expected: tuple[ExpectedFinding, ...]
    skipped: tuple[str, ...] = ()


def excel_row(index: int) -> int:
    return int(index) + HEADER_ROWS + 1


# ------------------------------------------------------------------ (a) tolerated messiness

def _sample(rng: np.random.Generator, mask: pd.Series, share: float) -> pd.Index:
    idx = mask[mask.fillna(False).astype(bool)].index
    return idx[rng.random(len(idx)) < share]


def add_messiness(tables: dict[str, pd.DataFrame], *, seed: int, share: float = 0.15
                  ) -> dict[str, pd.DataFrame]:
    """Return object-dtype copies with what real hospital sheets contain and the validator
    tolerates: numbers stored as text, full-width digits, stray spaces, Excel serial dates,
    censored labs ("<0.5", ">1000"), Chinese spellings of codes (男/女, 是/否, 乙肝, 仑伐替尼).
    Values keep their meaning (after parsing) except censored labs, which become their limit."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(61,)))
    t = {name: df.astype(object).where(df.notna(), None) for name, df in tables.items()}
    p, labs, tr, fu = t["patients"], t["labs"], t["treatments"], t["followup"]
    for i in _sample(rng, p["age_years"].notna(), share):
        p.at[i, "age_years"] = str(p.at[i, "age_years"])
    for i in _sample(rng, p["weight_kg"].notna(), share):
        p.at[i, "weight_kg"] = f"{p.at[i, 'weight_kg']:g}".translate(_FULLWIDTH)
    for i in _sample(rng, p["sex"].notna(), share):
        p.at[i, "sex"] = "男" if p.at[i, "sex"] == "M" else "女"
    for i in _sample(rng, p["sex"].notna() & ~p["sex"].isin(["男", "女"]), share):
        p.at[i, "sex"] = f" {p.at[i, 'sex']}  "
    for col in ("cirrhosis", "hvtt"):
        for i in _sample(rng, p[col].notna(), share):
            p.at[i, col] = "是" if p.at[i, col] else "否"
    for i in _sample(rng, p["etiology"] == "HBV", share):
        p.at[i, "etiology"] = "乙肝"
    for i in _sample(rng, labs["value"].notna(), share):
        labs.at[i, "value"] = f"{labs.at[i, 'value']:g}"
    for i in _sample(rng, labs["date"].notna(), share):
        labs.at[i, "date"] = (pd.Timestamp(labs.at[i, "date"]).date() - EXCEL_EPOCH).days
    high_afp = (labs["test"] == "afp") & (pd.to_numeric(labs["value"], errors="coerce") > 1000)
    for i in _sample(rng, high_afp, 0.3):
        labs.at[i, "value"] = ">1000"
    low_crp = ((labs["test"] == "crp") & (labs["unit"] == "mg/L")
               & (pd.to_numeric(labs["value"], errors="coerce") < 0.5))
    for i in _sample(rng, low_crp, 1.0):
        labs.at[i, "value"] = "<0.5"
    for i in _sample(rng, tr["agent"] == "lenvatinib", share):
        tr.at[i, "agent"] = "仑伐替尼"
    for i in _sample(rng, tr["kind"].notna(), share):
        tr.at[i, "kind"] = f"{tr.at[i, 'kind']} "
    for i in _sample(rng, fu["death_cause"] == "tumour_progression", share):
        fu.at[i, "death_cause"] = "肿瘤进展"
    return t


# ------------------------------------------------------------------ (b) real errors

Injector = Callable[[dict[str, pd.DataFrame], np.random.Generator, set], "ExpectedFinding | None"]


def _pick_row(rng: np.random.Generator, df: pd.DataFrame, mask: pd.Series, used: set) -> int | None:
    ok = mask.fillna(False).astype(bool) & ~df["patient_id"].isin(used)
    idx = df.index[ok.to_numpy()]
    if not len(idx):
        return None
    i = int(rng.choice(idx))
    used.add(df.at[i, "patient_id"])
    return i


def _set(t: dict, sheet: str, i: int, column: str, value: object, rule: str) -> ExpectedFinding:
    t[sheet].at[i, column] = value
    return ExpectedFinding(sheet, excel_row(i), column, rule, str(t[sheet].at[i, "patient_id"]))


def _age_out_of_range(t, rng, used):
    i = _pick_row(rng, t["patients"], t["patients"]["age_years"].notna(), used)
    return None if i is None else _set(t, "patients", i, "age_years", 150, "out_of_range")


def _unknown_modality(t, rng, used):
    i = _pick_row(rng, t["exams"], t["exams"]["modality"].notna(), used)
    return None if i is None else _set(t, "exams", i, "modality", "PET", "unknown_code")


def _lab_unknown_unit(t, rng, used):
    i = _pick_row(rng, t["labs"], t["labs"]["test"] == "albumin", used)
    return None if i is None else _set(t, "labs", i, "unit", "mmol/L", "unknown_unit")


def _duplicate_patient(t, rng, used):
    p = t["patients"]
    i = _pick_row(rng, p, p["patient_id"].notna(), used)
    if i is None:
        return None
    j = len(p)
    p.loc[j] = p.loc[i]
    return ExpectedFinding("patients", excel_row(j), "patient_id", "duplicate_key", str(p.at[i, "patient_id"]))


def _death_before_contact(t, rng, used):
    f = t["followup"]
    i = _pick_row(rng, f, f["death_date"].notna(), used)
    if i is None:
        return None
    later = pd.Timestamp(_as_date(f.at[i, "death_date"])) + pd.Timedelta(days=10)
    return _set(t, "followup", i, "last_contact_date", later, "death_before_other_date")


def _unknown_exam(t, rng, used):
    r = t["lesion_reads"]
    i = _pick_row(rng, r, r["exam_id"].notna(), used)
    if i is None:
        return None
    return _set(t, "lesion_reads", i, "exam_id", f"{r.at[i, 'patient_id']}-E99", "unknown_exam")


def _bclc_ecog(t, rng, used):
    p = t["patients"]
    i = _pick_row(rng, p, p["bclc"].isin(["A", "B"]), used)
    if i is None:
        return None
    p.at[i, "ecog"] = 1
    return ExpectedFinding("patients", excel_row(i), "bclc", "bclc_ecog_inconsistent",
                           str(p.at[i, "patient_id"]))


def _missing_required(t, rng, used):
    i = _pick_row(rng, t["patients"], t["patients"]["largest_diameter_mm"].notna(), used)
    return None if i is None else _set(t, "patients", i, "largest_diameter_mm", None, "required")


def _end_before_start(t, rng, used):
    tr = t["treatments"]
    i = _pick_row(rng, tr, tr["kind"].astype(str).str.strip() == "TKI", used)
    if i is None:
        return None
    start = pd.Timestamp(_as_date(tr.at[i, "start_date"]))
    return _set(t, "treatments", i, "end_date", start - pd.Timedelta(days=5), "end_before_start")


def _unknown_patient(t, rng, used):
    labs = t["labs"]
    i = _pick_row(rng, labs, labs["test"] == "platelets", used)
    if i is None:
        return None
    center = str(labs.at[i, "patient_id"]).split("-")[0]
    return _set(t, "labs", i, "patient_id", f"{center}-9999", "unknown_patient")


#: Each injected error: name → (injector, sheet, column, validator rule).
INJECTED_ERRORS: dict[str, tuple[Injector, str, str, str]] = {
    "age_out_of_range": (_age_out_of_range, "patients", "age_years", "out_of_range"),
    "unknown_code": (_unknown_modality, "exams", "modality", "unknown_code"),
    "unknown_unit": (_lab_unknown_unit, "labs", "unit", "unknown_unit"),
    "duplicate_patient": (_duplicate_patient, "patients", "patient_id", "duplicate_key"),
    "death_before_last_contact": (_death_before_contact, "followup", "last_contact_date",
                                  "death_before_other_date"),
    "read_of_unknown_exam": (_unknown_exam, "lesion_reads", "exam_id", "unknown_exam"),
    "bclc_ab_with_ecog": (_bclc_ecog, "patients", "bclc", "bclc_ecog_inconsistent"),
    "missing_required": (_missing_required, "patients", "largest_diameter_mm", "required"),
    "end_before_start": (_end_before_start, "treatments", "end_date", "end_before_start"),
    "unknown_patient": (_unknown_patient, "labs", "patient_id", "unknown_patient"),
}


def _as_date(value: object) -> dt.date:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return EXCEL_EPOCH + dt.timedelta(days=int(value))
    return pd.Timestamp(value).date()


def inject_errors(tables: dict[str, pd.DataFrame], *, seed: int,
                  kinds: tuple[str, ...] | None = None, strict: bool = True) -> InjectedErrors:
    """Inject one error of each kind in ``kinds`` (default: all of :data:`INJECTED_ERRORS`),
    each on a different patient so that no two interact.

    With ``strict=False`` a kind that finds no suitable row (a tiny workbook, no deceased
    patient) is left out and named in ``skipped``.

    Raises
    ------
    DataError
        ``strict`` and the tables offer no row an injection needs.
    """
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(62,)))
    t = {name: df.astype(object).where(df.notna(), None).copy() for name, df in tables.items()}
    used: set = set()
    expected, skipped = [], []
    for kind in kinds or tuple(INJECTED_ERRORS):
        injector = INJECTED_ERRORS[kind][0]
        found = injector(t, rng, used)
        if found is None:
            if strict:
                raise DataError(f"cannot inject '{kind}': no suitable row in these tables "
                                "(each error goes to a different patient; use more patients)")
            skipped.append(kind)
            continue
        expected.append(found)
    return InjectedErrors(tables=t, expected=tuple(expected), skipped=tuple(skipped))
