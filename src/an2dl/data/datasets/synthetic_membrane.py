"""Synthetic cell membranes: a seeded, embedded stand-in for the ISBI 2012 electron-microscopy images.

Each image is a Voronoi tessellation of random seeds: the cells are the
Voronoi regions and the membranes the thin lines between them (a pixel is
membrane where its nearest and second-nearest seeds are almost equally
far).  Cells get random brightness and dark spots inside (like vesicles),
so that darkness alone does not tell a membrane; the whole image gets
Gaussian noise.  As in the real data, the foreground (membrane, class 1) is
thin — one to two pixels — and a minority, so a network must place its
borders to the pixel: the case for the U-Net's skip connections
(notes §3.5.1.2), measured by ``encoder-decoder-vs-unet`` in seconds.

Classes: 0 ``cell``, 1 ``membrane`` (as :func:`~an2dl.data.datasets.membrane.membrane`).
"""

from __future__ import annotations

import torch

from ..._utils.rng import generator as seeded_generator
from ...errors import ConfigError
from ..core import DataSplits
from ..preprocess import Preprocess
from ..registry import register_dataset
from .segmentation_folder import segmentation_splits

__all__ = ["draw_membranes", "synthetic_membrane"]


def draw_membranes(n: int, size: int, *, cells: tuple[int, int] = (6, 14), width: float = 1.2, spots: int = 3,
                   noise: float = 0.08, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` images of cells and their membrane masks.

    Args:
        cells: the number of cells per image is drawn from ``[cells[0], cells[1]]``.
        width: membrane pixels have ``d2 − d1 < width`` (distances in pixels to the two nearest seeds).
        spots: dark spots drawn inside the cells of each image.

    Returns:
        images ``[n, 1, size, size]`` float32 in [0, 1]; masks ``[n, size, size]`` int64 (1 = membrane).
    """
    g = generator
    most = cells[1]
    count = torch.randint(cells[0], cells[1] + 1, (n, 1), generator=g)
    seeds = torch.rand(n, most, 2, generator=g) * size
    used = torch.arange(most).view(1, most) < count  # (n, most)
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    d = ((yy - seeds[..., 0, None, None]) ** 2 + (xx - seeds[..., 1, None, None]) ** 2).sqrt()  # (n, most, S, S)
    d = torch.where(used[..., None, None], d, torch.full_like(d, float("inf")))
    two = d.topk(2, dim=1, largest=False)
    mask = (two.values[:, 1] - two.values[:, 0] < width).long()  # (n, S, S)
    owner = two.indices[:, 0]  # the cell of each pixel
    cell_bright = torch.rand(n, most, generator=g) * 0.35 + 0.55
    image = cell_bright.gather(1, owner.flatten(1)).view(n, size, size)
    sx, sy = torch.rand(n, spots, generator=g) * size, torch.rand(n, spots, generator=g) * size
    radius = torch.rand(n, spots, generator=g) * 1.5 + 1.0
    spot = ((yy - sy[..., None, None]) ** 2 + (xx - sx[..., None, None]) ** 2 < radius[..., None, None] ** 2).any(1)
    image = torch.where(spot, torch.full_like(image, 0.2), image)
    membrane_dark = torch.rand(n, 1, 1, generator=g) * 0.15 + 0.15
    image = torch.where(mask.bool(), membrane_dark.expand_as(image), image)
    image = image + noise * torch.randn(image.shape, generator=g)
    return image.clamp(0, 1).unsqueeze(1).float(), mask


@register_dataset("synthetic-membrane")
def synthetic_membrane(*, n_train: int = 128, n_val: int = 32, n_test: int = 32, size: int = 48,
                       noise: float = 0.08, seed: int = 0) -> DataSplits:
    """Seeded Voronoi cells with thin membranes between them (2 classes: cell, membrane).

    Returns:
        :class:`~an2dl.data.DataSplits` of ``(image [1, size, size] float32 in [0, 1], mask [size, size] int64)``.
    """
    for key, v, lo in (("n_train", n_train, 1), ("n_val", n_val, 0), ("n_test", n_test, 0), ("size", size, 8)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"synthetic-membrane {key} must be an integer >= {lo}; got {v!r}")
    xs, ms = [], []
    for part, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        x, m = draw_membranes(n, size, noise=noise, generator=seeded_generator(seed, "synthetic-membrane", part))
        xs.append(x)
        ms.append(m)
    bounds = [0, n_train, n_train + n_val, n_train + n_val + n_test]
    parts = [list(range(bounds[i], bounds[i + 1])) for i in range(3)]
    pipeline = Preprocess([{"op": "to_channels", "channels": 1}], raw_input={"channels": 1, "size": [size, size]})
    return segmentation_splits("synthetic-membrane", torch.cat(xs), torch.cat(ms), parts,
                               class_names=["cell", "membrane"],
                               extra={"source": "an2dl synthetic Voronoi membranes (seeded)", "seed": seed},
                               preprocess=pipeline)
