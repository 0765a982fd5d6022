"""The Region Proposal Network of Faster R-CNN: objectness and corrections for every anchor (notes §3.5.4.4).

"A convolutional layer reduces the feature map to a lower-dimensional
vector.  Anchor classification predicts the probability that each anchor
contains an object (objectness score).  Bounding box regression refines
anchor box coordinates [...].  The final outputs are 2k objectness scores
and 4k bounding box corrections" (notes §3.5.4.4; Ren et al., 2015)::

    h = ReLU(conv3x3(features))                  [B, C, h_f, w_f]
    cls_logits(h): 2k scores per position        [B, 2k, h_f, w_f]
    bbox_pred(h):  4k corrections per position   [B, 4k, h_f, w_f]

**The 2k scores (the notes' and the paper's form).**  Channel ``a`` is the
*not object* score of anchor ``a`` and channel ``k + a`` its *object* score
(the layout of the paper's Caffe model); a softmax over the pair gives the
objectness ``p_a``.  torchvision predicts one logit per anchor and applies a
sigmoid.  The two are the same model: a two-way softmax is the sigmoid of
the difference of its two scores,

    softmax(z_0, z_1)_1 = e^{z_1} / (e^{z_0} + e^{z_1}) = σ(z_1 - z_0),

and the difference of two 1×1 convolutions is a 1×1 convolution with the
difference of their weights.  :func:`logits_from_two_way` converts our
``[2k, C, 1, 1]`` layer to torchvision's ``[k, C, 1, 1]`` (``w_obj -
w_not``) and :func:`two_way_from_logits` the other way (``w_not = 0``,
``w_obj = w``): the objectness probabilities are identical.  Corrections:
channel ``4a + j`` is coordinate ``j`` of anchor ``a`` (torchvision's layout).

**Proposals** (:meth:`RegionProposalNetwork.filter_proposals`): decode the
corrections on the anchors (:class:`~an2dl.ops.BoxCoder`, weights 1), keep
the ``pre_nms_top_n`` best-scored per feature map, clip to the image, drop
boxes smaller than ``min_size`` and scores below ``score_thresh``, NMS at
``nms_thresh`` (per feature map) and keep the ``post_nms_top_n`` best.
**Training** (:meth:`RegionProposalNetwork.loss`): anchors are matched to
the ground truth at IoU 0.7 / 0.3, each object's best anchors kept
(:func:`~an2dl.models.detection.matching.match_boxes`), 256 anchors per
image sampled with at most half positives
(:func:`~an2dl.models.detection.matching.sample_balanced`), and the loss is
:func:`~an2dl.losses.rcnn.objectness_loss` plus
:func:`~an2dl.losses.rcnn.box_regression_loss` on the positives.
Module names are torchvision's (``head.conv.0.0``, ``head.cls_logits``,
``head.bbox_pred``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ...losses.rcnn import box_regression_loss, objectness_loss
from ...ops.box_coder import BoxCoder
from ...ops.boxes import box_iou, clip_boxes_to_image, remove_small_boxes
from ...ops.nms import batched_nms
from .._checks import check_positive_int
from .anchors import AnchorGenerator
from .fpn import LegacyKeys
from .matching import match_boxes, sample_balanced

__all__ = ["RPNHead", "RegionProposalNetwork", "two_way_from_logits", "logits_from_two_way", "objectness_probability"]


def two_way_from_logits(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's k-logit objectness layer as the notes' 2k-score layer (same probabilities).

    Args:
        weight, bias: ``cls_logits`` of torchvision's ``RPNHead``.

    Returns:
        ``(weight, bias)`` of the 2k-score layer: rows ``0..k-1`` (not object) zero,
        rows ``k..2k-1`` (object) the logits' rows.

    Shape:
        ``[k, C, 1, 1]``, ``[k]`` in; ``[2k, C, 1, 1]``, ``[2k]`` out.
    """
    if weight.dim() != 4 or bias.dim() != 1 or weight.shape[0] != bias.shape[0]:
        raise ValueError(f"expected cls_logits weight [k, C, 1, 1] and bias [k]; got {list(weight.shape)} and "
                         f"{list(bias.shape)}")
    return torch.cat([torch.zeros_like(weight), weight]), torch.cat([torch.zeros_like(bias), bias])


def logits_from_two_way(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The notes' 2k-score objectness layer as torchvision's k-logit layer: ``object - not object``.

    Shape:
        ``[2k, C, 1, 1]``, ``[2k]`` in; ``[k, C, 1, 1]``, ``[k]`` out.
    """
    if weight.dim() != 4 or bias.dim() != 1 or weight.shape[0] != bias.shape[0] or weight.shape[0] % 2:
        raise ValueError(f"expected a 2k-score layer, weight [2k, C, 1, 1] and bias [2k]; got {list(weight.shape)} "
                         f"and {list(bias.shape)}")
    k = weight.shape[0] // 2
    return weight[k:] - weight[:k], bias[k:] - bias[:k]


def objectness_probability(scores: torch.Tensor) -> torch.Tensor:
    """``p_a = softmax(not object, object)[object]`` of a ``[..., 2]`` tensor of score pairs: ``[...]``."""
    return torch.softmax(scores, dim=-1)[..., 1]


class RPNHead(LegacyKeys, nn.Module):
    """3×3 convolution + ReLU, then 2k objectness scores and 4k corrections per position (notes §3.5.4.4).

    Args:
        in_channels: C, channels of the feature maps (and of the 3×3 convolution's output).
        num_anchors: k, anchors per position.
        conv_depth: number of ``conv3x3 + ReLU`` layers (torchvision's default 1).

    Shape:
        ``forward(features)`` with a list of maps ``[B, C, h_l, w_l]`` returns two lists:
        scores ``[B, 2k, h_l, w_l]`` (channels ``0..k-1`` not object, ``k..2k-1`` object)
        and corrections ``[B, 4k, h_l, w_l]``.
    """

    def legacy_keys(self) -> list[tuple[str, str]]:
        """torchvision's older single-convolution keys: ``conv.weight`` -> ``conv.0.0.weight``."""
        return [(f"conv.{kind}", f"conv.0.0.{kind}") for kind in ("weight", "bias")]

    def __init__(self, in_channels: int, num_anchors: int, *, conv_depth: int = 1) -> None:
        super().__init__()
        check_positive_int("RPNHead", "in_channels", in_channels)
        self.num_anchors = check_positive_int("RPNHead", "num_anchors", num_anchors)
        check_positive_int("RPNHead", "conv_depth", conv_depth)
        # nested as torchvision's Conv2dNormActivation, so the keys read conv.0.0.weight
        self.conv = nn.Sequential(*[nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, padding=1),
                                                  nn.ReLU(inplace=True)) for _ in range(conv_depth)])
        self.cls_logits = nn.Conv2d(in_channels, 2 * num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, 4 * num_anchors, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # the paper's N(0, 0.01²) initialisation
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        scores, deltas = [], []
        for f in features:
            h = self.conv(f)
            scores.append(self.cls_logits(h))
            deltas.append(self.bbox_pred(h))
        return scores, deltas


def _flatten_levels(scores: Sequence[torch.Tensor], deltas: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-level head outputs as ``[B, A, 2]`` score pairs and ``[B, A, 4]`` corrections, in anchor order."""
    flat_scores, flat_deltas = [], []
    for s, d in zip(scores, deltas):
        b, two_k, h, w = s.shape
        k = two_k // 2
        s = s.view(b, 2, k, h, w).permute(0, 3, 4, 2, 1).reshape(b, -1, 2)  # (B, h·w·k, 2)
        d = d.view(b, k, 4, h, w).permute(0, 3, 4, 1, 2).reshape(b, -1, 4)  # (B, h·w·k, 4)
        flat_scores.append(s)
        flat_deltas.append(d)
    return torch.cat(flat_scores, dim=1), torch.cat(flat_deltas, dim=1)


def _train_test_pair(owner: str, name: str, value: object) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(pair, Sequence) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair)):
        raise ConfigError(f"{owner} {name} must be a positive int or a (training, testing) pair of them; got {value!r}")
    return int(pair[0]), int(pair[1])


class RegionProposalNetwork(nn.Module):
    """Anchors + :class:`RPNHead` + proposal filtering + the RPN's loss (notes §3.5.4.4; module docstring).

    Args:
        anchor_generator: the anchors of the feature maps.
        head: the 2k/4k-output head (``k`` must equal the generator's anchors per location).
        fg_iou_thresh, bg_iou_thresh: an anchor is positive at IoU ``>=`` 0.7 with an object (or
            being one's best anchor), negative below 0.3, ignored in between.
        batch_size_per_image, positive_fraction: anchors sampled per image for the loss, and the
            largest share of positives among them.
        pre_nms_top_n, post_nms_top_n: ``(training, testing)`` numbers of proposals kept per map
            before NMS and per image after it.
        nms_thresh: IoU above which NMS removes the lower-scored proposal.
        score_thresh: proposals with a lower objectness probability are dropped.
        min_size: proposals with a side below it (pixels) are dropped.

    Shape:
        ``forward(features, image_sizes, padded_size, targets=None)`` with maps ``[B, C, h_l, w_l]``
        returns ``(boxes, scores, losses)``: per image ``[P_i, 4]`` proposals (detached, clipped to the
        image) and ``[P_i]`` objectness probabilities, and ``{"loss_objectness", "loss_rpn_box_reg"}``
        (empty without targets).
    """

    def __init__(self, anchor_generator: AnchorGenerator, head: RPNHead, *, fg_iou_thresh: float = 0.7,
                 bg_iou_thresh: float = 0.3, batch_size_per_image: int = 256, positive_fraction: float = 0.5,
                 pre_nms_top_n: int | Sequence[int] = (2000, 1000), post_nms_top_n: int | Sequence[int] = (2000, 1000),
                 nms_thresh: float = 0.7, score_thresh: float = 0.0, min_size: float = 1e-3) -> None:
        super().__init__()
        if not isinstance(anchor_generator, AnchorGenerator) or not isinstance(head, RPNHead):
            raise TypeError(f"RegionProposalNetwork needs an AnchorGenerator and an RPNHead; got "
                            f"{type(anchor_generator).__name__} and {type(head).__name__}")
        ks = set(anchor_generator.num_anchors_per_location())
        if ks != {head.num_anchors}:
            raise ConfigError(f"RegionProposalNetwork: the head predicts {head.num_anchors} anchors per location but "
                              f"the anchor generator makes {sorted(ks)}")
        if not 0.0 <= bg_iou_thresh <= fg_iou_thresh <= 1.0:
            raise ConfigError(f"RegionProposalNetwork needs 0 <= bg_iou_thresh <= fg_iou_thresh <= 1; got "
                              f"{bg_iou_thresh!r} and {fg_iou_thresh!r}")
        self.anchor_generator = anchor_generator
        self.head = head
        self.box_coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.fg_iou_thresh = float(fg_iou_thresh)
        self.bg_iou_thresh = float(bg_iou_thresh)
        self.batch_size_per_image = check_positive_int("RegionProposalNetwork", "batch_size_per_image",
                                                       batch_size_per_image)
        self.positive_fraction = float(positive_fraction)
        self.pre_nms_top_n = _train_test_pair("RegionProposalNetwork", "pre_nms_top_n", pre_nms_top_n)
        self.post_nms_top_n = _train_test_pair("RegionProposalNetwork", "post_nms_top_n", post_nms_top_n)
        self.nms_thresh = float(nms_thresh)
        self.score_thresh = float(score_thresh)
        self.min_size = float(min_size)

    # ------------------------------------------------------------------ proposals
    def filter_proposals(self, proposals: torch.Tensor, scores: torch.Tensor, image_sizes: Sequence[tuple[int, int]],
                         anchors_per_level: Sequence[int]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Top-n per map, clip, drop small and low-scored boxes, NMS per map, top-n per image.

        Args:
            proposals: decoded boxes ``[B, A, 4]``.
            scores: objectness logit differences ``z_obj - z_not`` ``[B, A]`` (``σ`` of them is ``p_a``).
            image_sizes: ``(H, W)`` of each image before padding.
            anchors_per_level: ``h_l · w_l · k`` of each map.

        Returns:
            per image, the kept boxes ``[P_i, 4]`` and their objectness probabilities ``[P_i]``.
        """
        pre_n = self.pre_nms_top_n[0 if self.training else 1]
        post_n = self.post_nms_top_n[0 if self.training else 1]
        scores = scores.detach()
        levels = torch.cat([torch.full((n,), i, dtype=torch.int64, device=scores.device)
                            for i, n in enumerate(anchors_per_level)])
        top = []
        offset = 0
        for n in anchors_per_level:  # the best pre_n of each map
            top.append(scores[:, offset:offset + n].topk(min(pre_n, n), dim=1).indices + offset)
            offset += n
        top_idx = torch.cat(top, dim=1)  # (B, n_top)
        boxes_out, scores_out = [], []
        for i, size in enumerate(image_sizes):
            boxes = clip_boxes_to_image(proposals[i, top_idx[i]], size)
            prob = torch.sigmoid(scores[i, top_idx[i]])
            lvl = levels[top_idx[i]]
            keep = remove_small_boxes(boxes, self.min_size)
            keep = keep[prob[keep] >= self.score_thresh]
            boxes, prob, lvl = boxes[keep], prob[keep], lvl[keep]
            keep = batched_nms(boxes, prob, lvl, self.nms_thresh)[:post_n]
            boxes_out.append(boxes[keep])
            scores_out.append(prob[keep])
        return boxes_out, scores_out

    # ------------------------------------------------------------------ training targets and loss
    def assign_targets(self, anchors: torch.Tensor, gt_boxes: Sequence[torch.Tensor]
                       ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per image, anchor labels (1 object, 0 background, -1 ignored) and each anchor's matched box.

        Shape:
            ``anchors``: ``[A, 4]``; ``gt_boxes``: list of ``[G_i, 4]``; outputs lists of ``[A]`` and ``[A, 4]``.
        """
        labels, matched = [], []
        for gt in gt_boxes:
            if gt.numel() == 0:  # an empty image: every anchor is background
                labels.append(torch.zeros(anchors.shape[0], dtype=torch.float32, device=anchors.device))
                matched.append(torch.zeros_like(anchors))
                continue
            idx = match_boxes(box_iou(gt, anchors), self.fg_iou_thresh, self.bg_iou_thresh,
                              allow_low_quality_matches=True)
            lab = (idx >= 0).to(torch.float32)
            lab[idx == -2] = -1.0
            labels.append(lab)
            matched.append(gt[idx.clamp(min=0)])
        return labels, matched

    def loss(self, scores: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor,
             gt_boxes: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """``loss_objectness`` (2-way cross-entropy of the sampled anchors) and ``loss_rpn_box_reg``.

        Shape:
            ``scores``: ``[B, A, 2]``; ``deltas``: ``[B, A, 4]``; ``anchors``: ``[A, 4]``.
        """
        labels, matched = self.assign_targets(anchors, gt_boxes)
        pos_all, samp_all, lab_all, tgt_all = [], [], [], []
        a = anchors.shape[0]
        for i, (lab, m) in enumerate(zip(labels, matched)):
            pos, neg = sample_balanced(lab, self.batch_size_per_image, self.positive_fraction)
            pos_all.append(pos + i * a)
            samp_all.append(torch.cat([pos, neg]) + i * a)
            lab_all.append(torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]))
            tgt_all.append(self.box_coder.encode_single(m[pos], anchors[pos]))
        pos_idx = torch.cat(pos_all)
        sampled = torch.cat(samp_all)
        flat_scores = scores.reshape(-1, 2)
        flat_deltas = deltas.reshape(-1, 4)
        return {
            "loss_objectness": objectness_loss(flat_scores[sampled], torch.cat(lab_all)),
            "loss_rpn_box_reg": box_regression_loss(flat_deltas[pos_idx], torch.cat(tgt_all), sampled.numel()),
        }

    def forward(self, features: Sequence[torch.Tensor], image_sizes: Sequence[tuple[int, int]],
                padded_size: tuple[int, int], targets: Sequence[dict[str, torch.Tensor]] | None = None
                ) -> tuple[list[torch.Tensor], list[torch.Tensor], dict[str, torch.Tensor]]:
        raw_scores, raw_deltas = self.head(features)
        feature_sizes = [tuple(f.shape[-2:]) for f in features]
        anchors = self.anchor_generator(padded_size, feature_sizes, dtype=features[0].dtype,
                                        device=features[0].device)  # (A, 4)
        scores, deltas = _flatten_levels(raw_scores, raw_deltas)  # (B, A, 2), (B, A, 4)
        b = scores.shape[0]
        decoded = self.box_coder.decode_single(deltas.detach().reshape(-1, 4), anchors.repeat(b, 1)).view(b, -1, 4)
        anchors_per_level = [s.shape[1] // 2 * s.shape[2] * s.shape[3] for s in raw_scores]
        boxes, probs = self.filter_proposals(decoded, scores[..., 1] - scores[..., 0], image_sizes, anchors_per_level)
        losses: dict[str, torch.Tensor] = {}
        if targets is not None:
            losses = self.loss(scores, deltas, anchors, [t["boxes"] for t in targets])
        return boxes, probs, losses
