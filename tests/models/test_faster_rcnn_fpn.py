"""Faster R-CNN on a Feature Pyramid Network (notes §3.5.5.2): torchvision's ``fasterrcnn_resnet50_fpn`` layout
(``../shared/reference/detection_models.json``), anchors and proposals per level, pooling per level, one
conversion function for both directions of the state dict."""

from __future__ import annotations

import json

import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.models.detection.faster_rcnn import (
    convert_state_dict,
    fasterrcnn_resnet50_fpn,
    from_torchvision_state_dict,
    to_torchvision_state_dict,
)
from an2dl.ops.multiscale_roi import MultiScaleRoIAlign
from conftest import require_reference


def _manifest(name: str) -> dict:
    return json.loads(require_reference("detection_models.json").read_text())["models"][name]


def _layout(state_dict: dict) -> list[list]:
    return [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in state_dict.items()]


#: our two layers with the notes' shapes: 2k RPN scores (torchvision k logits), 4L - 4 corrections (torchvision 4L)
def _notes_minus_torchvision(k: int, c: int, d: int) -> int:
    return (2 * k * c + 2 * k) - (k * c + k) - (4 * d + 4)


@pytest.mark.parametrize("name,kwargs", [
    ("fasterrcnn_resnet50_fpn[frozen_bn,trainable_layers=3]", {}),
    ("fasterrcnn_resnet50_fpn", {"frozen_bn": False, "trainable_layers": 5}),
])
def test_state_dict_equals_the_torchvision_manifest(name, kwargs):
    ref = _manifest(name)
    model = fasterrcnn_resnet50_fpn(**kwargs)
    assert _layout(to_torchvision_state_dict(model.state_dict())) == ref["state_dict"]
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    diff = _notes_minus_torchvision(3, 256, 1024)  # = -3329
    assert total - diff == ref["total_params"]
    assert trainable - diff == ref["trainable_params"]
    # torchvision's checkpoints load with strict=True through the converter
    tv = {k: torch.zeros(shape) for k, shape, _ in ref["state_dict"]}
    model.load_state_dict(from_torchvision_state_dict(tv), strict=True)


def _small(**kw):
    torch.manual_seed(0)
    return get_model("faster_rcnn", fpn=True, channels=(8, 16, 16, 16), fpn_channels=16, anchor_sizes=(8, 16, 32, 64),
                     fpn_canonical_scale=56, representation_size=32, box_batch_size_per_image=32,
                     rpn_pre_nms_top_n=(100, 50), rpn_post_nms_top_n=(50, 50), **kw)


def test_one_rpn_head_scores_the_anchors_of_every_level():
    """Levels of strides 2, 4, 8 and the pooled 16 on a 64x64 image: Σ h_l w_l · 3 anchors, one size per level."""
    model = _small()
    assert isinstance(model.roi_heads.box_roi_pool, MultiScaleRoIAlign)
    assert model.backbone.strides == [2, 4, 8]
    model.eval()
    feats = model.backbone(torch.zeros(1, 3, 64, 64))
    sizes = [tuple(f.shape[-2:]) for f in feats.values()]
    assert sizes == [(32, 32), (16, 16), (8, 8), (4, 4)]
    per_level = model.rpn.anchor_generator.grid_anchors((64, 64), sizes)
    assert [a.shape[0] for a in per_level] == [32 * 32 * 3, 16 * 16 * 3, 8 * 8 * 3, 4 * 4 * 3]
    # level l's square anchor has side anchor_sizes[l]
    sides = [float(a[1, 2] - a[1, 0]) for a in per_level]
    assert sides == [8.0, 16.0, 32.0, 64.0]
    scores, deltas = model.rpn.head(list(feats.values()))
    assert [s.shape[1] for s in scores] == [6] * 4 and [d.shape[1] for d in deltas] == [12] * 4


def test_training_and_evaluation_contract():
    model = _small()
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    targets = [{"boxes": torch.tensor([[4.0, 6.0, 30.0, 28.0]]), "labels": torch.tensor([2])},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
    losses = model.train()(images, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}
    sum(losses.values()).backward()
    assert model.backbone.fpn.inner_blocks[0][0].weight.grad is not None
    out = model.eval()([torch.rand(3, 64, 48), torch.rand(3, 40, 64)])
    assert [set(o) for o in out] == [{"boxes", "labels", "scores"}] * 2


def test_conversion_is_one_function_with_a_direction():
    sd = _small().state_dict()
    tv = convert_state_dict(sd, "to_torchvision")
    assert tv["rpn.head.cls_logits.weight"].shape[0] == 3
    back = convert_state_dict(tv, "from_torchvision")
    assert back["roi_heads.box_predictor.bbox_pred.weight"].shape == sd["roi_heads.box_predictor.bbox_pred.weight"].shape
    with pytest.raises(ConfigError, match="direction must be one of"):
        convert_state_dict(sd, "sideways")


def test_bad_fpn_settings_are_named():
    with pytest.raises(ConfigError, match=r"one anchor size per pyramid level \(4"):
        get_model("faster_rcnn", fpn=True, channels=(8, 16, 16, 16), anchor_sizes=(8, 16, 32))
    with pytest.raises(ConfigError, match="pools RoIs with RoIAlign"):
        get_model("faster_rcnn", fpn=True, channels=(8, 16, 16, 16), anchor_sizes=(8, 16, 32, 64), roi_pool="max")
