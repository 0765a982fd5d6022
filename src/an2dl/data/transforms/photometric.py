"""Photometric augmentation: brightness, contrast, saturation, hue and Gaussian noise (notes §3.4.1).

These change pixel values only; masks, boxes and keypoints are untouched.
Each sample draws its own factor (vectorised over the batch); results are
clipped to [0, 1].  The adjustments follow the usual definitions (those of
PIL's ``ImageEnhance`` and torchvision):

* brightness ``f``: ``x' = f · x`` (a blend with black);
* contrast ``f``: ``x' = f · x + (1 − f) · mean(grey(x))`` (a blend with the mean grey level);
* saturation ``f``: ``x' = f · x + (1 − f) · grey(x)`` (a blend with the grey image);
* hue ``h``: rotate the hue by ``h`` turns in HSV space (Smith 1978);
* noise: ``x' = x + ε``, ``ε ~ N(0, σ²)`` per pixel.

``grey(x) = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601).  Saturation and hue
need three channels; on one-channel images they are the identity.
:class:`ColorJitter` applies brightness, contrast, saturation and hue in this
fixed order (torchvision shuffles the order per call; a fixed order keeps the
draw sequence simple).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import torch

from ...errors import ConfigError
from .base import Transform, bernoulli, check_probability, uniform
from .targets import TargetBatch

__all__ = [
    "RandomBrightness",
    "RandomContrast",
    "RandomSaturation",
    "RandomHue",
    "ColorJitter",
    "GaussianNoise",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "hsv_to_rgb",
]


def rgb_to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma ``[..., 3, H, W] -> [..., 1, H, W]``; one-channel input is returned as is."""
    if x.shape[-3] == 1:
        return x
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x * w).sum(dim=-3, keepdim=True)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB ``[B, 3, H, W]`` in [0, 1] -> HSV with hue in [0, 1) turns, saturation and value in [0, 1]."""
    r, g, b = x.unbind(dim=-3)
    v, argmax = x.max(dim=-3)
    mn = x.amin(dim=-3)
    delta = v - mn
    s = torch.where(v > 0, delta / v.clamp(min=1e-12), torch.zeros_like(v))
    safe = delta.clamp(min=1e-12)
    h = torch.where(
        argmax == 0,
        ((g - b) / safe) % 6,
        torch.where(argmax == 1, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    h = torch.where(delta > 0, h / 6, torch.zeros_like(h)) % 1.0
    return torch.stack([h, s, v], dim=-3)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = x.unbind(dim=-3)
    h6 = (h % 1.0) * 6
    k = torch.stack([(5 + h6) % 6, (3 + h6) % 6, (1 + h6) % 6], dim=-3)  # one phase per channel
    ramp = torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return v.unsqueeze(-3) - (v * s).unsqueeze(-3) * ramp


def _factor_range(value: float | Sequence[float], owner: str, name: str) -> tuple[float, float]:
    """``v -> (max(0, 1 − v), 1 + v)``; a ``(low, high)`` pair of non-negative factors is kept."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(f"{owner} {name} must be >= 0; got {value!r}")
        return max(0.0, 1.0 - value), 1.0 + value
    if isinstance(value, (tuple, list)) and len(value) == 2 and 0 <= value[0] <= value[1]:
        return float(value[0]), float(value[1])
    raise ConfigError(f"{owner} {name} must be a number >= 0 or a (low, high) pair of factors >= 0; got {value!r}")


class _FactorTransform(Transform):
    """Per-sample factor ``f ~ U[low, high]`` (1 where a sample is skipped with probability ``1 − p``)."""

    neutral = 1.0

    def __init__(self, low: float, high: float, p: float) -> None:
        super().__init__()
        self.low, self.high = low, high
        self.p = check_probability(p, type(self).__name__)

    def factors(self, batch: TargetBatch, generator: torch.Generator | None) -> torch.Tensor:
        b = batch.batch_size
        f = uniform(b, self.low, self.high, generator)
        if self.p < 1:
            f = torch.where(bernoulli(b, self.p, generator), f, torch.full_like(f, self.neutral))
        return f.to(batch.image.device, batch.image.dtype).view(b, 1, 1, 1)

    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        f = self.factors(batch, generator)
        return batch.replace(image=self.adjust(batch.image, f).clamp_(0, 1))

    @abstractmethod
    def adjust(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """The adjustment for factors ``f`` ``[B, 1, 1, 1]``."""

    def extra_repr(self) -> str:
        return f"range=({self.low:.3g}, {self.high:.3g}), p={self.p}"


class RandomBrightness(_FactorTransform):
    """Multiply the image by ``f ~ U[1 − brightness, 1 + brightness]`` (or a ``(low, high)`` pair)."""

    def __init__(self, *, brightness: float | Sequence[float], p: float = 1.0) -> None:
        super().__init__(*_factor_range(brightness, "RandomBrightness", "brightness"), p)

    def adjust(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return x * f


class RandomContrast(_FactorTransform):
    """Blend with the mean grey level: ``f · x + (1 − f) · mean``, ``f ~ U[1 − contrast, 1 + contrast]``."""

    def __init__(self, *, contrast: float | Sequence[float], p: float = 1.0) -> None:
        super().__init__(*_factor_range(contrast, "RandomContrast", "contrast"), p)

    def adjust(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        mean = rgb_to_grayscale(x).mean(dim=(-3, -2, -1), keepdim=True)
        return f * x + (1 - f) * mean


class RandomSaturation(_FactorTransform):
    """Blend with the grey image: ``f · x + (1 − f) · grey(x)`` (identity on one-channel images)."""

    def __init__(self, *, saturation: float | Sequence[float], p: float = 1.0) -> None:
        super().__init__(*_factor_range(saturation, "RandomSaturation", "saturation"), p)

    def adjust(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 3:
            return x
        return f * x + (1 - f) * rgb_to_grayscale(x)


class RandomHue(_FactorTransform):
    """Rotate the hue by ``h ~ U[−hue, hue]`` turns, ``hue ≤ 0.5`` (identity on one-channel images)."""

    neutral = 0.0

    def __init__(self, *, hue: float, p: float = 1.0) -> None:
        if isinstance(hue, bool) or not isinstance(hue, (int, float)) or not 0 <= hue <= 0.5:
            raise ConfigError(f"RandomHue hue must be in [0, 0.5] (a fraction of the colour circle); got {hue!r}")
        super().__init__(-float(hue), float(hue), p)

    def adjust(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 3:
            return x
        hsv = rgb_to_hsv(x)
        hsv = torch.cat([(hsv[:, :1] + f) % 1.0, hsv[:, 1:]], dim=1)
        return hsv_to_rgb(hsv)


class ColorJitter(Transform):
    """Brightness, contrast, saturation and hue changes, in that order (each 0 = off).

    Args:
        brightness, contrast, saturation: factor spreads (see the single transforms).
        hue: hue spread in turns, ``[0, 0.5]``.
        p: probability per sample of each adjustment.
    """

    def __init__(self, *, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0, hue: float = 0.0,
                 p: float = 1.0) -> None:
        super().__init__()
        parts: list[Transform] = []
        if brightness:
            parts.append(RandomBrightness(brightness=brightness, p=p))
        if contrast:
            parts.append(RandomContrast(contrast=contrast, p=p))
        if saturation:
            parts.append(RandomSaturation(saturation=saturation, p=p))
        if hue:
            parts.append(RandomHue(hue=hue, p=p))
        self.parts = torch.nn.ModuleList(parts)

    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        for t in self.parts:
            batch = t.apply_batch(batch, generator)
        return batch


class GaussianNoise(Transform):
    """Add ``N(0, std²)`` noise to every pixel, clip to [0, 1].

    With an explicit ``generator`` the noise is drawn on the CPU (exactly
    reproducible everywhere); without one it is drawn on the image's device
    from that device's global generator, which the trainer reseeds every
    batch (reproducible per device, and no large host-to-device copy).

    Args:
        std: standard deviation ``σ`` (> 0), in image units.
        p: probability per sample.
    """

    def __init__(self, *, std: float, p: float = 1.0) -> None:
        super().__init__()
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not std > 0:
            raise ConfigError(f"GaussianNoise std must be a positive number; got {std!r}")
        self.std = float(std)
        self.p = check_probability(p, "GaussianNoise")

    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        x = batch.image
        b = batch.batch_size
        if generator is not None:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        else:
            noise = torch.randn(x.shape, dtype=x.dtype, device=x.device)
        scale = torch.full((b,), self.std)
        if self.p < 1:
            scale = torch.where(bernoulli(b, self.p, generator), scale, torch.zeros_like(scale))
        scale = scale.to(x.device, x.dtype).view(b, 1, 1, 1)
        return batch.replace(image=(x + scale * noise).clamp_(0, 1))

    def extra_repr(self) -> str:
        return f"std={self.std}, p={self.p}"
