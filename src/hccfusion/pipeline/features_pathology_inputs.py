"""The inputs of the pathology feature job (:mod:`hccfusion.pipeline.features_pathology`): the
cohort's biopsy slides as one validated table (:func:`slide_table`, from a cohort, a snapshot
folder or a specimens table) and the Macenko stain normaliser fitted on the reference image.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from hccfusion.errors import DataError, UsageError

if TYPE_CHECKING:
    from hccfusion.io.cohort import Cohort


def slide_table(cohort: "Cohort | pd.DataFrame | str | Path", *,
                data_root: str | Path = ".") -> pd.DataFrame:
    """The cohort's biopsy slides: ``slide_id``, ``patient_id``, ``center``, ``path`` (resolved).

    Parameters
    ----------
    cohort : Cohort, mapping, pandas.DataFrame or path
        A loaded cohort (or a mapping of table name to DataFrame), a cohort snapshot folder, a
        specimens table, or a specimens ``.csv``/``.parquet`` file (columns ``patient_id``,
        ``slide_id``, ``path``, and ``kind`` if it lists more than slides).
    data_root : str or pathlib.Path
        The folder relative ``path`` values start from; absolute paths are kept.

    Raises
    ------
    UsageError
        A specimens table without the needed columns.
    DataError
        A biopsy slide without ``slide_id`` or ``path``, or a ``slide_id`` listed twice.
    """
    centers = None
    if isinstance(cohort, (str, Path)):
        cohort = _load_cohort(Path(cohort))
    if isinstance(cohort, pd.DataFrame):
        specimens = cohort
    else:
        specimens = cohort["specimens"]
        if "patients" in cohort and "center" in cohort["patients"]:
            centers = cohort["patients"].set_index("patient_id")["center"]
    missing = [c for c in ("patient_id", "slide_id", "path") if c not in specimens.columns]
    if missing:
        raise UsageError(f"The 'cohort' parameter of slide_table must be a Cohort or a specimens "
                         f"table with columns patient_id, slide_id and path. Got a table without "
                         f"{missing} instead.")
    slides = specimens
    if "kind" in slides.columns:
        slides = slides[slides["kind"].astype(str) == "biopsy_wsi"]
    slides = slides[["patient_id", "slide_id", "path"]].astype(object)
    blank = slides["slide_id"].isna() | slides["path"].isna()
    if blank.any():
        pids = sorted(set(slides.loc[blank, "patient_id"].astype(str)))
        raise DataError(f"biopsy slides of patients {pids[:5]} have no slide_id or no path; fix "
                        "the specimens sheet.")
    dup = slides["slide_id"][slides["slide_id"].duplicated()]
    if len(dup):
        raise DataError(f"slide_id {sorted(set(dup))[:5]} listed more than once in specimens; each "
                        "slide needs its own id (it names the bag).")
    root = Path(data_root)
    out = pd.DataFrame({
        "slide_id": slides["slide_id"].astype(str).to_numpy(),
        "patient_id": slides["patient_id"].astype(str).to_numpy(),
        "path": [p if Path(p).is_absolute() else root / p for p in map(Path, slides["path"])],
    })
    out["center"] = (out["patient_id"].map(centers).astype(object) if centers is not None
                     else None)
    return out.sort_values(["patient_id", "slide_id"], kind="stable").reset_index(drop=True)


def _load_cohort(path: Path) -> Any:
    """A cohort snapshot folder, or a specimens table file (.csv or .parquet)."""
    if path.is_dir():
        from hccfusion.io.cohort import Cohort

        return Cohort.load(path)
    if path.suffix.lower() == ".csv" and path.is_file():
        return pd.read_csv(path, dtype=str, keep_default_na=True)
    if path.suffix.lower() == ".parquet" and path.is_file():
        return pd.read_parquet(path)
    raise UsageError(f"The 'cohort' parameter of slide_table must be a cohort snapshot folder or a "
                     f"specimens .csv/.parquet file. Got {str(path)!r} instead.")


def _fit_normalizer(stain_norm: str, stain_target: Any) -> Any | None:
    if stain_norm == "none":
        return None
    from hccfusion.pathology.stain import MacenkoNormalizer

    if stain_target is None:
        raise UsageError("The 'stain_target' parameter of extract_pathology_features must be a "
                         "reference H&E image (RGB array or image/slide file) when stain_norm is "
                         "'macenko'. Got None instead.")
    target = stain_target
    if isinstance(target, (str, Path)):
        target = _read_reference(Path(target))
    return MacenkoNormalizer().fit(target)


def _read_reference(path: Path) -> Any:
    """An RGB reference image: a slide's thumbnail, or a plain image file."""
    if not path.is_file():
        raise UsageError(f"The 'stain_target' parameter of extract_pathology_features must be an "
                         f"existing image or slide file. Got {str(path)!r} instead.")
    from hccfusion.pathology.slides import open_slide

    slide = open_slide(path, mpp=1.0)
    try:
        return slide.thumbnail(max_px=1024)
    finally:
        slide.close()
