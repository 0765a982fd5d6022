"""Receptive-field arithmetic (an2dl.explain.receptive_field) against hand-computed values and gradient support."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import an2dl
from an2dl.errors import ConfigError
from an2dl.explain import field_box, receptive_field, receptive_fields


def _support_box(net: nn.Module, x: torch.Tensor, layer: nn.Module, u: int, v: int) -> tuple[int, int, int, int]:
    """The bounding box (top, left, bottom, right; half-open) of the input pixels with a nonzero gradient of
    unit (channel 0, u, v) of ``layer``'s output."""
    seen = {}
    handle = layer.register_forward_hook(lambda m, i, o: seen.setdefault("a", o))
    x = x.clone().requires_grad_(True)
    try:
        net(x)
    finally:
        handle.remove()
    (g,) = torch.autograd.grad(seen["a"][0, 0, u, v], x)
    rows, cols = torch.nonzero(g[0].abs().sum(0), as_tuple=True)
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


def test_three_3x3_convolutions_see_7x7():
    net = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)])
    fields = receptive_fields(net, (1, 16, 16))
    assert [f.size for f in fields] == [(3, 3), (5, 5), (7, 7)]
    assert [f.jump for f in fields] == [(1, 1)] * 3
    assert fields[-1].start == (0.0, 0.0)  # 'same' padding keeps unit (0, 0) centred on pixel (0, 0)


def test_lenet5_hand_computed():
    # C1 5x5 -> 5; S2 2x2/2 -> 5 + 1 = 6, jump 2; C3 5x5 -> 6 + 4*2 = 14; S4 -> 14 + 2 = 16, jump 4; C5 -> 16 + 4*4 = 32
    net = an2dl.get_model("lenet5", num_classes=10, in_channels=1)
    fields = receptive_fields(net, (1, 32, 32))
    assert [f.name for f in fields] == ["features.0", "features.2", "features.3", "features.5", "features.6"]
    assert [f.size[0] for f in fields] == [5, 6, 14, 16, 32]
    assert [f.jump[0] for f in fields] == [1, 2, 2, 4, 4]
    # start: (k-1)/2 - p times the jump before: 2, 2 + 0.5*1, 2.5 + 2*2, 6.5 + 0.5*2, 7.5 + 2*4
    assert [f.start[0] for f in fields] == [2.0, 2.5, 6.5, 7.5, 15.5]
    assert fields[-1].output_size == (1, 1)


def test_vgg16_last_block():
    """conv5_3 sees 196x196 and the last block's output (pool5) 212x212 (Simonyan & Zisserman's VGG-16)."""
    net = an2dl.get_model("vgg16", num_classes=2)
    fields = receptive_fields(net, (3, 32, 32))
    convs = [f for f in fields if f.kind == "Conv2d"]
    assert len(convs) == 13
    assert convs[-1].size == (196, 196) and convs[-1].jump == (16, 16)
    assert fields[-1].kind == "MaxPool2d" and fields[-1].size == (212, 212) and fields[-1].jump == (32, 32)
    assert receptive_field(net, (3, 32, 32)).size == (212, 212)
    assert receptive_field(net, (3, 32, 32), convs[-1].name).size == (196, 196)


@pytest.mark.parametrize("case", ["lenet5", "strided-dilated"])
def test_matches_the_support_of_the_gradient(case):
    """The input pixels with a nonzero gradient of one unit form exactly its receptive field (away from borders)."""
    torch.manual_seed(0)
    if case == "lenet5":  # tanh and average pooling: no gradient is zeroed by a ReLU or a max
        net = an2dl.get_model("lenet5", num_classes=10, in_channels=1, activation="tanh", pool="avg").double()
        size, layer = 32, "features.3"
    else:
        net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.Tanh(), nn.Conv2d(2, 2, 3, dilation=2),
                            nn.AvgPool2d(3, stride=2), nn.Conv2d(2, 2, (3, 5), padding=(1, 0))).double()
        size, layer = 64, "4"
    x = torch.rand(1, 1, size, size, dtype=torch.float64)
    f = receptive_field(net, (1, size, size), layer)
    u, v = f.output_size[0] // 2, f.output_size[1] // 2
    got = _support_box(net, x, net.get_submodule(layer), u, v)
    assert got == field_box(f, u, v, (size, size))
    assert got[2] - got[0] == f.size[0] and got[3] - got[1] == f.size[1]  # not cut by a border


def test_refuses_branches():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3, padding=1)
            self.b = nn.Conv2d(1, 1, 3, padding=1)
            self.c = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            y = self.a(x)
            return self.c(self.b(y) + y)

    with pytest.raises(ConfigError, match="one chain.*layer 'c' reads 'a', 'b'"):
        receptive_fields(Residual(), (1, 8, 8))


def test_bad_input():
    with pytest.raises(ConfigError, match="Conv2d/MaxPool2d/AvgPool2d layers; Linear has none"):
        receptive_fields(nn.Linear(3, 2), (3, 1, 1))
    with pytest.raises(ConfigError, match="input_shape must be"):
        receptive_fields(nn.Conv2d(1, 1, 3), (8, 8))
    with pytest.raises(ConfigError, match="one of the Conv2d/MaxPool2d/AvgPool2d layers.*got 'nope'"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3)), (1, 8, 8), "nope")
