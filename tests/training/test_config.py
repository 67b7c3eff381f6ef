"""study.yaml: strict keys, did-you-mean for names, data paths relative to the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hccfusion.errors import UsageError
from hccfusion.training.config import (
    DataConfig, ModelConfig, StudyConfig, TrainingConfig, TuningConfig, load_study_config,
)


def _write(folder: Path, text: str, name: str = "study.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
data:
  cohort: cohort
  endpoints: ../shared/endpoints
"""


def test_minimal_config_gets_defaults_and_paths_relative_to_the_yaml(tmp_path):
    sub = tmp_path / "study"
    sub.mkdir()
    cfg = load_study_config(_write(sub, MINIMAL))
    assert cfg.data.cohort == (sub / "cohort").resolve()
    assert cfg.data.endpoints == (tmp_path / "shared" / "endpoints").resolve()
    assert cfg.data.cohort.is_absolute()
    assert cfg.data.features is None
    assert cfg.model == ModelConfig() and cfg.training == TrainingConfig()
    assert cfg.model.modalities == ("clinical", "radiomics", "pathology", "omics")
    assert cfg.model.survival_head == "cox"
    assert cfg.training.loss_weights == {"os": 1.0, "pfs": 1.0, "response": 1.0, "bor": 0.25}


def test_absolute_paths_are_kept(tmp_path):
    target = tmp_path / "elsewhere" / "cohort"
    cfg = load_study_config(_write(tmp_path, f"data:\n  cohort: {target}\n  endpoints: ep\n"))
    assert cfg.data.cohort == target
    assert cfg.data.endpoints == (tmp_path / "ep").resolve()


def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = load_study_config(_write(tmp_path, "data:\n  cohort: ~/cohort\n  endpoints: e\n"))
    assert cfg.data.cohort == tmp_path / "home" / "cohort"


def test_relative_paths_do_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    _write(sub, MINIMAL)
    monkeypatch.chdir(tmp_path)
    cfg = load_study_config(Path("a/b/study.yaml"))
    assert cfg.data.cohort == (sub / "cohort").resolve()


def test_full_config_round_trips_through_model_dump(tmp_path):
    text = MINIMAL + """
model:
  modalities: [pathology, clinical]
  fusion: late
  pooler: mean
  survival_head: discrete
  n_bins: 6
training:
  epochs: 12
  loss_weights: {os: 1.0, pfs: 0.0}
tuning:
  grid: {weight_decay: [0.001, 0.01], embed_dim: [8, 16]}
validation:
  schemes: [external]
  development: WX
baselines:
  random_survival_forest: false
evaluation:
  horizons_days: [180, 365]
"""
    cfg = load_study_config(_write(tmp_path, text))
    # modalities are put in the fixed order whatever the file's order
    assert cfg.model.modalities == ("clinical", "pathology")
    assert cfg.model.fusion == "late" and cfg.model.pooler == "mean"
    assert cfg.training.epochs == 12 and cfg.training.loss_weights == {"os": 1.0, "pfs": 0.0}
    assert cfg.tuning.grid == {"weight_decay": [0.001, 0.01], "embed_dim": [8, 16]}
    assert cfg.validation.schemes == ("external",) and cfg.validation.development == "WX"
    assert cfg.baselines.random_survival_forest is False
    assert cfg.evaluation.horizons_days == (180.0, 365.0)
    assert StudyConfig.model_validate(cfg.model_dump()) == cfg


@pytest.mark.parametrize("text, where", [
    ("data:\n  cohort: c\n  endpoints: e\n  cohrot: x\n", "data.cohrot"),
    (MINIMAL + "model:\n  fusoin: late\n", "model.fusoin"),
    (MINIMAL + "trainig:\n  epochs: 3\n", "trainig"),
])
def test_an_unknown_key_is_named(tmp_path, text, where):
    path = _write(tmp_path, text)
    with pytest.raises(UsageError, match=rf"unknown key '{where}'") as info:
        load_study_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("section, key, bad, hint", [
    ("model", "fusion", "gatde", "gated"),
    ("model", "pooler", "abmill", "abmil"),
    ("model", "modalities", "[clinical, radiomic]", "radiomics"),
    ("training", "loss_weights", "{os: 1.0, respone: 0.5}", "response"),
    ("tuning", "grid", "{weight_decy: [0.1]}", "weight_decay"),
])
def test_a_misspelt_name_gets_a_did_you_mean(tmp_path, section, key, bad, hint):
    path = _write(tmp_path, MINIMAL + f"{section}:\n  {key}: {bad}\n")
    with pytest.raises(UsageError, match=rf"did you mean '{hint}'\?") as info:
        load_study_config(path)
    assert str(path) in str(info.value)
    assert "Available:" in str(info.value)


def test_names_are_checked_in_python_too():
    with pytest.raises(UsageError, match="unknown fusion 'kron'; did you mean 'kronecker'"):
        ModelConfig(fusion="kron")
    with pytest.raises(UsageError, match="unknown MIL pooler 'transmill'"):
        ModelConfig(pooler="transmill")
    with pytest.raises(UsageError, match="unknown modality 'omic'"):
        ModelConfig(modalities=("clinical", "omic"))


@pytest.mark.parametrize("section, body, fragment", [
    ("model", "embed_dim: 1", "model.embed_dim"),
    ("model", "survival_head: weibull", "model.survival_head"),
    ("model", "modalities: []", "model.modalities"),
    ("training", "epochs: 0", "training.epochs"),
    ("training", "loss_weights: {os: -1.0}", "training.loss_weights"),
    ("tuning", "grid: {lr: []}", "tuning.grid"),
    ("validation", "val_fraction: 0.7", "validation.val_fraction"),
    ("validation", "schemes: [loo]", "validation.schemes"),
])
def test_a_bad_value_is_named_with_its_location(tmp_path, section, body, fragment):
    path = _write(tmp_path, MINIMAL + f"{section}:\n  {body}\n")
    with pytest.raises(UsageError, match=fragment):
        load_study_config(path)


def test_missing_data_section_and_missing_paths(tmp_path):
    with pytest.raises(UsageError, match="data"):
        load_study_config(_write(tmp_path, "model:\n  fusion: late\n"))
    with pytest.raises(UsageError, match="data.endpoints"):
        load_study_config(_write(tmp_path, "data:\n  cohort: c\n", "b.yaml"))


def test_bad_yaml_and_bad_files(tmp_path):
    with pytest.raises(UsageError, match="is not valid YAML"):
        load_study_config(_write(tmp_path, "data: [unclosed\n"))
    with pytest.raises(UsageError, match="top level must be a mapping"):
        load_study_config(_write(tmp_path, "- a\n- b\n", "list.yaml"))
    with pytest.raises(UsageError, match="does not exist"):
        load_study_config(tmp_path / "nope.yaml")


def test_yaml_is_never_evaluated_as_code(tmp_path):
    text = MINIMAL + "model:\n  fusion: !!python/object/apply:os.system ['echo pwned']\n"
    with pytest.raises(UsageError, match="is not valid YAML"):
        load_study_config(_write(tmp_path, text))


def test_configs_are_frozen():
    cfg = StudyConfig(data=DataConfig(cohort="c", endpoints="e"))
    with pytest.raises(Exception):
        cfg.model.fusion = "gated"  # type: ignore[misc]
    assert cfg.model.fusion == "late"
    grid = TuningConfig().grid
    grid["lr"] = [0.1]  # a caller's copy; the default of the next config is unchanged
    assert TuningConfig().grid == {"modality_dropout": [0.1, 0.4]}
