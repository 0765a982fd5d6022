"""First-layer filter grids (an2dl.explain.filters)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import an2dl
from an2dl.errors import ConfigError
from an2dl.explain import NoConvLayerError, filter_grid, first_conv, normalize_filters, plot_filters


def test_each_filter_is_normalised_on_its_own():
    w = torch.stack([torch.arange(12.0).reshape(3, 2, 2), -5 * torch.arange(12.0).reshape(3, 2, 2),
                     torch.full((3, 2, 2), 7.0)])
    n = normalize_filters(w)
    torch.testing.assert_close(n[0], torch.arange(12.0).reshape(3, 2, 2) / 11)
    torch.testing.assert_close(n[1], 1 - torch.arange(12.0).reshape(3, 2, 2) / 11)  # the sign flips the ramp
    torch.testing.assert_close(n[2], torch.full((3, 2, 2), 0.5))  # a constant filter is mid-grey


def test_grid_layout():
    lenet = an2dl.get_model("lenet5", num_classes=10, in_channels=1)
    assert first_conv(lenet)[0] == "features.0"
    g = filter_grid(lenet, padding=1)  # 6 grey 5x5 tiles, 3 per row, 2 rows: 2*(5+1)+1 by 3*(5+1)+1
    assert g.shape == (1, 13, 19)
    tile = g[0, 1:6, 1:6]
    torch.testing.assert_close(tile, normalize_filters(lenet.features[0].weight)[0, 0])
    colour = filter_grid(nn.Conv2d(3, 4, 3).weight, nrow=4, padding=0)  # RGB filters: one colour tile each
    assert colour.shape == (3, 3, 12)
    assert float(colour.min()) >= 0 and float(colour.max()) <= 1
    two = filter_grid(nn.Conv2d(2, 3, 3).weight)  # 3 filters x 2 channels: 6 grey tiles
    assert two.shape[0] == 1


def test_plot_and_bad_input(tmp_path):
    lenet = an2dl.get_model("lenet5", num_classes=10, in_channels=1)
    path = plot_filters(lenet, tmp_path)
    assert path.is_file() and path.name == "first_layer_filters.png"
    assert json.loads((tmp_path / "plots" / "index.json").read_text())[0]["caption"].startswith("The 6 filters")
    with pytest.raises(NoConvLayerError, match="nn.Conv2d.*Linear has none"):
        filter_grid(nn.Linear(2, 2))
    with pytest.raises(ConfigError, match=r"weight must be a convolution's weight \[K, C, kh, kw\]; got \[3, 3\]"):
        normalize_filters(torch.zeros(3, 3))
