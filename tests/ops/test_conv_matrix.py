"""Convolution as a sparse, weight-shared matrix vs a dense layer (notes §3.3.5)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.ops import (
    conv2d_as_matrix,
    conv_vs_dense_parameters,
    matrix_sharing,
    translation_equivariance_error,
)

CASES = [
    # (C_in, C_out, kernel, (H, W), stride, padding, dilation)
    (1, 1, 3, (5, 5), 1, 0, 1),
    (3, 4, 3, (9, 8), 2, 1, 1),
    (2, 3, (3, 2), (10, 7), (1, 2), (2, 0), (2, 1)),
    (2, 2, 5, (6, 6), 1, 2, 1),
    (4, 2, 1, (3, 5), 1, 0, 1),
    (1, 5, 2, (7, 4), 3, 1, 2),
]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _kernel(k):
    return (k, k) if isinstance(k, int) else k


@pytest.mark.parametrize("c_in, c_out, k, hw, stride, padding, dilation", CASES)
def test_matrix_times_input_equals_conv2d(c_in, c_out, k, hw, stride, padding, dilation):
    w = torch.randn(c_out, c_in, *_kernel(k), generator=_gen(0), dtype=torch.float64)
    b = torch.randn(c_out, generator=_gen(1), dtype=torch.float64)
    x = torch.randn(3, c_in, *hw, generator=_gen(2), dtype=torch.float64)
    want = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)  # (B, C_out, H', W')
    sparse = conv2d_as_matrix(w, (c_in, *hw), stride=stride, padding=padding, dilation=dilation)
    dense = conv2d_as_matrix(w, (c_in, *hw), stride=stride, padding=padding, dilation=dilation, dense=True)
    assert sparse.is_sparse and sparse.is_coalesced() and not dense.is_sparse
    assert sparse.shape == dense.shape == (want[0].numel(), x[0].numel())
    torch.testing.assert_close(sparse.to_dense(), dense, rtol=0, atol=0)
    bias = b.repeat_interleave(want.shape[-2] * want.shape[-1])  # one bias per output channel, every position
    for i in range(x.shape[0]):  # per sample: M @ x.flatten() + bias == conv(x).flatten()
        torch.testing.assert_close(dense @ x[i].flatten() + bias, want[i].flatten(), rtol=1e-12, atol=1e-12)
    batched = torch.sparse.mm(sparse, x.flatten(1).T).T + bias  # (B, C_out·H'·W')
    torch.testing.assert_close(batched, want.flatten(1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c_in, c_out, k, hw, stride, padding, dilation", CASES)
def test_circular_padding_matches_nn_conv2d(c_in, c_out, k, hw, stride, padding, dilation):
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, dilation=dilation, padding_mode="circular",
                     bias=False).double()
    x = torch.randn(2, c_in, *hw, generator=_gen(3), dtype=torch.float64)
    m = conv2d_as_matrix(conv.weight.detach(), (c_in, *hw), stride=stride, padding=padding, dilation=dilation,
                         padding_mode="circular", dense=True)
    torch.testing.assert_close((m @ x.flatten(1).T).T, conv(x).detach().flatten(1), rtol=1e-12, atol=1e-12)


def test_gradients_reach_the_shared_weights():
    w = torch.randn(3, 2, 3, 3, generator=_gen(4), dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 8, 8, generator=_gen(5), dtype=torch.float64)
    (torch.sparse.mm(conv2d_as_matrix(w, (2, 8, 8), padding=1), x.flatten()[:, None]) ** 2).sum().backward()
    g_matrix = w.grad.clone()
    w.grad = None
    (F.conv2d(x[None], w, padding=1) ** 2).sum().backward()
    torch.testing.assert_close(g_matrix, w.grad, rtol=1e-12, atol=1e-12)


def test_sparsity_and_sharing_by_hand():
    # one 3x3 filter, valid on 5x5: 9 outputs x 9 taps, all the same 9 weights
    s = matrix_sharing((1, 1, 3, 3), (1, 5, 5))
    assert s.shape == (9, 25) and s.entries == 225
    assert s.nonzero == 81 and s.distinct_weights == 9 and s.uses_per_weight == 9.0
    # zero padding 1 on 4x4: per axis the windows cover 2, 3, 3, 2 in-image taps -> 10² per (o, i) pair
    s = matrix_sharing((3, 2, 3, 3), (2, 4, 4), padding=1)
    assert s.shape == (3 * 16, 2 * 16)
    assert s.nonzero == s.weight_uses == 3 * 2 * 10 * 10
    assert s.distinct_weights == 3 * 2 * 9
    assert s.density == pytest.approx(600 / (48 * 32))
    # the structural count does not depend on the weight values
    w = torch.randn(3, 2, 3, 3, generator=_gen(6))
    assert matrix_sharing(w, (2, 4, 4), padding=1) == s
    # a bigger image: the matrix grows, the distinct weights do not, and it gets sparser
    big = matrix_sharing((3, 2, 3, 3), (2, 32, 32), padding=1)
    assert big.distinct_weights == 54 and big.density < 0.01 and big.uses_per_weight > 900
    # a 3x3 filter wrapping twice onto a 2-pixel-wide circular image: two weights share one entry
    wrap = matrix_sharing((1, 1, 3, 3), (1, 4, 2), padding=1, padding_mode="circular")
    assert wrap.weight_uses == 4 * 2 * 9 and wrap.nonzero == 4 * 2 * 3 * 2


@pytest.mark.parametrize(
    "c_in, c_out, k, hw, kwargs, conv, d_in, d_out",
    [
        (3, 16, 3, (32, 32), {"padding": 1}, 3 * 3 * 3 * 16 + 16, 3 * 32 * 32, 16 * 32 * 32),
        (3, 16, 3, (32, 32), {"stride": 2}, 448, 3072, 16 * 15 * 15),
        (1, 6, 5, (28, 28), {}, 5 * 5 * 6 + 6, 784, 6 * 24 * 24),  # LeNet-5's first layer
        (64, 128, (3, 1), (8, 8), {"padding": (1, 0)}, 3 * 64 * 128 + 128, 64 * 64, 128 * 64),
    ],
)
def test_parameter_counts_against_hand_formulas(c_in, c_out, k, hw, kwargs, conv, d_in, d_out):
    p = conv_vs_dense_parameters(c_in, c_out, k, hw, **kwargs)
    assert p.conv == conv == sum(t.numel() for t in nn.Conv2d(c_in, c_out, k, **kwargs).parameters())
    assert (p.in_features, p.out_features) == (d_in, d_out)
    assert p.dense == d_in * d_out + d_out
    assert p.ratio == p.dense / p.conv > 100
    no_bias = conv_vs_dense_parameters(c_in, c_out, k, hw, bias=False, **kwargs)
    assert (no_bias.conv, no_bias.dense) == (conv - c_out, d_in * d_out)


def test_conv_parameters_do_not_grow_with_the_image_but_dense_ones_do():
    small = conv_vs_dense_parameters(3, 8, 3, (16, 16), padding=1, bias=False)
    large = conv_vs_dense_parameters(3, 8, 3, (64, 64), padding=1, bias=False)
    assert small.conv == large.conv
    assert large.dense == 16**2 * small.dense  # (16x pixels in) x (16x pixels out)


def test_circular_conv_matrix_commutes_with_shifts():
    # the matrix form of translation equivariance: M S_in = S_out M (block-circulant structure)
    c_in, c_out, h, w = 2, 3, 6, 5
    weight = torch.randn(c_out, c_in, 3, 3, generator=_gen(7), dtype=torch.float64)
    m = conv2d_as_matrix(weight, (c_in, h, w), padding=1, padding_mode="circular", dense=True)

    def shift_matrix(c: int) -> torch.Tensor:
        eye = torch.eye(c * h * w, dtype=torch.float64).view(c * h * w, c, h, w)
        return torch.roll(eye, shifts=(1, 2), dims=(-2, -1)).reshape(c * h * w, -1).T

    torch.testing.assert_close(m @ shift_matrix(c_in), shift_matrix(c_out) @ m, rtol=0, atol=1e-12)


def test_convolution_is_translation_equivariant_and_a_dense_layer_is_not():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 12, 12, generator=_gen(8), dtype=torch.float64)
    conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular").double()
    dense = nn.Linear(3 * 12 * 12, 4 * 12 * 12).double()

    def dense_layer(t: torch.Tensor) -> torch.Tensor:
        return dense(t.flatten(1)).view(-1, 4, 12, 12)

    for shift in [(1, 0), (0, 3), (2, -5), (6, 6)]:
        assert translation_equivariance_error(conv, x, shift) < 1e-12
        assert translation_equivariance_error(dense_layer, x, shift) > 0.5  # measured 1.2-1.5
    # with zero padding the equivariance holds away from the border: shift by zero-filling, compare the interior
    conv0 = nn.Conv2d(3, 4, 3, padding=1).double()
    shifted = torch.zeros_like(x)
    shifted[..., 2:, 3:] = x[..., :-2, :-3]
    with torch.no_grad():
        a, b = conv0(x), conv0(shifted)
        d = dense_layer(x), dense_layer(shifted)
    interior = (slice(None), slice(None), slice(3, -1), slice(4, -1))  # outputs whose windows miss the zero-fill
    torch.testing.assert_close(b[interior], a[..., 1:-3, 1:-4], rtol=1e-12, atol=1e-12)
    rel = (d[1][interior] - d[0][..., 1:-3, 1:-4]).norm() / d[0][..., 1:-3, 1:-4].norm()
    assert float(rel) > 0.5


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((torch.zeros(2, 2, 3, 3, dtype=torch.long), (2, 5, 5)), {}, TypeError, "floating-point"),
        ((torch.zeros(2, 3, 3), (2, 5, 5)), {}, ValueError, r"\[C_out, C_in, h, w\]"),
        ((torch.zeros(2, 2, 3, 3), (5, 5)), {}, ConfigError, "input_shape must be \\(C_in, H, W\\)"),
        ((torch.zeros(2, 2, 3, 3), (3, 5, 5)), {}, ConfigError, "3 channels but the weight expects C_in=2"),
        ((torch.zeros(2, 2, 3, 3), (2, 5, 5)), {"stride": 0}, ConfigError, "stride must be an integer >= 1"),
        ((torch.zeros(2, 2, 3, 3), (2, 5, 5)), {"padding": -1}, ConfigError, "padding must be an integer >= 0"),
        ((torch.zeros(2, 2, 3, 3), (2, 5, 5)), {"dilation": (1, 0)}, ConfigError, "dilation"),
        ((torch.zeros(2, 2, 7, 7), (2, 5, 5)), {}, ConfigError, "does not fit"),
        ((torch.zeros(2, 2, 3, 3), (2, 5, 5)), {"padding_mode": "reflect"}, ConfigError, "padding_mode must be one of"),
    ],
)
def test_conv2d_as_matrix_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        conv2d_as_matrix(*args, **kwargs)


def test_helpers_bad_arguments():
    with pytest.raises(ConfigError, match="weight_shape must be"):
        matrix_sharing((2, 2, 3), (2, 5, 5))
    with pytest.raises(ConfigError, match="input_hw must be"):
        conv_vs_dense_parameters(3, 4, 3, (32,))
    with pytest.raises(ConfigError, match="in_channels must be a positive integer"):
        conv_vs_dense_parameters(0, 4, 3, (32, 32))
    with pytest.raises(ConfigError, match="shift must be a pair of integers"):
        translation_equivariance_error(nn.Identity(), torch.zeros(1, 1, 4, 4), (1.5, 0))
    with pytest.raises(ValueError, match="x must be a float tensor"):
        translation_equivariance_error(nn.Identity(), torch.zeros(4, 4), (1, 0))
    with pytest.raises(ValueError, match="with the input's H × W"):
        translation_equivariance_error(nn.Conv2d(1, 1, 3), torch.zeros(1, 1, 6, 6), (1, 0))
