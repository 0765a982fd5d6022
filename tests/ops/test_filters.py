"""Median, minimum and maximum filters against scipy.ndimage; salt-and-pepper noise (notes §3.1.2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.ops import box_kernel, filter2d, max_filter, median_filter, min_filter, salt_and_pepper
from an2dl.ops.filters import PADDING_MODES

ndimage = pytest.importorskip("scipy.ndimage")

PAIRS = [
    (median_filter, ndimage.median_filter),
    (min_filter, ndimage.minimum_filter),
    (max_filter, ndimage.maximum_filter),
]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


def _smooth_image(side: int = 64) -> torch.Tensor:
    """A ``[1, side, side]`` image: a slow wave plus a brighter rectangle (flat regions and edges)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
    rect = ((xx > 0.3) & (xx < 0.7) & (yy > 0.2) & (yy < 0.6)).float()
    return (0.3 + 0.2 * torch.sin(3 * xx + 2 * yy) + 0.2 * rect)[None]


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["median", "min", "max"])
@pytest.mark.parametrize("hw", [(1, 1), (3, 2), (7, 5), (16, 13)])
@pytest.mark.parametrize("size", [1, 2, 3, 4, (3, 4), (5, 2), 9])
def test_equals_scipy_in_every_padding_mode(ours, theirs, hw, size):
    rng = np.random.default_rng(hash((hw, str(size))) % 2**32)
    x = rng.random(hw)
    for mode in PADDING_MODES:
        got = ours(torch.from_numpy(x), size, padding=mode, cval=0.25).numpy()
        want = theirs(x, size=size, mode=mode, cval=0.25)
        np.testing.assert_array_equal(got, want, err_msg=f"padding={mode}")


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["median", "min", "max"])
def test_batched_and_channelled_inputs_filter_each_plane(ours, theirs):
    x = torch.rand(2, 3, 11, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = ours(x, (3, 5), padding="nearest")
    assert out.shape == x.shape and out.dtype == x.dtype
    # size 1 along N and C: no mixing across images or channels
    want = theirs(x.numpy(), size=(1, 1, 3, 5), mode="nearest")
    np.testing.assert_array_equal(out.numpy(), want)
    np.testing.assert_array_equal(ours(x[1], (3, 5), padding="nearest").numpy(), want[1])
    np.testing.assert_array_equal(ours(x[1, 2], (3, 5), padding="nearest").numpy(), want[1, 2])


def test_integer_images_and_default_reflect():
    x = torch.randint(0, 256, (10, 12), generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(median_filter(x, 3).numpy(), ndimage.median_filter(x.numpy(), size=3))
    np.testing.assert_array_equal(min_filter(x, 4).numpy(), ndimage.minimum_filter(x.numpy(), size=4))


def test_erosion_and_dilation_bound_the_median():
    x = torch.rand(1, 20, 20, generator=torch.Generator().manual_seed(2))
    lo, med, hi = min_filter(x, 5), median_filter(x, 5), max_filter(x, 5)
    assert bool((lo <= med).all() and (med <= hi).all())
    # a single bright pixel grows into a 3x3 square under dilation and vanishes under erosion
    dot = torch.zeros(9, 9)
    dot[4, 4] = 1
    assert int(max_filter(dot, 3).sum()) == 9 and int(min_filter(dot, 3).sum()) == 0


def test_median_removes_an_isolated_impulse_that_a_box_filter_smears():
    flat = torch.full((1, 15, 15), 0.5)
    noisy = flat.clone()
    noisy[0, 7, 7] = 1.0  # salt
    noisy[0, 3, 10] = 0.0  # pepper
    assert torch.equal(median_filter(noisy, 3), flat)
    box = filter2d(noisy, box_kernel(3))
    assert float((box - flat).abs().max()) > 0.05  # each impulse leaks into its 3x3 neighbourhood


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_median_beats_box_on_salt_and_pepper_noise(seed):
    # measured PSNR (dB) on this image with amount=0.05, seeds 0..4:
    # noisy 17.9-18.7, box 3x3 26.3-27.3, median 3x3 34.4-42.3 (smallest gap 8.0 dB)
    clean = _smooth_image()
    noisy = salt_and_pepper(clean, 0.05, seed=seed)
    median = median_filter(noisy, 3)
    box = filter2d(noisy, box_kernel(3))
    p_noisy, p_box, p_median = _psnr(noisy, clean), _psnr(box, clean), _psnr(median, clean)
    assert p_box > p_noisy
    assert p_median > p_box + 6.0, (p_noisy, p_box, p_median)


def test_salt_and_pepper_hits_the_requested_fraction():
    x = torch.full((3, 100, 100), 0.5)
    y = salt_and_pepper(x, 0.1, salt_vs_pepper=0.3, seed=4)
    hit = y != 0.5
    assert abs(float(hit.float().mean()) - 0.1) < 0.01
    assert abs(float((y[hit] == 1).float().mean()) - 0.3) < 0.03
    assert bool(((y[hit] == 0) | (y[hit] == 1)).all())
    assert torch.equal(y, salt_and_pepper(x, 0.1, salt_vs_pepper=0.3, seed=4))  # same seed, same noise
    assert not torch.equal(y, salt_and_pepper(x, 0.1, salt_vs_pepper=0.3, seed=5))
    assert torch.equal(salt_and_pepper(x, 0.0), x)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"size": 0}, ConfigError, "size must be a positive integer"),
        ({"size": (3, 0)}, ConfigError, "size must be a positive integer"),
        ({"size": (3, 3, 3)}, ConfigError, "size must be"),
        ({"size": 2.5}, ConfigError, "size must be"),
        ({"padding": "zeros"}, ConfigError, "padding must be one of"),
        ({"padding": "constant", "cval": "0"}, ConfigError, "cval must be a number"),
    ],
)
@pytest.mark.parametrize("fn", [median_filter, min_filter, max_filter])
def test_bad_arguments(fn, kwargs, error, match):
    with pytest.raises(error, match=match):
        fn(torch.rand(5, 5), **kwargs)


@pytest.mark.parametrize(
    "image, error, match",
    [
        (np.zeros((5, 5)), TypeError, "must be a torch.Tensor"),
        (torch.zeros(5, 5, dtype=torch.bool), TypeError, "real numbers"),
        (torch.zeros(5), ValueError, r"\[H, W\], \[C, H, W\] or \[N, C, H, W\]"),
        (torch.zeros(1, 1, 1, 5, 5), ValueError, "got \\[1, 1, 1, 5, 5\\]"),
        (torch.zeros(3, 0, 5), ValueError, "at least one pixel"),
    ],
)
def test_bad_images(image, error, match):
    with pytest.raises(error, match=match):
        median_filter(image)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((torch.zeros(4, 4, dtype=torch.uint8), 0.1), {}, TypeError, "floating-point"),
        ((torch.zeros(4, 4), 1.5), {}, ConfigError, "amount must be a number in \\[0, 1\\]"),
        ((torch.zeros(4, 4), 0.1), {"salt_vs_pepper": -0.1}, ConfigError, "salt_vs_pepper"),
        ((torch.zeros(4, 4), 0.1), {"seed": 1.0}, ConfigError, "seed must be an integer"),
    ],
)
def test_salt_and_pepper_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        salt_and_pepper(*args, **kwargs)
