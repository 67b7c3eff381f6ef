"""IHC, flow-cytometry and protein-panel read-outs as one tidy table, and their comparison
between the model's risk groups (domain.md §8.2).

``assay_table`` gathers per-sample read-outs — CD8 densities and PD-L1 TPS/CPS of biopsy cores,
lymphocyte subsets of hepatic-artery, hepatic-vein and peripheral blood, and any protein panel
(e.g. serum cytokines) — into one long table with a unit per value. ``compare_assays`` tests every
(assay, site, feature) between two risk groups at one time point with one Benjamini–Hochberg
family across all of them, and, where a feature was measured both before and on treatment,
compares the paired pre/post values (all patients and within each risk group).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError
from hccfusion.omics.ihc import CD8_COLUMNS, MIN_VIABLE_TUMOUR_CELLS, ihc_readouts
from hccfusion.omics.multiple_testing import compare_groups

TIDY_COLUMNS = ("sample_id", "patient_id", "assay", "site", "timepoint", "feature", "value",
                "unit")
#: Numeric IHC features of the tidy table and their units.
IHC_UNITS = {"cd8_core_per_mm2": "cells/mm²", "cd8_margin_per_mm2": "cells/mm²",
             "pdl1_tps_pct": "%", "pdl1_cps": "score (0-100)"}
#: Numeric flow-cytometry features of the tidy table and their units.
FLOW_UNITS = {
    "cd3_pct_lymphocytes": "% of lymphocytes", "cd4_pct_lymphocytes": "% of lymphocytes",
    "cd8_pct_lymphocytes": "% of lymphocytes", "cd4_cd8_ratio": "ratio",
    "nk_pct_lymphocytes": "% of lymphocytes", "b_pct_lymphocytes": "% of lymphocytes",
    "treg_pct_cd4": "% of CD4+", "lymphocytes_10e9_per_l": "10^9/L", "cd3_per_ul": "cells/µL",
    "cd4_per_ul": "cells/µL", "cd8_per_ul": "cells/µL", "nk_per_ul": "cells/µL",
    "b_per_ul": "cells/µL",
}
DEFAULT_IHC_SITE = "liver_tumour"
DEFAULT_TIMEPOINT = "baseline"
_KEY = ("assay", "site", "feature", "unit")


@dataclass(frozen=True)
class AssayComparison:
    """Result of :func:`compare_assays`.

    Attributes
    ----------
    groups : pandas.DataFrame
        One row per (assay, site, feature) at ``timepoint``: ``assay``, ``site``,
        ``timepoint``, ``feature``, ``unit`` then the columns of
        :func:`~hccfusion.omics.multiple_testing.compare_groups`; q-values form one BH family.
    pre_post : pandas.DataFrame
        Paired before/after comparisons for features measured at both time points:
        ``risk_group`` ("all" or a group label; one BH family per value), ``assay``, ``site``,
        ``feature``, ``unit`` then the compare_groups columns (group labels = time points).
        Empty when no feature has both time points.
    n_tests : int
        Number of features actually tested in ``groups`` (the BH family size).
    """

    groups: pd.DataFrame
    pre_post: pd.DataFrame
    n_tests: int


def _long(frame: pd.DataFrame, *, assay: str, units: dict[str, str]) -> pd.DataFrame:
    long = frame.melt(id_vars=["sample_id", "patient_id", "site", "timepoint"],
                      value_vars=list(units), var_name="feature", value_name="value")
    long["assay"] = assay
    long["unit"] = long["feature"].map(units)
    long["value"] = long["value"].astype(float)
    return long


def _ihc_long(ihc: pd.DataFrame, samples: pd.DataFrame | None, min_viable_cells: int,
              phenotype: dict[str, float]) -> pd.DataFrame:
    wide = ihc_readouts(ihc, min_viable_cells=min_viable_cells, **phenotype)
    for column, default in (("site", DEFAULT_IHC_SITE), ("timepoint", DEFAULT_TIMEPOINT)):
        if column in ihc.columns:
            wide[column] = ihc[column].to_numpy()
        elif samples is not None and column in samples.columns:
            lookup = samples.drop_duplicates("sample_id").set_index("sample_id")[column]
            wide[column] = wide["sample_id"].map(lookup).fillna(default).to_numpy()
        else:
            wide[column] = default
    return _long(wide, assay="ihc", units=IHC_UNITS)


def _check_columns(frame: object, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"The '{name}' parameter of assay_table must be a pandas DataFrame or "
                         f"None. Got {type(frame).__name__} instead.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"The '{name}' table lacks column(s) {', '.join(missing)}.")
    return frame


def assay_table(*, ihc: pd.DataFrame | None = None, flow: pd.DataFrame | None = None,
                proteins: pd.DataFrame | None = None, samples: pd.DataFrame | None = None,
                min_viable_cells: int = MIN_VIABLE_TUMOUR_CELLS, min_per_mm2: float = 50.0,
                inflamed_core_share: float = 0.4) -> pd.DataFrame:
    """Tidy per-sample table of IHC, flow-cytometry and protein-panel read-outs.

    Parameters
    ----------
    ihc : pandas.DataFrame or None
        IHC per biopsy (``sample_id``, ``patient_id``, CD8 densities in cells/mm², PD-L1
        counts; as ``simulate_omics(...).ihc``). TPS/CPS are computed from the counts
        (:func:`~hccfusion.omics.ihc.pdl1_scores`; NaN below ``min_viable_cells``). Site and
        time point come from its own columns, else from ``samples``, else ``liver_tumour`` /
        ``baseline``.
    flow : pandas.DataFrame or None
        Lymphocyte subsets per blood sample with ``site`` (hepatic_artery_blood,
        hepatic_vein_blood, peripheral_blood), ``timepoint`` and the :data:`FLOW_UNITS` columns.
    proteins : pandas.DataFrame or None
        A protein panel already in tidy form: ``sample_id``, ``patient_id``, ``site``,
        ``timepoint``, ``feature``, ``value``, ``unit`` (e.g. IL-6 in pg/mL); transform it
        (e.g. log2) before if the test needs it.
    samples : pandas.DataFrame or None
        The specimen table (``sample_id``, ``site``, ``timepoint``), used for IHC only.
    min_viable_cells, min_per_mm2, inflamed_core_share
        PD-L1 and phenotype settings (:mod:`hccfusion.omics.ihc`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TIDY_COLUMNS`, one row per sample × feature; ``assay`` is ``ihc``,
        ``flow`` or ``protein``; ``value`` float (NaN = not measured / not evaluable).

    Raises
    ------
    UsageError
        If no table is given or a table is not a DataFrame.
    DataError
        A table lacks a required column, or a count/density is invalid (naming the sample).
    """
    if ihc is None and flow is None and proteins is None:
        raise UsageError("assay_table needs at least one of 'ihc', 'flow' or 'proteins'. "
                         "Got none.")
    parts = []
    if ihc is not None:
        _check_columns(ihc, "ihc", ("sample_id", "patient_id", *CD8_COLUMNS))
        parts.append(_ihc_long(ihc, samples, min_viable_cells,
                               {"min_per_mm2": min_per_mm2,
                                "inflamed_core_share": inflamed_core_share}))
    if flow is not None:
        _check_columns(flow, "flow", ("sample_id", "patient_id", "site", "timepoint",
                                      *FLOW_UNITS))
        parts.append(_long(flow, assay="flow", units=FLOW_UNITS))
    if proteins is not None:
        tidy = _check_columns(proteins, "proteins", tuple(c for c in TIDY_COLUMNS
                                                         if c != "assay")).copy()
        value = pd.to_numeric(tidy["value"], errors="coerce")
        bad = value.isna() & tidy["value"].notna()
        if bad.any():
            raise DataError(f"sample_id '{tidy.loc[bad, 'sample_id'].iloc[0]}': protein "
                            f"'{tidy.loc[bad, 'feature'].iloc[0]}' value is not numeric.")
        tidy["value"] = value.astype(float)
        tidy["assay"] = "protein"
        parts.append(tidy)
    out = pd.concat([p[list(TIDY_COLUMNS)] for p in parts], ignore_index=True)
    return out


def _wide(table: pd.DataFrame, row: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows ``row`` × one column per (assay, site, feature, unit); refuses duplicates."""
    dup = table.duplicated(row + list(_KEY), keep=False)
    if dup.any():
        first = table[dup].iloc[0]
        raise DataError(f"patient_id '{first['patient_id']}' has more than one "
                        f"{first['assay']} value of '{first['feature']}' at site "
                        f"'{first['site']}', time point '{first['timepoint']}'; keep one sample "
                        "per patient, site and time point.")
    wide = table.pivot(index=row, columns=list(_KEY), values="value")
    keys = wide.columns.to_frame(index=False)
    wide.columns = [f"f{i}" for i in range(wide.shape[1])]
    keys.index = wide.columns
    return wide, keys


def _attach(result: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    meta = keys.loc[result["feature"]].reset_index(drop=True)
    return pd.concat([meta, result.drop(columns="feature").reset_index(drop=True)], axis=1)


def compare_assays(table: pd.DataFrame, groups: pd.Series, *, test: str = "wilcoxon",
                   timepoint: str = DEFAULT_TIMEPOINT, min_per_group: int = 3,
                   order: tuple[str, str] | None = None,
                   pre_post: tuple[str, str] = ("baseline", "on_treatment")) -> AssayComparison:
    """Compare every assay feature between two risk groups, and pre/post treatment.

    Between groups: per patient the value at ``timepoint`` of each (assay, site, feature) is
    compared by :func:`~hccfusion.omics.multiple_testing.compare_groups` (Wilcoxon rank-sum or
    Welch's t), with one Benjamini–Hochberg (1995) family over all features of all assays.
    Pre/post: where a feature has values at both ``pre_post`` time points, the two are compared
    on patients with both (Wilcoxon signed-rank or paired t), over all patients and within each
    risk group, one BH family per subset.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`assay_table` (columns :data:`TIDY_COLUMNS`).
    groups : pandas.Series
        Risk group per ``patient_id`` (index), exactly two labels (e.g. ``"low"``/``"high"``
        from the frozen model cut-off). Patients absent from it are left out.
    test : {"wilcoxon", "t"}
        Rank tests or t-tests (Welch between groups, paired t pre/post).
    timepoint : str
        Time point of the between-group comparison.
    min_per_group : int
        Smallest group (or number of pairs) that is tested; smaller ones are reported with
        status ``too_few_samples``.
    order : tuple of two labels or None
        ``(a, b)`` group order; differences and log2 fold changes are b versus a.
    pre_post : tuple of two str
        ``(before, after)`` time points of the paired comparison.

    Returns
    -------
    AssayComparison
    """
    if not isinstance(table, pd.DataFrame) or any(c not in table.columns for c in TIDY_COLUMNS):
        raise UsageError("The 'table' parameter of compare_assays must be the DataFrame returned "
                         f"by assay_table (columns {', '.join(TIDY_COLUMNS)}). Got "
                         f"{type(table).__name__} instead.")
    if not isinstance(groups, pd.Series):
        raise UsageError("The 'groups' parameter of compare_assays must be a pandas Series "
                         f"indexed by patient_id. Got {type(groups).__name__} instead.")
    if not (isinstance(pre_post, (tuple, list)) and len(pre_post) == 2
            and pre_post[0] != pre_post[1]):
        raise UsageError("The 'pre_post' parameter of compare_assays must be a tuple of two "
                         f"distinct time points. Got {pre_post!r} instead.")
    if not groups.index.is_unique:
        dup = groups.index[groups.index.duplicated()][0]
        raise DataError(f"patient_id '{dup}' appears more than once in 'groups'.")
    at = table[table["timepoint"] == timepoint]
    if at.empty:
        raise DataError(f"No assay value at time point '{timepoint}'. Time points present: "
                        f"{', '.join(sorted(map(str, table['timepoint'].unique())))}.")
    wide, keys = _wide(at, ["patient_id"])
    result = compare_groups(wide, groups.reindex(wide.index), test=test,
                            min_per_group=min_per_group, order=order)
    between = _attach(result, keys)
    between.insert(2, "timepoint", timepoint)
    return AssayComparison(groups=between,
                           pre_post=_pre_post(table, groups, test, min_per_group, pre_post),
                           n_tests=int((result["status"] == "tested").sum()))


def _pre_post(table: pd.DataFrame, groups: pd.Series, test: str, min_per_group: int,
              pre_post: tuple[str, str]) -> pd.DataFrame:
    before, after = pre_post
    both = table[table["timepoint"].isin(pre_post)]
    present = both.groupby(list(_KEY), dropna=False)["timepoint"].nunique()
    paired_keys = present[present == 2].index
    if len(paired_keys) == 0:
        return pd.DataFrame()
    both = both.set_index(list(_KEY)).loc[paired_keys].reset_index()
    wide, keys = _wide(both, ["patient_id", "timepoint"])
    patient = pd.Series(wide.index.get_level_values("patient_id"), index=wide.index)
    when = pd.Series(wide.index.get_level_values("timepoint"), index=wide.index)
    label = patient.map(groups)
    subsets = [("all", np.ones(len(wide), dtype=bool))]
    subsets += [(lab, (label == lab).to_numpy()) for lab in sorted(label.dropna().unique(),
                                                                     key=str)]
    frames = []
    for name, mask in subsets:
        res = compare_groups(wide[mask], when[mask], test=test, paired_by=patient[mask],
                             min_per_group=min_per_group, order=(before, after))
        res = _attach(res, keys)
        res.insert(0, "risk_group", name)
        frames.append(res)
    return pd.concat(frames, ignore_index=True)
