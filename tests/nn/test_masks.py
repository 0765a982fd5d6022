"""Padding and look-ahead masks: hand-written expectations and PyTorch's conventions (notes §4.4.2)."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from an2dl.nn.masks import attention_mask, causal_mask, lengths_to_mask, mask_to_lengths, padding_mask


def _attention_reference(q, k, v, allowed):
    """softmax(Q Kᵀ / √d, masked) V written out: a disallowed score is -inf before the softmax."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed, float("-inf"))
    return scores.softmax(dim=-1) @ v


# ------------------------------------------------------------------------------------------------------ padding
def test_lengths_to_mask_marks_the_valid_prefix():
    mask = lengths_to_mask(torch.tensor([3, 1, 0]), 4)
    assert mask.dtype == torch.bool
    assert mask.int().tolist() == [[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert lengths_to_mask([2, 4], 4).int().tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]  # a list works too
    assert torch.equal(mask_to_lengths(mask), torch.tensor([3, 1, 0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=8), st.integers(0, 4))
def test_mask_to_lengths_inverts_lengths_to_mask(lengths, extra):
    T = max(lengths) + extra
    lengths = torch.tensor(lengths)
    mask = lengths_to_mask(lengths, T)
    assert mask.shape == (len(lengths), T)
    assert torch.equal(mask_to_lengths(mask), lengths)
    assert torch.equal(mask.sum(dim=1), lengths)


@pytest.mark.parametrize("lengths,max_length,match", [
    (torch.tensor([5, 2]), 4, r"lengths must lie in \[0, 4\].*max 5"),
    (torch.tensor([-1, 2]), 4, r"lengths must lie in \[0, 4\].*min -1"),
    (torch.tensor([1.0, 2.0]), 4, "integer tensor of shape"),
    (torch.tensor([[1, 2]]), 4, "integer tensor of shape"),
    (torch.tensor([1, 2]), -1, "max_length must be an integer >= 0; got -1"),
    (torch.tensor([1, 2]), 2.5, "max_length must be an integer"),
])
def test_lengths_to_mask_rejects_bad_input(lengths, max_length, match):
    with pytest.raises(ValueError, match=match):
        lengths_to_mask(lengths, max_length)


def test_mask_to_lengths_rejects_masks_that_are_not_a_prefix():
    with pytest.raises(ValueError, match="prefix"):
        mask_to_lengths(torch.tensor([[True, False, True]]))
    with pytest.raises(ValueError, match="boolean tensor"):
        mask_to_lengths(torch.ones(2, 3))


def test_padding_mask_broadcasts_over_heads_and_queries():
    mask = padding_mask(torch.tensor([2, 3]), 3)
    assert mask.shape == (2, 1, 1, 3)
    assert mask[:, 0, 0].int().tolist() == [[1, 1, 0], [1, 1, 1]]
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 5, 8, dtype=torch.float64) for _ in range(3))
    k, v = k[:, :, :3], v[:, :, :3]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(out, _attention_reference(q, k, v, mask), atol=1e-12)
    # the padded key of sequence 0 has no influence at all
    k2, v2 = k.clone(), v.clone()
    k2[0, :, 2], v2[0, :, 2] = 100.0, -100.0
    assert torch.allclose(F.scaled_dot_product_attention(q, k2, v2, attn_mask=mask), out, atol=1e-12)


# -------------------------------------------------------------------------------------------------- look-ahead
def test_causal_mask_is_the_lower_triangle_with_the_diagonal():
    assert causal_mask(3).int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert causal_mask(1).tolist() == [[True]]
    # queries are the last T_q of T_k positions: the last query sees every key
    assert causal_mask(2, 4).int().tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]


@pytest.mark.parametrize("T", [1, 2, 5, 9])
def test_causal_mask_is_the_boolean_form_of_pytorchs_float_mask(T):
    float_mask = nn.Transformer.generate_square_subsequent_mask(T)  # 0 = attend, -inf = blocked
    assert torch.equal(causal_mask(T), ~torch.isinf(float_mask))


@pytest.mark.parametrize("T", [1, 4, 7])
def test_sdpa_with_our_boolean_mask_equals_the_float_mask_and_is_causal(T):
    torch.manual_seed(T)
    q, k, v = (torch.randn(2, 3, T, 8, dtype=torch.float64) for _ in range(3))
    ours = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(T))
    float_mask = nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=float_mask)
    assert torch.allclose(ours, theirs, atol=1e-12)
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-12)
    assert torch.allclose(ours, _attention_reference(q, k, v, causal_mask(T)), atol=1e-12)


def test_non_square_causal_mask_matches_pytorchs_lower_right_alignment():
    from torch.nn.attention.bias import causal_lower_right

    torch.manual_seed(0)
    q = torch.randn(1, 2, 3, 4, dtype=torch.float64)
    k, v = torch.randn(1, 2, 5, 4, dtype=torch.float64), torch.randn(1, 2, 5, 4, dtype=torch.float64)
    ours = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(3, 5))
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(3, 5))
    assert torch.allclose(ours, theirs, atol=1e-12)


def test_causal_mask_rejects_bad_sizes():
    with pytest.raises(ValueError, match="T_q must be an integer >= 1; got 0"):
        causal_mask(0)
    with pytest.raises(ValueError, match="T_k must be an integer >= 3; got 2"):
        causal_mask(3, 2)


# ------------------------------------------------------------------------------------------------- combination
def test_attention_mask_combines_padding_and_look_ahead():
    mask = attention_mask(torch.tensor([3, 1]), 3, causal=True)
    assert mask.shape == (2, 3, 3)
    assert mask.int().tolist() == [
        [[1, 0, 0], [1, 1, 0], [1, 1, 1]],
        [[1, 0, 0], [1, 0, 0], [1, 0, 0]],  # one real key: every query (padded ones too) sees only it
    ]
    cross = attention_mask(torch.tensor([2]), 1, 4)  # decoder-encoder: 1 query, 4 source steps, 2 real
    assert cross.int().tolist() == [[[1, 1, 0, 0]]]
    assert attention_mask(None, 2, causal=True).int().tolist() == [[[1, 0], [1, 1]]]


def test_attention_mask_follows_multihead_attentions_opposite_convention():
    """nn.MultiheadAttention's boolean masks mean True = ignore: ~ours gives the same weights."""
    torch.manual_seed(0)
    B, T, E, heads = 3, 5, 8, 2
    lengths = torch.tensor([5, 3, 1])
    x = torch.randn(B, T, E, dtype=torch.float64)
    mha = nn.MultiheadAttention(E, heads, batch_first=True, dtype=torch.float64).eval()
    _, weights = mha(x, x, x, key_padding_mask=~lengths_to_mask(lengths, T), attn_mask=~causal_mask(T),
                     average_attn_weights=False)
    allowed = attention_mask(lengths, T, causal=True)[:, None]  # (B, 1, T, T)
    assert torch.equal(weights > 0, allowed.expand(-1, heads, -1, -1))
    # and SDPA with our mask reproduces MHA's output from its own projections
    q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)

    def split(t):
        return t.reshape(B, T, heads, E // heads).transpose(1, 2)  # (B, heads, T, E / heads)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=allowed)
    out = mha.out_proj(out.transpose(1, 2).reshape(B, T, E))
    expected, _ = mha(x, x, x, key_padding_mask=~lengths_to_mask(lengths, T), attn_mask=~causal_mask(T))
    assert torch.allclose(out, expected, atol=1e-12)


def test_attention_mask_rejects_empty_rows_and_bad_sizes():
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 3\]"):
        attention_mask(torch.tensor([0, 2]), 3)
    with pytest.raises(ValueError, match="T_k >= T_q"):
        attention_mask(None, 4, 2, causal=True)
    with pytest.raises(ValueError, match="T_q must be an integer"):
        attention_mask(None, 0)
