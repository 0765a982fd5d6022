"""Shared settings, baselines and figures of the localisation recipes (notes §3.5.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...data import DataSplits, get_dataset
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.device import module_device
from ...tasks.localization import LocalizationTask, paired_box_iou

__all__ = ["ShapesData", "LocalizerSettings", "LossSettings", "load_shapes", "localizer_task", "box_baselines",
           "box_scores", "predict_boxes", "box_figure", "score_table_figure"]


@dataclass
class ShapesData:
    """The synthetic one-object shapes (``localization-shapes``)."""

    n_train: int = 1024  # training images (the cross-validation folds are cut from train + val)
    n_val: int = 128  # validation images
    n_test: int = 256  # held-out test images
    size: int = 64  # image side
    clutter: int = 6  # specks of clutter per image
    noise: float = 0.08  # Gaussian pixel noise
    seed: int = 0  # seed of the draw


def load_shapes(d: ShapesData) -> DataSplits:
    return get_dataset("localization-shapes", n_train=d.n_train, n_val=d.n_val, n_test=d.n_test, size=d.size,
                       clutter=d.clutter, noise=d.noise, seed=d.seed)


@dataclass
class LocalizerSettings:
    """The two-headed network (:class:`~an2dl.models.localization.LocalizationNet`)."""

    backbone: str = "small_cnn"  # "small_cnn" or a zoo classifier (resnet18, ...)
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])  # the small CNN's filters per block
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)  # zoo backbone arguments, e.g. {"small_input": true}
    box_grid: int = 4  # the box head reads an s x s grid of the feature map
    box_hidden: int = 128  # width of the box head's hidden layer


@dataclass
class LossSettings:
    """The multi-task loss ``α S + (1 − α) R`` (notes §3.5.2)."""

    alpha: float = 0.5  # α: weight of the classification loss (the sweep's choice replaces it in localize-shapes)
    regression: str = "smooth_l1"  # R: "smooth_l1" (Fast R-CNN) or "l2"


def localizer_task(s: LocalizerSettings, data: DataSplits, alpha: float, loss: LossSettings,
                   optim: OptimizerSpec) -> LocalizationTask:
    """A :class:`LocalizationTask` on a new ``localizer`` for ``data``'s channels and classes."""
    info = data.info
    kwargs: dict[str, Any] = {"num_classes": info.num_classes, "in_channels": int(info.input_shape[0]),
                              "backbone": s.backbone, "box_grid": s.box_grid, "box_hidden": s.box_hidden}
    if s.backbone == "small_cnn":
        kwargs["channels"] = list(s.channels)
    elif s.backbone_kwargs:
        kwargs["backbone_kwargs"] = dict(s.backbone_kwargs)
    model = get_model("localizer", **kwargs)
    return LocalizationTask(model, num_classes=info.num_classes, alpha=alpha, regression=loss.regression,
                            class_names=info.class_names, optimizer=optim)


def box_scores(pred: torch.Tensor, true: torch.Tensor, pred_labels: torch.Tensor | None = None,
               true_labels: torch.Tensor | None = None) -> dict[str, float]:
    """Scores of paired boxes ``[N, 4]``: ``mean_box_iou``, ``box_accuracy_iou50``, (with labels)
    ``accuracy_iou50``, and two that tell a box too large from one too small: ``box_recall``, the mean share of
    the true box inside the predicted one, and ``box_area_ratio``, the mean of area(predicted) / area(true)."""
    from ...ops.boxes import box_area

    p, t = pred.double(), true.double()
    iou = paired_box_iou(p, t).nan_to_num(0.0)
    area_p, area_t = box_area(p), box_area(t)
    inter = iou * (area_p + area_t) / (1 + iou)  # IoU = I / (A + B - I)  =>  I = IoU (A + B) / (1 + IoU)
    out = {"mean_box_iou": float(iou.mean()), "box_accuracy_iou50": float((iou >= 0.5).double().mean()),
           "box_recall": float((inter / area_t).mean()), "box_area_ratio": float((area_p / area_t).mean())}
    if pred_labels is not None and true_labels is not None:
        out["accuracy_iou50"] = float(((iou >= 0.5) & (pred_labels == true_labels)).double().mean())
    return out


def box_baselines(data: DataSplits) -> dict[str, dict[str, float]]:
    """Boxes that look at no pixel, scored on the test split: the mean training box, and a box of the mean
    training size centred in the image.  A localiser that reads the image must beat both."""
    train_boxes = data.train.tensors[2]  # type: ignore[attr-defined]
    test_boxes = data.test.tensors[2]  # type: ignore[attr-defined]
    h, w = data.info.input_shape[-2:]
    mean = train_boxes.mean(dim=0, keepdim=True)
    bw, bh = float(mean[0, 2] - mean[0, 0]), float(mean[0, 3] - mean[0, 1])
    centre = torch.tensor([[(w - bw) / 2, (h - bh) / 2, (w + bw) / 2, (h + bh) / 2]])
    n = len(test_boxes)
    return {"mean_box": box_scores(mean.expand(n, 4), test_boxes),
            "centre_box": box_scores(centre.expand(n, 4), test_boxes)}


@torch.no_grad()
def predict_boxes(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted ``(classes [N], boxes [N, 4] (x1, y1, x2, y2) pixels)`` of a localisation network, in eval mode."""
    from ...losses.localization import decode_boxes

    was = model.training
    model.eval()
    device = module_device(model)
    labels, boxes = [], []
    try:
        for i in range(0, len(images), batch_size):
            logits, params = model(images[i:i + batch_size].to(device))
            labels.append(logits.argmax(dim=1).cpu())
            boxes.append(decode_boxes(params.float().cpu(), tuple(images.shape[-2:])))
    finally:
        model.train(was)
    return torch.cat(labels), torch.cat(boxes)


def box_figure(run_dir: Path, images: torch.Tensor, true_boxes: torch.Tensor, predictions: dict[str, torch.Tensor],
               *, name: str, caption: str, class_names: list[str] | None = None,
               true_labels: torch.Tensor | None = None, heatmaps: torch.Tensor | None = None) -> None:
    """Test images with the true box (green) and each model's box (one colour per model), IoU in the title.

    ``heatmaps`` ``[N, H, W]`` (e.g. class activation maps) are drawn over the images when given.
    """
    from ...report.plots import figure, save_figure

    colours = ["tab:red", "tab:blue", "tab:orange", "tab:purple"]
    n = len(images)
    cols = min(n, 6)
    rows = -(-n // cols)
    fig = figure(figsize=(2.2 * cols, 2.35 * rows + 0.4))
    import matplotlib.patches as patches

    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        img = images[i].float()
        shown = img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)
        ax.imshow(shown.numpy(), cmap="gray" if img.shape[0] == 1 else None, vmin=0, vmax=1, interpolation="nearest")
        if heatmaps is not None:
            ax.imshow(heatmaps[i].float().numpy(), cmap="jet", alpha=0.4, interpolation="bilinear")
        boxes = [("truth", true_boxes[i], "tab:green")] + [(k, v[i], colours[j % len(colours)])
                                                            for j, (k, v) in enumerate(predictions.items())]
        title = []
        for label, b, c in boxes:
            x1, y1, x2, y2 = (float(v) for v in b)
            ax.add_patch(patches.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=c, lw=1.5))
            if label != "truth":
                iou = float(paired_box_iou(b.view(1, 4).double(), true_boxes[i].view(1, 4).double())[0])
                title.append(f"{iou:.2f}")
        head = class_names[int(true_labels[i])] + " " if class_names and true_labels is not None else ""
        ax.set_title(head + "IoU " + "/".join(title), fontsize=7)
        ax.axis("off")
    legend = ", ".join(f"{k} = {colours[j % len(colours)].replace('tab:', '')}" for j, k in enumerate(predictions))
    save_figure(fig, run_dir, name, f"{caption} True box in green; {legend}.")


def score_table_figure(run_dir: Path, rows: dict[str, dict[str, float]], columns: list[str], *, name: str,
                       caption: str) -> None:
    """A table (as a figure): one row per method, one column per score."""
    from ...report.plots import figure, save_figure

    if not rows:
        raise ConfigError("score_table_figure needs at least one row")
    cells = [[f"{r.get(c, float('nan')):.3f}" for c in columns] for r in rows.values()]
    fig = figure(figsize=(1.8 + 1.6 * len(columns), 0.45 * (len(rows) + 1) + 0.3))
    ax = fig.add_subplot(1, 1, 1)
    ax.axis("off")
    table = ax.table(cellText=cells, rowLabels=list(rows), colLabels=columns, loc="center")
    table.scale(1, 1.3)
    save_figure(fig, run_dir, name, caption)
