"""Batched, on-device geometric augmentation: one affine matrix per sample (notes §3.4.1).

The whole batch is warped by a single ``F.affine_grid``/``F.grid_sample``
call.  Random parameters are drawn from the global generator, which the
trainer reseeds from ``(seed, epoch, batch index)`` before every batch, so the
augmentation of a batch is a pure function of those (DESIGN §6).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError

__all__ = ["RandomAffine", "affine_matrices"]


def affine_matrices(angle: torch.Tensor, scale: torch.Tensor, translate: torch.Tensor) -> torch.Tensor:
    """Sampling matrices ``[B, 2, 3]`` for ``F.affine_grid`` (normalised coordinates).

    The output pixel at ``p`` reads the input at ``A⁻¹(p − t)``, where ``A``
    rotates by ``angle`` (radians, counter-clockwise on screen) and scales by
    ``scale``; ``translate`` ``[B, 2]`` is ``(tx, ty)`` in normalised units
    (2 = the full width/height).
    """
    cos, sin = torch.cos(angle), torch.sin(angle)
    inv = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2) / scale.view(-1, 1, 1)
    shift = -(inv @ translate.unsqueeze(-1))
    return torch.cat([inv, shift], dim=-1)


class RandomAffine(nn.Module):
    """Random rotation, translation and scaling of a batch of images; identity in eval mode.

    Args:
        degrees: rotation angle drawn uniformly from ``[-degrees, degrees]``.
        translate: shift drawn uniformly from ``[-translate, translate]`` times
            the image width (x) and height (y).
        scale: zoom factor drawn uniformly from ``[1 - scale, 1 + scale]``.
        p: probability that a sample is transformed at all.

    Shape:
        input and output ``[B, C, H, W]``; areas moved in from outside are 0.
    """

    def __init__(self, *, degrees: float = 0.0, translate: float = 0.0, scale: float = 0.0, p: float = 1.0) -> None:
        super().__init__()
        if degrees < 0 or not 0 <= translate < 1 or not 0 <= scale < 1 or not 0 <= p <= 1:
            raise ConfigError(
                f"RandomAffine needs degrees >= 0, translate and scale in [0, 1), p in [0, 1]; "
                f"got degrees={degrees}, translate={translate}, scale={scale}, p={p}"
            )
        self.degrees, self.translate, self.scale, self.p = degrees, translate, scale, p

    def sample(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Draw ``[B, 2, 3]`` sampling matrices."""
        u = torch.rand(batch, 5, device=device) * 2 - 1
        angle = u[:, 0] * math.radians(self.degrees)
        translate = u[:, 1:3] * self.translate * 2
        scale = 1 + u[:, 3] * self.scale
        if self.p < 1:
            keep = (u[:, 4] + 1) / 2 < self.p
            angle = torch.where(keep, angle, torch.zeros_like(angle))
            translate = torch.where(keep[:, None], translate, torch.zeros_like(translate))
            scale = torch.where(keep, scale, torch.ones_like(scale))
        return affine_matrices(angle, scale, translate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if x.dim() != 4:
            raise ValueError(f"RandomAffine expects images [B, C, H, W]; got shape {list(x.shape)}")
        theta = self.sample(x.shape[0], x.device).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, p={self.p}"
