"""Laboratory tests, their canonical (SI) units and the one conversion table of the package.

Conversion happens once, at ingestion (``crf validate`` / ``crf ingest``); the source unit and
the value as written are kept beside the converted value. Factors (domain.md §4): bilirubin
mg/dL × 17.1 = µmol/L, albumin g/dL × 10 = g/L, CRP mg/dL × 10 = mg/L, AFP IU/mL × 1.21 = ng/mL,
creatinine mg/dL × 88.4 = µmol/L, haemoglobin g/dL × 10 = g/L.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class LabTest:
    """One laboratory test of the ``labs`` sheet.

    ``factors`` maps each accepted source unit (normalised spelling, see :func:`normalise_unit`)
    to the factor that turns it into ``unit``. ``hard``/``soft`` are in ``unit``.
    """

    code: str
    label_en: str
    label_zh: str
    unit: str
    factors: Mapping[str, float]
    hard: tuple[float | None, float | None]
    soft: tuple[float | None, float | None] | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)


_CELLS = {"10^9/l": 1.0, "10^3/ul": 1.0, "/ul": 1e-3, "/mm3": 1e-3}
_ENZYME = {"u/l": 1.0, "iu/l": 1.0, "ukat/l": 60.0}

LAB_TESTS: tuple[LabTest, ...] = (
    LabTest("albumin", "Albumin", "白蛋白", "g/L", {"g/l": 1.0, "g/dl": 10.0}, (15, 60), (28, None),
            ("alb",)),
    LabTest("bilirubin", "Total bilirubin", "总胆红素", "umol/L", {"umol/l": 1.0, "mg/dl": 17.1},
            (2, 400), (None, 51), ("tbil", "total_bilirubin", "t-bil")),
    LabTest("afp", "Alpha-fetoprotein", "甲胎蛋白", "ng/mL",
            {"ng/ml": 1.0, "ug/l": 1.0, "iu/ml": 1.21}, (0.5, 1e6), None, ("alpha-fetoprotein",)),
    LabTest("pivka_ii", "PIVKA-II (DCP)", "异常凝血酶原", "mAU/mL", {"mau/ml": 1.0}, (1, 1e6), None,
            ("pivka", "dcp", "pivka-ii")),
    LabTest("crp", "C-reactive protein", "C反应蛋白", "mg/L", {"mg/l": 1.0, "mg/dl": 10.0},
            (0.1, 400), None, ("c-reactive protein",)),
    LabTest("inr", "INR", "国际标准化比值", "ratio", {"ratio": 1.0, "": 1.0, "inr": 1.0}, (0.7, 4),
            (None, 1.7)),
    LabTest("pt", "Prothrombin time", "凝血酶原时间", "s", {"s": 1.0, "sec": 1.0, "秒": 1.0}, (8, 40),
            None, ("prothrombin_time",)),
    LabTest("platelets", "Platelet count", "血小板", "10^9/L", _CELLS, (10, 1000), (50, None),
            ("plt",)),
    LabTest("neutrophils", "Neutrophil count", "中性粒细胞计数", "10^9/L", _CELLS, (0.1, 50), None,
            ("neut", "anc")),
    LabTest("lymphocytes", "Lymphocyte count", "淋巴细胞计数", "10^9/L", _CELLS, (0.05, 10), None,
            ("lymph", "alc")),
    LabTest("wbc", "White blood cell count", "白细胞计数", "10^9/L", _CELLS, (0.1, 100), None),
    LabTest("hemoglobin", "Haemoglobin", "血红蛋白", "g/L", {"g/l": 1.0, "g/dl": 10.0}, (30, 250),
            (80, None), ("hb", "hgb", "haemoglobin")),
    LabTest("alt", "ALT", "丙氨酸氨基转移酶", "U/L", _ENZYME, (3, 3000), (None, 200)),
    LabTest("ast", "AST", "天门冬氨酸氨基转移酶", "U/L", _ENZYME, (3, 3000), (None, 200)),
    LabTest("alp", "Alkaline phosphatase", "碱性磷酸酶", "U/L", _ENZYME, (3, 5000), None),
    LabTest("ggt", "Gamma-glutamyl transferase", "谷氨酰转肽酶", "U/L", _ENZYME, (3, 5000), None),
    LabTest("creatinine", "Creatinine", "肌酐", "umol/L", {"umol/l": 1.0, "mg/dl": 88.4}, (20, 500),
            (None, 133), ("cr", "scr")),
)

LAB_BY_CODE: dict[str, LabTest] = {t.code: t for t in LAB_TESTS}


def _test_aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for t in LAB_TESTS:
        for spelling in (t.code, t.label_en, t.label_zh, *t.aliases):
            out[normalise_token(spelling)] = t.code
    return out


def normalise_token(text: str) -> str:
    """Compare-friendly spelling: NFKC (full-width → ASCII), lower case, no spaces or
    underscores."""
    text = unicodedata.normalize("NFKC", str(text)).strip().lower()
    return re.sub(r"[\s_]+", "", text)


_UNIT_SUBS = (
    ("µ", "u"), ("μ", "u"),  # micro sign and Greek mu (NFKC maps the micro sign to mu)
    ("×", "x"), ("*", "^"), ("x10", "10"), ("10e", "10^"), ("109/l", "10^9/l"),
    ("103/ul", "10^3/ul"), ("umol/l", "umol/l"), ("mmol", "mmol"),
)


def normalise_unit(unit: object) -> str:
    """Normalise how a unit is written: ``µmol/L``, ``μmol/l``, ``umol/L`` → ``umol/l``;
    ``×10^9/L``, ``10*9/L``, ``10E9/L`` → ``10^9/l``; blank → ``""``."""
    if unit is None:
        return ""
    text = unicodedata.normalize("NFKC", str(unit)).strip().lower().replace(" ", "")
    for old, new in _UNIT_SUBS:
        text = text.replace(old, new)
    return text


TEST_ALIASES: dict[str, str] = _test_aliases()


def lab_test_code(name: object) -> str | None:
    """Canonical test code for a spelling in the ``test`` column, or None if unknown."""
    if name is None:
        return None
    return TEST_ALIASES.get(normalise_token(str(name)))


def conversion_factor(test: str, unit: object) -> float | None:
    """Factor that turns a value in ``unit`` into the canonical unit of ``test``; None if the
    unit is not accepted for that test."""
    return LAB_BY_CODE[test].factors.get(normalise_unit(unit))
