"""TransMIL internals against independent references: the Newton–Schulz pseudo-inverse against
``torch.linalg.pinv``, the Nyström attention against exact softmax attention."""

from __future__ import annotations

import pytest
import torch

from hccfusion.models.mil import get_mil
from hccfusion.models.mil.transmil import NystromAttention, _pinv_newton_schulz


def test_newton_schulz_converges_to_the_moore_penrose_inverse():
    a = torch.softmax(torch.randn(3, 12, 12, generator=torch.Generator().manual_seed(0),
                                  dtype=torch.float64), dim=-1)
    torch.testing.assert_close(_pinv_newton_schulz(a, 30), torch.linalg.pinv(a),
                               rtol=1e-8, atol=1e-8)


def _exact(attention: NystromAttention, x: torch.Tensor) -> torch.Tensor:
    q, k, v = attention._qkv(x)
    out = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
    return attention.to_out(out.transpose(0, 1).reshape(x.shape[0], -1))


def test_short_sequences_use_exact_attention():
    torch.manual_seed(0)
    attention = NystromAttention(dim=16, n_heads=2, n_landmarks=8, dropout=0.0).eval()
    x = torch.randn(8, 16)
    torch.testing.assert_close(attention(x), _exact(attention, x))


def test_nystrom_approximates_exact_attention_and_improves_with_landmarks():
    torch.manual_seed(0)
    x = torch.randn(256, 32, dtype=torch.float64)
    errors = []
    for landmarks in (8, 64):
        torch.manual_seed(1)
        attention = NystromAttention(dim=32, n_heads=4, n_landmarks=landmarks, dropout=0.0,
                                     pinv_iterations=20).double().eval()
        with torch.no_grad():
            exact = _exact(attention, x)
            errors.append(float((attention(x) - exact).norm() / exact.norm()))
    assert errors[1] < errors[0]
    assert errors[1] < 0.1


def test_query_attention_is_the_exact_softmax_row():
    torch.manual_seed(0)
    attention = NystromAttention(dim=8, n_heads=2, n_landmarks=2, dropout=0.0)
    x = torch.randn(6, 8)
    q, k, _ = attention._qkv(x)
    expected = torch.softmax(q @ k.transpose(-1, -2), dim=-1)[:, 0].mean(0)
    torch.testing.assert_close(attention.query_attention(x), expected)


@pytest.mark.parametrize("n", [3, 10, 50])
def test_transmil_attention_folds_padding_back_onto_the_instances(n):
    # n is not a square: the padded copies' attention must land on their originals
    torch.manual_seed(0)
    pooler = get_mil("transmil", in_dim=6, hidden_dim=8, n_heads=2).eval()
    with torch.no_grad():
        out = pooler(torch.randn(n, 6))
    assert out.attention.shape == (n,)
    assert float(out.attention.sum()) == pytest.approx(1.0, abs=1e-6)
    assert (out.attention > 0).all()
