"""Human pose estimation by regression of the 2k joint coordinates (notes §3.5.3; DeepPose).

:class:`PoseTask` trains a network that reads the **person box** cropped from
the image and resized to ``S × S`` (DeepPose's ``N(x; b)``; the box is the
whole image when none is known) and regresses the vector of the K joints'
box-normalised coordinates, ``(p − box centre) / box size``
(:func:`~an2dl.losses.pose.normalize_keypoints`).  Invisible joints
(visibility 0) get the fixed default target 0 (the box centre) and are masked
out of the L2 loss (:func:`~an2dl.losses.pose.pose_regression_loss`;
``invisible_weight > 0`` trains them towards the default instead).

Batches: ``inputs [B, C, H, W]``, ``keypoints [B, K, 3]`` ``(x, y,
visibility)`` in pixels and ``boxes [B, 4]`` ``(x1, y1, x2, y2)`` inside the
image.  Augmentation (the notes: translation and flipping) moves the
keypoints and the box with the pixels; a mirror swaps the left and right
joints through the transform's ``flip_map``
(:class:`~an2dl.data.transforms.RandomHorizontalFlip`), and a joint pushed
out of the image becomes invisible.

Metrics per split (task-owned, registered here): ``pck`` — PCK@α with the
torso diameter (left shoulder to right hip, as on LSP) as reference, over
the visible joints; ``pck_<joint>`` for each joint (test only);
``mean_pixel_error`` —
the mean distance in pixels of the visible joints to the truth.

``an2dl predict`` on a pose model reads each image as the person's box,
prints the joints in the file's pixels and writes ``<name>.pose.png`` with
the skeleton drawn.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..data.batch import Batch, BatchError
from ..data.datasets.pose_sticks import draw_skeleton
from ..engine.metrics import metric, register_metric
from ..engine.optim import OptimizerSpec
from ..engine.prediction import Prediction, PredictOptions
from ..engine.task import StepContext, Task, call_model
from ..errors import ConfigError, DataError
from ..losses.pose import (
    denormalize_keypoints,
    joint_distances,
    pck,
    pose_regression_loss,
    pose_targets,
    torso_diameter,
)
from ..models.pose import crop_to_boxes
from ..ops.boxes import check_boxes

__all__ = ["PoseTask", "whole_image_boxes"]


def whole_image_boxes(images: torch.Tensor) -> torch.Tensor:
    """The box ``(0, 0, W, H)`` of every image of ``[B, C, H, W]`` -> ``[B, 4]``."""
    b, _, h, w = images.shape
    return torch.tensor([0.0, 0.0, float(w), float(h)], device=images.device).expand(b, 4).clone()


# ---------------------------------------------------------------------------------------------- metrics
@functools.cache
def _metric_classes() -> tuple[type, type]:
    # defined on first use, as the engine's metrics: importing torchmetrics costs a second
    from torchmetrics import Metric

    class PCK(Metric):
        """PCK@α over the visible joints: overall (``pck``), or per joint (``pck_<name>``) with ``per_joint``."""

        full_state_update = False

        def __init__(self, *, joint_names: Sequence[str], alpha: float = 0.2, per_joint: bool = False) -> None:
            super().__init__()
            self.joint_names, self.alpha, self.per_joint = list(joint_names), float(alpha), bool(per_joint)
            k = len(self.joint_names)
            self.add_state("correct", default=torch.zeros(k, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state("scored", default=torch.zeros(k, dtype=torch.float64), dist_reduce_fx="sum")

        def update(self, pred_xy: torch.Tensor, true_xy: torch.Tensor, visible: torch.Tensor,
                   reference: torch.Tensor) -> None:
            hit, seen = pck(pred_xy.detach(), true_xy, visible, reference, alpha=self.alpha)
            self.correct += hit.to(self.correct)
            self.scored += seen.to(self.scored)

        def compute(self) -> dict[str, torch.Tensor]:
            if not self.per_joint:
                return {"pck": self.correct.sum() / self.scored.sum().clamp_min(1)}
            return {f"pck_{name}": c / s.clamp_min(1) for name, c, s in zip(self.joint_names, self.correct, self.scored)}

    class MeanPixelError(Metric):
        """Mean Euclidean distance in pixels between predicted and true visible joints."""

        full_state_update = False

        def __init__(self) -> None:
            super().__init__()
            self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state("count", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

        def update(self, pred_xy: torch.Tensor, true_xy: torch.Tensor, visible: torch.Tensor,
                   reference: torch.Tensor) -> None:
            d = joint_distances(pred_xy.detach(), true_xy)
            vis = visible.bool()
            self.total += d[vis].sum().to(self.total)
            self.count += vis.sum().to(self.count)

        def compute(self) -> torch.Tensor:
            return self.total / self.count.clamp_min(1)

    return PCK, MeanPixelError


@register_metric("pck")
def _pck(*, joint_names: Sequence[str], alpha: float = 0.2, per_joint: bool = False) -> Any:
    return _metric_classes()[0](joint_names=joint_names, alpha=alpha, per_joint=per_joint)


@register_metric("mean_pixel_error")
def _mean_pixel_error() -> Any:
    return _metric_classes()[1]()


# ---------------------------------------------------------------------------------------------- the task
class PoseTask(Task):
    """Pose regression: ``inputs [B, C, H, W]``, ``keypoints [B, K, 3]``, ``boxes [B, 4]`` (notes §3.5.3).

    Args:
        model: maps crops ``[B, C, S, S]`` to ``[B, 2K]`` box-normalised joints (e.g.
            :class:`~an2dl.models.pose.PoseRegressor`); its ``input_size`` is S unless ``input_size`` is given.
        keypoint_names: the K joint names (used for ``pck_<name>`` and by ``an2dl predict``).
        torso: the joints whose distance is the PCK reference (left shoulder, right hip on LSP).
        alpha: the PCK threshold factor (0.2: PCK@0.2).
        default: the normalised target value of invisible joints.
        invisible_weight: weight of invisible joints in the loss (0: masked out).
        input_size: side S of the crops (default: ``model.input_size``).
        optimizer: :class:`OptimizerSpec` (default SGD, lr 0.01).
        augment: training-time transform moving keypoints and boxes (an an2dl Transform), or ``None``.

    Shape:
        ``predict_step`` returns the joints ``[B, K, 2]`` in the input images' pixels.
    """

    kind = "pose"
    batch_fields = ("inputs", "keypoints", "boxes")
    required_fields = ("inputs", "keypoints", "boxes")

    def __init__(self, model: nn.Module, *, keypoint_names: Sequence[str], torso: tuple[int, int] = (9, 2),
                 alpha: float = 0.2, default: float = 0.0, invisible_weight: float = 0.0,
                 input_size: int | None = None, optimizer: OptimizerSpec | None = None,
                 augment: nn.Module | None = None) -> None:
        super().__init__(optimizer, augment=augment)
        names = [str(n) for n in keypoint_names]
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"PoseTask keypoint_names must be unique joint names; got {names}")
        k = len(names)
        if len(torso) != 2 or not all(isinstance(i, int) and 0 <= i < k for i in torso) or torso[0] == torso[1]:
            raise ConfigError(f"PoseTask torso must be two different joint indices in [0, {k}); got {torso!r}")
        if not 0 < alpha:
            raise ConfigError(f"PoseTask alpha must be > 0; got {alpha!r}")
        if invisible_weight < 0:
            raise ConfigError(f"PoseTask invisible_weight must be >= 0; got {invisible_weight!r}")
        size = input_size if input_size is not None else getattr(model, "input_size", None)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"PoseTask input_size must be a positive integer (the crop side the model reads); "
                              f"got {size!r}")
        self.model = model
        self.keypoint_names, self.num_joints, self.torso = names, k, (int(torso[0]), int(torso[1]))
        self.alpha, self.default, self.invisible_weight = float(alpha), float(default), float(invisible_weight)
        self.input_size = size
        self.declare_metrics({
            "pck": metric("pck", joint_names=names, alpha=self.alpha),
            "pck_per_joint": metric("pck", joint_names=names, alpha=self.alpha, per_joint=True, splits=("test",)),
            "mean_pixel_error": metric("mean_pixel_error"),
        })

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    # ---- batches
    def check_batch(self, batch: Batch, split: str) -> None:
        """Keypoints ``[B, K, 3]`` with the task's K, boxes ``[B, 4]`` inside the images with a positive size."""
        super().check_batch(batch, split)
        name = type(self).__name__
        x = batch.inputs
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise BatchError(f"{name} batch.inputs must be images [B, C, H, W]; got {got}")
        b, _, h, w = x.shape
        if "keypoints" in batch and split != "predict":
            kp = batch.keypoints
            if not isinstance(kp, torch.Tensor) or kp.dim() != 3 or kp.shape[0] != b or kp.shape[2] != 3:
                got = list(kp.shape) if isinstance(kp, torch.Tensor) else type(kp).__name__
                raise BatchError(f"{name} batch.keypoints must be [B, K, 3] = [{b}, {self.num_joints}, 3] as "
                                 f"(x, y, visibility); got {got}")
            if kp.shape[1] != self.num_joints:
                raise BatchError(f"{name} batch.keypoints must hold K={self.num_joints} joints per image "
                                 f"({', '.join(self.keypoint_names[:3])}, ...); got {kp.shape[1]} joints "
                                 f"(shape {list(kp.shape)})")
        if "boxes" in batch:
            boxes = batch.boxes
            if not isinstance(boxes, torch.Tensor) or tuple(boxes.shape) != (b, 4):
                got = list(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
                raise BatchError(f"{name} batch.boxes must be [B, 4] = [{b}, 4] person boxes (x1, y1, x2, y2); got {got}")
            try:
                check_boxes(boxes, (h, w), name=f"{name} batch.boxes")
            except (TypeError, ValueError) as e:
                raise BatchError(str(e)) from None
            empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
            if bool(empty.any()):
                i = int(empty.nonzero()[0, 0])
                raise BatchError(f"{name} batch.boxes must have a positive width and height; row {i} is "
                                 f"{boxes[i].tolist()}")

    def augment_batch(self, batch: Batch) -> Batch:
        """Move the keypoints and the box with the pixels (one instance per image); a sample whose box the
        transform pushed wholly out of the image keeps its original, unaugmented form."""
        from ..data.transforms.base import Transform

        if not isinstance(self.augment, Transform):
            return batch.replace(inputs=self.augment(batch.inputs))
        x0, kp0, box0 = batch.inputs, batch.keypoints, batch.boxes
        targets = [{"keypoints": kp0[i:i + 1], "boxes": box0[i:i + 1]} for i in range(len(kp0))]
        x, out = self.augment(x0, targets)
        kept = torch.tensor([len(t["boxes"]) == 1 for t in out], device=x.device)
        kp = torch.stack([t["keypoints"][0] if k else kp0[i] for i, (t, k) in enumerate(zip(out, kept.tolist()))])
        boxes = torch.stack([t["boxes"][0] if k else box0[i] for i, (t, k) in enumerate(zip(out, kept.tolist()))])
        if not bool(kept.all()):
            if x.shape != x0.shape:
                raise ConfigError(f"{type(self).__name__}: the augmentation moved a person box out of an image and "
                                  "changed the image size, so the sample cannot be kept unaugmented; use milder "
                                  "translations or crops")
            x = torch.where(kept[:, None, None, None], x, x0)
        return batch.replace(inputs=x, keypoints=kp.to(kp0.dtype), boxes=boxes.to(box0.dtype))

    # ---- the loss and the metrics
    def _predict_normalised(self, x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        crops = crop_to_boxes(x, boxes, self.input_size)
        out = call_model(self.model, crops, owner=type(self).__name__)
        if out.dim() != 2 or out.shape[1] != 2 * self.num_joints:
            raise ConfigError(f"{type(self).__name__}: the model must return [B, 2K] = [B, {2 * self.num_joints}] "
                              f"joint coordinates; got {list(out.shape)}")
        return out.reshape(-1, self.num_joints, 2)  # (B, K, 2)

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        boxes = batch.boxes.to(batch.inputs.dtype)
        pred = self._predict_normalised(batch.inputs, boxes)
        target, visible = pose_targets(batch.keypoints.to(pred.dtype), boxes, default=self.default)
        loss = pose_regression_loss(pred, target, visible, invisible_weight=self.invisible_weight)
        ctx.log("loss", loss)
        true_xy = batch.keypoints[..., :2].to(pred.dtype)
        pred_xy = denormalize_keypoints(pred.detach(), boxes)
        self.update_metrics(ctx, pred_xy, true_xy, visible, torso_diameter(true_xy, self.torso))
        return loss

    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        """The joints ``[B, K, 2]`` in pixels (in the batch's boxes, or the whole images without ``boxes``)."""
        x = batch.inputs
        boxes = batch.boxes.to(x.dtype) if "boxes" in batch else whole_image_boxes(x)
        return denormalize_keypoints(self._predict_normalised(x, boxes), boxes)

    # ---- an2dl predict
    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Estimate the pose in image files: print the joints and write ``<name>.pose.png`` with the skeleton.

        Each image is the person's box (crop the person first): it is read,
        prepared by the model's recorded pipeline (channels), resampled to the
        model's ``S × S`` input and the predicted box-normalised joints are mapped back to the
        file's pixels.  ``--out`` puts the files in a folder; ``--invert`` and
        ``--max-pixels`` apply as for classifiers.

        Returns:
            One line per image, ``"<input>: <pose file>; <joint> (x, y), ..."``; ``values`` holds
            ``(input, joints [K, 2] in pixels)``.
        """
        from ..data.images import DEFAULT_MAX_PIXELS, read_image, save_image
        from ..data.inputs import derived_paths, invert_image
        from ..data.preprocess import Preprocess

        options.refuse_unused(cls.kind, ("out", "invert", "max_pixels"))
        if not inputs:
            raise ConfigError(f"predict with the pose model of {options.source} needs image files (PNG/JPEG)")
        pre = Preprocess.for_metadata(meta) if "pipeline" in (meta.get("preprocessing") or {}) else None
        channels = int(getattr(model, "in_channels", 3))
        size = int(getattr(model, "input_size", 0)) or int((meta.get("preprocessing") or {}).get("crop_size", 0))
        if size < 1:
            raise ConfigError(f"the pose model of {options.source} does not record its input size")
        names = [str(n) for n in meta.get("class_names") or []]
        skeleton = [tuple(int(i) for i in limb) for limb in (meta.get("preprocessing") or {}).get("skeleton", [])]
        max_pixels = DEFAULT_MAX_PIXELS if options.max_pixels is None else options.max_pixels
        device = next(model.parameters()).device
        out = Prediction()
        for src, pose_path in zip(inputs, derived_paths(inputs, ".pose.png", options.out)):
            image = read_image(src, channels=channels, max_pixels=max_pixels)
            if options.invert:
                image = invert_image(image)
            x = pre(image, source=str(src)) if pre is not None else image
            if x.dim() != 3:
                raise DataError(f"{src}: a pose model reads images [C, H, W]; its pipeline made {list(x.shape)}")
            batch = x.unsqueeze(0).to(device)
            boxes = whole_image_boxes(batch)
            with torch.no_grad():
                u = model(crop_to_boxes(batch, boxes, size)).float()
            k = u.shape[1] // 2
            joints = denormalize_keypoints(u.reshape(1, k, 2), boxes.float())[0].cpu()
            labels = names if len(names) == k else [str(i) for i in range(k)]
            limbs = [(a, b) for a, b in skeleton if a < k and b < k]
            save_image(pose_path, draw_skeleton(x.cpu().float(), joints, limbs, width=max(1.0, x.shape[-1] / 48)))
            out.files.append(pose_path)
            out.values.append((src, joints))
            shown = ", ".join(f"{n} ({float(p[0]):.1f}, {float(p[1]):.1f})" for n, p in zip(labels, joints))
            out.lines.append(f"{src}: {pose_path}; {shown}")
        return out
