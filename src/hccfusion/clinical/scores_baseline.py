"""Every baseline score of domain.md §3, one row per patient, from the canonical tables.

Baseline labs are the last value within ``window_days`` (default 14) before T0, T0 included
(:func:`hccfusion.clinical.baseline_labs.baseline_labs`). Tumour numbers entered as "> N" are
stored as N with ``tumour_number_censor == ">"``; the tumour-burden groups resolve them only
when the lower bound fixes the group (see :func:`hccfusion.clinical.scores.tumour_burden`).
An unrecorded ``hvtt`` (optional field) counts as no hepatic-vein thrombus.
Retreatment scores (ART) and marker responses need post-T0 data and are not part of this table.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from hccfusion.clinical.baseline_labs import baseline_labs
from hccfusion.clinical.child_pugh import child_pugh
from hccfusion.clinical.scores import (
    albi, albi_tae, crafity, hap, inflammation_ratios, state, tumour_burden)
from hccfusion.clinical.scores_staging import bclc_2022, cnlc, macrovascular_invasion
from hccfusion.errors import DataError

#: Baseline lab tests used by the scores, with the unit-bearing column name they get.
BASELINE_TESTS: dict[str, str] = {
    "bilirubin": "bilirubin_umol_l", "albumin": "albumin_g_l", "inr": "inr",
    "afp": "afp_ng_ml", "pivka_ii": "pivka_ii_mau_ml", "crp": "crp_mg_l",
    "neutrophils": "neutrophils_10e9_l", "lymphocytes": "lymphocytes_10e9_l",
    "platelets": "platelets_10e9_l",
}
PATIENT_COLUMNS = ("patient_id", "ecog", "ascites", "encephalopathy", "tumour_number",
                   "tumour_number_censor", "largest_diameter_mm", "pvtt", "hvtt",
                   "extrahepatic_spread")


def baseline_scores(tables: Mapping[str, pd.DataFrame], *, index_dates: pd.DataFrame,
                    window_days: int = 14, nlr_cutoff: float = 3.0,
                    plr_cutoff: float = 150.0) -> pd.DataFrame:
    """One row per patient of ``index_dates`` with every baseline score of domain.md §3.

    Parameters
    ----------
    tables
        Canonical tables; needs ``patients`` and ``labs``.
    index_dates
        One row per patient with ``patient_id`` and ``t0``
        (:func:`hccfusion.io.index_date.index_dates`).
    window_days
        Baseline lab window before T0 (domain.md §3: 14 days).
    nlr_cutoff, plr_cutoff
        Groups for NLR / PLR (value >= cut-off = high).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``t0``, the baseline labs (unit-bearing names), ``largest_diameter_cm``,
        ``tumour_number``, ``n_censored``, ``child_pugh_score``, ``child_pugh_class``,
        ``albi``, ``albi_grade``, ``malbi_grade``, ``bclc_2022``, ``cnlc``, the tumour-burden
        columns (``d_plus_n``, ``up_to_7``, ``up_to_11``, ``six_and_twelve``,
        ``seven_eleven``, ``tbs``), ``hap``/``mhap2`` (+ points), ``albi_tae``, ``state``,
        ``crafity``, ``nlr``, ``plr`` and their groups.
    """
    for name in ("patients", "labs"):
        if name not in tables:
            raise DataError(f"baseline_scores needs the '{name}' table; got {sorted(tables)}.")
    missing = [c for c in ("patient_id", "t0") if c not in index_dates.columns]
    if missing:
        raise DataError(f"index_dates lacks columns {missing}; pass the result of "
                        "hccfusion.io.index_date.index_dates(treatments).")
    patients = tables["patients"]
    absent = [c for c in PATIENT_COLUMNS if c not in patients.columns
              and c not in ("tumour_number_censor", "hvtt")]
    if absent:
        raise DataError(f"patients table lacks columns {absent}; pass the canonical table.")

    idx = index_dates[["patient_id", "t0"]].drop_duplicates("patient_id").copy()
    idx["patient_id"] = idx["patient_id"].astype("string")
    labs = tables["labs"].copy()
    labs["patient_id"] = labs["patient_id"].astype("string")
    bl = baseline_labs(labs, idx, tests=tuple(BASELINE_TESTS), window_days=window_days)
    bl = bl.rename(columns=BASELINE_TESTS)
    pat = patients[[c for c in PATIENT_COLUMNS if c in patients.columns]].copy()
    pat["patient_id"] = pat["patient_id"].astype("string")
    df = idx.merge(bl, on="patient_id", how="left").merge(pat, on="patient_id", how="left")
    df = df.reset_index(drop=True)

    n_censored = (df["tumour_number_censor"].astype("string") == ">").fillna(False).astype(bool) \
        if "tumour_number_censor" in df.columns else pd.Series(False, index=df.index)
    # hvtt is an optional CRF field: not recorded = no hepatic-vein thrombus.
    hvtt = df["hvtt"].astype("boolean").fillna(False) if "hvtt" in df.columns else None
    d_cm = df["largest_diameter_mm"].astype("float64") / 10.0
    n = df["tumour_number"].astype("float64")
    mvi = macrovascular_invasion(pvtt=df["pvtt"], hvtt=hvtt)
    ehs = df["extrahepatic_spread"].astype("boolean")

    cp = child_pugh(bilirubin_umol_l=df["bilirubin_umol_l"], albumin_g_l=df["albumin_g_l"],
                    inr=df["inr"], ascites=df["ascites"], encephalopathy=df["encephalopathy"])
    stage_kw = dict(ecog=df["ecog"].astype("float64"), child_pugh_class=cp["cp_class"],
                    tumour_number=n, largest_diameter_cm=d_cm, macrovascular_invasion=mvi,
                    extrahepatic_spread=ehs)
    burden_kw = dict(largest_diameter_cm=d_cm, tumour_number=n, tumour_number_censored=n_censored)
    parts = [
        df[["patient_id", "t0", *BASELINE_TESTS.values()]],
        pd.DataFrame({"largest_diameter_cm": d_cm, "tumour_number": df["tumour_number"],
                      "macrovascular_invasion": mvi, "extrahepatic_spread": ehs}),
        cp[["score", "cp_class"]].rename(columns={"score": "child_pugh_score",
                                                  "cp_class": "child_pugh_class"}),
        albi(bilirubin_umol_l=df["bilirubin_umol_l"], albumin_g_l=df["albumin_g_l"]),
        bclc_2022(**stage_kw).rename(columns={"bclc": "bclc_2022"}),
        cnlc(**stage_kw),
        tumour_burden(**burden_kw),
        hap(albumin_g_l=df["albumin_g_l"], afp_ng_ml=df["afp_ng_ml"],
            bilirubin_umol_l=df["bilirubin_umol_l"], largest_diameter_cm=d_cm, tumour_number=n),
        albi_tae(bilirubin_umol_l=df["bilirubin_umol_l"], albumin_g_l=df["albumin_g_l"],
                 afp_ng_ml=df["afp_ng_ml"], **burden_kw),
        state(albumin_g_l=df["albumin_g_l"], crp_mg_l=df["crp_mg_l"], **burden_kw),
        crafity(afp_ng_ml=df["afp_ng_ml"], crp_mg_l=df["crp_mg_l"]),
        inflammation_ratios(neutrophils_10e9_l=df["neutrophils_10e9_l"],
                            lymphocytes_10e9_l=df["lymphocytes_10e9_l"],
                            platelets_10e9_l=df["platelets_10e9_l"], nlr_cutoff=nlr_cutoff,
                            plr_cutoff=plr_cutoff),
    ]
    return pd.concat([p.reset_index(drop=True) for p in parts], axis=1)
