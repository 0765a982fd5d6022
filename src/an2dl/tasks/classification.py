"""Classification: cross-entropy training, accuracy, top-k and the confusion matrix."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batch import Batch
from ..engine.metrics import metric
from ..engine.optim import OptimizerSpec
from ..engine.prediction import Prediction, PredictOptions
from ..engine.task import StepContext, Task, call_model
from ..errors import ConfigError

__all__ = ["ClassificationTask"]


class ClassificationTask(Task):
    """Train a classifier with a loss on its logits (cross-entropy by default, notes §2.4).

    Logged metrics, per split: ``loss``, ``accuracy`` and ``top{k}_accuracy``
    for each ``k`` in ``top_k``; at validation and test also the confusion
    matrix (``trainer.eval_artifacts["test/confusion_matrix"]``, rows = true class).

    Args:
        model: maps ``[B, ...]`` inputs to ``[B, num_classes]`` logits.
        num_classes: number of classes K.
        loss: ``loss(logits, target) -> scalar``; default ``F.cross_entropy``
            (the negative log-likelihood of the softmax output, notes §2.4).
        optimizer: :class:`OptimizerSpec` (default SGD, lr 0.01).
        top_k: extra top-k accuracies to report (e.g. ``(5,)``).
        compute_train_metrics: compute accuracy on training batches too.
        augment: module applied to training inputs only (e.g.
            :class:`~an2dl.data.transforms.RandomAffine`); kept outside
            ``model`` so that exported models carry no augmentation.  An an2dl
            :class:`~an2dl.data.transforms.Transform` is called with the labels,
            ``x, y = augment(x, y)``, so Mixup and CutMix can turn them into
            soft targets ``[B, K]``; the loss then receives the soft targets
            (``F.cross_entropy`` accepts them) and the accuracy metrics compare
            with their arg-max (the dominant class of each mixed sample).
        aux_weight: weight of auxiliary classifiers' losses when the model
            returns ``(logits, aux_1, ...)`` in training mode (GoogLeNet,
            Inception v3 with ``aux_logits=True``): the loss is
            ``loss(logits) + aux_weight · Σ loss(aux_i)``, 0.3 as in Szegedy et
            al. (2015, §5); metrics use the main logits.

    Shape:
        batch ``(x, y)`` with ``y`` int64 ``[B]`` in ``[0, K)`` (or ``[B, K]``
        probabilities); ``predict_step`` returns softmax probabilities ``[B, K]``.
        Fields: ``inputs`` and ``targets``; tuple batches are ``(inputs, targets)``.
    """

    kind = "classification"
    required_fields = ("inputs", "targets")
    augment_fields = {"targets": "label"}

    def __init__(
        self,
        model: nn.Module,
        *,
        num_classes: int,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        optimizer: OptimizerSpec | None = None,
        top_k: Sequence[int] = (),
        compute_train_metrics: bool = True,
        augment: nn.Module | None = None,
        aux_weight: float = 0.3,
    ) -> None:
        super().__init__(optimizer, augment=augment)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"ClassificationTask num_classes must be an integer >= 2; got {num_classes!r}")
        for k in top_k:
            if not isinstance(k, int) or not 1 < k <= num_classes:
                raise ConfigError(f"top_k values must be integers in (1, num_classes={num_classes}]; got {k!r}")
        self.model = model
        self.num_classes = num_classes
        self.loss_fn = loss if loss is not None else F.cross_entropy
        self.top_k = tuple(top_k)
        self.compute_train_metrics = compute_train_metrics
        self.aux_weight = aux_weight
        scored = ("train", "val", "test") if compute_train_metrics else ("val", "test")
        K = num_classes
        self.declare_metrics({
            "accuracy": metric("accuracy", num_classes=K, splits=scored),
            **{f"top{k}_accuracy": metric("accuracy", num_classes=K, top_k=k, splits=scored) for k in self.top_k},
            "confusion_matrix": metric("confusion_matrix", num_classes=K, splits=("val", "test")),
        })

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def check_batch(self, batch: Batch, split: str) -> None:
        """The required fields, and targets that are class ids ``[B]`` (integers) or soft targets ``[B, K]``."""
        super().check_batch(batch, split)
        if split == "predict" or "targets" not in batch:
            return
        y = batch.targets
        if not isinstance(y, torch.Tensor):
            return
        name = type(self).__name__
        if y.dim() == 1 and (y.is_floating_point() or y.is_complex() or y.dtype == torch.bool):
            raise ConfigError(
                f"{name} targets must be integer class ids in [0, {self.num_classes}) of shape [B] "
                f"(or probabilities of shape [B, {self.num_classes}]); got {str(y.dtype).replace('torch.', '')} "
                f"values of shape {list(y.shape)} (convert them with y.long())"
            )
        if y.dim() == 2 and y.shape[1] != self.num_classes:
            raise ConfigError(
                f"{name} soft targets must have shape [B, num_classes={self.num_classes}]; got {list(y.shape)}"
            )
        if y.dim() == 2 and not y.is_floating_point():
            raise ConfigError(f"{name} targets of shape [B, {self.num_classes}] must be probabilities (float); "
                              f"got {str(y.dtype).replace('torch.', '')}")
        if y.dim() not in (1, 2):
            raise ConfigError(f"{name} targets must have shape [B] (class ids) or [B, {self.num_classes}] "
                              f"(probabilities); got {list(y.shape)}")

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        out = call_model(self.model, batch.inputs, owner=type(self).__name__)
        logits, aux = (out[0], [a for a in out[1:] if a is not None]) if isinstance(out, (tuple, list)) else (out, [])
        return self._score(logits, batch.targets, ctx, aux)

    def _score(self, logits: torch.Tensor, y: torch.Tensor, ctx: StepContext, aux: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """Loss of ``logits`` (plus the weighted auxiliary losses) against ``y``, logged with the split's metrics."""
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"the model must return logits of shape [B, {self.num_classes}]; got {list(logits.shape)}"
            )
        loss = self.loss_fn(logits, y)
        for a in aux:
            loss = loss + self.aux_weight * self.loss_fn(a, y)
        ctx.log("loss", loss)
        self.update_metrics(ctx, logits.detach(), y.argmax(dim=1) if y.dim() == 2 else y)
        return loss

    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return call_model(self.model, batch.inputs, owner=type(self).__name__).softmax(dim=-1)

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Top-k class probabilities of images (PNG/JPEG, ``.npy``) or, for vector models, ``.npy`` arrays / numbers.

        Images are scaled to [0, 1] and prepared by the model's recorded
        evaluation pipeline (``model.preprocess``: e.g. MNIST digits padded to
        32×32), or, for a model exported without one, converted to its
        channels and resized to its ``preprocessing.input_shape``; ``--top K``
        shows the K most likely classes (default 1).

        Returns:
            One line per input, ``"<input>: <class> (<probability>), ..."``; ``values``
            holds ``(input, [(class name, probability), ...])``.
        """
        from .predictors import classify_inputs

        return classify_inputs(model, meta, inputs, options, kind=cls.kind)
