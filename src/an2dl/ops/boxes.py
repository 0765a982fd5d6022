"""Bounding boxes: formats, areas, IoU, generalised IoU, clipping and validation (notes §3.5.2, §3.5.4).

A box is four numbers.  The notes write it ``(x, y, h, w)`` — a corner (or,
for instance segmentation, the centre) plus the size (§3.5.2, §3.5.5); an2dl
stores boxes as ``(x1, y1, x2, y2)`` in absolute pixels, the top-left and
bottom-right corners (torchvision's convention, DESIGN §4), and converts::

    xyxy   = (x1, y1, x2, y2)
    xywh   = (x1, y1, w, h)          w = x2 - x1, h = y2 - y1
    cxcywh = (cx, cy, w, h)          cx = (x1 + x2) / 2, cy = (y1 + y2) / 2

The match between a detection and an annotation is the notes' Intersection
over Union (§3.5.4.2)::

    IoU(A, B) = |A ∩ B| / |A ∪ B| = inter / (area(A) + area(B) - inter)

and the generalised IoU of Rezatofighi et al. (2019), "Generalized
Intersection over Union", subtracts the share of the smallest enclosing box
``E`` that neither box covers, so that disjoint boxes still get a signal::

    GIoU(A, B) = IoU(A, B) - (|E| - |A ∪ B|) / |E|          ∈ [-1, 1]

Both are computed for every pair at once (``[N, M]`` broadcasting, no loop
over boxes) in the boxes' own dtype, with the same operation order as
torchvision's kernels, so float32 results agree to the last bits.

:func:`check_boxes` is the public validation helper the rest of the library
calls on targets: shape ``[N, 4]``, finite, ``x2 >= x1``, ``y2 >= y1`` and,
given the image size, inside the image.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

__all__ = [
    "BOX_FORMATS",
    "box_convert",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "clip_boxes_to_image",
    "remove_small_boxes",
    "check_boxes",
]

#: the box formats :func:`box_convert` knows
BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def _check_box_tensor(boxes: torch.Tensor, name: str, *, matrix: bool = True) -> None:
    """Raise unless ``boxes`` is a tensor ``[N, 4]`` (``matrix``) or ``[..., 4]``."""
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [N, 4]; got {type(boxes).__name__}")
    if matrix and (boxes.dim() != 2 or boxes.shape[-1] != 4):
        raise ValueError(f"{name} must be a tensor of shape [N, 4] in (x1, y1, x2, y2); got shape {list(boxes.shape)}")
    if not matrix and (boxes.dim() == 0 or boxes.shape[-1] != 4):
        raise ValueError(f"{name} must be a tensor of shape [..., 4]; got shape {list(boxes.shape)}")


def _as_float(boxes: torch.Tensor) -> torch.Tensor:
    """Integer boxes are promoted to the default float dtype; float boxes are kept as they are."""
    return boxes if boxes.is_floating_point() else boxes.to(torch.get_default_dtype())


def _check_format(fmt: str, name: str) -> None:
    if fmt not in BOX_FORMATS:
        raise ValueError(f"{name} must be one of {BOX_FORMATS}; got {fmt!r}")


def _to_xyxy(boxes: torch.Tensor, fmt: str) -> torch.Tensor:
    a, b, c, d = boxes.unbind(-1)
    if fmt == "xywh":
        return torch.stack((a, b, a + c, b + d), dim=-1)
    # cxcywh: the corners lie half a size away from the centre
    return torch.stack((a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d), dim=-1)


def _from_xyxy(boxes: torch.Tensor, fmt: str) -> torch.Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    if fmt == "xywh":
        return torch.stack((x1, y1, x2 - x1, y2 - y1), dim=-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert boxes between the ``xyxy``, ``xywh`` and ``cxcywh`` formats.

    The notes describe a box by a position and a size, ``(x, y, h, w)``
    (§3.5.2 localisation, with ``(x, y)`` the top-left corner; §3.5.5 uses the
    centre); this is the bridge to the corner format used everywhere else.
    Conversions between two non-corner formats go through ``xyxy`` (as in
    torchvision), so the results agree with torchvision's to the last bit.

    Args:
        boxes: boxes in ``in_fmt``.
        in_fmt, out_fmt: one of ``"xyxy"``, ``"xywh"``, ``"cxcywh"``.

    Returns:
        the boxes in ``out_fmt`` (a new tensor, also when the formats agree).

    Shape:
        ``boxes``: ``[..., 4]``; output: the same shape.

    Raises:
        ValueError: an unknown format name or a last dimension other than 4.
    """
    _check_format(in_fmt, "in_fmt")
    _check_format(out_fmt, "out_fmt")
    _check_box_tensor(boxes, "boxes", matrix=False)
    if in_fmt == out_fmt:
        return boxes.clone()
    xyxy = boxes if in_fmt == "xyxy" else _to_xyxy(boxes, in_fmt)
    return xyxy if out_fmt == "xyxy" else _from_xyxy(xyxy, out_fmt)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area ``(x2 - x1) · (y2 - y1)`` of each ``xyxy`` box.

    Args:
        boxes: ``(x1, y1, x2, y2)`` boxes with ``x2 >= x1`` and ``y2 >= y1``.

    Returns:
        the areas, in squared pixels.

    Shape:
        ``boxes``: ``[..., 4]``; output: ``[...]``.
    """
    _check_box_tensor(boxes, "boxes", matrix=False)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _inter_union(
    boxes1: torch.Tensor,
    boxes2: torch.Tensor,
    area1: torch.Tensor | None = None,
    area2: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairwise intersection and union areas, ``[N, M]`` each (areas may be passed in when already known)."""
    area1 = box_area(boxes1) if area1 is None else area1
    area2 = box_area(boxes2) if area2 is None else area2
    # the intersection is the box between the larger top-left and the smaller bottom-right corner
    left = torch.maximum(boxes1[:, None, 0], boxes2[None, :, 0])  # (N, M)
    top = torch.maximum(boxes1[:, None, 1], boxes2[None, :, 1])
    right = torch.minimum(boxes1[:, None, 2], boxes2[None, :, 2])
    bottom = torch.minimum(boxes1[:, None, 3], boxes2[None, :, 3])
    inter = (right - left).clamp(min=0) * (bottom - top).clamp(min=0)
    union = area1[:, None] + area2[None, :] - inter
    return inter, union


#: pairwise results are computed in row blocks of about this many elements, so the temporaries stay in cache
_BLOCK_ELEMENTS = 1 << 18


def _blockwise(fn, boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """``fn(rows of boxes1, areas, boxes2, areas) -> [n, M]`` evaluated block by block into one ``[N, M]`` tensor.

    Same numbers as one call; for large ``N · M`` the temporaries of a block fit
    in the CPU cache, which makes the whole several times faster.
    Differentiable (autograd records the block copies).
    """
    area1, area2 = box_area(boxes1), box_area(boxes2)
    n, m = boxes1.shape[0], boxes2.shape[0]
    rows = max(1, _BLOCK_ELEMENTS // max(m, 1))
    if n <= rows:
        return fn(boxes1, area1, boxes2, area2)
    first = fn(boxes1[:rows], area1[:rows], boxes2, area2)
    out = first.new_empty(n, m)
    out[:rows] = first
    for s in range(rows, n, rows):
        out[s : s + rows] = fn(boxes1[s : s + rows], area1[s : s + rows], boxes2, area2)
    return out


def _iou_block(boxes1, area1, boxes2, area2) -> torch.Tensor:
    inter, union = _inter_union(boxes1, boxes2, area1, area2)
    return inter / union


def _giou_block(boxes1, area1, boxes2, area2) -> torch.Tensor:
    inter, union = _inter_union(boxes1, boxes2, area1, area2)
    iou = inter / union
    left = torch.minimum(boxes1[:, None, 0], boxes2[None, :, 0])  # (N, M): the enclosing box
    top = torch.minimum(boxes1[:, None, 1], boxes2[None, :, 1])
    right = torch.maximum(boxes1[:, None, 2], boxes2[None, :, 2])
    bottom = torch.maximum(boxes1[:, None, 3], boxes2[None, :, 3])
    enclosing = (right - left).clamp(min=0) * (bottom - top).clamp(min=0)
    return iou - (enclosing - union) / enclosing


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Intersection over Union of every pair of boxes (notes §3.5.4.2).

    ``IoU(a, b) = |a ∩ b| / |a ∪ b|``, the notes' "area of overlap over area
    of union".  Two boxes that only touch have IoU 0; a pair of degenerate
    (zero-area) boxes gives ``0 / 0 = nan``, as in torchvision.

    Args:
        boxes1: ``(x1, y1, x2, y2)`` boxes, ``x2 >= x1``, ``y2 >= y1``.
        boxes2: the same, another set.

    Returns:
        ``iou[i, j]`` = IoU of ``boxes1[i]`` and ``boxes2[j]``, in ``[0, 1]``.

    Shape:
        ``boxes1``: ``[N, 4]``, ``boxes2``: ``[M, 4]``; output ``[N, M]``.
    """
    _check_box_tensor(boxes1, "boxes1")
    _check_box_tensor(boxes2, "boxes2")
    return _blockwise(_iou_block, _as_float(boxes1), _as_float(boxes2))


def generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of every pair of boxes (Rezatofighi et al., 2019).

    ``GIoU(a, b) = IoU(a, b) - (|E| - |a ∪ b|) / |E|`` with ``E`` the smallest
    box enclosing both.  Equal to the IoU for nested boxes, negative for
    disjoint ones, ``-1`` in the limit of two far-apart points; ``1 - GIoU`` is
    the box loss of DETR-style detectors.  Extends the IoU of the notes
    (§3.5.4.2).

    Args:
        boxes1, boxes2: ``(x1, y1, x2, y2)`` boxes, ``x2 >= x1``, ``y2 >= y1``.

    Returns:
        ``giou[i, j]`` in ``[-1, 1]``.

    Shape:
        ``boxes1``: ``[N, 4]``, ``boxes2``: ``[M, 4]``; output ``[N, M]``.

    Raises:
        ValueError: a box with ``x2 < x1`` or ``y2 < y1`` (the enclosing box
        would be wrong and the result meaningless).
    """
    _check_box_tensor(boxes1, "boxes1")
    _check_box_tensor(boxes2, "boxes2")
    _check_order(boxes1, "boxes1")
    _check_order(boxes2, "boxes2")
    return _blockwise(_giou_block, _as_float(boxes1), _as_float(boxes2))


def clip_boxes_to_image(boxes: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Clamp ``xyxy`` boxes to the image: ``x`` to ``[0, W]``, ``y`` to ``[0, H]``.

    Used on decoded proposals and detections (notes §3.5.4.4, region proposal
    network), which may reach past the border.

    Args:
        boxes: ``(x1, y1, x2, y2)`` boxes in pixels.
        size: ``(H, W)`` of the image.

    Returns:
        the clipped boxes (a new tensor; gradients pass where no clamp acts).

    Shape:
        ``boxes``: ``[..., 4]``; output: the same shape.
    """
    _check_box_tensor(boxes, "boxes", matrix=False)
    height, width = _check_size(size, "size")
    x1 = boxes[..., 0].clamp(0, width)
    y1 = boxes[..., 1].clamp(0, height)
    x2 = boxes[..., 2].clamp(0, width)
    y2 = boxes[..., 3].clamp(0, height)
    return torch.stack((x1, y1, x2, y2), dim=-1)


def remove_small_boxes(boxes: torch.Tensor, min_size: float) -> torch.Tensor:
    """Indices of the boxes whose width and height are both at least ``min_size``.

    Args:
        boxes: ``(x1, y1, x2, y2)`` boxes.
        min_size: smallest side kept, in pixels.

    Returns:
        int64 indices of the kept boxes, increasing.

    Shape:
        ``boxes``: ``[N, 4]``; output ``[K]``, ``K <= N``.
    """
    _check_box_tensor(boxes, "boxes")
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    return torch.nonzero((widths >= min_size) & (heights >= min_size)).flatten()


def _check_size(size: Sequence[int], name: str) -> tuple[float, float]:
    if not isinstance(size, Sequence) or len(size) != 2 or not all(
        isinstance(s, numbers.Real) and not isinstance(s, bool) and s >= 0 for s in size
    ):
        raise ValueError(f"{name} must be (H, W), two non-negative numbers; got {size!r}")
    return size[0], size[1]


def _check_order(boxes: torch.Tensor, name: str) -> None:
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{name} must satisfy x2 >= x1 and y2 >= y1 (x1, y1, x2, y2 format); row {i} is {boxes[i].tolist()}"
        )


def check_boxes(
    boxes: torch.Tensor, image_size: Sequence[int] | None = None, *, name: str = "boxes"
) -> torch.Tensor:
    """Validate ``xyxy`` boxes: shape ``[N, 4]``, finite, ordered corners and, optionally, inside the image.

    The helper the library calls on detection targets (notes §3.5.4: every
    object has a box) before they reach a loss or an IoU.  Errors name the
    argument and the first offending row.

    Args:
        boxes: ``(x1, y1, x2, y2)`` boxes in pixels.
        image_size: ``(H, W)``; when given, every coordinate must satisfy
            ``0 <= x <= W`` and ``0 <= y <= H``.
        name: the argument name used in error messages.

    Returns:
        ``boxes`` unchanged, so the call can wrap an expression.

    Shape:
        ``boxes``: ``[N, 4]`` (``N`` may be 0).

    Raises:
        TypeError: not a tensor, or not a real-valued one (bool, complex).
        ValueError: wrong shape, non-finite values, ``x2 < x1`` or ``y2 < y1``,
        a box outside the image, or a malformed ``image_size``.
    """
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [N, 4]; got {type(boxes).__name__}")
    if boxes.dtype == torch.bool or boxes.is_complex():
        raise TypeError(f"{name} must hold real coordinates (a float or integer tensor); got {boxes.dtype}")
    _check_box_tensor(boxes, name)
    finite = torch.isfinite(boxes).all(dim=1)
    if not bool(finite.all()):
        i = int((~finite).nonzero()[0, 0])
        raise ValueError(f"{name} must be finite; row {i} is {boxes[i].tolist()}")
    _check_order(boxes, name)
    if image_size is not None:
        height, width = _check_size(image_size, "image_size")
        x = boxes[:, 0::2]
        y = boxes[:, 1::2]
        outside = ((x < 0) | (x > width) | (y < 0) | (y > height)).any(dim=1)
        if bool(outside.any()):
            i = int(outside.nonzero()[0, 0])
            raise ValueError(
                f"{name} must lie inside the image (0 <= x <= {width}, 0 <= y <= {height} for image_size "
                f"(H, W) = ({height}, {width})); row {i} is {boxes[i].tolist()}"
            )
    return boxes
