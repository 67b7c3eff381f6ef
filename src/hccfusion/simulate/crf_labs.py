"""The ``labs`` sheet: baseline panel within 10 days before T0 and a follow-up panel with every
follow-up scan, written in the unit each hospital reports (:mod:`.centers`; the validator
converts to SI with :mod:`hccfusion.io.schema.units`).

Baseline AFP, CRP, albumin and bilirubin are the latent truth (so CRAFITY and ALBI computed from
the CRF match the simulated hazards); other tests follow domain.md §4's medians. AFP follows
the viable tumour: it falls with response and rises at progression.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from hccfusion.io.schema.units import LAB_BY_CODE, normalise_unit
from hccfusion.simulate.centers import CENTER_PROFILES
from hccfusion.simulate.latent import SimulatedLatent
from hccfusion.simulate.seeding import STAGE_CRF_LABS, patient_rng

_PROFILE = {p.code: p for p in CENTER_PROFILES}
#: Reference intervals in SI units (typical Chinese hospital values).
REFERENCE_SI = {"albumin": (40, 55), "bilirubin": (3.4, 20.5), "afp": (None, 20),
                "pivka_ii": (None, 40), "crp": (None, 10), "inr": (0.8, 1.2), "pt": (9.4, 12.5),
                "platelets": (125, 350), "neutrophils": (1.8, 6.3), "lymphocytes": (1.1, 3.2),
                "wbc": (3.5, 9.5), "hemoglobin": (115, 175), "alt": (7, 50), "ast": (13, 40),
                "alp": (45, 125), "ggt": (10, 60), "creatinine": (41, 111)}
DECIMALS = {"albumin": 1, "bilirubin": 1, "afp": 1, "pivka_ii": 0, "crp": 1, "inr": 2, "pt": 1,
            "platelets": 0, "neutrophils": 2, "lymphocytes": 2, "wbc": 2, "hemoglobin": 0,
            "alt": 0, "ast": 0, "alp": 0, "ggt": 0, "creatinine": 0}
FOLLOWUP_TESTS = ("afp", "crp", "albumin", "bilirubin", "alt", "ast", "platelets")
#: Optional tests not done at every site visit (share missing).
OPTIONAL_MISSING = {"pivka_ii": 0.2, "alp": 0.3, "ggt": 0.3, "pt": 0.15}


def _baseline_si(rec: object, rng: np.random.Generator) -> dict[str, float]:
    z = rng.standard_normal(14)
    liver, burden, immune = rec.liver_dysfunction, rec.burden, rec.immune
    inr = float(np.clip(1.07 + 0.06 * liver + 0.06 * z[0], 0.85, 2.2))
    neut = float(np.clip(np.exp(np.log(3.4) + 0.12 * burden + 0.3 * z[3]), 0.8, 15))
    lymph = float(np.clip(np.exp(np.log(1.3) + 0.1 * immune + 0.35 * z[4]), 0.2, 5))
    male = rec.sex == "M"
    return {
        "albumin": rec.albumin_g_l, "bilirubin": rec.bilirubin_umol_l, "afp": rec.afp_ng_ml,
        "pivka_ii": float(np.clip(np.exp(np.log(1500) + 0.6 * burden + 1.6 * z[1]), 5, 9e5)),
        "crp": rec.crp_mg_l, "inr": inr, "pt": float(np.clip(11.5 + 10 * (inr - 1) + 0.4 * z[2], 8.5, 35)),
        "platelets": float(np.clip(np.exp(np.log(150) - 0.25 * liver + 0.4 * z[5]), 25, 600)),
        "neutrophils": neut, "lymphocytes": lymph,
        "wbc": neut + lymph + float(np.clip(np.exp(np.log(0.6) + 0.2 * z[6]), 0.2, 2)),
        "hemoglobin": float(np.clip((135 if male else 120) + 15 * z[7], 70, 180)),
        "alt": float(np.clip(np.exp(np.log(40) + 0.45 * z[8]), 8, 400)),
        "ast": float(np.clip(np.exp(np.log(52) + 0.15 * burden + 0.45 * z[9]), 10, 500)),
        "alp": float(np.clip(np.exp(np.log(120) + 0.4 * z[10]), 30, 1500)),
        "ggt": float(np.clip(np.exp(np.log(95) + 0.6 * z[11]), 10, 1500)),
        "creatinine": float(np.clip(72 + 15 * z[12], 35, 200)),
    }


def _clip(x: float, lo: float, hi: float) -> float:
    return float(min(max(x, lo), hi))


@lru_cache(maxsize=None)
def _factor(test: str, unit: str) -> float:
    return LAB_BY_CODE[test].factors[normalise_unit(unit)]


def _site_row(pid: str, date: pd.Timestamp, test: str, si: float, unit: str) -> dict[str, object]:
    factor = _factor(test, unit)
    lo, hi = REFERENCE_SI[test]
    decimals = DECIMALS[test] + (1 if factor >= 10 else 0) + (1 if factor >= 15 else 0)
    return {"patient_id": pid, "date": date, "test": test,
            "value": round(si / factor, decimals), "unit": unit,
            "lln": None if lo is None else round(lo / factor, decimals),
            "uln": None if hi is None else round(hi / factor, decimals)}


def labs_table(truth: SimulatedLatent, anchor: pd.DataFrame) -> pd.DataFrame:
    """The ``labs`` sheet (long format, values in the site's units; not yet coerced)."""
    lab_date = dict(zip(anchor["patient_id"], anchor["baseline_lab_date"]))
    exams_by: dict[str, list[dict]] = {}
    for e in truth.exams.to_dict("records"):
        if e["exam_index"] > 0:
            exams_by.setdefault(e["patient_id"], []).append(e)
    rows: list[dict[str, object]] = []
    for rec in truth.latent.itertuples(index=False):
        rng = patient_rng(truth.seed, stage=STAGE_CRF_LABS, center_index=rec.center_index,
                          number=rec.number)
        units = _PROFILE[rec.center].lab_units
        base = _baseline_si(rec, rng)
        date0 = lab_date[rec.patient_id]
        for test, si in base.items():
            if test in OPTIONAL_MISSING and rng.random() < OPTIONAL_MISSING[test]:
                continue
            rows.append(_site_row(rec.patient_id, date0, test, si, units.get(test, LAB_BY_CODE[test].unit)))
        for e in exams_by.get(rec.patient_id, []):
            date = e["date"] - pd.Timedelta(days=int(rng.integers(0, 4)))
            ratio = max(e["viable_ratio"], 0.02)
            drift = np.exp(0.15 * rng.standard_normal(len(FOLLOWUP_TESTS)))
            drift = drift.tolist()
            fu = {
                "afp": _clip(base["afp"] * ratio ** 1.5 * (3.0 if e["mrecist"] == "PD" else 1.0)
                             * drift[0], 0.8, 9.5e5),
                "crp": _clip(base["crp"] * drift[1] * 1.3, 0.2, 300),
                "albumin": _clip(base["albumin"] - 0.6 * rng.random() - 0.2 * e["exam_index"], 20, 55),
                "bilirubin": _clip(base["bilirubin"] * drift[3], 3, 300),
                "alt": _clip(base["alt"] * drift[4], 5, 1000),
                "ast": _clip(base["ast"] * drift[5], 5, 1000),
                "platelets": _clip(base["platelets"] * drift[6] * 0.9, 15, 600),
            }
            for test, si in fu.items():
                rows.append(_site_row(rec.patient_id, date, test, si,
                                      units.get(test, LAB_BY_CODE[test].unit)))
    return pd.DataFrame(rows)


def baseline_si(labs: pd.DataFrame, anchor: pd.DataFrame) -> pd.DataFrame:
    """Baseline bilirubin (µmol/L), albumin (g/L) and INR as the ``labs`` sheet writes them,
    back in SI units; one row per patient (index ``patient_id``)."""
    date = labs["patient_id"].map(dict(zip(anchor["patient_id"], anchor["baseline_lab_date"])))
    base = labs[(labs["date"] == date) & labs["test"].isin(["bilirubin", "albumin", "inr"])]
    si = base["value"] * [_factor(t, u) for t, u in zip(base["test"], base["unit"])]
    return (base.assign(si=si).pivot_table(index="patient_id", columns="test", values="si",
                                           aggfunc="first"))
