"""Mixup and CutMix: new training samples from pairs of samples and their labels (notes §3.4.1).

**Mixup** (Zhang, Cisse, Dauphin & Lopez-Paz 2018, "mixup: Beyond Empirical
Risk Minimization") interpolates linearly between two examples and their
one-hot labels::

    x̃ = λ x_i + (1 − λ) x_j,    ỹ = λ y_i + (1 − λ) y_j,    λ ~ Beta(α, α)

It needs no knowledge of the domain; the targets become probability vectors,
trained with :func:`~an2dl.losses.classification.soft_target_cross_entropy`
(``F.cross_entropy`` accepts them too).

**CutMix** (Yun et al. 2019) pastes a rectangle of ``x_j`` into ``x_i``
instead: the rectangle covers a fraction ``1 − λ`` of the image (sides
``W·sqrt(1 − λ)`` and ``H·sqrt(1 − λ)``, centre uniform, clipped to the
image), and the label weight is the exact area left, ``λ = 1 − area / (H·W)``.
A semantic ``mask`` is pasted along with the pixels.

Both act on a batch: partner ``j`` of sample ``i`` is given by a random
permutation of the batch, and, as in both papers' reference code, one ``λ``
is drawn per batch.  ``λ`` is drawn with NumPy's Beta sampler seeded from
the transform's generator (PyTorch's Beta distribution takes no generator),
so it stays a pure function of ``(seed, epoch, step)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import ConfigError
from .base import Transform, check_probability
from .targets import TargetBatch

__all__ = ["Mixup", "CutMix", "sample_beta"]


def sample_beta(alpha: float, generator: torch.Generator | None) -> float:
    """One draw of ``Beta(α, α)`` as a function of ``generator`` (or the global torch generator)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


class _Mixing(Transform):
    """Shared set-up of :class:`Mixup` and :class:`CutMix`."""

    #: mixes samples of a batch: refuses a single image
    batch_only = True

    def __init__(self, *, alpha: float, num_classes: int, p: float) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ConfigError(f"{name} alpha must be > 0 (λ ~ Beta(alpha, alpha)); got {alpha!r}")
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ConfigError(f"{name} num_classes must be an integer >= 2; got {num_classes!r}")
        self.alpha, self.num_classes = float(alpha), num_classes
        self.p = check_probability(p, name)

    def soft_labels(self, batch: TargetBatch) -> torch.Tensor:
        name = type(self).__name__
        if batch.label is None:
            raise ValueError(f"{name} mixes labels too: call it with the class labels, e.g. x, y = mix(x, y)")
        if batch.instances:
            raise TypeError(f"{name} supports class labels (and CutMix semantic masks), not boxes or keypoints")
        y = batch.label
        if y.dim() == 1:
            if int(y.min()) < 0 or int(y.max()) >= self.num_classes:
                raise ValueError(f"{name}: labels must lie in [0, {self.num_classes}); got [{int(y.min())}, {int(y.max())}]")
            return F.one_hot(y, self.num_classes).to(batch.image.dtype)
        if y.shape[1] != self.num_classes:
            raise ValueError(f"{name}: soft labels have {y.shape[1]} classes; expected {self.num_classes}")
        return y.to(batch.image.dtype)

    def draw(self, batch: TargetBatch, generator: torch.Generator | None) -> tuple[float, torch.Tensor, bool]:
        """``(λ, partner permutation, mix at all)`` for this batch."""
        mix = self.p >= 1 or bool(torch.rand(1, generator=generator) < self.p)
        lam = sample_beta(self.alpha, generator)
        perm = torch.randperm(batch.batch_size, generator=generator).to(batch.image.device)
        return lam, perm, mix

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, num_classes={self.num_classes}, p={self.p}"


class Mixup(_Mixing):
    """Mixup: ``x̃ = λ x + (1 − λ) x[perm]`` and the same for one-hot labels, ``λ ~ Beta(α, α)``.

    Args:
        alpha: Beta parameter ``α > 0`` (0.2 in the paper's ImageNet runs; 1 = uniform λ).
        num_classes: ``K``, for the one-hot targets.
        p: probability that a batch is mixed.

    Shape:
        ``x`` ``[B, C, H, W]``, ``y`` ``[B]`` int64 or ``[B, K]``; returns ``y`` as ``[B, K]`` probabilities.
    """

    def __init__(self, *, alpha: float = 0.2, num_classes: int, p: float = 1.0) -> None:
        super().__init__(alpha=alpha, num_classes=num_classes, p=p)

    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        if batch.mask is not None:
            raise TypeError("Mixup blends pixels, which has no meaning for segmentation masks; use CutMix")
        y = self.soft_labels(batch)
        lam, perm, mix = self.draw(batch, generator)
        if not mix:
            return batch.replace(label=y)
        x = batch.image
        return batch.replace(image=lam * x + (1 - lam) * x[perm], label=lam * y + (1 - lam) * y[perm])


class CutMix(_Mixing):
    """CutMix: paste a random rectangle of the partner image; labels weighted by the areas.

    Args:
        alpha: Beta parameter ``α > 0`` (1 in the paper).
        num_classes: ``K``, for the one-hot targets.
        p: probability that a batch is mixed.

    Shape:
        as :class:`Mixup`; a ``mask`` ``[B, H, W]`` is pasted with the pixels.
    """

    def __init__(self, *, alpha: float = 1.0, num_classes: int, p: float = 1.0) -> None:
        super().__init__(alpha=alpha, num_classes=num_classes, p=p)

    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        y = self.soft_labels(batch)
        lam, perm, mix = self.draw(batch, generator)
        h, w = batch.size
        cut = (1.0 - lam) ** 0.5
        cy, cx = float(torch.rand(1, generator=generator)) * h, float(torch.rand(1, generator=generator)) * w
        if not mix:
            return batch.replace(label=y)
        y1, y2 = int(round(max(cy - cut * h / 2, 0))), int(round(min(cy + cut * h / 2, h)))
        x1, x2 = int(round(max(cx - cut * w / 2, 0))), int(round(min(cx + cut * w / 2, w)))
        x = batch.image.clone()
        x[:, :, y1:y2, x1:x2] = batch.image[perm, :, y1:y2, x1:x2]  # gathers the pasted patch only
        lam_area = 1.0 - (y2 - y1) * (x2 - x1) / (h * w)
        out = batch.replace(image=x, label=lam_area * y + (1 - lam_area) * y[perm])
        if batch.mask is not None:
            m = batch.mask.clone()
            m[:, y1:y2, x1:x2] = batch.mask[perm, y1:y2, x1:x2]
            out.mask = m
        return out
