"""Synthetic coloured shapes: a colourisation problem whose answer lies in the shapes (notes §3.7).

:func:`colored_shapes` draws ``N`` small RGB images, each a dark background
with one to ``max_shapes`` filled shapes: circles, squares and upward
triangles.  Every kind of shape has its own colour (:data:`SHAPE_COLORS`,
red circles, green squares, blue triangles), scaled by a random brightness,
and the three colours have nearly the same luminance, so

* the grey image (ITU-R BT.601 luma, :func:`~an2dl.ops.color.rgb_to_grey`) tells the shape
  apart from the background but hardly tells the colours apart: a pixel of
  a given grey level could belong to any kind;
* the shape's outline does: a network that sees a neighbourhood can recognise
  the kind and paint its colour, which no pixel-by-pixel rule can.

That is the colourisation problem of the notes at toy scale: the colour of a
natural image is not in its grey levels but in what the objects are (the sky
is blue, grass is green).

Every image is a pure function of ``seed``.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from ..ops.color import LUMA, rgb_to_grey

__all__ = ["SHAPE_KINDS", "SHAPE_COLORS", "LUMA", "rgb_to_grey", "colored_shapes"]

#: the kinds of shape, in label order
SHAPE_KINDS = ("circle", "square", "triangle")

#: the base colour (R, G, B) of every kind; their luminances are 0.42, 0.43 and 0.40
SHAPE_COLORS = torch.tensor([[0.85, 0.25, 0.20], [0.20, 0.60, 0.20], [0.30, 0.35, 0.95]])


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"colored_shapes {name} must be an integer >= {low}; got {value!r}")
    return value


def colored_shapes(n: int, *, size: int = 32, max_shapes: int = 2, min_radius: float = 0.15,
                   max_radius: float = 0.3, brightness: tuple[float, float] = (0.7, 1.3),
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images of coloured shapes and their kinds.

    Args:
        n: number of images.
        size: side of the square images in pixels.
        max_shapes: each image holds 1 to ``max_shapes`` shapes (drawn in order; later ones cover earlier ones).
        min_radius, max_radius: half-size of a shape as a fraction of ``size``.
        brightness: range of the random factor that scales a shape's base colour.
        seed: the images are a pure function of it.

    Returns:
        ``(images, kinds)``: RGB images ``[n, 3, size, size]`` float32 in [0, 1] and
        ``[n, max_shapes]`` int64 kinds (index into :data:`SHAPE_KINDS`; -1 for no shape).
    """
    _check_int("n", n, 1)
    _check_int("size", size, 8)
    _check_int("max_shapes", max_shapes, 1)
    if not 0 < min_radius <= max_radius < 0.5:
        raise ConfigError(f"colored_shapes needs 0 < min_radius <= max_radius < 0.5; got {min_radius}, {max_radius}")
    lo, hi = brightness
    if not 0 < lo <= hi:
        raise ConfigError(f"colored_shapes brightness must be a range (low, high) with 0 < low <= high; got {brightness!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"colored_shapes seed must be a non-negative integer; got {seed!r}")
    g = torch.Generator().manual_seed(seed)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres in (0, 1)
    ys, xs = coords.view(1, size, 1), coords.view(1, 1, size)  # broadcast to [n, size, size]
    background = 0.05 + 0.15 * torch.rand(n, 1, 1, 1, generator=g)  # a dark grey of random level
    images = background.expand(n, 3, size, size).clone()  # [n, 3, H, W]
    count = torch.randint(1, max_shapes + 1, (n,), generator=g)
    kinds = torch.full((n, max_shapes), -1, dtype=torch.long)
    for slot in range(max_shapes):
        kind = torch.randint(0, len(SHAPE_KINDS), (n,), generator=g)
        r = (min_radius + (max_radius - min_radius) * torch.rand(n, generator=g)).view(n, 1, 1)
        cx = (r + (1 - 2 * r) * torch.rand(n, 1, 1, generator=g))  # the shape lies inside the image
        cy = (r + (1 - 2 * r) * torch.rand(n, 1, 1, generator=g))
        scale = lo + (hi - lo) * torch.rand(n, 1, generator=g)
        color = (SHAPE_COLORS[kind] * scale).clamp(0, 1)  # [n, 3]
        dx, dy = xs - cx, ys - cy  # [n, H, W]
        circle = dx**2 + dy**2 <= r**2
        square = (dx.abs() <= 0.85 * r) & (dy.abs() <= 0.85 * r)  # 0.85: about the circle's area
        # apex at the top (y = cy - r), base at the bottom: the half-width grows from 0 to r
        triangle = (dy.abs() <= r) & (dx.abs() <= (dy + r) / 2)
        masks = torch.stack([circle, square, triangle], 1)[torch.arange(n), kind]  # [n, H, W]
        masks &= (slot < count).view(n, 1, 1)
        kinds[:, slot] = torch.where(slot < count, kind, -1)
        images = torch.where(masks.unsqueeze(1), color.view(n, 3, 1, 1), images)
    return images, kinds
