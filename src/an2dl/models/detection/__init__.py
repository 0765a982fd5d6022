"""Chapter 3.5.4 of the notes, object detection: two-stage detectors (region proposals, RoI pooling, the Region
Proposal Network of Faster R-CNN) and the single-shot YOLO.

Every detector here keeps torchvision's contract: ``model(images, targets)`` in training mode returns a dict of
named loss terms, ``model(images)`` in evaluation mode a list of per-image dicts with ``boxes`` (x1, y1, x2, y2 in
pixels), ``labels`` (1..C, 0 being the background) and ``scores``.
"""

from .anchors import AnchorGenerator, base_anchors
from .fast_rcnn import SelectiveSearchFastRCNN, fast_rcnn_selective_search
from .faster_rcnn import (
    FasterRCNN,
    FastRCNN,
    fast_rcnn,
    faster_rcnn,
    from_torchvision_state_dict,
    to_torchvision_state_dict,
)
from .mask_rcnn import MaskRCNN, mask_rcnn, maskrcnn_resnet50_fpn
from .matching import match_boxes, sample_balanced
from .rcnn import RCNN, WarpedCrops, rcnn
from .roi_heads import FastRCNNPredictor, RoIHeads, RoIPooler, TwoMLPHead
from .rpn import RegionProposalNetwork, RPNHead
from .sliding_window import SlidingWindowDetector, sliding_window, window_boxes, window_counts
from .yolo import YOLO, kmeans_anchors, yolo

__all__ = ["YOLO", "kmeans_anchors", "yolo", "SlidingWindowDetector", "sliding_window", "window_boxes", "window_counts",
           "AnchorGenerator", "base_anchors", "FasterRCNN", "FastRCNN", "faster_rcnn", "fast_rcnn",
           "to_torchvision_state_dict", "from_torchvision_state_dict", "match_boxes", "sample_balanced",
           "FastRCNNPredictor", "RoIHeads", "RoIPooler", "TwoMLPHead", "RegionProposalNetwork", "RPNHead",
           "RCNN", "WarpedCrops", "rcnn", "SelectiveSearchFastRCNN", "fast_rcnn_selective_search",
           "MaskRCNN", "mask_rcnn", "maskrcnn_resnet50_fpn"]
