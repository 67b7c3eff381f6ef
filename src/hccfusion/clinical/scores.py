"""Published baseline prognostic scores for HCC (domain.md §3.2, §3.4–§3.8).

Every score is a pure function over array-likes (one position per patient) with units in the
argument names, returning a tidy DataFrame with the score and its group. Missing inputs give
missing outputs (never a silent 0 point).

Staging (BCLC 2022, CNLC) lives in :mod:`hccfusion.clinical.scores_staging`; AFP / PIVKA-II
response in :mod:`hccfusion.clinical.scores_kinetics`; the per-patient table of every baseline
score in :mod:`hccfusion.clinical.scores_baseline`.

Not implemented (domain.md §10 decision 7): **mHAP-III** (Pinato et al.) and **ABCR**
(Adhoute et al., J Hepatol 2015) — their coefficients / point values are not verified here and
are left out until the primary papers are in hand.

Boundaries are compared after rounding to 9 decimals, so that a value such as 4.2 + 2.8 lands
on 7 and not on 7.000000000000001.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hccfusion.errors import DataError

_DECIMALS = 9

#: ALBI grade cut-offs (Johnson et al., J Clin Oncol 2015) and the mALBI split of grade 2.
ALBI_G1_MAX = -2.60
ALBI_G2_MAX = -1.39
MALBI_2A_MAX = -2.27


def _num(values: Any, name: str) -> pd.Series:
    s = pd.Series(values).reset_index(drop=True)
    try:
        return pd.to_numeric(s, errors="raise").astype("float64").round(_DECIMALS)
    except (TypeError, ValueError) as exc:
        raise DataError(f"'{name}' must be numeric (NaN = missing); got {s.tolist()[:5]}.") from exc


def _flag(values: Any, n: int, name: str) -> pd.Series:
    """Nullable boolean Series; None means all False (nothing censored / no such finding)."""
    if values is None:
        return pd.Series(False, index=range(n), dtype="boolean")
    s = pd.Series(values).reset_index(drop=True)
    try:
        return s.astype("boolean")
    except (TypeError, ValueError) as exc:
        raise DataError(f"'{name}' must be boolean (True/False/NA); got {s.tolist()[:5]}.") from exc


def _same_length(**series: pd.Series) -> int:
    lengths = {k: len(v) for k, v in series.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"score inputs must have equal lengths (one per patient); got {lengths}.")
    return next(iter(lengths.values()))


def _points(cond: pd.Series | np.ndarray, missing: pd.Series) -> pd.Series:
    return pd.Series(np.asarray(cond, dtype=bool).astype(int), dtype="Int64").mask(missing)


def _letter(points: pd.Series, letters: str = "ABCD") -> pd.Series:
    capped = points.clip(upper=len(letters) - 1)
    out = pd.Series(pd.NA, index=points.index, dtype="string")
    for i, letter in enumerate(letters):
        out = out.mask((capped == i).fillna(False).astype(bool), letter)
    return out


def _cut(x: pd.Series, edges: tuple[float, ...], labels: tuple[str, ...]) -> pd.Series:
    """Right-closed bins: label[i] for edges[i-1] < x <= edges[i]; last label above the top."""
    out = pd.Series(pd.NA, index=x.index, dtype="string")
    idx = np.searchsorted(np.asarray(edges, dtype=float), x.fillna(0).to_numpy(), side="left")
    out[:] = np.asarray(labels, dtype=object)[idx]
    return out.mask(x.isna())


# ---------------------------------------------------------------------------------- ALBI
def albi_grade(albi_score: Any) -> pd.DataFrame:
    """ALBI grade 1 (<= −2.60), 2 (−2.60 < x <= −1.39), 3 (> −1.39) and mALBI 1/2a/2b/3
    (grade 2 split at −2.27: 2a <= −2.27 < 2b). Johnson et al., J Clin Oncol 2015."""
    x = _num(albi_score, "albi_score")
    return pd.DataFrame({
        "albi_grade": _cut(x, (ALBI_G1_MAX, ALBI_G2_MAX), ("1", "2", "3")),
        "malbi_grade": _cut(x, (ALBI_G1_MAX, MALBI_2A_MAX, ALBI_G2_MAX), ("1", "2a", "2b", "3")),
    })


def albi(*, bilirubin_umol_l: Any, albumin_g_l: Any) -> pd.DataFrame:
    """ALBI score and grade (Johnson et al., J Clin Oncol 2015; mALBI: Hiraoka et al. 2017).

    ``ALBI = 0.66 × log10(bilirubin µmol/L) − 0.085 × albumin g/L``.

    Returns
    -------
    pandas.DataFrame
        ``albi`` (float, 3 decimals kept unrounded), ``albi_grade`` ("1"/"2"/"3"),
        ``malbi_grade`` ("1"/"2a"/"2b"/"3").

    Examples
    --------
    >>> albi(bilirubin_umol_l=[10], albumin_g_l=[45])["albi"].round(3).tolist()
    [-3.165]
    """
    bili = _num(bilirubin_umol_l, "bilirubin_umol_l")
    alb = _num(albumin_g_l, "albumin_g_l")
    _same_length(bilirubin_umol_l=bili, albumin_g_l=alb)
    if (bili <= 0).any():
        raise DataError(f"bilirubin_umol_l must be > 0 for ALBI; got {bili[bili <= 0].tolist()}.")
    score = 0.66 * np.log10(bili) - 0.085 * alb
    return pd.concat([pd.DataFrame({"albi": score}), albi_grade(score)], axis=1)


# ------------------------------------------------------------------------- tumour burden
def tumour_burden(*, largest_diameter_cm: Any, tumour_number: Any,
                  tumour_number_censored: Any = None) -> pd.DataFrame:
    """Up-to-seven / up-to-eleven, six-and-twelve, seven-eleven and tumour burden score.

    - Up-to-seven (Mazzaferro et al., Lancet Oncol 2009): within if D + n <= 7;
      up-to-eleven: within if D + n <= 11.
    - Six-and-twelve (Wang et al., J Hepatol 2019): D + n <= 6 low, <= 12 intermediate, else high.
    - Seven-eleven: D + n <= 7, <= 11 ("7-11"), > 11.
    - TBS = sqrt(D² + n²) (Sasaki et al., Br J Surg 2018); continuous, cut-offs cohort-specific.

    ``tumour_number_censored`` marks a CRF "> N" entry (stored as N): the true number is at
    least N + 1. A group is then reported only when that lower bound already fixes it (the worst
    group); otherwise it is NA. ``d_plus_n`` and ``tbs`` are then lower bounds
    (``n_censored`` True).
    """
    d = _num(largest_diameter_cm, "largest_diameter_cm")
    n_raw = _num(tumour_number, "tumour_number")
    n = _same_length(largest_diameter_cm=d, tumour_number=n_raw)
    cens = _flag(tumour_number_censored, n, "tumour_number_censored").fillna(False).astype(bool)
    if ((n_raw < 1) | (d <= 0)).any():
        raise DataError("tumour_number must be >= 1 and largest_diameter_cm > 0; got "
                        f"n={n_raw[n_raw < 1].tolist()}, D={d[d <= 0].tolist()}.")
    n_low = n_raw + cens.astype(float)
    s = (d + n_low).round(_DECIMALS)
    up7 = _cut(s, (7,), ("within", "beyond"))
    up11 = _cut(s, (11,), ("within", "beyond"))
    six12 = _cut(s, (6, 12), ("low", "intermediate", "high"))
    seven11 = _cut(s, (7, 11), ("<=7", "7-11", ">11"))
    # A censored count only raises D + n: keep a group only if it is already the top one.
    for col, top in ((up7, "beyond"), (up11, "beyond"), (six12, "high"), (seven11, ">11")):
        col[:] = col.mask(cens & (col != top).fillna(True))
    return pd.DataFrame({
        "d_plus_n": s, "n_censored": cens.to_numpy(), "up_to_7": up7, "up_to_11": up11,
        "six_and_twelve": six12, "seven_eleven": seven11,
        "tbs": np.sqrt(d ** 2 + n_low ** 2),
    })


# ------------------------------------------------------------------------ HAP / mHAP-II
def hap(*, albumin_g_l: Any, afp_ng_ml: Any, bilirubin_umol_l: Any, largest_diameter_cm: Any,
        tumour_number: Any = None) -> pd.DataFrame:
    """HAP score (Kadalayil et al., Ann Oncol 2013) and, when ``tumour_number`` is given,
    mHAP-II (Park et al., Oncotarget 2016).

    HAP: 1 point each for albumin < 36 g/L, AFP > 400 ng/mL, bilirubin > 17 µmol/L, largest
    tumour > 7 cm; HAP A = 0, B = 1, C = 2, D >= 3. mHAP-II adds 1 point for >= 2 tumours
    (A 0, B 1, C 2, D >= 3).
    """
    alb = _num(albumin_g_l, "albumin_g_l")
    afp = _num(afp_ng_ml, "afp_ng_ml")
    bili = _num(bilirubin_umol_l, "bilirubin_umol_l")
    d = _num(largest_diameter_cm, "largest_diameter_cm")
    _same_length(albumin_g_l=alb, afp_ng_ml=afp, bilirubin_umol_l=bili, largest_diameter_cm=d)
    missing = alb.isna() | afp.isna() | bili.isna() | d.isna()
    pts = (_points(alb < 36, missing) + _points(afp > 400, missing)
           + _points(bili > 17, missing) + _points(d > 7, missing))
    out = pd.DataFrame({"hap_points": pts, "hap": _letter(pts)})
    if tumour_number is not None:
        n = _num(tumour_number, "tumour_number")
        _same_length(albumin_g_l=alb, tumour_number=n)
        pts2 = pts + _points(n >= 2, n.isna())
        out["mhap2_points"] = pts2
        out["mhap2"] = _letter(pts2)
    return out


def albi_tae(*, bilirubin_umol_l: Any, albumin_g_l: Any, afp_ng_ml: Any,
             largest_diameter_cm: Any, tumour_number: Any,
             tumour_number_censored: Any = None) -> pd.DataFrame:
    """ALBI-TAE (Hiraoka / Ho et al.; domain.md §3.5): 1 point each for ALBI grade 2–3,
    AFP > 200 ng/mL and beyond up-to-eleven; A 0, B 1, C 2, D 3."""
    a = albi(bilirubin_umol_l=bilirubin_umol_l, albumin_g_l=albumin_g_l)
    afp = _num(afp_ng_ml, "afp_ng_ml")
    tb = tumour_burden(largest_diameter_cm=largest_diameter_cm, tumour_number=tumour_number,
                       tumour_number_censored=tumour_number_censored)
    _same_length(albi=a, afp_ng_ml=afp, tumour_burden=tb)
    pts = (_points(a["albi_grade"].isin(["2", "3"]), a["albi_grade"].isna())
           + _points(afp > 200, afp.isna())
           + _points(tb["up_to_11"] == "beyond", tb["up_to_11"].isna()))
    return pd.DataFrame({"albi_tae_points": pts, "albi_tae": _letter(pts)})


def state(*, albumin_g_l: Any, crp_mg_l: Any, largest_diameter_cm: Any, tumour_number: Any,
          tumour_number_censored: Any = None, cutoff: float = 18.0) -> pd.DataFrame:
    """STATE score (Hucke et al., J Hepatol 2014): albumin (g/L) − 12 if beyond up-to-seven
    − 12 if CRP >= 1 mg/dL (= 10 mg/L). Below ``cutoff`` (18) = unsuitable for a first TACE."""
    alb = _num(albumin_g_l, "albumin_g_l")
    crp = _num(crp_mg_l, "crp_mg_l")
    tb = tumour_burden(largest_diameter_cm=largest_diameter_cm, tumour_number=tumour_number,
                       tumour_number_censored=tumour_number_censored)
    _same_length(albumin_g_l=alb, crp_mg_l=crp, tumour_burden=tb)
    beyond7 = tb["up_to_7"].map({"beyond": 12.0, "within": 0.0}).astype("float64")
    score = alb - beyond7 - np.where(crp.isna(), np.nan, np.where(crp >= 10, 12.0, 0.0))
    group = pd.Series(np.where(score < cutoff, "unsuitable", "suitable"),
                      dtype="string").mask(score.isna())
    return pd.DataFrame({"state": score, "state_group": group})


def crafity(*, afp_ng_ml: Any, crp_mg_l: Any) -> pd.DataFrame:
    """CRAFITY score (Scheiner et al., J Hepatol 2022): 1 point for AFP >= 100 ng/mL, 1 point for
    CRP >= 1 mg/dL. CRP is taken in **mg/L** (threshold 10 mg/L) — Chinese labs report mg/L, and
    passing mg/dL here would under-score by a factor 10. 0 low, 1 intermediate, 2 high."""
    afp = _num(afp_ng_ml, "afp_ng_ml")
    crp = _num(crp_mg_l, "crp_mg_l")
    _same_length(afp_ng_ml=afp, crp_mg_l=crp)
    pts = _points(afp >= 100, afp.isna()) + _points(crp >= 10, crp.isna())
    group = pd.Series(pd.NA, index=pts.index, dtype="string")
    for i, name in enumerate(("low", "intermediate", "high")):
        group = group.mask((pts == i).fillna(False).astype(bool), name)
    return pd.DataFrame({"crafity_points": pts, "crafity": group})


def inflammation_ratios(*, neutrophils_10e9_l: Any, lymphocytes_10e9_l: Any,
                        platelets_10e9_l: Any, nlr_cutoff: float = 3.0,
                        plr_cutoff: float = 150.0) -> pd.DataFrame:
    """NLR = neutrophils / lymphocytes and PLR = platelets / lymphocytes (all 10^9/L).

    Reported as continuous values and as ``high`` / ``low`` at the given cut-offs (value >=
    cut-off = high; defaults NLR 3, PLR 150 — domain.md §3.8; prefer training-set cut-offs).
    A lymphocyte count of 0 gives NaN. Common references: Hu et al., Clin Cancer Res 2014.
    """
    neu = _num(neutrophils_10e9_l, "neutrophils_10e9_l")
    lym = _num(lymphocytes_10e9_l, "lymphocytes_10e9_l")
    plt_ = _num(platelets_10e9_l, "platelets_10e9_l")
    _same_length(neutrophils=neu, lymphocytes=lym, platelets=plt_)
    lym = lym.where(lym > 0)
    nlr = (neu / lym).round(_DECIMALS)
    plr = (plt_ / lym).round(_DECIMALS)

    def grp(x: pd.Series, cut: float) -> pd.Series:
        return pd.Series(np.where(x >= cut, "high", "low"), dtype="string").mask(x.isna())

    return pd.DataFrame({"nlr": nlr, "nlr_group": grp(nlr, nlr_cutoff),
                         "plr": plr, "plr_group": grp(plr, plr_cutoff)})


def art(*, ast_before_u_l: Any, ast_after_u_l: Any, child_pugh_before: Any,
        child_pugh_after: Any, radiologic_response: Any) -> pd.DataFrame:
    """ART score for TACE retreatment (Sieghart et al., Hepatology 2013).

    AST rise > 25 % → 4; Child–Pugh score +1 → 1.5, >= +2 → 3; no radiologic response → 1.
    0–1.5 favourable, >= 2.5 unfavourable. Needs post-first-TACE data (sensitivity analyses
    only, domain.md §3.6). ``radiologic_response`` is True when the first TACE gave a response.
    """
    a0 = _num(ast_before_u_l, "ast_before_u_l")
    a1 = _num(ast_after_u_l, "ast_after_u_l")
    c0 = _num(child_pugh_before, "child_pugh_before")
    c1 = _num(child_pugh_after, "child_pugh_after")
    resp = _flag(radiologic_response, len(a0), "radiologic_response")
    _same_length(ast_before=a0, ast_after=a1, cp_before=c0, cp_after=c1, response=resp)
    rise = ((a1 - a0) / a0.where(a0 > 0) * 100).round(_DECIMALS)
    dcp = c1 - c0
    score = (np.where(rise > 25, 4.0, 0.0) + np.select([dcp >= 2, dcp >= 1], [3.0, 1.5], 0.0)
             + np.where(resp.fillna(True).astype(bool), 0.0, 1.0))
    score = pd.Series(score).mask(rise.isna() | dcp.isna() | resp.isna())
    group = pd.Series(np.where(score >= 2.5, "unfavourable", "favourable"),
                      dtype="string").mask(score.isna())
    return pd.DataFrame({"ast_rise_pct": rise, "child_pugh_increase": dcp, "art": score,
                         "art_group": group})
