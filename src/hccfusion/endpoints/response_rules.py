"""Settings and the vectorised per-time-point rules of tumour response (domain.md §1.4–§1.7, §10).

Arithmetic is exact: diameters are handled in integer tenths of a millimetre (the CRF's
resolution) and percentage changes are rounded to one decimal (half away from zero) before
they are compared with the thresholds, which are inclusive (−30.0 % is PR, +20.0 % is PD).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

CRITERIA: tuple[str, ...] = ("mrecist", "recist11")

#: Order of time-point categories for the best overall response (best first, domain.md §1.8).
#: ``nonCR/nonPD`` is the category of patients with non-target disease only (§1.7).
RANK: dict[str, int] = {"CR": 0, "PR": 1, "SD": 2, "nonCR/nonPD": 2, "PD": 3, "NE": 4}

#: Tumour-thrombus classes in order of extension (Vp: portal vein, Vv: hepatic vein).
VASCULAR_ORDER: dict[str, int] = {"Vp1": 1, "Vp2": 2, "Vp3": 3, "Vp4": 4, "Vv1": 1, "Vv2": 2, "Vv3": 3}


class ResponseSettings(BaseModel):
    """Configurable response rules (domain.md §1.2, §1.4, §1.6, §1.8; defaults from §10).

    Attributes
    ----------
    max_targets_total, max_targets_per_organ
        Target-count limits per reader at baseline (§1.2, §10 decision 1).
    mrecist_pd_min_abs_mm
        Absolute increase over the nadir that mRECIST PD also requires (0 = none, as
        published; EMERALD-1 used 5). RECIST 1.1 always requires 5 mm (§1.4).
    confirmation_required
        Whether CR/PR must be confirmed for the headline BOR (§1.8; §10 decision 4: off for
        the retrospective cohort, on for the prospective one). Both readings are returned.
    confirmation_min_days
        Minimum days between a CR/PR and the assessment that confirms it (§1.8).
    min_sd_days
        Minimum days from T0 to an SD-or-better assessment for SD to qualify (§1.8).
    baseline_max_days
        A baseline scan older than this many days before T0 is flagged (§1.2).
    new_lesion_min_mm
        Size from which a new typical intrahepatic nodule is PD, and the interval growth that
        confirms an equivocal one (§1.6).
    new_node_min_short_axis_mm
        Short axis from which a new lymph node is unequivocal (RECIST 1.1 pathological node).
    porta_hepatis_node_min_short_axis_mm
        Short axis from which a new porta-hepatis node counts (§1.2, §1.6).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_targets_total: int = Field(default=5, ge=1)
    max_targets_per_organ: int = Field(default=2, ge=1)
    mrecist_pd_min_abs_mm: float = Field(default=0.0, ge=0.0)
    confirmation_required: bool = False
    confirmation_min_days: int = Field(default=28, ge=0)
    min_sd_days: int = Field(default=42, ge=0)
    baseline_max_days: int = Field(default=28, ge=0)
    new_lesion_min_mm: float = Field(default=10.0, gt=0.0)
    new_node_min_short_axis_mm: float = Field(default=10.0, ge=0.0)
    porta_hepatis_node_min_short_axis_mm: float = Field(default=20.0, ge=0.0)


def tenths(mm: pd.Series | np.ndarray) -> np.ndarray:
    """Diameters in mm → integer tenths of a mm (float array, NaN kept)."""
    return np.round(np.asarray(mm, dtype=float) * 10.0)


def pct_change_tenths(current: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(current - reference) / reference`` in tenths of a percent, rounded half away from
    zero, from integer tenths of a mm; NaN where the reference is not > 0 or a value is NaN."""
    cur = np.asarray(current, dtype=float)
    ref = np.asarray(reference, dtype=float)
    ok = np.isfinite(cur) & np.isfinite(ref) & (ref > 0)
    out = np.full(cur.shape, np.nan)
    num = (cur[ok] - ref[ok]).astype(np.int64) * 1000
    den = ref[ok].astype(np.int64)
    mag = (2 * np.abs(num) + den) // (2 * den)
    out[ok] = np.sign(num) * mag
    return out


def target_category(*, current: np.ndarray, subset: np.ndarray, complete: np.ndarray,
                    all_gone: np.ndarray, baseline: np.ndarray, nadir: np.ndarray,
                    min_abs_tenths: float) -> np.ndarray:
    """Target-lesion response of each time point, in the order of domain.md §1.4.

    Parameters
    ----------
    current
        Sum of all targets (tenths of a mm); used only where ``complete``.
    subset
        Sum of the evaluable targets (tenths of a mm).
    complete
        Every target evaluable.
    all_gone
        Every target at its CR value (viable 0 / gone; nodes short axis < 10 mm).
    baseline, nadir
        Baseline sum and the nadir of the previous time points incl. baseline (tenths).
    min_abs_tenths
        Absolute increase over the nadir that PD also needs (tenths of a mm).

    Returns
    -------
    numpy.ndarray of str
        ``PD``, ``NE``, ``CR``, ``PR`` or ``SD`` (``NE`` where the baseline sum is missing).
    """
    def is_pd(s: np.ndarray) -> np.ndarray:
        pct = pct_change_tenths(s, nadir)
        grew = (pct >= 200) & (s - nadir >= min_abs_tenths)
        reappeared = (nadir == 0) & (s > 0)
        return np.where(np.isfinite(s) & np.isfinite(nadir), grew | reappeared, False)

    pr = pct_change_tenths(current, baseline) <= -300
    out = np.select(
        [~np.isfinite(baseline),
         ~complete & is_pd(subset), ~complete,
         is_pd(current), all_gone, pr],
        ["NE", "PD", "NE", "PD", "CR", "PR"], default="SD")
    return out.astype(object)


def nontarget_category(states: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Non-target response per time point (§1.5) from one row per non-target lesion.

    ``states`` has ``keys`` and ``state`` ∈ {pd, ne, present, absent, ignore}; ``ignore`` is
    an effusion without malignant cytology, which never counts (§1.5, E9). Returns ``keys`` +
    ``nontarget_response`` ∈ {PD, NE, CR, nonCR/nonPD, ND}.
    """
    flags = pd.DataFrame({k: states[k] for k in keys})
    for s in ("pd", "ne", "present", "absent"):
        flags[s] = (states["state"] == s).to_numpy()
    agg = flags.groupby(keys, sort=False, observed=True)[["pd", "ne", "present", "absent"]].any()
    cat = np.select([agg["pd"], agg["ne"], agg["present"], agg["absent"]],
                    ["PD", "NE", "nonCR/nonPD", "CR"], default="ND")
    return agg.assign(nontarget_response=cat)[["nontarget_response"]].reset_index()


def overall_category(*, target: np.ndarray, nontarget: np.ndarray, new_lesion: np.ndarray
                     ) -> np.ndarray:
    """Overall time-point response, domain.md §1.7 (same table for both criteria).

    ``target`` is ``ND`` for patients with non-target disease only: their overall response is
    CR / nonCR/nonPD / PD / NE. An equivocal new lesion is not PD (§1.6).
    """
    target = np.asarray(target, dtype=object)
    nontarget = np.asarray(nontarget, dtype=object)
    new = np.asarray(new_lesion, dtype=object)
    pd_ = (target == "PD") | (nontarget == "PD") | (new == "confirmed")
    only_nt = target == "ND"
    out = np.select(
        [pd_,
         only_nt & (nontarget == "CR"), only_nt & (nontarget == "nonCR/nonPD"), only_nt,
         (target == "CR") & np.isin(nontarget, ["CR", "ND"]), target == "CR"],
        ["PD", "CR", "nonCR/nonPD", "NE", "CR", "PR"], default=target)
    return out.astype(object)
