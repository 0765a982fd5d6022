"""The Transformer's parts (notes §4.4) against PyTorch's reference modules, in float64.

Attention written out vs ``F.scaled_dot_product_attention``; multi-head attention vs
``nn.MultiheadAttention``; layer norm vs ``F.layer_norm``; the full encoder–decoder vs
``nn.Transformer`` (state dicts loaded with ``strict=True``); positional encodings; the
key/value cache vs full recomputation; greedy and beam search through ``an2dl.nn.decoding``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from an2dl.errors import ConfigError
from an2dl.nn.masks import attention_mask, causal_mask, lengths_to_mask, padding_mask
from an2dl.nn.transformer import (
    LayerNorm,
    LearnedPositionalEncoding,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
    Transformer,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    fused_attention,
    layer_norm,
    scaled_dot_product_attention,
    sinusoidal_encoding,
)

D64 = torch.float64


def _qkv(B=2, H=3, T_q=5, T_k=6, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, T, d, generator=g, dtype=D64, requires_grad=True) for T in (T_q, T_k, T_k)]


# ------------------------------------------------------------------------------------------------ §4.4.1 attention
@pytest.mark.parametrize("kind", ["none", "padding", "causal", "padding+causal"])
def test_written_out_attention_equals_the_fused_kernel_values_and_gradients(kind):
    T = 6
    masks = {"none": None, "padding": padding_mask(torch.tensor([6, 3]), T),
             "causal": causal_mask(T), "padding+causal": attention_mask(torch.tensor([6, 3]), T, causal=True)[:, None]}
    mask = masks[kind]
    q, k, v = _qkv(T_q=T, T_k=T)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(out, ref, atol=1e-12)
    assert torch.allclose(fused_attention(q, k, v, mask), ref, atol=1e-12)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), g)
    ref_grads = torch.autograd.grad(ref, (q, k, v), g)
    for a, b in zip(grads, ref_grads):
        assert torch.allclose(a, b, atol=1e-12)
    # masked keys get exactly zero weight; each row sums to one
    if mask is not None:
        assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()
    assert torch.allclose(weights.sum(-1), torch.ones((), dtype=D64))


def test_attention_by_hand_one_query_two_keys():
    """softmax(q·k/√d): q = (1, 1), keys (1, 0) and (0, 2) -> scores 1/√2, 2/√2."""
    q = torch.tensor([[[1.0, 1.0]]], dtype=D64)
    k = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]], dtype=D64)
    v = torch.tensor([[[10.0], [20.0]]], dtype=D64)
    out, w = scaled_dot_product_attention(q, k, v)
    a = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + math.exp(2 / math.sqrt(2)))
    assert w[0, 0].tolist() == pytest.approx([a, 1 - a], abs=1e-14)
    assert float(out) == pytest.approx(10 * a + 20 * (1 - a), abs=1e-12)


def test_attention_dropout_falls_on_the_weights_and_keeps_the_expectation():
    q, k, v = (t.detach() for t in _qkv(B=1, H=1, T_q=3, T_k=4, d=2))
    clean, w = scaled_dot_product_attention(q, k, v)
    torch.manual_seed(0)
    out, w2 = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert torch.equal(w, w2)  # the weights returned are those before dropout
    torch.manual_seed(0)
    assert torch.allclose(out, F.dropout(w, 0.5) @ v)
    mean = torch.stack([scaled_dot_product_attention(q, k, v, dropout_p=0.5)[0] for _ in range(4000)]).mean(0)
    assert torch.allclose(mean, clean, atol=0.1)  # inverted dropout: unbiased


@pytest.mark.parametrize("bad, err, match", [
    (torch.ones(6, 6), TypeError, "boolean tensor"),
    (torch.ones(5, 5, dtype=torch.bool), ValueError, r"broadcast to the attention scores \[2, 3, 6, 6\]"),
    (torch.zeros(6, 6, dtype=torch.bool), ValueError, "no key to attend"),
])
def test_attention_masks_of_the_wrong_dtype_or_shape_are_refused(bad, err, match):
    q, k, v = _qkv(T_q=6, T_k=6)
    with pytest.raises(err, match=match):
        scaled_dot_product_attention(q, k, v, bad)
    with pytest.raises(err, match=match):
        fused_attention(q, k, v, bad)
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    with pytest.raises(err, match="mask"):
        mha(torch.randn(2, 6, 8), mask=bad)


# ------------------------------------------------------------------------------------------------ multi-head attention
@pytest.mark.parametrize("backend", ["fused", "written"])
def test_multi_head_attention_equals_torch_with_copied_weights(backend):
    torch.manual_seed(0)
    D, h, B, T_q, T_k = 12, 3, 2, 4, 5
    ref = nn.MultiheadAttention(D, h, batch_first=True, dtype=D64)
    ours = MultiHeadAttention(d_model=D, num_heads=h, backend=backend).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    q, kv = torch.randn(B, T_q, D, dtype=D64), torch.randn(B, T_k, D, dtype=D64)
    lengths = torch.tensor([5, 2])
    look = causal_mask(T_q, T_k)
    ref_out, ref_w = ref(q, kv, kv, key_padding_mask=~lengths_to_mask(lengths, T_k), attn_mask=~look,
                         need_weights=True, average_attn_weights=False)
    mask = attention_mask(lengths, T_q, T_k) & look
    out, w = ours(q, kv, kv, mask, need_weights=True)
    assert torch.allclose(out, ref_out, atol=1e-12) and torch.allclose(w, ref_w, atol=1e-12)
    out2, none = ours(q, kv, kv, mask)  # the fast path when the weights are not asked for
    assert none is None and torch.allclose(out2, ref_out, atol=1e-12)
    # self-attention (one projection for Q, K and V) with a [B, 1, 1, T] padding mask
    s_ref, _ = ref(q, q, q, key_padding_mask=~lengths_to_mask(torch.tensor([4, 1]), T_q))
    s_out, _ = ours(q, mask=padding_mask(torch.tensor([4, 1]), T_q))
    assert torch.allclose(s_out, s_ref, atol=1e-12)


def test_multi_head_attention_refuses_heads_that_do_not_divide_d_model_and_bad_inputs():
    with pytest.raises(ConfigError, match=r"d_model must be divisible by num_heads.*d_model=10, num_heads=3"):
        MultiHeadAttention(d_model=10, num_heads=3)
    with pytest.raises(ConfigError, match="backend"):
        MultiHeadAttention(d_model=8, num_heads=2, backend="flash")
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    with pytest.raises(ValueError, match=r"query must be a float tensor \[B, T, 8\].*\[2, 3, 6\]"):
        mha(torch.randn(2, 3, 6))


# ------------------------------------------------------------------------------------------------ §4.4.3 layers
def test_layer_norm_written_out_equals_f_layer_norm():
    x = torch.randn(3, 4, 7, dtype=D64, requires_grad=True)
    w, b = torch.randn(7, dtype=D64), torch.randn(7, dtype=D64)
    ours, ref = layer_norm(x, w, b, 1e-5), F.layer_norm(x, (7,), w, b, 1e-5)
    assert torch.allclose(ours, ref, atol=1e-12)
    g = torch.randn_like(ref)
    assert torch.allclose(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(ref, x, g)[0], atol=1e-12)
    written, fused = LayerNorm(7, backend="written").double(), LayerNorm(7).double()
    assert torch.allclose(written(x), fused(x), atol=1e-12)
    y = written(x)  # each vector normalised on its own: mean 0, variance 1 (γ = 1, β = 0)
    assert torch.allclose(y.mean(-1), torch.zeros((), dtype=D64), atol=1e-12)
    assert torch.allclose(y.var(-1, unbiased=False), torch.ones((), dtype=D64), atol=1e-4)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_and_decoder_layers_equal_torch(norm_first):
    torch.manual_seed(1)
    kw = {"dim_feedforward": 16, "dropout": 0.0, "norm_first": norm_first}
    ref_e = nn.TransformerEncoderLayer(8, 2, batch_first=True, dtype=D64, **kw)
    ours_e = TransformerEncoderLayer(d_model=8, num_heads=2, **kw).double()
    ours_e.load_state_dict(ref_e.state_dict(), strict=True)
    x, mem = torch.randn(2, 5, 8, dtype=D64), torch.randn(2, 3, 8, dtype=D64)
    pad = torch.tensor([5, 3])
    assert torch.allclose(ours_e(x, padding_mask(pad, 5)),
                          ref_e(x, src_key_padding_mask=~lengths_to_mask(pad, 5)), atol=1e-12)
    ref_d = nn.TransformerDecoderLayer(8, 2, batch_first=True, dtype=D64, **kw)
    ours_d = TransformerDecoderLayer(d_model=8, num_heads=2, **kw).double()
    ours_d.load_state_dict(ref_d.state_dict(), strict=True)
    mem_len = torch.tensor([3, 1])
    out = ours_d(x, mem, causal_mask(5), padding_mask(mem_len, 3))
    ref = ref_d(x, mem, tgt_mask=~causal_mask(5), memory_key_padding_mask=~lengths_to_mask(mem_len, 3))
    assert torch.allclose(out, ref, atol=1e-12)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("norm_first", [False, True])
def test_full_encoder_decoder_equals_nn_transformer_with_copied_weights(norm_first):
    torch.manual_seed(2)
    kw = {"num_encoder_layers": 2, "num_decoder_layers": 2, "dim_feedforward": 24, "dropout": 0.0,
          "norm_first": norm_first}
    ref = nn.Transformer(d_model=12, nhead=3, batch_first=True, dtype=D64, **kw)
    ours = Transformer(d_model=12, num_heads=3, **kw).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    src = torch.randn(2, 6, 12, dtype=D64, requires_grad=True)
    tgt = torch.randn(2, 4, 12, dtype=D64)
    src_len = torch.tensor([6, 4])
    src_pad = ~lengths_to_mask(src_len, 6)
    expected = ref(src, tgt, tgt_mask=~causal_mask(4), src_key_padding_mask=src_pad, memory_key_padding_mask=src_pad)
    got = ours(src, tgt, src_mask=padding_mask(src_len, 6), tgt_mask=causal_mask(4),
               memory_mask=padding_mask(src_len, 6))
    assert torch.allclose(got, expected, atol=1e-12)
    g = torch.randn_like(got)
    assert torch.allclose(torch.autograd.grad(got, src, g)[0], torch.autograd.grad(expected, src, g)[0], atol=1e-12)


# ------------------------------------------------------------------------------------------------ §4.4.4 positions
def test_sinusoidal_encoding_values_and_the_relative_position_identity():
    pe = sinusoidal_encoding(50, 6, dtype=D64)
    assert pe[0].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert float(pe[3, 2]) == pytest.approx(math.sin(3 / 10000 ** (2 / 6)), abs=1e-15)
    assert float(pe[7, 5]) == pytest.approx(math.cos(7 / 10000 ** (4 / 6)), abs=1e-15)
    # PE[pos + k] is a rotation of PE[pos] by angles that depend on k only (Vaswani et al. §3.5)
    k = 5
    for i in range(3):
        w = 1 / 10000 ** (2 * i / 6)
        rot = torch.tensor([[math.cos(k * w), -math.sin(k * w)], [math.sin(k * w), math.cos(k * w)]], dtype=D64)
        pair = pe[:, 2 * i:2 * i + 2]
        assert torch.allclose(pair[:-k] @ rot, pair[k:], atol=1e-12)
    # the module adds the table from a start position (incremental decoding)
    enc = SinusoidalPositionalEncoding(d_model=6).double()
    x = torch.zeros(1, 3, 6, dtype=D64)
    assert torch.allclose(enc(x, start=10)[0], sinusoidal_encoding(13, 6, dtype=D64)[10:])


def test_self_attention_is_permutation_equivariant_without_positions_and_not_with_them():
    torch.manual_seed(3)
    layer = TransformerEncoderLayer(d_model=8, num_heads=2, dim_feedforward=16, dropout=0.0).double()
    x = torch.randn(1, 7, 8, dtype=D64)
    perm = torch.randperm(7)
    assert torch.allclose(layer(x[:, perm]), layer(x)[:, perm], atol=1e-12)
    for enc in (SinusoidalPositionalEncoding(d_model=8), LearnedPositionalEncoding(max_len=16, d_model=8)):
        enc = enc.double()
        assert not torch.allclose(layer(enc(x[:, perm])), layer(enc(x))[:, perm], atol=1e-3)


def test_a_sequence_longer_than_the_learned_table_is_refused_naming_the_limit():
    enc = LearnedPositionalEncoding(max_len=8, d_model=4)
    enc(torch.zeros(1, 8, 4))
    with pytest.raises(ValueError, match=r"reaches position 9 .*max_len=8"):
        enc(torch.zeros(1, 9, 4))
    with pytest.raises(ValueError, match=r"start=6 \+ T=3.*max_len=8"):
        enc(torch.zeros(1, 3, 4), start=6)


# ------------------------------------------------------------------------------------------------ inference
def test_incremental_decoding_with_the_key_value_cache_equals_full_recomputation():
    torch.manual_seed(4)
    for norm_first in (False, True):
        tr = Transformer(d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=16,
                         dropout=0.0, norm_first=norm_first).double().eval()
        src, tgt = torch.randn(2, 5, 8, dtype=D64), torch.randn(2, 6, 8, dtype=D64)
        mmask = padding_mask(torch.tensor([5, 2]), 5)
        memory = tr.encoder(src, mmask)
        full = tr.decoder(tgt, memory, causal_mask(6), mmask)
        kv = tr.decoder.memory_kv(memory)
        first, past = tr.decoder.step(tgt[:, :2], kv, mmask)  # a prompt of two positions, then one at a time
        steps = [first]
        for t in range(2, 6):
            y, past = tr.decoder.step(tgt[:, t:t + 1], kv, mmask, past)
            steps.append(y)
        assert past[0][0].shape == (2, 2, 6, 4)  # (B, h, T, d) cached per layer
        assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-12)


def test_transformer_model_greedy_and_beam_search_through_the_step_function():
    from an2dl.models import example_inputs, get_model
    from an2dl.nn.decoding import beam_search, greedy_decode

    torch.manual_seed(5)
    model = get_model("transformer", dropout=0.0).double().eval()
    src, lengths, tgt = example_inputs("transformer")
    # the cached step function gives the parallel forward's log-probabilities, position by position
    full = model(src, lengths, tgt).log_softmax(-1)
    state, steps = model.encode(src, lengths), []
    for t in range(tgt.shape[1]):
        lp, state = model.step(tgt[:, t], state)
        steps.append(lp)
    assert torch.allclose(torch.stack(steps, dim=1), full, atol=1e-12)
    greedy = model.generate(src, lengths, max_length=6)
    assert torch.equal(greedy.tokens, greedy_decode(model.step, model.encode(src, lengths), batch_size=2,
                                                    max_length=6).tokens)
    # the greedy tokens are the argmax of the full forward on their own prefix
    prefix = torch.cat([torch.full((2, 1), 2), greedy.tokens[:, :-1]], dim=1)
    assert torch.equal(model(src, lengths, prefix).argmax(-1)[greedy.tokens != 0],
                       greedy.tokens[greedy.tokens != 0])
    beam = model.generate(src, lengths, max_length=6, beam_width=4)
    assert (beam.log_prob >= greedy.log_prob - 1e-9).all()  # at least as likely as greedy here
    one = beam_search(model.step, model.encode(src, lengths), batch_size=2, beam_width=1, max_length=6)
    assert torch.equal(one.tokens, greedy.tokens)
