"""Baseline laboratory values: the last value of each test within a window before T0.

domain.md §3: "All scores take baseline values (last value within 14 days before T0, config)".
A value measured on T0 itself counts as baseline (blood is drawn before the first procedure);
a value after T0 never does (§2.6: no post-T0 information in a baseline model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from hccfusion.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


def baseline_labs(
    labs: pd.DataFrame,
    index: pd.DataFrame,
    *,
    tests: Sequence[str] = ("bilirubin", "albumin", "inr"),
    window_days: int = 14,
) -> pd.DataFrame:
    """Last value of each test within ``[T0 - window_days, T0]`` (both inclusive), per patient.

    Parameters
    ----------
    labs
        Canonical ``labs`` table (long: ``patient_id``, ``date``, ``test``, ``value`` in the
        test's canonical unit).
    index
        One row per patient with ``patient_id`` and ``t0`` (see
        :func:`hccfusion.io.index_date.index_dates`); a missing ``t0`` gives missing
        baseline values.
    tests
        Test codes to return (``labs.test`` values).
    window_days
        How many days before T0 a value may be taken (domain.md §3 default: 14).

    Returns
    -------
    pandas.DataFrame
        One row per patient of ``index``: ``patient_id`` and one float column per test (NaN
        when no value lies in the window). When two values share the last date, their mean.
    """
    import pandas as pd

    for name, frame, cols in (("labs", labs, ("patient_id", "date", "test", "value")),
                              ("index", index, ("patient_id", "t0"))):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DataError(f"{name} table lacks columns {missing}; expected at least {list(cols)}. "
                            "Pass the canonical table (hccfusion.io.schema.coerce_table).")
    if window_days < 0:
        raise DataError(f"window_days must be >= 0; got {window_days}.")

    out = index[["patient_id"]].drop_duplicates().reset_index(drop=True)
    sub = labs.loc[labs["test"].isin(list(tests)), ["patient_id", "date", "test", "value"]]
    sub = sub.merge(index[["patient_id", "t0"]], on="patient_id", how="inner")
    date = pd.to_datetime(sub["date"])
    t0 = pd.to_datetime(sub["t0"])
    in_window = (date <= t0) & (date >= t0 - pd.Timedelta(days=window_days)) & sub["value"].notna()
    sub = sub.loc[in_window.fillna(False).astype(bool)]
    if len(sub):
        last = sub.groupby(["patient_id", "test"])["date"].transform("max")
        sub = sub.loc[sub["date"] == last]
        wide = sub.groupby(["patient_id", "test"])["value"].mean().unstack("test")
        wide = wide.reset_index()
    else:
        wide = pd.DataFrame({"patient_id": pd.Series(dtype=out["patient_id"].dtype)})
    out = out.merge(wide, on="patient_id", how="left")
    for test in tests:
        if test not in out.columns:
            out[test] = float("nan")
        out[test] = out[test].astype("float64")
    return out[["patient_id", *tests]]
