"""Batch normalisation, Algorithm 1 (notes §2.3.2), against F.batch_norm in float64."""

import pytest
import torch
from torch import nn

from an2dl.errors import ConfigError
from an2dl.nn.batchnorm import BatchNorm1d, BatchNorm2d, batch_norm

CASES = [
    (BatchNorm1d, nn.BatchNorm1d, (16, 5)),
    (BatchNorm1d, nn.BatchNorm1d, (8, 5, 7)),
    (BatchNorm2d, nn.BatchNorm2d, (4, 3, 6, 5)),
]


def _pair(ours_cls, torch_cls, C, *, fused):
    g = torch.Generator().manual_seed(0)
    ours = ours_cls(C, momentum=0.2, eps=1e-4, fused=fused).double()
    ref = torch_cls(C, momentum=0.2, eps=1e-4).double()
    with torch.no_grad():
        ours.weight.copy_(torch.rand(C, generator=g, dtype=torch.float64) + 0.5)
        ours.bias.copy_(torch.randn(C, generator=g, dtype=torch.float64))
    ref.load_state_dict(ours.state_dict())
    return ours, ref


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("ours_cls,torch_cls,shape", CASES)
def test_equal_to_pytorch_in_training_and_evaluation(ours_cls, torch_cls, shape, fused):
    C = shape[1]
    ours, ref = _pair(ours_cls, torch_cls, C, fused=fused)
    g = torch.Generator().manual_seed(1)
    for mode in ("train", "train", "train", "eval"):
        ours.train(mode == "train")
        ref.train(mode == "train")
        x = (torch.randn(*shape, generator=g, dtype=torch.float64) * 3 + 2).requires_grad_(True)
        x2 = x.detach().clone().requires_grad_(True)
        upstream = torch.randn(*shape, generator=g, dtype=torch.float64)
        y, y_ref = ours(x), ref(x2)
        torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
        grads = torch.autograd.grad(y, [x, ours.weight, ours.bias], upstream)
        grads_ref = torch.autograd.grad(y_ref, [x2, ref.weight, ref.bias], upstream)
        for a, b in zip(grads, grads_ref):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(ours.running_mean, ref.running_mean, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-12, atol=1e-14)
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == 3


def test_algorithm_1_normalises_each_channel_of_the_batch():
    x = torch.randn(32, 4, 5, 5, dtype=torch.float64) * 7 - 3
    gamma, beta = torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    y = batch_norm(x, gamma, beta, None, None, training=True, eps=0.0)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(4, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(4, dtype=torch.float64), atol=1e-12, rtol=0)
    # scale and shift
    y2 = batch_norm(x, 2 * gamma, beta + 1, None, None, training=True, eps=0.0)
    torch.testing.assert_close(y2, 2 * y + 1)


def test_state_dict_is_pytorch_compatible():
    ours, ref = BatchNorm2d(6), nn.BatchNorm2d(6)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)


@pytest.mark.parametrize("fused", [False, True])
def test_a_batch_of_one_in_training_is_a_clear_error(fused):
    bn = BatchNorm1d(3, fused=fused)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(torch.randn(1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm2d(3, fused=fused)(torch.randn(1, 3, 1, 1))
    bn.eval()
    assert bn(torch.randn(1, 3)).shape == (1, 3)  # evaluation uses the running estimates


def test_bad_input():
    with pytest.raises(ValueError, match=r"BatchNorm2d expects input of shape \[B, C, H, W\] with C=3; got \[2, 3\]"):
        BatchNorm2d(3)(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d expects input of shape \[B, C\] or \[B, C, L\] with C=4; got \[2, 3\]"):
        BatchNorm1d(4)(torch.randn(2, 3))
    with pytest.raises(ConfigError, match="num_features must be a positive integer; got 0"):
        BatchNorm1d(0)
    with pytest.raises(ConfigError, match=r"momentum must be a number in \[0, 1\]; got 1.5"):
        BatchNorm1d(3, momentum=1.5)
    with pytest.raises(ConfigError, match="eps must be a number > 0"):
        BatchNorm1d(3, eps=0)
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        batch_norm(torch.randn(4, 2), torch.ones(2), torch.zeros(2), None, None, training=False)
