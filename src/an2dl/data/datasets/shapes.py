"""Synthetic shapes for semantic segmentation: circles, squares and triangles on a textured background.

A seeded, embedded data set (no download) on which the segmentation
recipes and tests train in seconds.  Every image (grey, ``size × size``)
holds 2 to ``max_shapes`` shapes, each of a random class (circle, square,
triangle), size, position, rotation and brightness, drawn in order so that
later shapes hide earlier ones; the background is a smooth random field and
the whole image gets Gaussian noise.  Brightness says nothing about the
class (all classes draw it from the same range), so a pixel's class depends
on the shape around it: a network must see context, and the class borders
must be placed precisely — the two needs the notes' encoder–decoder with
skip connections reconciles (§3.5.1.2).

Classes: 0 ``background``, 1 ``circle``, 2 ``square``, 3 ``triangle``.
The three parts are independent draws from generators seeded by
``(seed, part)``, so the same arguments give the same images on every machine.
"""

from __future__ import annotations

import math

import torch

from ..._utils.rng import generator as seeded_generator
from ...errors import ConfigError
from ..core import DataSplits
from ..preprocess import Preprocess
from ..registry import register_dataset
from .segmentation_folder import segmentation_splits

__all__ = ["shapes_segmentation", "draw_shapes", "shape_masks", "SHAPE_CLASSES", "SHAPE_EXTENT"]

#: the class names, in id order
SHAPE_CLASSES = ["background", "circle", "square", "triangle"]

#: the distance from a shape's centre to its farthest point, in units of its radius ``r`` (the triangle's corners)
SHAPE_EXTENT = 1.25


def shape_masks(cls: torch.Tensor, r: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, theta: torch.Tensor,
                size: int) -> torch.Tensor:
    """The pixels inside one shape per image: the rasteriser of every synthetic shapes data set.

    Shape ``i`` is a circle of radius ``r``, a square of half-side ``0.85 r`` or an
    equilateral triangle of circumradius ``1.25 r`` (class 1, 2, 3), centred at
    ``(cx, cy)`` and turned by ``theta``; lengths are in units of the image side, a
    pixel is inside when its centre is.

    Shape:
        ``cls`` ``[n]`` int64 in {1, 2, 3}; ``r``, ``cx``, ``cy``, ``theta`` ``[n]`` float -> ``[n, size, size]`` bool.
    """
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres in (0, 1)
    y, x = coords.view(1, -1, 1), coords.view(1, 1, -1)
    dx, dy = x - cx.view(-1, 1, 1), y - cy.view(-1, 1, 1)
    c, s = torch.cos(theta).view(-1, 1, 1), torch.sin(theta).view(-1, 1, 1)
    pu, pv = c * dx + s * dy, -s * dx + c * dy  # coordinates in the shape's rotated frame
    rk = r.view(-1, 1, 1)
    circle = dx**2 + dy**2 <= rk**2
    square = (pu.abs() <= 0.85 * rk) & (pv.abs() <= 0.85 * rk)
    triangle = torch.ones_like(circle)
    for j in range(3):  # inside the three edges of an equilateral triangle of circumradius 1.25 r
        a = 2 * math.pi * j / 3
        triangle &= pu * math.cos(a) + pv * math.sin(a) <= 0.625 * rk
    k = cls.view(-1, 1, 1)
    return torch.where(k == 1, circle, torch.where(k == 2, square, triangle))


def draw_shapes(n: int, size: int, *, max_shapes: int = 4, noise: float = 0.08,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` images and masks (see the module docstring).

    Returns:
        images ``[n, 1, size, size]`` float32 in [0, 1] and masks ``[n, size, size]`` int64 in ``[0, 4)``.
    """
    g = generator
    m = max_shapes

    def u(*shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        return torch.rand(*shape, generator=g) * (hi - lo) + lo

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres in (0, 1)
    y, x = coords.view(1, 1, -1, 1), coords.view(1, 1, 1, -1)
    # a smooth background: three random plane waves, in [0.05, 0.45]
    fx, fy, phase = u(n, 3, 1, 1, lo=-6, hi=6), u(n, 3, 1, 1, lo=-6, hi=6), u(n, 3, 1, 1, hi=2 * math.pi)
    field = torch.sin(fx * x.squeeze(1) + fy * y.squeeze(1) + phase).mean(dim=1)  # (n, S, S)
    image = 0.25 + 0.2 * field
    mask = torch.zeros(n, size, size, dtype=torch.long)
    count = torch.randint(2, m + 1, (n, 1), generator=g)
    present = torch.arange(m).view(1, m) < count  # (n, m): which shape slots are drawn
    cls = torch.randint(1, 4, (n, m), generator=g)
    r = u(n, m, lo=0.09, hi=0.2)
    cx, cy = u(n, m, lo=0.12, hi=0.88), u(n, m, lo=0.12, hi=0.88)
    theta = u(n, m, hi=2 * math.pi)
    bright = u(n, m, lo=0.5, hi=1.0)
    for k in range(m):  # later shapes are drawn over earlier ones
        hit = shape_masks(cls[:, k], r[:, k], cx[:, k], cy[:, k], theta[:, k], size)
        hit &= present[:, k].view(-1, 1, 1)
        mask = torch.where(hit, cls[:, k].view(-1, 1, 1), mask)
        image = torch.where(hit, bright[:, k].view(-1, 1, 1), image)
    image = image + noise * torch.randn(image.shape, generator=g)
    return image.clamp(0, 1).unsqueeze(1).float(), mask


@register_dataset("shapes-segmentation")
def shapes_segmentation(*, n_train: int = 256, n_val: int = 64, n_test: int = 64, size: int = 64,
                        max_shapes: int = 4, noise: float = 0.08, seed: int = 0) -> DataSplits:
    """Seeded synthetic segmentation data: circles, squares, triangles and the background (4 classes).

    Args:
        n_train, n_val, n_test: images per part (``n_val = 0``: no validation part).
        size: image side in pixels.
        max_shapes: at most this many shapes per image (at least 2).
        noise: standard deviation of the Gaussian pixel noise.
        seed: seed of the draws.

    Returns:
        :class:`~an2dl.data.DataSplits` of ``(image [1, size, size] float32 in [0, 1], mask [size, size] int64)``.
    """
    for key, v, lo in (("n_train", n_train, 1), ("n_val", n_val, 0), ("n_test", n_test, 0), ("size", size, 8),
                       ("max_shapes", max_shapes, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"shapes-segmentation {key} must be an integer >= {lo}; got {v!r}")
    xs, ms = [], []
    for part, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        x, m = draw_shapes(n, size, max_shapes=max_shapes, noise=noise,
                           generator=seeded_generator(seed, "shapes-segmentation", part))
        xs.append(x)
        ms.append(m)
    bounds = [0, n_train, n_train + n_val, n_train + n_val + n_test]
    parts = [list(range(bounds[i], bounds[i + 1])) for i in range(3)]
    pipeline = Preprocess([{"op": "to_channels", "channels": 1}], raw_input={"channels": 1, "size": [size, size]})
    return segmentation_splits("shapes-segmentation", torch.cat(xs), torch.cat(ms), parts,
                               class_names=list(SHAPE_CLASSES),
                               extra={"source": "an2dl synthetic shapes (seeded)", "seed": seed}, preprocess=pipeline)
