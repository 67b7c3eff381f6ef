"""CTCAE v5.0 adverse events: laboratory grading, checks of entered grades, worst-grade tables.

Laboratory criteria follow CTCAE v5.0 (NCI, 27 Nov 2017) as encoded in the pharmaverse/admiral
``ncictcaev5`` metadata (domain.md §6.1). Each grade interval is "> lower – upper" unless the
table says otherwise; the highest grade whose criterion is met is assigned. "Baseline abnormal"
= baseline value above ULN; the baseline multipliers then replace the ULN ones (ALT, AST,
bilirubin, ALP, GGT). Creatinine is the exception CTCAE itself makes: its baseline criteria
(G2 > 1.5–3.0 × baseline, G3 > 3.0 × baseline) apply whatever the baseline (with an abnormal
baseline they could never exceed the ULN criteria), alongside the ULN ones, and the higher
grade wins; a value at or below ULN is never graded (admiral would give it G2 on the baseline
criterion alone — our reading, flagged for the clinical lead).
Grades that need clinical information (anemia G4, hypoalbuminemia G4, life-threatening
consequences) are never assigned from a value: the maximum lab grade is 3 for those terms.
CTCAE v6.0 (2025) changed the abnormal-baseline multipliers; the version is pinned below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.io.schema import CTCAE_TERMS

CTCAE_VERSION = "5.0"

#: labs.test → CTCAE v5.0 term.
LAB_TERMS: Mapping[str, str] = MappingProxyType({
    "alt": "Alanine aminotransferase increased", "ast": "Aspartate aminotransferase increased",
    "bilirubin": "Blood bilirubin increased", "alp": "Alkaline phosphatase increased",
    "ggt": "GGT increased", "creatinine": "Creatinine increased", "inr": "INR increased",
    "platelets": "Platelet count decreased", "neutrophils": "Neutrophil count decreased",
    "wbc": "White blood cell decreased", "lymphocytes": "Lymphocyte count decreased",
    "hemoglobin": "Anemia", "albumin": "Hypoalbuminemia",
})
# "Increased" terms: (G1, G2, G3, G4) lower bounds as multiples of ULN (baseline normal) and of
# baseline (baseline abnormal). G1 with abnormal baseline is ">=" the bound ("1.5 – 3.0 × BL").
_ULN_MULT = {"alt": (1.0, 3.0, 5.0, 20.0), "ast": (1.0, 3.0, 5.0, 20.0),
             "bilirubin": (1.0, 1.5, 3.0, 10.0), "alp": (1.0, 2.5, 5.0, 20.0),
             "ggt": (1.0, 2.5, 5.0, 20.0), "creatinine": (1.0, 1.5, 3.0, 6.0)}
_BL_MULT = {"alt": (1.5, 3.0, 5.0, 20.0), "ast": (1.5, 3.0, 5.0, 20.0),
            "bilirubin": (1.0, 1.5, 3.0, 10.0), "alp": (2.0, 2.5, 5.0, 20.0),
            "ggt": (2.0, 2.5, 5.0, 20.0),
            "creatinine": (np.inf, 1.5, 3.0, np.inf)}  # no G1/G4 by baseline
_BL_G1_INCLUSIVE = {"alt", "ast", "alp", "ggt"}
# "Decreased" terms: absolute upper bounds of G2, G3, G4 (value < bound); G1 is < LLN.
_DECREASED = {"platelets": (75.0, 50.0, 25.0), "neutrophils": (1.5, 1.0, 0.5),
              "wbc": (3.0, 2.0, 1.0), "lymphocytes": (0.8, 0.5, 0.2),
              "hemoglobin": (100.0, 80.0, -np.inf), "albumin": (30.0, 20.0, -np.inf)}
_INR = (1.2, 1.5, 2.5)  # G1 > 1.2, G2 > 1.5, G3 > 2.5 (no anticoagulant)

HEMORRHAGE_TERMS = ("Hematoma", "Hepatic hemorrhage", "Intra-abdominal hemorrhage")
PROCEDURES = ("biopsy", "specimen_collection", "TACE", "HAIC", "TKI", "PD1", "other")


@dataclass(frozen=True)
class CtcaeSettings:
    """Pinned grading settings, recorded with every run (domain.md §10 decision 6).

    ``default_uln`` / ``default_lln`` fill a labs row without its own reference limits
    (site-specific; the defaults are common adult limits in canonical units).
    """

    version: str = CTCAE_VERSION
    default_uln: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({
        "alt": 40.0, "ast": 40.0, "bilirubin": 21.0, "alp": 125.0, "ggt": 60.0,
        "creatinine": 104.0}))
    default_lln: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({
        "platelets": 125.0, "neutrophils": 1.8, "wbc": 3.5, "lymphocytes": 1.1,
        "hemoglobin": 120.0, "albumin": 40.0}))
    baseline_window_days: int = 14
    biopsy_window_days: int = 30

    def __post_init__(self) -> None:
        if self.version != CTCAE_VERSION:
            raise UsageError(f"The 'version' parameter of CtcaeSettings must be "
                             f"'{CTCAE_VERSION}'. Got {self.version!r} instead; v6.0 multipliers "
                             "differ and are not implemented.")
        if self.biopsy_window_days < 0 or self.baseline_window_days < 0:
            raise UsageError("biopsy_window_days and baseline_window_days must be >= 0; got "
                             f"{self.biopsy_window_days}, {self.baseline_window_days}.")


def lab_grades(*, test: Any, value: Any, uln: Any = None, lln: Any = None,
               baseline: Any = None) -> pd.DataFrame:
    """CTCAE v5.0 grade of each lab value (domain.md §6.1), vectorised.

    Parameters
    ----------
    test
        ``labs.test`` codes (see :data:`LAB_TERMS`; other tests get no term and NA grade).
    value, uln, lln, baseline
        Values in the test's canonical unit; NaN = unknown. A grade that needs an unknown
        limit is NA; absolute thresholds (platelets < 50 → G3, INR) need none.

    Returns
    -------
    pandas.DataFrame
        ``term``, ``baseline_abnormal`` (boolean; increased terms), ``grade`` (Int64 0–4).
    """
    t = pd.Series(test, dtype="string").reset_index(drop=True)
    n = len(t)

    def num(x: Any) -> np.ndarray:
        if x is None:
            return np.full(n, np.nan)
        a = pd.to_numeric(pd.Series(x).reset_index(drop=True), errors="raise").to_numpy(float)
        if len(a) != n:
            raise DataError(f"lab_grades inputs must have equal lengths; got {len(a)} vs {n}.")
        return np.round(a, 9)

    v, hi, lo, bl = num(value), num(uln), num(lln), num(baseline)
    grade = np.full(n, np.nan)
    bl_abn = np.full(n, np.nan)
    for code, um in _ULN_MULT.items():
        m = (t == code).fillna(False).to_numpy(bool)
        if not m.any():
            continue
        x, u, b = v[m], hi[m], bl[m]
        abn = b > u
        g_uln = np.select([x > um[3] * u, x > um[2] * u, x > um[1] * u, x > um[0] * u],
                          [4, 3, 2, 1], 0).astype(float)
        bm = _BL_MULT[code]
        g1 = x >= bm[0] * b if code in _BL_G1_INCLUSIVE else x > bm[0] * b
        g_bl = np.select([x > bm[3] * b, x > bm[2] * b, x > bm[1] * b, g1],
                         [4, 3, 2, 1], 0).astype(float)
        if code == "creatinine":  # both criteria sets, for any baseline; none at or below ULN
            g = np.where(x > u, np.maximum(g_uln, np.nan_to_num(g_bl)), 0.0)
        else:
            g = np.where(abn, g_bl, g_uln)
        g[np.isnan(x) | np.isnan(u)] = np.nan
        grade[m] = g
        bl_abn[m] = np.where(np.isnan(b) | np.isnan(u), np.nan, abn)
    m = (t == "inr").fillna(False).to_numpy(bool)
    x = v[m]
    grade[m] = np.where(np.isnan(x), np.nan,
                        np.select([x > _INR[2], x > _INR[1], x > _INR[0]], [3, 2, 1], 0))
    for code, (b2, b3, b4) in _DECREASED.items():
        m = (t == code).fillna(False).to_numpy(bool)
        if not m.any():
            continue
        x, low = v[m], lo[m]
        g = np.select([x < b4, x < b3, x < b2], [4, 3, 2], 0).astype(float)
        g = np.where(g == 0, np.where(np.isnan(low), np.nan, np.where(x < low, 1.0, 0.0)), g)
        g[np.isnan(x)] = np.nan
        grade[m] = g
    term = t.map(dict(LAB_TERMS)).astype("string")
    return pd.DataFrame({
        "term": term,
        "baseline_abnormal": pd.Series(bl_abn, dtype="float64").map(
            {1.0: True, 0.0: False}).astype("boolean"),
        "grade": pd.Series(grade).round().astype("Int64"),
    })


@dataclass(frozen=True)
class LabGrades:
    """Result of :func:`grade_labs`: one row per graded measurement, and per patient × term the
    worst grade after T0 (with the date it was first reached)."""

    per_measurement: pd.DataFrame
    worst: pd.DataFrame
    settings: CtcaeSettings


def grade_labs(labs: pd.DataFrame, *, index: pd.DataFrame,
               settings: CtcaeSettings | None = None) -> LabGrades:
    """Grade every lab row of the CTCAE tests against its ULN/LLN (row, else the configured
    default) and the patient's baseline (last value within ``baseline_window_days`` before
    T0, T0 included: the rule of :func:`hccfusion.clinical.baseline_labs.baseline_labs`).
    The worst grade per patient and term counts only measurements strictly after T0 (a T0
    value is the baseline)."""
    settings = settings or CtcaeSettings()
    need = [c for c in ("patient_id", "date", "test", "value") if c not in labs.columns]
    if need or "t0" not in index.columns:
        raise DataError(f"grade_labs needs labs columns patient_id/date/test/value (missing "
                        f"{need}) and index columns patient_id/t0 (got {list(index.columns)}).")
    sub = labs.loc[labs["test"].isin(list(LAB_TERMS))].copy().reset_index(drop=True)
    for col, defaults in (("uln", settings.default_uln), ("lln", settings.default_lln)):
        own = (sub[col].astype("float64") if col in sub.columns
               else pd.Series(np.nan, index=sub.index))
        sub[col] = own.fillna(sub["test"].map(dict(defaults)).astype("float64"))
    # Baseline selection as in clinical.baseline_labs (endpoints may not import clinical).
    pre = sub.merge(index[["patient_id", "t0"]], on="patient_id", how="inner")
    day = (pd.to_datetime(pre["date"]) - pd.to_datetime(pre["t0"])).dt.days
    pre = pre.loc[((day <= 0) & (day >= -settings.baseline_window_days)
                   & pre["value"].notna()).fillna(False).to_numpy(bool)]
    last = pre.groupby(["patient_id", "test"])["date"].transform("max")
    bl_long = (pre.loc[pre["date"] == last].groupby(["patient_id", "test"])["value"].mean()
               .rename("baseline").reset_index())
    sub = sub.merge(bl_long, on=["patient_id", "test"], how="left")
    sub = sub.merge(index[["patient_id", "t0"]], on="patient_id", how="left")
    graded = lab_grades(test=sub["test"], value=sub["value"], uln=sub["uln"], lln=sub["lln"],
                        baseline=sub["baseline"])
    per = pd.concat([sub[["patient_id", "date", "test", "value", "uln", "lln", "baseline"]],
                     graded], axis=1)
    per["after_t0"] = (pd.to_datetime(per["date"]) > pd.to_datetime(sub["t0"])).fillna(False)
    post = per.loc[per["after_t0"] & per["grade"].notna()]
    post = post.sort_values(["patient_id", "term", "grade", "date"],
                            ascending=[True, True, False, True])
    worst = (post.drop_duplicates(["patient_id", "term"])
             [["patient_id", "term", "test", "grade", "date"]]
             .rename(columns={"grade": "worst_grade", "date": "worst_date"})
             .reset_index(drop=True))
    return LabGrades(per_measurement=per, worst=worst, settings=settings)


def check_ae_grades(adverse_events: pd.DataFrame) -> pd.DataFrame:
    """Inconsistencies in clinician-entered grades (domain.md §6.2), one row per finding.

    Rules: the term is a known CTCAE term of the study (``CTCAE_TERMS`` or a lab term); the
    grade is one the term defines (e.g. vasovagal reaction 3–5, sepsis 4–5); the procedure is a
    known code. When the optional boolean columns exist: ``transfusion`` or
    ``invasive_intervention`` (embolisation, surgery) for a hemorrhage/hematoma → grade >= 3;
    ``icu_or_vasopressors`` → grade >= 4.

    Returns columns ``row`` (index label of ``adverse_events``), ``patient_id``, ``term``,
    ``grade``, ``rule``, ``message``; empty when all is consistent.
    """
    ae = adverse_events
    need = [c for c in ("patient_id", "term", "grade") if c not in ae.columns]
    if need:
        raise DataError(f"adverse_events lacks columns {need}; pass the canonical table.")
    defined = {**CTCAE_TERMS, **{t: (1, 2, 3, 4) for t in LAB_TERMS.values()}}
    grade = pd.to_numeric(ae["grade"], errors="coerce")
    term = ae["term"].astype("string")
    findings: list[pd.DataFrame] = []

    def add(mask: pd.Series, rule: str, message: pd.Series | str) -> None:
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            msg = message[mask] if isinstance(message, pd.Series) else message
            findings.append(pd.DataFrame({
                "row": ae.index[mask], "patient_id": ae.loc[mask, "patient_id"].astype("string"),
                "term": term[mask], "grade": grade[mask].astype("Int64"), "rule": rule,
                "message": msg}))

    known = term.isin(list(defined))
    add(~known, "unknown_term", "term '" + term.fillna("") + "' is not a CTCAE v5.0 term of the"
        " study; use the exact term (post-embolisation syndrome: code fever, pain, nausea)")
    add(grade.isna(), "missing_grade", "grade is missing")
    allowed = term.map(lambda x: defined.get(x, ()) if isinstance(x, str) else ())
    ok = pd.Series([g in a for g, a in zip(grade, allowed)], index=ae.index)
    add(known & grade.notna() & ~ok, "grade_not_defined",
        "grade " + grade.astype("Int64").astype("string").fillna("") + " is not defined for '"
        + term.fillna("") + "'; allowed " + allowed.map(lambda a: str(list(a))))
    if "procedure" in ae.columns:
        add(ae["procedure"].notna() & ~ae["procedure"].isin(PROCEDURES), "unknown_procedure",
            f"procedure must be one of {list(PROCEDURES)}")
    bleed = term.isin(HEMORRHAGE_TERMS)
    for col, floor, text in (("transfusion", 3, "a hemorrhage requiring transfusion is >= G3"),
                             ("invasive_intervention", 3,
                              "embolisation or surgery for bleeding is >= G3")):
        if col in ae.columns:
            add(bleed & ae[col].astype("boolean") & (grade < floor), f"{col}_grade", text)
    if "icu_or_vasopressors" in ae.columns:
        add(bleed & ae["icu_or_vasopressors"].astype("boolean") & (grade < 4),
            "icu_or_vasopressors_grade", "ICU admission or vasopressors for bleeding is G4")
    cols = ["row", "patient_id", "term", "grade", "rule", "message"]
    if not findings:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    return pd.concat(findings, ignore_index=True)[cols].sort_values(["row", "rule"],
                                                                    ignore_index=True)


def biopsy_window(adverse_events: pd.DataFrame, *, biopsy_dates: pd.DataFrame,
                  settings: CtcaeSettings | None = None) -> pd.Series:
    """For each AE with ``procedure == "biopsy"``: True if its onset lies within
    ``[biopsy, biopsy + biopsy_window_days]`` of one of the patient's biopsies (``biopsy_dates``:
    ``patient_id``, ``date``, e.g. the ``biopsy_wsi`` rows of ``specimens``); NA for other AEs
    and for a biopsy AE of a patient without a biopsy date."""
    settings = settings or CtcaeSettings()
    ae = adverse_events[["patient_id", "onset_date", "procedure"]].copy()
    ae["_row"] = np.arange(len(ae))
    bx = biopsy_dates[["patient_id", "date"]].dropna()
    pairs = ae.merge(bx, on="patient_id", how="left")
    days = (pd.to_datetime(pairs["onset_date"]) - pd.to_datetime(pairs["date"])).dt.days
    pairs["inside"] = (days >= 0) & (days <= settings.biopsy_window_days)
    pairs["has_bx"] = pairs["date"].notna()
    agg = pairs.groupby("_row").agg(inside=("inside", "any"), has_bx=("has_bx", "any"))
    out = pd.Series(agg["inside"].to_numpy(), index=adverse_events.index, dtype="boolean")
    is_bx = (adverse_events["procedure"] == "biopsy").fillna(False).to_numpy(bool)
    return out.mask(~is_bx | ~agg["has_bx"].to_numpy(bool))


def worst_grades(adverse_events: pd.DataFrame, *, biopsy_dates: pd.DataFrame | None = None,
                 settings: CtcaeSettings | None = None) -> pd.DataFrame:
    """Worst grade per patient × procedure × term (CTCAE: report the worst grade per term).

    With ``biopsy_dates``, biopsy AEs outside the biopsy window (:func:`biopsy_window`) are
    left out. Returns ``patient_id``, ``procedure``, ``term``, ``worst_grade`` (Int64).
    """
    ae = adverse_events.copy()
    if biopsy_dates is not None:
        inside = biopsy_window(ae, biopsy_dates=biopsy_dates, settings=settings)
        ae = ae.loc[(inside.fillna(True) | (ae["procedure"] != "biopsy")).to_numpy(bool)]
    ae = ae.loc[ae["grade"].notna()]
    out = (ae.groupby(["patient_id", "procedure", "term"], observed=True)["grade"].max()
           .astype("Int64").rename("worst_grade").reset_index())
    return out.sort_values(["patient_id", "procedure", "term"], ignore_index=True)


def grade3_counts(worst: pd.DataFrame, *, n_patients: int | None = None) -> pd.DataFrame:
    """Patients with any grade and with grade >= 3, per procedure × term, plus one
    ``term == "any"`` row per procedure (each patient counted once). ``n_patients`` (the
    safety population) adds percentages."""
    w = worst.assign(g3=worst["worst_grade"] >= 3)
    by_term = w.groupby(["procedure", "term"]).agg(
        n_any=("patient_id", "nunique"),
        n_grade3plus=("patient_id", lambda s: s[w.loc[s.index, "g3"]].nunique()))
    per_pt = w.groupby(["procedure", "patient_id"])["g3"].any().reset_index()
    anyrow = per_pt.groupby("procedure").agg(n_any=("patient_id", "nunique"),
                                             n_grade3plus=("g3", "sum"))
    anyrow["term"] = "any"
    out = pd.concat([by_term.reset_index(), anyrow.reset_index()], ignore_index=True)
    out = out[["procedure", "term", "n_any", "n_grade3plus"]].astype(
        {"n_any": "int64", "n_grade3plus": "int64"})
    if n_patients:
        out["pct_any"] = 100.0 * out["n_any"] / n_patients
        out["pct_grade3plus"] = 100.0 * out["n_grade3plus"] / n_patients
    return out.sort_values(["procedure", "term"], ignore_index=True)
