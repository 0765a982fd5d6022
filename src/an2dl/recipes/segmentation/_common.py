"""Shared settings and figures of the semantic-segmentation recipes (notes §3.5.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...data import DataSplits, get_dataset
from ...data.transforms import (
    Compose,
    RandomAffine,
    RandomCrop,
    RandomElastic,
    RandomHorizontalFlip,
    RandomVerticalFlip,
    Transform,
)
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...losses import class_frequencies, class_weights_from_frequencies
from ...models import get_model
from ...nn.device import module_device
from ...tasks import BorderWeights, SegmentationTask
from ..config import CheckpointConfig, RunSettings, TrainerConfig

__all__ = ["SegData", "SegAugment", "LossSettings", "NetSettings", "UNetFamilySettings", "load_segmentation_data",
           "segmentation_task", "build_net", "overlay_figure", "iou_table_figure", "class_iou_metrics",
           "model_outputs", "prediction_figures"]


@dataclass
class SegData:
    """Which images and masks to use."""

    name: str = "membrane"  # "membrane" (ISBI 2012, 512x512), "cells" or "shapes" (synthetic, embedded), "folder"
    root: str | None = None  # membrane: the folder (default $AN2DL_DATA_DIR/membrane); folder: the data set
    val_count: int = 3  # membrane: sections after the training ones that validate
    test_count: int = 6  # membrane: the last sections, held out
    limit: int | None = None  # membrane: only the first n sections of each part (quick runs)
    n_train: int = 256  # cells, shapes: training images
    n_val: int = 64  # cells, shapes: validation images
    n_test: int = 64  # cells, shapes: test images
    size: int = 64  # cells, shapes: image side
    seed: int = 0  # cells, shapes: seed of the draw; folder: seed of the split
    class_names: list[str] = field(default_factory=list)  # folder: one name per class (default: from the masks)
    mask_values: dict[str, int] = field(default_factory=dict)  # folder: {stored value: class id}, e.g. {"255": 0}
    val_fraction: float = 0.1  # folder: validation share
    test_fraction: float = 0.2  # folder: test share


def load_segmentation_data(d: SegData) -> DataSplits:
    """The splits ``d`` names."""
    if d.name == "membrane":
        return get_dataset("membrane", root=d.root, val_count=d.val_count, test_count=d.test_count, limit=d.limit)
    if d.name == "shapes":
        return get_dataset("shapes-segmentation", n_train=d.n_train, n_val=d.n_val, n_test=d.n_test, size=d.size,
                           seed=d.seed)
    if d.name == "cells":
        return get_dataset("synthetic-membrane", n_train=d.n_train, n_val=d.n_val, n_test=d.n_test, size=d.size,
                           seed=d.seed)
    if d.name == "folder":
        if not d.root:
            raise ConfigError("data.name=folder needs data.root=PATH (a folder with images/ and masks/)")
        return get_dataset("segmentation-folder", root=d.root, class_names=d.class_names or None,
                           mask_values={int(k): v for k, v in d.mask_values.items()} or None,
                           val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)
    raise ConfigError(f"data.name must be 'membrane', 'cells', 'shapes' or 'folder'; got {d.name!r}")


@dataclass
class SegAugment:
    """Training-time augmentation, applied to the batch with its masks (nearest neighbour for the masks)."""

    crop: int = 128  # random crop side (0: whole images); crops bigger than the images are skipped
    flip: bool = True  # random horizontal and vertical flips
    degrees: float = 0.0  # random rotation in [-degrees, degrees]
    scale: float = 0.0  # random zoom in [1 - scale, 1 + scale]
    elastic_sigma: float = 0.0  # elastic deformation: displacement std in pixels (the U-Net paper: 10; 0: off)
    elastic_grid: int = 3  # elastic deformation: side of the coarse grid of random displacements

    def build(self, image_size: int) -> Transform | None:
        parts: list[Transform] = []
        if self.crop and self.crop < image_size:
            parts.append(RandomCrop(size=self.crop))
        if self.flip:
            parts += [RandomHorizontalFlip(p=0.5), RandomVerticalFlip(p=0.5)]
        if self.degrees or self.scale:
            parts.append(RandomAffine(degrees=self.degrees, scale=self.scale))
        if self.elastic_sigma:
            parts.append(RandomElastic(sigma=self.elastic_sigma, grid=self.elastic_grid))
        return Compose(parts) if parts else None


@dataclass
class LossSettings:
    """The pixel-wise loss (notes §3.5.1.2–3; see :class:`~an2dl.tasks.SegmentationTask`)."""

    class_weights: str = "inverse"  # "none", "inverse" or "median": weights from the training label frequencies
    border_w0: float = 0.0  # U-Net border weight w0 (0: off; the paper uses 10)
    border_sigma: float = 5.0  # U-Net border width sigma in pixels
    random_mask: float = 0.0  # fraction of 16x16 regions left out of each training step's loss
    mask_block: int = 16  # side of those regions
    dice_weight: float = 0.0  # weight of the Dice loss added to the cross-entropy


@dataclass
class NetSettings:
    """The U-Net family's settings (U-Net, encoder–decoder, FCN on the same contracting path)."""

    base_channels: int = 16  # channels of the first level (64 in the paper)
    depth: int = 4  # poolings (4 in the paper)
    padding: str = "same"  # "same" (output = input size) or "valid" (the paper; the U-Net only)
    upsampling: str = "transpose"  # "transpose" (2x2 up-convolution) or "nearest" (+ 1x1 convolution)
    batch_norm: bool = False  # batch norm after every convolution (not in the paper; trains much faster)
    fcn_skips: int = 2  # FCN variant: 0 (32s-style), 1 (16s) or 2 (8s) fused stages


@dataclass
class UNetFamilySettings(RunSettings):
    """The run settings of ``unet-membrane`` and ``encoder-decoder-vs-unet``: one budget for the U-Net family."""

    data: SegData = field(default_factory=SegData)
    # batch norm: in 400 steps on the membranes the U-Net's test pixel accuracy is 0.904 with, 0.825 without
    # (see unet_membrane.py)
    model: NetSettings = field(default_factory=lambda: NetSettings(batch_norm=True))
    augment: SegAugment = field(default_factory=SegAugment)
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(
        max_epochs=None, max_steps=600, batch_size=4, eval_batch_size=2, val_every_n_epochs=None,
        val_every_n_steps=150))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every_n_epochs=None,
                                                                                   every_n_steps=150))
    overlays: int = 3  # held-out images shown with every network's prediction in the report


def build_net(kind: str, s: NetSettings, data: DataSplits) -> nn.Module:
    """A ``unet``, ``encoder_decoder`` or ``fcn`` for ``data`` (channels, classes) with settings ``s``."""
    c, k = data.info.input_shape[0], data.info.num_classes
    common = {"in_channels": c, "num_classes": k, "base_channels": s.base_channels, "depth": s.depth}
    if kind == "fcn":
        return get_model("fcn", skips=s.fcn_skips, batch_norm=s.batch_norm, **common)
    if kind in ("unet", "encoder_decoder"):
        return get_model(kind, padding=s.padding, upsampling=s.upsampling, batch_norm=s.batch_norm, **common)
    raise ConfigError(f"unknown network {kind!r}; expected unet, encoder_decoder or fcn")


def segmentation_task(model: nn.Module, data: DataSplits, loss: LossSettings, optim: OptimizerSpec,
                      augment: Transform | None, *, object_classes: tuple[int, ...] | None = None) -> SegmentationTask:
    """A :class:`SegmentationTask` with the class weights of ``loss.class_weights`` from the training masks."""
    info = data.info
    k = info.num_classes
    weights = None
    if loss.class_weights != "none":
        masks = data.train.tensors[1]
        weights = class_weights_from_frequencies(class_frequencies(masks, k, ignore_index=info.ignore_index),
                                                 scheme=loss.class_weights)
    border = None
    if loss.border_w0 > 0:
        # the objects whose borders matter: the membrane data's cells (class 0), else every class but the background
        objects = object_classes or ((0,) if info.name in ("membrane", "synthetic-membrane") else tuple(range(1, k)))
        border = BorderWeights(w0=loss.border_w0, sigma=loss.border_sigma, object_classes=objects)
    return SegmentationTask(model, num_classes=k, class_names=info.class_names, ignore_index=info.ignore_index,
                            class_weights=weights, border_weights=border, random_mask=loss.random_mask,
                            mask_block=loss.mask_block, dice_weight=loss.dice_weight, optimizer=optim,
                            augment=augment)


def class_iou_metrics(metrics: dict[str, Any], class_names: list[str], split: str = "test") -> dict[str, float]:
    """``{class: IoU}`` read from a run's ``<split>/iou_<class>`` metrics."""
    return {n: float(metrics[f"{split}/iou_{n}"]) for n in class_names if f"{split}/iou_{n}" in metrics}


@torch.no_grad()
def model_outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predicted class ids ``[B, h, w]`` of the segmentation network ``model`` on ``x``, every pixel scored as in
    evaluation (:func:`~an2dl.models.segmentation.segment`); computed on the model's device, returned on the CPU."""
    from ...models.segmentation import segment

    was = model.training
    model.eval()
    logits = segment(model, x.to(module_device(model), next(model.parameters()).dtype)).float().cpu()
    model.train(was)
    return logits.argmax(1)


def overlay_figure(run_dir: Path, images: torch.Tensor, masks: torch.Tensor, predictions: dict[str, torch.Tensor],
                   class_names: list[str], *, name: str = "test_overlays", caption: str | None = None) -> None:
    """Held-out images with the ground truth and each model's prediction overlaid (one row per image).

    ``predictions[model]`` may be smaller than the images (an unpadded network's centre): images and
    masks are then cropped to it.
    """
    from ...data.masks import PALETTE, overlay_mask
    from ...models.segmentation import center_crop
    from ...report.plots import figure, save_figure

    n = len(images)
    cols = 2 + len(predictions)
    fig = figure(figsize=(2.3 * cols, 2.3 * n + 0.5))
    for r in range(n):
        panels = [("image", images[r], None), ("ground truth", images[r], masks[r])]
        panels += [(label, images[r], pred[r]) for label, pred in predictions.items()]
        for c, (title, img, mask) in enumerate(panels):
            ax = fig.add_subplot(n, cols, r * cols + c + 1)
            if mask is not None:
                img = center_crop(img, mask.shape[-2:])
                shown = overlay_mask(img, mask)
                if title != "ground truth":
                    truth = center_crop(masks[r], mask.shape[-2:])
                    title = f"{title} ({100 * float((mask == truth).double().mean()):.1f} %)"
            else:
                shown = img.expand(3, -1, -1) if img.shape[0] == 1 else img
            ax.imshow(shown.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    legend = ", ".join(f"{n_} = {'uncoloured' if i == 0 else 'rgb' + str(PALETTE[i])}" for i, n_ in enumerate(class_names))
    save_figure(fig, run_dir, name, caption or f"Held-out images: ground truth and predictions overlaid (pixel "
                                               f"accuracy of each image in brackets); colours: {legend}")


def iou_table_figure(run_dir: Path, rows: dict[str, dict[str, float]], *, name: str = "iou_per_class",
                     caption: str = "Intersection over union of each class on the test images") -> None:
    """A table (as a figure) of per-class IoU, one row per model, with the mean IoU."""
    from ...report.plots import figure, save_figure

    classes = list(next(iter(rows.values())).keys()) if rows else []
    cells = [[f"{r[c]:.3f}" for c in classes] + [f"{sum(r.values()) / max(1, len(r)):.3f}"] for r in rows.values()]
    fig = figure(figsize=(1.2 + 1.1 * (len(classes) + 1), 0.45 * (len(rows) + 1) + 0.3))
    ax = fig.add_subplot(1, 1, 1)
    ax.axis("off")
    table = ax.table(cellText=cells, rowLabels=list(rows), colLabels=classes + ["mean IoU"], loc="center")
    table.scale(1, 1.3)
    save_figure(fig, run_dir, name, caption)



def prediction_figures(run_dir: Path, data: DataSplits, models: dict[str, nn.Module],
                       metrics: dict[str, dict[str, Any]], overlays: int, *, caption: str) -> None:
    """The report's figures of trained segmentation networks: the first ``overlays`` test images with the ground
    truth and each network's prediction overlaid (:func:`overlay_figure`), and the table of per-class test IoU
    read from each network's ``metrics`` (:func:`iou_table_figure`, with ``caption``).

    ``models`` and ``metrics`` are keyed by the label each network has in the figures.
    """
    names = list(data.info.class_names)
    if data.test is not None and overlays > 0 and models:
        n = min(overlays, len(data.test))
        x, m = (t[:n] for t in data.test.tensors)
        overlay_figure(run_dir, x, m, {label: model_outputs(model, x) for label, model in models.items()}, names)
    rows = {label: class_iou_metrics(values, names) for label, values in metrics.items()}
    if rows and all(rows.values()):
        iou_table_figure(run_dir, rows, caption=caption)
