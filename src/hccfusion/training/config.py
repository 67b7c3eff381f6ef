"""The study configuration of ``hccfusion train`` (``study.yaml``), strict pydantic models.

Unknown keys are rejected with the key's name (STAMP's ``extra="forbid"``), names of fusions,
heads and schemes are checked against their registries with a did-you-mean, and nothing in the
file is evaluated as code. :func:`load_study_config` reads YAML; :meth:`StudyConfig.model_dump`
is what a bundle stores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hccfusion.errors import UsageError, unknown_option

__all__ = ["DataConfig", "ModelConfig", "TrainingConfig", "TuningConfig", "ValidationConfig",
           "BaselineConfig", "EvaluationConfig", "StudyConfig", "load_study_config",
           "FUSION_NAMES", "POOLER_NAMES"]

FUSION_NAMES = ("late", "gated", "kronecker", "cross_attention")
POOLER_NAMES = ("abmil", "transmil", "mean")
MODALITY_NAMES = ("clinical", "radiomics", "pathology", "omics")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """Where the inputs are (paths relative to the config file's folder)."""

    cohort: Path
    endpoints: Path
    features: Path | None = None
    radiomics: Path | None = None
    pathology: Path | None = None
    omics: Path | None = None


def _in_modality_order(value: tuple[str, ...], what: str) -> tuple[str, ...]:
    for name in value:
        if name not in MODALITY_NAMES:
            raise unknown_option(what, name, MODALITY_NAMES)
    return tuple(m for m in MODALITY_NAMES if m in value)


class ModelConfig(_Strict):
    """The multimodal network (see :func:`hccfusion.models.multimodal.build_model`)."""

    modalities: tuple[str, ...] = MODALITY_NAMES
    fusion: str = "late"
    embed_dim: int = Field(16, ge=2, le=512)
    hidden: int = Field(32, ge=2, le=1024)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    modality_dropout: float = Field(0.25, ge=0.0, lt=1.0)
    pooler: str = "abmil"
    survival_head: Literal["discrete", "cox"] = "cox"
    n_bins: int = Field(8, ge=2, le=64)
    radiomics_pca: int | None = Field(16, ge=1)
    treatment_embed_dim: int = Field(4, ge=1, le=64)
    ensemble: int = Field(3, ge=1, le=32, description="seed-ensemble members averaged")
    experts: bool = Field(True, description="average the fused net with one "
                          "single-modality net per modality (modality experts)")
    linear_expert: bool = Field(True, description="with experts: add elastic-net linear "
                                "models (one per linear_modalities entry) as more experts")
    linear_modalities: tuple[str, ...] = Field(
        ("clinical", "pathology"), description="the modalities that get a linear expert "
        "(pathology: over a bag summary, linear_bag_summary)")
    linear_joint: tuple[str, ...] = Field(
        ("clinical", "pathology"), description="with linear_expert: one more elastic-net "
        "model over these modalities together (each read as its own linear expert reads it), "
        "voting for the patients who have all of them; () for none")
    linear_bag_summary: Literal["mean", "mean_sd"] = Field(
        "mean_sd", description="what the pathology linear expert reads of a bag: the mean "
        "instance, or the mean and the SD of each feature over the instances (tile "
        "heterogeneity)")
    harmonise_sites: bool = Field(True, description="standardise the pathology tile "
                                  "features per centre (training centres: their training "
                                  "patients' statistics; other centres: their own patients')")
    skill_prior_patients: float = Field(
        100.0, ge=0.0, description="with experts: each component's measured skill (C or AUC "
        "minus 1/2) is shrunk toward none by n / (n + this), n = the patients it was measured "
        "on, so a vote earned on a handful of validation patients counts for little (0: no "
        "shrinkage)")
    combine: Literal["skill", "stacked"] = Field(
        "stacked", description="with experts: how the components' votes are weighted — "
        "'skill': each by its shrunk skill alone; 'stacked': by non-negative Cox (OS, PFS) and "
        "logistic (response) models of the outcome on all the components' votes together, "
        "fitted on the inner-validation patients (the linear experts' values there out of "
        "fold), so components that say the same thing share one say")
    stack_ridge: float = Field(0.01, ge=0.0, description="with combine 'stacked': the ridge "
                               "penalty on the stacking weights")
    os_votes_for_pfs: bool = Field(
        True, description="with experts: each component's OS risk also votes for PFS "
        "(PFS ends at death too), weighted by its shrunk skill at ranking PFS")
    wide: tuple[str, ...] = Field(("clinical",), description="feature-vector modalities that also reach "
                                  "the heads through a linear term (wide and deep)")

    @field_validator("modalities")
    @classmethod
    def _modalities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one modality is needed")
        return _in_modality_order(value, "modality")

    @field_validator("linear_modalities")
    @classmethod
    def _linear_modalities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _in_modality_order(value, "linear-expert modality")

    @field_validator("linear_joint")
    @classmethod
    def _linear_joint(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = _in_modality_order(value, "joint linear-expert modality")
        if len(value) == 1:
            raise ValueError("a joint linear expert reads at least two modalities (or none: "
                             f"()); got only {value[0]!r}")
        return value

    @field_validator("wide")
    @classmethod
    def _wide(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in ("clinical", "radiomics"):
                raise unknown_option("wide modality", name, ("clinical", "radiomics"))
        return tuple(m for m in MODALITY_NAMES if m in value)

    @field_validator("fusion")
    @classmethod
    def _fusion(cls, value: str) -> str:
        if value not in FUSION_NAMES:
            raise unknown_option("fusion", value, FUSION_NAMES)
        return value

    @field_validator("pooler")
    @classmethod
    def _pooler(cls, value: str) -> str:
        if value not in POOLER_NAMES:
            raise unknown_option("MIL pooler", value, POOLER_NAMES)
        return value


class TrainingConfig(_Strict):
    """The fit loop: Adam, early stopping on the inner validation patients."""

    epochs: int = Field(300, ge=1, le=10_000)
    patience: int = Field(30, ge=1)
    lr: float = Field(1e-2, gt=0.0, le=1.0)
    weight_decay: float = Field(1e-3, ge=0.0)
    batch_size: int = Field(0, ge=0, description="0: full batch")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"os": 1.0, "pfs": 1.0, "response": 1.0, "bor": 0.25})
    unimodal_weight: float = Field(0.5, ge=0.0, description="weight of the one-modality "
                                   "auxiliary loss (0: off)")
    input_group_lasso: float = Field(0.0, ge=0.0, description="group-lasso weight on the "
                                     "input columns of the tabular encoders (0: off)")
    seed: int = 0

    @field_validator("loss_weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        allowed = ("os", "pfs", "response", "bor")
        for key, weight in value.items():
            if key not in allowed:
                raise unknown_option("loss weight", key, allowed)
            if weight < 0:
                raise ValueError(f"loss weight {key} must be >= 0, got {weight}")
        return value


class TuningConfig(_Strict):
    """Hyper-parameter search in the inner loop (the training patients' validation share)."""

    method: Literal["grid", "optuna"] = "grid"
    grid: dict[str, list] = Field(default_factory=lambda: {"modality_dropout": [0.1, 0.4]})
    n_trials: int = Field(8, ge=1)

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list]) -> dict[str, list]:
        allowed = tuple(ModelConfig.model_fields) + tuple(TrainingConfig.model_fields)
        for key, options in value.items():
            if key not in allowed:
                raise unknown_option("tuning parameter", key, allowed)
            if not isinstance(options, list) or not options:
                raise ValueError(f"tuning grid entry {key} must be a non-empty list")
        return value


class ValidationConfig(_Strict):
    """Patient-level, centre-aware validation."""

    schemes: tuple[Literal["external", "nested_cv"], ...] = ("external", "nested_cv")
    development: str | None = None
    n_outer: int = Field(5, ge=2, le=20)
    val_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    seed: int = 0


class BaselineConfig(_Strict):
    """Which baselines run beside the model, on the same splits."""

    clinical_scores: bool = True
    cox_clinical: bool = True
    penalised_cox: bool = True
    random_survival_forest: bool = True
    single_modality: bool = True
    modality_subsets: bool = True


class EvaluationConfig(_Strict):
    n_resamples: int = Field(1000, ge=50)
    seed: int = 0
    horizons_days: tuple[float, ...] = (365.0, 730.0)
    attribution: bool = True


class StudyConfig(_Strict):
    """``study.yaml``: data, model, training, tuning, validation, baselines, evaluation."""

    data: DataConfig
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    tuning: TuningConfig = TuningConfig()
    validation: ValidationConfig = ValidationConfig()
    baselines: BaselineConfig = BaselineConfig()
    evaluation: EvaluationConfig = EvaluationConfig()


def _pydantic_message(exc: ValidationError, source: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{where}'; remove it or check its spelling"
    return f"{source}: {where}: {first['msg']} (got {first.get('input')!r})"


def load_study_config(path: Path | str) -> StudyConfig:
    """Read ``study.yaml``; data paths are resolved against the file's folder."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: the top level must be a mapping of sections")
    data = raw.get("data")
    if isinstance(data, dict):
        def resolve(value: str) -> str:
            p = Path(value).expanduser()
            return str(p if p.is_absolute() else (path.parent / p).resolve())

        raw["data"] = {k: (resolve(v) if isinstance(v, str) else v) for k, v in data.items()}
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(_pydantic_message(exc, str(path))) from exc
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from exc
