"""Upsampling operators (notes §3.5.1.2) against hand-computed examples and PyTorch's fused kernels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.nn import (
    BedOfNails,
    MaxUnpool2d,
    NearestUpsample,
    TransposeConv2d,
    bed_of_nails,
    bilinear_kernel,
    max_unpool2d,
    nearest_upsample,
    transpose_conv2d,
)

X = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])


def test_nearest_neighbour_copies_every_value_into_its_block():
    want = torch.tensor([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]], dtype=torch.float32)
    assert torch.equal(nearest_upsample(X, 2)[0, 0], want)
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    assert torch.equal(NearestUpsample(3)(x), F.interpolate(x, scale_factor=3, mode="nearest"))


def test_bed_of_nails_puts_values_at_a_fixed_position_and_zeros_elsewhere():
    want = torch.tensor([[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(bed_of_nails(X, 2)[0, 0], want)
    shifted = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 2], [0, 0, 0, 0], [0, 3, 0, 4]], dtype=torch.float32)
    assert torch.equal(BedOfNails(2, position=(1, 1))(X)[0, 0], shifted)
    with pytest.raises(ConfigError, match=r"position must lie in \[0, 2\)"):
        bed_of_nails(X, 2, position=(2, 0))


def test_max_unpooling_returns_values_to_where_the_maxima_were():
    x = torch.tensor([[[[1.0, 5, 2, 0], [3, 2, 8, 1], [0, 0, 1, 1], [7, 0, 1, 2]]]])
    pooled, idx = F.max_pool2d(x, 2, return_indices=True)
    assert idx.flatten().tolist() == [1, 6, 12, 15]
    want = torch.tensor([[0.0, 5, 0, 0], [0, 0, 8, 0], [0, 0, 0, 0], [7, 0, 0, 2]])
    assert torch.equal(max_unpool2d(pooled, idx, (4, 4))[0, 0], want)
    big = torch.randn(2, 3, 9, 7, dtype=torch.float64)
    p, i = F.max_pool2d(big, 2, return_indices=True)
    assert torch.equal(MaxUnpool2d()(p, i, (9, 7)), F.max_unpool2d(p, i, 2, output_size=(9, 7)))


def test_max_unpooling_refuses_indices_outside_the_output():
    pooled, idx = F.max_pool2d(torch.randn(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\)"):
        max_unpool2d(pooled, idx, (2, 2))
    with pytest.raises(ValueError, match="integer tensor shaped like x"):
        max_unpool2d(pooled, idx.float(), (4, 4))


def test_transpose_convolution_by_hand():
    """Each input value scales the filter; the scaled filters are placed s apart and summed."""
    x = torch.tensor([[[[1.0, 2.0]]]])
    k = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    want = torch.tensor([[1.0, 4.0, 4.0], [3.0, 10.0, 8.0]])
    assert torch.equal(transpose_conv2d(x, k)[0, 0], want)
    assert torch.equal(F.conv_transpose2d(x, k)[0, 0], want)
    # stride 2 with a 2x2 filter of ones: every value fills its own block, i.e. nearest neighbour
    assert torch.equal(transpose_conv2d(X, torch.ones(1, 1, 2, 2), stride=2), nearest_upsample(X, 2))


@pytest.mark.parametrize("stride,padding,output_padding,k", [(1, 0, 0, 3), (2, 0, 0, 2), (2, 1, 1, 3), (3, 2, 2, 4),
                                                             (2, 1, 0, 4)])
def test_transpose_convolution_is_bed_of_nails_plus_convolution(stride, padding, output_padding, k):
    g = torch.Generator().manual_seed(stride * 10 + k)
    x = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64)
    w = torch.randn(3, 4, k, k, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    got = transpose_conv2d(x, w, b, stride=stride, padding=padding, output_padding=output_padding)
    want = F.conv_transpose2d(x, w, b, stride=stride, padding=padding, output_padding=output_padding)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-12)
    layer = TransposeConv2d(3, 4, k, stride=stride, padding=padding, output_padding=output_padding).double()
    assert torch.allclose(layer.forward_reference(x), layer(x), atol=1e-12)


def test_transpose_conv_layer_is_state_dict_compatible_with_pytorch():
    ours = TransposeConv2d(4, 2, 3, stride=2)
    theirs = torch.nn.ConvTranspose2d(4, 2, 3, stride=2)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(1, 4, 6, 6)
    assert torch.equal(ours(x), theirs(x))


def test_bilinear_initialisation_interpolates():
    up = TransposeConv2d(2, 2, 4, stride=2, padding=1, init="bilinear", bias=False).double()
    x = torch.arange(16, dtype=torch.float64).reshape(1, 1, 4, 4).repeat(1, 2, 1, 1)
    out = up(x)
    assert out.shape == (1, 2, 8, 8)
    # away from the border the kernel reproduces PyTorch's bilinear interpolation (align_corners=False)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(out[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-12)
    assert bilinear_kernel(2).tolist()[0] == pytest.approx([0.0625, 0.1875, 0.1875, 0.0625])
    with pytest.raises(ConfigError, match="kernel_size == 2 \\* stride"):
        TransposeConv2d(2, 2, 3, stride=2, init="bilinear")


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="factor must be a positive integer; got 0"):
        nearest_upsample(X, 0)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]; got \[2, 2\]"):
        nearest_upsample(X[0, 0], 2)
    with pytest.raises(ConfigError, match="output_padding must lie in"):
        transpose_conv2d(X, torch.ones(1, 1, 3, 3), stride=2, output_padding=2)
