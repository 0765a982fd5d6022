"""FPN level assignment and RoIAlign over a feature pyramid (notes §3.5.5).

With a Feature Pyramid Network (notes §3.5.5.2; Lin et al., 2017, "Feature
Pyramid Networks for Object Detection") the detector has one feature map per
level ``k`` (stride ``2^k``), and each RoI is pooled from the level that suits
its size, eq. (1) of the paper::

    k = floor(k0 + log2(sqrt(w · h) / 224))        clamped to [k_min, k_max]

A box of the ImageNet canonical size ``224²`` goes to ``k0 = 4``; every
halving of its side moves it one level finer.  :func:`assign_levels` is the
formula, :class:`LevelMapper` its torchvision-style callable, and
:class:`MultiScaleRoIAlign` pools every RoI with :func:`~an2dl.ops.roi.roi_align`
from its level (Mask R-CNN, He et al., 2017, on an FPN backbone).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .boxes import box_area
from .roi import _boxes_to_rois, _check_input, _output_size, roi_align

__all__ = ["assign_levels", "LevelMapper", "MultiScaleRoIAlign"]


def _check_level_args(k_min: int, k_max: int, canonical_scale: float, canonical_level: int, eps: float) -> None:
    for name, value in (("k_min", k_min), ("k_max", k_max), ("canonical_level", canonical_level)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an int (a pyramid level); got {value!r}")
    if k_max < k_min:
        raise ValueError(f"k_max must be >= k_min; got k_min={k_min}, k_max={k_max}")
    if isinstance(canonical_scale, bool) or not isinstance(canonical_scale, numbers.Real) or not canonical_scale > 0:
        raise ValueError(f"canonical_scale must be a positive number (pixels); got {canonical_scale!r}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or eps < 0:
        raise ValueError(f"eps must be a non-negative number; got {eps!r}")


def assign_levels(
    boxes: torch.Tensor | Sequence[torch.Tensor],
    *,
    k_min: int,
    k_max: int,
    canonical_scale: float = 224,
    canonical_level: int = 4,
    eps: float = 1e-6,
) -> torch.Tensor:
    """FPN pyramid level of each box: ``k = floor(k0 + log2(sqrt(w·h) / 224) + eps)``, clamped to ``[k_min, k_max]``.

    Notes §3.5.5.2 (FPN recognises objects of different sizes at different
    levels); Lin et al. (2017), eq. (1): a box of the ImageNet canonical size
    ``224²`` goes to level ``k0 = 4`` (``C4``/``P4``), every halving of its
    side one level finer.  ``eps`` (1e-6, as in torchvision) keeps a box of
    exactly ``224 · 2^j`` pixels from falling one level low through rounding.

    Args:
        boxes: ``(x1, y1, x2, y2)`` boxes, a tensor or a list of per-image tensors
            (concatenated in order).
        k_min, k_max: the finest and coarsest level available.
        canonical_scale: the box side mapped to ``canonical_level`` (224).
        canonical_level: ``k0`` (4).
        eps: added inside the floor.

    Returns:
        int64 absolute levels in ``[k_min, k_max]``.

    Shape:
        ``boxes``: ``[K, 4]`` or list of ``[N_i, 4]``; output ``[K]``.
    """
    _check_level_args(k_min, k_max, canonical_scale, canonical_level, eps)
    if not isinstance(boxes, torch.Tensor):
        boxes = _boxes_to_rois(boxes, "boxes")[:, 1:]
    elif boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be a tensor of shape [K, 4] in (x1, y1, x2, y2); got shape {list(boxes.shape)}")
    if not boxes.is_floating_point():
        boxes = boxes.to(torch.get_default_dtype())
    side = torch.sqrt(box_area(boxes))
    level = torch.floor(canonical_level + torch.log2(side / canonical_scale) + torch.tensor(eps, dtype=side.dtype))
    return level.clamp(min=k_min, max=k_max).to(torch.int64)


class LevelMapper:
    """Callable mapping boxes to the index of their FPN level in a list of maps (``k - k_min``).

    The object form of :func:`assign_levels` (notes §3.5.5.2; Lin et al., 2017,
    eq. 1), with torchvision's ``LevelMapper`` interface.

    Args:
        k_min, k_max: finest and coarsest pyramid level of the maps.
        canonical_scale: box side mapped to ``canonical_level`` (224).
        canonical_level: ``k0`` (4).
        eps: added inside the floor (1e-6).

    Shape:
        ``mapper(list of [N_i, 4])`` -> int64 ``[ΣN_i]`` in ``[0, k_max - k_min]``.
    """

    def __init__(
        self, k_min: int, k_max: int, canonical_scale: float = 224, canonical_level: int = 4, eps: float = 1e-6
    ) -> None:
        _check_level_args(k_min, k_max, canonical_scale, canonical_level, eps)
        self.k_min = k_min
        self.k_max = k_max
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level
        self.eps = eps

    def __repr__(self) -> str:
        return (
            f"LevelMapper(k_min={self.k_min}, k_max={self.k_max}, canonical_scale={self.canonical_scale}, "
            f"canonical_level={self.canonical_level}, eps={self.eps})"
        )

    def __call__(self, boxlists: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """Level index (``0`` = finest map) of every box, images concatenated in order.

        Args:
            boxlists: list of ``[N_i, 4]`` boxes per image, or one ``[K, 4]`` tensor.

        Returns:
            int64 ``k - k_min``.

        Shape:
            output ``[ΣN_i]``.
        """
        levels = assign_levels(
            boxlists,
            k_min=self.k_min,
            k_max=self.k_max,
            canonical_scale=self.canonical_scale,
            canonical_level=self.canonical_level,
            eps=self.eps,
        )
        return levels - self.k_min


def _infer_scale(feature: torch.Tensor, image_size: tuple[int, int], name: str) -> float:
    """The power of two closest to ``feature size / image size``; both axes must agree."""
    scales = [2.0 ** round(math.log2(f / s)) for f, s in zip(feature.shape[-2:], image_size)]
    if scales[0] != scales[1]:
        raise ValueError(
            f"feature map {name} of size {list(feature.shape[-2:])} has different strides along H and W for "
            f"images of size {list(image_size)}; expected one power-of-two stride"
        )
    return scales[0]


class MultiScaleRoIAlign(nn.Module):
    """RoIAlign over a feature pyramid: each RoI is pooled from the level its size selects.

    Notes §3.5.5 (Mask R-CNN on an FPN backbone); He et al. (2017), Lin et al.
    (2017).  The stride of each map is inferred from its size against the
    largest image (a power of two), giving levels ``k = log2(stride)``; the
    maps must be consecutive levels, finest first.  Each RoI goes to level
    :func:`assign_levels` (``k0 = canonical_level`` for a ``canonical_scale``
    box) and is pooled with :func:`roi_align` at that map's scale.  Parameter
    free; it only holds its settings (torchvision's ``MultiScaleRoIAlign``).

    Args:
        featmap_names: the keys of the maps to use when the features come as a
            dict (``None``: every map, in order); ignored for a list of maps.
        output_size: ``PH = PW`` (int) or ``(PH, PW)``.
        sampling_ratio: as in :func:`roi_align` (``<= 0`` adaptive).
        canonical_scale, canonical_level: as in :func:`assign_levels`.
        aligned: as in :func:`roi_align` (torchvision uses ``False``).

    Shape:
        ``features``: maps ``[N, C, H_l, W_l]``; ``boxes``: list of ``[N_i, 4]``
        per image in image pixels; ``image_sizes``: list of ``(H, W)``; output
        ``[ΣN_i, C, PH, PW]`` in the order of ``boxes``.
    """

    def __init__(
        self,
        featmap_names: Sequence[str] | None,
        output_size: int | Sequence[int],
        sampling_ratio: int,
        *,
        canonical_scale: float = 224,
        canonical_level: int = 4,
        aligned: bool = False,
    ) -> None:
        super().__init__()
        if featmap_names is not None and (
            isinstance(featmap_names, str) or not all(isinstance(s, str) for s in featmap_names)
        ):
            raise ValueError(f"featmap_names must be a list of feature-map names or None; got {featmap_names!r}")
        self.featmap_names = None if featmap_names is None else list(featmap_names)
        self.output_size = _output_size(output_size)
        if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, numbers.Integral):
            raise ValueError(f"sampling_ratio must be an int (<= 0 for adaptive); got {sampling_ratio!r}")
        self.sampling_ratio = int(sampling_ratio)
        _check_level_args(0, 0, canonical_scale, canonical_level, 0.0)
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level
        self.aligned = bool(aligned)

    def extra_repr(self) -> str:
        return (
            f"featmap_names={self.featmap_names}, output_size={self.output_size}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}"
        )

    def _select(self, features: Mapping[str, torch.Tensor] | Sequence[torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
        if isinstance(features, Mapping):
            names = list(features) if self.featmap_names is None else self.featmap_names
            missing = [name for name in names if name not in features]
            if missing:
                raise ValueError(f"features has no map named {missing}; available: {list(features)}")
            maps = [(name, features[name]) for name in names]
        elif isinstance(features, Sequence) and not isinstance(features, (str, bytes)):
            maps = [(f"[{i}]", f) for i, f in enumerate(features)]
        else:
            raise TypeError(f"features must be a dict or a list of [N, C, H, W] maps; got {type(features).__name__}")
        if not maps:
            raise ValueError("features must hold at least one feature map")
        for name, f in maps:
            _check_input(f)
            if f.shape[:2] != maps[0][1].shape[:2]:
                raise ValueError(
                    f"every feature map must have the same [N, C]; map {name} is {list(f.shape)} and map "
                    f"{maps[0][0]} is {list(maps[0][1].shape)}"
                )
        return maps

    def forward(
        self,
        features: Mapping[str, torch.Tensor] | Sequence[torch.Tensor],
        boxes: Sequence[torch.Tensor],
        image_sizes: Sequence[tuple[int, int]],
    ) -> torch.Tensor:
        """Pool every box from its pyramid level.

        Args:
            features: the pyramid, finest map first.
            boxes: list of ``[N_i, 4]`` ``(x1, y1, x2, y2)`` boxes per image, in pixels.
            image_sizes: ``(H, W)`` of each image (after resizing, before padding).

        Returns:
            pooled features, boxes of all images concatenated in order.

        Shape:
            output ``[ΣN_i, C, PH, PW]``.
        """
        maps = self._select(features)
        if isinstance(boxes, torch.Tensor) or not isinstance(boxes, Sequence):
            raise TypeError(f"boxes must be a list of [N_i, 4] tensors, one per image; got {type(boxes).__name__}")
        if not isinstance(image_sizes, Sequence) or len(image_sizes) != len(boxes) or not all(
            isinstance(s, Sequence) and len(s) == 2 for s in image_sizes
        ):
            raise ValueError(f"image_sizes must be one (H, W) per image ({len(boxes)}); got {image_sizes!r}")
        largest = (max(int(s[0]) for s in image_sizes), max(int(s[1]) for s in image_sizes))
        scales = [_infer_scale(f, largest, name) for name, f in maps]
        levels = [-round(math.log2(s)) for s in scales]
        if levels != list(range(levels[0], levels[0] + len(levels))):
            raise ValueError(
                f"feature maps must be consecutive pyramid levels, finest first (strides 2^k, 2^(k+1), ...); "
                f"got strides {[2**lv for lv in levels]}"
            )
        rois = _boxes_to_rois(boxes, "boxes")
        kw = {"output_size": self.output_size, "sampling_ratio": self.sampling_ratio, "aligned": self.aligned}
        if len(maps) == 1:
            return roi_align(maps[0][1], rois, spatial_scale=scales[0], **kw)
        target = assign_levels(
            rois[:, 1:],
            k_min=levels[0],
            k_max=levels[-1],
            canonical_scale=self.canonical_scale,
            canonical_level=self.canonical_level,
        ) - levels[0]
        first = maps[0][1]
        out = first.new_zeros(rois.shape[0], first.shape[1], *self.output_size)
        for level, ((_, feature), scale) in enumerate(zip(maps, scales)):
            index = torch.nonzero(target == level).flatten()
            if index.numel():
                pooled = roi_align(feature, rois[index], spatial_scale=scale, **kw)
                out = out.index_copy(0, index.to(out.device), pooled)
        return out
