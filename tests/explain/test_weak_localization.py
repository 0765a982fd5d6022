"""Weakly supervised localisation (notes §3.5.2.1): threshold the CAM, keep the largest region, take its box."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from an2dl.errors import ConfigError
from an2dl.explain.weak_localization import DEFAULT_THRESHOLD, cam_box, cam_boxes, weak_localize


def test_the_box_of_the_largest_region_above_the_threshold():
    cam = torch.zeros(10, 12)
    cam[1:3, 1:3] = 1.0  # a small strong region: 4 pixels
    cam[5:9, 4:10] = 0.5  # a large weaker one: 24 pixels, above 20 % of the maximum
    assert DEFAULT_THRESHOLD == 0.2
    assert cam_box(cam).tolist() == [4.0, 5.0, 10.0, 9.0]  # (x1, y1, x2, y2): columns 4-9, rows 5-8
    # at 60 % of the maximum only the strong region is left
    assert cam_box(cam, 0.6).tolist() == [1.0, 1.0, 3.0, 3.0]


def test_regions_touching_at_a_corner_are_separate_components():
    cam = torch.zeros(6, 6)
    cam[0:2, 0:2] = 1.0
    cam[2:5, 2:5] = 1.0  # meets the first block diagonally only: 4-connectivity keeps them apart
    assert cam_box(cam).tolist() == [2.0, 2.0, 5.0, 5.0]


def test_a_map_without_positive_evidence_gives_the_whole_image_and_batches_stack():
    assert cam_box(-torch.ones(4, 5)).tolist() == [0.0, 0.0, 5.0, 4.0]
    maps = torch.zeros(2, 4, 4)
    maps[0, 1, 2] = 3.0
    maps[1] -= 1
    assert cam_boxes(maps).tolist() == [[2.0, 1.0, 3.0, 2.0], [0.0, 0.0, 4.0, 4.0]]
    with pytest.raises(ConfigError, match=r"threshold must be a fraction of the map's maximum in \[0, 1\); got 1.2"):
        cam_box(maps[0], 1.2)
    with pytest.raises(ConfigError, match=r"cam_boxes needs maps \[N, H, W\]; got \[4, 4\]"):
        cam_boxes(maps[0])


def test_a_network_whose_map_is_the_image_boxes_the_bright_square():
    """A 1x1 convolution that copies the image, GAP and one FC: the CAM of class 0 is the image itself."""
    net = nn.Sequential(nn.Conv2d(1, 1, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[0].bias.zero_()
        net[3].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[3].bias.zero_()
    x = torch.zeros(2, 1, 16, 16)
    x[0, 0, 3:7, 9:14] = 1.0
    x[1, 0, 10:15, 0:4] = 0.8
    boxes, classes = weak_localize(net, x)
    assert classes.tolist() == [0, 0]  # a bright image scores class 0 (weight +1)
    # upsampling 16x16 maps to 16x16 is exact, so the boxes are the squares'
    assert boxes.tolist() == [[9.0, 3.0, 14.0, 7.0], [0.0, 10.0, 4.0, 15.0]]
