"""Time-point tumour response per reader, exam and criterion: mRECIST (primary) and RECIST 1.1
(domain.md §1, Lencioni & Llovet, Semin Liver Dis 2010; Eisenhauer et al., Eur J Cancer 2009).

Readers: R1 and R2 read every exam; the MDT re-reads only exams it adjudicates (§1.11). The
MDT's baseline and nadir therefore come from a consensus series: the MDT's measurements where it
read, elsewhere the mean of R1 and R2 per lesion (categorical fields from R1). ``final`` is the
MDT's category where it read, else the category R1 and R2 agree on; where they disagree and no
MDT read exists, ``final`` is NA and ``needs_mdt`` is True. The numbers of ``final`` come from
the consensus series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.endpoints.response_lesions import (
    EKEY, SKEY, new_lesion_status, nontarget_states, target_sums,
)
from hccfusion.endpoints.response_rules import (
    CRITERIA, ResponseSettings, nontarget_category, overall_category, pct_change_tenths,
    target_category,
)
from hccfusion.errors import DataError

COLUMNS: tuple[str, ...] = (
    "patient_id", "exam_id", "date", "reader", "criterion", "target_sum_mm", "baseline_sum_mm",
    "nadir_mm", "pct_change_baseline", "pct_change_nadir", "target_response",
    "nontarget_response", "new_lesion", "overall_response", "pd_date", "is_baseline",
    "days_from_t0", "needs_mdt",
)
_MEASURES = ("viable_diameter_mm", "longest_diameter_mm", "short_axis_mm")


def baseline_exams(exams: pd.DataFrame, *, index_dates: pd.DataFrame,
                   settings: ResponseSettings = ResponseSettings()) -> pd.DataFrame:
    """The baseline exam of each patient: the last exam on or before T0 (domain.md §1.2).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``t0``, ``baseline_exam_id``, ``baseline_date``,
        ``days_before_t0`` and ``baseline_too_old`` (older than ``baseline_max_days``).
        Patients without an exam on or before T0 are absent.
    """
    ex = exams[["exam_id", "patient_id", "date"]].merge(
        index_dates[["patient_id", "t0"]], on="patient_id", how="inner")
    ex = ex[pd.to_datetime(ex["date"]) <= ex["t0"]].sort_values(["patient_id", "date", "exam_id"])
    last = ex.groupby("patient_id", sort=False, observed=True).tail(1)
    out = pd.DataFrame({"patient_id": last["patient_id"], "t0": last["t0"],
                        "baseline_exam_id": last["exam_id"],
                        "baseline_date": pd.to_datetime(last["date"])})
    out["days_before_t0"] = (out["t0"] - out["baseline_date"]).dt.days
    out["baseline_too_old"] = out["days_before_t0"] > settings.baseline_max_days
    return out.reset_index(drop=True)


def _prepare(lesion_reads: pd.DataFrame, exams: pd.DataFrame, index_dates: pd.DataFrame,
             settings: ResponseSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    reads = lesion_reads.copy()
    for col in ("typical_hcc", "evaluable", "is_effusion", "cytology_malignant",
                "vascular_class", "nontarget_status"):
        if col not in reads.columns:
            reads[col] = pd.NA
    ex = exams[["exam_id", "patient_id", "date"]].copy()
    ex["date"] = pd.to_datetime(ex["date"])
    phases = exams["phases"] if "phases" in exams.columns else pd.Series(pd.NA, index=exams.index)
    ph = phases.astype("string").fillna("arterial,portal_venous")
    ex["mrecist_phases_ok"] = (ph.str.contains("arterial") & ph.str.contains("portal_venous")
                               ).to_numpy(dtype=bool)
    unknown = reads[~reads["exam_id"].isin(ex["exam_id"])]
    if len(unknown):
        r = unknown.iloc[0]
        raise DataError(f"patient {r['patient_id']}, exam {r['exam_id']}: lesion reads refer to "
                        "an exam missing from the exams table; add the exam (date, modality).")
    base = baseline_exams(ex, index_dates=index_dates, settings=settings)
    lacking = sorted(set(reads["patient_id"].astype(str)) - set(base["patient_id"].astype(str)))
    if lacking:
        raise DataError(f"patient {lacking[0]} ({len(lacking)} patient(s) in all): no imaging "
                        "exam on or before the index date T0 (or no T0); the baseline scan is "
                        "required (domain.md §1.2).")
    ex = ex.merge(base[["patient_id", "t0", "baseline_exam_id", "baseline_date"]],
                  on="patient_id", how="inner")
    ex = ex[ex["date"] >= ex["baseline_date"]]
    ex["is_baseline"] = ex["exam_id"] == ex["baseline_exam_id"]
    ex["days_from_t0"] = (ex["date"] - ex["t0"]).dt.days
    reads = reads.drop(columns=["patient_id"]).merge(
        ex[["exam_id", "patient_id", "date", "is_baseline", "mrecist_phases_ok"]],
        on="exam_id", how="inner")
    return reads, ex


def _consensus(reads: pd.DataFrame) -> pd.DataFrame:
    """The MDT series: MDT rows where the MDT read the exam, elsewhere R1/R2 per lesion
    (numbers averaged, categorical fields from R1)."""
    mdt = reads[reads["reader"] == "MDT"]
    rest = reads[(reads["reader"] != "MDT") & ~reads["exam_id"].isin(mdt["exam_id"])]
    rest = rest.sort_values("reader", kind="stable")
    key = ["exam_id", "lesion_id"]
    first = rest.drop_duplicates(key).set_index(key)
    nums = list(_MEASURES)
    first[nums] = rest.groupby(key, observed=True)[nums].mean().reindex(first.index)
    filled = pd.concat([mdt, first.reset_index()], ignore_index=True)
    filled["series"] = "MDT"
    return filled


def _series_reads(reads: pd.DataFrame) -> pd.DataFrame:
    own = reads[reads["reader"].isin(["R1", "R2"])].assign(series=reads["reader"])
    return pd.concat([own, _consensus(reads)], ignore_index=True)


def _one_criterion(reads: pd.DataFrame, exams_read: pd.DataFrame, criterion: str,
                   settings: ResponseSettings) -> pd.DataFrame:
    sums = target_sums(reads, exams_read, criterion=criterion, settings=settings)
    nts = nontarget_category(nontarget_states(reads, exams_read, criterion=criterion), EKEY)
    new = new_lesion_status(reads, exams_read, settings=settings)
    tp = (exams_read.merge(sums, on=EKEY, how="left").merge(nts, on=EKEY, how="left")
          .merge(new, on=EKEY, how="left"))
    tp = tp.sort_values(SKEY + ["date", "exam_id"], kind="stable").reset_index(drop=True)
    tp["nontarget_response"] = tp["nontarget_response"].fillna("ND")
    g = [tp[k] for k in SKEY]
    base_sum = tp["sum_t"].where(tp["is_baseline"]).groupby(g).transform("max")
    running = tp["sum_t"].groupby(g).cummin().groupby(g).ffill()
    nadir = running.groupby(g).shift(1)
    floor = 50.0 if criterion == "recist11" else round(settings.mrecist_pd_min_abs_mm * 10)
    has_targets = tp["n_targets"].fillna(0).to_numpy() > 0
    target = target_category(
        current=tp["sum_t"].to_numpy(float), subset=tp["subset_t"].to_numpy(float),
        complete=tp["complete"].astype("boolean").fillna(False).to_numpy(bool),
        all_gone=tp["all_gone"].astype("boolean").fillna(False).to_numpy(bool), baseline=base_sum.to_numpy(float),
        nadir=nadir.to_numpy(float), min_abs_tenths=floor)
    target = np.where(has_targets, target, "ND").astype(object)
    overall = overall_category(target=target, nontarget=tp["nontarget_response"].to_numpy(object),
                               new_lesion=tp["new_lesion"].to_numpy(object))
    is_base = tp["is_baseline"].to_numpy(bool)
    pd_date = tp["date"].where(overall == "PD")
    back = tp["backdate"].where(tp["new_lesion"] == "confirmed")
    pd_date = pd_date.where(~(back < pd_date), back)
    out = pd.DataFrame({
        "patient_id": tp["patient_id"], "exam_id": tp["exam_id"], "date": tp["date"],
        "reader": tp["series"], "criterion": criterion,
        "target_sum_mm": tp["sum_t"] / 10.0, "baseline_sum_mm": base_sum / 10.0,
        "nadir_mm": nadir / 10.0,
        "pct_change_baseline": pct_change_tenths(tp["sum_t"].to_numpy(float), base_sum.to_numpy(float)) / 10.0,
        "pct_change_nadir": pct_change_tenths(tp["sum_t"].to_numpy(float), nadir.to_numpy(float)) / 10.0,
        "target_response": np.where(is_base, None, target),
        "nontarget_response": np.where(is_base, None, tp["nontarget_response"].to_numpy(object)),
        "new_lesion": tp["new_lesion"].to_numpy(object),
        "overall_response": np.where(is_base, "baseline", overall),
        "pd_date": pd_date.where(~is_base), "is_baseline": is_base,
        "days_from_t0": tp["days_from_t0"], "needs_mdt": False,
    })
    out.loc[is_base, "pct_change_baseline"] = np.nan
    return out


def _final(tp: pd.DataFrame, mdt_exams: set[str]) -> tuple[pd.DataFrame, pd.MultiIndex]:
    """The ``final`` rows and the ``needs_mdt`` flag of R1/R2 rows (§1.11)."""
    key = ["patient_id", "exam_id", "criterion"]
    cons = tp[tp["reader"] == "MDT"].set_index(key)
    cats = ["target_response", "nontarget_response", "new_lesion", "overall_response", "pd_date"]
    r1 = tp[tp["reader"] == "R1"].set_index(key)[cats].reindex(cons.index)
    r2 = tp[tp["reader"] == "R2"].set_index(key)[cats].reindex(cons.index)
    by_mdt = cons.index.get_level_values("exam_id").isin(list(mdt_exams))
    agree = (r1["overall_response"] == r2["overall_response"]).astype("boolean").fillna(False).to_numpy(bool)
    final = cons.copy()
    use_r1 = ~by_mdt & agree
    final.loc[use_r1, cats] = r1.loc[use_r1, cats]
    open_ = ~by_mdt & ~agree
    final.loc[open_, cats] = None
    final["pd_date"] = pd.to_datetime(final["pd_date"])
    final["needs_mdt"] = open_
    final["reader"] = "final"
    return final.reset_index(), cons.index[open_]


def timepoint_responses(lesion_reads: pd.DataFrame, exams: pd.DataFrame, *,
                        index_dates: pd.DataFrame,
                        settings: ResponseSettings = ResponseSettings()) -> pd.DataFrame:
    """Time-point response per patient × exam × reader × criterion (domain.md §1.1–§1.7, §1.11).

    Parameters
    ----------
    lesion_reads, exams
        Canonical tables (``hccfusion.io.schema``). An optional boolean column
        ``porta_hepatis`` in ``lesion_reads`` marks porta-hepatis nodes (§1.6).
    index_dates
        Output of :func:`hccfusion.io.index_date.index_dates` (``patient_id``, ``t0``).
    settings
        :class:`ResponseSettings` (defaults: domain.md §10).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`. ``reader`` ∈ R1, R2, MDT (exams the MDT read), ``final``.
        Sums and the nadir in mm (nadir = minimum over previous evaluable time points including
        baseline); percentages rounded to 0.1. ``overall_response`` ∈ CR/PR/SD/PD/NE,
        ``nonCR/nonPD`` for patients with non-target disease only, ``baseline`` on the
        baseline row. ``pd_date`` is the exam date, or the first-seen date of a later-confirmed
        equivocal new lesion (§1.6). Exams before the baseline exam are left out.

    Raises
    ------
    DataError
        A target measured at follow-up that is not a baseline target, a thrombus recorded as
        target, too many targets, reads of an unknown exam, a patient without a baseline scan.
    """
    reads, ex = _prepare(lesion_reads, exams, index_dates, settings)
    reads = _series_reads(reads)
    exams_read = reads[EKEY].drop_duplicates().merge(
        ex[["exam_id", "date", "is_baseline", "days_from_t0", "mrecist_phases_ok"]],
        on="exam_id", how="inner")
    tp = pd.concat([_one_criterion(reads, exams_read, c, settings) for c in CRITERIA],
                   ignore_index=True)
    mdt_exams = set(lesion_reads.loc[lesion_reads["reader"] == "MDT", "exam_id"].astype(str))
    final, open_keys = _final(tp, mdt_exams)
    own = tp[tp["reader"].isin(["R1", "R2"])]
    flag = pd.MultiIndex.from_frame(own[["patient_id", "exam_id", "criterion"]]).isin(open_keys)
    own = own.assign(needs_mdt=flag)
    mdt = tp[(tp["reader"] == "MDT") & tp["exam_id"].isin(list(mdt_exams))]
    out = pd.concat([own, mdt, final[list(COLUMNS)]], ignore_index=True)
    out["reader"] = pd.Categorical(out["reader"], ["R1", "R2", "MDT", "final"])
    out = out.sort_values(["patient_id", "criterion", "reader", "date", "exam_id"], kind="stable")
    out["reader"] = out["reader"].astype(str)
    out["needs_mdt"] = out["needs_mdt"].astype(bool)
    out["is_baseline"] = out["is_baseline"].astype(bool)
    return out[list(COLUMNS)].reset_index(drop=True)
