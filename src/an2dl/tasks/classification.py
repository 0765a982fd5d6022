"""Classification: cross-entropy training, accuracy, top-k and the confusion matrix."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.transforms.base import Transform
from ..engine.optim import OptimizerSpec
from ..engine.task import StepContext, Task
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
    """

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
        super().__init__(optimizer)
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
        self.augment = augment
        self.aux_weight = aux_weight
        self.train_metrics = self._make_metrics("train")
        self.val_metrics = self._make_metrics("val")
        self.test_metrics = self._make_metrics("test")

    def _make_metrics(self, split: str) -> nn.ModuleDict:
        from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

        K = self.num_classes
        m: dict[str, nn.Module] = {"accuracy": MulticlassAccuracy(K, average="micro")}
        for k in self.top_k:
            m[f"top{k}_accuracy"] = MulticlassAccuracy(K, top_k=k, average="micro")
        if split != "train":
            m["confusion_matrix"] = MulticlassConfusionMatrix(K)
        return nn.ModuleDict(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def step(self, batch: Any, ctx: StepContext) -> torch.Tensor:
        x, y = batch[0], batch[1]
        if ctx.training and self.augment is not None:
            if isinstance(self.augment, Transform):
                x, y = self.augment(x, y)  # label-aware: Mixup/CutMix return soft targets
            else:
                x = self.augment(x)
        out = self.model(x)
        logits, aux = (out[0], [a for a in out[1:] if a is not None]) if isinstance(out, (tuple, list)) else (out, [])
        return self._score(logits, y, ctx, aux)

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
        if ctx.split != "train" or self.compute_train_metrics:
            for name, metric in getattr(self, f"{ctx.split}_metrics").items():
                metric.update(logits.detach(), y.argmax(dim=1) if y.dim() == 2 else y)
                ctx.log(name, metric)
        return loss


    def predict_step(self, batch: Any, ctx: StepContext) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self.model(x).softmax(dim=-1)
