"""``pose-sticks``: human pose estimation by regression against the mean pose (notes §3.5.3).

The notes' claim: a CNN that receives the whole image of the person and
regresses the 2k joint coordinates, normalised to the person box, estimates
the pose — it is a localisation problem solved by regression.  The recipe
trains :class:`~an2dl.models.pose.PoseRegressor` on the synthetic stick
figures of ``pose-sticks`` (14 LSP joints, random poses within joint limits,
occluders that hide joints, textured backgrounds) with the masked L2 loss of
DeepPose (Toshev & Szegedy 2014), flips that swap the left and right joints
and small translations (the notes' augmentations), and compares it on the
held-out figures with the **mean-pose baseline**: the mean box-normalised pose
of the training set, placed in each test box.  Both are scored by PCK@0.2
(torso diameter = left shoulder to right hip, as on LSP) and the mean pixel
error over the visible joints.

``results.json``: the regressor's ``test/pck``, ``test/mean_pixel_error`` and
``test/pck_<joint>``; the baseline's ``baseline/pck``,
``baseline/mean_pixel_error``; their differences ``margin/pck`` (regressor −
baseline) and ``margin/mean_pixel_error`` (baseline − regressor).  The report
shows predicted skeletons over test images beside the truth and the mean pose,
the per-joint PCK of both as bars, and the table of both figures.

Transfer from a zoo backbone, as the notes suggest: ``model.backbone=resnet18``
uses ResNet-18's trunk, ``model.backbone_weights=PATH`` loads a ResNet-18
classifier's weights into it (e.g. torchvision's ImageNet file) and
``model.freeze_backbone=true`` trains the head only; ``model.small_input=true``
gives the trunk a 3×3 stem without pooling for the 32-pixel crops (no
ImageNet weights then).  From scratch, with 512 figures, 6 epochs of batches
of 8 and seed 0, the ResNet-18 trunk reached PCK@0.2 0.204 with its ImageNet
stem and 0.427 with the small stem (197 s), the default plain CNN 0.417 (about
20 s): without pre-trained weights the zoo trunk buys nothing here.
Departures: one stage
(DeepPose refines with a cascade); 32×32 crops of 64×64 images and a small
CNN, to train in about a minute on a laptop CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...data import DataSplits, get_dataset
from ...data.datasets.pose_sticks import draw_skeleton
from ...data.transforms import Compose, RandomHorizontalFlip, RandomTranslation, Transform
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...losses.pose import denormalize_keypoints, joint_distances, pck, pose_targets, torso_diameter
from ...models import get_model
from ...models.pose import load_backbone_weights
from ...models.transfer import freeze
from ...tasks import PoseTask
from ..base import Recipe, RunResult, input_preprocessing, register_recipe
from ..config import RunSettings, TrainerConfig

__all__ = ["PoseSticks", "PoseSticksConfig", "mean_pose", "mean_pose_scores", "predict_joints"]


@dataclass
class PoseData:
    """The synthetic stick figures (``pose-sticks``)."""

    n_train: int = 2048  # training figures
    n_val: int = 256  # validation figures
    n_test: int = 256  # held-out figures
    size: int = 64  # image side in pixels
    max_occluders: int = 2  # occluding rectangles per image (0: every joint visible)
    seed: int = 0  # seed of the draw


@dataclass
class PoseNet:
    """The regressor: a CNN backbone and a linear head for the 2K coordinates."""

    backbone: str = "plain_cnn"  # "plain_cnn" or a zoo classifier ("resnet18", ...) for transfer
    input_size: int = 32  # side of the person-box crop the network reads
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])  # plain CNN: filters per block
    hidden: list[int] = field(default_factory=lambda: [256])  # plain CNN: hidden widths of the head
    dropout: float = 0.0  # before each linear layer of the head
    backbone_weights: str | None = None  # zoo backbone: a classifier's weights file loaded into the trunk
    freeze_backbone: bool = False  # zoo backbone: train the head only (notes §3.4.2, step 3)
    small_input: bool = False  # zoo backbone: 3x3 stem without pooling, for 32-pixel crops (no ImageNet weights)


@dataclass
class PoseAugment:
    """Training-time augmentation (the notes: translation and flipping)."""

    flip: bool = True  # random horizontal mirror, left and right joints swapped
    translate: float = 0.05  # random shift up to this fraction of the image side (0: off)


@dataclass
class PoseLoss:
    """The masked L2 loss and the metric (see :mod:`an2dl.losses.pose`)."""

    default: float = 0.0  # normalised target of invisible joints (0: the box centre)
    invisible_weight: float = 0.0  # weight of invisible joints in the loss (0: masked out)
    alpha: float = 0.2  # PCK threshold, times the torso diameter


@dataclass
class PoseSticksConfig(RunSettings):
    data: PoseData = field(default_factory=PoseData)
    model: PoseNet = field(default_factory=PoseNet)
    augment: PoseAugment = field(default_factory=PoseAugment)
    loss: PoseLoss = field(default_factory=PoseLoss)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    # small batches: at a fixed budget of samples, more steps matter more than smoother gradients here
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=15, batch_size=16))
    overlays: int = 6  # test images drawn with the predicted skeletons


def mean_pose(data: DataSplits) -> torch.Tensor:
    """The mean box-normalised pose ``[K, 2]`` of the training figures, each joint over the images where it is visible."""
    _, kp, boxes = data.train.tensors
    u, vis = pose_targets(kp, boxes)
    w = vis.to(u.dtype)[..., None]
    return (u * w).sum(0) / w.sum(0).clamp_min(1)


def mean_pose_scores(pose: torch.Tensor, keypoints: torch.Tensor, boxes: torch.Tensor, *, torso: tuple[int, int],
                     alpha: float = 0.2) -> tuple[float, float, torch.Tensor]:
    """PCK@α, mean pixel error and per-joint PCK ``[K]`` of the pose ``[K, 2]`` placed in every box."""
    pred = denormalize_keypoints(pose.expand(len(boxes), -1, -1), boxes)
    true, vis = keypoints[..., :2], keypoints[..., 2] > 0
    correct, scored = pck(pred, true, vis, torso_diameter(true, torso), alpha=alpha)
    error = float(joint_distances(pred, true)[vis].mean())
    return float(correct.sum() / scored.sum()), error, (correct / scored.clamp_min(1)).float()


@register_recipe
class PoseSticks(Recipe):
    """A CNN regresses the 14 joints of synthetic stick figures; compared with the mean pose (PCK@0.2, pixel error)."""

    name = "pose-sticks"
    summary = "pose estimation by CNN regression of 14 joints on synthetic stick figures vs the mean pose"
    section = "3.5.3"
    Config = PoseSticksConfig
    smoke_settings = ("data.n_train=32", "data.n_val=8", "data.n_test=8", "model.channels=[4,8]", "model.hidden=[8]",
                      "trainer.max_epochs=1", "trainer.batch_size=16", "overlays=2")

    def build(self, cfg: PoseSticksConfig) -> tuple[PoseTask, DataSplits]:
        d = cfg.data
        data = get_dataset("pose-sticks", n_train=d.n_train, n_val=d.n_val, n_test=d.n_test, size=d.size,
                           max_occluders=d.max_occluders, seed=d.seed)
        info = data.info
        m = cfg.model
        kwargs: dict[str, Any] = {"num_joints": info.num_joints, "in_channels": info.input_shape[0],
                                  "input_size": m.input_size, "backbone": m.backbone, "dropout": m.dropout}
        if m.backbone == "plain_cnn":
            kwargs.update(channels=list(m.channels), hidden=list(m.hidden))
        else:
            kwargs["small_input"] = m.small_input
        if m.backbone != "plain_cnn" and (m.channels != PoseNet().channels or m.hidden != PoseNet().hidden):
            raise ConfigError("model.channels and model.hidden set the plain CNN; a zoo backbone "
                              f"({m.backbone!r}) has its own layers and a linear head")
        model = get_model("pose_regressor", **kwargs)
        if m.backbone_weights:
            load_backbone_weights(model, m.backbone_weights)
        if m.freeze_backbone:
            if m.backbone == "plain_cnn":
                raise ConfigError("model.freeze_backbone=true needs a transferred zoo backbone (model.backbone=resnet18 "
                                  "with model.backbone_weights=PATH)")
            freeze(model.backbone)
        task = PoseTask(model, keypoint_names=info.keypoint_names, torso=info.torso, alpha=cfg.loss.alpha,
                        default=cfg.loss.default, invisible_weight=cfg.loss.invisible_weight, optimizer=cfg.optim,
                        augment=self._augment(cfg.augment, info.flip_map))
        return task, data

    @staticmethod
    def _augment(a: PoseAugment, flip_map: list[int]) -> Transform | None:
        parts: list[Transform] = []
        if a.flip:
            parts.append(RandomHorizontalFlip(p=0.5, flip_map=flip_map))
        if a.translate:
            parts.append(RandomTranslation(translate=a.translate))
        return Compose(parts) if parts else None

    def export_info(self, cfg: PoseSticksConfig, data: DataSplits) -> dict[str, Any]:
        pre = input_preprocessing(data.info)
        pre.update(skeleton=[list(limb) for limb in data.info.skeleton], crop_size=cfg.model.input_size,
                   boxes="the whole image is the person box")
        return {"class_names": list(data.info.keypoint_names), "preprocessing": pre}

    def extra_metrics(self, cfg: PoseSticksConfig, task: Any, data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        """The mean-pose baseline on the test figures and the regressor's margins over it."""
        if data.test is None:
            return {}, []
        _, kp, boxes = data.test.tensors
        p, err, _ = mean_pose_scores(mean_pose(data), kp, boxes, torso=data.info.torso, alpha=cfg.loss.alpha)
        pred = predict_joints(task, data.test)
        vis = kp[..., 2] > 0
        correct, scored = pck(pred, kp[..., :2], vis, torso_diameter(kp[..., :2], data.info.torso), alpha=cfg.loss.alpha)
        model_pck, model_err = float(correct.sum() / scored.sum()), float(joint_distances(pred, kp[..., :2])[vis].mean())
        metrics = {"baseline/pck": p, "baseline/mean_pixel_error": err, "margin/pck": model_pck - p,
                   "margin/mean_pixel_error": err - model_err}
        return metrics, [
            f"Mean-pose baseline: the mean box-normalised training pose placed in each of the {len(boxes)} test "
            f"boxes: PCK@{cfg.loss.alpha:g} {p:.3f}, mean pixel error {err:.2f} px; the CNN: {model_pck:.3f} and "
            f"{model_err:.2f} px.",
            f"PCK@{cfg.loss.alpha:g} uses the torso diameter (left shoulder to right hip) of each figure; only "
            f"visible joints are scored ({100 * float(vis.float().mean()):.1f} % of the test joints)."]

    # ---- figures
    def figures(self, result: RunResult) -> None:
        cfg, data, task = result.config, result.data, result.task
        if data is None or task is None or data.test is None:
            return
        run_dir = result.run_dir
        x, kp, boxes = data.test.tensors
        pred = predict_joints(task, data.test)
        pose = mean_pose(data)
        base = denormalize_keypoints(pose.expand(len(boxes), -1, -1), boxes)
        info = data.info
        _skeleton_figure(run_dir, x[:cfg.overlays], kp[:cfg.overlays], pred[:cfg.overlays], base[:cfg.overlays],
                         info.skeleton)
        vis = kp[..., 2] > 0
        ref = torso_diameter(kp[..., :2], info.torso)
        c, s = pck(pred, kp[..., :2], vis, ref, alpha=cfg.loss.alpha)
        _, _, base_joint = mean_pose_scores(pose, kp, boxes, torso=info.torso, alpha=cfg.loss.alpha)
        _pck_bars(run_dir, info.keypoint_names, (c / s.clamp_min(1)).float(), base_joint, cfg.loss.alpha)
        m = result.metrics
        _table(run_dir, {"CNN regression": (m.get("test/pck"), m.get("test/mean_pixel_error")),
                         "mean pose": (m.get("baseline/pck"), m.get("baseline/mean_pixel_error"))}, cfg.loss.alpha)


@torch.no_grad()
def predict_joints(task: PoseTask, dataset: Any, *, batch_size: int = 64) -> torch.Tensor:
    """The task's joints ``[N, K, 2]`` (pixels, on the CPU) for a :class:`~an2dl.data.datasets.pose_sticks.PoseDataset`."""
    from ...data import Batch
    from ...nn.device import module_device

    x, _, boxes = dataset.tensors
    was = task.training
    task.eval()
    device = module_device(task)
    out = [task.predict_step(Batch(inputs=x[i:i + batch_size].to(device), boxes=boxes[i:i + batch_size].to(device)),
                             None).float().cpu() for i in range(0, len(x), batch_size)]
    task.train(was)
    return torch.cat(out)


def _skeleton_figure(run_dir: Any, images: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, base: torch.Tensor,
                     skeleton: list[tuple[int, int]]) -> None:
    from ...report.plots import figure, save_figure

    n = len(images)
    if n == 0:
        return
    panels = (("truth (visible limbs)", truth, (0.2, 1.0, 0.2)), ("CNN regression", pred, (1.0, 0.9, 0.0)),
              ("mean pose", base, (1.0, 0.3, 0.3)))
    fig = figure(figsize=(2.2 * 3, 2.2 * n + 0.4))
    for r in range(n):
        for c, (title, joints, colour) in enumerate(panels):
            ax = fig.add_subplot(n, 3, r * 3 + c + 1)
            visible = truth[r, :, 2] if c == 0 else None
            drawn = draw_skeleton(images[r], joints[r], skeleton, colour=colour, width=1.2, visible=visible)
            ax.imshow(drawn.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    save_figure(fig, run_dir, "test_skeletons", "Held-out figures: the true skeleton (visible limbs), the CNN's "
                                                "predicted skeleton and the mean pose placed in the person box")


def _pck_bars(run_dir: Any, names: list[str], model: torch.Tensor, base: torch.Tensor, alpha: float) -> None:
    from ...report.plots import figure, save_figure

    fig = figure(figsize=(8, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    pos = torch.arange(len(names)).float()
    ax.bar((pos - 0.2).tolist(), model.tolist(), width=0.4, label="CNN regression")
    ax.bar((pos + 0.2).tolist(), base.tolist(), width=0.4, label="mean pose")
    ax.set_xticks(pos.tolist())
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(f"PCK@{alpha:g}")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, run_dir, "pck_per_joint", f"PCK@{alpha:g} of each joint on the test figures (torso diameter "
                                               "as reference): the CNN against the mean pose")


def _table(run_dir: Any, rows: dict[str, tuple[float | None, float | None]], alpha: float) -> None:
    from ...report.plots import figure, save_figure

    cells = [[f"{p:.3f}" if p is not None else "-", f"{e:.2f}" if e is not None else "-"] for p, e in rows.values()]
    fig = figure(figsize=(5, 1.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.axis("off")
    table = ax.table(cellText=cells, rowLabels=list(rows), colLabels=[f"PCK@{alpha:g}", "mean pixel error"],
                     loc="center")
    table.scale(1, 1.3)
    save_figure(fig, run_dir, "pose_table", "Test PCK and mean pixel error (visible joints) of the CNN and the mean pose")
