"""Child–Pugh score and class (domain.md §3.1).

| Parameter | 1 point | 2 points | 3 points |
|---|---|---|---|
| Total bilirubin (µmol/L) | < 34 | 34–50 | > 50 |
| Albumin (g/L) | > 35 | 28–35 | < 28 |
| INR | < 1.7 | 1.7–2.3 | > 2.3 |
| Ascites | none | mild | moderate–severe |
| Hepatic encephalopathy | none | grade I–II | grade III–IV |

Class A = 5–6, B = 7–9, C = 10–15. The middle band is inclusive at both ends (bilirubin 34 → 2,
50 → 2; albumin 35 → 2, 28 → 2; INR 1.7 → 2, 2.3 → 2). Sources: Pugh et al., Br J Surg 1973;
Chinese guideline for primary liver cancer 2024 (same table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hccfusion.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

ASCITES_POINTS: dict[str, int] = {"none": 1, "mild": 2, "moderate_severe": 3}
ENCEPHALOPATHY_POINTS: dict[str, int] = {"none": 1, "grade_1_2": 2, "grade_3_4": 3}
#: Child–Pugh class by total score.
CLASS_BOUNDS: tuple[tuple[str, int, int], ...] = (("A", 5, 6), ("B", 7, 9), ("C", 10, 15))


def _banded(values: Any, *, low: float, high: float, increasing: bool) -> pd.Series:
    """1/2/3 points for a continuous value with an inclusive middle band [low, high]."""
    import numpy as np
    import pandas as pd

    x = pd.to_numeric(pd.Series(values), errors="coerce").astype("float64").reset_index(drop=True)
    # Round to 0.01 so that 1.7 stored as 1.7000000000000002 still lands in the middle band.
    r = x.round(2)
    if increasing:  # higher value = worse (bilirubin, INR)
        pts = np.where(r < low, 1, np.where(r <= high, 2, 3))
    else:  # lower value = worse (albumin)
        pts = np.where(r > high, 1, np.where(r >= low, 2, 3))
    return pd.Series(pts, dtype="Int64").mask(x.isna())


def bilirubin_points(bilirubin_umol_l: Any) -> pd.Series:
    """Points for total bilirubin in µmol/L: < 34 → 1, 34–50 → 2, > 50 → 3 (NA stays NA)."""
    return _banded(bilirubin_umol_l, low=34, high=50, increasing=True)


def albumin_points(albumin_g_l: Any) -> pd.Series:
    """Points for albumin in g/L: > 35 → 1, 28–35 → 2, < 28 → 3 (NA stays NA)."""
    return _banded(albumin_g_l, low=28, high=35, increasing=False)


def inr_points(inr: Any) -> pd.Series:
    """Points for INR: < 1.7 → 1, 1.7–2.3 → 2, > 2.3 → 3 (NA stays NA)."""
    return _banded(inr, low=1.7, high=2.3, increasing=True)


def _coded(values: Any, *, table: dict[str, int], field: str) -> pd.Series:
    import pandas as pd

    s = pd.Series(values, dtype="object").reset_index(drop=True)
    known = s.isna() | s.isin(list(table))
    if not known.all():
        bad = sorted({str(v) for v in s[~known]})
        raise DataError(f"{field} must be one of {list(table)} (or missing); got {bad}. Map the "
                        "site's spelling to the canonical code at ingestion (crf validate).")
    return s.map(table).astype("Int64")


def ascites_points(ascites: Any) -> pd.Series:
    """Points for the ascites code: none → 1, mild → 2, moderate_severe → 3."""
    return _coded(ascites, table=ASCITES_POINTS, field="ascites")


def encephalopathy_points(encephalopathy: Any) -> pd.Series:
    """Points for the encephalopathy code: none → 1, grade_1_2 → 2, grade_3_4 → 3."""
    return _coded(encephalopathy, table=ENCEPHALOPATHY_POINTS, field="encephalopathy")


def child_pugh_class(score: Any) -> pd.Series:
    """Class A (5–6), B (7–9) or C (10–15) of a Child–Pugh score; NA for a missing score."""
    import pandas as pd

    s = pd.Series(score).reset_index(drop=True).astype("Int64")
    out = pd.Series(pd.NA, index=s.index, dtype="string")
    for name, lo, hi in CLASS_BOUNDS:
        out = out.mask(((s >= lo) & (s <= hi)).fillna(False).astype(bool), name)
    bad = s.notna() & out.isna()
    if bad.any():
        raise DataError(f"a Child–Pugh score lies in 5–15; got {sorted(set(s[bad].tolist()))}.")
    return out


def child_pugh(
    *,
    bilirubin_umol_l: Any,
    albumin_g_l: Any,
    inr: Any,
    ascites: Any,
    encephalopathy: Any,
) -> pd.DataFrame:
    """Child–Pugh points, score and class, vectorised over patients (domain.md §3.1).

    Parameters
    ----------
    bilirubin_umol_l, albumin_g_l, inr
        Array-likes of equal length (total bilirubin µmol/L, albumin g/L, INR); NaN = missing.
    ascites
        Codes ``none`` / ``mild`` / ``moderate_severe`` (or missing).
    encephalopathy
        Codes ``none`` / ``grade_1_2`` / ``grade_3_4`` (or missing).

    Returns
    -------
    pandas.DataFrame
        One row per input position: ``bilirubin_points``, ``albumin_points``, ``inr_points``,
        ``ascites_points``, ``encephalopathy_points`` (Int64), ``score`` (Int64, NA if any
        input is missing), ``cp_class`` (A/B/C), ``label`` (e.g. ``B8``), and ``score_min`` /
        ``score_max``: the smallest and largest score the missing inputs still allow (equal
        to ``score`` when nothing is missing), so that a class can be certain despite a gap.

    Examples
    --------
    >>> child_pugh(bilirubin_umol_l=[40], albumin_g_l=[32], inr=[1.5], ascites=["mild"],
    ...            encephalopathy=["none"])["label"].tolist()
    ['B8']
    """
    import pandas as pd

    parts = {
        "bilirubin_points": bilirubin_points(bilirubin_umol_l),
        "albumin_points": albumin_points(albumin_g_l),
        "inr_points": inr_points(inr),
        "ascites_points": ascites_points(ascites),
        "encephalopathy_points": encephalopathy_points(encephalopathy),
    }
    lengths = {name: len(s) for name, s in parts.items()}
    if len(set(lengths.values())) != 1:
        raise DataError(f"Child–Pugh inputs must have equal lengths; got {lengths}.")
    out = pd.DataFrame(parts)
    points = out[list(parts)]
    n_missing = points.isna().sum(axis=1)
    known = points.fillna(0).sum(axis=1).astype("int64")
    out["score"] = known.astype("Int64").mask(n_missing > 0)
    out["score_min"] = (known + n_missing).astype("Int64")
    out["score_max"] = (known + 3 * n_missing).astype("Int64")
    out["cp_class"] = child_pugh_class(out["score"])
    out["label"] = (out["cp_class"] + out["score"].astype("string")).astype("string")
    return out
