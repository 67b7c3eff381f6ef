"""Tissue IHC read-outs: PD-L1 TPS/CPS from cell counts and the immune phenotype from CD8
densities (domain.md §8.2).

PD-L1 scoring follows the 22C3 pharmDx interpretation manuals (Agilent/Dako): the tumour
proportion score ``TPS = PD-L1+ viable tumour cells / viable tumour cells × 100`` and the combined
positive score ``CPS = (PD-L1+ tumour cells + PD-L1+ lymphocytes + PD-L1+ macrophages) / viable
tumour cells × 100``, capped at 100; a specimen needs at least 100 viable tumour cells to be
scored (Kulangara et al., 2019, Arch Pathol Lab Med 143:330–337).

The immune phenotype (Chen & Mellman, 2017, Nature 541:321–330: inflamed / excluded / desert) is
read from the CD8+ densities of the tumour core and invasive margin. domain.md §8.2 names the
phenotypes but not a rule, so the rule here is ours and every threshold is a parameter:

- *desert*: neither compartment reaches ``min_per_mm2`` (default 50 CD8+ cells/mm²);
- *inflamed*: the core reaches ``min_per_mm2`` **and** at least ``inflamed_core_share``
  (default 0.4) of the margin density — T cells have entered the tumour;
- *excluded*: otherwise — T cells are present but held at the margin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.errors import DataError, UsageError

PDL1_COUNT_COLUMNS = ("viable_tumour_cells", "pdl1_pos_tumour_cells", "pdl1_pos_lymphocytes",
                      "pdl1_pos_macrophages")
CD8_COLUMNS = ("cd8_core_per_mm2", "cd8_margin_per_mm2")
PHENOTYPES = ("inflamed", "excluded", "desert")
#: Minimum viable tumour cells for a valid PD-L1 score (22C3 pharmDx).
MIN_VIABLE_TUMOUR_CELLS = 100
CPS_CAP = 100.0


def _ids(table: pd.DataFrame) -> pd.Series:
    if "sample_id" in table.columns:
        return table["sample_id"].astype(str)
    return pd.Series(table.index.astype(str), index=table.index)


def _require(table: pd.DataFrame, columns: tuple[str, ...], func: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise UsageError(f"The 'ihc' parameter of {func} must be a pandas DataFrame. "
                         f"Got {type(table).__name__} instead.")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"The IHC table lacks column(s) {', '.join(missing)} needed by {func}.")


def _numeric(table: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() & table[column].notna()
    if bad.any():
        sid = _ids(table)[bad].iloc[0]
        raise DataError(f"sample_id '{sid}': column '{column}' is not numeric "
                        f"({table.loc[bad, column].iloc[0]!r}).")
    return values.to_numpy(dtype=float)


def pdl1_scores(ihc: pd.DataFrame, *,
                min_viable_cells: int = MIN_VIABLE_TUMOUR_CELLS) -> pd.DataFrame:
    """PD-L1 tumour proportion score (TPS, %) and combined positive score (CPS) from counts.

    Parameters
    ----------
    ihc : pandas.DataFrame
        One row per IHC sample with :data:`PDL1_COUNT_COLUMNS` (non-negative cell counts); a
        ``sample_id`` column (or the index) names samples in errors.
    min_viable_cells : int
        Fewest viable tumour cells for a valid score; below it TPS and CPS are NaN.

    Returns
    -------
    pandas.DataFrame
        Same index as ``ihc``: ``pdl1_evaluable`` (bool), ``pdl1_tps_pct`` (0–100),
        ``pdl1_cps`` (0–100, capped), ``pdl1_tps_ge_1pct`` and ``pdl1_cps_ge_1`` (the §8.2
        cut-offs; pandas nullable booleans, NA when not evaluable).

    Raises
    ------
    DataError
        A negative or missing count, or more PD-L1+ tumour cells than viable tumour cells —
        naming the sample.

    Examples
    --------
    200 viable tumour cells, 10 PD-L1+ tumour cells, 6 lymphocytes and 4 macrophages:
    TPS = 10 / 200 × 100 = 5 %, CPS = (10 + 6 + 4) / 200 × 100 = 10.
    """
    _require(ihc, PDL1_COUNT_COLUMNS, "pdl1_scores")
    if isinstance(min_viable_cells, bool) or not isinstance(min_viable_cells, (int, np.integer)) \
            or min_viable_cells < 1:
        raise UsageError("The 'min_viable_cells' parameter of pdl1_scores must be an integer "
                         f">= 1. Got {min_viable_cells!r} instead.")
    ids = _ids(ihc)
    counts = {c: _numeric(ihc, c) for c in PDL1_COUNT_COLUMNS}
    for column, values in counts.items():
        bad = np.isnan(values) | (values < 0)
        if bad.any():
            raise DataError(f"sample_id '{ids.iloc[int(np.argmax(bad))]}': '{column}' must be a "
                            f"count >= 0. Got {ihc[column].iloc[int(np.argmax(bad))]!r}.")
    viable = counts["viable_tumour_cells"]
    tumour_pos = counts["pdl1_pos_tumour_cells"]
    over = tumour_pos > viable
    if over.any():
        i = int(np.argmax(over))
        raise DataError(f"sample_id '{ids.iloc[i]}': pdl1_pos_tumour_cells ({tumour_pos[i]:g}) "
                        f"exceeds viable_tumour_cells ({viable[i]:g}).")
    evaluable = viable >= min_viable_cells
    with np.errstate(divide="ignore", invalid="ignore"):
        tps = np.where(evaluable, 100.0 * tumour_pos / viable, np.nan)
        positive = tumour_pos + counts["pdl1_pos_lymphocytes"] + counts["pdl1_pos_macrophages"]
        cps = np.where(evaluable, np.minimum(100.0 * positive / viable, CPS_CAP), np.nan)
    na = pd.array([pd.NA] * len(ihc), dtype="boolean")
    tps_pos = pd.array(tps >= 1.0, dtype="boolean")
    cps_pos = pd.array(cps >= 1.0, dtype="boolean")
    tps_pos[~evaluable] = na[~evaluable]
    cps_pos[~evaluable] = na[~evaluable]
    return pd.DataFrame({"pdl1_evaluable": evaluable, "pdl1_tps_pct": tps, "pdl1_cps": cps,
                         "pdl1_tps_ge_1pct": tps_pos, "pdl1_cps_ge_1": cps_pos},
                        index=ihc.index)


def immune_phenotype(ihc: pd.DataFrame, *, min_per_mm2: float = 50.0,
                     inflamed_core_share: float = 0.4) -> pd.Series:
    """Immune phenotype (inflamed / excluded / desert) from CD8+ densities.

    The rule is in the module docstring (after Chen & Mellman, 2017; thresholds are ours).

    Parameters
    ----------
    ihc : pandas.DataFrame
        With :data:`CD8_COLUMNS` (CD8+ cells/mm² in the tumour core and the invasive margin).
    min_per_mm2 : float
        Density a compartment must reach to count as infiltrated, cells/mm².
    inflamed_core_share : float
        Smallest core / margin density ratio still called inflamed, in [0, 1].

    Returns
    -------
    pandas.Series of str
        One of :data:`PHENOTYPES` per row (same index as ``ihc``); NaN where a density is
        missing.

    Raises
    ------
    DataError
        A negative density, naming the sample.
    """
    _require(ihc, CD8_COLUMNS, "immune_phenotype")
    if not (np.isfinite(min_per_mm2) and min_per_mm2 > 0):
        raise UsageError("The 'min_per_mm2' parameter of immune_phenotype must be a positive "
                         f"number. Got {min_per_mm2!r} instead.")
    if not 0.0 <= inflamed_core_share <= 1.0:
        raise UsageError("The 'inflamed_core_share' parameter of immune_phenotype must be in "
                         f"[0, 1]. Got {inflamed_core_share!r} instead.")
    core = _numeric(ihc, "cd8_core_per_mm2")
    margin = _numeric(ihc, "cd8_margin_per_mm2")
    negative = (core < 0) | (margin < 0)
    if negative.any():
        raise DataError(f"sample_id '{_ids(ihc).iloc[int(np.argmax(negative))]}': CD8 density "
                        "must be >= 0 cells/mm².")
    phenotype = np.where(
        np.maximum(core, margin) < min_per_mm2, "desert",
        np.where((core >= min_per_mm2) & (core >= inflamed_core_share * margin),
                 "inflamed", "excluded")).astype(object)
    phenotype[np.isnan(core) | np.isnan(margin)] = np.nan
    return pd.Series(phenotype, index=ihc.index, name="immune_phenotype")


def ihc_readouts(ihc: pd.DataFrame, *, min_viable_cells: int = MIN_VIABLE_TUMOUR_CELLS,
                 min_per_mm2: float = 50.0, inflamed_core_share: float = 0.4) -> pd.DataFrame:
    """Per-sample IHC read-outs: CD8 densities, recomputed immune phenotype and PD-L1 scores.

    Parameters
    ----------
    ihc : pandas.DataFrame
        IHC table with ``sample_id``, ``patient_id``, :data:`CD8_COLUMNS` and
        :data:`PDL1_COUNT_COLUMNS` (as in ``simulate_omics(...).ihc`` or the CRF export).
    min_viable_cells, min_per_mm2, inflamed_core_share
        As in :func:`pdl1_scores` and :func:`immune_phenotype`.

    Returns
    -------
    pandas.DataFrame
        One row per sample: ``sample_id``, ``patient_id``, the two CD8 densities
        (cells/mm²), ``immune_phenotype`` (from our rule; an input column of that name is
        replaced), then the columns of :func:`pdl1_scores`.
    """
    _require(ihc, ("sample_id", "patient_id"), "ihc_readouts")
    out = ihc[["sample_id", "patient_id", *CD8_COLUMNS]].copy()
    out["immune_phenotype"] = immune_phenotype(ihc, min_per_mm2=min_per_mm2,
                                               inflamed_core_share=inflamed_core_share)
    scores = pdl1_scores(ihc, min_viable_cells=min_viable_cells)
    return pd.concat([out, scores], axis=1).reset_index(drop=True)
