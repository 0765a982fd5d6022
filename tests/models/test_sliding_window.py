"""The sliding-window detector (notes §3.5.4.1): window enumeration, crops, the output contract and an end-to-end fit."""

from __future__ import annotations

import pytest
import torch
from test_yolo import overfit_map50, toy_detection_images

from an2dl.data.batch import BatchError
from an2dl.errors import ConfigError
from an2dl.models import example_inputs, get_model
from an2dl.models.detection.sliding_window import window_boxes, window_counts
from an2dl.ops.boxes import box_iou
from an2dl.ops.roi import roi_align


@pytest.mark.parametrize(("size", "windows", "stride"), [((64, 64), (16, 24, 32), 4), ((50, 37), (8, 20, 40), 6),
                                                           ((64, 64), (16,), 8)])
def test_windows_per_scale_follow_the_hand_formula(size, windows, stride):
    h, w = size
    expected = [((h - s) // stride + 1) * ((w - s) // stride + 1) if s <= min(h, w) else 0 for s in windows]
    assert window_counts(size, windows, stride) == expected
    boxes = window_boxes(size, windows, stride)
    assert boxes.shape == (sum(expected), 4)
    assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all() and (boxes[:, :2] >= 0).all()
    sides = boxes[:, 2] - boxes[:, 0]
    assert torch.equal(sides, boxes[:, 3] - boxes[:, 1])  # square windows
    for s, n in zip(windows, expected):
        assert int((sides == s).sum()) == n
        assert len({tuple(b) for b in boxes[sides == s].tolist()}) == n  # all distinct


def test_the_hand_counts_of_the_notes_cost():
    # 64 x 64, stride 4: 13² + 11² + 9² = 371 windows; halving the stride about quadruples them; one scale fewer
    assert window_counts((64, 64), (16, 24, 32), 4) == [169, 121, 81]
    assert sum(window_counts((64, 64), (16, 24, 32), 2)) == 25**2 + 21**2 + 17**2
    model = get_model("sliding_window", window_sizes=[16, 24, 32], stride=4).eval()
    assert model.evaluations_per_image((64, 64)) == 371
    model([torch.rand(3, 64, 64), torch.rand(3, 40, 64)])
    assert model.last_evaluations == [371, sum(window_counts((40, 64), (16, 24, 32), 4))]


def test_crops_are_roi_align_with_one_aligned_sample_per_pixel():
    torch.manual_seed(0)
    model = get_model("sliding_window", patch_size=12, channels=[4], hidden=0)
    images = torch.rand(2, 3, 40, 48)
    boxes = [torch.tensor([[0.0, 0.0, 16.0, 16.0], [3.5, 7.25, 30.0, 33.75]]), torch.tensor([[20.0, 4.0, 48.0, 32.0]])]
    expected = roi_align(images, boxes, 12, spatial_scale=1.0, sampling_ratio=1, aligned=True)
    torch.testing.assert_close(model.crops(images, boxes), expected, atol=1e-5, rtol=0)


def test_training_samples_labelled_crops_inside_forward():
    torch.manual_seed(0)
    model = get_model("sliding_window")
    images, targets = example_inputs("sliding_window", 2)
    windows, classes = model._sample((64, 64), targets[0]["boxes"], targets[0]["labels"])
    best = box_iou(windows, targets[0]["boxes"]).amax(1)
    assert ((best >= 0.5) | (best < 0.3)).all()  # the ambiguous band is left out
    assert torch.equal(classes != 0, best >= 0.5) and (classes[classes != 0] == targets[0]["labels"][0]).all()
    assert (classes != 0).any() and (classes == 0).any()
    assert (windows >= 0).all() and (windows <= 64).all()
    loss = model(images, targets)
    assert set(loss) == {"loss_classifier"} and loss["loss_classifier"].dim() == 0
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}] * 2
    assert torch.isfinite(model(images, empty)["loss_classifier"])


def test_eval_output_contract_and_bad_input():
    torch.manual_seed(0)
    model = get_model("sliding_window", num_classes=4)
    images, targets = example_inputs("sliding_window", 2)
    with pytest.raises(BatchError, match="training mode needs targets"):
        model(images)
    with pytest.raises(BatchError, match=r"must lie in 1..3"):
        model(images, [dict(t, labels=torch.tensor([0])) for t in targets])
    with pytest.raises(ConfigError, match="window_sizes must be a non-empty list of positive integers"):
        get_model("sliding_window", window_sizes=[16, 0])
    with pytest.raises(ConfigError, match="stride must be a positive integer"):
        get_model("sliding_window", stride=0)
    with pytest.raises(ConfigError, match="0 < neg_iou <= pos_iou <= 1"):
        get_model("sliding_window", pos_iou=0.3, neg_iou=0.5)
    model.eval()
    for d in model(images):
        assert set(d) == {"boxes", "labels", "scores"} and d["boxes"].shape[1] == 4
        assert d["labels"].dtype == torch.int64 and ((d["labels"] >= 1) & (d["labels"] <= 3)).all()
        assert (d["scores"].diff() <= 0).all()


def test_a_few_images_are_detected_after_a_short_fit():
    """End to end on four images with 7 squares: after 150 steps mAP@0.5 ≥ 0.5 on them (measured 0.87, 0.69, 0.64
    with seeds 0, 1, 2 of the images and the weights: the boxes are windows of the grid, so they fit the squares
    only roughly)."""
    torch.manual_seed(0)
    images, targets = toy_detection_images(4)
    model = get_model("sliding_window", window_sizes=[10, 14, 18], stride=2)
    assert overfit_map50(model, images, targets, steps=150, lr=1e-2) >= 0.5
