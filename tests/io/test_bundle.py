"""The model bundle: bit-exact round trip (also in a fresh process), tamper detection, version
refusal, feature-spec mismatch messages, atomic writes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from hccfusion import __version__  # noqa: E402
from hccfusion.errors import DataError, SchemaVersionError, UsageError  # noqa: E402
from hccfusion.io import bundle as bundle_mod  # noqa: E402
from hccfusion.io.bundle import (  # noqa: E402
    BUNDLE_FORMAT_VERSION,
    ModelBundle,
    check_feature_specs,
    config_hash,
    read_bundle,
    render_model_card,
    write_bundle,
)

SHA_A = "ab12" + "0" * 60
SHA_B = "cd34" + "f" * 60


def _state() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    shared = torch.randn(4, 3, generator=gen)
    return {
        "enc.clinical.weight": torch.randn(5, 3, generator=gen).t(),   # non-contiguous
        "enc.clinical.bias": torch.tensor([0.1, -0.0, float("inf"), 1e-40, 3.0]),
        "head.tied_a": shared,                                          # tied weights
        "head.tied_b": shared,
        "head.half": torch.randn(2, 2, generator=gen).half(),
        "head.bf16": torch.randn(3, generator=gen).bfloat16(),
        "head.f64": torch.randn(2, generator=gen, dtype=torch.float64),
        "norm.num_batches_tracked": torch.tensor(17),
        "mask.bool": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 4),
    }


def _tensor_digest(state: dict[str, torch.Tensor]) -> str:
    """Content hash of a state_dict: names, dtypes, shapes and raw bytes (bit-for-bit)."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


MODEL_CONFIG = {
    "modalities": {"pathology": {"encoder": "mil", "pooler": "abmil", "in_dim": 64},
                   "clinical": {"encoder": "tabular", "in_dim": 40, "hidden": [32]}},
    "embed_dim": 32, "dropout": 0.2, "modality_dropout": 0.25,
    "fusion": {"name": "gated"},
    "treatment": {"cardinalities": [3, 6, 6], "embed_dim": 4},
    "heads": {"os": {"kind": "discrete", "n_bins": 4}, "pfs": {"kind": "cox"},
              "response": True, "bor": False},
}
TRAINING_CONFIG = {"lr": 1e-3, "epochs": 30, "batch_size": 32, "weight_decay": 0.0,
                   "note": "yes", "tags": ["wx", "on", "1e3"], "ratio": 1.0}
SPECS = {
    "clinical": {"columns": ["age_years", "afp_ng_ml", "albi"]},
    "pathology": {"encoder": "hcc_stats", "spec": "mpp0.50-px224", "weights_sha256": SHA_A,
                  "dim": 64},
}
CUTOFFS = {"os": {"format_version": 1, "kind": "median", "params": {}, "cutoffs": [-2.5],
                  "labels": ["low", "high"], "statistic": 5.1, "p_value": 0.02, "n_train": 120}}
TIME_BINS = {"os": {"n_bins": 4, "scheme": "quantile", "edges_": [0.0, 120.5, 300.0, 610.0,
                                                                   1400.0]}}
PREPROCESSORS = {"clinical": {"kind": "tabular", "numeric": ["age_years"],
                              "median_": {"age_years": 61.0}, "mean_": [0.25], "std_": [1.5]},
                 "treatment": {"kind": "category", "levels_": {"ia_modality": ["HAIC", "TACE"]}}}
SUMMARY = {"n_patients": 120, "n_events": {"os": 70, "pfs": 95}, "centres": ["WX"],
           "split_id": "external-WX", "simulated": True}


def _write(out, **overrides):
    kwargs = dict(state_dict=_state(), model_config=MODEL_CONFIG, training_config=TRAINING_CONFIG,
                  preprocessors=PREPROCESSORS, time_bins=TIME_BINS, cutoffs=CUTOFFS,
                  feature_specs=SPECS, summary=SUMMARY, seed=7,
                  metrics=[{"endpoint": "os", "cohort_label": "external NJ", "estimate": 0.71,
                            "ci_low": float("nan")}])
    kwargs.update(overrides)
    return write_bundle(out, **kwargs)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("b") / "bundle")


# --------------------------------------------------------------------------- round trip

def test_round_trip_is_bit_exact_and_dicts_equal(written):
    b = read_bundle(written)
    original = _state()
    assert set(b.state_dict) == set(original)
    for key, t in original.items():
        got = b.state_dict[key]
        assert got.device.type == "cpu"
        assert got.dtype == t.dtype and got.shape == t.shape, key
        assert torch.equal(got.reshape(-1).view(torch.uint8), t.contiguous().reshape(-1)
                           .view(torch.uint8)), key
    assert _tensor_digest(b.state_dict) == _tensor_digest(original)
    # -0.0 and a subnormal survive as bits, not just as values
    assert torch.signbit(b.state_dict["enc.clinical.bias"][1])
    assert b.model_config == MODEL_CONFIG
    assert b.training_config == TRAINING_CONFIG
    assert b.preprocessors == PREPROCESSORS
    assert b.time_bins == TIME_BINS
    assert b.cutoffs == CUTOFFS
    assert b.feature_specs == SPECS
    assert b.summary == SUMMARY
    assert b.seed == 7
    assert b.format_version == BUNDLE_FORMAT_VERSION and b.package_version == __version__
    # modalities in the net's fixed order; falsy heads are not endpoints
    assert b.modalities == ("clinical", "pathology")
    assert b.endpoints == ("os", "pfs", "response")
    assert b.metrics == [{"endpoint": "os", "cohort_label": "external NJ", "estimate": 0.71,
                          "ci_low": None}]
    assert b.config_hash == config_hash(MODEL_CONFIG, TRAINING_CONFIG)
    assert b.weights_sha256 == hashlib.sha256((written / "weights.safetensors").read_bytes()
                                              ).hexdigest()


def test_layout_on_disk(written):
    names = sorted(p.relative_to(written).as_posix() for p in written.rglob("*") if p.is_file())
    assert names == ["bundle.json", "config.yaml", "cutoffs.json", "feature_specs.json",
                     "model_card.md", "preprocessors/clinical.json",
                     "preprocessors/treatment.json", "time_bins.json", "weights.safetensors"]
    meta = json.loads((written / "bundle.json").read_text())
    assert meta["risk_cutoffs"] == {"os": {"kind": "median", "cutoffs": [-2.5],
                                           "labels": ["low", "high"]}}
    assert meta["created_at"].endswith("+00:00")
    assert meta["n_weights"] == sum(t.numel() for t in _state().values())
    assert meta["summary"]["split_id"] == "external-WX"
    # no leftover temporary folders beside the bundle
    assert [p.name for p in written.parent.iterdir()] == ["bundle"]


def test_config_hash_ignores_key_order_not_values():
    reordered = dict(reversed(list(MODEL_CONFIG.items())))
    assert config_hash(reordered, TRAINING_CONFIG) == config_hash(MODEL_CONFIG, TRAINING_CONFIG)
    changed = {**MODEL_CONFIG, "dropout": 0.3}
    assert config_hash(changed, TRAINING_CONFIG) != config_hash(MODEL_CONFIG, TRAINING_CONFIG)


@pytest.mark.slow  # a fresh interpreter imports torch: a few seconds
def test_reload_in_fresh_process_gives_same_tensors(written):
    code = textwrap.dedent(f"""
        import hashlib, torch
        from hccfusion.io.bundle import read_bundle
        state = read_bundle({str(written)!r}).state_dict
        h = hashlib.sha256()
        for key in sorted(state):
            t = state[key].contiguous()
            h.update(f"{{key}}|{{t.dtype}}|{{tuple(t.shape)}}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        print(h.hexdigest())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == _tensor_digest(_state())


# --------------------------------------------------------------------------- refusals on read

def _copy(src, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def test_corrupted_weights_are_refused(written, tmp_path):
    b = _copy(written, tmp_path)
    raw = bytearray((b / "weights.safetensors").read_bytes())
    raw[-3] ^= 0x01                                 # one bit of one tensor
    (b / "weights.safetensors").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"weights\.safetensors .*sha256.*changed after"):
        read_bundle(b)


def test_tampered_config_is_refused(written, tmp_path):
    b = _copy(written, tmp_path)
    text = (b / "config.yaml").read_text()
    assert "dropout: 0.2" in text
    (b / "config.yaml").write_text(text.replace("dropout: 0.2", "dropout: 0.3"))
    with pytest.raises(DataError, match=r"config\.yaml .*config hash.*changed after"):
        read_bundle(b)


def test_reformatted_config_with_same_content_is_accepted(written, tmp_path):
    import yaml

    b = _copy(written, tmp_path)
    content = yaml.safe_load((b / "config.yaml").read_text())
    (b / "config.yaml").write_text(yaml.safe_dump(content, sort_keys=True, indent=4))
    assert read_bundle(b).model_config == MODEL_CONFIG


def test_tampered_preprocessor_is_refused(written, tmp_path):
    b = _copy(written, tmp_path)
    path = b / "preprocessors" / "clinical.json"
    path.write_text(path.read_text().replace("61.0", "62.0"))
    with pytest.raises(DataError, match=r"preprocessors/clinical\.json .*changed after"):
        read_bundle(b)


def test_newer_format_version_is_refused_naming_the_file(written, tmp_path):
    b = _copy(written, tmp_path)
    meta = json.loads((b / "bundle.json").read_text())
    meta["format_version"] = BUNDLE_FORMAT_VERSION + 1
    meta["package_version"] = "9.0.0"
    (b / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(SchemaVersionError) as info:
        read_bundle(b)
    msg = str(info.value)
    assert str(b / "bundle.json") in msg
    assert f"format_version {BUNDLE_FORMAT_VERSION + 1}" in msg and "9.0.0" in msg
    assert "Upgrade hccfusion" in msg


@pytest.mark.parametrize("rel", ["time_bins.json", "preprocessors/treatment.json",
                                 "weights.safetensors", "config.yaml"])
def test_missing_file_is_named(written, tmp_path, rel):
    b = _copy(written, tmp_path)
    (b / rel).unlink()
    with pytest.raises(DataError, match=rf"lacks {rel.replace('.', r'[.]')}"):
        read_bundle(b)


def test_not_a_bundle(tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        read_bundle(tmp_path / "nope")
    with pytest.raises(UsageError, match="has no bundle.json"):
        read_bundle(tmp_path)


def test_missing_model_card_is_tolerated(written, tmp_path):
    b = _copy(written, tmp_path)
    (b / "model_card.md").unlink()
    assert read_bundle(b).model_card is None


# --------------------------------------------------------------------------- writing rules

def test_refuses_to_replace_a_non_bundle_folder(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(UsageError, match="not a model bundle; refusing"):
        _write(out, overwrite=True)
    assert (out / "keep.txt").read_text() == "precious"


def test_existing_bundle_needs_overwrite(tmp_path):
    out = _write(tmp_path / "b")
    with pytest.raises(UsageError, match="overwrite=True"):
        _write(out, seed=8)
    _write(out, seed=8, overwrite=True)
    assert read_bundle(out).seed == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_empty_folder_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert read_bundle(_write(out)).seed == 7


def test_failure_mid_write_leaves_no_partial_bundle(tmp_path, monkeypatch):
    calls = []
    real = bundle_mod._dump_json

    def flaky(obj):
        calls.append(1)
        if len(calls) == 3:                          # after weights, config, 2 preprocessors
            raise OSError("disk full")
        return real(obj)

    monkeypatch.setattr(bundle_mod, "_dump_json", flaky)
    with pytest.raises(OSError, match="disk full"):
        _write(tmp_path / "b")
    assert list(tmp_path.iterdir()) == []           # no bundle, no temporary folder


def test_failed_overwrite_keeps_the_old_bundle(tmp_path, monkeypatch):
    out = _write(tmp_path / "b")

    def boom(*args, **kwargs):
        raise RuntimeError("killed while rendering")

    monkeypatch.setattr(bundle_mod, "render_model_card", boom)
    with pytest.raises(RuntimeError, match="killed"):
        _write(out, seed=99, overwrite=True)
    assert read_bundle(out).seed == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_bad_arguments(tmp_path):
    with pytest.raises(UsageError, match="'seed' parameter of write_bundle"):
        _write(tmp_path / "a", seed=-1)
    with pytest.raises(UsageError, match="no spec for pathology"):
        _write(tmp_path / "a", feature_specs={"clinical": {}})
    with pytest.raises(UsageError, match="specs for modalities the model lacks: omics"):
        _write(tmp_path / "a", feature_specs={**SPECS, "omics": {}})
    with pytest.raises(UsageError, match="file names"):
        _write(tmp_path / "a", preprocessors={"../evil": {}})
    with pytest.raises(UsageError, match=r"training_config\['when'\].*datetime"):
        import datetime

        _write(tmp_path / "a", training_config={"when": datetime.datetime.now()})
    with pytest.raises(UsageError, match="map str names to tensors"):
        _write(tmp_path / "a", state_dict={"w": [1.0]})
    with pytest.raises(UsageError, match="list of 'cutoffs'"):
        _write(tmp_path / "a", cutoffs={"os": {"kind": "median"}})
    assert not (tmp_path / "a").exists()


def test_fitted_objects_and_numpy_values_are_converted(tmp_path):
    import numpy as np

    class FakeCutoff:
        def to_dict(self):
            return {"kind": "median", "cutoffs": [np.float64(0.5)], "labels": ["low", "high"]}

    out = _write(tmp_path / "b", cutoffs={"os": FakeCutoff()},
                 time_bins={"os": {"edges_": np.array([0.0, 10.0])}})
    b = read_bundle(out)
    assert b.cutoffs == {"os": {"kind": "median", "cutoffs": [0.5], "labels": ["low", "high"]}}
    assert b.time_bins == {"os": {"edges_": [0.0, 10.0]}}


# --------------------------------------------------------------------------- feature specs

def test_matching_specs_pass_with_notes():
    given = {"clinical": {"columns": ["albi", "age_years", "afp_ng_ml", "crp_mg_l"]},
             "omics": {"gene_sets": "hallmark"}}
    notes = check_feature_specs(SPECS, given)
    assert any("expects pathology features but none were given" in n for n in notes)
    assert any("omics features were given but the bundle does not use omics" in n for n in notes)
    assert any("crp_mg_l" in n and "ignored" in n for n in notes)
    assert len(notes) == 3


def test_sha256_compared_case_insensitively_and_numbers_by_value():
    given = {"pathology": {**SPECS["pathology"], "weights_sha256": SHA_A.upper(), "dim": 64.0},
             "clinical": SPECS["clinical"]}
    assert check_feature_specs(SPECS, given) == []


def test_pathology_encoder_mismatch_message():
    given = {"pathology": {"encoder": "uni", "spec": "mpp0.50-px224", "weights_sha256": SHA_B,
                           "dim": 1024}}
    with pytest.raises(DataError) as info:
        check_feature_specs(SPECS, given)
    msg = str(info.value)
    assert msg.startswith("The bundle expects pathology features from encoder 'hcc_stats' "
                          "(spec mpp0.50-px224, weights sha256 ab1200000000…")
    assert "the features given were made with encoder 'uni'" in msg
    assert "encoder: expected 'hcc_stats', given 'uni'" in msg
    assert "weights_sha256: expected ab1200000000…, given cd34ffffffff…" in msg
    assert "dim: expected 64, given 1024" in msg
    # hcc_stats has no weights: its sha256 fingerprints the feature definitions
    assert ("Re-extract with 'hccfusion features pathology --encoder hcc_stats --target-mpp 0.50 "
            "--tile-px 224' using an hccfusion whose 'hcc_stats' definitions have sha256 "
            "ab1200000000… (the bundle's)") in msg
    assert "--weights" not in msg
    assert "spec:" not in msg                        # the spec itself matched


def test_an_encoder_with_weights_is_re_extracted_with_its_checkpoint():
    expected = {"pathology": {"encoder": "uni", "spec": "mpp0.50-px224", "weights_sha256": SHA_A,
                              "dim": 1024}}
    given = {"pathology": {**expected["pathology"], "weights_sha256": SHA_B}}
    with pytest.raises(DataError) as info:
        check_feature_specs(expected, given)
    msg = str(info.value)
    assert ("Re-extract with 'hccfusion features pathology --encoder uni --target-mpp 0.50 "
            "--tile-px 224 --weights <the checkpoint with sha256 ab1200000000…>'") in msg


def test_radiomics_and_clinical_mismatch_named_together():
    expected = {"radiomics": {"param_set": "ct_fast", "columns_sha256": SHA_A, "n_columns": 120},
                "clinical": {"columns": ["age_years", "afp_ng_ml"]}}
    given = {"radiomics": {"param_set": "ct_ibsi", "columns_sha256": SHA_A, "n_columns": 120},
             "clinical": {"columns": ["age_years"]}}
    with pytest.raises(DataError) as info:
        check_feature_specs(expected, given)
    msg = str(info.value)
    assert "radiomics features from parameter set 'ct_fast'" in msg
    assert "param_set: expected 'ct_fast', given 'ct_ibsi'" in msg
    assert "hccfusion features imaging --radiomics ct_fast" in msg
    assert ("The bundle expects clinical features with 2 named columns; the features given "
            "have 1 named columns — differing: columns: the features given lack 1 column(s) the "
            "bundle expects: 'afp_ng_ml'. Add the missing columns to the clinical table") in msg


def test_field_not_recorded_in_given_spec_is_an_error():
    with pytest.raises(DataError, match="weights_sha256 \\(the features given do not record it"):
        check_feature_specs({"pathology": {"encoder": "hcc_stats", "weights_sha256": SHA_A}},
                            {"pathology": {"encoder": "hcc_stats"}})


def test_none_in_expected_spec_is_not_checked():
    assert check_feature_specs({"omics": {"gene_sets": None}}, {"omics": {}}) == []


def test_specs_must_be_dicts():
    with pytest.raises(UsageError, match="'given' parameter of check_feature_specs"):
        check_feature_specs(SPECS, {"pathology": "hcc_stats"})


# --------------------------------------------------------------------------- model card

def test_model_card_content(written):
    b = read_bundle(written)
    card = b.model_card
    assert card == render_model_card(b)
    assert card.startswith("# Model card")
    for text in ("## Intended use", "Research use only", "Input modalities: clinical, pathology",
                 "Fusion: gated", "overall survival (OS): discrete-time (logistic-hazard) head "
                 "over 4 time bins", "progression-free survival (PFS): Cox head",
                 "edges 0, 120.5, 300, 610, 1400 days",
                 "Patients: 120.", "Events: os 70, pfs 95.", "Centres: WX.", "Split: external-WX.",
                 "**simulated**", "median cut-off(s) -2.5 on the risk score, frozen on 120 "
                 "training patients; groups low < high",
                 "| endpoint | cohort_label | estimate | ci_low |",
                 "| os | external NJ | 0.710 | – |",
                 "3 baseline variables: `age_years`, `afp_ng_ml`, `albi`",
                 "**pathology**: features from encoder 'hcc_stats' (spec mpp0.50-px224, weights "
                 "sha256 ab1200000000…, dim 64)", "## Limitations", b.config_hash):
        assert text in card, text


def test_model_card_without_metrics_and_extra_limitations(tmp_path):
    b = read_bundle(_write(tmp_path / "b", metrics=None,
                           limitations=["Only 2 centres, both in one country."]))
    assert "No performance figures were given" in b.model_card
    assert "- Only 2 centres, both in one country." in b.model_card
    assert isinstance(b, ModelBundle) and b.limitations == ("Only 2 centres, both in one country.",)


def test_model_card_reads_the_fused_config_inside_experts_and_ensembles(tmp_path):
    wrapped = {"fused": {"ensemble_size": 2, "member": MODEL_CONFIG},
               "experts": {"clinical": MODEL_CONFIG, "pathology": MODEL_CONFIG}}
    b = read_bundle(_write(tmp_path / "b", model_config=wrapped,
                           endpoints=["os", "pfs"], modalities=["clinical", "pathology"]))
    card = render_model_card(b)
    assert "Fusion: gated" in card
    assert "over 4 time bins" in card  # the OS head of the fused member
    assert ("Experts: the fused net's OS and PFS risks and response logit are "
            "averaged") in card
    assert "nets that see one modality only (clinical, pathology)" in card
    assert "elastic-net" not in card
    expected = {"clinical": "nets that see one modality only (clinical, pathology) and "
                            "elastic-net linear models (penalty chosen by cross-validation; "
                            "weighted by their cross-validated skill) over the clinical "
                            "variables; an expert",
                "pathology": "skill) over the clinical variables and over the pathology bag "
                             "means (each tile feature averaged over the patient's slides); "
                             "an expert"}
    for modality, text in expected.items():
        wrapped["experts"][f"{modality}_linear"] = {"linear": {"modality": modality,
                                                               "in_dim": 3}}
        card = render_model_card(read_bundle(_write(
            tmp_path / modality, model_config=wrapped, endpoints=["os", "pfs"],
            modalities=["clinical", "pathology"])))
        assert text in card
        assert "shrunk toward none" not in card   # no skill prior in this training config
    wrapped["experts"]["pathology_linear"]["linear"]["summary"] = "mean_sd"
    card = render_model_card(read_bundle(_write(
        tmp_path / "mean_sd", model_config=wrapped, endpoints=["os", "pfs"],
        modalities=["clinical", "pathology"])))
    assert ("over the pathology bag means and SDs (each tile feature averaged over the "
            "patient's slides, and its SD over the tiles); an expert") in card
    wrapped["experts"]["clinical+pathology_linear"] = {"linear_joint": [
        {"modality": "clinical", "in_dim": 3},
        {"modality": "pathology", "in_dim": 3, "summary": "mean_sd"}]}
    card = render_model_card(read_bundle(_write(
        tmp_path / "joint", model_config=wrapped, endpoints=["os", "pfs"],
        modalities=["clinical", "pathology"])))
    assert ("and over the clinical variables and the pathology bag means and SDs (each tile "
            "feature averaged over the patient's slides, and its SD over the tiles) together "
            "(one model); an expert votes only for patients who have its modality (all of its "
            "modalities, for a model over several)") in card


def test_model_card_states_the_skill_shrinkage_of_the_expert_weights(tmp_path):
    wrapped = {"fused": MODEL_CONFIG, "experts": {"clinical": MODEL_CONFIG}}
    training = {**TRAINING_CONFIG, "model": {"skill_prior_patients": 100.0}}
    card = render_model_card(read_bundle(_write(
        tmp_path / "b", model_config=wrapped, training_config=training,
        endpoints=["os", "pfs"], modalities=["clinical", "pathology"])))
    assert ("an expert votes only for patients who have its modality (all of its modalities, "
            "for a model over several). Each skill (C or AUC "
            "minus 1/2) is shrunk toward none by n / (n + 100), n being the patients it was "
            "measured on") in card
    assert "votes for PFS" not in card                   # no os_for_pfs buffer
    training["model"]["skill_prior_patients"] = 0.0
    card = render_model_card(read_bundle(_write(
        tmp_path / "c", model_config=wrapped, training_config=training,
        endpoints=["os", "pfs"], modalities=["clinical", "pathology"])))
    assert "shrunk toward none" not in card
    for name, cross in (("d", [0.0, 0.1]), ("e", [0.0, 0.0])):
        card = render_model_card(read_bundle(_write(
            tmp_path / name, model_config=wrapped, training_config=training,
            state_dict={**_state(), "os_for_pfs": torch.tensor(cross)},
            endpoints=["os", "pfs"], modalities=["clinical", "pathology"])))
        assert ("Each component's OS risk also votes for PFS (progression-free survival ends "
                "at death too), weighted by its skill at ranking PFS." in card) == (name == "d")
    assert "stacking" not in card
    training["model"]["combine"] = "stacked"
    card = render_model_card(read_bundle(_write(
        tmp_path / "stacked", model_config=wrapped, training_config=training,
        endpoints=["os", "pfs"], modalities=["clinical", "pathology"])))
    assert ("the weights are then fitted on them instead (stacking: non-negative Cox models of "
            "OS and PFS and a logistic model of response on all the votes together, the linear "
            "models voting there with their out-of-fold values).") in card
