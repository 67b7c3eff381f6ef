"""PyRadiomics features per lesion and phase, with an IBSI-style parameter file in the repository.

``lesion_radiomics`` gives PyRadiomics' B-spline resampling a crop of the image around each
lesion instead of the whole volume. PyRadiomics itself resamples only the lesion's bounding box,
but with B-spline interpolation SimpleITK first computes the spline coefficients of the *whole*
input volume (in double precision), once per lesion and phase: that is where most of the time
and memory of a plain PyRadiomics script goes. Here, per lesion:

1. the image is cropped (``RegionOfInterest``, no interpolation) to the lesion's bounding box
   plus a margin that covers PyRadiomics' ``padDistance`` (the filters' support on the resampled
   grid), the LoG kernels, and a guard band in which the B-spline prefilter's boundary effect
   decays (its pole is 2 - sqrt(3): 12 voxels leave a relative influence below 1e-6);
2. PyRadiomics' own ``imageoperations.resampleImage`` resamples the cropped image and the
   *whole* label map: the resampled grid is computed from the label map's geometry, and the
   nearest-neighbour mask is drawn from it, exactly as on the uncropped volume (voxel centres
   that fall exactly half way between two input voxels are decided by the same arithmetic), and
   the image is evaluated at the same physical points;
3. the feature extractor runs on that resampled pair with its resampling switched off.

The values therefore equal plain PyRadiomics on the uncropped volume up to the prefilter's
boundary effect (the tests pin this). Aggregation per patient and delta-radiomics live in
``radiomics_aggregate`` and are re-exported here.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from hccfusion.errors import UsageError, closest, unknown_option
from hccfusion.imaging.radiomics_aggregate import delta_radiomics, patient_radiomics

if TYPE_CHECKING:
    import SimpleITK

__all__ = [
    "RadiomicsSettings",
    "delta_radiomics",
    "lesion_radiomics",
    "load_radiomics_settings",
    "patient_radiomics",
]

SECTIONS = ("setting", "imageType", "featureClass")
# Voxels of the original grid kept beyond what PyRadiomics reads, for the B-spline prefilter.
_SPLINE_GUARD_VOXELS = 12
_LINEAR_GUARD_VOXELS = 2
META_COLUMNS = ("lesion_id", "label", "phase", "volume_ml", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm",
                "radiomics_error")


class RadiomicsSettings(BaseModel):
    """A validated PyRadiomics parameter set.

    Attributes
    ----------
    name : str
        The settings' name (file stem).
    setting : dict
        PyRadiomics ``setting`` section (``binWidth``, ``resampledPixelSpacing`` in mm,
        ``interpolator``, ``padDistance`` …).
    image_types : dict
        ``imageType`` section: image type → its custom settings (``{}`` for none).
    feature_classes : dict
        ``featureClass`` section: class → list of feature names, or None for all of them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    setting: dict[str, Any]
    image_types: dict[str, dict[str, Any]]
    feature_classes: dict[str, list[str] | None]

    def extractor_params(self) -> dict[str, Any]:
        """The parameter dictionary ``radiomics.featureextractor.RadiomicsFeatureExtractor`` takes."""
        return {
            "setting": dict(self.setting),
            "imageType": {k: dict(v) for k, v in self.image_types.items()},
            "featureClass": {k: (list(v) if v is not None else None) for k, v in self.feature_classes.items()},
        }

    @property
    def resampled_spacing_mm(self) -> tuple[float, ...] | None:
        """The resampling spacing (mm, x y z; 0 keeps an axis' spacing), or None for none."""
        spacing = self.setting.get("resampledPixelSpacing")
        return None if spacing is None else tuple(float(s) for s in spacing)


def _packaged_settings() -> dict[str, Path]:
    from importlib.resources import files

    folder = files("hccfusion.data").joinpath("radiomics")
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def _schema_keys() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Setting names, image types and feature classes PyRadiomics accepts (from its own schema)."""
    import radiomics
    import yaml

    schema_path = Path(radiomics.__file__).parent / "schemas" / "paramSchema.yaml"
    schema = yaml.safe_load(schema_path.read_text())
    settings = tuple(schema["mapping"]["setting"]["mapping"])
    return settings, tuple(radiomics.getImageTypes()), tuple(radiomics.getFeatureClasses())


def _check_keys(keys: object, allowed: tuple[str, ...], *, where: str) -> None:
    for key in keys:
        if key not in allowed:
            hint = closest(str(key), allowed)
            did_you_mean = f"; did you mean '{hint}'?" if hint else "."
            raise UsageError(
                f"{where}: unknown key '{key}'{did_you_mean} Allowed: {', '.join(allowed)}. "
                "Fix or remove the key."
            )


def load_radiomics_settings(name_or_path: str | Path = "ct_ibsi") -> RadiomicsSettings:
    """Load a PyRadiomics parameter file shipped with hccfusion or given by path.

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A packaged name (``"ct_ibsi"``, ``"mr_ibsi"``) or the path of a YAML file in
        PyRadiomics' parameter-file format (sections ``setting``, ``imageType``,
        ``featureClass``).

    Returns
    -------
    RadiomicsSettings

    Raises
    ------
    hccfusion.errors.UsageError
        An unknown name (with a did-you-mean hint), a missing or unreadable file, an unknown
        section, setting, image type or feature class (the message names the key), or a value
        PyRadiomics' own schema rejects.
    """
    import yaml

    packaged = _packaged_settings()
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(name_or_path)
        if not path.is_file():
            raise UsageError(
                f"The 'name_or_path' parameter of load_radiomics_settings must be a packaged name "
                f"({', '.join(sorted(packaged))}) or an existing YAML file. Got '{path}' instead."
            )
    elif text in packaged:
        path = packaged[text]
    else:
        raise unknown_option("radiomics settings", text, tuple(sorted(packaged)))
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UsageError(f"{path.name}: not valid YAML ({exc}).") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path.name}: must be a mapping with sections {', '.join(SECTIONS)}.")
    setting_keys, image_types, feature_classes = _schema_keys()
    _check_keys(raw, SECTIONS, where=f"{path.name}")
    setting = dict(raw.get("setting") or {})
    image = {k: dict(v or {}) for k, v in (raw.get("imageType") or {"Original": {}}).items()}
    classes = {k: (list(v) if v else None) for k, v in (raw.get("featureClass") or {}).items()}
    _check_keys(setting, setting_keys, where=f"{path.name}, section 'setting'")
    _check_keys(image, image_types, where=f"{path.name}, section 'imageType'")
    for kind, custom in image.items():
        _check_keys(custom, setting_keys, where=f"{path.name}, imageType '{kind}'")
    _check_keys(classes, feature_classes, where=f"{path.name}, section 'featureClass'")
    settings = RadiomicsSettings(name=path.stem, setting=setting, image_types=image, feature_classes=classes)
    _validated_extractor(settings, where=path.name)
    return settings


def _validated_extractor(settings: RadiomicsSettings, *, where: str) -> Any:
    """A configured PyRadiomics extractor; its schema errors become UsageError."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    with quiet_radiomics():
        try:
            return RadiomicsFeatureExtractor(settings.extractor_params())
        except Exception as exc:  # pykwalify's SchemaError and PyRadiomics' ValueError
            raise UsageError(f"{where}: PyRadiomics rejects the parameters: {exc}") from None


@contextlib.contextmanager
def quiet_radiomics() -> Iterator[None]:
    """Silence PyRadiomics' (and pykwalify's) loggers for the duration of the block."""
    import radiomics

    loggers = [logging.getLogger(name) for name in ("radiomics", "pykwalify", "pykwalify.core")]
    before = [lg.level for lg in loggers]
    radiomics.setVerbosity(logging.ERROR)
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, before):
            lg.setLevel(level)


def crop_window(
    *, bbox_index: tuple[int, ...], bbox_size: tuple[int, ...], image_size: tuple[int, ...],
    spacing_mm: tuple[float, ...], settings: RadiomicsSettings, margin_mm: float,
) -> tuple[list[int], list[int]]:
    """Start index and size (voxels, x y z) of the image crop that covers what PyRadiomics reads.

    Parameters
    ----------
    bbox_index, bbox_size : tuple of int
        The lesion's bounding box on the image grid (voxels).
    image_size : tuple of int
        The image's size (voxels).
    spacing_mm : tuple of float
        The image's spacing (mm).
    settings : RadiomicsSettings
    margin_mm : float
        Smallest margin (mm) kept around the lesion.
    """
    target = settings.resampled_spacing_mm
    interpolator = str(settings.setting.get("interpolator", "sitkBSpline"))
    pad = int(settings.setting.get("padDistance", 5))
    sigmas = [s for custom in settings.image_types.values() for s in custom.get("sigma", [])]
    sigmas += list(settings.setting.get("sigma", []) if "LoG" in settings.image_types else [])
    start, size = [], []
    for axis, (lo, n, total, sp) in enumerate(zip(bbox_index, bbox_size, image_size, spacing_mm)):
        new_sp = sp if target is None or target[axis] == 0 else target[axis]
        need_mm = max(margin_mm, (pad + 2) * new_sp, 4.0 * max(sigmas, default=0.0))
        guard = _LINEAR_GUARD_VOXELS if interpolator in ("sitkLinear", "sitkNearestNeighbor") else _SPLINE_GUARD_VOXELS
        margin = math.ceil(need_mm / sp) + (guard if target is not None else 0)
        first = max(0, lo - margin)
        last = min(total, lo + n + margin)
        start.append(int(first))
        size.append(int(last - first))
    return start, size


def _check_pair(image: SimpleITK.Image, labels: SimpleITK.Image) -> None:
    import SimpleITK as sitk

    for name, value in (("image", image), ("labels", labels)):
        if not isinstance(value, sitk.Image) or value.GetDimension() != 3:
            raise UsageError(f"The '{name}' parameter of lesion_radiomics must be a 3D SimpleITK.Image. "
                             f"Got {type(value).__name__} instead.")
    same = (image.GetSize() == labels.GetSize()
            and np.allclose(image.GetSpacing(), labels.GetSpacing(), atol=1e-4)
            and np.allclose(image.GetOrigin(), labels.GetOrigin(), atol=1e-3)
            and np.allclose(image.GetDirection(), labels.GetDirection(), atol=1e-5))
    if not same:
        raise UsageError("The 'labels' parameter of lesion_radiomics must share the image's grid (size, "
                         f"spacing, origin, direction). Got size {labels.GetSize()} spacing "
                         f"{labels.GetSpacing()} for an image of size {image.GetSize()} spacing "
                         f"{image.GetSpacing()} instead; resample the labels with interpolator='nearest'.")


def _real(value: Any) -> float:
    """A feature value as float; PyRadiomics returns a complex number where a degenerate (flat)
    lesion makes an eigenvalue negative — that value is undefined (NaN), not its real part."""
    v = complex(np.asarray(value).item()) if np.iscomplexobj(value) else float(value)
    if isinstance(v, complex):
        return float(v.real) if abs(v.imag) <= 1e-12 * max(1.0, abs(v.real)) else float("nan")
    return v


def lesion_radiomics(
    *,
    image: SimpleITK.Image,
    labels: SimpleITK.Image,
    lesion_ids: Mapping[int, str],
    phase: str,
    settings: RadiomicsSettings,
    margin_mm: float = 10.0,
) -> pd.DataFrame:
    """PyRadiomics features of each lesion in one phase.

    Parameters
    ----------
    image : SimpleITK.Image
        One phase (CT in HU, or MR), 3D.
    labels : SimpleITK.Image
        Lesion label map on the same grid; label ``k`` is lesion ``lesion_ids[k]``.
    lesion_ids : mapping of int to str
        Labels to compute → lesion ids. Labels that are empty in ``labels`` (a lesion gone at
        follow-up) give no row.
    phase : str
        Phase name written to the ``phase`` column.
    settings : RadiomicsSettings
        From ``load_radiomics_settings``.
    margin_mm : float
        Smallest margin (mm) kept around each lesion when cropping; the crop is widened further
        to cover ``padDistance``, the LoG kernels and the B-spline prefilter.

    Returns
    -------
    pandas.DataFrame
        One row per lesion: ``lesion_id``, ``label``, ``phase``, ``volume_ml`` (from
        ``original_shape_VoxelVolume`` when shape features are on, else the label's voxel
        volume), ``centroid_x_mm``, ``centroid_y_mm``, ``centroid_z_mm`` (LPS physical
        coordinates of the label's centroid on the input grid), then PyRadiomics' feature
        columns (``original_shape_MeshVolume``, ``log-sigma-1-0-mm-3D_glcm_Idm`` …).
        Diagnostics are dropped. ``radiomics_error`` is empty, or says why PyRadiomics could
        not measure the lesion (one voxel, or one slice after resampling): that lesion keeps its
        row with empty features, and the other lesions are measured.

    Raises
    ------
    hccfusion.errors.UsageError
        Images that are not 3D SimpleITK images or do not share a grid, bad ``lesion_ids``,
        ``phase`` or ``margin_mm``.
    """
    import SimpleITK as sitk
    from radiomics import imageoperations

    _check_pair(image, labels)
    if not isinstance(lesion_ids, Mapping) or not all(
        isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k > 0 for k in lesion_ids
    ):
        raise UsageError("The 'lesion_ids' parameter of lesion_radiomics must be a mapping of positive "
                         f"integer labels to lesion ids. Got {lesion_ids!r} instead.")
    if not isinstance(phase, str) or not phase:
        raise UsageError(f"The 'phase' parameter of lesion_radiomics must be a non-empty string. "
                         f"Got {phase!r} instead.")
    if not isinstance(settings, RadiomicsSettings):
        raise UsageError("The 'settings' parameter of lesion_radiomics must be a RadiomicsSettings (see "
                         f"load_radiomics_settings). Got {type(settings).__name__} instead.")
    if not (isinstance(margin_mm, (int, float)) and math.isfinite(margin_mm) and margin_mm >= 0):
        raise UsageError(f"The 'margin_mm' parameter of lesion_radiomics must be a number ≥ 0. "
                         f"Got {margin_mm!r} instead.")

    # Keep a small unsigned label map as it is (a UInt32 copy of the volume would be 4 bytes a voxel).
    unsigned = (sitk.sitkUInt8, sitk.sitkUInt16, sitk.sitkUInt32)
    label_map = labels if labels.GetPixelID() in unsigned else sitk.Cast(labels, sitk.sitkUInt32)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(label_map)
    present = set(stats.GetLabels())
    rows: list[dict[str, Any]] = []
    with quiet_radiomics():
        extractor = _validated_extractor(
            settings.model_copy(update={"setting": {**settings.setting, "normalize": False}}), where=settings.name
        )
        resampling = settings.resampled_spacing_mm is not None and settings.setting.get("interpolator") is not None
        if resampling:
            # We hand the extractor what PyRadiomics' resampling step returns; it must not resample again.
            extractor.settings["resampledPixelSpacing"] = None
        if settings.setting.get("normalize", False):
            # Whole-volume statistics, as PyRadiomics would use them: normalise once, before cropping.
            image = imageoperations.normalizeImage(image, **settings.setting)
        for label, lesion_id in lesion_ids.items():
            label = int(label)
            if label not in present:
                continue
            box = stats.GetBoundingBox(label)
            start, size = crop_window(bbox_index=box[:3], bbox_size=box[3:], image_size=image.GetSize(),
                                      spacing_mm=image.GetSpacing(), settings=settings, margin_mm=float(margin_mm))
            crop_image = sitk.RegionOfInterest(image, size, start)
            if resampling:
                crop_image, crop_labels = imageoperations.resampleImage(
                    crop_image, label_map, **{**settings.setting, "normalize": False, "label": label})
            else:
                crop_labels = sitk.RegionOfInterest(label_map, size, start)
            try:
                features = extractor.execute(crop_image, crop_labels, label=label)
                error = ""
            except ValueError as exc:
                # PyRadiomics refuses a lesion of one voxel or one slice after resampling; the
                # lesion keeps its row (volume, centroid) with empty features and the reason.
                features, error = {}, str(exc).strip()
            values = {k: _real(v) for k, v in features.items() if not k.startswith("diagnostics_")}
            volume_mm3 = values.get("original_shape_VoxelVolume", stats.GetPhysicalSize(label))
            x, y, z = stats.GetCentroid(label)
            rows.append({"lesion_id": str(lesion_id), "label": label, "phase": phase,
                         "volume_ml": float(volume_mm3) / 1000.0,
                         "centroid_x_mm": x, "centroid_y_mm": y, "centroid_z_mm": z,
                         "radiomics_error": error, **values})
    if not rows:
        return pd.DataFrame(columns=list(META_COLUMNS))
    return pd.DataFrame(rows)
