"""Fusions under missing modalities: an unavailable modality is truly ignored, and each fusion
computes its documented formula (known answers on hand-set weights)."""

from __future__ import annotations

import math

import pytest
import torch

from hccfusion.models.fusion import FUSIONS
from hccfusion.models.multimodal import build_model
from hccfusion.models.registry import get_fusion

M, D = 3, 4
FUSION_NAMES = sorted(FUSIONS)


def _fusion(name, **kw):
    torch.manual_seed(0)
    return get_fusion(name, n_modalities=M, dim=D, dropout=0.0, **kw).eval()


def _inputs(b=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(b, M, D, generator=g)
    available = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, 1], [0, 0, 1]],
                             dtype=torch.bool)[:b]
    return embeddings, available


@pytest.mark.parametrize("name", FUSION_NAMES)
@pytest.mark.parametrize("replacement", ["random", "nan", "huge"])
def test_changing_an_unavailable_embedding_does_not_change_the_output(name, replacement):
    fusion = _fusion(name)
    embeddings, available = _inputs()
    changed = embeddings.clone()
    fill = {"random": torch.randn(int((~available).sum()), D) * 10.0,
            "nan": torch.full((int((~available).sum()), D), float("nan")),
            "huge": torch.full((int((~available).sum()), D), 1e30)}[replacement]
    changed[~available] = fill
    out, out_changed = fusion(embeddings, available), fusion(changed, available)
    assert torch.equal(out.fused, out_changed.fused)
    if out.weights is not None:
        assert torch.equal(out.weights, out_changed.weights)


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_each_patient_is_fused_on_its_own(name):
    fusion = _fusion(name)
    embeddings, available = _inputs()
    together = fusion(embeddings, available).fused
    for i in range(embeddings.shape[0]):
        alone = fusion(embeddings[i:i + 1], available[i:i + 1]).fused
        assert torch.allclose(alone[0], together[i], atol=1e-5)


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_an_available_modality_does_change_the_output(name):
    fusion = _fusion(name)
    embeddings, available = _inputs()
    changed = embeddings.clone()
    changed[available] += torch.randn(int(available.sum()), D)
    assert not torch.allclose(fusion(embeddings, available).fused,
                              fusion(changed, available).fused)


@pytest.mark.parametrize("name", ["gated", "cross_attention"])
def test_attention_weights_of_missing_modalities_are_exactly_zero(name):
    embeddings, available = _inputs()
    weights = _fusion(name)(embeddings, available).weights
    assert (weights[~available] == 0).all()
    assert (weights[available] > 0).all()
    assert torch.allclose(weights.sum(1), torch.ones(len(weights)))


def test_late_fusion_sees_missingness_rather_than_zero_imputation():
    # a missing modality is not the same as an available one with a zero embedding
    fusion = _fusion("late")
    embeddings, available = _inputs()
    zeroed = torch.where(available[:, :, None], embeddings, torch.zeros_like(embeddings))
    everything = torch.ones_like(available)
    assert not torch.allclose(fusion(embeddings, available).fused,
                              fusion(zeroed, everything).fused)


def test_late_fusion_known_answer():
    fusion = get_fusion("late", n_modalities=2, dim=2, dropout=0.0, out_dim=1)
    with torch.no_grad():
        # inputs: z_1 (2), z_2 (2), a_1, a_2
        fusion.linear.weight.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0, 10.0, 20.0]]))
        fusion.linear.bias.fill_(0.5)
    z = torch.tensor([[[1.0, 1.0], [2.0, -1.0]]])
    both = fusion(z, torch.tensor([[True, True]])).fused
    only_first = fusion(z, torch.tensor([[True, False]])).fused
    assert both.item() == pytest.approx(1 + 2 + 6 - 4 + 10 + 20 + 0.5)
    assert only_first.item() == pytest.approx(1 + 2 + 10 + 0.5)


def test_gated_fusion_with_flat_scores_is_the_mean_of_the_available():
    fusion = _fusion("gated")
    with torch.no_grad():
        fusion.attention_w.weight.zero_()
    embeddings, available = _inputs()
    out = fusion(embeddings, available)
    mean = (embeddings * available[:, :, None]).sum(1) / available.sum(1, keepdim=True)
    assert torch.allclose(out.fused, mean, atol=1e-6)
    expected = available.float() / available.sum(1, keepdim=True)
    assert torch.allclose(out.weights, expected)


def test_gated_fusion_known_weights_from_modality_offsets():
    fusion = _fusion("gated")
    with torch.no_grad():
        fusion.attention_w.weight.zero_()
        fusion.modality_offset.copy_(torch.tensor([0.0, math.log(3.0), 5.0]))
    embeddings, _ = _inputs(1)
    out = fusion(embeddings, torch.tensor([[True, True, False]]))
    assert out.weights[0].tolist() == pytest.approx([0.25, 0.75, 0.0])
    assert torch.allclose(out.fused[0], 0.25 * embeddings[0, 0] + 0.75 * embeddings[0, 1])


def test_kronecker_rank_one_known_answer():
    # rank 1, D = 1, out = 1: fused = λ (a_1 z_1 + c_1)(a_2 z_2 + c_2) + b — the Kronecker
    # product [z_1, 1] ⊗ [z_2, 1] = [z_1 z_2, z_1, z_2, 1] under the weight [a_1 a_2, a_1 c_2,
    # c_1 a_2, c_1 c_2]
    fusion = get_fusion("kronecker", n_modalities=2, dim=1, dropout=0.0, rank=1, out_dim=1)
    with torch.no_grad():
        fusion.factors.copy_(torch.tensor([[[[2.0], [3.0]]], [[[5.0], [7.0]]]]))
        fusion.rank_weights.fill_(0.5)
        fusion.bias.fill_(1.0)
    z = torch.tensor([[[1.5], [-2.0]]])
    both = fusion(z, torch.tensor([[True, True]])).fused.item()
    assert both == pytest.approx(0.5 * (2 * 1.5 + 3) * (5 * -2.0 + 7) + 1.0)
    # a missing modality contributes its constant-1 term only (the factors' bias row)
    first_only = fusion(z, torch.tensor([[True, False]])).fused.item()
    assert first_only == pytest.approx(0.5 * (2 * 1.5 + 3) * 7 + 1.0)
    second_only = fusion(z, torch.tensor([[False, True]])).fused.item()
    assert second_only == pytest.approx(0.5 * 3 * (5 * -2.0 + 7) + 1.0)


def test_kronecker_missing_equals_a_zero_embedding():
    fusion = _fusion("kronecker")
    embeddings, available = _inputs()
    zeroed = torch.where(available[:, :, None], embeddings, torch.zeros_like(embeddings))
    assert torch.allclose(fusion(embeddings, available).fused,
                          fusion(zeroed, torch.ones_like(available)).fused, atol=1e-6)


def test_cross_attention_single_modality_output_ignores_the_others():
    fusion = _fusion("cross_attention", n_layers=2)
    embeddings, _ = _inputs(2)
    only_second = torch.tensor([[False, True, False]] * 2)
    other = embeddings.clone()
    other[:, 1] = embeddings[1, 1]
    out = fusion(embeddings, only_second).fused
    # both patients carry modality 1 of patient 1 in `other`: identical outputs
    same = fusion(other, only_second).fused
    assert torch.allclose(same[0], same[1], atol=1e-6)
    assert torch.allclose(same[1], out[1], atol=1e-6)


CONFIG = {
    "modalities": {"clinical": {"encoder": "tabular", "in_dim": 3, "hidden": [4]},
                   "radiomics": {"encoder": "tabular", "in_dim": 5},
                   "pathology": {"encoder": "mil", "pooler": "mean", "in_dim": 2},
                   "omics": {"encoder": "pathway_tokens", "in_dim": 3}},
    "embed_dim": 4, "dropout": 0.0,
    "heads": {"os": {"kind": "discrete", "n_bins": 3}, "response": True, "bor": True},
}


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_the_net_ignores_the_inputs_of_unavailable_modalities(name):
    torch.manual_seed(0)
    net = build_model({**CONFIG, "fusion": {"name": name}}).eval()
    g = torch.Generator().manual_seed(1)
    available = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]], dtype=torch.bool)
    batch = {"clinical": torch.randn(3, 3, generator=g),
             "radiomics": torch.randn(3, 5, generator=g), "omics": torch.randn(3, 3, generator=g),
             "pathology": [torch.randn(2, 2, generator=g), torch.zeros(0, 2),
                           torch.zeros(0, 2)],
             "available": available}
    changed = {**batch, "radiomics": batch["radiomics"].clone(), "omics": batch["omics"].clone(),
               "clinical": batch["clinical"].clone(),
               "pathology": [batch["pathology"][0], torch.randn(3, 2, generator=g),
                             torch.randn(1, 2, generator=g)]}
    changed["radiomics"][0] = 100.0
    changed["omics"][0] = -7.0
    changed["omics"][2] = float("nan")
    changed["clinical"][1] = 3.0
    out, out_changed = net(batch), net(changed)
    assert torch.equal(out.risk["os"], out_changed.risk["os"])
    assert torch.equal(out.response_logit, out_changed.response_logit)
    assert torch.equal(out.bor_logits, out_changed.bor_logits)


def test_nan_in_an_unavailable_row_does_not_poison_the_gradients():
    torch.manual_seed(0)
    net = build_model({**CONFIG, "fusion": {"name": "late"}}).train()
    available = torch.tensor([[1, 0, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    radiomics = torch.randn(2, 5)
    radiomics[0] = float("nan")
    batch = {"clinical": torch.randn(2, 3), "radiomics": radiomics, "omics": torch.randn(2, 3),
             "pathology": [torch.randn(2, 2), torch.zeros(0, 2)], "available": available}
    out = net(batch)
    (out.risk["os"].sum() + out.response_logit.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
