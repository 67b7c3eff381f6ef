"""Per-lesion inputs of the time-point response, per reader series and criterion:
target sums (domain.md §1.2–§1.3), non-target states (§1.5) and new-lesion status (§1.6).

All functions take ``reads``: the lesion reads of one series each (column ``series``), joined
with the exam ``date``, ``is_baseline`` and ``mrecist_phases_ok`` (the exam has arterial and
portal venous phases, §1.1), and restricted to exams on or after each patient's baseline exam.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.endpoints.response_rules import VASCULAR_ORDER, ResponseSettings, tenths
from hccfusion.errors import DataError

SKEY = ["patient_id", "series"]
EKEY = ["patient_id", "series", "exam_id"]


def _measure_tenths(rows: pd.DataFrame, criterion: str) -> np.ndarray:
    """The diameter each criterion measures: nodes the short axis; RECIST 1.1 the whole
    lesion; mRECIST the viable part of liver lesions and, for extrahepatic lesions without
    HCC-type enhancement, the whole lesion (§1.2)."""
    node = (rows["organ"] == "node").to_numpy(dtype=bool)
    liver = (rows["organ"] == "liver").to_numpy(dtype=bool)
    longest = tenths(rows["longest_diameter_mm"])
    viable = tenths(rows["viable_diameter_mm"])
    short = tenths(rows["short_axis_mm"])
    if criterion == "recist11":
        return np.where(node, short, longest)
    return np.where(node, short, np.where(liver | np.isfinite(viable), viable, longest))


def _check_targets(targets: pd.DataFrame, settings: ResponseSettings) -> None:
    base = targets[targets["is_baseline"]]
    vessel = base[base["organ"] == "vessel"]
    if len(vessel):
        r = vessel.iloc[0]
        raise DataError(f"patient {r['patient_id']}, exam {r['exam_id']}, reader {r['series']}: "
                        f"tumour thrombus {r['lesion_id']} is recorded as a target; it is always "
                        "a non-target (domain.md §1.2). Record it as kind=non_target.")
    per_organ = base.groupby(SKEY + ["organ"], observed=True).size()
    total = base.groupby(SKEY, observed=True).size()
    for counts, limit, what in ((per_organ, settings.max_targets_per_organ, "per organ"),
                                (total, settings.max_targets_total, "in total")):
        over = counts[counts > limit]
        if len(over):
            key = over.index[0]
            raise DataError(f"patient {key[0]}, reader {key[1]}: {int(over.iloc[0])} baseline "
                            f"targets {what}; at most {limit} are allowed (domain.md §1.2, "
                            "ResponseSettings). Demote the smallest to non-targets.")
    known = base[SKEY + ["lesion_id"]].drop_duplicates()
    follow = targets[~targets["is_baseline"]].merge(known, on=SKEY + ["lesion_id"], how="left",
                                                    indicator=True)
    orphan = follow[follow["_merge"] == "left_only"]
    if len(orphan):
        r = orphan.iloc[0]
        raise DataError(f"patient {r['patient_id']}, exam {r['exam_id']}, reader {r['series']}: "
                        f"target {r['lesion_id']} is measured at follow-up but is not a target "
                        "at the baseline exam; targets are chosen at baseline only (domain.md "
                        "§1.2). Correct the lesion id or record it as a new lesion.")


def target_sums(reads: pd.DataFrame, exams_read: pd.DataFrame, *, criterion: str,
                settings: ResponseSettings) -> pd.DataFrame:
    """Per series and exam read: ``n_targets``, ``sum_t`` (all targets, NaN unless all are
    evaluable), ``subset_t`` (evaluable targets), ``complete``, ``all_gone`` — tenths of a mm.

    A baseline target without a row at a follow-up exam is not evaluable there.
    """
    targets = reads[reads["kind"] == "target"]
    _check_targets(targets, settings)
    base = targets.loc[targets["is_baseline"], SKEY + ["lesion_id", "organ"]].drop_duplicates(
        SKEY + ["lesion_id"])
    grid = exams_read.merge(base, on=SKEY, how="inner")
    cols = EKEY + ["lesion_id", "longest_diameter_mm", "viable_diameter_mm", "short_axis_mm",
                   "evaluable"]
    grid = grid.merge(targets[cols], on=EKEY + ["lesion_id"], how="left")
    m = _measure_tenths(grid, criterion)
    ok = np.isfinite(m) & (grid["evaluable"].astype("boolean").fillna(True).to_numpy(bool))
    if criterion == "mrecist":
        ok &= grid["mrecist_phases_ok"].to_numpy(dtype=bool)
    node = (grid["organ"] == "node").to_numpy(dtype=bool)
    gone = ok & np.where(node, m < 100, m == 0)
    g = pd.DataFrame({k: grid[k] for k in EKEY})
    g["m"] = np.where(ok, m, 0.0)
    g["ok"], g["gone"], g["one"] = ok, gone, 1
    agg = g.groupby(EKEY, sort=False, observed=True).agg(
        n_targets=("one", "sum"), n_ok=("ok", "sum"), subset_t=("m", "sum"), n_gone=("gone", "sum"))
    agg["complete"] = agg["n_ok"] == agg["n_targets"]
    agg["all_gone"] = agg["n_gone"] == agg["n_targets"]
    agg["sum_t"] = agg["subset_t"].where(agg["complete"])
    return agg.reset_index()[EKEY + ["n_targets", "sum_t", "subset_t", "complete", "all_gone"]]


def nontarget_states(reads: pd.DataFrame, exams_read: pd.DataFrame, *, criterion: str
                     ) -> pd.DataFrame:
    """One row per non-target lesion per exam read with its ``state`` (§1.5): ``pd``
    (unequivocal progression, thrombus extending to a more central class, malignant
    effusion progressing), ``ne``, ``present``, ``absent`` or ``ignore`` (effusion without
    malignant cytology). A baseline non-target without a row at follow-up is ``ne``.

    ``nontarget_status`` records enhancement (the mRECIST reading); for RECIST 1.1 an
    ``absent`` lesion counts as gone only with a recorded whole-lesion size of 0 (nodes: short
    axis < 10 mm), since a non-enhancing (e.g. lipiodol-filled) lesion still persists.
    """
    nt = reads[reads["kind"] == "non_target"]
    base = nt.loc[nt["is_baseline"], SKEY + ["lesion_id", "vascular_class"]].drop_duplicates(
        SKEY + ["lesion_id"]).rename(columns={"vascular_class": "base_class"})
    grid = exams_read.merge(base[SKEY + ["lesion_id"]], on=SKEY, how="inner")
    cols = EKEY + ["lesion_id", "organ", "nontarget_status", "vascular_class", "is_effusion",
                   "cytology_malignant", "longest_diameter_mm", "short_axis_mm"]
    grid = grid.merge(nt[cols], on=EKEY + ["lesion_id"], how="outer")
    grid = grid.merge(base, on=SKEY + ["lesion_id"], how="left")
    status = grid["nontarget_status"].astype(object).where(grid["nontarget_status"].notna(),
                                                           "not_evaluated")
    cls_now = grid["vascular_class"].map(VASCULAR_ORDER).astype(float).to_numpy()
    cls_base = grid["base_class"].map(VASCULAR_ORDER).astype(float).to_numpy()
    same_family = (grid["vascular_class"].astype(object).str[:2]
                   == grid["base_class"].astype(object).str[:2]).astype("boolean").fillna(False).to_numpy(bool)
    extended = same_family & (cls_now > cls_base)
    effusion = grid["is_effusion"].astype("boolean").fillna(False).to_numpy(bool)
    malignant = grid["cytology_malignant"].astype("boolean").fillna(False).to_numpy(bool)
    state = np.select([status == "unequivocal_progression", status == "not_evaluated",
                       status == "absent"], ["pd", "ne", "absent"], default="present").astype(object)
    state[extended] = "pd"
    if criterion == "recist11":
        node = (grid["organ"] == "node").to_numpy(dtype=bool)
        short = tenths(grid["short_axis_mm"])
        longest = tenths(grid["longest_diameter_mm"])
        gone = np.where(node, np.isfinite(short) & (short < 100), longest == 0)
        normal_node = node & np.isfinite(short) & (short < 100) & np.isin(state, ["present", "absent"])
        state = np.where((state == "absent") & ~gone, "present", state).astype(object)
        state[normal_node] = "absent"
    state[effusion & ~malignant] = "ignore"
    out = grid[EKEY].copy()
    out["state"] = state
    return out


def new_lesion_status(reads: pd.DataFrame, exams_read: pd.DataFrame, *,
                      settings: ResponseSettings) -> pd.DataFrame:
    """Per series and exam read: ``new_lesion`` (none / equivocal / confirmed) and
    ``backdate`` (earliest first-seen date of the new lesions confirmed there), §1.6.

    Intrahepatic: confirmed if >= 10 mm (viable diameter, else whole lesion) with the typical
    pattern, or once it has grown >= 10 mm since first seen; otherwise equivocal. Nodes:
    confirmed from ``new_node_min_short_axis_mm`` (porta hepatis, flagged by an optional
    boolean column ``porta_hepatis``: from ``porta_hepatis_node_min_short_axis_mm``), else
    equivocal. Effusions: confirmed only with malignant cytology, otherwise ignored. Any
    other extrahepatic site or a new tumour thrombus: confirmed. The same new lesion keeps its
    ``lesion_id`` across exams, which is how "first seen" is found.
    """
    new = reads[reads["kind"] == "new"].sort_values("date", kind="stable")
    out = exams_read[EKEY].copy()
    if new.empty:
        out["new_lesion"], out["backdate"] = "none", pd.NaT
        return out
    organ = new["organ"].astype(object).to_numpy()
    node, liver = organ == "node", organ == "liver"
    size = np.where(node, tenths(new["short_axis_mm"]), np.nan)
    size = np.where(liver, tenths(new["viable_diameter_mm"]), size)
    size = np.where(np.isnan(size), tenths(new["longest_diameter_mm"]), size)
    lkey = [new[k] for k in SKEY + ["lesion_id"]]
    first_size = pd.Series(size, index=new.index).groupby(lkey, sort=False).transform("first")
    first_date = new.groupby(lkey, sort=False, observed=True)["date"].transform("first")
    typical = new["typical_hcc"].astype("boolean").fillna(False).to_numpy(bool)
    min_t = settings.new_lesion_min_mm * 10
    grown = (size - first_size.to_numpy()) >= min_t
    liver_ok = ((size >= min_t) & typical) | grown
    porta = (new["porta_hepatis"].astype("boolean").fillna(False).to_numpy(bool)
             if "porta_hepatis" in new.columns else np.zeros(len(new), dtype=bool))
    node_min = np.where(porta, settings.porta_hepatis_node_min_short_axis_mm,
                        settings.new_node_min_short_axis_mm) * 10
    effusion = new["is_effusion"].astype("boolean").fillna(False).to_numpy(bool)
    malignant = new["cytology_malignant"].astype("boolean").fillna(False).to_numpy(bool)
    status = np.select(
        [effusion & malignant, effusion, liver, node],
        ["confirmed", "ignore", np.where(liver_ok, "confirmed", "equivocal"),
         np.where(size >= node_min, "confirmed", "equivocal")], default="confirmed")
    frame = new[EKEY].copy()
    frame["confirmed"] = status == "confirmed"
    frame["equivocal"] = status == "equivocal"
    frame["first_date"] = first_date.where(frame["confirmed"])
    agg = frame.groupby(EKEY, sort=False, observed=True).agg(
        confirmed=("confirmed", "any"), equivocal=("equivocal", "any"),
        backdate=("first_date", "min")).reset_index()
    out = out.merge(agg, on=EKEY, how="left")
    out["new_lesion"] = np.select([out["confirmed"].astype("boolean").fillna(False).to_numpy(bool),
                                   out["equivocal"].astype("boolean").fillna(False).to_numpy(bool)],
                                  ["confirmed", "equivocal"], default="none")
    return out[EKEY + ["new_lesion", "backdate"]]
