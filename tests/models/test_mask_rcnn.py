"""Mask R-CNN (notes §3.5.5.1): torchvision's ``maskrcnn_resnet50_fpn`` layout, the mask loss, the mask targets,
pasting masks back into the image, the training/evaluation contract and bad input."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from an2dl.losses.mask_rcnn import mask_loss
from an2dl.models import example_inputs, get_model
from an2dl.models.detection.faster_rcnn import from_torchvision_state_dict, to_torchvision_state_dict
from an2dl.models.detection.mask_rcnn import mask_targets, maskrcnn_resnet50_fpn, paste_masks_in_image
from conftest import require_reference


def _layout(state_dict: dict) -> list[list]:
    return [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in state_dict.items()]


@pytest.mark.parametrize("name,kwargs", [
    ("maskrcnn_resnet50_fpn[frozen_bn,trainable_layers=3]", {}),
    ("maskrcnn_resnet50_fpn", {"frozen_bn": False, "trainable_layers": 5}),
])
def test_state_dict_equals_the_torchvision_manifest(name, kwargs):
    ref = json.loads(require_reference("detection_models.json").read_text())["models"][name]
    model = maskrcnn_resnet50_fpn(**kwargs)
    assert _layout(to_torchvision_state_dict(model.state_dict())) == ref["state_dict"]
    # the notes' 2k RPN scores and 4L - 4 corrections: +771 and -4100 parameters against torchvision's layout
    assert sum(p.numel() for p in model.parameters()) + 3329 == int(ref["total_params"])
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) + 3329 == int(ref["trainable_params"])
    model.load_state_dict(from_torchvision_state_dict({k: torch.zeros(s) for k, s, _ in ref["state_dict"]}),
                          strict=True)


def test_mask_loss_is_bce_on_the_true_class_map_only():
    """Hand-built: 2 RoIs, 3 classes, 2x2 masks; only logits[0, 2] and logits[1, 1] count."""
    logits = torch.full((2, 3, 2, 2), 50.0)  # wrong everywhere else: would dominate if read
    logits[0, 2] = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    logits[1, 1] = torch.tensor([[-3.0, 1.0], [4.0, -0.5]])
    targets = torch.tensor([[[1.0, 0.0], [1.0, 0.5]], [[0.0, 1.0], [1.0, 0.0]]])
    got = mask_loss(logits, torch.tensor([2, 1]), targets)
    want = F.binary_cross_entropy_with_logits(torch.stack([logits[0, 2], logits[1, 1]]), targets)
    torch.testing.assert_close(got, want)
    assert float(mask_loss(torch.zeros(0, 3, 2, 2), torch.zeros(0, dtype=torch.int64), torch.zeros(0, 2, 2))) == 0.0
    with pytest.raises(ValueError, match=r"labels must lie in 1..2"):
        mask_loss(logits, torch.tensor([0, 1]), targets)
    with pytest.raises(ValueError, match=r"mask_targets must be \[2, 2, 2\]"):
        mask_loss(logits, torch.tensor([2, 1]), targets[:, :1])


def test_mask_targets_are_the_gt_mask_roi_aligned_on_the_proposal():
    """Object 1 fills columns 0..3 of an 8x8 image.  On the proposal [0, 0, 8, 8] at 2x2, RoIAlign (torchvision's
    ``aligned=False``: pixel j sits at coordinate j) averages 4 samples per bin side: the left bin reads
    x = 0.5, 1.5, 2.5, 3.5 -> 1, 1, 1, (1 + 0)/2, i.e. 0.875; the right bin 0."""
    masks = torch.zeros(2, 8, 8)
    masks[0, 6:, 6:] = 1
    masks[1, :, :4] = 1
    got = mask_targets(masks, torch.tensor([[0.0, 0.0, 8.0, 8.0], [6.0, 6.0, 8.0, 8.0]]), torch.tensor([1, 0]), 2)
    torch.testing.assert_close(got, torch.tensor([[[0.875, 0.0], [0.875, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]))


def test_paste_is_the_hand_computed_bilinear_resampling():
    """A 2x2 mask in the box [0, 0, 4, 4] of a 5x5 image: pixel x reads cell u = (x + ½)/2 − ½ = −¼, ¼, ¾, 1¼, 1¾,
    so along each axis the pixel is W @ mask with rows (¾, 0), (¾, ¼), (¼, ¾), (0, ¾), (0, ¼) (zeros beyond the cells)."""
    mask = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    w = torch.tensor([[0.75, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 0.75], [0.0, 0.25]])
    got = paste_masks_in_image(mask[None], torch.tensor([[0.0, 0.0, 4.0, 4.0]]), (5, 5))
    torch.testing.assert_close(got[0], w @ mask @ w.T)
    # a mask of ones in [2, 2, 6, 6] of a 10x10 image covers exactly pixels 2..5 (28x28 cells: no blur inside)
    ones = paste_masks_in_image(torch.ones(1, 28, 28), torch.tensor([[2.0, 2.0, 6.0, 6.0]]), (10, 10))[0]
    want = torch.zeros(10, 10)
    want[2:6, 2:6] = 1
    assert torch.equal(ones > 0.5, want > 0.5) and float(ones[2:6, 2:6].min()) == 1.0


def test_training_adds_loss_mask_and_evaluation_returns_masks():
    torch.manual_seed(0)
    model = get_model("mask_rcnn", box_batch_size_per_image=32, rpn_pre_nms_top_n=(100, 50),
                      rpn_post_nms_top_n=(50, 50))
    images, targets = example_inputs("mask_rcnn", 2)
    losses = model.train()(images, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"}
    sum(losses.values()).backward()
    assert model.roi_heads.mask_predictor.mask_fcn_logits.weight.grad.abs().sum() > 0
    with torch.no_grad():
        out = model.eval()([images[0], images[1, :, :48, :40]])
    for o, size in zip(out, [(64, 64), (48, 40)]):
        assert set(o) == {"boxes", "labels", "scores", "masks"}
        assert o["masks"].shape == (o["boxes"].shape[0], 1, *size)
        assert float(o["masks"].min()) >= 0 and float(o["masks"].max()) <= 1


def test_bad_masks_are_named():
    model = get_model("mask_rcnn").train()
    images, targets = example_inputs("mask_rcnn", 2)
    bad = [dict(t) for t in targets]
    bad[0]["masks"] = bad[0]["masks"][:, :32]
    with pytest.raises(ValueError, match=r"targets\[0\]\['masks'\] must be a \[1, 64, 64\] tensor"):
        model(images, bad)
    bad[0]["masks"] = torch.zeros_like(targets[0]["masks"])
    with pytest.raises(ValueError, match=r"at least one pixel per object; mask 0 is empty"):
        model(images, bad)
    bad[0] = {k: v for k, v in targets[0].items() if k != "masks"}
    with pytest.raises(ValueError, match=r"must have 'masks' \[N, H, W\] for Mask R-CNN"):
        model(images, bad)


def test_torchvision_checkpoints_load_with_older_keys_and_wrong_class_counts_are_named():
    from an2dl.errors import ConfigError
    from an2dl.models.detection.faster_rcnn import load_torchvision_state_dict

    torch.manual_seed(0)
    model = get_model("mask_rcnn", num_classes=3)
    tv = to_torchvision_state_dict(model.state_dict())
    # torchvision's older names: mask_head.mask_fcn{i+1}.*, rpn.head.conv.* (without the Conv2dNormActivation nesting)
    old = {}
    for k, v in tv.items():
        for i in range(4):
            k = k.replace(f"roi_heads.mask_head.{i}.0.", f"roi_heads.mask_head.mask_fcn{i + 1}.")
        old[k.replace("rpn.head.conv.0.0.", "rpn.head.conv.")] = v
    assert "roi_heads.mask_head.mask_fcn1.weight" in old and "rpn.head.conv.weight" in old
    other = get_model("mask_rcnn", num_classes=3)
    load_torchvision_state_dict(other, old)  # metadata-free: read as the older layout
    # equal in torchvision's layout (the 2k RPN scores come back as [0, logits]: the same probabilities)
    back = to_torchvision_state_dict(other.state_dict())
    assert list(back) == list(tv) and all(torch.equal(tv[k], back[k]) for k in tv)
    with pytest.raises(ConfigError, match=r"another number of classes: checkpoint .*cls_score.weight': \[3, 256\]"):
        load_torchvision_state_dict(get_model("mask_rcnn", num_classes=5), tv)
