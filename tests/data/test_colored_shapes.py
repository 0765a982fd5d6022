"""The ``colored-shapes`` generator and dataset (notes §3.7 colourisation)."""

import pytest
import torch

from an2dl.data import get_dataset
from an2dl.data.colored_shapes import SHAPE_COLORS, SHAPE_KINDS, colored_shapes
from an2dl.errors import ConfigError
from an2dl.ops.color import LUMA, rgb_to_grey


def test_images_are_a_pure_function_of_the_seed():
    a, ka = colored_shapes(8, seed=3)
    b, kb = colored_shapes(8, seed=3)
    c, _ = colored_shapes(8, seed=4)
    assert torch.equal(a, b) and torch.equal(ka, kb)
    assert not torch.equal(a, c)
    assert a.shape == (8, 3, 32, 32) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1


def test_every_kind_wears_its_colour_and_the_colours_share_a_grey_level():
    images, kinds = colored_shapes(300, max_shapes=1, seed=0)
    kinds = kinds[:, 0]
    assert set(kinds.tolist()) == {0, 1, 2} and len(SHAPE_KINDS) == 3
    for k in range(3):
        # the brightest pixel of an image of kind k is its shape; its hue is the kind's colour (up to brightness)
        shape_px = images[kinds == k].flatten(2).max(2).values  # [n, 3]
        direction = torch.nn.functional.normalize(shape_px, dim=1).mean(0)
        expected = torch.nn.functional.normalize(SHAPE_COLORS[k], dim=0)
        assert torch.dot(direction, expected) > 0.98
    lumas = SHAPE_COLORS @ torch.tensor(LUMA)
    assert lumas.max() - lumas.min() < 0.05  # the grey level hardly tells the kinds apart


def test_dataset_pairs_grey_inputs_with_rgb_targets():
    data = get_dataset("colored-shapes", n_train=20, n_val=5, n_test=6, size=24)
    grey, rgb = data.train.tensors
    assert grey.shape == (20, 1, 24, 24) and rgb.shape == (20, 3, 24, 24)
    torch.testing.assert_close(grey, rgb_to_grey(rgb))
    assert data.sizes() == {"train": 20, "val": 5, "test": 6}
    assert data.info.input_shape == (1, 24, 24) and data.info.extra["target_shape"] == [3, 24, 24]
    assert not torch.equal(data.train.tensors[1][:5], data.val.tensors[1])  # independent draws


def test_rgb_to_grey_is_the_bt601_luma():
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    torch.testing.assert_close(rgb_to_grey(rgb), torch.full((1, 1, 2, 2), 0.299))
    with pytest.raises(ValueError, match=r"expects RGB images of shape \[N, 3, H, W\]; got \[1, 1, 2, 2\]"):
        rgb_to_grey(torch.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 0}, "n must be an integer >= 1; got 0"),
    ({"n": 2, "size": 4}, "size must be an integer >= 8; got 4"),
    ({"n": 2, "max_shapes": 0}, "max_shapes must be an integer >= 1"),
    ({"n": 2, "min_radius": 0.4, "max_radius": 0.2}, "0 < min_radius <= max_radius < 0.5"),
    ({"n": 2, "brightness": (1.2, 0.8)}, "brightness must be a range"),
    ({"n": 2, "seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        colored_shapes(**kwargs)
