"""``MilPooler.pool_batch``: pooling many bags at once equals pooling them one by one."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hccfusion.errors import UsageError  # noqa: E402
from hccfusion.models.mil import MIL_POOLERS, get_mil  # noqa: E402


@pytest.mark.parametrize("name", sorted(MIL_POOLERS))
def test_pool_batch_equals_one_bag_at_a_time(name: str) -> None:
    torch.manual_seed(0)
    pooler = get_mil(name, in_dim=6, hidden_dim=4).eval()
    bags = [torch.randn(n, 6) for n in (1, 3, 7, 2)]
    embeddings, attention = pooler.pool_batch(bags)
    assert embeddings.shape == (4, 4)
    for i, bag in enumerate(bags):
        single = pooler(bag)
        torch.testing.assert_close(embeddings[i], single.embedding, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(attention[i], single.attention, atol=1e-6, rtol=1e-5)
        assert float(attention[i].sum()) == pytest.approx(1.0, abs=1e-6)


def test_pool_batch_gradients_reach_the_attention_branch() -> None:
    torch.manual_seed(1)
    pooler = get_mil("abmil", in_dim=5, hidden_dim=3).train()
    embeddings, _ = pooler.pool_batch([torch.randn(4, 5), torch.randn(2, 5)])
    (embeddings ** 2).sum().backward()
    assert pooler.attention_w.weight.grad is not None
    assert float(pooler.attention_w.weight.grad.abs().sum()) > 0


def test_pool_batch_rejects_an_empty_bag() -> None:
    pooler = get_mil("mean", in_dim=3, hidden_dim=2)
    with pytest.raises(UsageError, match="non-empty tensors of shape"):
        pooler.pool_batch([torch.randn(2, 3), torch.zeros(0, 3)])


@pytest.mark.parametrize("name", sorted(MIL_POOLERS))
def test_mil_encoder_batch_equals_pooler_with_slide_groups(name: str) -> None:
    from hccfusion.models.encoders import MilEncoder

    torch.manual_seed(2)
    encoder = MilEncoder(in_dim=6, embed_dim=4, dropout=0.0, pooler=name).eval()
    bags = [torch.randn(5, 6), torch.zeros(0, 6), torch.randn(3, 6)]
    groups = [torch.tensor([0, 1, 0, 1, 1]), torch.zeros(0, dtype=torch.long),
              torch.tensor([0, 0, 0])]
    out = encoder(bags, groups)
    assert float(out.embedding[1].abs().sum()) == 0.0
    for i in (0, 2):
        single = encoder.pooler(bags[i], groups=groups[i])
        torch.testing.assert_close(out.embedding[i], encoder.project(single.embedding),
                                   atol=1e-6, rtol=1e-5)
