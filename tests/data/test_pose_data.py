"""The ``pose-sticks`` data set (notes §3.5.3): reproducible figures, occlusion, person boxes, mirrored samples."""

from __future__ import annotations

import pytest
import torch

import an2dl
from an2dl.data.datasets.pose_sticks import (
    LSP_JOINT_NAMES,
    POSE_STICKS_FLIP_MAP,
    PoseDataset,
    draw_pose_sticks,
    draw_skeleton,
    person_boxes,
)
from an2dl.data.transforms import HorizontalFlip, flip_map_from_names
from an2dl.errors import ConfigError

LEFT_WRIST, RIGHT_WRIST = LSP_JOINT_NAMES.index("left_wrist"), LSP_JOINT_NAMES.index("right_wrist")


@pytest.fixture(scope="module")
def data():
    return an2dl.get_dataset("pose-sticks", n_train=24, n_val=4, n_test=8, seed=3)


def test_samples_are_images_keypoints_and_boxes(data):
    x, kp, boxes = data.train[0]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
    assert kp.shape == (14, 3) and set(kp[:, 2].tolist()) <= {0.0, 1.0}
    assert boxes.shape == (4,)
    info = data.info
    assert info.kind == "pose" and info.num_joints == 14 and info.keypoint_names == list(LSP_JOINT_NAMES)
    assert [info.keypoint_names[i] for i in info.torso] == ["left_shoulder", "right_hip"]
    assert data.sizes() == {"train": 24, "val": 4, "test": 8}


def test_each_figure_is_a_function_of_seed_part_and_index():
    a = draw_pose_sticks([5, 6], seed=1, part="train")
    b = draw_pose_sticks([6], seed=1, part="train")  # drawn alone, sample 6 is the same image
    for ta, tb in zip(a, b):
        assert torch.equal(ta[1:], tb)
    other = draw_pose_sticks([6], seed=2, part="train")
    assert not torch.equal(other[0], b[0])
    assert not torch.equal(draw_pose_sticks([6], seed=1, part="test")[0], b[0])


def test_joints_lie_in_their_box_and_the_box_in_the_image():
    _, kp, _, boxes = draw_pose_sticks(range(40), seed=0)
    assert bool((boxes >= 0).all()) and bool((boxes <= 64).all())
    inside = ((kp >= boxes[:, None, :2]) & (kp <= boxes[:, None, 2:])).all()
    assert bool(inside)
    # the person box is the square around the joints, 20 % wider on every side
    lo, hi = kp.amin(1), kp.amax(1)
    side = (hi - lo).amax(1)
    assert torch.allclose(boxes[:, 2] - boxes[:, 0], side * 1.4, atol=1e-4)
    assert torch.allclose(person_boxes(kp, 0.0)[:, 2:] - person_boxes(kp, 0.0)[:, :2], side[:, None].expand(-1, 2))


def test_occluders_hide_joints_and_none_without_occluders():
    _, _, vis, _ = draw_pose_sticks(range(60), seed=0, max_occluders=2)
    hidden = 1 - float(vis.mean())
    assert 0.02 < hidden < 0.3  # a few joints hidden, most visible
    _, _, vis0, _ = draw_pose_sticks(range(20), seed=0, max_occluders=0)
    assert bool((vis0 == 1).all())


def test_the_figure_is_drawn_along_its_limbs():
    """The limb between two visible joints is drawn: the pixel at its middle has the figure's colour, far from the
    background field's mean."""
    x, kp, vis, _ = draw_pose_sticks(range(10), seed=0, max_occluders=0, noise=0.0)
    neck, head = kp[:, 12], kp[:, 13]
    mid = ((neck + head) / 2).floor().long()
    values = x[torch.arange(10), :, mid[:, 1], mid[:, 0]]  # (10, 3)
    assert float(values.max(dim=1).values.min()) >= 0.5  # the figure's colour has every channel in [0.5, 1]


def test_flip_map_swaps_left_and_right():
    assert list(POSE_STICKS_FLIP_MAP) == flip_map_from_names(LSP_JOINT_NAMES)


def _flip(x, kp, boxes):
    flip = HorizontalFlip(flip_map=POSE_STICKS_FLIP_MAP)
    targets = [{"keypoints": kp[i:i + 1], "boxes": boxes[i:i + 1]} for i in range(len(kp))]
    y, out = flip(x, targets)
    return y, torch.cat([t["keypoints"] for t in out]), torch.cat([t["boxes"] for t in out])


def test_a_flipped_samples_left_wrist_is_the_mirrored_right_wrist(data):
    x, kp, boxes = data.train.tensors
    y, kp2, boxes2 = _flip(x, kp, boxes)
    assert torch.allclose(kp2[:, LEFT_WRIST, 0], 64 - kp[:, RIGHT_WRIST, 0])
    assert torch.allclose(kp2[:, LEFT_WRIST, 1:], kp[:, RIGHT_WRIST, 1:])
    assert torch.allclose(boxes2[:, [0, 2]], 64 - boxes[:, [2, 0]])
    assert torch.allclose(y, x.flip(-1), atol=1e-5)  # resampled exactly, up to float rounding


def test_flipping_twice_is_the_identity(data):
    x, kp, boxes = data.train.tensors
    y, kp2, boxes2 = _flip(*_flip(x, kp, boxes))
    assert torch.allclose(y, x, atol=1e-5) and torch.allclose(kp2, kp, atol=1e-5) and torch.allclose(boxes2, boxes, atol=1e-5)


def test_draw_skeleton_colours_the_limb_pixels():
    img = torch.zeros(1, 16, 16)
    out = draw_skeleton(img, torch.tensor([[2.0, 8.5], [14.0, 8.5]]), [(0, 1)], colour=(1.0, 0.0, 0.0), width=1.0)
    assert out.shape == (3, 16, 16)
    assert torch.allclose(out[:, 8, 5], torch.tensor([1.0, 0.0, 0.0]))  # on the line
    assert float(out[:, 2, 5].abs().sum()) == 0.0  # far from it
    hidden = draw_skeleton(img, torch.tensor([[2.0, 8.5, 1.0], [14.0, 8.5, 0.0]]), [(0, 1)], visible=torch.tensor([1, 0]))
    assert float(hidden.abs().sum()) == 0.0


# ------------------------------------------------------------------------------------------------------ bad input
def _arrays(n=2, k=14):
    return torch.rand(n, 3, 32, 32), torch.rand(n, k, 2) * 20 + 4, torch.ones(n, k), torch.tensor([[2.0, 2, 30, 30]] * n)


def test_keypoints_of_the_wrong_length_name_k():
    x, kp, vis, boxes = _arrays()
    with pytest.raises(ConfigError, match=r"keypoints must be \[N, K, 2\] = \[2, 14, 2\].*got \[2, 13, 2\]"):
        PoseDataset(x, kp[:, :13], vis, boxes, num_joints=14)


def test_visibility_of_the_wrong_shape_is_named():
    x, kp, vis, boxes = _arrays()
    with pytest.raises(ConfigError, match=r"visibility must be \[N, K\] = \[2, 14\].*got \[2, 14, 1\]"):
        PoseDataset(x, kp, vis[..., None], boxes)


def test_boxes_outside_the_image_are_refused():
    x, kp, vis, boxes = _arrays()
    boxes[1, 2] = 40.0
    with pytest.raises(ConfigError, match=r"PoseDataset boxes must lie inside the image.*row 1"):
        PoseDataset(x, kp, vis, boxes)
    boxes[1] = torch.tensor([5.0, 5, 5, 20])
    with pytest.raises(ConfigError, match=r"positive width and height; row 1"):
        PoseDataset(x, kp, vis, boxes)


def test_bad_builder_arguments_are_named():
    with pytest.raises(ConfigError, match="pose-sticks size must be an integer >= 32; got 16"):
        an2dl.get_dataset("pose-sticks", size=16)
