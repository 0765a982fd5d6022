"""The transform contract, random application and class-specific transforms (notes §3.4.1).

Every transform is an ``nn.Module`` called as
``transform(image, target=None, *, generator=None)`` (target forms:
:mod:`an2dl.data.transforms.targets`).  The same object serves both paths:

* **batched, on the device** — ``image`` ``[B, C, H, W]`` where it lives
  (GPU in training); one affine matrix / one set of factors per sample, all
  samples processed by one vectorised call.  Used as a layer of the model or
  as a task's ``augment`` (:class:`~an2dl.tasks.ClassificationTask`);
* **per sample** — ``image`` ``[C, H, W]``, e.g. in a dataset's
  ``__getitem__`` (:class:`~an2dl.data.transforms.AugmentedDataset`).

Randomness (DESIGN §6): every random parameter is drawn on the CPU from
``generator`` — or, when it is ``None``, from PyTorch's global generator,
which the trainer reseeds from ``(seed, epoch, step)`` before every batch —
and then moved to the image's device.  The batched path is therefore a pure
function of ``(seed, epoch, step)`` and gives the same result on CPU and GPU;
:class:`AugmentedDataset` passes a generator seeded from
``(seed, epoch, sample index)``.

Training only (notes §3.4.1, "augmentation as a layer within the network"):
a *random* transform is the identity in ``eval()`` mode, like Keras's random
preprocessing layers, so ``nn.Sequential(augmentation, model)`` augments
during training and predicts on clean images.  Deterministic transforms
(:class:`Resize`, :class:`CenterCrop`, :class:`HorizontalFlip`, :class:`Affine`)
always apply.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError
from .targets import TargetBatch

__all__ = ["Transform", "RandomApply", "ClassSpecific", "uniform", "bernoulli"]


def uniform(n: int, low: float, high: float, generator: torch.Generator | None, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` draws from U[low, high), made on the CPU (``generator`` or the global one) and moved to ``device``."""
    return (torch.rand(n, generator=generator) * (high - low) + low).to(device)


def bernoulli(n: int, p: float, generator: torch.Generator | None, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` booleans, each true with probability ``p`` (drawn like :func:`uniform`)."""
    return (torch.rand(n, generator=generator) < p).to(device)


def check_probability(p: float, owner: str) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ConfigError(f"{owner} p must be a probability in [0, 1]; got {p!r}")
    return float(p)


class Transform(nn.Module, metaclass=ABCMeta):
    """Base class: ``transform(image, target=None, *, generator=None)``.

    Subclasses implement :meth:`apply_batch` on a :class:`TargetBatch` and set
    ``random`` (class attribute) to say whether they draw random parameters.
    """

    #: random transforms are the identity in eval mode
    random: bool = True

    @property
    def active(self) -> bool:
        """Whether the transform acts now (always for deterministic ones; in training mode for random ones)."""
        return self.training or not self.random

    def forward(self, image: torch.Tensor, target: Any = None, *, generator: torch.Generator | None = None) -> Any:
        """Transform ``image`` and its ``target`` consistently.

        Args:
            image: ``[C, H, W]`` or ``[B, C, H, W]`` float in [0, 1].
            target: ``None``, a class label, a dict of targets or (batch) a list of dicts.
            generator: source of the random parameters (default: the global generator).

        Returns:
            ``image`` if ``target`` is ``None``, else ``(image, target)`` in the forms given.
        """
        if isinstance(image, torch.Tensor) and image.dim() == 3 and self.active:
            for m in self.modules():
                if getattr(m, "batch_only", False) and m.active:
                    raise ValueError(
                        f"{type(m).__name__} mixes the samples of a batch; give images [B, C, H, W] "
                        "(use it on batches, e.g. as a task's augment), not a single [C, H, W] image"
                    )
        batch, form = TargetBatch.from_inputs(image, target)
        if self.active:
            batch = self.apply_batch(batch, generator)
        return batch.to_outputs(form)

    @abstractmethod
    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        """Transform a packed batch (the image and every target in it)."""


class RandomApply(Transform):
    """Apply ``transform`` to each sample with probability ``p`` (others pass unchanged).

    Args:
        transform: the transform (it sees the selected sub-batch).
        p: probability per sample.
    """

    def __init__(self, transform: Transform, *, p: float = 0.5) -> None:
        super().__init__()
        if not isinstance(transform, Transform):
            raise ConfigError(f"RandomApply transform must be an an2dl Transform; got {type(transform).__name__}")
        self.transform = transform
        self.p = check_probability(p, "RandomApply")

    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        chosen = torch.rand(batch.batch_size, generator=generator) < self.p
        on = chosen.nonzero().flatten().to(batch.image.device)
        off = (~chosen).nonzero().flatten().to(batch.image.device)
        if len(on) == 0:
            return batch
        done = self.transform.apply_batch(batch.select(on), generator)
        if len(off) == 0:
            return done
        return TargetBatch.merge([done, batch.select(off)], [on, off], batch.batch_size)


class ClassSpecific(Transform):
    """Class-specific augmentation: each sample gets the transform of its class (notes §3.4.1).

    Useful when a generic transform would destroy a class's distinguishing
    feature (no flips for "6" vs "9") or to augment minority classes harder.

    Args:
        transforms: ``{class id: transform}``.
        default: transform for the other classes (``None``: unchanged).

    The batch must carry class labels (``label`` ``[B]``, or ``[B, K]`` soft
    targets, whose arg-max is used); every branch must produce images of one size.
    """

    def __init__(self, transforms: Mapping[int, Transform], *, default: Transform | None = None) -> None:
        super().__init__()
        if not transforms:
            raise ConfigError("ClassSpecific needs at least one {class id: transform} entry")
        for k, t in transforms.items():
            if not isinstance(k, int) or isinstance(k, bool) or k < 0:
                raise ConfigError(f"ClassSpecific keys must be class ids >= 0; got {k!r}")
            if not isinstance(t, Transform):
                raise ConfigError(f"ClassSpecific transform for class {k} must be an an2dl Transform; got {type(t).__name__}")
        if default is not None and not isinstance(default, Transform):
            raise ConfigError(f"ClassSpecific default must be an an2dl Transform or None; got {type(default).__name__}")
        self.classes = sorted(transforms)
        self.branches = nn.ModuleDict({str(k): transforms[k] for k in self.classes})
        self.default = default

    def apply_batch(self, batch: TargetBatch, generator: torch.Generator | None) -> TargetBatch:
        if batch.label is None:
            raise ValueError("ClassSpecific needs class labels: call it with a label target, e.g. transform(x, y)")
        cls = batch.label.argmax(dim=1) if batch.label.dim() == 2 else batch.label
        parts, where = [], []
        covered = torch.zeros_like(cls, dtype=torch.bool)
        for k in self.classes:
            sel = cls == k
            covered |= sel
            idx = sel.nonzero().flatten()
            if len(idx):
                t = self.branches[str(k)]
                sub = batch.select(idx)
                parts.append(t.apply_batch(sub, generator) if t.active else sub)
                where.append(idx)
        rest = (~covered).nonzero().flatten()
        if len(rest):
            sub = batch.select(rest)
            parts.append(self.default.apply_batch(sub, generator) if self.default is not None and self.default.active else sub)
            where.append(rest)
        return TargetBatch.merge(parts, where, batch.batch_size)
