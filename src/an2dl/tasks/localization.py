"""Localisation: the class of an image's one object and the box around it, trained with a multi-task loss (notes §3.5.2).

:class:`LocalizationTask` trains a network that returns class scores and a
box (:class:`~an2dl.models.localization.LocalizationNet`) on batches
``(inputs, targets, boxes)``: class ids ``[B]`` and one box per image,
``(x1, y1, x2, y2)`` in pixels of the input.  The loss is the notes'

    L = α · S + (1 − α) · R

(:func:`~an2dl.losses.localization.multitask_loss`: ``S`` the cross-entropy,
``R`` smooth-L1 by default) on the box normalised by the image size,
``(x, y, h, w) = (x1 / W, y1 / H, (y2 − y1) / H, (x2 − x1) / W)``.

Metrics per split: ``loss``, ``class_loss`` (S), ``box_loss`` (R),
``accuracy`` (the class), ``mean_box_iou`` (IoU of the predicted and the true
box, averaged over the images), ``accuracy_iou50`` (the class is right AND
IoU ≥ 0.5: the usual criterion of a correct localisation, as in the
ILSVRC localisation task) and ``box_accuracy_iou50`` (IoU ≥ 0.5 whatever
the class).  With a single class (K = 1) the class term is identically 0 and
``accuracy`` is left out.

``an2dl predict`` on a localisation model prints each image's class, its
probability and the box in pixels of the file, and writes the image with the
box drawn (``<name>.box.png``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.batch import Batch, BatchError
from ..engine.metrics import metric, metric_names, register_metric
from ..engine.optim import OptimizerSpec
from ..engine.prediction import Prediction, PredictOptions
from ..engine.task import StepContext, Task, call_model
from ..errors import ConfigError, DataError
from ..losses.localization import REGRESSION_LOSSES, decode_boxes, encode_boxes, multitask_loss
from ..ops.boxes import box_iou, check_boxes

__all__ = ["LocalizationTask", "LocalizationMetric", "localization_metric_class", "paired_box_iou", "draw_box"]


def paired_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """IoU of ``boxes1[i]`` with ``boxes2[i]`` (the diagonal of :func:`~an2dl.ops.boxes.box_iou`).

    Shape:
        ``[N, 4]`` and ``[N, 4]`` ``(x1, y1, x2, y2)`` -> ``[N]``.
    """
    if boxes1.shape != boxes2.shape:
        raise ValueError(f"paired_box_iou needs two [N, 4] tensors of the same shape; got {list(boxes1.shape)} and "
                         f"{list(boxes2.shape)}")
    if boxes1.shape[0] == 0:
        return boxes1.new_zeros(0)
    return box_iou(boxes1, boxes2).diagonal()


@functools.cache
def localization_metric_class() -> type:
    """The torchmetrics class of the ``localization`` metric, built on first use (torchmetrics loads lazily).

    ``update(boxes, labels, target_boxes, target_labels)`` with corner boxes in pixels; ``compute()`` gives
    ``{mean_box_iou, accuracy_iou50, box_accuracy_iou50}``.
    """
    from torchmetrics import Metric

    class _LocalizationMetric(Metric):
        """Mean box IoU and accuracy at IoU ≥ ``threshold`` (with and without the class)."""

        full_state_update = False

        def __init__(self, threshold: float = 0.5) -> None:
            super().__init__()
            self.threshold = float(threshold)
            for name in ("iou_sum", "hits", "box_hits", "count"):
                self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

        def update(self, boxes: torch.Tensor, labels: torch.Tensor, target_boxes: torch.Tensor,
                   target_labels: torch.Tensor) -> None:
            iou = paired_box_iou(boxes.double(), target_boxes.double()).nan_to_num(0.0)
            good = iou >= self.threshold
            self.iou_sum += iou.sum()
            self.box_hits += good.sum()
            self.hits += (good & (labels == target_labels)).sum()
            self.count += iou.numel()

        def compute(self) -> dict[str, torch.Tensor]:
            n = self.count.clamp(min=1)
            return {"mean_box_iou": (self.iou_sum / n).float(), "accuracy_iou50": (self.hits / n).float(),
                    "box_accuracy_iou50": (self.box_hits / n).float()}

    return _LocalizationMetric


def LocalizationMetric(threshold: float = 0.5) -> Any:  # noqa: N802 - builds an instance, reads as a class
    """A new ``localization`` metric: mean box IoU and accuracy at IoU ≥ ``threshold`` (with and without the class)."""
    return localization_metric_class()(threshold=threshold)


if "localization" not in metric_names():
    register_metric("localization")(LocalizationMetric)


class LocalizationTask(Task):
    """Classification plus box regression with ``L = α S + (1 − α) R`` (notes §3.5.2).

    Args:
        model: maps ``[B, C, H, W]`` to ``(logits [B, K], boxes [B, 4])``, the boxes as normalised
            ``(x, y, h, w)`` (:class:`~an2dl.models.localization.LocalizationNet`).
        num_classes: K (1: a single object class, no class term).
        alpha: α, the weight of the classification loss, in [0, 1].
        regression: the box loss R, ``"smooth_l1"`` or ``"l2"``.
        class_names: one name per class.
        optimizer: :class:`OptimizerSpec`.
        augment: a photometric training transform, applied to ``inputs`` only (the boxes do not
            move: a geometric transform would misplace them).
        compute_train_metrics: compute the box metrics on training batches too.

    Shape:
        batch ``(inputs [B, C, H, W], targets [B] int64, boxes [B, 4] float (x1, y1, x2, y2) pixels)``;
        ``predict_step`` returns ``{"probs": [B, K], "boxes": [B, 4] pixel corner boxes}``.
    """

    kind = "localization"
    batch_fields = ("inputs", "targets", "boxes")
    required_fields = ("inputs", "targets", "boxes")

    def __init__(self, model: nn.Module, *, num_classes: int, alpha: float = 0.5, regression: str = "smooth_l1",
                 class_names: Sequence[str] | None = None, optimizer: OptimizerSpec | None = None,
                 augment: nn.Module | None = None, compute_train_metrics: bool = True) -> None:
        super().__init__(optimizer, augment=augment)
        name = type(self).__name__
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"{name} num_classes must be a positive integer; got {num_classes!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
            raise ConfigError(f"{name} alpha must be a number in [0, 1]; got {alpha!r}")
        if regression not in REGRESSION_LOSSES:
            raise ConfigError(f"{name} regression must be one of {list(REGRESSION_LOSSES)}; got {regression!r}")
        names = [str(n) for n in class_names] if class_names else [str(k) for k in range(num_classes)]
        if len(names) != num_classes:
            raise ConfigError(f"{name} class_names must name the {num_classes} classes; got {len(names)} names")
        self.model = model
        self.num_classes, self.class_names = num_classes, names
        self.alpha, self.regression = float(alpha), regression
        scored = ("train", "val", "test") if compute_train_metrics else ("val", "test")
        declared: dict[str, Any] = {"localization": metric("localization", splits=scored)}
        if num_classes > 1:
            declared["accuracy"] = metric("accuracy", num_classes=num_classes, splits=scored)
        self.declare_metrics(declared)

    def forward(self, x: torch.Tensor) -> Any:
        return self.model(x)

    # ---- batches
    def check_batch(self, batch: Batch, split: str) -> None:
        """The required fields; class ids in ``[0, K)``; one box ``[B, 4]`` per image, inside the image."""
        super().check_batch(batch, split)
        if split == "predict" or not isinstance(batch.inputs, torch.Tensor):
            return
        name = type(self).__name__
        y, boxes = batch.targets, batch.boxes
        b = batch.inputs.shape[0]
        if not isinstance(y, torch.Tensor) or y.shape != (b,) or y.is_floating_point():
            got = f"{list(y.shape)} {str(y.dtype).replace('torch.', '')}" if isinstance(y, torch.Tensor) else type(y).__name__
            raise BatchError(f"{name} batch.targets must be class ids [B] = [{b}] (integers); got {got}")
        if bool(((y < 0) | (y >= self.num_classes)).any()):
            raise BatchError(f"{name} batch.targets must lie in [0, {self.num_classes}); got values from "
                             f"{int(y.min())} to {int(y.max())}")
        if not isinstance(boxes, torch.Tensor) or boxes.shape != (b, 4):
            got = list(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
            raise BatchError(f"{name} batch.boxes must be one (x1, y1, x2, y2) box per image, [B, 4] = [{b}, 4]; "
                             f"got {got}")
        try:
            check_boxes(boxes, tuple(batch.inputs.shape[-2:]), name=f"{name} batch.boxes")
        except (TypeError, ValueError) as e:
            raise BatchError(str(e)) from None

    # ---- the loss
    def _outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = call_model(self.model, x, owner=type(self).__name__)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ConfigError(f"{type(self).__name__}: the model must return (logits [B, K], boxes [B, 4]); "
                              f"got {type(out).__name__}")
        logits, boxes = out
        if logits.dim() != 2 or logits.shape[1] != self.num_classes or boxes.shape != (logits.shape[0], 4):
            raise ConfigError(f"{type(self).__name__}: the model must return logits [B, {self.num_classes}] and boxes "
                              f"[B, 4]; got {list(logits.shape)} and {list(boxes.shape)}")
        return logits, boxes

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        size = tuple(batch.inputs.shape[-2:])
        logits, params = self._outputs(batch.inputs)
        target = encode_boxes(batch.boxes.to(params.dtype), size)
        loss = multitask_loss(logits, params, batch.targets, target, alpha=self.alpha, regression=self.regression)
        ctx.log("loss", loss.total)
        ctx.log("class_loss", loss.classification)
        ctx.log("box_loss", loss.regression)
        pred_boxes = decode_boxes(params.detach(), size)
        labels = logits.detach().argmax(dim=1)
        self.update_metrics(ctx, pred_boxes, labels, batch.boxes, batch.targets, names=("localization",))
        self.update_metrics(ctx, logits.detach(), batch.targets, names=("accuracy",))
        return loss.total

    def predict_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        logits, params = self._outputs(batch.inputs)
        return {"probs": logits.softmax(dim=1), "boxes": decode_boxes(params, tuple(batch.inputs.shape[-2:]))}

    # ---- an2dl predict
    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Class and box of each image file; writes the image with its box drawn (``<name>.box.png``).

        Each image is prepared by the model's recorded pipeline (as for a
        classifier: channels and the training resize), the box predicted at
        the model's input size and scaled back to the file's pixels.
        ``--out`` puts the drawings in a folder; ``--invert``, ``--clip`` and ``--max-pixels`` apply as
        for classifiers.

        Returns:
            One line per image, ``"<input>: <class> (<p>), box (x1, y1, x2, y2) = (...) -> <drawing>"``;
            ``values`` holds ``(input, class name, probability, box [4] in the file's pixels)``.
        """
        from ..data.images import DEFAULT_MAX_PIXELS, read_image, save_image
        from ..data.inputs import derived_paths
        from .predictors import _image_batch, _input_shape, input_options

        options.refuse_unused(cls.kind, ("out", *input_options(meta)))
        if not inputs:
            raise ConfigError(f"predict with the localization model of {options.source} needs image files (PNG/JPEG)")
        shape = _input_shape(meta, options, image=True)
        x, warnings = _image_batch(model, meta, inputs, options, shape)
        names = [str(n) for n in meta.get("class_names") or []]
        device = next(model.parameters()).device
        with torch.no_grad():
            logits, params = model(x.to(device))
        probs = logits.float().softmax(dim=1).cpu()
        boxes = decode_boxes(params.float().cpu(), shape[-2:])
        max_pixels = DEFAULT_MAX_PIXELS if options.max_pixels is None else options.max_pixels
        out = Prediction()
        out.warnings += warnings
        for i, (src, drawing) in enumerate(zip(inputs, derived_paths(inputs, ".box.png", options.out))):
            p, k = probs[i].max(dim=0)
            label = names[int(k)] if len(names) == probs.shape[1] else str(int(k))
            if Path(src).suffix.lower() == ".npy":
                image = x[i].cpu()
            else:
                image = read_image(src, max_pixels=max_pixels)
            h, w = image.shape[-2:]
            scale = torch.tensor([w / shape[2], h / shape[1], w / shape[2], h / shape[1]])
            box = boxes[i] * scale
            save_image(drawing, draw_box(image, box))
            out.files.append(drawing)
            out.values.append((src, label, float(p), box))
            coords = ", ".join(f"{v:.1f}" for v in box.tolist())
            out.lines.append(f"{src}: {label} ({float(p):.4f}), box (x1, y1, x2, y2) = ({coords}) -> {drawing}")
        return out


def draw_box(image: torch.Tensor, box: torch.Tensor, *, color: Sequence[float] = (1.0, 0.1, 0.1),
             width: int = 1) -> torch.Tensor:
    """``image`` as RGB with the outline of ``box`` drawn in ``color`` (clipped to the image).

    Args:
        image: ``[C, H, W]`` in [0, 1] (C = 1 or 3).
        box: ``(x1, y1, x2, y2)`` in pixels (continuous coordinates: the image covers ``[0, W] × [0, H]``).
        color: RGB in [0, 1].
        width: line width in pixels.

    Returns:
        ``[3, H, W]`` float32.
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        got = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise DataError(f"draw_box image must be [C, H, W] with C = 1 or 3; got {got}")
    rgb = image.float().expand(3, -1, -1).clone() if image.shape[0] == 1 else image.float().clone()
    h, w = rgb.shape[-2:]
    x1, y1, x2, y2 = box.tolist()
    c1 = min(max(int(x1), 0), w - 1)
    r1 = min(max(int(y1), 0), h - 1)
    c2 = min(max(int(x2 - 1e-6), c1), w - 1)
    r2 = min(max(int(y2 - 1e-6), r1), h - 1)
    paint = torch.tensor(color, dtype=rgb.dtype).view(3, 1, 1)
    t = max(1, int(width))
    rgb[:, r1:min(r1 + t, r2 + 1), c1:c2 + 1] = paint
    rgb[:, max(r2 - t + 1, r1):r2 + 1, c1:c2 + 1] = paint
    rgb[:, r1:r2 + 1, c1:min(c1 + t, c2 + 1)] = paint
    rgb[:, r1:r2 + 1, max(c2 - t + 1, c1):c2 + 1] = paint
    return rgb
