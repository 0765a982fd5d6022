"""Pose regression: joints normalised to the person box, the masked L2 loss, PCK and pixel error (notes §3.5.3).

The notes frame human pose estimation as CNN regression: the pose is the
vector of the k joints' coordinates, ``(x_1, y_1, ..., x_k, y_k)`` of size
2k, "in some cases normalised with respect to the bounding box that encloses
the human body"; joints that are not visible get "a fixed or default value".
Where the notes are terse this module follows DeepPose (Toshev & Szegedy
2014, §3):

* **normalisation** of a joint ``y_i`` by the box ``b = (b_c, b_w, b_h)``
  (centre, width, height)::

      N(y_i; b) = diag(1 / b_w, 1 / b_h) · (y_i − b_c)

  so a joint inside the box has coordinates in ``[−1/2, 1/2]``
  (:func:`normalize_keypoints`; :func:`denormalize_keypoints` inverts it);
* **loss**: the squared L2 distance between the predicted and the true
  normalised joints, summed over the joints, averaged over the images::

      L = 1/B · Σ_b Σ_i m_bi · ‖y_bi − ŷ_bi‖²₂

  with ``m_bi = 1`` for a visible joint.  An invisible joint's target is
  replaced by the fixed default value (the box centre, 0) and, by default,
  its term is masked out (``m_bi = 0``: DeepPose leaves unlabelled joints out
  of the sum); ``invisible_weight > 0`` instead trains the network to output
  the default for invisible joints (the notes' literal reading) with that weight;
* **PCK@α** (percentage of correct keypoints; DeepPose's "percent of
  detected joints", PDJ): a joint is correct when its distance to the truth
  is below ``α`` times the **torso diameter**, the distance between the left
  shoulder and the right hip, as on LSP (DeepPose §6.1); ``α = 0.2`` is the
  standard threshold;
* **mean pixel error**: the mean Euclidean distance in pixels over the
  visible joints.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError

__all__ = [
    "normalize_keypoints",
    "denormalize_keypoints",
    "pose_targets",
    "pose_regression_loss",
    "torso_diameter",
    "joint_distances",
    "pck",
]


def _check_xy(xy: torch.Tensor, boxes: torch.Tensor, name: str) -> None:
    if not isinstance(xy, torch.Tensor) or xy.dim() != 3 or xy.shape[-1] != 2:
        got = list(xy.shape) if isinstance(xy, torch.Tensor) else type(xy).__name__
        raise ConfigError(f"{name} must be joint coordinates [B, K, 2]; got {got}")
    if not isinstance(boxes, torch.Tensor) or tuple(boxes.shape) != (xy.shape[0], 4):
        got = list(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ConfigError(f"boxes must be [B, 4] = [{xy.shape[0]}, 4] (x1, y1, x2, y2), one per image; got {got}")


def normalize_keypoints(xy: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``N(y; b) = (y − b_c) / (b_w, b_h)``: pixels to box-normalised coordinates (DeepPose eq. 1).

    Shape:
        ``xy`` ``[B, K, 2]`` pixels, ``boxes`` ``[B, 4]`` xyxy -> ``[B, K, 2]``, ``[−1/2, 1/2]`` inside the box.
    """
    _check_xy(xy, boxes, "normalize_keypoints xy")
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    extent = (boxes[:, 2:] - boxes[:, :2]).clamp_min(1e-6)
    return (xy - centre[:, None, :]) / extent[:, None, :]


def denormalize_keypoints(u: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`normalize_keypoints`: ``y = b_c + (b_w, b_h) · u``.

    Shape:
        ``u`` ``[B, K, 2]``, ``boxes`` ``[B, 4]`` -> ``[B, K, 2]`` pixels.
    """
    _check_xy(u, boxes, "denormalize_keypoints u")
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    extent = boxes[:, 2:] - boxes[:, :2]
    return centre[:, None, :] + u * extent[:, None, :]


def pose_targets(keypoints: torch.Tensor, boxes: torch.Tensor, *, default: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The regression targets of a batch: normalised joints, ``default`` for invisible ones, and the visibility mask.

    Args:
        keypoints: ``[B, K, 3]`` ``(x, y, visibility)`` in pixels.
        boxes: ``[B, 4]`` person boxes.
        default: the fixed normalised coordinate given to invisible joints (0: the box centre).

    Returns:
        targets ``[B, K, 2]`` and visibility ``[B, K]`` bool.
    """
    if not isinstance(keypoints, torch.Tensor) or keypoints.dim() != 3 or keypoints.shape[-1] != 3:
        got = list(keypoints.shape) if isinstance(keypoints, torch.Tensor) else type(keypoints).__name__
        raise ConfigError(f"keypoints must be [B, K, 3] as (x, y, visibility); got {got}")
    visible = keypoints[..., 2] > 0
    u = normalize_keypoints(keypoints[..., :2], boxes)
    return torch.where(visible[..., None], u, torch.full_like(u, float(default))), visible


def pose_regression_loss(pred: torch.Tensor, target: torch.Tensor, visible: torch.Tensor, *,
                         invisible_weight: float = 0.0) -> torch.Tensor:
    """``1/B Σ_b Σ_i m_bi ‖y_bi − ŷ_bi‖²``: the DeepPose L2 loss with invisible joints masked (or down-weighted).

    Args:
        pred: ``[B, 2K]`` (the notes' pose vector ``x_1, y_1, ..., x_K, y_K``) or ``[B, K, 2]``.
        target: ``[B, K, 2]`` normalised joints (invisible ones at the default value).
        visible: ``[B, K]`` bool or 0/1.
        invisible_weight: ``m_bi`` of an invisible joint (0: masked out, the default).

    Returns:
        The scalar loss.
    """
    if target.dim() != 3 or target.shape[-1] != 2:
        raise ConfigError(f"pose_regression_loss target must be [B, K, 2]; got {list(target.shape)}")
    b, k, _ = target.shape
    if pred.shape not in (torch.Size([b, 2 * k]), torch.Size([b, k, 2])):
        raise ConfigError(f"pose_regression_loss pred must be [B, 2K] = [{b}, {2 * k}] (or [B, K, 2]) for K={k} "
                          f"joints; got {list(pred.shape)}")
    if tuple(visible.shape) != (b, k):
        raise ConfigError(f"pose_regression_loss visible must be [B, K] = [{b}, {k}]; got {list(visible.shape)}")
    if invisible_weight < 0:
        raise ConfigError(f"pose_regression_loss invisible_weight must be >= 0; got {invisible_weight!r}")
    pred = pred.reshape(b, k, 2)  # (B, K, 2): consecutive pairs of the 2K vector are one joint
    vis = visible.to(pred.dtype)
    weight = vis + invisible_weight * (1 - vis)
    squared = ((pred - target) ** 2).sum(dim=-1)  # (B, K)
    # an invisible joint's term is multiplied by 0, never read: its default value cannot leak into the loss
    squared = torch.where(weight > 0, squared, torch.zeros_like(squared))
    return (weight * squared).sum() / max(b, 1)


def torso_diameter(xy: torch.Tensor, torso: tuple[int, int]) -> torch.Tensor:
    """The distance between the two torso joints (left shoulder, right hip on LSP) of each image.

    Shape:
        ``xy`` ``[B, K, 2]`` -> ``[B]``.
    """
    i, j = torso
    return (xy[:, i] - xy[:, j]).norm(dim=-1)


def joint_distances(pred_xy: torch.Tensor, true_xy: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of every predicted joint to the truth.

    Shape:
        ``[B, K, 2]``, ``[B, K, 2]`` -> ``[B, K]``.
    """
    return (pred_xy - true_xy).norm(dim=-1)


def pck(pred_xy: torch.Tensor, true_xy: torch.Tensor, visible: torch.Tensor, reference: torch.Tensor, *,
        alpha: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Correct-keypoint counts: a visible joint is correct when ``‖ŷ − y‖ < α · reference``.

    Args:
        pred_xy, true_xy: ``[B, K, 2]`` in pixels.
        visible: ``[B, K]``; only visible joints are scored.
        reference: ``[B]`` the length the threshold scales (the torso diameter).
        alpha: the threshold factor (0.2 for PCK@0.2).

    Returns:
        ``(correct [K], scored [K])`` counts per joint; PCK of joint k is ``correct[k] / scored[k]``.
    """
    vis = visible.bool()
    hit = (joint_distances(pred_xy, true_xy) < alpha * reference[:, None]) & vis
    return hit.sum(dim=0).to(torch.float64), vis.sum(dim=0).to(torch.float64)
