"""k-anonymity of a shared table over its quasi-identifiers (Sweeney, Int J Uncertain
Fuzziness Knowl-Based Syst 2002; 10:557–70).

Records that share every quasi-identifier value form an equivalence class; the table is
k-anonymous when every class holds at least k records. The report lists the classes, the
smallest class size (min k) and the records that sit in classes smaller than the threshold —
those are the patients a data-sharing platform will ask about (EMA Policy 0070 and most
platforms use k ≥ 5, hence the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from hccfusion.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

MISSING = "missing"


@dataclass(frozen=True)
class KAnonymityReport:
    """Equivalence classes over ``quasi_identifiers`` and their sizes.

    Attributes
    ----------
    classes
        One row per equivalence class: the quasi-identifier values and ``n``, sorted by ``n``.
    min_k
        Size of the smallest class (0 for an empty table).
    n_records, n_classes
        Records and classes in the table.
    n_records_below, n_classes_below
        Records / classes in classes with fewer than ``k_threshold`` records.
    """

    quasi_identifiers: tuple[str, ...]
    k_threshold: int
    classes: pd.DataFrame
    min_k: int
    n_records: int
    n_classes: int
    n_records_below: int
    n_classes_below: int

    @property
    def satisfied(self) -> bool:
        """Every class holds at least ``k_threshold`` records."""
        return self.n_records_below == 0

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers (no class contents)."""
        return {"quasi_identifiers": list(self.quasi_identifiers), "k_threshold": self.k_threshold,
                "min_k": self.min_k, "n_records": self.n_records, "n_classes": self.n_classes,
                "n_records_below_threshold": self.n_records_below,
                "n_classes_below_threshold": self.n_classes_below}


def age_band(age_years: Any, *, width: int = 10, top: int = 90) -> pd.Series:
    """Age band labels: ``50-59`` for width 10, ``90+`` from ``top`` on, NA stays NA."""
    import numpy as np
    import pandas as pd

    if width < 1:
        raise DataError(f"age band width must be >= 1 year; got {width}.")
    age = pd.to_numeric(pd.Series(age_years), errors="coerce")
    lo = (np.floor(age / width) * width)
    labels = [pd.NA if pd.isna(a) else f"{top}+" if a >= top else f"{int(b)}-{int(b) + width - 1}"
              for a, b in zip(age, lo)]
    return pd.Series(labels, index=age.index, dtype="string")


def k_anonymity(
    df: pd.DataFrame,
    *,
    quasi_identifiers: Sequence[str],
    k_threshold: int = 5,
) -> KAnonymityReport:
    """Equivalence classes of ``df`` over ``quasi_identifiers`` (missing values form their own
    category ``missing``).

    Parameters
    ----------
    df
        One row per record (for a patient table: per patient).
    quasi_identifiers
        Columns an adversary could know (e.g. age band, sex, centre).
    k_threshold
        Smallest acceptable class size.
    """
    qi = tuple(quasi_identifiers)
    missing = [c for c in qi if c not in df.columns]
    if missing or not qi:
        raise DataError(f"quasi-identifiers {missing or '(none)'} are not columns of the table; "
                        f"available: {list(df.columns)}.")
    if k_threshold < 1:
        raise DataError(f"k_threshold must be >= 1; got {k_threshold}.")
    keyed = df[list(qi)].astype("string").fillna(MISSING)
    classes = (keyed.groupby(list(qi), dropna=False).size().rename("n").reset_index()
               .sort_values(["n", *qi]).reset_index(drop=True))
    classes["n"] = classes["n"].astype("int64")
    below = classes.loc[classes["n"] < k_threshold]
    return KAnonymityReport(
        quasi_identifiers=qi, k_threshold=k_threshold, classes=classes,
        min_k=int(classes["n"].min()) if len(classes) else 0,
        n_records=len(df), n_classes=len(classes),
        n_records_below=int(below["n"].sum()), n_classes_below=len(below))
