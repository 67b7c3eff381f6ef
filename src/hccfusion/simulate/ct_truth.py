"""Read and check one patient's rows of the lesion-truth table for the CT simulator."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hccfusion.errors import DataError
from hccfusion.simulate.ct_phantom import MAX_LESIONS

_DIAMETER_SLACK_MM = 1e-6


@dataclass(frozen=True)
class LesionTruth:
    """One lesion's truth at the simulated time point.

    Attributes
    ----------
    lesion_id : str
    diameter_mm, viable_mm : float
        Longest diameters (mm) of the whole lesion and of its enhancing part at this time point.
    necrosis_fraction : float
        Non-enhancing share of the volume (0–1) at this time point.
    max_diameter_mm : float
        Largest whole-lesion diameter (mm) over baseline and follow-up (for placement).
    arterial_enhancement_hu : float
    washout : bool
    margin_irregularity : float
        0 (smooth) – 1 (infiltrative).
    """

    lesion_id: str
    diameter_mm: float
    viable_mm: float
    necrosis_fraction: float
    max_diameter_mm: float
    arterial_enhancement_hu: float
    washout: bool
    margin_irregularity: float


def _number(row: dict, column: str, where: str, *, low: float | None = None, high: float | None = None) -> float:
    value = row[column]
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise DataError(f"{where}: {column} must be a finite number; got {value!r}. Fill in the truth table.")
    if (low is not None and number < low) or (high is not None and number > high):
        raise DataError(f"{where}: {column} must lie in [{low}, {high}]; got {number!r}.")
    return number


def _flag(row: dict, column: str, where: str) -> bool:
    value = row[column]
    if isinstance(value, bool) or (hasattr(value, "dtype") and value.dtype.kind == "b"):
        return bool(value)
    if value in (0, 1):
        return bool(value)
    raise DataError(f"{where}: {column} must be True or False; got {value!r}.")


def read_lesion_truth(*, lesions: object, patient_id: str, timepoint: str) -> list[LesionTruth]:
    """One patient's lesions, checked, in row order (row k becomes label k + 1).

    Parameters
    ----------
    lesions : pandas.DataFrame
        The patient's rows of the contract's ``lesions`` table.
    patient_id : str
        Must match the table's ``patient_id`` column when it has one.
    timepoint : {"baseline", "followup"}
        Which ``*_baseline`` / ``*_followup`` values apply.

    Raises
    ------
    hccfusion.errors.DataError
        A missing column, a row of another patient, a duplicate lesion id, a missing or
        out-of-range value, a viable diameter above the whole diameter, too many lesions.
    """
    import pandas as pd

    if not isinstance(lesions, pd.DataFrame):
        raise DataError(f"lesions must be a pandas DataFrame of the lesion-truth table; got {type(lesions).__name__}.")
    suffix = f"_{timepoint}"
    required = [
        "lesion_id",
        "diameter_mm_baseline",
        "diameter_mm_followup",
        "viable_mm" + suffix,
        "necrosis_fraction" + suffix,
        "arterial_enhancement_hu",
        "washout",
        "margin_irregularity",
    ]
    missing = [c for c in required if c not in lesions.columns]
    if missing:
        raise DataError(f"lesion-truth table lacks column(s) {', '.join(missing)}; see docs/simulator_contract.md.")
    if len(lesions) > MAX_LESIONS:
        raise DataError(f"patient {patient_id} has {len(lesions)} lesions; the CT simulator draws at most {MAX_LESIONS}.")
    if "patient_id" in lesions.columns:
        others = sorted({str(p) for p in lesions["patient_id"] if str(p) != patient_id})
        if others:
            raise DataError(f"lesion rows of patient(s) {', '.join(others)} were passed for patient {patient_id}; pass one patient's rows.")
    ids = [str(i) for i in lesions["lesion_id"]]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise DataError(f"patient {patient_id}: duplicate lesion_id {', '.join(duplicated)}; lesion ids must be unique per patient.")
    truths = []
    for k, row in enumerate(lesions.to_dict("records")):
        where = f"patient {patient_id}, lesion row {k} (lesion_id {ids[k]!r})"
        baseline = _number(row, "diameter_mm_baseline", where, low=0.0)
        followup = _number(row, "diameter_mm_followup", where, low=0.0)
        diameter = baseline if timepoint == "baseline" else followup
        viable = _number(row, "viable_mm" + suffix, where, low=0.0)
        if viable > diameter + _DIAMETER_SLACK_MM:
            raise DataError(f"{where}: viable_mm{suffix} {viable} exceeds diameter_mm{suffix} {diameter}; the viable part lies within the lesion.")
        truths.append(
            LesionTruth(
                lesion_id=ids[k],
                diameter_mm=diameter,
                viable_mm=min(viable, diameter),
                necrosis_fraction=_number(row, "necrosis_fraction" + suffix, where, low=0.0, high=1.0),
                max_diameter_mm=max(baseline, followup),
                arterial_enhancement_hu=_number(row, "arterial_enhancement_hu", where),
                washout=_flag(row, "washout", where),
                margin_irregularity=_number(row, "margin_irregularity", where, low=0.0, high=1.0),
            )
        )
    return truths
