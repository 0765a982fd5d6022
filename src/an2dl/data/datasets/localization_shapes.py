"""Synthetic localisation data: one shape per image, its class and its box, on a cluttered background (notes §3.5.2).

A seeded, embedded data set (no download) for the localisation recipes and
tests.  Every grey ``size × size`` image holds exactly one object — a circle,
a square, a triangle or a cross — of random size (its circumradius is 10 % to
28 % of the side), position (the whole object inside the image), rotation and
brightness, over

* a smooth random background (three random plane waves),
* clutter: ``clutter`` small bright or dark specks (2–3 pixels wide) at random
  places, which a box regressor must learn to ignore, and
* Gaussian pixel noise.

Brightness says nothing about the class (every class draws it from the same
range), so the class depends on the shape only.  The target box is the tight
box of the object's pixels, ``(x1, y1, x2, y2)`` in continuous pixel
coordinates (the image covers ``[0, W] × [0, H]``; pixel ``(r, c)`` spans
``[c, c + 1] × [r, r + 1]``), DESIGN §4's format.

Classes: 0 ``circle``, 1 ``square``, 2 ``triangle``, 3 ``cross``.  The three
parts are independent draws from generators seeded by ``(seed, part)``, so the
same arguments give the same images on every machine.
"""

from __future__ import annotations

import math

import torch

from ..._utils.rng import generator as seeded_generator
from ...errors import ConfigError
from ..core import ArrayDataset, ClassificationInfo, DataSplits
from ..preprocess import Preprocess
from ..registry import register_dataset

__all__ = ["localization_shapes", "draw_localization_shapes", "LOCALIZATION_CLASSES", "mask_boxes"]

#: the class names, in id order
LOCALIZATION_CLASSES = ["circle", "square", "triangle", "cross"]


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """The tight ``(x1, y1, x2, y2)`` box of each mask's True pixels (pixel ``(r, c)`` spans ``[c, c+1] × [r, r+1]``).

    Shape:
        ``[N, H, W]`` bool (each with at least one True pixel) -> ``[N, 4]`` float32.
    """
    if masks.dim() != 3:
        raise ValueError(f"mask_boxes expects masks [N, H, W]; got {list(masks.shape)}")
    n, h, w = masks.shape
    rows, cols = masks.any(dim=2), masks.any(dim=1)  # (N, H), (N, W)
    if not bool(rows.any(dim=1).all()):
        i = int((~rows.any(dim=1)).nonzero()[0, 0])
        raise ValueError(f"mask_boxes: mask {i} is empty; every mask needs at least one pixel")
    r = torch.arange(h).expand(n, h)
    c = torch.arange(w).expand(n, w)
    y1 = torch.where(rows, r, h).amin(dim=1)
    y2 = torch.where(rows, r, -1).amax(dim=1) + 1
    x1 = torch.where(cols, c, w).amin(dim=1)
    x2 = torch.where(cols, c, -1).amax(dim=1) + 1
    return torch.stack([x1, y1, x2, y2], dim=1).float()


def draw_localization_shapes(n: int, size: int, *, clutter: int = 6, noise: float = 0.08,
                             generator: torch.Generator | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``n`` images with one object each (see the module docstring).

    Returns:
        images ``[n, 1, size, size]`` float32 in [0, 1], class ids ``[n]`` int64 in ``[0, 4)`` and
        boxes ``[n, 4]`` float32 ``(x1, y1, x2, y2)`` in pixels.
    """
    g = generator

    def u(*shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        return torch.rand(*shape, generator=g) * (hi - lo) + lo

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # pixel centres in (0, 1)
    y, x = coords.view(1, -1, 1), coords.view(1, 1, -1)
    fx, fy, phase = u(n, 3, 1, 1, lo=-6, hi=6), u(n, 3, 1, 1, lo=-6, hi=6), u(n, 3, 1, 1, hi=2 * math.pi)
    image = 0.25 + 0.2 * torch.sin(fx * x.unsqueeze(1) + fy * y.unsqueeze(1) + phase).mean(dim=1)  # (n, S, S)
    # clutter: small specks, bright or dark, anywhere (drawn first: the object covers them)
    if clutter > 0:
        sx, sy = u(n, clutter, 1, 1), u(n, clutter, 1, 1)
        half = u(n, clutter, 1, 1, lo=1.0, hi=1.6) / size
        value = torch.where(u(n, clutter, 1, 1) < 0.5, u(n, clutter, 1, 1, lo=0.6, hi=1.0), u(n, clutter, 1, 1, hi=0.1))
        speck = ((x.unsqueeze(1) - sx).abs() <= half) & ((y.unsqueeze(1) - sy).abs() <= half)  # (n, m, S, S)
        for k in range(clutter):  # later specks over earlier ones
            image = torch.where(speck[:, k], value[:, k], image)
    labels = torch.randint(0, len(LOCALIZATION_CLASSES), (n,), generator=g)
    r = u(n, lo=0.10, hi=0.28).view(-1, 1, 1)
    cx, cy = (r.view(-1) + u(n) * (1 - 2 * r.view(-1))), (r.view(-1) + u(n) * (1 - 2 * r.view(-1)))
    theta = u(n, hi=2 * math.pi).view(-1, 1, 1)
    dx, dy = x - cx.view(-1, 1, 1), y - cy.view(-1, 1, 1)
    c, s = torch.cos(theta), torch.sin(theta)
    pu, pv = c * dx + s * dy, -s * dx + c * dy  # coordinates in the object's rotated frame
    circle = dx**2 + dy**2 <= (0.9 * r) ** 2
    square = (pu.abs() <= 0.68 * r) & (pv.abs() <= 0.68 * r)  # corners on the circumcircle (0.68 ≈ 1/√2 · 0.96)
    triangle = torch.ones_like(circle)
    for j in range(3):  # inside the three edges of an equilateral triangle of circumradius r
        a = 2 * math.pi * j / 3
        triangle &= pu * math.cos(a) + pv * math.sin(a) <= 0.5 * r
    arm = 0.3 * r
    cross = ((pu.abs() <= arm) & (pv.abs() <= 0.95 * r)) | ((pv.abs() <= arm) & (pu.abs() <= 0.95 * r))
    shapes = torch.stack([circle, square, triangle, cross], dim=1)  # (n, 4, S, S)
    mask = shapes.gather(1, labels.view(-1, 1, 1, 1).expand(-1, 1, size, size)).squeeze(1)
    # a tiny object may cover no pixel centre: give it the pixel under its centre
    centre = (((x - cx.view(-1, 1, 1)).abs() <= 0.5 / size) & ((y - cy.view(-1, 1, 1)).abs() <= 0.5 / size))
    mask |= centre & ~mask.flatten(1).any(dim=1).view(-1, 1, 1)
    bright = u(n, lo=0.55, hi=1.0).view(-1, 1, 1)
    image = torch.where(mask, bright, image)
    image = image + noise * torch.randn(image.shape, generator=g)
    return image.clamp(0, 1).unsqueeze(1).float(), labels, mask_boxes(mask)


def _check(name: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"localization-shapes {name} must be an integer >= {lo}; got {value!r}")
    return value


@register_dataset("localization-shapes")
def localization_shapes(*, n_train: int = 1024, n_val: int = 128, n_test: int = 256, size: int = 64,
                        clutter: int = 6, noise: float = 0.08, seed: int = 0) -> DataSplits:
    """Seeded synthetic localisation data: one circle, square, triangle or cross per image, with its box.

    Args:
        n_train, n_val, n_test: images per part (``n_val = 0``: no validation part).
        size: image side in pixels.
        clutter: specks of clutter per image.
        noise: standard deviation of the Gaussian pixel noise.
        seed: seed of the draws.

    Returns:
        :class:`~an2dl.data.DataSplits` of ``(image [1, size, size] float32 in [0, 1], class int64,
        box [4] float32 (x1, y1, x2, y2) pixels)``.
    """
    for key, v, lo in (("n_train", n_train, 1), ("n_val", n_val, 0), ("n_test", n_test, 0), ("size", size, 16),
                       ("clutter", clutter, 0)):
        _check(key, v, lo)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < 1:
        raise ConfigError(f"localization-shapes noise must be a number in [0, 1); got {noise!r}")
    parts = {}
    for part, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        if n:
            parts[part] = ArrayDataset(*draw_localization_shapes(
                n, size, clutter=clutter, noise=noise, generator=seeded_generator(seed, "localization-shapes", part)))
    x = parts["train"].tensors[0]
    info = ClassificationInfo(
        name="localization-shapes", class_names=list(LOCALIZATION_CLASSES), input_shape=(1, size, size),
        mean=(round(float(x.mean()), 6),), std=(round(float(x.std()), 6),),
        extra={"source": "an2dl synthetic localisation shapes (seeded)", "seed": seed,
               "boxes": "(x1, y1, x2, y2) in pixels of the image"},
        preprocess=Preprocess([{"op": "to_channels", "channels": 1}],
                              raw_input={"channels": 1, "size": [size, size]}).to_dict())
    return DataSplits(parts["train"], parts.get("val"), parts.get("test"), info)
