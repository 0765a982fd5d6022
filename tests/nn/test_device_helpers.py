"""Device helpers used where a trained model is called outside the trainer's loops."""

import torch
from torch import nn

from an2dl.nn.device import module_device, randn


def test_module_device_reads_parameters_then_buffers_then_defaults_to_cpu():
    assert module_device(nn.Linear(2, 2).double()) == torch.device("cpu")
    only_buffers = nn.Module()
    only_buffers.register_buffer("mean", torch.zeros(3, device="meta"))
    assert module_device(only_buffers) == torch.device("meta")
    assert module_device(nn.ReLU()) == torch.device("cpu")


def test_randn_with_a_generator_equals_torch_randn_and_advances_it_the_same():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = randn(4, 3, generator=g1, device="cpu", dtype=torch.float64)
    b = torch.randn(4, 3, generator=g2, dtype=torch.float64)
    assert torch.equal(a, b)
    assert torch.equal(g1.get_state(), g2.get_state())
    # the draw happens on the generator's device and is then moved: the values do not depend on `device`
    g3 = torch.Generator().manual_seed(5)
    assert randn(4, 3, generator=g3, device="meta", dtype=torch.float64).device.type == "meta"
    assert torch.equal(g3.get_state(), g2.get_state())


def test_randn_without_a_generator_uses_the_global_one():
    torch.manual_seed(7)
    a = randn(5, generator=None, device="cpu")
    torch.manual_seed(7)
    assert torch.equal(a, torch.randn(5))
