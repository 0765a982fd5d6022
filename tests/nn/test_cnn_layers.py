import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import an2dl
from an2dl.errors import ConfigError
from an2dl.models.vision.plain_cnn import PlainCNN
from an2dl.nn.cnn_layers import (
    conv2d_output_shape,
    conv2d_parameter_count,
    conv_output_size,
    dense_parameter_count,
    pool_output_size,
)
from an2dl.nn.pooling import (
    GlobalAvgPool2d,
    GlobalMaxPool2d,
    global_avg_pool2d,
    global_max_pool2d,
    pool2d_reference,
)


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(4, 20),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
    d=st.integers(1, 2),
)
def test_conv_output_size_matches_nn_conv2d(size, k, s, p, d):
    if size + 2 * p < d * (k - 1) + 1:
        with pytest.raises(ConfigError, match="does not fit"):
            conv_output_size(size, k, stride=s, padding=p, dilation=d)
        return
    conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
    out = conv(torch.zeros(1, 1, size, size + 1))
    assert out.shape[-2:] == (
        conv_output_size(size, k, stride=s, padding=p, dilation=d),
        conv_output_size(size + 1, k, stride=s, padding=p, dilation=d),
    )


@pytest.mark.parametrize("size, k, s, p, ceil", list(itertools.product([5, 8, 9], [2, 3], [1, 2, 3], [0, 1], [False, True])))
def test_pool_output_size_matches_max_pool2d(size, k, s, p, ceil):
    if p > k // 2:
        return  # PyTorch requires padding <= kernel / 2
    out = F.max_pool2d(torch.zeros(1, 1, size, size), k, stride=s, padding=p, ceil_mode=ceil)
    assert out.shape[-1] == pool_output_size(size, k, stride=s, padding=p, ceil_mode=ceil)


@pytest.mark.parametrize("k, c, n_f, groups, bias", [(3, 3, 16, 1, True), ((5, 3), 4, 8, 2, True), (3, 8, 8, 8, False), (1, 64, 10, 1, True)])
def test_parameter_count_formula_against_nn_conv2d(k, c, n_f, groups, bias):
    conv = nn.Conv2d(c, n_f, k, groups=groups, bias=bias)
    assert conv2d_parameter_count(k, c, n_f, groups=groups, bias=bias) == sum(p.numel() for p in conv.parameters())
    lin = nn.Linear(c * 9, n_f)
    assert dense_parameter_count(c * 9, n_f) == sum(p.numel() for p in lin.parameters())


def test_conv2d_output_shape():
    conv = nn.Conv2d(3, 7, (3, 5), stride=(2, 1), padding=(1, 2))
    assert conv2d_output_shape((3, 17, 12), filters=7, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2)) == tuple(
        conv(torch.zeros(1, 3, 17, 12)).shape[1:]
    )


@pytest.mark.parametrize("k, s", [(2, 2), (3, 3), (3, 1), (2, 1), (3, 2)])
def test_pool_reference_equals_torch(k, s):
    x = torch.randn(2, 3, 9, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(k * 10 + s))
    torch.testing.assert_close(pool2d_reference(x, k, stride=s, mode="max"), F.max_pool2d(x, k, stride=s), rtol=0, atol=0)
    torch.testing.assert_close(pool2d_reference(x, k, stride=s, mode="avg"), F.avg_pool2d(x, k, stride=s), rtol=0, atol=1e-14)


def test_overlapping_unit_stride_pooling_keeps_most_of_the_size():
    x = torch.rand(1, 1, 8, 8)
    assert pool2d_reference(x, 2, stride=1).shape[-2:] == (7, 7)
    assert pool2d_reference(x, 2).shape[-2:] == (4, 4)


def test_global_pooling():
    x = torch.randn(2, 5, 4, 3)
    torch.testing.assert_close(global_avg_pool2d(x), F.adaptive_avg_pool2d(x, 1).flatten(1))
    torch.testing.assert_close(global_max_pool2d(x), F.adaptive_max_pool2d(x, 1).flatten(1))
    assert GlobalAvgPool2d()(x).shape == (2, 5) and GlobalAvgPool2d(flatten=False)(x).shape == (2, 5, 1, 1)
    assert GlobalMaxPool2d()(x).shape == (2, 5)
    assert "flatten=True" in repr(GlobalMaxPool2d())


@pytest.mark.parametrize("head", ["dense", "gap", "gap-linear"])
def test_plain_cnn_heads_and_interface(head):
    model = an2dl.get_model("plain_cnn", channels=[4, 8], convs_per_block=2, head=head, hidden=[16], dropout=0.1,
                            batch_norm=True)
    x = torch.rand(3, 1, 28, 28)
    model.eval()
    f = model.forward_features(x)
    assert f.shape == (3, 8, 7, 7)
    assert torch.equal(model.forward_head(f), model(x))
    assert model(x).shape == (3, 10)
    model.reset_classifier(4)
    assert model(x).shape == (3, 4)


def test_plain_cnn_parameter_count_follows_the_formula():
    model = PlainCNN(num_classes=10, in_channels=3, input_size=(32, 32), channels=(8, 16), hidden=(32,))
    expected = (
        conv2d_parameter_count(3, 3, 8)
        + conv2d_parameter_count(3, 8, 16)
        + dense_parameter_count(16 * 8 * 8, 32)
        + dense_parameter_count(32, 10)
    )
    assert sum(p.numel() for p in model.parameters()) == expected
    gap = PlainCNN(num_classes=10, in_channels=3, input_size=(32, 32), channels=(8, 16), head="gap")
    assert sum(p.numel() for p in gap.parameters()) == (
        conv2d_parameter_count(3, 3, 8) + conv2d_parameter_count(3, 8, 16) + conv2d_parameter_count(1, 16, 10)
    )


def test_channels_grow_while_maps_shrink():
    model = PlainCNN(input_size=(32, 32), channels=(8, 16, 32))
    x = torch.rand(1, 1, 32, 32)
    shapes = []
    for layer in model.features:
        x = layer(x)
        if isinstance(layer, nn.MaxPool2d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(8, 16, 16), (16, 8, 8), (32, 4, 4)]


def test_bad_arguments():
    with pytest.raises(ConfigError, match="must be an integer >= 1"):
        conv_output_size(0, 3)
    with pytest.raises(ConfigError, match="kernel_size must be an integer >= 1 or a pair"):
        conv2d_parameter_count((3, 3, 3), 1, 1)
    with pytest.raises(ConfigError, match="divisible by groups"):
        conv2d_parameter_count(3, 6, 4, groups=4)
    with pytest.raises(ConfigError, match="in_features must be a positive integer"):
        dense_parameter_count(0, 3)
    with pytest.raises(ConfigError, match="input_shape must be"):
        conv2d_output_shape((3, 4), filters=2, kernel_size=3)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        global_avg_pool2d(torch.rand(3, 4, 4))
    with pytest.raises(TypeError, match="floating-point"):
        pool2d_reference(torch.zeros(1, 1, 4, 4, dtype=torch.long), 2)
    with pytest.raises(ConfigError, match="mode must be 'max' or 'avg'"):
        pool2d_reference(torch.rand(1, 1, 4, 4), 2, mode="min")
    with pytest.raises(ConfigError, match="head must be one of"):
        an2dl.get_model("plain_cnn", head="mlp")
    with pytest.raises(ConfigError, match="at least 16×16"):
        PlainCNN(input_size=(8, 8), channels=(4, 4, 4, 4))
    with pytest.raises(ConfigError, match="odd positive integer"):
        PlainCNN(kernel_size=4)
    with pytest.raises(ConfigError, match="activation must be one of"):
        an2dl.get_model("plain_cnn", activation="gelu2")
    with pytest.raises(ValueError, match=r"expects input of shape \[B, 1, 28, 28\]"):
        an2dl.get_model("plain_cnn")(torch.rand(2, 1, 32, 32))
