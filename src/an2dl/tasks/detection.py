"""Object detection: a set of labelled boxes per image, judged by the COCO mean average precision (notes §3.5.4).

The notes' detection task maps an image to the boxes and labels of its
objects, ``I -> {(x, y, h, w, l)_1, ..., (x, y, h, w, l)_n}`` (§3.5.4), and
judges a detector by how its detections match the annotations through the
Intersection over Union (§3.5.4.2).  :class:`DetectionTask` trains any model
that keeps **torchvision's detection contract**:

* ``model(images, targets)`` in training mode, ``images`` ``[B, 3, H, W]``
  (or a list of ``[3, H, W]``) and ``targets`` a list of dicts with ``boxes``
  float ``[N, 4]`` ``(x1, y1, x2, y2)`` pixels and ``labels`` int64 ``[N]``
  in ``1..C`` (N may be 0), returns a dict of scalar, already-weighted loss
  terms (Faster R-CNN: ``loss_objectness``, ``loss_rpn_box_reg``,
  ``loss_classifier``, ``loss_box_reg``; YOLO: ``loss_coord``, ``loss_obj``,
  ``loss_noobj``, ``loss_class``);
* ``model(images)`` in evaluation mode returns one dict per image with
  ``boxes`` float ``[K, 4]`` (pixels), ``labels`` int64 ``[K]`` in ``1..C``
  and ``scores`` float ``[K]``;
* ``model.num_classes`` is ``C + 1`` (the background, label 0, included).

**Training step**: the loss is the sum of the model's loss terms; each term
is logged under its own name (``train/loss_classifier``, ...) and the sum as
``train/loss``.  **Validation and test steps** run the model in evaluation
mode (the trainer switches it) and update the COCO mean average precision of
:mod:`an2dl.engine.detection_metrics` (registered here as ``detection_map``),
logged as ``val/…`` and ``test/…``:

=================  ================================================================
``map``            mAP@[.5:.95]: AP averaged over the IoU thresholds 0.50:0.05:0.95 and the classes
``map_50``         mAP at IoU 0.5 (PASCAL VOC's measure)
``map_75``         mAP at IoU 0.75
``map_small`` …    ``map_medium``, ``map_large``: COCO's area ranges (``-1`` where a range is empty)
``mar_1`` …        ``mar_10``, ``mar_100``, ``mar_small``, ``mar_medium``, ``mar_large``: mean recall
``detections``     detections per image (the model's output, before any score threshold)
=================  ================================================================

and the artifact ``pr_curve_50`` (``trainer.eval_artifacts["test/pr_curve_50"]``),
float ``[C, 101]``: row ``k − 1`` is the interpolated precision of class
``k`` at the recall levels ``0, 0.01, ..., 1`` at IoU 0.5 (``-1`` where the
class has no ground truth); its row means are the per-class AP@0.5, and
:func:`an2dl.report.detection.plot_pr_curves` draws it.  No validation loss is
logged (a torchvision-style model computes losses only in training mode), so
recipes monitor ``val/map`` (``mode="max"``) for checkpoints and early stopping.

**For recipes** (the interface the detectors use)::

    data = get_dataset("shapes-detection", seed=0)
    model = get_model("<detector>", num_classes=data.train.num_classes)   # 4 = C + 1
    task = DetectionTask(model, optimizer=OptimizerSpec("adam", lr=1e-3),
                         class_names=data.train.class_names)             # with or without "background"
    trainer.fit(task, data.train, data.val)     # batches: Batch(inputs=[B, 3, H, W], targets=[dict, ...])
    # recipe settings: CheckpointConfig(monitor="val/map", mode="max") (there is no val/loss); in the
    # recipe's figures(result): an2dl.recipes.figures.detection_figures(result) draws the test split's PR
    # curves (from pr_curve_50) and test images with their true and found boxes

**Instance masks** (Mask R-CNN, notes §3.5.5.1; ``DetectionTask(masks=True)``, the default for a
model whose ``needs_masks`` is true): targets also carry ``masks`` ``[N, H, W]`` (0/1), detections
``masks`` ``[K, 1, H, W]`` (probabilities), and validation and test also log the COCO mask AP under
``segm_map``, ``segm_map_50``, ``segm_map_75``, ``segm_map_small`` … ``segm_mar_large``
(:class:`~an2dl.engine.detection_metrics.MeanAveragePrecision` with ``iou_type="segm"``); ``an2dl
predict`` tints each shown detection's mask in its class colour.

``an2dl predict RUN_DIR image.png`` on an exported detection model prints
each image's detections with a score of at least 0.5 (``--top N``: the N
best whatever their score) — class name, score and box in pixels of the
file — and writes ``<name>.boxes.png`` with the labelled boxes drawn
(:func:`draw_detections`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.batch import Batch, BatchError, check_image_targets
from ..engine.metrics import metric, metric_names, register_metric
from ..engine.optim import OptimizerSpec
from ..engine.prediction import Prediction, PredictOptions
from ..engine.task import StepContext, Task, call_model
from ..errors import ConfigError, DataError
from .localization import draw_box

__all__ = ["DetectionTask", "draw_detections", "detection_class_names", "DEFAULT_SCORE_THRESHOLD",
           "DETECTION_LOG_KEYS"]

#: ``an2dl predict`` shows the detections scored at least this (unless ``--top`` is given)
DEFAULT_SCORE_THRESHOLD = 0.5
#: the scalar metrics every validation and test of a detection task logs (prefixed ``val/`` / ``test/``)
DETECTION_LOG_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10",
                      "mar_100", "mar_small", "mar_medium", "mar_large", "detections")
_BACKGROUND = ("background", "_background_", "__background__")
#: box colours of the classes 1, 2, ... (cycled)
_PALETTE = ((0.95, 0.25, 0.2), (0.2, 0.8, 0.3), (0.25, 0.5, 1.0), (1.0, 0.8, 0.1), (0.9, 0.3, 0.9), (0.1, 0.85, 0.9))


def detection_class_names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    """The names of labels ``0..num_classes - 1``, label 0 the background.

    ``class_names`` may include the background (``("background", "circle", ...)``, a
    :class:`~an2dl.data.datasets.detection_files.DetectionDataset`'s ``class_names``) or leave it out
    (``["circle", ...]``, a :class:`~an2dl.data.DetectionInfo`'s); ``None`` numbers the classes.

    Raises:
        ConfigError: names that do not fit ``num_classes``.
    """
    if class_names is None:
        return ["background", *(str(k) for k in range(1, num_classes))]
    names = [str(n) for n in class_names]
    if names and names[0] not in _BACKGROUND:
        names = ["background", *names]
    if len(names) != num_classes:
        raise ConfigError(f"class_names must name the {num_classes - 1} object classes of a model with "
                          f"num_classes={num_classes} (background included); got {list(class_names)}")
    return names


# ---------------------------------------------------------------------------------------------- the metric
@functools.cache
def _detection_map_class() -> type:
    # the engine's metric imports torchmetrics, which costs a second: built on first use
    from ..engine.detection_metrics import MeanAveragePrecision

    class DetectionMAP(MeanAveragePrecision):
        """The COCO summary with the per-class PR curves at IoU 0.5 laid out by label (``pr_curve_50``)."""

        def __init__(self, *, num_classes: int) -> None:
            super().__init__(curves=True)
            self.num_classes = int(num_classes)

        def compute(self) -> dict[str, torch.Tensor]:
            out = super().compute()
            classes = out.pop("classes").reshape(-1)
            out.pop("map_per_class")
            out.pop(f"mar_{self.max_detection_thresholds[-1]}_per_class")
            precision = out.pop("pr_precision")  # (T, 101, K), K = the classes seen
            curve = torch.full((self.num_classes - 1, precision.shape[1]), -1.0)
            (at_50,) = [i for i, t in enumerate(self.iou_thresholds) if abs(t - 0.5) < 1e-9]
            for j, c in enumerate(classes.tolist()):
                if 1 <= c < self.num_classes:
                    curve[c - 1] = precision[at_50, :, j]
            out["pr_curve_50"] = curve
            return out

    return DetectionMAP


def _detection_map(*, num_classes: int) -> Any:
    """COCO mAP of a detection task (``map``, ``map_50``, ``map_75``, ...) plus ``pr_curve_50`` ``[C, 101]``."""
    return _detection_map_class()(num_classes=num_classes)


@functools.cache
def _segm_map_class() -> type:
    from ..engine.detection_metrics import MeanAveragePrecision

    class SegmentationMAP(MeanAveragePrecision):
        """COCO mask AP (``iou_type="segm"``), its scalar results named ``segm_<key>``."""

        def __init__(self) -> None:
            super().__init__(iou_type="segm")

        def compute(self) -> dict[str, torch.Tensor]:
            out = super().compute()
            return {f"segm_{k}": v for k, v in out.items() if k in DETECTION_LOG_KEYS}

    return SegmentationMAP


def _segm_map() -> Any:
    """COCO mask AP of an instance-segmentation task: ``segm_map``, ``segm_map_50``, ... (the masks' IoU)."""
    return _segm_map_class()()


if "detection_map" not in metric_names():
    register_metric("detection_map")(_detection_map)
if "detection_segm_map" not in metric_names():
    register_metric("detection_segm_map")(_segm_map)


# ---------------------------------------------------------------------------------------------- the task
class DetectionTask(Task):
    """Train and evaluate a detector that keeps torchvision's contract (module docstring; notes §3.5.4).

    Args:
        model: the detector; it must have an int ``num_classes`` (C + 1, background included).
        optimizer: :class:`OptimizerSpec` (default: the engine's default).
        class_names: the names of the classes, with or without a leading ``"background"``
            (default: numbered); recorded with the exported model for ``an2dl predict``.
        augment: a training-time an2dl Transform; it moves each image's boxes, labels and masks
            with the pixels (a box pushed out of the image is dropped with its object).
        masks: instance segmentation (Mask R-CNN, notes §3.5.5.1): targets carry ``masks`` ``[N, H, W]``,
            detections ``masks`` ``[K, 1, H, W]`` (probabilities), and validation/test also log the mask
            AP as ``segm_map``, ``segm_map_50``, ... (:class:`~an2dl.engine.detection_metrics.MeanAveragePrecision`
            with ``iou_type="segm"``).  Default: the model's ``needs_masks`` attribute.

    Shape:
        batch ``Batch(inputs=[B, 3, H, W] or a list of [3, H, W], targets=[{boxes [N, 4], labels [N], ...}])``
        (:func:`~an2dl.data.batch.collate_images`); ``predict_step`` returns the model's list of
        ``{boxes [K, 4], labels [K], scores [K]}``.
    """

    kind = "detection"
    batch_fields = ("inputs", "targets")
    required_fields = ("inputs", "targets")
    augment_fields = {"targets": "instances"}

    def __init__(self, model: nn.Module, *, optimizer: OptimizerSpec | None = None,
                 class_names: Sequence[str] | None = None, augment: nn.Module | None = None,
                 masks: bool | None = None) -> None:
        super().__init__(optimizer, augment=augment)
        name = type(self).__name__
        if not isinstance(model, nn.Module):
            raise ConfigError(f"{name} model must be an nn.Module detector; got {type(model).__name__}")
        num_classes = getattr(model, "num_classes", None)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"{name} needs a model with an int attribute num_classes >= 2 (the object classes "
                              f"plus the background, torchvision's convention); {type(model).__name__} has "
                              f"num_classes={num_classes!r}")
        self.model = model
        self.num_classes = num_classes
        self.class_names = detection_class_names(class_names, num_classes)
        self.masks = bool(getattr(model, "needs_masks", False)) if masks is None else bool(masks)
        declared = {"map": metric("detection_map", num_classes=num_classes, splits=("val", "test"))}
        if self.masks:
            declared["segm"] = metric("detection_segm_map", splits=("val", "test"))
        self.declare_metrics(declared)

    def forward(self, images: Any, targets: Any = None) -> Any:
        return self.model(images) if targets is None else self.model(images, targets)

    # ---- batches
    def check_batch(self, batch: Batch, split: str) -> None:
        """Images ``[B, 3, H, W]`` (or a list); one target dict per image with boxes inside it and labels in 1..C."""
        super().check_batch(batch, split)
        name = type(self).__name__
        x = batch.inputs
        if isinstance(x, torch.Tensor):
            if x.dim() != 4:
                raise BatchError(f"{name} batch.inputs must be images [B, C, H, W] or a list of [C, H, W]; "
                                 f"got {list(x.shape)}")
        elif not isinstance(x, (list, tuple)) or not x:
            raise BatchError(f"{name} batch.inputs must be images [B, C, H, W] or a non-empty list of [C, H, W]; "
                             f"got {type(x).__name__}")
        if split == "predict":
            return
        targets = batch.targets
        try:
            check_image_targets(x, targets, name=f"{name} batch.targets")
        except (TypeError, ValueError) as e:
            raise BatchError(str(e)) from None
        for i, t in enumerate(targets):
            if "boxes" not in t or "labels" not in t:
                raise BatchError(f"{name} batch.targets[{i}] needs 'boxes' [N, 4] and 'labels' [N]; it has "
                                 f"{sorted(t)}")
            if not self._object_labels(t["labels"]):
                raise BatchError(f"{name} batch.targets[{i}]['labels'] must lie in 1..{self.num_classes - 1} (0 is "
                                 f"the background); got {t['labels'].tolist()}")
            if self.masks and "masks" not in t:
                raise BatchError(f"{name} batch.targets[{i}] needs 'masks' [N, H, W] (instance segmentation); it "
                                 f"has {sorted(t)}")

    def _object_labels(self, labels: torch.Tensor) -> bool:
        """Whether every label is an object class, ``1..num_classes - 1``."""
        return not labels.numel() or bool(((labels >= 1) & (labels < self.num_classes)).all())

    # ---- steps
    def _loss_terms(self, losses: Any) -> dict[str, torch.Tensor]:
        name = type(self).__name__
        if not isinstance(losses, Mapping) or not losses:
            raise ConfigError(f"{name}: in training mode the model must return a non-empty dict of loss terms "
                              f"(torchvision's contract); got {type(losses).__name__}")
        for key, v in losses.items():
            if not isinstance(v, torch.Tensor) or v.numel() != 1:
                got = list(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                raise ConfigError(f"{name}: the loss term {key!r} must be a scalar tensor; got {got}")
        return dict(losses)

    def training_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        """The sum of the model's loss terms; each term is logged by name and the sum as ``loss``."""
        losses = self._loss_terms(call_model(self.model, batch.inputs, list(batch.targets), owner=type(self).__name__))
        total = sum(v.reshape(()) for v in losses.values())
        for key, v in losses.items():
            ctx.log(key, v.detach())
        ctx.log("loss", total.detach())
        return total

    def _detections(self, images: Any) -> list[dict[str, torch.Tensor]]:
        name = type(self).__name__
        out = call_model(self.model, images, owner=name)
        n = len(images)
        if not isinstance(out, (list, tuple)) or len(out) != n:
            got = f"a list of {len(out)}" if isinstance(out, (list, tuple)) else type(out).__name__
            raise ConfigError(f"{name}: in evaluation mode the model must return one dict per image ({n}); got {got}")
        for i, d in enumerate(out):
            if not isinstance(d, Mapping) or any(k not in d for k in ("boxes", "labels", "scores")):
                raise ConfigError(f"{name}: detections[{i}] must be a dict with 'boxes', 'labels' and 'scores'; got "
                                  f"{sorted(d) if isinstance(d, Mapping) else type(d).__name__}")
            if not self._object_labels(d["labels"]):
                raise ConfigError(f"{name}: detections[{i}]['labels'] must lie in 1..{self.num_classes - 1}; got "
                                  f"{d['labels'].tolist()[:10]}")
        return list(out)

    def validation_step(self, batch: Batch, ctx: StepContext) -> None:
        """Detect (the model is in evaluation mode) and update the split's mean average precision."""
        detections = self._detections(batch.inputs)
        preds = [{"boxes": d["boxes"].detach(), "scores": d["scores"].detach(), "labels": d["labels"].detach()}
                 for d in detections]
        truth = [{k: t[k] for k in ("boxes", "labels", "iscrowd", "area") if k in t} for t in batch.targets]
        self.update_metrics(ctx, preds, truth, names=("map",))
        if self.masks:
            if any("masks" not in d for d in detections):
                raise ConfigError(f"{type(self).__name__} with masks=True needs detections with 'masks' "
                                  f"[K, 1, H, W]; got keys {sorted(detections[0])}")
            for p, d in zip(preds, detections):
                p["masks"] = d["masks"].detach()
            truth = [{k: t[k] for k in ("boxes", "labels", "iscrowd", "masks") if k in t} for t in batch.targets]
            self.update_metrics(ctx, preds, truth, names=("segm",))
        ctx.log("detections", sum(len(d["scores"]) for d in detections) / max(1, len(detections)))

    def predict_step(self, batch: Batch, ctx: StepContext) -> list[dict[str, torch.Tensor]]:
        """The model's detections, one dict per image."""
        return self._detections(batch.inputs)

    # ---- an2dl predict
    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Detect the objects of image files; print them and write ``<name>.boxes.png`` with the boxes drawn.

        Each image is prepared by the model's recorded pipeline (channels and the training size), the
        detections are made at the model's input size and scaled back to the file's pixels.  Shown (printed
        and drawn): the detections scored at least :data:`DEFAULT_SCORE_THRESHOLD`, or with ``--top N`` the N
        best.  ``--out`` puts the drawings in a folder; ``--invert``, ``--clip`` and ``--max-pixels`` apply as
        for classifiers.

        Returns:
            Per image a line ``"<input>: <n> objects -> <drawing>"`` and one line per detection,
            ``"  <class> <score> (x1, y1, x2, y2) = (...)"``; ``values`` holds ``(input, [(class name, score,
            box [4] in the file's pixels), ...])``.
        """
        from ..data.images import DEFAULT_MAX_PIXELS, read_image, save_image
        from ..data.inputs import derived_paths
        from .predictors import _image_batch, _input_shape, input_options

        options.refuse_unused(cls.kind, ("out", "top", *input_options(meta)))
        if not inputs:
            raise ConfigError(f"predict with the detection model of {options.source} needs image files (PNG/JPEG)")
        shape = _input_shape(meta, options, image=True)
        x, warnings = _image_batch(model, meta, inputs, options, shape)
        # model.json records the class names as the recipe gave them, with or without the background
        num_classes = int(getattr(model, "num_classes", 0)) or len(meta.get("class_names") or [])
        try:
            names = detection_class_names(meta.get("class_names") or None, num_classes)
        except ConfigError:
            names = detection_class_names(None, num_classes)
        device = next(model.parameters()).device
        model.eval()
        with torch.no_grad():
            detections = model(x.to(device))
        max_pixels = DEFAULT_MAX_PIXELS if options.max_pixels is None else options.max_pixels
        out = Prediction()
        out.warnings += warnings
        for i, (src, drawing) in enumerate(zip(inputs, derived_paths(inputs, ".boxes.png", options.out))):
            d = detections[i]
            scores, order = d["scores"].float().cpu().sort(descending=True)
            boxes, labels = d["boxes"].float().cpu()[order], d["labels"].cpu()[order]
            keep = torch.arange(len(scores)) < options.top if options.top else scores >= DEFAULT_SCORE_THRESHOLD
            scores, boxes, labels = scores[keep], boxes[keep], labels[keep]
            image = x[i].cpu() if Path(src).suffix.lower() == ".npy" else read_image(src, max_pixels=max_pixels)
            h, w = image.shape[-2:]
            boxes = boxes * torch.tensor([w / shape[2], h / shape[1], w / shape[2], h / shape[1]])
            masks = None
            if "masks" in d:  # instance masks at the model's input size, resampled to the file's pixels
                chosen = d["masks"].float().cpu()[order][keep].reshape(-1, 1, *d["masks"].shape[-2:])
                masks = torch.nn.functional.interpolate(chosen, size=(h, w), mode="bilinear",
                                                        align_corners=False)[:, 0] if len(chosen) else None
            save_image(drawing, draw_detections(image, boxes, labels, scores, class_names=names, masks=masks))
            out.files.append(drawing)
            found = [(names[int(k)] if 0 <= int(k) < len(names) else str(int(k)), float(s), b)
                     for k, s, b in zip(labels.tolist(), scores.tolist(), boxes)]
            out.values.append((src, found))
            out.lines.append(f"{src}: {len(found)} object{'s' if len(found) != 1 else ''} -> {drawing}")
            for label, score, box in found:
                coords = ", ".join(f"{v:.1f}" for v in box.tolist())
                out.lines.append(f"  {label} {score:.3f} (x1, y1, x2, y2) = ({coords})")
        return out


# ---------------------------------------------------------------------------------------------- drawing
def draw_detections(image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor,
                    scores: torch.Tensor | None = None, *, class_names: Sequence[str] | None = None,
                    min_side: int = 256, width: int | None = None, masks: torch.Tensor | None = None) -> torch.Tensor:
    """``image`` as RGB with each box outlined in its class's colour and captioned ``"<class> <score>"``.

    With ``masks`` (``[K, H, W]`` probabilities or binary, Mask R-CNN's instances) each
    detection's pixels ``>= 0.5`` are first tinted with its class's colour (half opacity).

    Images whose longer side is below ``min_side`` are first enlarged by an
    integer factor (nearest neighbour, boxes scaled alike), so that the
    captions stay readable on small inputs such as the 64-pixel shapes.

    Args:
        image: ``[C, H, W]`` in [0, 1] (C = 1 or 3).
        boxes: ``[K, 4]`` ``(x1, y1, x2, y2)`` in pixels of ``image``.
        labels: ``[K]`` class ids (label ``k`` is ``class_names[k]``).
        scores: ``[K]`` or ``None`` (captions without scores, e.g. the ground truth).
        class_names: names of the labels (default: the numbers).
        min_side: enlarge smaller images up to at least this longer side.
        width: line width in pixels of the drawing (default: 1 per 128 pixels, at least 1).

    Returns:
        ``[3, H', W']`` float32 (``H' = f H``, ``W' = f W`` with the enlargement ``f >= 1``).

    Raises:
        DataError: an image that is not ``[C, H, W]`` with C = 1 or 3, or boxes/labels/scores that disagree.
    """
    from PIL import Image, ImageDraw

    from ..data.images import to_uint8

    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        got = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise DataError(f"draw_detections image must be [C, H, W] with C = 1 or 3; got {got}")
    boxes = boxes.detach().float().cpu().reshape(-1, 4)
    labels = labels.detach().cpu().reshape(-1)
    if len(labels) != len(boxes) or (scores is not None and scores.numel() != len(boxes)):
        raise DataError(f"draw_detections needs one label (and score) per box; got {len(boxes)} boxes, "
                        f"{len(labels)} labels, {None if scores is None else scores.numel()} scores")
    h, w = image.shape[-2:]
    factor = max(1, -(-int(min_side) // max(h, w)))
    rgb = image.detach().float().cpu().expand(3, -1, -1) if image.shape[0] == 1 else image.detach().float().cpu()
    if masks is not None:
        masks = masks.detach().float().cpu().reshape(-1, h, w) if masks.numel() == len(boxes) * h * w else masks
        if masks.shape != (len(boxes), h, w):
            raise DataError(f"draw_detections masks must be [{len(boxes)}, {h}, {w}] (one per box, the image's "
                            f"size); got {list(masks.shape)}")
        rgb = rgb.clone()
        for mask, label in zip(masks, labels.tolist()):
            colour = torch.tensor(_PALETTE[(int(label) - 1) % len(_PALETTE)])[:, None]
            on = mask >= 0.5
            rgb[:, on] = 0.5 * rgb[:, on] + 0.5 * colour
    if factor > 1:
        rgb = rgb.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
        boxes = boxes * factor
    line = width if width is not None else max(1, max(rgb.shape[-2:]) // 128)
    for box, label in zip(boxes, labels.tolist()):
        rgb = draw_box(rgb, box, color=_PALETTE[(int(label) - 1) % len(_PALETTE)], width=line)
    pil = Image.fromarray(to_uint8(rgb))
    pen = ImageDraw.Draw(pil)
    for i, (box, label) in enumerate(zip(boxes.tolist(), labels.tolist())):
        name = class_names[int(label)] if class_names is not None and 0 <= int(label) < len(class_names) else str(label)
        text = name if scores is None else f"{name} {float(scores.reshape(-1)[i]):.2f}"
        left, top, right, bottom = pen.textbbox((0, 0), text)
        # inside the box's top-left corner, moved back into the picture where it would leave it
        x = min(max(box[0], 0.0) + line, max(0.0, pil.width - 1 - (right - left)))
        y = min(max(box[1], 0.0) + line, max(0.0, pil.height - 1 - (bottom - top)))
        colour = tuple(int(255 * c) for c in _PALETTE[(int(label) - 1) % len(_PALETTE)])
        pen.rectangle((x + left - 1, y + top - 1, x + right + 1, y + bottom + 1), fill=colour)
        pen.text((x, y), text, fill=(0, 0, 0))
    return torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()
