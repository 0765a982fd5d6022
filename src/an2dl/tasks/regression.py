"""Regression and binary classification tasks (notes §2.2 output layers, §2.3–§2.4 losses).

* :class:`RegressionTask` — a linear output trained with the (mean) squared
  error, the Gaussian maximum-likelihood loss.
* :class:`BinaryClassificationTask` — one output unit ``z``; ``σ(z)`` is the
  probability of the positive class, trained with the binary cross-entropy
  (Bernoulli likelihood) computed from ``z``.

Both accept any ``loss(output, target) -> scalar`` (e.g. the perceptron
criterion, or a loss with :func:`~an2dl.losses.basic.with_l2_penalty`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..data.batch import Batch
from ..engine.optim import OptimizerSpec
from ..engine.prediction import Prediction, PredictOptions
from ..engine.task import StepContext, Task, call_model
from ..errors import ConfigError
from ..losses.basic import bce_with_logits, get_loss, mse

__all__ = ["RegressionTask", "BinaryClassificationTask"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _loss(loss: LossFn | str | None, default: LossFn, owner: str) -> LossFn:
    if loss is None:
        return default
    if isinstance(loss, str):
        return get_loss(loss)
    if not callable(loss):
        raise ConfigError(f"{owner} loss must be a callable loss(output, target) or a loss name; got {type(loss).__name__}")
    return loss


class RegressionTask(Task):
    """Fit real-valued targets; the model's output layer is linear (notes §2.2).

    Logged per split: ``loss``, ``mse`` (mean squared error) and ``mae`` (mean
    absolute error), each a mean over the samples of the epoch.

    Args:
        model: maps ``[B, ...]`` inputs to predictions ``[B, D]`` (or ``[B]``).
        loss: ``loss(prediction, target)``, a name of :data:`~an2dl.losses.basic.LOSSES`,
            or ``None`` for the mean squared error.
        optimizer: :class:`OptimizerSpec` (default SGD, lr 0.01).
        augment: training-time transform of the inputs (see :class:`~an2dl.engine.Task`).

    Shape:
        batch ``(x, t)``; ``t`` has the prediction's shape, or ``[B]`` for a
        ``[B, 1]`` prediction.  ``predict_step`` returns the predictions.
    """

    kind = "regression"
    required_fields = ("inputs", "targets")

    def __init__(self, model: nn.Module, *, loss: LossFn | str | None = None, optimizer: OptimizerSpec | None = None,
                 augment: nn.Module | None = None) -> None:
        super().__init__(optimizer, augment=augment)
        if not isinstance(model, nn.Module):
            raise ConfigError(f"RegressionTask model must be an nn.Module; got {type(model).__name__}")
        self.model = model
        self.loss_fn = _loss(loss, mse, "RegressionTask")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @staticmethod
    def _align(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if t.shape == y.shape:
            return t.to(y.dtype)
        if t.numel() == y.numel() and t.shape[0] == y.shape[0]:
            return t.reshape(y.shape).to(y.dtype)
        raise ValueError(f"targets must have the predictions' shape {list(y.shape)}; got {list(t.shape)}")

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        y = call_model(self.model, batch.inputs, owner=type(self).__name__)
        t = batch.targets
        t = self._align(y, t)
        loss = self.loss_fn(y, t)
        ctx.log("loss", loss)
        with torch.no_grad():
            ctx.log("mse", ((y - t) ** 2).mean())
            ctx.log("mae", (y - t).abs().mean())
        return loss

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """The predicted numbers for feature vectors: ``.npy`` arrays or numbers written out (``0.5``, ``0,1``).

        A ``.npy`` file holds one sample (``preprocessing.input_shape``) or
        ``N`` (``[N, *input_shape]``; for a one-number input also ``[N]``).

        Returns:
            One line per sample, ``"<input>: <y_1>, ..."``; ``values`` holds ``(input, [y_1, ...])``.
        """
        from .predictors import regress_inputs

        return regress_inputs(model, meta, inputs, options, kind=cls.kind)



class BinaryClassificationTask(Task):
    """Two classes with one output unit ``z``: positive when ``z > 0``, i.e. ``σ(z) > 1/2`` (notes §2.2).

    Logged per split: ``loss`` and ``accuracy``.

    Args:
        model: maps ``[B, ...]`` inputs to one score per sample, ``[B]`` or ``[B, 1]``.
        loss: ``loss(z, t)``, a loss name, or ``None`` for the binary
            cross-entropy from logits.
        optimizer: :class:`OptimizerSpec`.
        augment: training-time transform of the inputs (see :class:`~an2dl.engine.Task`).

    Shape:
        batch ``(x, t)`` with ``t [B]``: 0/1 for the cross-entropy, -1/+1 for
        the perceptron criterion; a sample is positive when ``t > 0`` either
        way.  ``predict_step`` returns ``σ(z) [B]``, the probability of the
        positive class.
    """

    kind = "binary_classification"
    required_fields = ("inputs", "targets")

    def __init__(self, model: nn.Module, *, loss: LossFn | str | None = None, optimizer: OptimizerSpec | None = None,
                 augment: nn.Module | None = None) -> None:
        super().__init__(optimizer, augment=augment)
        if not isinstance(model, nn.Module):
            raise ConfigError(f"BinaryClassificationTask model must be an nn.Module; got {type(model).__name__}")
        self.model = model
        self.loss_fn = _loss(loss, bce_with_logits, "BinaryClassificationTask")

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """The model's score ``z`` per sample, ``[B]``."""
        z = call_model(self.model, x, owner=type(self).__name__)
        if z.dim() == 2 and z.shape[1] == 1:
            z = z.squeeze(1)
        if z.dim() != 1:
            raise ValueError(f"a binary classifier must return one score per sample, [B] or [B, 1]; got {list(z.shape)}")
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scores(x)

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        z = self.scores(batch.inputs)
        t = batch.targets
        if t.shape != z.shape:
            raise ValueError(f"targets must have shape {list(z.shape)} (one per sample); got {list(t.shape)}")
        t = t.to(z.dtype)
        loss = self.loss_fn(z, t)
        ctx.log("loss", loss)
        with torch.no_grad():
            ctx.log("accuracy", ((z > 0) == (t > 0)).to(torch.float32).mean())
        return loss


    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return torch.sigmoid(self.scores(batch.inputs))

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """``P(positive) = σ(z)`` and the decided class (``z > 0``) for ``.npy`` arrays or numbers such as ``0,1``.

        ``class_names`` ``[negative, positive]`` of ``model.json`` name the classes.

        Returns:
            One line per sample, ``"<input>: P(<positive>) = <p> -> <class>"``; ``values`` holds ``(input, p)``.
        """
        from .predictors import score_binary_inputs

        return score_binary_inputs(model, meta, inputs, options, kind=cls.kind)
