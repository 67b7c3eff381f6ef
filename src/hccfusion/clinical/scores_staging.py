"""BCLC 2022 and CNLC staging, evaluated in the order domain.md §3.3 gives.

Each rule is a nullable condition; a patient gets the stage of the first rule that is True.
When an earlier rule cannot be decided (a missing input it needs) the stage is NA rather than a
guess further down the list. Kleene logic decides what it can: ECOG 4 gives BCLC D even with an
unknown Child–Pugh class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hccfusion.clinical.scores import _flag, _num, _same_length
from hccfusion.errors import DataError

CP_CLASSES = ("A", "B", "C")
PVTT_CLASSES = ("Vp0", "Vp1", "Vp2", "Vp3", "Vp4")


def _first_true(rules: list[tuple[str, pd.Series]], n: int) -> pd.Series:
    out = pd.Series(pd.NA, index=range(n), dtype="string")
    open_ = pd.Series(True, index=range(n))
    for label, cond in rules:
        cond = pd.Series(cond).reset_index(drop=True).astype("boolean")
        hit = open_ & cond.fillna(False).astype(bool)
        out = out.mask(hit, label)
        open_ = open_ & ~hit & ~cond.isna()
    return out


def _cp(child_pugh_class: Any, n: int) -> pd.Series:
    s = pd.Series(child_pugh_class, dtype="string").reset_index(drop=True)
    bad = s.notna() & ~s.isin(CP_CLASSES)
    if bad.any():
        raise DataError(f"child_pugh_class must be one of {list(CP_CLASSES)}; got "
                        f"{sorted(set(s[bad]))}.")
    if len(s) != n:
        raise DataError(f"child_pugh_class has {len(s)} values; expected {n} (one per patient).")
    return s


def macrovascular_invasion(*, pvtt: Any, hvtt: Any = None) -> pd.Series:
    """True if any portal vein tumour thrombus (Vp1–Vp4) or a hepatic vein / IVC thrombus."""
    p = pd.Series(pvtt, dtype="string").reset_index(drop=True)
    bad = p.notna() & ~p.isin(PVTT_CLASSES)
    if bad.any():
        raise DataError(f"pvtt must be one of {list(PVTT_CLASSES)}; got {sorted(set(p[bad]))}.")
    portal = (p != "Vp0").astype("boolean")
    hepatic = _flag(hvtt, len(p), "hvtt")
    return (portal | hepatic).astype("boolean")


def bclc_2022(*, ecog: Any, child_pugh_class: Any, tumour_number: Any, largest_diameter_cm: Any,
              macrovascular_invasion: Any, extrahepatic_spread: Any) -> pd.DataFrame:
    """BCLC stage (Reig et al., J Hepatol 2022), rules evaluated in order (domain.md §3.3):

    1. D: Child–Pugh C (end-stage liver function) or ECOG >= 3.
    2. C: macrovascular invasion, extrahepatic spread, or ECOG 1–2.
    3. 0: single tumour <= 2 cm, ECOG 0, preserved liver function (taken as Child–Pugh A).
    4. A: single tumour (any size), or 2–3 nodules each <= 3 cm.
    5. B: otherwise.

    A censored tumour number ("> 10") is still multinodular, so it needs no special case here.
    Returns a DataFrame with column ``bclc`` ("0"/"A"/"B"/"C"/"D").
    """
    e = _num(ecog, "ecog")
    n = _num(tumour_number, "tumour_number")
    d = _num(largest_diameter_cm, "largest_diameter_cm")
    size = _same_length(ecog=e, tumour_number=n, largest_diameter_cm=d)
    cp = _cp(child_pugh_class, size)
    mvi = _flag(macrovascular_invasion, size, "macrovascular_invasion")
    ehs = _flag(extrahepatic_spread, size, "extrahepatic_spread")
    _same_length(ecog=e, macrovascular_invasion=mvi, extrahepatic_spread=ehs)

    def b(x: Any) -> pd.Series:
        return pd.Series(x).astype("boolean")

    ecog_na = e.isna()
    rules = [
        ("D", b((cp == "C")) | b(e >= 3).mask(ecog_na)),
        ("C", mvi | ehs | b((e >= 1) & (e <= 2)).mask(ecog_na)),
        ("0", b(n == 1).mask(n.isna()) & b(d <= 2).mask(d.isna()) & b(e == 0).mask(ecog_na)
         & b(cp == "A")),
        ("A", b(n == 1).mask(n.isna())
         | (b((n >= 2) & (n <= 3)).mask(n.isna()) & b(d <= 3).mask(d.isna()))),
        ("B", pd.Series(True, index=range(size), dtype="boolean")),
    ]
    return pd.DataFrame({"bclc": _first_true(rules, size)})


def cnlc(*, ecog: Any, child_pugh_class: Any, tumour_number: Any, largest_diameter_cm: Any,
         macrovascular_invasion: Any, extrahepatic_spread: Any) -> pd.DataFrame:
    """China Liver Cancer stage (Chinese guideline for primary liver cancer, 2024 edition).

    Evaluated in order: IV (ECOG 3–4 or Child–Pugh C); IIIb (extrahepatic metastasis);
    IIIa (macrovascular tumour thrombus); IIb (>= 4 tumours); IIa (2–3 tumours, largest > 3 cm);
    Ib (single > 5 cm, or 2–3 tumours <= 3 cm); Ia (single <= 5 cm). Stages I–III require
    ECOG 0–2 and Child–Pugh A/B, which is what failing the IV rule means.
    Returns a DataFrame with column ``cnlc``.
    """
    e = _num(ecog, "ecog")
    n = _num(tumour_number, "tumour_number")
    d = _num(largest_diameter_cm, "largest_diameter_cm")
    size = _same_length(ecog=e, tumour_number=n, largest_diameter_cm=d)
    cp = _cp(child_pugh_class, size)
    mvi = _flag(macrovascular_invasion, size, "macrovascular_invasion")
    ehs = _flag(extrahepatic_spread, size, "extrahepatic_spread")

    def b(x: Any, na: pd.Series) -> pd.Series:
        return pd.Series(x).astype("boolean").mask(na)

    two_three = b((n >= 2) & (n <= 3), n.isna())
    single = b(n == 1, n.isna())
    rules = [
        ("IV", pd.Series(cp == "C").astype("boolean") | b(e >= 3, e.isna())),
        ("IIIb", ehs),
        ("IIIa", mvi),
        ("IIb", b(n >= 4, n.isna())),
        ("IIa", two_three & b(d > 3, d.isna())),
        ("Ib", (single & b(d > 5, d.isna())) | (two_three & b(d <= 3, d.isna()))),
        ("Ia", single & b(d <= 5, d.isna())),
    ]
    return pd.DataFrame({"cnlc": _first_true(rules, size)})


def bclc_inconsistencies(*, recorded_bclc: Any, ecog: Any) -> pd.Series:
    """True where a recorded BCLC 0/A/B sits with ECOG >= 1 (in BCLC 2022, ECOG 1–2 implies C):
    the cohort's validation rule of domain.md §3.3. NA where either is missing."""
    r = pd.Series(recorded_bclc, dtype="string").reset_index(drop=True)
    e = _num(ecog, "ecog")
    _same_length(recorded_bclc=r, ecog=e)
    flag = pd.Series(np.asarray(r.isin(["0", "A", "B"]).fillna(False), dtype=bool)
                     & np.asarray((e >= 1).fillna(False), dtype=bool), dtype="boolean")
    return flag.mask(r.isna() | e.isna())
