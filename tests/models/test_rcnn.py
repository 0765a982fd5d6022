"""R-CNN (notes §3.5.4.2): proposals inside forward, warped crops, training samples, the output contract, the cost."""

from __future__ import annotations

import pytest
import torch
from test_yolo import overfit_map50, toy_detection_images

from an2dl.data.batch import BatchError
from an2dl.errors import ConfigError
from an2dl.models import example_inputs, get_model
from an2dl.ops.box_coder import BoxCoder
from an2dl.ops.boxes import box_iou
from an2dl.ops.nms import batched_nms
from an2dl.ops.proposals import selective_search
from an2dl.ops.roi import roi_align


def test_proposals_are_selective_search_of_each_image_and_cached():
    images, _ = toy_detection_images(2)
    model = get_model("rcnn", proposal_ks=[0.5, 1.0])
    props = model.propose(images)
    for p, im in zip(props, images):
        assert torch.equal(p, selective_search(im, ks=(0.5, 1.0)))
    assert model.cache_hits == 0
    again = model.propose(list(images))  # a list of images is the same images
    assert model.cache_hits == 2 and all(torch.equal(a, b) for a, b in zip(props, again))
    uncached = get_model("rcnn", proposal_ks=[0.5, 1.0], cache_size=0)
    uncached.propose(images)
    uncached.propose(images)
    assert uncached.cache_hits == 0 and not uncached._cache
    small = get_model("rcnn", proposal_ks=[1.0], cache_size=1)
    small.propose(images)
    assert len(small._cache) == 1  # the least recently used image is dropped


def test_warped_crops_are_roi_align_with_one_aligned_sample_per_pixel():
    model = get_model("rcnn", warp_size=12)
    images = torch.rand(2, 3, 40, 48)
    boxes = [torch.tensor([[0.0, 0.0, 16.0, 16.0], [3.5, 7.25, 30.0, 33.75]]), torch.tensor([[20.0, 4.0, 48.0, 32.0]])]
    expected = roi_align(images, boxes, 12, spatial_scale=1.0, sampling_ratio=1, aligned=True)
    torch.testing.assert_close(model.roi_heads.box_roi_pool(images, boxes, (40, 48)), expected, atol=1e-5, rtol=0)


def test_one_cnn_evaluation_per_proposal():
    images, _ = toy_detection_images(3)
    model = get_model("rcnn").eval()
    counted = []
    hook = model.roi_heads.box_head.register_forward_hook(lambda m, i, o: counted.append(o.shape[0]))
    out = model(images)
    hook.remove()
    expected = [p.shape[0] for p in model.propose(images)]
    assert model.last_evaluations == expected and counted == [sum(expected)]
    assert len(out) == 3


def test_training_labels_proposals_by_iou_and_balances_them():
    torch.manual_seed(0)
    images, targets = toy_detection_images(2)
    model = get_model("rcnn", fg_iou_thresh=0.5, bg_iou_thresh=0.3, batch_size_per_image=16, positive_fraction=0.25)
    props = model.propose(images)
    sampled, labels, regression = model.roi_heads.select_training_samples(props, targets)
    offset = 0
    for boxes, t in zip(sampled, targets):
        lab = labels[offset : offset + boxes.shape[0]]
        reg = regression[offset : offset + boxes.shape[0]]
        offset += boxes.shape[0]
        best, which = box_iou(boxes, t["boxes"]).max(dim=1)
        assert boxes.shape[0] <= 16 and int((lab > 0).sum()) <= 4  # at most 25 % objects
        assert torch.equal(lab > 0, best >= 0.5) and ((best >= 0.5) | (best < 0.3)).all()  # [0.3, 0.5) left out
        assert torch.equal(lab[lab > 0], t["labels"][which[lab > 0]])
        # the regression targets are R-CNN's encoding of the matched object relative to the proposal
        pos = lab > 0
        coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
        torch.testing.assert_close(reg[pos], coder.encode_single(t["boxes"][which[pos]], boxes[pos]))
    loss = model(images, targets)
    assert set(loss) == {"loss_classifier", "loss_box_reg"} and all(v.dim() == 0 for v in loss.values())
    sum(loss.values()).backward()
    assert all(p.grad is not None for p in model.parameters())
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}] * 2
    assert all(torch.isfinite(v) for v in model(images, empty).values())


def test_eval_output_contract_and_per_class_nms():
    torch.manual_seed(0)
    images, _ = toy_detection_images(2)
    model = get_model("rcnn", nms_thresh=0.3).eval()
    for det in model(images):
        assert set(det) == {"boxes", "labels", "scores"}
        assert det["boxes"].shape[1] == 4 and det["labels"].dtype == torch.int64
        assert ((det["labels"] >= 1) & (det["labels"] <= 3)).all() and (det["scores"] > 0).all()
        assert (det["boxes"] >= 0).all() and (det["boxes"] <= 64).all()
        assert torch.equal(batched_nms(det["boxes"], det["scores"], det["labels"], 0.3).sort().values,
                           torch.arange(det["boxes"].shape[0]))


def test_fits_a_few_images():
    torch.manual_seed(0)
    images, targets = toy_detection_images(8)
    model = get_model("rcnn", channels=[8], hidden=32)
    assert overfit_map50(model, images, targets, steps=40, lr=1e-2) >= 0.8


def test_bad_input_is_named():
    images, targets = example_inputs("rcnn", 2)
    model = get_model("rcnn")
    with pytest.raises(BatchError, match="training mode needs targets"):
        model(images)
    with pytest.raises(BatchError, match=r"must lie in 1..3"):
        model(images, [dict(t, labels=torch.tensor([0])) for t in targets])
    with pytest.raises(ValueError, match=r"RCNN images must be a tensor \[B, 3, H, W\]"):
        model(torch.rand(2, 1, 64, 64), targets)
    with pytest.raises(ConfigError, match="num_classes counts the background and at least one class"):
        get_model("rcnn", num_classes=1)
    with pytest.raises(ConfigError, match="cache_size must be an integer >= 0"):
        get_model("rcnn", cache_size=-1)
    with pytest.raises(ConfigError, match="ks must be a non-empty list"):
        get_model("rcnn", proposal_ks=[])
    with pytest.raises(ConfigError, match="min_size must be an integer >= 1"):
        get_model("rcnn", proposal_min_size=0)
    with pytest.raises(ConfigError, match=r"warp_size must leave at least one pixel .* \(>= 7\); got 4"):
        get_model("rcnn", warp_size=4, channels=[8, 8, 8])
