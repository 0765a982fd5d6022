"""The torchvision reference vectors ``vision_ops.npz`` (see ``../shared/reference/vision_ops.md``).

Located at ``<repo>/../shared/reference/vision_ops.npz``, or in ``$AN2DL_REFERENCE_DIR``.
A missing file skips the tests locally and fails them when ``CI`` is set.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest
import torch

NAME = "vision_ops.npz"

# every array of the file, by the test module that reads it (a test checks that the lists cover the file)
BOX_ARRAYS = [
    "iou_boxes1", "iou_boxes2", "box_iou", "generalized_box_iou",
    "box_convert_in_xyxy", "box_convert_in_xywh", "box_convert_in_cxcywh",
    "box_convert_xyxy_to_xywh", "box_convert_xyxy_to_cxcywh", "box_convert_xywh_to_xyxy",
    "box_convert_xywh_to_cxcywh", "box_convert_cxcywh_to_xyxy", "box_convert_cxcywh_to_xywh",
    "boxcoder_proposals", "boxcoder_reference_boxes", "boxcoder_rel_codes",
    "boxcoder_w10_10_5_5_encode", "boxcoder_w10_10_5_5_decode", "boxcoder_w10_10_5_5_roundtrip",
    "boxcoder_w1_1_1_1_encode", "boxcoder_w1_1_1_1_decode", "boxcoder_w1_1_1_1_roundtrip",
]  # fmt: skip
NMS_ARRAYS = [
    "nms_boxes", "nms_scores",
    "nms_iou0.0_keep", "nms_iou0.3_keep", "nms_iou0.5_keep", "nms_iou0.7_keep", "nms_iou1.0_keep",
    "nms_tie_boxes", "nms_tie_scores", "nms_tie_iou0.5_keep",
    "batched_nms_boxes", "batched_nms_scores", "batched_nms_idxs",
    "batched_nms_iou0.3_keep", "batched_nms_iou0.5_keep", "batched_nms_iou0.7_keep",
]  # fmt: skip
ROI_ARRAYS = [
    "roi_input", "roi_rois_scale1_16", "roi_rois_scale1_4",
    "roi_pool_scale1_16_out7", "roi_pool_scale1_4_out7", "roi_pool_scale1_16_out5x3",
    "roi_align_scale1_16_out7_sr2_alignedFalse", "roi_align_scale1_16_out7_sr2_alignedTrue",
    "roi_align_scale1_16_out7_sr-1_alignedFalse", "roi_align_scale1_16_out7_sr-1_alignedTrue",
    "roi_align_scale1_4_out7_sr2_alignedFalse", "roi_align_scale1_4_out7_sr2_alignedTrue",
    "roi_align_scale1_4_out7_sr-1_alignedFalse", "roi_align_scale1_4_out7_sr-1_alignedTrue",
    "roi_align_scale1_16_out5x3_sr2_alignedTrue",
]  # fmt: skip


def reference_path() -> Path:
    root = os.environ.get("AN2DL_REFERENCE_DIR")
    if root:
        return Path(root).resolve() / NAME
    return Path(__file__).resolve().parents[1].parent / "shared" / "reference" / NAME


@functools.lru_cache(maxsize=1)
def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def vision_ops() -> dict[str, np.ndarray]:
    """Every array of the file; skips (locally) or fails (``CI`` set) when it is missing."""
    path = reference_path()
    if not path.is_file():
        msg = f"reference file {path} is missing (set AN2DL_REFERENCE_DIR to its folder)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + "; CI must provide it")
        pytest.skip(msg)
    return _load(path)


def tensor(name: str) -> torch.Tensor:
    """One array of the file as a tensor."""
    return torch.from_numpy(vision_ops()[name].copy())
