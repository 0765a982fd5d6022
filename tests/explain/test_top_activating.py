"""Top-activating images and their receptive-field patches (an2dl.explain.top_activating)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from an2dl.data.core import ArrayDataset
from an2dl.errors import ConfigError
from an2dl.explain import field_box, receptive_field, top_activating


def _detector() -> nn.Sequential:
    """Channel 0 of layer '2' is the sum of a 5x5 window (two 3x3 convolutions): it peaks on the brightest blob."""
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(2, 2, 3, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[2].weight.zero_()
        net[2].weight[0, 0].fill_(1.0)
        net[2].weight[1, 0, 1, 1] = -1.0
    return net


def _images(n: int = 12, size: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = 0.05 * torch.rand(n, 1, size, size, generator=g)
    where = torch.randint(3, size - 3, (n, 2), generator=g)
    strength = torch.linspace(0.2, 1.0, n)[torch.randperm(n, generator=g)]
    for i in range(n):
        r, c = where[i].tolist()
        x[i, 0, r - 1:r + 2, c - 1:c + 2] += strength[i]
    return x, where, strength


@pytest.mark.parametrize("as_dataset", [False, True])
def test_finds_the_brightest_blobs_and_their_patches(as_dataset):
    net = _detector()
    x, where, strength = _images()
    data = ArrayDataset(x, torch.zeros(len(x), dtype=torch.long)) if as_dataset else x
    top = top_activating(net, data, "2", 0, k=3, batch_size=5)
    assert top.indices.tolist() == strength.argsort(descending=True)[:3].tolist()
    assert bool((top.values.diff() <= 0).all())
    field = receptive_field(net, (1, 16, 16), "2")
    assert top.field == field and field.size == (5, 5)
    for i, (u, v), box, patch in zip(top.indices.tolist(), top.positions.tolist(), top.boxes.tolist(), top.patches):
        # the unit's 5x5 window covers the 3x3 blob, so the window's centre is within 1 pixel of the blob's
        centre = field.center(u, v)
        assert abs(centre[0] - where[i, 0]) <= 1 and abs(centre[1] - where[i, 1]) <= 1
        assert tuple(box) == field_box(field, u, v, (16, 16))
        torch.testing.assert_close(patch, x[i, :, box[0]:box[2], box[1]:box[3]])


def test_bad_input():
    net = _detector()
    x, _, _ = _images(4)
    with pytest.raises(ConfigError, match=r"channel must be an integer in \[0, 1\].*got 5"):
        top_activating(net, x, "2", 5)
    with pytest.raises(ConfigError, match="got '3'"):
        top_activating(net, x, "3", 0)
    with pytest.raises(ConfigError, match="k must be a positive integer; got 0"):
        top_activating(net, x, "2", 0, k=0)


def test_a_vector_layer_gives_whole_images():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 8 * 8, 3))
    x = torch.rand(5, 1, 8, 8)
    top = top_activating(net, x, "2", 1, k=2)
    assert top.field is None and top.boxes.tolist() == [[0, 0, 8, 8]] * 2
    with torch.no_grad():
        want = net(x)[:, 1].topk(2)
    assert top.indices.tolist() == want.indices.tolist()
    torch.testing.assert_close(top.values, want.values)
