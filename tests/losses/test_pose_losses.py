"""Box normalisation, the masked L2 pose loss, PCK and pixel error (notes §3.5.3; DeepPose eq. 1)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.losses import (
    denormalize_keypoints,
    joint_distances,
    normalize_keypoints,
    pck,
    pose_regression_loss,
    pose_targets,
    torso_diameter,
)


def test_normalisation_by_hand_and_its_inverse():
    boxes = torch.tensor([[10.0, 20.0, 50.0, 40.0]])  # centre (30, 30), width 40, height 20
    xy = torch.tensor([[[30.0, 30.0], [50.0, 40.0], [10.0, 25.0]]])
    u = normalize_keypoints(xy, boxes)
    assert torch.allclose(u, torch.tensor([[[0.0, 0.0], [0.5, 0.5], [-0.5, -0.25]]]))
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(4, 6, 2, generator=g, dtype=torch.float64) * 100
    boxes = torch.tensor([[1.0, 2, 60, 90], [0, 0, 10, 10], [5, 5, 99, 30], [20, 30, 40, 80]], dtype=torch.float64)
    assert torch.allclose(denormalize_keypoints(normalize_keypoints(xy, boxes), boxes), xy)


def test_targets_give_invisible_joints_the_default_value():
    kp = torch.tensor([[[30.0, 30.0, 1.0], [0.0, 0.0, 0.0]]])
    boxes = torch.tensor([[10.0, 20.0, 50.0, 40.0]])
    target, visible = pose_targets(kp, boxes, default=0.75)
    assert visible.tolist() == [[True, False]]
    assert target.tolist() == [[[0.0, 0.0], [0.75, 0.75]]]


def test_the_loss_is_the_summed_squared_error_of_the_visible_joints():
    """``1/B Σ_b Σ_i m_bi ‖y_bi − ŷ_bi‖²``: with every joint visible, 2K times PyTorch's mean squared error."""
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(3, 10, generator=g, dtype=torch.float64), torch.randn(3, 5, 2, generator=g, dtype=torch.float64)
    all_visible = torch.ones(3, 5, dtype=torch.bool)
    assert torch.allclose(pose_regression_loss(pred, target, all_visible), 10 * F.mse_loss(pred, target.reshape(3, 10)))
    # by hand: one image, two joints, the second invisible
    pred = torch.tensor([[0.1, 0.2, 5.0, 5.0]])
    target = torch.tensor([[[0.0, 0.0], [0.0, 0.0]]])
    vis = torch.tensor([[True, False]])
    assert float(pose_regression_loss(pred, target, vis)) == pytest.approx(0.1**2 + 0.2**2)
    assert float(pose_regression_loss(pred, target, vis, invisible_weight=0.5)) == pytest.approx(0.05 + 0.5 * 50.0)


def test_masked_joints_do_not_depend_on_the_default_value():
    """Masking: the loss and its gradient are the same whatever default value invisible joints get."""
    g = torch.Generator().manual_seed(2)
    kp = torch.rand(4, 14, 3, generator=g) * 50
    kp[..., 2] = (torch.rand(4, 14, generator=g) > 0.3).float()
    boxes = torch.tensor([[0.0, 0.0, 64.0, 64.0]]).expand(4, 4)
    pred = torch.randn(4, 28, generator=g, requires_grad=True)
    losses, grads = [], []
    for default in (0.0, 0.5, -3.0, 1e6):
        target, visible = pose_targets(kp, boxes, default=default)
        loss = pose_regression_loss(pred, target, visible)
        (grad,) = torch.autograd.grad(loss, pred)
        losses.append(loss.detach())
        grads.append(grad)
    assert all(torch.equal(v, losses[0]) for v in losses)
    assert all(torch.equal(v, grads[0]) for v in grads)
    invisible = (kp[..., 2] == 0).repeat_interleave(2, dim=1)
    assert bool((grads[0][invisible] == 0).all())  # no gradient reaches an invisible joint's outputs
    # with a weight on invisible joints the default matters: the notes' "fixed or default value" is then learned
    t0, v0 = pose_targets(kp, boxes, default=0.0)
    t1, v1 = pose_targets(kp, boxes, default=0.5)
    assert not torch.equal(pose_regression_loss(pred, t0, v0, invisible_weight=1.0),
                           pose_regression_loss(pred, t1, v1, invisible_weight=1.0))


def test_pck_and_pixel_error_by_hand():
    true = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]])  # torso = joints 0 and 2: 10 px
    pred = torch.tensor([[[1.0, 1.0], [10.0, 3.0], [0.0, 10.0]]])  # errors √2, 3, 0
    vis = torch.tensor([[True, True, False]])
    ref = torso_diameter(true, (0, 2))
    assert ref.tolist() == [10.0]
    correct, scored = pck(pred, true, vis, ref, alpha=0.2)  # threshold 2 px
    assert correct.tolist() == [1.0, 0.0, 0.0] and scored.tolist() == [1.0, 1.0, 0.0]
    assert pck(pred, true, vis, ref, alpha=0.5)[0].tolist() == [1.0, 1.0, 0.0]
    d = joint_distances(pred, true)
    assert torch.allclose(d, torch.tensor([[2**0.5, 3.0, 0.0]]))


def test_bad_shapes_are_named():
    with pytest.raises(ConfigError, match=r"pred must be \[B, 2K\] = \[1, 4\].*K=2 joints; got \[1, 6\]"):
        pose_regression_loss(torch.zeros(1, 6), torch.zeros(1, 2, 2), torch.ones(1, 2))
    with pytest.raises(ConfigError, match=r"visible must be \[B, K\] = \[1, 2\]; got \[1, 3\]"):
        pose_regression_loss(torch.zeros(1, 4), torch.zeros(1, 2, 2), torch.ones(1, 3))
    with pytest.raises(ConfigError, match=r"boxes must be \[B, 4\] = \[2, 4\]"):
        normalize_keypoints(torch.zeros(2, 3, 2), torch.zeros(1, 4))
    with pytest.raises(ConfigError, match=r"keypoints must be \[B, K, 3\]"):
        pose_targets(torch.zeros(2, 3, 2), torch.zeros(2, 4))
