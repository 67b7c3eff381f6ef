"""The linear expert: fixed linear predictors that vote among the modality experts."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from hccfusion.errors import UsageError  # noqa: E402
from hccfusion.models.experts import ExpertsNet, build_net  # noqa: E402
from hccfusion.models.linear_expert import JointLinearExpert, LinearExpert  # noqa: E402
from hccfusion.models.multimodal import build_model  # noqa: E402
from tests.models.test_conformance import D_PATH, _batch, _config  # noqa: E402
from tests.models.test_experts import _single  # noqa: E402


def _linear(p):
    g = torch.Generator().manual_seed(1)
    expert = LinearExpert(modality="clinical", in_dim=p)
    expert.set_coefficients("os", torch.randn(p, generator=g))
    expert.set_coefficients("response", torch.randn(p, generator=g), intercept=0.4)
    return expert.eval()


def test_outputs_are_the_linear_predictors_and_an_unfitted_output_is_nan():
    batch = _batch(5, seed=2)
    x = batch["clinical"]
    expert = _linear(x.shape[1])
    out = expert(batch)
    assert torch.allclose(out.risk["os"], x @ expert.coef[0], atol=1e-6)
    assert torch.allclose(out.response_logit, x @ expert.coef[2] + 0.4, atol=1e-6)
    assert torch.isnan(out.risk["pfs"]).all()          # PFS was never fitted


def test_in_experts_it_votes_like_a_component_and_travels_in_config_and_state_dict():
    torch.manual_seed(0)
    fused = build_model(_config())
    batch = _batch(6, seed=4)
    linear = _linear(batch["clinical"].shape[1])
    net = ExpertsNet(fused, {"clinical_linear": linear, "pathology":
                             build_model(_single("pathology"))}).eval()
    assert list(net.experts) == ["pathology", "clinical_linear"]
    with torch.no_grad():
        _, values = net.component_values(batch)
        direct = linear(batch)
    have = batch["available"][:, 0]                     # clinical, the first modality
    assert not bool(have.all())                          # a patient without it: no vote
    assert torch.allclose(values[2, have, 0], direct.risk["os"][have], atol=1e-6)
    assert torch.isnan(values[2, ~have, 0]).all()
    assert torch.isnan(values[2, :, 1]).all()           # an unfitted output does not vote
    rebuilt = build_net(json.loads(json.dumps(net.config)))
    rebuilt.load_state_dict(net.state_dict(), strict=True)
    rebuilt.eval()
    with torch.no_grad():
        for a, b in zip(net(batch).risk.values(), rebuilt(batch).risk.values(), strict=True):
            assert torch.equal(a, b)


def test_a_pathology_expert_reads_standardised_bag_means_and_round_trips():
    batch = _batch(6, seed=5)
    bags = batch["pathology"]
    p = bags[0].shape[1] if len(bags[0]) else next(b.shape[1] for b in bags if len(b))
    expert = LinearExpert(modality="pathology", in_dim=p)
    g = torch.Generator().manual_seed(3)
    center, scale = torch.randn(p, generator=g), torch.rand(p, generator=g) + 0.5
    expert.set_input_scaling(center, scale)
    expert.set_coefficients("pfs", torch.randn(p, generator=g))
    out = expert(batch)
    for i, bag in enumerate(bags):
        if len(bag):
            expected = ((bag.mean(dim=0) - center) / scale) @ expert.coef[1]
            assert torch.allclose(out.risk["pfs"][i], expected, atol=1e-5)
        else:                                            # an empty bag has no mean
            assert torch.isnan(out.risk["pfs"][i])
    one = expert({"pathology": [bags[i] for i in range(6) if len(bags[i])][:1]})
    assert one.risk["pfs"].shape == (1,)                 # a batch of one
    rebuilt = LinearExpert.from_config(json.loads(json.dumps(expert.config)))
    rebuilt.load_state_dict(expert.state_dict(), strict=True)
    assert torch.equal(rebuilt(batch).risk["pfs"].nan_to_num(), out.risk["pfs"].nan_to_num())
    with pytest.raises(UsageError, match="only a pathology linear expert|Only a pathology"):
        LinearExpert(modality="clinical", in_dim=3).set_input_scaling([0, 0, 0], [1, 1, 1])
    with pytest.raises(UsageError, match="positive scales"):
        expert.set_input_scaling(torch.zeros(p), torch.zeros(p))
    with pytest.raises(UsageError, match="list of instance bags"):
        expert({"pathology": torch.zeros(2, p)})


def test_a_mean_sd_pathology_expert_reads_bag_means_then_sds_and_round_trips():
    batch = _batch(6, seed=5)
    bags = batch["pathology"]
    p = next(b.shape[1] for b in bags if len(b))
    expert = LinearExpert(modality="pathology", in_dim=p, summary="mean_sd")
    assert expert.coef.shape == (3, 2 * p) and expert.input_center.shape == (2 * p,)
    g = torch.Generator().manual_seed(7)
    center, scale = torch.randn(2 * p, generator=g), torch.rand(2 * p, generator=g) + 0.5
    expert.set_input_scaling(center, scale)
    expert.set_coefficients("os", torch.randn(2 * p, generator=g))
    out = expert(batch)
    for i, bag in enumerate(bags):
        if len(bag):
            sd = (bag - bag.mean(dim=0)).pow(2).mean(dim=0).sqrt()   # population SD
            summary = torch.cat([bag.mean(dim=0), sd])
            assert torch.allclose(out.risk["os"][i], ((summary - center) / scale) @ expert.coef[0],
                                  atol=1e-5)
        else:
            assert torch.isnan(out.risk["os"][i])
    single = next(b for b in bags if len(b))[:1]                      # one tile: SD 0
    one = expert({"pathology": [single]})
    expected = ((torch.cat([single[0], torch.zeros(p)]) - center) / scale) @ expert.coef[0]
    assert torch.allclose(one.risk["os"][0], expected, atol=1e-5)
    config = json.loads(json.dumps(expert.config))
    assert config["linear"]["summary"] == "mean_sd"
    rebuilt = LinearExpert.from_config(config)
    rebuilt.load_state_dict(expert.state_dict(), strict=True)
    assert torch.equal(rebuilt(batch).risk["os"].nan_to_num(), out.risk["os"].nan_to_num())
    # a bundle saved before bag SDs existed names no summary: it read bag means
    old = LinearExpert.from_config({"linear": {"modality": "pathology", "in_dim": p}})
    assert old.summary == "mean" and old.coef.shape == (3, p)
    # a vector modality has no bag to summarise
    assert LinearExpert(modality="clinical", in_dim=3, summary="mean_sd").coef.shape == (3, 3)
    with pytest.raises(UsageError, match="'summary' parameter"):
        LinearExpert(modality="pathology", in_dim=p, summary="median")
    with pytest.raises(UsageError, match=f"{2 * p} finite coefficients"):
        expert.set_coefficients("pfs", torch.zeros(p))


def test_bad_linear_experts_are_usage_errors():
    fused = build_model(_config())
    linear = LinearExpert(modality="clinical", in_dim=3)
    with pytest.raises(UsageError, match="named after its modality"):
        ExpertsNet(fused, {"clinical": linear})
    with pytest.raises(UsageError, match="named after its modality"):
        ExpertsNet(fused, {"clinical_linear": build_model(_single("clinical"))})
    with pytest.raises(UsageError, match="must see 'clinical' only"):
        ExpertsNet(fused, {"clinical_linear": LinearExpert(modality="omics", in_dim=3)})
    with pytest.raises(UsageError, match="3 finite coefficients"):
        linear.set_coefficients("os", [1.0, float("nan"), 0.0])
    with pytest.raises(UsageError, match="output must be one of"):
        linear.set_coefficients("bor", [1.0, 0.0, 0.0])
    with pytest.raises(UsageError, match=r"batch\['clinical'\] of shape \[B, 3\]"):
        linear({"clinical": torch.zeros(2, 4)})
    with pytest.raises(UsageError, match="linear expert config"):
        LinearExpert.from_config({"linear": {"modality": "clinical"}})
    with pytest.raises(UsageError, match="linear expert config"):
        LinearExpert.from_config({"linear": {"modality": "clinical", "in_dim": 3, "x": 1}})


def _joint(p_clin, d_path, summary="mean_sd"):
    g = torch.Generator().manual_seed(7)
    expert = JointLinearExpert([{"modality": "clinical", "in_dim": p_clin},
                                {"modality": "pathology", "in_dim": d_path,
                                 "summary": summary}])
    width = p_clin + 2 * d_path
    expert.set_input_scaling("pathology", torch.randn(2 * d_path, generator=g),
                             torch.rand(2 * d_path, generator=g) + 0.5)
    expert.set_coefficients("os", torch.randn(width, generator=g))
    expert.set_coefficients("response", torch.randn(width, generator=g), intercept=-0.3)
    return expert.eval()


def test_a_joint_expert_reads_each_modality_as_its_own_expert_would_side_by_side():
    batch = _batch(8, seed=11)
    x, bags = batch["clinical"], batch["pathology"]
    expert = _joint(x.shape[1], D_PATH)
    assert expert.modalities == ("clinical", "pathology")
    reader = expert.readers[1]
    have = [i for i, b in enumerate(bags) if len(b)]
    sub = {"clinical": x[have], "pathology": [bags[i] for i in have]}
    summaries = torch.stack([torch.cat([bags[i].mean(0), bags[i].std(0, unbiased=False)])
                             for i in have])
    expected = torch.cat([x[have], (summaries - reader.input_center) / reader.input_scale], 1)
    assert torch.allclose(expert.features(sub), expected, atol=1e-5)
    out = expert(sub)
    assert torch.allclose(out.risk["os"], expected @ expert.coef[0], atol=1e-4)
    assert torch.allclose(out.response_logit, expected @ expert.coef[2] - 0.3, atol=1e-4)
    assert torch.isnan(out.risk["pfs"]).all()               # never fitted: no vote
    one = expert({"clinical": x[have[:1]], "pathology": [bags[have[0]]]})
    assert one.risk["os"].shape == (1,)                     # a batch of one
    rebuilt = build_net(json.loads(json.dumps(expert.config)))
    assert isinstance(rebuilt, JointLinearExpert)
    rebuilt.load_state_dict(expert.state_dict(), strict=True)
    assert torch.equal(rebuilt.eval()(sub).risk["os"], out.risk["os"])


def test_in_experts_a_joint_expert_votes_only_for_patients_with_all_its_modalities():
    torch.manual_seed(0)
    fused = build_model(_config())
    batch = _batch(12, seed=13)
    joint = _joint(batch["clinical"].shape[1], D_PATH)
    net = ExpertsNet(fused, {"clinical+pathology_linear": joint,
                             "clinical_linear": _linear(batch["clinical"].shape[1])}).eval()
    assert list(net.experts) == ["clinical_linear", "clinical+pathology_linear"]
    with torch.no_grad():
        _, values = net.component_values(batch)
    both = batch["available"][:, 0] & batch["available"][:, 2]
    assert bool(both.any()) and not bool(both.all())
    assert torch.isnan(values[2, ~both]).all()
    with torch.no_grad():
        direct = joint({"clinical": batch["clinical"][both],
                        "pathology": [b for b, k in zip(batch["pathology"], both) if k]})
    assert torch.allclose(values[2, both, 0], direct.risk["os"], atol=1e-6)
    # hiding pathology (an ablation) silences it
    hidden = dict(batch, available=batch["available"].clone())
    hidden["available"][:, 2] = False
    with torch.no_grad():
        _, values = net.component_values(hidden)
    assert torch.isnan(values[2]).all()
    rebuilt = build_net(json.loads(json.dumps(net.config)))
    rebuilt.load_state_dict(net.state_dict(), strict=True)
    with torch.no_grad():
        for a, b in zip(net(batch).risk.values(), rebuilt.eval()(batch).risk.values(),
                        strict=True):
            assert torch.equal(a, b)


def test_bad_joint_linear_experts_are_usage_errors():
    fused = build_model(_config())
    part = {"modality": "clinical", "in_dim": 3}
    with pytest.raises(UsageError, match="at least two parts"):
        JointLinearExpert([part])
    with pytest.raises(UsageError, match="each modality once"):
        JointLinearExpert([part, part])
    joint = JointLinearExpert([part, {"modality": "omics", "in_dim": 2}])
    with pytest.raises(UsageError, match="named after its modality"):
        ExpertsNet(fused, {"clinical_linear": joint})
    with pytest.raises(UsageError, match="must see 'clinical', 'pathology' only"):
        ExpertsNet(fused, {"clinical+pathology_linear": joint})
    config = _config()
    del config["modalities"]["omics"]
    with pytest.raises(UsageError, match="reads 'omics', which is not one of the fused net"):
        ExpertsNet(build_model(config), {"clinical+omics_linear": joint})
    with pytest.raises(UsageError, match="reads .'clinical', 'omics'., not 'pathology'"):
        joint.set_input_scaling("pathology", [0.0], [1.0])
    with pytest.raises(UsageError, match="joint linear expert config"):
        JointLinearExpert.from_config({"linear_joint": [part], "x": 1})
    with pytest.raises(UsageError, match="5 finite coefficients"):
        joint.set_coefficients("os", [1.0, 0.0])
