"""The targets that travel with an image through every transform (DESIGN §4; notes §3.4.1).

Every transform is called as ``transform(image, target=None, *, generator=None)``
and returns ``image`` alone when no target is given, else ``(image, target)``
with the target in the form it came in.  Three forms are accepted:

1. **one sample** — ``image`` ``[C, H, W]`` and ``target`` a dict (or a class
   label: a tensor / int, returned as is);
2. **a batch** — ``image`` ``[B, C, H, W]`` and ``target`` a dict whose
   image-level entries are stacked (``label`` ``[B]`` or ``[B, K]``, ``mask``
   ``[B, H, W]``) and whose per-instance entries are lists of ``B`` tensors;
3. **a batch of detection targets** — ``image`` ``[B, C, H, W]`` and ``target``
   a list of ``B`` per-sample dicts (torchvision's detection convention).

Keys and their meaning (everything else passes through untouched):

=============  ======================  =============================================================
key            per sample              what transforms do to it
=============  ======================  =============================================================
``label``      ``[]`` int or ``[K]``   image-level class (or soft target); only Mixup/CutMix change it
``mask``       ``[H, W]`` integer      semantic mask; warped with nearest-neighbour sampling,
                                       uncovered pixels get the transform's ``mask_fill``
``boxes``      ``[N, 4]`` float        ``(x1, y1, x2, y2)`` absolute pixels; the four corners are
                                       mapped and the axis-aligned box around them kept, clipped to
                                       the image; boxes left empty are **dropped** with their instance
``labels``     ``[N]`` int             class of each instance (dropped with its box)
``masks``      ``[N, H, W]`` bool/int  instance masks (warped like ``mask``; dropped with the box)
``keypoints``  ``[N, K, 3]`` float     ``(x, y, visibility)``; points mapped, visibility set to 0 when
                                       a point leaves the image; a mirror (horizontal or vertical
                                       flip) reorders the K points through the transform's
                                       ``flip_map`` (left eye <-> right eye)
``iscrowd``    ``[N]``                 per-instance flag (dropped with the box)
=============  ======================  =============================================================

Coordinates are continuous pixel positions: the image covers
``[0, W] × [0, H]`` and pixel ``(r, c)`` has its centre at ``(c + 0.5, r + 0.5)``,
so a horizontal flip maps ``x`` to ``W − x`` (torchvision's box convention).

Boxes entering a transform are first clipped to the input image (a box
partly outside it is cut to its visible part, one wholly outside becomes
empty), and after the transform to the output image; a box whose width or
height is then ``<= 0`` is empty and dropped.  A box with ``x2 < x1`` or
``y2 < y1`` is malformed and raises ``ValueError``.

Inside the package every transform works on a :class:`TargetBatch`: the
batch of images plus the image-level targets stacked and the per-instance
targets **packed** (all instances of the batch concatenated, with
``batch_index`` naming the sample of each), so boxes and keypoints are moved
with one vectorised operation per batch, never a Python loop over boxes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from ...ops.boxes import check_boxes
from ..images import check_image

__all__ = ["TargetBatch", "INSTANCE_KEYS", "IMAGE_KEYS", "collate_samples"]

IMAGE_KEYS = ("label", "mask")
INSTANCE_KEYS = ("boxes", "labels", "masks", "keypoints", "iscrowd")


@dataclasses.dataclass
class TargetBatch:
    """A batch of images with its targets, in the packed form transforms work on.

    Attributes:
        image: ``[B, C, H, W]`` float in [0, 1].
        label: ``[B]`` int64 or ``[B, K]`` soft targets, or ``None``.
        mask: ``[B, H, W]`` semantic mask, or ``None``.
        instances: per-instance tensors, all with the same first dimension ``N``
            (``boxes`` ``[N, 4]``, ``labels`` ``[N]``, ``masks`` ``[N, H, W]``,
            ``keypoints`` ``[N, K, 3]``, ``iscrowd`` ``[N]``).
        batch_index: ``[N]`` int64, the sample each instance belongs to.
    """

    image: torch.Tensor
    label: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    instances: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    batch_index: torch.Tensor | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the images."""
        return int(self.image.shape[-2]), int(self.image.shape[-1])

    @property
    def batch_size(self) -> int:
        return int(self.image.shape[0])

    def replace(self, **changes: Any) -> TargetBatch:
        return dataclasses.replace(self, **changes)

    def keep_instances(self, keep: torch.Tensor) -> TargetBatch:
        """Only the instances where ``keep`` ``[N]`` is true."""
        if not self.instances:
            return self
        return self.replace(
            instances={k: v[keep] for k, v in self.instances.items()},
            batch_index=self.batch_index[keep] if self.batch_index is not None else None,
        )

    def select(self, samples: torch.Tensor) -> TargetBatch:
        """The sub-batch of the samples ``samples`` (int64 indices, increasing), instances included."""
        out = TargetBatch(
            image=self.image[samples],
            label=self.label[samples] if self.label is not None else None,
            mask=self.mask[samples] if self.mask is not None else None,
        )
        if self.instances:
            assert self.batch_index is not None
            new_pos = torch.full((self.batch_size,), -1, dtype=torch.long, device=self.batch_index.device)
            new_pos[samples] = torch.arange(len(samples), device=self.batch_index.device)
            mapped = new_pos[self.batch_index]
            keep = mapped >= 0
            out.instances = {k: v[keep] for k, v in self.instances.items()}
            out.batch_index = mapped[keep]
        return out

    @staticmethod
    def merge(parts: Sequence[TargetBatch], samples: Sequence[torch.Tensor], batch_size: int) -> TargetBatch:
        """Inverse of :meth:`select`: put ``parts[i]`` back at the positions ``samples[i]``.

        Raises:
            ValueError: the parts have different image sizes (the branches of a
                class-specific transform must produce images of one size).
        """
        sizes = {tuple(p.image.shape[1:]) for p in parts}
        if len(sizes) != 1:
            raise ValueError(f"the branches produced images of different shapes {sorted(sizes)}; they must agree to form a batch")
        first = parts[0]
        image = first.image.new_empty(batch_size, *first.image.shape[1:])
        label = mask = None
        if first.label is not None:
            label = first.label.new_empty(batch_size, *first.label.shape[1:])
        if first.mask is not None:
            mask = first.mask.new_empty(batch_size, *first.mask.shape[1:])
        for p, idx in zip(parts, samples):
            image[idx] = p.image
            if label is not None:
                label[idx] = p.label
            if mask is not None:
                mask[idx] = p.mask
        out = TargetBatch(image=image, label=label, mask=mask)
        if first.instances:
            bidx = torch.cat([idx[p.batch_index] for p, idx in zip(parts, samples)])
            order = torch.sort(bidx, stable=True).indices
            out.batch_index = bidx[order]
            out.instances = {k: torch.cat([p.instances[k] for p in parts])[order] for k in first.instances}
        return out

    # ------------------------------------------------------------------ conversion from / to user forms
    @staticmethod
    def from_inputs(image: torch.Tensor, target: Any = None) -> tuple[TargetBatch, dict[str, Any]]:
        """Validate and pack ``(image, target)``; also returns what :meth:`to_outputs` needs to unpack."""
        if not isinstance(image, torch.Tensor):
            raise TypeError(f"image must be a torch.Tensor [C, H, W] or [B, C, H, W]; got {type(image).__name__}")
        batched = image.dim() == 4
        check_image(image, name="image", batched=batched if image.dim() in (3, 4) else None)
        images = image if batched else image.unsqueeze(0)
        b, _, h, w = images.shape
        form: dict[str, Any] = {"batched": batched, "kind": "none", "target": target}
        tb = TargetBatch(image=images)
        if target is None:
            return tb, form
        if isinstance(target, (torch.Tensor, int)):
            form["kind"] = "label"
            label = torch.as_tensor(target, device=images.device)
            tb.label = label if batched else label.unsqueeze(0)
            _check_label(tb.label, b)
            return tb, form
        if isinstance(target, dict):
            form["kind"] = "dict"
            samples = [target] if not batched else None
            if batched:
                lab = target.get("label")
                tb.label = torch.as_tensor(lab, device=images.device) if lab is not None else None
                tb.mask = target.get("mask")
                inst = {k: target[k] for k in INSTANCE_KEYS if k in target}
                for k, v in inst.items():
                    if not isinstance(v, (list, tuple)) or len(v) != b:
                        raise ValueError(f"target[{k!r}] of a batch must be a list of {b} tensors (one per sample); got {type(v).__name__}")
                per_sample = [{k: inst[k][i] for k in inst} for i in range(b)]
            else:
                lab = target.get("label")
                tb.label = torch.as_tensor(lab, device=images.device).unsqueeze(0) if lab is not None else None
                m = target.get("mask")
                tb.mask = m.unsqueeze(0) if isinstance(m, torch.Tensor) else m
                per_sample = samples
            if tb.label is not None:
                _check_label(tb.label, b)
            _pack_instances(tb, per_sample, h, w)
        elif isinstance(target, (list, tuple)) and batched and all(isinstance(t, dict) for t in target):
            if len(target) != b:
                raise ValueError(f"a list of targets must have one dict per image; got {len(target)} for {b} images")
            form["kind"] = "list"
            if any("label" in t for t in target):
                tb.label = torch.stack([torch.as_tensor(t["label"], device=images.device) for t in target])
                _check_label(tb.label, b)
            if any("mask" in t for t in target):
                tb.mask = torch.stack([t["mask"] for t in target])
            _pack_instances(tb, list(target), h, w)
        else:
            raise TypeError(
                "target must be a class label tensor, a dict of targets, or (for a batch) a list of dicts; "
                f"got {type(target).__name__}"
            )
        if tb.mask is not None:
            if not isinstance(tb.mask, torch.Tensor) or tuple(tb.mask.shape) != (b, h, w):
                raise ValueError(
                    f"target['mask'] must be [H, W] ([B, H, W] for a batch) matching the image {h}×{w}; "
                    f"got {list(getattr(tb.mask, 'shape', []))}"
                )
            if tb.mask.is_floating_point():
                raise TypeError(f"target['mask'] must hold integer class ids (or bool); got {tb.mask.dtype}")
        return tb, form

    def to_outputs(self, form: dict[str, Any]) -> Any:
        """Unpack into the caller's form (see the module docstring)."""
        batched, kind, target = form["batched"], form["kind"], form["target"]
        image = self.image if batched else self.image[0]
        if kind == "none":
            return image
        if kind == "label":
            # a single sample's class label is never changed (mixing needs a batch): return it as given
            return image, (self.label if batched else target)
        per_sample = self._unpack_instances()
        if kind == "list":
            out = []
            for i, t in enumerate(target):
                d = dict(t)
                d.update(per_sample[i])
                if self.label is not None and "label" in t:
                    d["label"] = self.label[i]
                if self.mask is not None:
                    d["mask"] = self.mask[i]
                out.append(d)
            return image, out
        d = dict(target)
        if batched:
            if self.label is not None:
                d["label"] = self.label
            if self.mask is not None:
                d["mask"] = self.mask
            for k in self.instances:
                d[k] = [s[k] for s in per_sample]
        else:
            if self.label is not None and "label" in target:
                lab = target["label"]
                new = self.label[0]
                d["label"] = lab if isinstance(lab, int) and new.dim() == 0 and int(new) == lab else new
            if self.mask is not None:
                d["mask"] = self.mask[0]
            d.update(per_sample[0])
        return image, d

    def _unpack_instances(self) -> list[dict[str, torch.Tensor]]:
        b = self.batch_size
        if not self.instances:
            return [{} for _ in range(b)]
        assert self.batch_index is not None
        counts = torch.bincount(self.batch_index, minlength=b).tolist()
        split = {k: torch.split(v, counts) for k, v in self.instances.items()}
        return [{k: split[k][i] for k in split} for i in range(b)]


def _check_label(label: torch.Tensor, b: int) -> None:
    if label.dim() == 0 or label.shape[0] != b or label.dim() > 2:
        raise ValueError(f"label must be [B] class ids or [B, K] soft targets for {b} images; got {list(label.shape)}")
    if label.dim() == 1 and label.is_floating_point():
        raise TypeError(f"class labels must be integers; got {label.dtype} (soft targets are [B, K])")


def _pack_instances(tb: TargetBatch, samples: list[dict[str, Any]], h: int, w: int) -> None:
    """Validate the per-instance entries of each sample and concatenate them with a batch index."""
    keys = [k for k in INSTANCE_KEYS if any(k in s for s in samples)]
    if not keys:
        return
    device = tb.image.device
    counts = []
    for i, s in enumerate(samples):
        missing = [k for k in keys if k not in s]
        if missing:
            raise ValueError(f"sample {i} lacks {missing} that other samples have")
        n = None
        for k in keys:
            v = s[k]
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"target[{k!r}] must be a tensor; got {type(v).__name__}")
            if n is None:
                n = v.shape[0]
            elif v.shape[0] != n:
                raise ValueError(f"per-instance targets must agree on N; {keys[0]} has {n}, {k} has {v.shape[0]}")
        if "boxes" in s:
            b = s["boxes"]
            if isinstance(b, torch.Tensor) and not b.is_floating_point():
                raise TypeError(f"target['boxes'] must be a floating-point tensor [N, 4]; got {b.dtype}")
            check_boxes(b, name="target['boxes']")
        if "keypoints" in s:
            kp = s["keypoints"]
            if kp.dim() != 3 or kp.shape[2] != 3 or not kp.is_floating_point():
                raise ValueError(f"target['keypoints'] must be float [N, K, 3] as (x, y, visibility); got {kp.dtype} {list(kp.shape)}")
        if "masks" in s:
            m = s["masks"]
            if m.dim() != 3 or tuple(m.shape[1:]) != (h, w):
                raise ValueError(f"target['masks'] must be [N, {h}, {w}] like the image; got {list(m.shape)}")
        counts.append(n)
    tb.instances = {k: torch.cat([s[k].to(device) for s in samples]) for k in keys}
    tb.batch_index = torch.repeat_interleave(torch.arange(len(samples), device=device), torch.tensor(counts, device=device))


def collate_samples(items: Sequence[Any]) -> Any:
    """Collate ``(image, target)`` samples into the batch form transforms accept.

    Images are stacked; dict targets become a dict with stacked ``label``
    and ``mask`` and per-instance entries kept as lists (their lengths
    differ); other targets use PyTorch's ``default_collate``.
    """
    from torch.utils.data import default_collate

    first = items[0]
    if isinstance(first, (tuple, list)) and len(first) == 2 and isinstance(first[1], dict):
        images = torch.stack([it[0] for it in items])
        keys = list(first[1])
        out: dict[str, Any] = {}
        for k in keys:
            vals = [it[1][k] for it in items]
            if k in INSTANCE_KEYS or not isinstance(vals[0], (torch.Tensor, int, float)):
                out[k] = vals
            else:
                out[k] = torch.stack([torch.as_tensor(v) for v in vals])
        return images, out
    return default_collate(list(items))
