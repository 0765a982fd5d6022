"""PoseTask (notes §3.5.3): batch checks, flips that swap left and right, metrics, predictions."""

from __future__ import annotations

import pytest
import torch

import an2dl
from an2dl.data import Batch, BatchError
from an2dl.data.transforms import Affine, HorizontalFlip
from an2dl.losses import joint_distances, pck, torso_diameter
from an2dl.tasks import PoseTask


@pytest.fixture(scope="module")
def data():
    return an2dl.get_dataset("pose-sticks", n_train=16, n_val=0, n_test=16, size=32, seed=1)


def _task(data, **kw):
    torch.manual_seed(0)
    model = an2dl.get_model("pose_regressor", input_size=16, channels=[4, 8], hidden=[16])
    return PoseTask(model, keypoint_names=data.info.keypoint_names, torso=data.info.torso,
                    optimizer=an2dl.OptimizerSpec("adam", lr=1e-3), **kw)


class _Ctx:
    split, training = "train", False


def test_keypoints_of_the_wrong_length_name_the_expected_k(data):
    task = _task(data)
    x, kp, boxes = data.test.tensors
    with pytest.raises(BatchError, match=r"batch\.keypoints must hold K=14 joints per image .*; got 13 joints"):
        task.prepare_batch((x[:2], kp[:2, :13], boxes[:2]), _Ctx())
    with pytest.raises(BatchError, match=r"batch\.keypoints must be \[B, K, 3\] = \[2, 14, 3\]"):
        task.prepare_batch((x[:2], kp[:2, :, :2], boxes[:2]), _Ctx())


def test_boxes_outside_the_image_are_refused(data):
    task = _task(data)
    x, kp, boxes = data.test.tensors
    bad = boxes[:2].clone()
    bad[1, 2] = 40.0  # the images are 32 wide
    with pytest.raises(BatchError, match=r"batch\.boxes must lie inside the image.*row 1"):
        task.prepare_batch((x[:2], kp[:2], bad), _Ctx())
    with pytest.raises(BatchError, match=r"batch\.boxes must be \[B, 4\] = \[2, 4\]"):
        task.prepare_batch((x[:2], kp[:2], bad[:, :3]), _Ctx())
    bad[1] = torch.tensor([4.0, 4.0, 4.0, 9.0])
    with pytest.raises(BatchError, match="positive width and height; row 1"):
        task.prepare_batch((x[:2], kp[:2], bad), _Ctx())


def test_flip_augmentation_swaps_left_and_right_joints(data):
    task = _task(data, augment=HorizontalFlip(flip_map=data.info.flip_map))
    x, kp, boxes = data.test.tensors

    class Train:
        split, training = "train", True

    b = task.prepare_batch((x[:4], kp[:4], boxes[:4]), Train())
    names = data.info.keypoint_names
    lw, rw = names.index("left_wrist"), names.index("right_wrist")
    assert torch.allclose(b.keypoints[:, lw, 0], 32 - kp[:4, rw, 0], atol=1e-5)
    assert torch.allclose(b.keypoints[:, lw, 2], kp[:4, rw, 2])
    assert torch.allclose(b.boxes[:, 0], 32 - boxes[:4, 2], atol=1e-5)
    assert torch.allclose(b.inputs, x[:4].flip(-1), atol=1e-5)


def test_a_sample_whose_box_leaves_the_image_is_kept_unaugmented(data):
    """A shift pushes one figure's box wholly out of the image: that sample stays as it was, the others move."""
    x, kp, boxes = data.test.tensors
    i = int(boxes[:4, 0].argmax())  # the box furthest to the right leaves first
    shift = 32 - float(boxes[i, 0]) + 0.5
    task = _task(data, augment=Affine(translate=(shift, 0.0)))

    class Train:
        split, training = "train", True

    b = task.prepare_batch((x[:4], kp[:4], boxes[:4]), Train())
    assert torch.equal(b.inputs[i], x[i]) and torch.equal(b.keypoints[i], kp[i]) and torch.equal(b.boxes[i], boxes[i])
    moved = [j for j in range(4) if float(boxes[j, 0]) + shift < 32]
    assert moved  # some boxes stay partly inside and move with their figures
    for j in moved:
        assert torch.allclose(b.keypoints[j, :, 0], kp[j, :, 0] + shift, atol=1e-4)
        assert float(b.boxes[j, 2]) <= 32  # clipped to the image


def test_metrics_are_pck_per_joint_and_pixel_error_of_the_predictions(data):
    task = _task(data)
    trainer = an2dl.Trainer(max_epochs=1, batch_size=8, progress=False, seed=0)
    trainer.fit(task, data.train)
    metrics = trainer.evaluate(task, data.test, split="test")
    pred = trainer.predict(task, data.test)
    assert pred.shape == (16, 14, 2)
    _, kp, _ = data.test.tensors
    vis = kp[..., 2] > 0
    correct, scored = pck(pred, kp[..., :2], vis, torso_diameter(kp[..., :2], data.info.torso), alpha=0.2)
    assert metrics["test/pck"] == pytest.approx(float(correct.sum() / scored.sum()), abs=1e-6)
    assert metrics["test/pck_head_top"] == pytest.approx(float(correct[13] / scored[13]), abs=1e-6)
    err = float(joint_distances(pred, kp[..., :2])[vis].mean())
    assert metrics["test/mean_pixel_error"] == pytest.approx(err, rel=1e-5)
    assert "train/pck" in trainer.metrics and "train/pck_head_top" not in trainer.metrics


def test_predict_without_boxes_reads_the_whole_image(data):
    task = _task(data).eval()
    x, _, _ = data.test.tensors
    whole = torch.tensor([[0.0, 0.0, 32.0, 32.0]]).expand(2, 4)
    with torch.no_grad():
        a = task.predict_step(Batch(inputs=x[:2]), None)
        b = task.predict_step(Batch(inputs=x[:2], boxes=whole), None)
    assert a.shape == (2, 14, 2) and torch.equal(a, b)


def test_constructor_arguments_are_checked(data):
    model = an2dl.get_model("pose_regressor", input_size=16, channels=[4], hidden=[])
    with pytest.raises(an2dl.errors.ConfigError, match="torso must be two different joint indices in \\[0, 14\\)"):
        PoseTask(model, keypoint_names=data.info.keypoint_names, torso=(3, 3))
    with pytest.raises(an2dl.errors.ConfigError, match="keypoint_names must be unique"):
        PoseTask(model, keypoint_names=["a", "a"])
