"""Box regression targets: encode a box relative to a proposal, decode it back (notes §3.5.4).

"Region proposals are refined using regression to improve bounding box
accuracy" (notes §3.5.4.2); the region proposal network outputs "4k bounding
box corrections" per location and the detection head "4L - 4" (§3.5.4.4).
The corrections are not raw coordinates but the R-CNN parameterisation of
Girshick et al. (2014), "Rich feature hierarchies for accurate object
detection and semantic segmentation", kept by Fast R-CNN (Girshick, 2015) and
Faster R-CNN: for a proposal ``P`` (centre ``px, py``, size ``pw, ph``) and the
ground-truth box ``G`` matched to it::

    dx = wx · (gx - px) / pw        dw = ww · log(gw / pw)
    dy = wy · (gy - py) / ph        dh = wh · log(gh / ph)

Offsets are scale-invariant (divided by the proposal size) and sizes are
log-ratios, so one regressor serves small and large objects.  The weights
``(wx, wy, ww, wh)`` rescale the targets to roughly unit variance (Faster
R-CNN's RoI heads use ``(10, 10, 5, 5)``, the RPN ``(1, 1, 1, 1)``).

Decoding inverts it; before the ``exp`` the size deltas ``dw / ww`` and
``dh / wh`` are clamped from above at ``log(1000 / 16)`` (a box at most 62.5
times the proposal), so an untrained head cannot overflow to ``inf``.  There
is no lower clamp.  Widths are ``x2 - x1`` (no legacy ``+ 1``).  Same API and
numbers as torchvision's ``BoxCoder``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

__all__ = ["BoxCoder", "BBOX_XFORM_CLIP"]

#: upper clamp of the decoded size deltas ``dw / ww``, ``dh / wh`` before ``exp``
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def _check_boxes_list(boxes: Sequence[torch.Tensor], name: str) -> list[torch.Tensor]:
    if isinstance(boxes, torch.Tensor) or not isinstance(boxes, Sequence):
        raise TypeError(f"{name} must be a list of [N_i, 4] tensors, one per image; got {type(boxes).__name__}")
    for i, b in enumerate(boxes):
        if not isinstance(b, torch.Tensor) or b.dim() != 2 or b.shape[1] != 4:
            shape = list(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
            raise ValueError(f"{name}[{i}] must be a tensor of shape [N, 4] in (x1, y1, x2, y2); got {shape}")
    return list(boxes)


def _check_pair(boxes: torch.Tensor, name: str) -> None:
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
        shape = list(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f"{name} must be a tensor of shape [N, 4] in (x1, y1, x2, y2); got {shape}")


class BoxCoder:
    """Encode ground-truth boxes as R-CNN regression targets against proposals, and decode predictions.

    Notes §3.5.4.2 and §3.5.4.4 (bounding-box regression of proposals and
    anchors); Girshick et al. (2014) R-CNN, Girshick (2015) Fast R-CNN.

    Args:
        weights: ``(wx, wy, ww, wh)``, positive multipliers of the four targets.
        bbox_xform_clip: upper clamp of ``dw / ww`` and ``dh / wh`` when decoding.

    Shape:
        ``encode_single(reference_boxes [N, 4], proposals [N, 4]) -> [N, 4]``;
        ``decode_single(rel_codes [N, 4K], boxes [N, 4]) -> [N, 4K]``;
        ``encode(list of [N_i, 4], list of [N_i, 4]) -> tuple of [N_i, 4]``;
        ``decode(rel_codes [ΣN_i, 4K], list of [N_i, 4]) -> [ΣN_i, K, 4]``.
        All boxes are ``(x1, y1, x2, y2)``; codes are ``(dx, dy, dw, dh)`` per class.
    """

    def __init__(self, weights: Sequence[float], bbox_xform_clip: float = BBOX_XFORM_CLIP) -> None:
        if (
            not isinstance(weights, Sequence)
            or len(weights) != 4
            or not all(isinstance(w, numbers.Real) and not isinstance(w, bool) and w > 0 for w in weights)
        ):
            raise ValueError(f"weights must be four positive numbers (wx, wy, ww, wh); got {weights!r}")
        if isinstance(bbox_xform_clip, bool) or not isinstance(bbox_xform_clip, numbers.Real) or not bbox_xform_clip > 0:
            raise ValueError(f"bbox_xform_clip must be a positive number; got {bbox_xform_clip!r}")
        self.weights = tuple(float(w) for w in weights)
        self.bbox_xform_clip = float(bbox_xform_clip)

    def __repr__(self) -> str:
        return f"BoxCoder(weights={self.weights}, bbox_xform_clip={self.bbox_xform_clip:.6g})"

    def encode(
        self, reference_boxes: Sequence[torch.Tensor], proposals: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, ...]:
        """Regression targets for a batch of images (one tensor per image).

        Args:
            reference_boxes: per image, the ground-truth boxes matched to the proposals.
            proposals: per image, the proposals or anchors, row ``i`` paired with
                ``reference_boxes[image][i]``.

        Returns:
            per image, the targets ``(dx, dy, dw, dh)``.

        Shape:
            lists of ``[N_i, 4]`` in, a tuple of ``[N_i, 4]`` out.
        """
        refs = _check_boxes_list(reference_boxes, "reference_boxes")
        props = _check_boxes_list(proposals, "proposals")
        if len(refs) != len(props) or any(r.shape[0] != p.shape[0] for r, p in zip(refs, props)):
            raise ValueError(
                "reference_boxes and proposals must pair up image by image; got box counts "
                f"{[r.shape[0] for r in refs]} and {[p.shape[0] for p in props]}"
            )
        counts = [r.shape[0] for r in refs]
        targets = self.encode_single(torch.cat(refs, dim=0), torch.cat(props, dim=0))
        return targets.split(counts, dim=0)

    def encode_single(self, reference_boxes: torch.Tensor, proposals: torch.Tensor) -> torch.Tensor:
        """Regression targets of ``reference_boxes`` relative to ``proposals``, row by row.

        ``(dx, dy, dw, dh) = (wx (gx - px) / pw, wy (gy - py) / ph, ww log(gw / pw), wh log(gh / ph))``.

        Args:
            reference_boxes: ground-truth ``(x1, y1, x2, y2)`` boxes.
            proposals: ``(x1, y1, x2, y2)`` proposals with positive width and height.

        Returns:
            the targets, in the dtype of ``reference_boxes``.

        Shape:
            ``[N, 4]`` and ``[N, 4]`` in, ``[N, 4]`` out.
        """
        _check_pair(reference_boxes, "reference_boxes")
        _check_pair(proposals, "proposals")
        if reference_boxes.shape[0] != proposals.shape[0]:
            raise ValueError(
                f"reference_boxes and proposals must have the same number of rows; got "
                f"{reference_boxes.shape[0]} and {proposals.shape[0]}"
            )
        dtype = reference_boxes.dtype if reference_boxes.is_floating_point() else torch.get_default_dtype()
        gt = reference_boxes.to(dtype)
        prop = proposals.to(dtype)
        wx, wy, ww, wh = self.weights
        pw = prop[:, 2] - prop[:, 0]
        ph = prop[:, 3] - prop[:, 1]
        px = prop[:, 0] + 0.5 * pw
        py = prop[:, 1] + 0.5 * ph
        gw = gt[:, 2] - gt[:, 0]
        gh = gt[:, 3] - gt[:, 1]
        gx = gt[:, 0] + 0.5 * gw
        gy = gt[:, 1] + 0.5 * gh
        dx = wx * (gx - px) / pw
        dy = wy * (gy - py) / ph
        dw = ww * torch.log(gw / pw)
        dh = wh * torch.log(gh / ph)
        return torch.stack((dx, dy, dw, dh), dim=1)

    def decode(self, rel_codes: torch.Tensor, boxes: Sequence[torch.Tensor]) -> torch.Tensor:
        """Boxes predicted by ``rel_codes`` from the proposals of a batch of images.

        Args:
            rel_codes: ``(dx, dy, dw, dh)`` per class for every proposal of
                every image, images concatenated in order.
            boxes: per image, the proposals the codes refer to.

        Returns:
            the decoded ``(x1, y1, x2, y2)`` boxes, one per proposal and class.

        Shape:
            ``rel_codes``: ``[ΣN_i, 4K]`` (or any shape with ``ΣN_i · 4K``
            elements); ``boxes``: list of ``[N_i, 4]``; output ``[ΣN_i, K, 4]``.
        """
        props = _check_boxes_list(boxes, "boxes")
        if not isinstance(rel_codes, torch.Tensor):
            raise TypeError(f"rel_codes must be a tensor [N, 4K]; got {type(rel_codes).__name__}")
        total = sum(p.shape[0] for p in props)
        if total == 0:
            classes = rel_codes.shape[1] // 4 if rel_codes.dim() == 2 else 1
            return rel_codes.new_zeros(0, max(classes, 1), 4)
        if rel_codes.numel() % (4 * total) != 0:
            raise ValueError(
                f"rel_codes must hold 4K numbers for each of the {total} boxes; got shape {list(rel_codes.shape)}"
            )
        codes = rel_codes.reshape(total, -1)
        pred = self.decode_single(codes, torch.cat(props, dim=0))
        return pred.reshape(total, -1, 4)

    def decode_single(self, rel_codes: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Apply the codes of each row to its proposal (inverse of :meth:`encode_single`).

        ``cx = dx/wx · pw + px``, ``w = exp(min(dw/ww, clip)) · pw`` (same for
        ``y``, ``h``), then corners ``cx ∓ w/2``, ``cy ∓ h/2``.

        Args:
            rel_codes: ``(dx, dy, dw, dh)`` for each of ``K`` classes, class-major
                columns (column ``4k + j`` is component ``j`` of class ``k``).
            boxes: the proposals, ``(x1, y1, x2, y2)``.

        Returns:
            ``(x1, y1, x2, y2)`` per class, laid out like ``rel_codes``.

        Shape:
            ``rel_codes``: ``[N, 4K]``; ``boxes``: ``[N, 4]``; output ``[N, 4K]``.
        """
        _check_pair(boxes, "boxes")
        if not isinstance(rel_codes, torch.Tensor) or rel_codes.dim() != 2 or rel_codes.shape[1] % 4 != 0:
            shape = list(rel_codes.shape) if isinstance(rel_codes, torch.Tensor) else type(rel_codes).__name__
            raise ValueError(f"rel_codes must be a tensor of shape [N, 4K]; got {shape}")
        if rel_codes.shape[0] != boxes.shape[0]:
            raise ValueError(
                f"rel_codes and boxes must have the same number of rows; got {rel_codes.shape[0]} and {boxes.shape[0]}"
            )
        boxes = boxes.to(rel_codes.dtype)
        wx, wy, ww, wh = self.weights
        pw = boxes[:, 2] - boxes[:, 0]
        ph = boxes[:, 3] - boxes[:, 1]
        px = boxes[:, 0] + 0.5 * pw
        py = boxes[:, 1] + 0.5 * ph
        dx = rel_codes[:, 0::4] / wx  # (N, K)
        dy = rel_codes[:, 1::4] / wy
        dw = (rel_codes[:, 2::4] / ww).clamp(max=self.bbox_xform_clip)
        dh = (rel_codes[:, 3::4] / wh).clamp(max=self.bbox_xform_clip)
        cx = dx * pw[:, None] + px[:, None]
        cy = dy * ph[:, None] + py[:, None]
        half_w = 0.5 * (torch.exp(dw) * pw[:, None])
        half_h = 0.5 * (torch.exp(dh) * ph[:, None])
        out = torch.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), dim=2)  # (N, K, 4)
        return out.flatten(1)
