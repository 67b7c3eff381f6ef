"""Modality experts: the fused net averaged with single-modality nets on a common scale."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from hccfusion.errors import UsageError  # noqa: E402
from hccfusion.models.ensemble import EnsembleNet  # noqa: E402
from hccfusion.models.experts import COMBINED_OUTPUTS, ExpertsNet, build_net  # noqa: E402
from hccfusion.models.multimodal import build_model  # noqa: E402
from tests.models.test_conformance import _batch, _config  # noqa: E402

MODALITIES = ("clinical", "radiomics", "pathology", "omics")


def _single(name):
    config = _config()
    config["modalities"] = {name: config["modalities"][name]}
    return config


def _experts(names=("clinical", "pathology"), ensemble=False):
    torch.manual_seed(0)
    fused = build_model(_config())
    if ensemble:
        fused = EnsembleNet([fused, build_model(_config())])
    net = ExpertsNet(fused, {n: build_model(_single(n)) for n in names}).eval()
    g = torch.Generator().manual_seed(3)
    net.set_scales(torch.randn(1 + len(names), 3, generator=g),
                   torch.rand(1 + len(names), 3, generator=g) + 0.5)
    return net


def _by_hand(net, batch):
    """The documented combination, written out per patient."""
    out = net.fused(batch)
    b = batch["available"].shape[0]
    rows = []
    for i in range(b):
        zs = []
        comps = [("fused", out)] + [(n, None) for n in net.experts]
        for c, (name, _) in enumerate(comps):
            if name == "fused":
                v = torch.stack([out.risk["os"][i], out.risk["pfs"][i], out.response_logit[i]])
            else:
                m = MODALITIES.index(name)
                if not bool(batch["available"][i, m]):
                    continue
                sub = {"available": batch["available"][i:i + 1, m:m + 1],
                       "treatment": batch["treatment"][i:i + 1]}
                x = batch[name]
                sub[name] = [x[i]] if isinstance(x, list) else x[i:i + 1]
                if f"{name}_groups" in batch:
                    sub[f"{name}_groups"] = [batch[f"{name}_groups"][i]]
                e = net.experts[name](sub)
                v = torch.stack([e.risk["os"][0], e.risk["pfs"][0], e.response_logit[0]])
            zs.append((v - net.center[c]) / net.scale[c])
        rows.append(net.center[0] + net.scale[0] * torch.stack(zs).mean(dim=0))
    return torch.stack(rows)


@pytest.mark.parametrize("ensemble", [False, True])
def test_combination_is_the_scaled_mean_over_the_components_a_patient_has(ensemble):
    net = _experts(ensemble=ensemble)
    batch = _batch(9, seed=4)
    assert (~batch["available"][:, 2]).any() and batch["available"][:, 2].any()
    out = net(batch)
    expected = _by_hand(net, batch)
    got = torch.stack([out.risk["os"], out.risk["pfs"], out.response_logit], dim=1)
    assert torch.allclose(got, expected, atol=1e-5)
    # what is not combined is the fused net's
    fused = net.fused(batch)
    assert torch.equal(out.bor_logits, fused.bor_logits)
    assert torch.equal(out.hazard_logits["os"], fused.hazard_logits["os"])
    assert torch.equal(out.available, batch["available"])


def test_an_expert_does_not_vote_for_a_patient_without_its_modality():
    net = _experts()
    available = torch.ones(4, 4, dtype=torch.bool)
    available[0, 2] = False
    batch = _batch(4, seed=5, available=available)
    base = net(batch)
    moved = dict(batch)
    moved["pathology"] = [bag + 3.0 for bag in batch["pathology"]]
    moved["pathology"][0] = batch["pathology"][0]
    out = net(moved)
    assert torch.equal(out.risk["os"][0], base.risk["os"][0])
    assert not torch.allclose(out.risk["os"][1:], base.risk["os"][1:])


def test_hiding_a_modality_hides_its_expert_too():
    net = _experts(names=("pathology",))
    batch = _batch(5, seed=6, available=torch.ones(5, 4, dtype=torch.bool))
    hidden = dict(batch)
    hidden["available"] = batch["available"].clone()
    hidden["available"][:, 2] = False
    out = net(hidden)
    # with pathology hidden only the fused net votes: its own values come back unchanged
    fused = net.fused(hidden)
    assert torch.allclose(out.risk["pfs"], fused.risk["pfs"], atol=1e-5)
    assert torch.allclose(out.response_logit, fused.response_logit, atol=1e-5)


def test_config_rebuilds_the_same_net_and_scales_travel_in_the_state_dict():
    net = _experts(ensemble=True)
    config = json.loads(json.dumps(net.config))
    rebuilt = build_net(config)
    assert isinstance(rebuilt, ExpertsNet) and list(rebuilt.experts) == ["clinical", "pathology"]
    rebuilt.load_state_dict(net.state_dict(), strict=True)
    rebuilt.eval()
    batch = _batch(6, seed=7)
    for a, b in zip(net(batch).risk.values(), rebuilt(batch).risk.values(), strict=True):
        assert torch.equal(a, b)
    assert net.center.shape == (3, len(COMBINED_OUTPUTS))


def test_set_scales_treats_a_zero_or_undefined_sd_as_one():
    net = _experts(names=("clinical",))
    net.set_scales(torch.zeros(2, 3), torch.tensor([[0.0, float("nan"), 2.0], [1.0, 1.0, 1.0]]))
    assert net.scale[0].tolist() == [1.0, 1.0, 2.0]
    with pytest.raises(UsageError, match=r"shape \(2, 3\)"):
        net.set_scales(torch.zeros(3, 3), torch.ones(3, 3))


def test_gradient_reaches_every_parameter():
    net = _experts().train()
    out = net(_batch(6, seed=8, available=torch.ones(6, 4, dtype=torch.bool)))
    (out.risk["os"].sum() + out.risk["pfs"].sum() + out.response_logit.sum()
     + out.bor_logits.sum()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    # the experts' ordinal heads are trained but not combined (best response is the fused net's)
    assert missing and all(n.startswith("experts.") and ".heads.bor." in n for n in missing)


@pytest.mark.parametrize("experts, pattern", [
    ({"pathology": "clinical"}, r"Expert 'pathology' must see 'pathology' only"),
])
def test_bad_experts_are_usage_errors(experts, pattern):
    fused = build_model(_config())
    with pytest.raises(UsageError, match=pattern):
        ExpertsNet(fused, {k: build_model(_single(v)) for k, v in experts.items()})
    config = _config()
    del config["modalities"]["omics"]
    with pytest.raises(UsageError, match=r"Expert 'omics' is not one of the fused net"):
        ExpertsNet(build_model(config), {"omics": build_model(_single("omics"))})
    with pytest.raises(UsageError, match=r"exactly the keys 'fused' and 'experts'"):
        build_net({"experts": {}, "fused": _config(), "extra": 1})


def test_a_component_with_zero_weight_has_no_say_and_all_zero_falls_back_to_the_fused_net():
    net = _experts(names=("clinical", "pathology"))
    batch = _batch(7, seed=9, available=torch.ones(7, 4, dtype=torch.bool))
    center, scale = net.center.clone(), net.scale.clone()
    only_clinical = _experts(names=("clinical",))
    only_clinical.set_scales(center[:2], scale[:2], torch.tensor([[2.0, 1.0, 0.5]] * 2))
    net.set_scales(center, scale, torch.tensor([[2.0, 1.0, 0.5], [2.0, 1.0, 0.5],
                                                [0.0, 0.0, 0.0]]))
    a, b = net(batch), only_clinical(batch)
    assert torch.allclose(a.risk["os"], b.risk["os"], atol=1e-5)
    assert torch.allclose(a.response_logit, b.response_logit, atol=1e-5)
    # weights 3:1 between fused and clinical expert, on the common scale
    net.set_scales(center, scale, torch.tensor([[3.0] * 3, [1.0] * 3, [0.0] * 3]))
    _, values = net.component_values(batch)
    z = (values[:2] - center[:2, None]) / scale[:2, None]
    expected = center[0] + scale[0] * (0.75 * z[0] + 0.25 * z[1])
    assert torch.allclose(net(batch).risk["pfs"], expected[:, 1], atol=1e-5)
    # no skill anywhere: the fused net's own values
    net.set_scales(center, scale, torch.zeros(3, 3))
    fused = net.fused(batch)
    assert torch.allclose(net(batch).risk["os"], fused.risk["os"], atol=1e-5)
    with pytest.raises(UsageError, match="weights must be >= 0"):
        net.set_scales(center, scale, -torch.ones(3, 3))


def test_os_values_vote_for_pfs_with_their_own_weight():
    net = _experts(names=("clinical", "pathology"))
    available = torch.ones(8, 4, dtype=torch.bool)
    available[:3, 2] = False                       # no slide: the pathology expert is silent
    batch = _batch(8, seed=11, available=available)
    center, scale = net.center.clone(), net.scale.clone()
    weight = torch.tensor([[2.0, 1.0, 0.5], [1.0, 0.5, 1.0], [0.5, 2.0, 1.0]])
    cross = torch.tensor([0.0, 1.5, 1.0])
    plain = _experts(names=("clinical", "pathology"))
    plain.set_scales(center, scale, weight)
    net.set_scales(center, scale, weight, cross)
    got, base = net(batch), plain(batch)
    assert torch.equal(got.risk["os"], base.risk["os"])          # only PFS takes the vote
    assert torch.equal(got.response_logit, base.response_logit)
    _, values = net.component_values(batch)
    z = (values - center[:, None]) / scale[:, None]                # [3, B, 3]
    w_pfs = torch.where(torch.isnan(z[..., 1]), torch.zeros(3, 8), weight[:, 1:2])
    w_os = torch.where(torch.isnan(z[..., 0]), torch.zeros(3, 8), cross[:, None])
    num = (torch.nan_to_num(z[..., 1]) * w_pfs).sum(0) + (torch.nan_to_num(z[..., 0]) * w_os).sum(0)
    expected = center[0, 1] + scale[0, 1] * num / (w_pfs.sum(0) + w_os.sum(0))
    assert torch.allclose(got.risk["pfs"], expected, atol=1e-5)
    assert not torch.allclose(got.risk["pfs"], base.risk["pfs"], atol=1e-4)
    # PFS votes all 0 but an OS vote left: that vote decides, not the fused net's fallback
    net.set_scales(center, scale, torch.tensor([[1.0, 0.0, 1.0]] * 3), torch.tensor([0., 1., 0.]))
    clinical_os = z[1, :, 0]
    assert torch.allclose(net(batch).risk["pfs"], center[0, 1] + scale[0, 1] * clinical_os,
                          atol=1e-5)
    with pytest.raises(UsageError, match="os_for_pfs"):
        net.set_scales(center, scale, weight, -cross)


def test_a_state_dict_from_before_the_os_vote_loads_without_it():
    net = _experts(ensemble=True)
    net.set_scales(net.center, net.scale, None, torch.tensor([0.3, 0.2, 0.1]))
    old = {k: v for k, v in net.state_dict().items() if k != "os_for_pfs"}
    rebuilt = build_net(json.loads(json.dumps(net.config)))
    rebuilt.load_state_dict(old, strict=True)
    assert torch.equal(rebuilt.os_for_pfs, torch.zeros(3))
    net.set_scales(net.center, net.scale)                # default: no OS vote
    batch = _batch(5, seed=12)
    assert torch.equal(rebuilt.eval()(batch).risk["pfs"], net(batch).risk["pfs"])
