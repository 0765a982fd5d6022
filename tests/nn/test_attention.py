"""Attention scores of §4.3: masking, the SDPA reference and hand-computed examples."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.nn.attention import (
    AttentionalHidden,
    BilinearAttention,
    ConcatAttention,
    DotAttention,
    MLPAttention,
    attention_layer,
    masked_softmax,
)
from an2dl.nn.masks import lengths_to_mask

B, TQ, TK, D = 3, 4, 5, 6


def _inputs(dq=D, dk=D):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(B, TQ, dq, generator=g, dtype=torch.float64),
            torch.randn(B, TK, dk, generator=g, dtype=torch.float64))


LAYERS = {
    "dot": lambda: DotAttention(),
    "general": lambda: BilinearAttention(query_size=D, key_size=D + 1),
    "concat": lambda: ConcatAttention(query_size=D, key_size=D + 1),
    "mlp": lambda: MLPAttention(query_size=D, key_size=D + 1, attention_size=7),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_weights_sum_to_one_over_real_keys_and_are_zero_on_padding(name):
    layer = LAYERS[name]().double()
    q, k = _inputs(dk=D if name == "dot" else D + 1)
    mask = lengths_to_mask(torch.tensor([5, 2, 1]), TK)
    context, w = layer(q, k, mask=mask)
    assert context.shape == (B, TQ, k.shape[-1]) and w.shape == (B, TQ, TK)
    torch.testing.assert_close(w.sum(-1), torch.ones(B, TQ, dtype=torch.float64))
    assert bool((w[~mask[:, None, :].expand_as(w)] == 0).all())
    torch.testing.assert_close(context, w @ k)


def test_dot_attention_equals_sdpa_with_unit_scale():
    q, k = _inputs()
    v = torch.randn(B, TK, 3, dtype=torch.float64)
    mask = lengths_to_mask(torch.tensor([5, 3, 2]), TK)[:, None, :]
    context, _ = DotAttention()(q, k, v, mask=mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
    torch.testing.assert_close(context, ref, rtol=1e-12, atol=1e-12)


def test_a_single_query_per_row_drops_the_query_axis():
    q, k = _inputs()
    context, w = DotAttention()(q[:, 0], k)
    assert context.shape == (B, D) and w.shape == (B, TK)


def test_dot_attention_by_hand():
    q = torch.tensor([[[1.0, 0.0]]])
    k = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]])
    _, w = DotAttention()(q, k)
    e = torch.tensor([math.e, 1.0, math.e ** 2])
    torch.testing.assert_close(w[0, 0], e / e.sum())


def test_bilinear_score_by_hand():
    layer = BilinearAttention(query_size=2, key_size=2)
    with torch.no_grad():
        layer.W.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))  # W swaps the coordinates
    q = torch.tensor([[[1.0, 2.0]]])
    k = torch.tensor([[[3.0, 0.0], [0.0, 1.0]]])
    assert torch.allclose(layer.score(q, k), torch.tensor([[[6.0, 1.0]]]))  # h·(W s): (1,2)·(0,3)=6, (1,2)·(1,0)=1


def test_mlp_score_by_hand():
    layer = MLPAttention(query_size=1, key_size=1, attention_size=2, bias=False)
    with torch.no_grad():
        layer.W_h.weight.copy_(torch.tensor([[1.0], [0.0]]))
        layer.W_s.weight.copy_(torch.tensor([[0.0], [2.0]]))
        layer.w_2.weight.copy_(torch.tensor([[1.0, -1.0]]))
    q, k = torch.tensor([[[0.5]]]), torch.tensor([[[1.0], [-1.0]]])
    expected = torch.tensor([math.tanh(0.5) - math.tanh(2.0), math.tanh(0.5) - math.tanh(-2.0)])
    torch.testing.assert_close(layer.score(q, k)[0, 0], expected)


def test_concat_equals_the_mlp_on_the_concatenation():
    layer = ConcatAttention(query_size=D, key_size=D + 1).double()
    q, k = _inputs(dk=D + 1)
    W_a = torch.cat([layer.W_h.weight, layer.W_s.weight], dim=1)  # [D, D + D + 1]
    pairs = torch.cat([q[:, :, None, :].expand(-1, -1, TK, -1), k[:, None].expand(-1, TQ, -1, -1)], dim=-1)
    ref = torch.tanh(pairs @ W_a.T) @ layer.w_2.weight[0]
    torch.testing.assert_close(layer.score(q, k), ref)
    assert layer.W_h.bias is None


def test_attentional_hidden_by_hand():
    layer = AttentionalHidden(context_size=1, query_size=1, output_size=1)
    with torch.no_grad():
        layer.W_c.weight.copy_(torch.tensor([[2.0, -1.0]]))
    out = layer(torch.tensor([[0.5]]), torch.tensor([[0.25]]))
    torch.testing.assert_close(out, torch.tensor([[math.tanh(0.75)]]))


def test_gradients_reach_every_parameter():
    for name, make in LAYERS.items():
        if name == "dot":
            continue  # no parameters
        layer = make()
        q, k = (t.float() for t in _inputs(dk=D if name == "dot" else D + 1))
        layer(q, k)[0].sum().backward()
        for p in layer.parameters():
            assert p.grad is not None and bool(p.grad.abs().sum() > 0)


def test_bad_input_is_named():
    q, k = _inputs()
    with pytest.raises(ValueError, match="all False"):
        masked_softmax(torch.zeros(1, 1, 3), torch.zeros(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean"):
        DotAttention()(q, k, mask=torch.ones(B, TK))
    with pytest.raises(ValueError, match=r"mask must have shape"):
        DotAttention()(q, k, mask=torch.ones(B, TK + 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="same size"):
        DotAttention()(q, torch.randn(B, TK, D + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="keys must have 7 features"):
        BilinearAttention(query_size=D, key_size=7).double()(q, k)
    with pytest.raises(ValueError, match="same B"):
        DotAttention()(q, k[:1])
    with pytest.raises(TypeError, match="floating-point"):
        DotAttention()(q.long(), k)
    with pytest.raises(ConfigError, match="query_size must be a positive integer; got 0"):
        BilinearAttention(query_size=0, key_size=2)
    with pytest.raises(ConfigError, match="one of dot, general, concat, mlp; got 'cosine'"):
        attention_layer("cosine", query_size=2, key_size=2)
    with pytest.raises(ConfigError, match="query_size == key_size"):
        attention_layer("dot", query_size=2, key_size=3)


def test_builder_aliases():
    assert isinstance(attention_layer("bahdanau", query_size=2, key_size=3), MLPAttention)
    assert isinstance(attention_layer("bilinear", query_size=2, key_size=3), BilinearAttention)
    assert isinstance(attention_layer("concat", query_size=2, key_size=3), ConcatAttention)
