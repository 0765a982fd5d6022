"""Anchor boxes: ``k`` reference boxes at every position of a feature map (notes §3.5.4.4).

"At each spatial location in the feature map, the Region Proposal Network
generates k anchor boxes with predefined scales and aspect ratios" (notes
§3.5.4.4; Ren et al., 2015, "Faster R-CNN").  The RPN head predicts, for each
of those anchors, whether it holds an object and four corrections that move
it onto the object (:mod:`an2dl.ops.box_coder`).

**The layout (torchvision's, so that its weights and proposals line up).**
For a size ``s`` and an aspect ratio ``r = h / w`` the base anchor is centred
at the origin with ``w = s / sqrt(r)`` and ``h = s · sqrt(r)`` (area ``s²``)
and its corners are *rounded to integers*::

    base(s, r) = round([-w/2, -h/2, w/2, h/2])

e.g. ``s = 32, r = 0.5``: ``w = 45.25, h = 22.63`` → ``[-23, -11, 23, 11]``
(``round`` is round-half-to-even, as ``torch.round``).  The ``k = |ratios| ·
|sizes|`` base anchors of a map are ordered ratio-major (``for r in ratios:
for s in sizes``).  A feature map of size ``h_f × w_f`` for an image of size
``H × W`` has strides ``(H // h_f, W // w_f)`` (integer division) and its
anchors sit at the *top-left corner* of each cell, ``(x, y) = (stride_w · j,
stride_h · i)`` — not at the cell's centre (a departure from the paper's
figure that torchvision keeps and we keep with it).  Anchors are listed
position-major: row ``i``, column ``j``, then the ``k`` anchors, i.e. anchor
``a`` of position ``(i, j)`` is row ``(i · w_f + j) · k + a``, the order in
which :class:`~an2dl.models.detection.rpn.RPNHead`'s ``[B, k·4, h_f, w_f]``
output is flattened.  Several maps (a pyramid) are concatenated map after map.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from ...errors import ConfigError

__all__ = ["AnchorGenerator", "base_anchors"]


def _positive_numbers(owner: str, name: str, values: object) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"{owner} {name} must be a non-empty sequence of positive numbers; got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0 or not math.isfinite(v):
            raise ConfigError(f"{owner} {name} must hold positive numbers; got {v!r} in {list(values)!r}")
    return tuple(float(v) for v in values)


def base_anchors(sizes: Sequence[float], aspect_ratios: Sequence[float], *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """The ``k`` anchors of one map centred at the origin, corners rounded (see the module docstring).

    Args:
        sizes: anchor sizes ``s`` in pixels (square root of the area).
        aspect_ratios: ratios ``r = h / w``.

    Returns:
        ``(x1, y1, x2, y2)`` rows, ratio-major: row ``ri · len(sizes) + si``.

    Shape:
        output ``[len(aspect_ratios) · len(sizes), 4]``.
    """
    scales = torch.as_tensor(_positive_numbers("base_anchors", "sizes", sizes), dtype=dtype, device=device)
    ratios = torch.as_tensor(_positive_numbers("base_anchors", "aspect_ratios", aspect_ratios), dtype=dtype,
                             device=device)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)  # (k,) ratio-major
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


class AnchorGenerator(nn.Module):
    """``k`` anchors (sizes × aspect ratios) at every position of one or several feature maps (notes §3.5.4.4).

    Args:
        sizes: per feature map, the anchor sizes in pixels, e.g. ``((8, 16, 32),)`` for one map or
            ``((32,), (64,), (128,))`` for a three-level pyramid.
        aspect_ratios: per feature map, the ratios ``h / w``; one tuple is used for every map.

    Shape:
        ``forward(image_size (H, W), feature_sizes [(h_1, w_1), ...])`` returns ``[A, 4]`` with
        ``A = Σ_l h_l · w_l · k_l``, in the layout of the module docstring.  The anchors depend
        only on the sizes, so one tensor serves every image of a (padded) batch.
    """

    def __init__(self, sizes: Sequence[Sequence[float]] = ((8, 16, 32),),
                 aspect_ratios: Sequence[Sequence[float]] = ((0.5, 1.0, 2.0),)) -> None:
        super().__init__()
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or not sizes:
            raise ConfigError(f"AnchorGenerator sizes must be one sequence of sizes per feature map; got {sizes!r}")
        if isinstance(sizes[0], numbers.Real):
            raise ConfigError(f"AnchorGenerator sizes must be one sequence of sizes per feature map, e.g. "
                              f"((8, 16, 32),); got the flat {sizes!r}")
        self.sizes = tuple(_positive_numbers("AnchorGenerator", "sizes", s) for s in sizes)
        if (isinstance(aspect_ratios, (str, bytes)) or not isinstance(aspect_ratios, Sequence) or not aspect_ratios
                or isinstance(aspect_ratios[0], numbers.Real)):
            raise ConfigError(f"AnchorGenerator aspect_ratios must be one sequence of ratios per feature map, e.g. "
                              f"((0.5, 1.0, 2.0),); got {aspect_ratios!r}")
        ratios = tuple(_positive_numbers("AnchorGenerator", "aspect_ratios", r) for r in aspect_ratios)
        if len(ratios) == 1:
            ratios = ratios * len(self.sizes)
        if len(ratios) != len(self.sizes):
            raise ConfigError(f"AnchorGenerator needs one aspect_ratios tuple per feature map (or one for all): "
                              f"{len(self.sizes)} maps, {len(ratios)} tuples")
        self.aspect_ratios = ratios
        self._cache: dict[tuple, torch.Tensor] = {}

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, aspect_ratios={self.aspect_ratios}"

    def num_anchors_per_location(self) -> list[int]:
        """``k`` of each feature map (``len(sizes_l) · len(aspect_ratios_l)``)."""
        return [len(s) * len(r) for s, r in zip(self.sizes, self.aspect_ratios)]

    def grid_anchors(self, image_size: Sequence[int], feature_sizes: Sequence[Sequence[int]], *,
                     dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> list[torch.Tensor]:
        """The anchors of each map separately: list of ``[h_l · w_l · k_l, 4]``."""
        if len(feature_sizes) != len(self.sizes):
            raise ValueError(f"AnchorGenerator was built for {len(self.sizes)} feature map(s) (one sizes tuple each); "
                             f"got {len(feature_sizes)} maps of sizes {[tuple(s) for s in feature_sizes]}")
        height, width = (int(v) for v in image_size)
        out = []
        for (fh, fw), sizes, ratios in zip(feature_sizes, self.sizes, self.aspect_ratios):
            fh, fw = int(fh), int(fw)
            if fh <= 0 or fw <= 0 or fh > height or fw > width:
                raise ValueError(f"feature map size must be positive and at most the image size {(height, width)}; "
                                 f"got {(fh, fw)}")
            stride_h, stride_w = height // fh, width // fw
            base = base_anchors(sizes, ratios, dtype=dtype, device=device)  # (k, 4)
            ys = torch.arange(fh, dtype=torch.int32, device=device).to(dtype) * stride_h
            xs = torch.arange(fw, dtype=torch.int32, device=device).to(dtype) * stride_w
            y, x = torch.meshgrid(ys, xs, indexing="ij")  # (fh, fw)
            shifts = torch.stack((x, y, x, y), dim=-1).reshape(-1, 1, 4)  # (fh·fw, 1, 4)
            out.append((shifts + base[None]).reshape(-1, 4))  # (fh·fw·k, 4) position-major
        return out

    def forward(self, image_size: Sequence[int], feature_sizes: Sequence[Sequence[int]], *,
                dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
        """All anchors of the maps, concatenated map after map: ``[A, 4]`` (cached per sizes, dtype, device)."""
        key = (tuple(int(v) for v in image_size), tuple(tuple(int(v) for v in s) for s in feature_sizes), dtype,
               str(device))
        anchors = self._cache.get(key)
        if anchors is None:
            anchors = torch.cat(self.grid_anchors(image_size, feature_sizes, dtype=dtype, device=device), dim=0)
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[key] = anchors
        return anchors
