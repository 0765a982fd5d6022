"""Named batches: the one form in which a task receives its data (DESIGN §4–§5).

A :class:`Batch` is a dictionary of named fields with attribute access and
an explicit batch size.  Tasks read fields by name (``batch.inputs``,
``batch.targets``, ``batch.lengths``), never by position, so one trainer
serves classification, segmentation, detection, metric learning and
sequence-to-sequence alike.

Field names (the task says which it needs; anything else passes through):

==============  ==========================================  ===========================================
field           value                                       used by
==============  ==========================================  ===========================================
``inputs``      ``[B, ...]`` tensor, or a list of B         every task (detection: images of
                ``[C, H, W]`` images of different sizes      different sizes as a list)
``targets``     ``[B]`` class ids, ``[B, D]`` values, or a  classification, regression; detection
                list of B per-image dicts (``boxes``         (torchvision's convention)
                ``[N, 4]`` xyxy, ``labels`` ``[N]``,
                ``masks`` ``[N, H, W]``, ``keypoints``
                ``[N, K, 3]``)
``mask``        ``[B, H, W]`` integer class ids              semantic segmentation
``tokens``      ``[B, T]`` int64 token ids                   language models, sequence-to-sequence
``lengths``     ``[B]`` int64 valid steps per sequence       variable-length sequences
``pairs``       ``[B, 2, ...]`` two inputs per sample        Siamese networks (``targets``: same/different)
``triplets``    ``[B, 3, ...]`` anchor, positive, negative   triplet networks
==============  ==========================================  ===========================================

The batch size is the number of samples: given explicitly (``size=``) or
read from the leading dimension (or list length) of ``inputs``, then of
``tokens``, ``pairs`` or ``triplets``.  The trainer weights running means and
the loss of an uneven last batch under DDP by it.

Collate functions build batches from samples: :func:`collate_images`
(images of different sizes with per-image target dicts) and
:func:`an2dl.data.text.pad_collate` (token sequences of different lengths, padded).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from ..errors import ConfigError
from ..ops.boxes import check_boxes

__all__ = ["Batch", "BatchError", "as_batch", "collate_images", "check_image_targets", "check_dense_mask", "SIZE_FIELDS"]

#: fields whose leading dimension (or list length) is the batch size, in the order they are tried
SIZE_FIELDS = ("inputs", "tokens", "pairs", "triplets", "mask", "targets")


class BatchError(ConfigError):
    """A batch lacks a field its task needs, or a field has the wrong form."""


class Batch(dict):
    """A batch of named fields: ``batch.inputs`` is ``batch["inputs"]``.

    Args:
        fields: a mapping of field names to values (tensors, lists of tensors,
            lists of target dicts, ...), and/or keyword fields.
        size: the number of samples; ``None`` reads it from the fields (see
            the module docstring).

    A missing field raises :class:`BatchError` naming the field and the
    fields present.  ``batch.to(device)`` moves every tensor, also inside
    lists and target dicts.
    """

    def __init__(self, fields: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /, *, size: int | None = None,
                 **kw: Any) -> None:
        super().__init__(fields, **kw)
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise BatchError(f"Batch size must be a non-negative integer; got {size!r}")
        self._size = size

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise BatchError(f"the batch has no field {name!r}; it has {sorted(self)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __reduce__(self):  # pickling (DataLoader workers) keeps the explicit size
        return (_rebuild, (dict(self), self._size))

    def __repr__(self) -> str:
        def show(v: Any) -> str:
            if isinstance(v, torch.Tensor):
                return f"{v.dtype} {list(v.shape)}"
            if isinstance(v, (list, tuple)):
                return f"{type(v).__name__} of {len(v)}"
            return type(v).__name__

        inner = ", ".join(f"{k}={show(v)}" for k, v in self.items())
        return f"Batch(size={self.size}, {inner})"

    @property
    def size(self) -> int:
        """Number of samples in the batch."""
        if self._size is not None:
            return self._size
        for name in SIZE_FIELDS:
            v = self.get(name)
            if isinstance(v, torch.Tensor) and v.dim() > 0:
                return int(v.shape[0])
            if isinstance(v, (list, tuple)):
                return len(v)
        return 1

    def require(self, *names: str, owner: str = "the task") -> None:
        """Raise :class:`BatchError` unless every field in ``names`` is present."""
        missing = [n for n in names if n not in self]
        if missing:
            raise BatchError(
                f"{owner} needs the batch field(s) {missing}; the batch has {sorted(self)} "
                "(name the fields in the dataset, or give the task's batch_fields for tuple batches)"
            )

    def replace(self, **changes: Any) -> Batch:
        """A new batch with some fields changed (the size is kept)."""
        out = Batch(self, size=self._size)
        out.update(changes)
        return out

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
        """The batch with every tensor (also in lists and dicts) on ``device``."""
        return Batch({k: _move(v, device, non_blocking) for k, v in self.items()}, size=self._size)


def _rebuild(fields: dict[str, Any], size: int | None) -> Batch:
    return Batch(fields, size=size)


def _move(v: Any, device: torch.device | str, non_blocking: bool) -> Any:
    if isinstance(v, torch.Tensor):
        return v.to(device, non_blocking=non_blocking)
    if isinstance(v, dict):
        return {k: _move(x, device, non_blocking) for k, x in v.items()}
    if isinstance(v, list):
        return [_move(x, device, non_blocking) for x in v]
    if isinstance(v, tuple):
        return tuple(_move(x, device, non_blocking) for x in v)
    return v


def as_batch(raw: Any, names: Sequence[str] | None = None, *, owner: str = "the task") -> Batch:
    """Name the fields of a batch as a loader produced it.

    Args:
        raw: a :class:`Batch` (returned as is), a mapping of fields, a tuple or
            list of fields (named by position with ``names``), or one tensor
            (``inputs``).
        names: the field names of a tuple batch, in order.
        owner: who asks, for error messages.

    Returns:
        The :class:`Batch`.
    """
    if isinstance(raw, Batch):
        return raw
    if isinstance(raw, Mapping):
        return Batch(raw)
    if isinstance(raw, torch.Tensor):
        return Batch(inputs=raw)
    if isinstance(raw, (tuple, list)):
        if names is None:
            raise BatchError(f"{owner} received a tuple of {len(raw)} fields but declares no batch_fields to name them")
        if len(raw) != len(names):
            raise BatchError(
                f"{owner} names tuple batches as {tuple(names)}; got a tuple of {len(raw)} fields "
                "(give the dataset named samples, or a tuple of that length)"
            )
        return Batch(zip(names, raw))
    raise BatchError(f"{owner} needs a Batch, a mapping of fields or a tuple; got {type(raw).__name__}")


# --------------------------------------------------------------------------------------------- collate functions
def collate_images(samples: Sequence[Any]) -> Batch:
    """Collate ``(image, target)`` samples whose images may differ in size (detection, instance segmentation).

    Images of one size are stacked into ``inputs [B, C, H, W]``; otherwise
    ``inputs`` is the list of ``[C, H, W]`` images, as torchvision's
    detection models take them.  Targets are kept as the list of per-image
    dicts (``boxes [N, 4]`` xyxy, ``labels [N]``, ...).

    Args:
        samples: ``(image, target)`` pairs or mappings with ``inputs`` and ``targets``.

    Returns:
        ``Batch(inputs=..., targets=[dict, ...])`` of size ``len(samples)``.
    """
    if not samples:
        raise BatchError("collate_images needs at least one sample")
    images, targets = [], []
    for i, s in enumerate(samples):
        if isinstance(s, Mapping):
            image, target = s.get("inputs"), s.get("targets")
        elif isinstance(s, (tuple, list)) and len(s) == 2:
            image, target = s
        else:
            raise BatchError(f"collate_images sample {i} must be (image, target) or a mapping; got {type(s).__name__}")
        if not isinstance(image, torch.Tensor) or image.dim() != 3:
            raise BatchError(f"collate_images sample {i}: the image must be a [C, H, W] tensor; got "
                             f"{list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__}")
        images.append(image)
        targets.append(target)
    same = all(im.shape == images[0].shape for im in images)
    return Batch(inputs=torch.stack(images) if same else images, targets=targets, size=len(images))


# --------------------------------------------------------------------------------------------- target checks
def _image_size(image: Any, i: int, name: str) -> tuple[int, int]:
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        got = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise BatchError(f"{name}: image {i} must be a [C, H, W] tensor; got {got}")
    return int(image.shape[-2]), int(image.shape[-1])


def check_image_targets(images: torch.Tensor | Sequence[torch.Tensor], targets: Sequence[Mapping[str, Any]], *,
                        name: str = "targets") -> None:
    """Validate per-image target dicts against their images (detection, instance segmentation, pose).

    Args:
        images: ``[B, C, H, W]`` or a list of B ``[C, H, W]`` images.
        targets: B dicts with any of ``boxes`` ``[N, 4]`` xyxy inside the image,
            ``labels`` ``[N]`` integer, ``masks`` ``[N, H, W]`` of the image's size,
            ``keypoints`` ``[N, K, 3]``; the per-instance entries agree on ``N``.
        name: the argument name for error messages.

    Raises:
        BatchError / ValueError / TypeError: naming the image, the key, the expectation and the value.
    """
    if not isinstance(targets, (list, tuple)):
        raise BatchError(f"{name} must be a list of per-image dicts; got {type(targets).__name__}")
    if len(targets) != len(images):
        raise BatchError(f"{name} must hold one dict per image: {len(images)} images, {len(targets)} targets")
    for i, (image, t) in enumerate(zip(images, targets)):
        h, w = _image_size(image, i, name)
        if not isinstance(t, Mapping):
            raise BatchError(f"{name}[{i}] must be a dict of target tensors; got {type(t).__name__}")
        n = None
        if "boxes" in t:
            n = len(check_boxes(t["boxes"], (h, w), name=f"{name}[{i}]['boxes']"))
        for key, dims in (("labels", 1), ("masks", 3), ("keypoints", 3)):
            v = t.get(key)
            if v is None:
                continue
            if not isinstance(v, torch.Tensor) or v.dim() != dims:
                got = list(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                raise BatchError(f"{name}[{i}]['{key}'] must be a {dims}-D tensor; got {got}")
            if n is not None and v.shape[0] != n:
                raise BatchError(f"{name}[{i}]['{key}'] must have one row per box ({n}); got {v.shape[0]}")
            n = v.shape[0] if n is None else n
        if "labels" in t and t["labels"].is_floating_point():
            raise BatchError(f"{name}[{i}]['labels'] must hold integer class ids; got {t['labels'].dtype}")
        if "masks" in t and tuple(t["masks"].shape[1:]) != (h, w):
            raise BatchError(f"{name}[{i}]['masks'] must be [N, {h}, {w}] like image {i}; got {list(t['masks'].shape)}")
        if "keypoints" in t and t["keypoints"].shape[2] != 3:
            raise BatchError(f"{name}[{i}]['keypoints'] must be [N, K, 3] as (x, y, visibility); "
                             f"got {list(t['keypoints'].shape)}")


def check_dense_mask(inputs: torch.Tensor, mask: torch.Tensor, *, name: str = "mask") -> None:
    """Validate a semantic-segmentation mask ``[B, H, W]`` of integer class ids against images ``[B, C, H, W]``.

    Raises:
        BatchError: not an integer tensor, or a size that differs from the images'.
    """
    if not isinstance(mask, torch.Tensor) or mask.is_floating_point():
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise BatchError(f"{name} must be an integer tensor [B, H, W] of class ids; got {got}")
    want = (inputs.shape[0], *inputs.shape[-2:])
    if tuple(mask.shape) != tuple(want):
        raise BatchError(f"{name} must be [B, H, W] = {list(want)} like the images {list(inputs.shape)}; "
                         f"got {list(mask.shape)}")
