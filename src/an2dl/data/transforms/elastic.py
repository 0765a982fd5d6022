"""Elastic deformation, the U-Net paper's augmentation for few training images (Ronneberger et al. 2015, §3.1).

"We generate smooth deformations using random displacement vectors on a
coarse 3 by 3 grid.  The displacements are sampled from a Gaussian
distribution with 10 pixels standard deviation.  Per-pixel displacements
are then computed using bicubic interpolation."  The output pixel at ``p``
reads the input at ``p + d(p)``: the image bilinearly (borders mirrored),
a semantic ``mask`` with nearest-neighbour sampling so that class ids stay
class ids.  Boxes, instance masks and keypoints are not supported (an
elastic warp does not map a box to a box).

Randomness follows :mod:`an2dl.data.transforms.base`: the displacements are
drawn on the CPU from ``generator`` (or the global generator the trainer
reseeds per step) and moved to the images' device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import ConfigError
from .base import Transform, check_probability
from .targets import TargetBatch

__all__ = ["RandomElastic"]


class RandomElastic(Transform):
    """Smooth random elastic deformation of images and their semantic masks.

    Args:
        sigma: standard deviation of the displacement vectors, in pixels (10 in the paper).
        grid: side of the coarse grid of random vectors (3 in the paper).
        p: probability that a sample is deformed.

    Shape:
        ``image`` ``[B, C, H, W]`` (or ``[C, H, W]``) and ``mask`` ``[B, H, W]``: unchanged shapes.
    """

    def __init__(self, *, sigma: float = 10.0, grid: int = 3, p: float = 1.0) -> None:
        super().__init__()
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or sigma < 0:
            raise ConfigError(f"RandomElastic sigma must be a number >= 0 (pixels); got {sigma!r}")
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 2:
            raise ConfigError(f"RandomElastic grid must be an integer >= 2; got {grid!r}")
        self.sigma, self.grid = float(sigma), grid
        self.p = check_probability(p, "RandomElastic")

    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        if batch.instances:
            raise TypeError("RandomElastic deforms images and semantic masks; boxes, instance masks and keypoints "
                            "are not supported")
        b, (h, w) = batch.batch_size, batch.size
        device = batch.image.device
        coarse = torch.randn(b, 2, self.grid, self.grid, generator=generator, dtype=torch.float64) * self.sigma
        on = (torch.rand(b, generator=generator) < self.p).to(coarse.dtype).view(b, 1, 1, 1)
        d = F.interpolate(coarse * on, size=(h, w), mode="bicubic", align_corners=True)  # (B, 2, H, W) pixels
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
        # pixel centres to normalised coordinates (align_corners=False): x_n = (2x + 1) / W - 1
        gx = (2 * (xs + d[:, 0]) + 1) / w - 1
        gy = (2 * (ys + d[:, 1]) + 1) / h - 1
        grid = torch.stack([gx, gy], dim=-1)  # (B, H, W, 2)
        work = torch.float64 if device.type == "cpu" else torch.float32
        grid = grid.to(device=device, dtype=work)
        image = F.grid_sample(batch.image.to(work), grid, mode="bilinear", padding_mode="reflection",
                              align_corners=False).to(batch.image.dtype)
        mask = batch.mask
        if mask is not None:
            warped = F.grid_sample(mask.to(work).unsqueeze(1), grid, mode="nearest", padding_mode="reflection",
                                   align_corners=False)
            mask = warped.squeeze(1).round().to(mask.dtype)
        return batch.replace(image=image, mask=mask)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, grid={self.grid}, p={self.p}"
