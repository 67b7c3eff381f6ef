"""The shared suite every registered MIL pooler passes (STYLE.md habit 8)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hccfusion.errors import UsageError
from hccfusion.models.mil import MIL_POOLERS, MilOutput, get_mil

IN_DIM = 12
POOLERS = sorted(MIL_POOLERS)


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: thread hand-offs cost more than they save on a shared 2-core machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pooler(name: str):
    torch.manual_seed(0)
    # few landmarks, so bags beyond 4 tokens take TransMIL's Nyström path
    extra = {"n_landmarks": 4} if name == "transmil" else {}
    return get_mil(name, in_dim=IN_DIM, hidden_dim=8, **extra).eval()


def _bag(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, IN_DIM, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_registry_lists_the_three_poolers():
    assert set(MIL_POOLERS) == {"abmil", "transmil", "mean"}


@pytest.mark.parametrize("name", POOLERS)
@pytest.mark.parametrize("n", [1, 2, 3, 17, 40])
def test_output_shape_finite_and_attention_sums_to_one(name, n):
    pooler = _pooler(name)
    x, groups = _bag(n)
    with torch.no_grad():
        out = pooler(x, groups=groups)
    assert isinstance(out, MilOutput)
    assert pooler.out_dim == 8
    assert out.embedding.shape == (8,)
    assert out.attention.shape == (n,)
    assert torch.isfinite(out.embedding).all() and torch.isfinite(out.attention).all()
    assert (out.attention >= 0).all()
    assert float(out.attention.sum()) == pytest.approx(1.0, abs=1e-5)
    # per-slide shares: one per slide present, equal to the attention on that slide's tiles
    assert set(out.per_group) == set(groups.tolist())
    for g, share in out.per_group.items():
        assert float(share) == pytest.approx(float(out.attention[groups == g].sum()), abs=1e-6)


@pytest.mark.parametrize("name", POOLERS)
def test_single_instance_bag_puts_all_attention_on_it(name):
    out = _pooler(name)(torch.randn(1, IN_DIM))
    assert out.attention.tolist() == pytest.approx([1.0])
    assert out.per_group is None


@pytest.mark.parametrize("name", POOLERS)
def test_two_instance_bag_depends_on_both_instances(name):
    pooler = _pooler(name)
    x, _ = _bag(2)
    changed = x.clone()
    changed[1] += 5.0
    assert not torch.allclose(pooler(x).embedding, pooler(changed).embedding)


@pytest.mark.parametrize("name", POOLERS)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60))
def test_embedding_is_invariant_to_instance_order(name, seed, n):
    pooler = _pooler(name)
    x, groups = _bag(n, seed)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    out, shuffled = pooler(x, groups=groups), pooler(x[perm], groups=groups[perm])
    assert torch.allclose(out.embedding, shuffled.embedding, atol=1e-5)
    assert torch.allclose(out.attention[perm], shuffled.attention, atol=1e-6)


@pytest.mark.parametrize("name", POOLERS)
def test_gradient_reaches_every_parameter_and_the_input(name):
    pooler = _pooler(name).train()
    x, groups = _bag(20)
    x.requires_grad_(True)
    out = pooler(x, groups=groups)
    (out.embedding.square().sum() + (out.attention * torch.arange(20.0)).sum()).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    for param_name, param in pooler.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
    assert any(float(p.grad.abs().sum()) > 0 for p in pooler.parameters())


def test_unknown_name_suggests_the_nearest():
    with pytest.raises(UsageError, match=r"unknown MIL pooler 'abmill'; did you mean 'abmil'\? "
                                         r"Available: abmil, transmil, mean"):
        get_mil("abmill", in_dim=IN_DIM)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "16", None])
def test_bad_in_dim_is_a_usage_error(bad):
    with pytest.raises(UsageError, match=r"The 'in_dim' parameter of get_mil must be a positive "
                                         r"int\. Got .* instead\."):
        get_mil("abmil", in_dim=bad)


@pytest.mark.parametrize("kw, pattern", [
    ({"hidden_dim": 0}, r"The 'hidden_dim' parameter of get_mil must be a positive int"),
    ({"dropout": 1.0}, r"The 'dropout' parameter of get_mil must be a float in \[0, 1\)"),
    ({"n_heads": 4}, r"The options of get_mil\('abmil'\) must be among"),
])
def test_bad_options_are_usage_errors(kw, pattern):
    with pytest.raises(UsageError, match=pattern):
        get_mil("abmil", in_dim=IN_DIM, **kw)


def test_transmil_heads_must_divide_the_width():
    with pytest.raises(UsageError, match=r"The 'n_heads' parameter of TransMil must be a "
                                         r"positive int that divides hidden_dim=10\. Got 4"):
        get_mil("transmil", in_dim=IN_DIM, hidden_dim=10, n_heads=4)


@pytest.mark.parametrize("name", POOLERS)
def test_wrong_input_shapes_name_the_expected_shape(name):
    pooler = _pooler(name)
    with pytest.raises(UsageError, match=rf"must be a tensor of shape \[N >= 1, {IN_DIM}\]\. "
                                         rf"Got \(5, 7\) instead"):
        pooler(torch.randn(5, 7))
    with pytest.raises(UsageError, match=r"must be a tensor of shape"):
        pooler(torch.randn(0, IN_DIM))
    with pytest.raises(UsageError, match=r"The 'groups' parameter .* must be a non-negative "
                                         r"integer tensor of shape \[5\]"):
        pooler(torch.randn(5, IN_DIM), groups=torch.zeros(4, dtype=torch.long))


def test_the_base_class_is_importable_lazily():
    from hccfusion.models.mil import MilPooler

    assert all(isinstance(_pooler(n), MilPooler) for n in POOLERS)
