"""The shared suite every registered modality encoder, fusion and head passes, alone and inside
the multimodal net (STYLE.md habit 8; MONAI-style shape / bad-argument tests)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hccfusion.errors import DataError, UsageError
from hccfusion.models.encoders import EncoderOutput, TreatmentFiLM
from hccfusion.models.fusion import FusionOutput
from hccfusion.models.heads import SurvivalOutput
from hccfusion.models.multimodal import MultimodalNet, MultimodalOutput, build_model
from hccfusion.models.registry import (
    FUSIONS,
    HEADS,
    MODALITY_ENCODERS,
    get_encoder,
    get_fusion,
    get_head,
)

D = 8
IN_DIM = 6

ENCODER_CASES = [
    ("tabular", {"hidden": [8]}),
    ("tabular", {"hidden": []}),
    ("mil", {"pooler": "abmil"}),
    ("mil", {"pooler": "mean"}),
    ("mil", {"pooler": "transmil", "n_landmarks": 4}),
    ("mil", {"pooler": "abmil", "hidden_dim": 5}),
    ("pathway_tokens", {}),
    ("pathway_tokens", {"n_layers": 2, "n_heads": 4}),
]
HEAD_CASES = [
    ("survival", {"kind": "discrete", "n_bins": 5}),
    ("survival", {"kind": "cox"}),
    ("response", {}),
    ("ordinal", {}),
    ("ordinal", {"n_classes": 3}),
]
FUSION_NAMES = sorted(FUSIONS)


def _case_id(case):
    name, kw = case
    return name + "".join(f"-{k}={v}" for k, v in kw.items())


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: thread hand-offs cost more than they save on a shared 2-core machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_suite_covers_every_registered_entry():
    assert {name for name, _ in ENCODER_CASES} == set(MODALITY_ENCODERS)
    assert {name for name, _ in HEAD_CASES} == set(HEADS)
    assert set(FUSION_NAMES) == {"late", "gated", "kronecker", "cross_attention"}


def test_importing_the_package_and_registries_does_not_import_torch():
    code = ("import sys, hccfusion.models, hccfusion.models.registry as r; "
            "r.MODALITY_ENCODERS, r.FUSIONS, r.HEADS; "
            "import hccfusion.models as m; m.FUSIONS; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --------------------------------------------------------------------------- encoders


def _encoder(case, dropout=0.0):
    name, kw = case
    torch.manual_seed(0)
    return get_encoder(name, in_dim=IN_DIM, embed_dim=D, dropout=dropout, **kw)


def _encoder_input(encoder, b, seed=0, empty=()):
    g = torch.Generator().manual_seed(seed)
    if encoder.input_kind == "bags":
        sizes = [0 if i in empty else 1 + i % 4 for i in range(b)]
        bags = [torch.randn(n, IN_DIM, generator=g) for n in sizes]
        groups = [torch.randint(0, 2, (n,), generator=g) for n in sizes]
        return (bags, groups)
    return (torch.randn(b, IN_DIM, generator=g),)


@pytest.mark.parametrize("case", ENCODER_CASES, ids=_case_id)
@pytest.mark.parametrize("b", [1, 4])
def test_encoder_output_shape_and_finite(case, b):
    encoder = _encoder(case).eval()
    assert encoder.in_dim == IN_DIM and encoder.out_dim == D
    out = encoder(*_encoder_input(encoder, b))
    assert isinstance(out, EncoderOutput)
    assert out.embedding.shape == (b, D)
    assert torch.isfinite(out.embedding).all()
    if encoder.input_kind == "bags":
        assert [a.shape[0] for a in out.instance_attention] == [1 + i % 4 for i in range(b)]
        assert all(float(a.detach().sum()) == pytest.approx(1.0, abs=1e-5)
                   for a in out.instance_attention)
    if case[0] == "pathway_tokens":
        assert out.token_attention.shape == (b, IN_DIM)
        assert torch.allclose(out.token_attention.sum(1), torch.ones(b))


@pytest.mark.parametrize("case", ENCODER_CASES, ids=_case_id)
def test_encoder_gradient_reaches_every_parameter(case):
    encoder = _encoder(case, dropout=0.1).train()
    out = encoder(*_encoder_input(encoder, 4))
    out.embedding.sum().backward()
    for name, param in encoder.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    assert any(float(p.grad.abs().sum()) > 0 for p in encoder.parameters())


@pytest.mark.parametrize("case", ENCODER_CASES, ids=_case_id)
def test_encoder_eval_is_deterministic_and_train_repeats_under_a_seed(case):
    encoder = _encoder(case, dropout=0.3)
    inputs = _encoder_input(encoder, 4)
    encoder.eval()
    assert torch.equal(encoder(*inputs).embedding, encoder(*inputs).embedding)
    encoder.train()
    torch.manual_seed(5)
    first = encoder(*inputs).embedding
    torch.manual_seed(5)
    assert torch.equal(first, encoder(*inputs).embedding)


@pytest.mark.parametrize("case", [c for c in ENCODER_CASES if c[0] == "mil"], ids=_case_id)
def test_mil_encoder_gives_a_zero_row_for_an_empty_bag(case):
    encoder = _encoder(case).eval()
    bags, groups = _encoder_input(encoder, 3, empty=(1,))
    out = encoder(bags, groups)
    assert torch.equal(out.embedding[1], torch.zeros(D))
    assert out.instance_attention[1].shape == (0,)
    assert not torch.equal(out.embedding[0], torch.zeros(D))
    # the other patients do not depend on the empty one being there
    alone = encoder([bags[0]], [groups[0]])
    assert torch.allclose(alone.embedding[0], out.embedding[0], atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(1, 12))
def test_mil_encoder_is_invariant_to_instance_order(seed, n):
    encoder = _encoder(("mil", {"pooler": "abmil"})).eval()
    g = torch.Generator().manual_seed(seed)
    bag, groups = torch.randn(n, IN_DIM, generator=g), torch.randint(0, 3, (n,), generator=g)
    perm = torch.randperm(n, generator=g)
    out = encoder([bag], [groups])
    shuffled = encoder([bag[perm]], [groups[perm]])
    assert torch.allclose(out.embedding, shuffled.embedding, atol=1e-5)
    assert torch.allclose(out.instance_attention[0][perm], shuffled.instance_attention[0],
                          atol=1e-6)


def test_unknown_encoder_suggests_the_nearest():
    with pytest.raises(UsageError, match=r"unknown modality encoder 'tabluar'; did you mean "
                                         r"'tabular'\? Available: tabular, mil, pathway_tokens"):
        get_encoder("tabluar", in_dim=3, embed_dim=4)


@pytest.mark.parametrize("case", ENCODER_CASES, ids=_case_id)
@pytest.mark.parametrize("kw, pattern", [
    ({"in_dim": 0}, r"The 'in_dim' parameter of get_encoder\('\w+'\) must be a positive int\. "
                    r"Got 0 instead\."),
    ({"embed_dim": 2.5}, r"The 'embed_dim' parameter of .* must be a positive int\. Got 2\.5"),
    ({"dropout": 1.0}, r"The 'dropout' parameter of .* must be a float in \[0, 1\)\. Got 1\.0"),
    ({"hiden": [4]}, r"options of .*'hiden'"),
])
def test_encoder_bad_arguments_are_usage_errors(case, kw, pattern):
    name, extra = case
    args = {"in_dim": IN_DIM, "embed_dim": D, "dropout": 0.0, **extra, **kw}
    with pytest.raises(UsageError, match=pattern):
        get_encoder(name, **args)


def test_unknown_option_names_the_key_and_the_nearest():
    with pytest.raises(UsageError, match=r"Got unknown option 'hiden' instead; did you mean "
                                         r"'hidden'\?"):
        get_encoder("tabular", in_dim=3, embed_dim=4, hiden=[4])


@pytest.mark.parametrize("kw, pattern", [
    ({"hidden": "32"}, r"The 'hidden' parameter of TabularEncoder must be a list"),
    ({"hidden": [0]}, r"The 'hidden' parameter of TabularEncoder must be a positive int"),
])
def test_tabular_bad_hidden(kw, pattern):
    with pytest.raises(UsageError, match=pattern):
        get_encoder("tabular", in_dim=3, embed_dim=4, **kw)


def test_pathway_heads_must_divide_the_width():
    with pytest.raises(UsageError, match=r"The 'n_heads' parameter of PathwayTokenEncoder must "
                                         r"be a positive int that divides embed_dim=6\. Got 4"):
        get_encoder("pathway_tokens", in_dim=3, embed_dim=6, n_heads=4)


@pytest.mark.parametrize("case", ENCODER_CASES, ids=_case_id)
def test_encoder_wrong_input_names_the_expected_shape(case):
    encoder = _encoder(case)
    if encoder.input_kind == "bags":
        with pytest.raises(UsageError, match=rf"Bag 1 .* must be a tensor of shape "
                                             rf"\[N, {IN_DIM}\]\. Got \(3, 2\)"):
            encoder([torch.randn(2, IN_DIM), torch.randn(3, 2)])
        with pytest.raises(UsageError, match=r"must be a non-empty list"):
            encoder(torch.randn(2, IN_DIM))
    else:
        with pytest.raises(UsageError, match=rf"must be a float tensor of shape \[B, {IN_DIM}\]"
                                             rf"\. Got \(2, 3\)"):
            encoder(torch.randn(2, 3))


# --------------------------------------------------------------------------- fusions

M = 3


def _fusion(name, dropout=0.0):
    torch.manual_seed(0)
    return get_fusion(name, n_modalities=M, dim=D, dropout=dropout)


def _fusion_input(b, seed=0):
    g = torch.Generator().manual_seed(seed)
    available = torch.rand(b, M, generator=g) < 0.6
    available[torch.arange(b), torch.randint(0, M, (b,), generator=g)] = True
    return torch.randn(b, M, D, generator=g), available


@pytest.mark.parametrize("name", FUSION_NAMES)
@pytest.mark.parametrize("b", [1, 5])
def test_fusion_output_shape_and_weights(name, b):
    fusion = _fusion(name).eval()
    embeddings, available = _fusion_input(b)
    out = fusion(embeddings, available)
    assert isinstance(out, FusionOutput)
    assert out.fused.shape == (b, fusion.out_dim)
    assert torch.isfinite(out.fused).all()
    if out.weights is not None:
        assert out.weights.shape == (b, M)
        assert torch.allclose(out.weights.sum(1), torch.ones(b), atol=1e-6)
        assert (out.weights[~available] == 0).all()


@pytest.mark.parametrize("name", FUSION_NAMES)
@pytest.mark.parametrize("kept", range(M))
def test_fusion_with_all_but_one_modality_missing(name, kept):
    fusion = _fusion(name).eval()
    embeddings, _ = _fusion_input(4)
    available = torch.zeros(4, M, dtype=torch.bool)
    available[:, kept] = True
    out = fusion(embeddings, available)
    assert out.fused.shape == (4, fusion.out_dim) and torch.isfinite(out.fused).all()
    if out.weights is not None:
        expected = torch.zeros(4, M)
        expected[:, kept] = 1.0
        assert torch.allclose(out.weights, expected, atol=1e-6)
    # the output still depends on the one remaining modality (not a constant shift, which
    # LayerNorm would remove)
    moved = embeddings.clone()
    moved[:, kept] += torch.linspace(-1.0, 1.0, D)
    assert not torch.allclose(fusion(moved, available).fused, out.fused)


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_fusion_gradient_reaches_every_parameter(name):
    fusion = _fusion(name, dropout=0.1).train()
    embeddings, available = _fusion_input(6)
    embeddings.requires_grad_(True)
    out = fusion(embeddings, available)
    loss = out.fused.sum() + (0 if out.weights is None
                              else (out.weights * torch.arange(float(M))).sum())
    loss.backward()
    for param_name, param in fusion.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
    assert any(float(p.grad.abs().sum()) > 0 for p in fusion.parameters())
    assert float(embeddings.grad[available].abs().sum()) > 0


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_fusion_eval_is_deterministic_and_train_repeats_under_a_seed(name):
    fusion = _fusion(name, dropout=0.3)
    embeddings, available = _fusion_input(5)
    fusion.eval()
    assert torch.equal(fusion(embeddings, available).fused, fusion(embeddings, available).fused)
    fusion.train()
    torch.manual_seed(3)
    first = fusion(embeddings, available).fused
    torch.manual_seed(3)
    assert torch.equal(first, fusion(embeddings, available).fused)


def test_unknown_fusion_suggests_the_nearest():
    with pytest.raises(UsageError, match=r"unknown fusion 'gatted'; did you mean 'gated'\? "
                                         r"Available: late, gated, kronecker, cross_attention"):
        get_fusion("gatted", n_modalities=2, dim=4)


@pytest.mark.parametrize("name", FUSION_NAMES)
@pytest.mark.parametrize("kw, pattern", [
    ({"n_modalities": 0}, r"The 'n_modalities' parameter of get_fusion\('\w+'\) must be a "
                          r"positive int\. Got 0 instead\."),
    ({"dim": -1}, r"The 'dim' parameter of .* must be a positive int"),
    ({"dropout": -0.1}, r"The 'dropout' parameter of .* must be a float in \[0, 1\)"),
    ({"rnk": 2}, r"Got unknown option 'rnk' instead"),
])
def test_fusion_bad_arguments_are_usage_errors(name, kw, pattern):
    args = {"n_modalities": M, "dim": D, "dropout": 0.0, **kw}
    with pytest.raises(UsageError, match=pattern):
        get_fusion(name, **args)


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_fusion_bad_inputs(name):
    fusion = _fusion(name)
    embeddings, available = _fusion_input(2)
    with pytest.raises(UsageError, match=rf"'embeddings' .* \[B, {M}, {D}\]\. Got \(2, {M}, 3\)"):
        fusion(embeddings[:, :, :3], available)
    with pytest.raises(UsageError, match=rf"'available' .* bool tensor of shape \[2, {M}\]"):
        fusion(embeddings, available.float())
    available[1] = False
    with pytest.raises(DataError, match=r"Row 1 of 'available' has no available modality"):
        fusion(embeddings, available)


def test_cross_attention_heads_must_divide_the_width():
    with pytest.raises(UsageError, match=r"'n_heads' parameter of CrossAttentionFusion must be "
                                         r"a positive int that divides dim=8\. Got 3"):
        get_fusion("cross_attention", n_modalities=2, dim=8, n_heads=3)


# --------------------------------------------------------------------------- heads


def _head(case):
    name, kw = case
    torch.manual_seed(0)
    return get_head(name, in_dim=D, **kw)


def _head_tensors(out):
    if isinstance(out, SurvivalOutput):
        return [out.risk] + ([] if out.hazard_logits is None else [out.hazard_logits])
    return [out]


@pytest.mark.parametrize("case", HEAD_CASES, ids=_case_id)
@pytest.mark.parametrize("b", [1, 4])
def test_head_output_shapes(case, b):
    name, kw = case
    head = _head(case).eval()
    out = head(torch.randn(b, D))
    if name == "survival":
        assert out.risk.shape == (b,)
        if kw["kind"] == "discrete":
            assert out.hazard_logits.shape == (b, kw["n_bins"])
        else:
            assert out.hazard_logits is None
    elif name == "response":
        assert out.shape == (b,)
    else:
        n_classes = kw.get("n_classes", 4)
        assert out.shape == (b, n_classes - 1)
        assert (out.diff(dim=1) > 0).all()       # cumulative logits are ordered
    assert all(torch.isfinite(t).all() for t in _head_tensors(out))


@pytest.mark.parametrize("case", HEAD_CASES, ids=_case_id)
def test_head_gradient_reaches_every_parameter(case):
    head = _head(case).train()
    z = torch.randn(4, D, requires_grad=True)
    sum(t.sum() for t in _head_tensors(head(z))).backward()
    for name, param in head.named_parameters():
        assert param.grad is not None, name
        assert float(param.grad.abs().sum()) > 0, name
    assert float(z.grad.abs().sum()) > 0


@pytest.mark.parametrize("case", HEAD_CASES, ids=_case_id)
def test_head_is_deterministic(case):
    head = _head(case).eval()
    z = torch.randn(3, D)
    for a, b in zip(_head_tensors(head(z)), _head_tensors(head(z)), strict=True):
        assert torch.equal(a, b)


def test_discrete_risk_is_minus_the_area_under_survival():
    head = _head(("survival", {"kind": "discrete", "n_bins": 3}))
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.copy_(torch.logit(torch.tensor([0.2, 0.5, 0.25])))
    out = head(torch.randn(2, D))
    # S = 0.8, 0.4, 0.3 → area 1.5 bins
    assert out.risk.tolist() == pytest.approx([-1.5, -1.5])


@pytest.mark.parametrize("name, kw, pattern", [
    ("survival", {"kind": "weibull"}, r"unknown survival head kind 'weibull'.* Available: "
                                      r"discrete, cox"),
    ("survival", {"kind": "dicsrete", "n_bins": 4}, r"did you mean 'discrete'\?"),
    ("survival", {"kind": "discrete"}, r"The 'n_bins' parameter of SurvivalHead must be a "
                                       r"positive int for kind='discrete'\. Got None"),
    ("survival", {"kind": "discrete", "n_bins": 0}, r"'n_bins' parameter .* positive int"),
    ("survival", {"kind": "cox", "n_bins": 4}, r"must be None for kind='cox'\. Got 4"),
    ("ordinal", {"n_classes": 1}, r"The 'n_classes' parameter of OrdinalHead must be an int "
                                  r">= 2\. Got 1"),
    ("response", {"n_bins": 3}, r"Got unknown option 'n_bins'"),
    ("ordinal", {"in_dim": 0}, r"The 'in_dim' parameter of get_head\('ordinal'\)"),
    ("surv", {}, r"unknown head 'surv'; did you mean 'survival'\?"),
])
def test_head_bad_arguments_are_usage_errors(name, kw, pattern):
    args = {"in_dim": D, **kw}
    with pytest.raises(UsageError, match=pattern):
        get_head(name, **args)


@pytest.mark.parametrize("case", HEAD_CASES, ids=_case_id)
def test_head_wrong_input_shape(case):
    with pytest.raises(UsageError, match=rf"'z' parameter .* shape \[B, {D}\]\. Got \(2, 3\)"):
        _head(case)(torch.randn(2, 3))


# --------------------------------------------------------------------------- treatment FiLM


def test_film_starts_near_identity_and_learns():
    torch.manual_seed(0)
    film = TreatmentFiLM([3, 4], embed_dim=2, out_dim=D)
    z = torch.randn(5, D)
    codes = torch.tensor([[0, 0], [1, 3], [2, 1], [0, 2], [1, 1]])
    out = film(z, codes)
    assert torch.allclose(out, z, atol=0.1)
    assert not torch.equal(out, z)
    out.sum().backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in film.parameters())


def test_film_rejects_bad_codes():
    film = TreatmentFiLM([3, 4], embed_dim=2, out_dim=D)
    z = torch.randn(2, D)
    with pytest.raises(DataError, match=r"Treatment code 4 in row 1, variable 1 is outside "
                                        r"\[0, 4\)"):
        film(z, torch.tensor([[0, 0], [1, 4]]))
    with pytest.raises(UsageError, match=r"'codes' parameter .* integer tensor of shape \[2, 2\]"):
        film(z, torch.zeros(2, 2))
    with pytest.raises(UsageError, match=r"'cardinalities' parameter of TreatmentFiLM"):
        TreatmentFiLM([], embed_dim=2, out_dim=D)


# --------------------------------------------------------------------------- the whole net

P_CLIN, P_RAD, D_PATH, T_OMICS = 5, 7, 4, 3
MODALITIES = ("clinical", "radiomics", "pathology", "omics")


def _config(fusion="gated", modality_dropout=0.0, **extra):
    return {"modalities": {"omics": {"encoder": "pathway_tokens", "in_dim": T_OMICS},
                           "clinical": {"encoder": "tabular", "in_dim": P_CLIN, "hidden": [8]},
                           "radiomics": {"encoder": "tabular", "in_dim": P_RAD, "hidden": [8]},
                           "pathology": {"encoder": "mil", "pooler": "abmil",
                                         "in_dim": D_PATH}},
            "embed_dim": D, "dropout": 0.1, "modality_dropout": modality_dropout,
            "fusion": {"name": fusion},
            "treatment": {"cardinalities": [3, 4, 4], "embed_dim": 2},
            "heads": {"os": {"kind": "discrete", "n_bins": 4}, "pfs": {"kind": "cox"},
                      "response": True, "bor": True},
            **extra}


def _net(fusion="gated", modality_dropout=0.0):
    torch.manual_seed(0)
    return build_model(_config(fusion, modality_dropout, wide=["clinical"]))


def _batch(b, seed=0, available=None):
    g = torch.Generator().manual_seed(seed)
    if available is None:
        available = torch.rand(b, 4, generator=g) < 0.7
        available[torch.arange(b), torch.randint(0, 4, (b,), generator=g)] = True
    sizes = [int(torch.randint(1, 5, (1,), generator=g)) if available[i, 2] else 0
             for i in range(b)]
    return {"clinical": torch.randn(b, P_CLIN, generator=g),
            "radiomics": torch.randn(b, P_RAD, generator=g),
            "omics": torch.randn(b, T_OMICS, generator=g),
            "pathology": [torch.randn(n, D_PATH, generator=g) for n in sizes],
            "pathology_groups": [torch.randint(0, 2, (n,), generator=g) for n in sizes],
            "treatment": torch.randint(0, 3, (b, 3), generator=g),
            "available": available}


def _net_tensors(out: MultimodalOutput):
    tensors = [*out.risk.values(), *(h for h in out.hazard_logits.values() if h is not None),
               out.response_logit, out.bor_logits]
    return [t for t in tensors if t is not None]


def test_modalities_follow_the_fixed_order_and_config_is_normalised():
    net = _net()
    assert net.modalities == MODALITIES
    assert list(net.config["modalities"]) == list(MODALITIES)
    assert net.config["fusion"] == {"name": "gated"}
    assert json.loads(json.dumps(net.config)) == net.config
    # the stored config rebuilds the same architecture
    rebuilt = build_model(net.config)
    assert [(n, p.shape) for n, p in rebuilt.named_parameters()] == \
        [(n, p.shape) for n, p in net.named_parameters()]


@pytest.mark.parametrize("fusion", FUSION_NAMES)
@pytest.mark.parametrize("b", [1, 5])
def test_net_output_shapes(fusion, b):
    net = _net(fusion).eval()
    batch = _batch(b)
    out = net(batch)
    assert isinstance(out, MultimodalOutput)
    assert set(out.risk) == {"os", "pfs"}
    assert all(r.shape == (b,) for r in out.risk.values())
    assert out.hazard_logits["os"].shape == (b, 4) and out.hazard_logits["pfs"] is None
    assert out.response_logit.shape == (b,)
    assert out.bor_logits.shape == (b, 3)
    assert out.modality_embeddings.shape == (b, 4, D)
    assert (out.modality_embeddings[~batch["available"]] == 0).all()
    assert torch.equal(out.available, batch["available"])
    assert len(out.instance_attention) == b
    if fusion in ("gated", "cross_attention"):
        assert out.fusion_weights.shape == (b, 4)
    else:
        assert out.fusion_weights is None
    assert all(torch.isfinite(t).all() for t in _net_tensors(out))


@pytest.mark.parametrize("fusion", FUSION_NAMES)
@pytest.mark.parametrize("kept", MODALITIES)
def test_net_with_all_but_one_modality_missing(fusion, kept):
    net = _net(fusion).eval()
    available = torch.zeros(3, 4, dtype=torch.bool)
    available[:, MODALITIES.index(kept)] = True
    batch = _batch(3, available=available)
    out = net(batch)
    assert all(torch.isfinite(t).all() for t in _net_tensors(out))
    # the one modality left drives the prediction
    moved = dict(batch)
    if kept == "pathology":
        moved["pathology"] = [bag + 2.0 for bag in batch["pathology"]]
    else:
        moved[kept] = batch[kept] + 2.0
    assert not torch.allclose(net(moved).risk["os"], out.risk["os"])


@pytest.mark.parametrize("fusion", FUSION_NAMES)
def test_net_gradient_reaches_every_parameter(fusion):
    net = _net(fusion).train()
    out = net(_batch(6, available=torch.ones(6, 4, dtype=torch.bool)))
    sum(t.sum() for t in _net_tensors(out)).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert missing == []
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    # with every modality available every parameter matters (no shift-invariant dead bias)
    zero = [n for n, p in net.named_parameters() if float(p.grad.abs().sum()) == 0]
    assert zero == []


@pytest.mark.parametrize("fusion", FUSION_NAMES)
def test_net_eval_is_deterministic_and_train_repeats_under_a_seed(fusion):
    net = _net(fusion, modality_dropout=0.5)
    batch = _batch(6)
    net.eval()
    for a, b in zip(_net_tensors(net(batch)), _net_tensors(net(batch)), strict=True):
        assert torch.equal(a, b)
    net.train()
    torch.manual_seed(11)
    first = net(batch)
    torch.manual_seed(11)
    second = net(batch)
    assert torch.equal(first.available, second.available)
    for a, b in zip(_net_tensors(first), _net_tensors(second), strict=True):
        assert torch.equal(a, b)


def test_wide_modality_adds_a_linear_term_to_every_head_only_where_available():
    net = _net().eval()
    available = torch.ones(8, 4, dtype=torch.bool)
    available[::3, 0] = False
    batch = _batch(8, seed=3, available=available)
    base = net(batch)
    w = torch.randn(net.wide["clinical"].weight.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        net.wide["clinical"].weight.copy_(w)
    out = net(batch)
    have = batch["available"][:, 0]
    term = (batch["clinical"] @ w.T) * have[:, None]          # [B, heads]
    heads = list(net.heads)
    assert torch.allclose(out.risk["pfs"] - base.risk["pfs"], term[:, heads.index("pfs")],
                          atol=1e-5)
    assert torch.allclose(out.hazard_logits["os"] - base.hazard_logits["os"],
                          term[:, heads.index("os"), None].expand(-1, 4), atol=1e-5)
    assert torch.allclose(out.response_logit - base.response_logit,
                          term[:, heads.index("response")], atol=1e-5)
    assert torch.allclose(base.bor_logits - out.bor_logits,
                          term[:, heads.index("bor"), None].expand(-1, 3), atol=1e-5)
    assert bool((~have).any()) and bool(have.any())


@pytest.mark.parametrize("wide, pattern", [
    (["pathology"], r"'wide' names 'pathology', whose encoder 'mil' does not read a feature"),
    (["omics"], r"'wide' names 'omics', whose encoder 'pathway_tokens'"),
    ("clinical", r"'wide' must be a list of modality names"),
])
def test_wide_takes_only_feature_vector_modalities(wide, pattern):
    with pytest.raises(UsageError, match=pattern):
        build_model(_config(wide=wide))
    config = _config(wide=["clinical"])
    del config["modalities"]["clinical"]
    with pytest.raises(UsageError, match=r"'wide' names 'clinical', which is not one of its"):
        build_model(config)


def test_modality_dropout_drops_only_available_and_never_the_last():
    net = _net(modality_dropout=0.9).train()
    batch = _batch(64, seed=2)
    torch.manual_seed(0)
    used = net(batch).available
    assert not (used & ~batch["available"]).any()
    assert used.any(dim=1).all()
    assert (used.sum(1) < batch["available"].sum(1)).any()
    # evaluation mode never drops
    assert torch.equal(net.eval()(batch).available, batch["available"])


def test_modality_dropout_rate_is_about_p():
    net = _net(modality_dropout=0.25).train()
    available = torch.ones(400, 4, dtype=torch.bool)
    torch.manual_seed(1)
    kept = net._drop_modalities(available)
    # dropped share: p, a little less because the last modality is never dropped
    assert 0.2 < 1.0 - kept.float().mean().item() < 0.3


@pytest.mark.parametrize("mutate, error, pattern", [
    (lambda c: c.update(fusoin={"name": "late"}), UsageError,
     r"unknown key 'fusoin' in the model config's top level; did you mean 'fusion'\?"),
    (lambda c: c["fusion"].update(name="kroneker"), UsageError,
     r"unknown fusion 'kroneker'; did you mean 'kronecker'\?"),
    (lambda c: c["modalities"]["clinical"].update(encoder="tabualr"), UsageError,
     r"unknown modality encoder 'tabualr'; did you mean 'tabular'\?"),
    (lambda c: c["modalities"]["clinical"].update(hiddn=[4]), UsageError,
     r"unknown option 'hiddn' instead; did you mean 'hidden'\?"),
    (lambda c: c["modalities"].update(pathologie=c["modalities"].pop("pathology")), UsageError,
     r"unknown modality 'pathologie'; did you mean 'pathology'\?"),
    (lambda c: c["modalities"]["omics"].pop("in_dim"), UsageError,
     r"'modalities.omics' must have an 'in_dim' entry"),
    (lambda c: c["heads"].update(orr=True), UsageError,
     r"unknown key 'orr' in the model config's 'heads'"),
    (lambda c: c["heads"]["os"].update(kind="coxx"), UsageError,
     r"unknown survival head kind 'coxx'; did you mean 'cox'\?"),
    (lambda c: c["heads"]["os"].update(nbins=3), UsageError,
     r"unknown option 'nbins' instead; did you mean 'n_bins'\?"),
    (lambda c: c["heads"].update(response="yes"), UsageError,
     r"'heads.response' must be true or false"),
    (lambda c: c.update(heads={}), UsageError, r"'heads' must configure at least one"),
    (lambda c: c.update(modality_dropout=1.0), UsageError,
     r"The 'modality_dropout' parameter of build_model must be a float in \[0, 1\)"),
    (lambda c: c["treatment"].update(embed=3), UsageError,
     r"unknown key 'embed' in the model config's 'treatment'"),
    (lambda c: c.pop("modalities"), UsageError, r"must have a 'modalities' entry"),
])
def test_bad_config_is_a_usage_error(mutate, error, pattern):
    config = _config()
    mutate(config)
    with pytest.raises(error, match=pattern):
        build_model(config)


def test_bad_batches():
    net = _net().eval()
    batch = _batch(3, available=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(UsageError, match=r"batch\['available'\] must be a bool tensor of shape "
                                         r"\[B, 4\] \(columns clinical, radiomics, pathology, "
                                         r"omics\)"):
        net({**batch, "available": batch["available"][:, :3]})
    with pytest.raises(UsageError, match=r"The batch lacks the 'omics' input"):
        net({k: v for k, v in batch.items() if k != "omics"})
    with pytest.raises(UsageError, match=r"The batch lacks 'treatment'"):
        net({k: v for k, v in batch.items() if k != "treatment"})
    with pytest.raises(DataError, match=r"Row 1 has 'pathology' marked available but an empty"):
        net({**batch, "pathology": [batch["pathology"][0], torch.zeros(0, D_PATH),
                                    batch["pathology"][2]]})
    none = batch["available"].clone()
    none[2] = False
    with pytest.raises(DataError, match=r"Row 2 of batch\['available'\] has no available"):
        net({**batch, "available": none})
    with pytest.raises(UsageError, match=r"batch\['clinical'\] has 2 patients but "
                                         r"batch\['available'\] has 3"):
        net({**batch, "clinical": batch["clinical"][:2]})


def test_net_with_a_subset_of_modalities_and_heads():
    config = _config("late")
    del config["modalities"]["radiomics"], config["modalities"]["omics"]
    config["heads"] = {"pfs": {"kind": "cox"}}
    config["treatment"] = None
    torch.manual_seed(0)
    net = build_model(config).eval()
    assert net.modalities == ("clinical", "pathology")
    batch = _batch(3, available=torch.ones(3, 4, dtype=torch.bool))
    batch["available"] = batch["available"][:, :2]
    out = net({k: v for k, v in batch.items() if k not in ("radiomics", "omics", "treatment")})
    assert set(out.risk) == {"pfs"} and out.response_logit is None and out.bor_logits is None
    assert isinstance(net, MultimodalNet)


@pytest.mark.parametrize("fusion", FUSION_NAMES)
def test_net_learns_a_known_risk_on_held_out_patients(fusion):
    # simulated truth: log-hazard 1.5 x_0 − x_1; the other clinical columns and the omics
    # modality (missing for a third of the patients) are noise
    from hccfusion.evaluation.concordance import harrell_c
    from hccfusion.models.losses import cox_nll, discrete_time_nll

    g = torch.Generator().manual_seed(0)
    n = 300
    x = torch.randn(n, P_CLIN, generator=g)
    log_hazard = 1.5 * x[:, 0] - x[:, 1]
    time = -torch.log(torch.rand(n, generator=g)) / torch.exp(log_hazard) * 365.0
    censor = torch.rand(n, generator=g) * 730.0
    event, time = time <= censor, torch.minimum(time, censor)
    train = torch.arange(n) < 200
    edges = torch.quantile(time[train & event], torch.tensor([0.25, 0.5, 0.75]))
    bins = torch.bucketize(time, edges)
    available = torch.ones(n, 2, dtype=torch.bool)
    available[::3, 1] = False
    config = {"modalities": {"clinical": {"encoder": "tabular", "in_dim": P_CLIN, "hidden": [8]},
                             "omics": {"encoder": "pathway_tokens", "in_dim": T_OMICS}},
              "embed_dim": D, "dropout": 0.1, "modality_dropout": 0.2, "fusion": {"name": fusion},
              "heads": {"os": {"kind": "discrete", "n_bins": 4}, "pfs": {"kind": "cox"}}}
    torch.manual_seed(0)
    net = build_model(config)
    batch = {"clinical": x, "omics": torch.randn(n, T_OMICS, generator=g),
             "available": available}
    part = {"clinical": x[train], "omics": batch["omics"][train], "available": available[train]}
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    for _ in range(60):
        out = net(part)
        loss = discrete_time_nll(hazard_logits=out.hazard_logits["os"], bin_index=bins[train],
                                 event=event[train]) \
            + cox_nll(risk=out.risk["pfs"], time=time[train], event=event[train])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        out = net.eval()(batch)
    test = ~train
    oracle = harrell_c(time=time[test].numpy(), event=event[test].numpy(),
                       risk=log_hazard[test].numpy()).c
    for endpoint in ("os", "pfs"):
        c = harrell_c(time=time[test].numpy(), event=event[test].numpy(),
                      risk=out.risk[endpoint][test].numpy()).c
        # 200 training patients, 60 steps: well above chance (0.5), short of the oracle (0.86)
        assert c > 0.7 and c > oracle - 0.12, (endpoint, c, oracle)
