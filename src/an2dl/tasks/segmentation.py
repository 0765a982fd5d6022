"""Semantic segmentation: a class per pixel, trained with pixel-wise losses (notes §3.5.1).

:class:`SegmentationTask` trains any network that maps ``[B, C, H, W]``
images to ``[B, K, H', W']`` class scores (U-Net, FCN, encoder–decoder, a
convolutionalised classifier) on batches with a dense ``mask``.  Its loss
is the pixel-wise cross-entropy over the region of interest (pixels whose
label is not the ignore index), optionally

* **class-weighted** from the label frequencies (notes §3.5.1.3: full-image
  training cannot resample, so it weights the loss);
* with the **U-Net border weights** ``w0 · exp(−(d1 + d2)² / 2σ²)``,
  computed from each training mask (Ronneberger et al. 2015);
* with **random masking** of square regions of the loss at each training
  step, which gives full-image training back some of the randomness of
  patch sampling (the notes' "random masking"; Long et al. 2015's loss sampling);
* plus a weighted **Dice loss**.

A network whose output is smaller than its input (the U-Net with unpadded
convolutions) is compared with the centre of the mask in training; validation,
test and prediction score every pixel of the whole image (overlap-tile
prediction with mirrored borders, :func:`~an2dl.models.segmentation.segment`).  Metrics per split:
``loss``, ``pixel_accuracy``, ``mean_iou``, ``dice`` (mean over classes) and
``iou_<class>`` for each class; at validation and test also the per-class
IoU vector and the confusion matrix (``trainer.eval_artifacts``).

``an2dl predict`` on a segmentation model writes, for each image, the mask
as a palette PNG (``<name>.mask.png``, class ids as palette indices) and an
overlay of the classes on the image (``<name>.overlay.png``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batch import Batch, BatchError, check_dense_mask
from ..engine.metrics import metric
from ..engine.optim import OptimizerSpec
from ..engine.prediction import Prediction, PredictOptions
from ..engine.task import StepContext, Task, call_model
from ..errors import ConfigError, DataError
from ..losses.segmentation import dice_loss, pixel_cross_entropy, unet_weight_map
from ..models.segmentation import center_crop, segment

__all__ = ["SegmentationTask", "BorderWeights"]


@dataclasses.dataclass(frozen=True)
class BorderWeights:
    """The border term of the U-Net weight map, ``w0 · exp(−(d1 + d2)² / 2σ²)`` (Ronneberger et al. 2015, eq. 2).

    Attributes:
        w0: weight at a border between touching objects (10 in the paper).
        sigma: width of the border region in pixels (about 5 in the paper).
        object_classes: classes whose connected regions are the objects (cells).
    """

    w0: float = 10.0
    sigma: float = 5.0
    object_classes: tuple[int, ...] = (1,)


class SegmentationTask(Task):
    """Pixel-wise classification: ``inputs [B, C, H, W]`` and ``mask [B, H, W]`` of class ids (notes §3.5.1).

    Args:
        model: maps ``[B, C, H, W]`` to logits ``[B, K, H', W']`` with ``H' <= H`` (centred).
        num_classes: K.
        class_names: one name per class (default ``"0"``, ``"1"``, …), used to name ``iou_<class>``.
        ignore_index: mask value outside the region of interest (left out of the loss and metrics), or ``None``.
        class_weights: ``[K]`` class weights of the cross-entropy (e.g.
            :func:`~an2dl.losses.class_weights_from_frequencies`), or ``None``.
        border_weights: :class:`BorderWeights` of the U-Net weight map for training steps, or ``None``.
        random_mask: fraction of the ``mask_block × mask_block`` regions left out of each training
            step's loss (0: none).
        mask_block: side of those regions in pixels.
        dice_weight: weight of the Dice loss added to the cross-entropy (0: none).
        optimizer: :class:`OptimizerSpec` (default SGD, lr 0.01).
        augment: training-time transform moving ``mask`` with the pixels (an an2dl Transform).
        compute_train_metrics: compute the pixel metrics on training batches too.

    Shape:
        batch ``(inputs, mask)`` or ``{"inputs", "mask"}``; ``predict_step``
        returns class probabilities ``[B, K, H', W']``.
    """

    kind = "segmentation"
    batch_fields = ("inputs", "mask")
    required_fields = ("inputs", "mask")
    augment_fields = {"mask": "mask"}

    def __init__(self, model: nn.Module, *, num_classes: int, class_names: Sequence[str] | None = None,
                 ignore_index: int | None = None, class_weights: torch.Tensor | Sequence[float] | None = None,
                 border_weights: BorderWeights | None = None, random_mask: float = 0.0, mask_block: int = 16,
                 dice_weight: float = 0.0, optimizer: OptimizerSpec | None = None, augment: nn.Module | None = None,
                 compute_train_metrics: bool = True) -> None:
        super().__init__(optimizer, augment=augment)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"SegmentationTask num_classes must be an integer >= 2; got {num_classes!r}")
        names = [str(n) for n in class_names] if class_names else [str(k) for k in range(num_classes)]
        if len(names) != num_classes:
            raise ConfigError(f"SegmentationTask class_names must name the {num_classes} classes; got {len(names)} names")
        if ignore_index is not None and 0 <= ignore_index < num_classes:
            raise ConfigError(f"SegmentationTask ignore_index must not be a class id in [0, {num_classes}); "
                              f"got {ignore_index}")
        if not 0 <= random_mask < 1:
            raise ConfigError(f"SegmentationTask random_mask must be a fraction in [0, 1); got {random_mask!r}")
        if isinstance(mask_block, bool) or not isinstance(mask_block, int) or mask_block < 1:
            raise ConfigError(f"SegmentationTask mask_block must be a positive integer; got {mask_block!r}")
        if dice_weight < 0:
            raise ConfigError(f"SegmentationTask dice_weight must be >= 0; got {dice_weight!r}")
        if border_weights is not None and not isinstance(border_weights, BorderWeights):
            raise ConfigError(f"SegmentationTask border_weights must be a BorderWeights or None; "
                              f"got {type(border_weights).__name__}")
        self.model = model
        self.num_classes, self.class_names, self.ignore_index = num_classes, names, ignore_index
        if class_weights is not None:
            w = torch.as_tensor(class_weights, dtype=torch.float32).reshape(-1)
            if w.numel() != num_classes or bool((w < 0).any()):
                raise ConfigError(f"SegmentationTask class_weights must be {num_classes} non-negative numbers; "
                                  f"got {w.tolist()}")
            self.register_buffer("class_weights", w)
        else:
            self.class_weights = None
        self.border_weights, self.random_mask, self.mask_block = border_weights, float(random_mask), mask_block
        self.dice_weight = float(dice_weight)
        scored = ("train", "val", "test") if compute_train_metrics else ("val", "test")
        k, ig = num_classes, ignore_index
        self.declare_metrics({
            "pixel_accuracy": metric("pixel_accuracy", num_classes=k, ignore_index=ig, splits=scored),
            "mean_iou": metric("mean_iou", num_classes=k, ignore_index=ig, splits=scored),
            "dice": metric("dice", num_classes=k, ignore_index=ig, splits=scored),
            "class_iou": metric("class_iou", num_classes=k, class_names=names, ignore_index=ig, splits=scored),
            "iou_per_class": metric("iou_per_class", num_classes=k, ignore_index=ig, splits=("val", "test")),
            "confusion_matrix": metric("confusion_matrix", num_classes=k, ignore_index=ig, splits=("val", "test")),
        })

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    # ---- batches
    def check_batch(self, batch: Batch, split: str) -> None:
        """The required fields, and a mask ``[B, H, W]`` of class ids in ``[0, K)`` (or the ignore index) of the images' size."""
        super().check_batch(batch, split)
        if split == "predict" or "mask" not in batch or not isinstance(batch.inputs, torch.Tensor):
            return
        name = type(self).__name__
        check_dense_mask(batch.inputs, batch.mask, name=f"{name} batch.mask")
        ids = batch.mask
        bad = (ids < 0) | (ids >= self.num_classes)
        if self.ignore_index is not None:
            bad &= ids != self.ignore_index
        if bool(bad.any()):
            found = sorted({int(v) for v in ids[bad].unique()[:8]})
            also = f" (or the ignore index {self.ignore_index})" if self.ignore_index is not None else ""
            raise BatchError(f"{name} batch.mask must hold class ids in [0, {self.num_classes}){also}; got {found}, "
                             f"outside the {self.num_classes} declared classes")

    # ---- the loss
    def _targets(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The mask aligned with the logits: cropped at the centre when the output is smaller (unpadded U-Net)."""
        if logits.dim() != 4 or logits.shape[1] != self.num_classes:
            raise ConfigError(f"{type(self).__name__}: the model must return logits [B, {self.num_classes}, H, W]; "
                              f"got {list(logits.shape)}")
        h, w = logits.shape[-2:]
        big_h, big_w = mask.shape[-2:]
        if (h, w) == (big_h, big_w):
            return mask
        if h > big_h or w > big_w or (big_h - h) % 2 or (big_w - w) % 2:
            raise ConfigError(f"{type(self).__name__}: the model's output {h}x{w} cannot be aligned with the "
                              f"{big_h}x{big_w} mask (it must be the mask's size or smaller by an even margin)")
        return center_crop(mask, (h, w))

    def _sampled(self, mask: torch.Tensor) -> torch.Tensor:
        """The mask with a random ``random_mask`` fraction of its square regions set to the ignore value."""
        b, h, w = mask.shape
        s = self.mask_block
        rows, cols = -(-h // s), -(-w // s)
        # drawn on the CPU from the generator the trainer reseeds per step (exact resume, same on every device)
        drop = torch.rand(b, rows, cols) < self.random_mask
        drop = drop.repeat_interleave(s, 1).repeat_interleave(s, 2)[:, :h, :w].to(mask.device)
        return torch.where(drop, torch.full_like(mask, self._ignore_value()), mask)

    def _ignore_value(self) -> int:
        return self.ignore_index if self.ignore_index is not None else -1

    def loss(self, logits: torch.Tensor, mask: torch.Tensor, *, training: bool) -> torch.Tensor:
        """The weighted pixel-wise cross-entropy (plus Dice) of ``logits [B, K, h, w]`` against ``mask [B, h, w]``."""
        pixel_w = None
        if training and self.border_weights is not None:
            bw = self.border_weights
            pixel_w = unet_weight_map(mask, object_classes=bw.object_classes, w0=bw.w0, sigma=bw.sigma)
        target, ignore = mask, self.ignore_index
        if training and self.random_mask > 0:
            target, ignore = self._sampled(mask), self._ignore_value()
        loss = pixel_cross_entropy(logits, target, weight=self.class_weights, pixel_weights=pixel_w, ignore_index=ignore)
        if self.dice_weight > 0:
            loss = loss + self.dice_weight * dice_loss(logits, target, ignore_index=ignore)
        return loss

    def _logits(self, x: torch.Tensor, *, training: bool) -> torch.Tensor:
        """Training: the network on the batch as it is.  Evaluation: the scores of every pixel of the whole
        image (:func:`~an2dl.models.segmentation.segment`: an unpadded U-Net tile by tile with mirrored
        borders, a padded one on the image padded to a size it takes)."""
        if training:
            return call_model(self.model, x, owner=type(self).__name__)
        return segment(self.model, x)

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        logits = self._logits(batch.inputs, training=ctx.training)
        mask = self._targets(logits, batch.mask)
        loss = self.loss(logits, mask, training=ctx.training)
        ctx.log("loss", loss)
        self.update_metrics(ctx, logits.detach(), mask)
        return loss

    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return self._logits(batch.inputs, training=False).softmax(dim=1)

    # ---- an2dl predict
    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Segment image files: write ``<name>.mask.png`` (palette PNG of class ids) and ``<name>.overlay.png``.

        Each image is read at its own size, prepared by the model's recorded
        pipeline (``model.preprocess``: channels, and the training resize if
        there was one) and segmented whole: a U-Net by overlap-tile
        prediction with mirrored borders (:func:`~an2dl.models.segmentation.segment`),
        a network of any input size directly.  Scores computed at another size
        than the file's are resized (bilinear) to it, so the mask has the
        file's size.  ``--out`` puts the files in a folder; ``--invert`` and
        ``--max-pixels`` apply as for classifiers.

        Returns:
            One line per image, ``"<input>: <mask file>, <overlay file> (<class> <share> %, ...)"``;
            ``values`` holds ``(input, mask [H, W] int64)``.
        """
        from ..data.images import DEFAULT_MAX_PIXELS, read_image, save_image
        from ..data.inputs import derived_path, derived_paths, invert_image
        from ..data.masks import overlay_mask, save_mask
        from ..data.preprocess import Preprocess

        options.refuse_unused(cls.kind, ("out", "invert", "max_pixels"))
        if not inputs:
            raise ConfigError(f"predict with the segmentation model of {options.source} needs image files (PNG/JPEG)")
        pre = getattr(model, "preprocess", None)
        if not isinstance(pre, Preprocess):
            pre = Preprocess.for_metadata(meta) if "pipeline" in (meta.get("preprocessing") or {}) else None
        channels = pre.channels if pre is not None and pre.channels else int(getattr(model, "in_channels", 1))
        names = [str(n) for n in meta.get("class_names") or []]
        max_pixels = DEFAULT_MAX_PIXELS if options.max_pixels is None else options.max_pixels
        device = next(model.parameters()).device
        out = Prediction()
        for src, mask_path in zip(inputs, derived_paths(inputs, ".mask.png", options.out)):
            overlay_path = derived_path(src, ".overlay.png", options.out)
            image = read_image(src, channels=channels, max_pixels=max_pixels)
            if options.invert:
                image = invert_image(image)
            x = pre(image, source=str(src)) if pre is not None else image
            if x.dim() != 3:
                raise DataError(f"{src}: a segmentation model reads images [C, H, W]; its pipeline made {list(x.shape)}")
            with torch.no_grad():
                logits = segment(model, x.unsqueeze(0).to(device)).float().cpu()
            if tuple(logits.shape[-2:]) != tuple(image.shape[-2:]):
                logits = F.interpolate(logits, size=tuple(image.shape[-2:]), mode="bilinear", align_corners=False)
            mask = logits[0].argmax(dim=0)
            k = logits.shape[1]
            labels = names if len(names) == k else [str(i) for i in range(k)]
            save_mask(mask_path, mask)
            save_image(overlay_path, overlay_mask(image, mask))
            shares = torch.bincount(mask.reshape(-1), minlength=k).double() / mask.numel()
            out.files += [mask_path, overlay_path]
            out.values.append((src, mask))
            summary = ", ".join(f"{n} {100 * float(s):.1f} %" for n, s in zip(labels, shares))
            out.lines.append(f"{src}: {mask_path}, {overlay_path} ({summary})")
        return out

