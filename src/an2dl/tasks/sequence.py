"""Sequence tasks: forecasting and regression, sequence classification, language modelling (notes §4.1).

* :class:`SequenceRegressionTask` — squared error on numbers predicted from
  a sequence (forecasting, the adding problem) or at every step.
* :class:`SequenceClassificationTask` — cross-entropy on a class per sequence,
  with variable lengths.
* :class:`LanguageModelTask` — next-token cross-entropy in nats per token
  and perplexity, trained by full or truncated back-propagation through time.

Batches are tuples: ``(x, y)`` or ``(x, lengths, y)``; the model is called as
``model(x)`` or ``model(x, lengths)``.

Back-propagation through time (notes §4.1.1.1): the network is unrolled over
the sequence and the error is propagated back through every step.  *Full*
BPTT unrolls the whole training sequence.  *Truncated* BPTT(k1, k2)
(Williams & Peng 1990; Sutskever 2013) reads a long sequence in pieces: every
``k1`` steps it back-propagates the error of those ``k1`` steps through the
last ``k2 ≥ k1`` steps only, and the state is carried forward (detached)
between updates, so memory and the gradient path are bounded by ``k2`` while
the state still sees the whole past.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batch import Batch
from ..data.text import PAD, check_token_ids
from ..engine.metrics import build_metric, metric
from ..engine.optim import OptimizerSpec
from ..engine.prediction import Prediction, PredictOptions
from ..engine.task import StepContext, Task, call_model
from ..errors import ConfigError
from ..nn.device import module_device
from ..nn.masks import lengths_to_mask
from ..nn.recurrent import Recurrent, detach_state
from .classification import ClassificationTask
from .regression import RegressionTask

__all__ = ["SequenceRegressionTask", "SequenceClassificationTask", "LanguageModelTask", "perplexity_metric",
           "stream_nll", "has_bidirectional_layer"]

def _tuple_fields(n: int) -> tuple[str, ...]:
    """Tuple batches of sequence tasks: ``(inputs, targets)`` or ``(inputs, lengths, targets)``."""
    return {1: ("inputs",), 3: ("inputs", "lengths", "targets")}.get(n, ("inputs", "targets"))


def _model_args(batch: Batch) -> tuple[torch.Tensor, ...]:
    """``(inputs,)`` or, when the batch carries lengths, ``(inputs, lengths)``."""
    return (batch.inputs, batch.lengths) if "lengths" in batch else (batch.inputs,)


def has_bidirectional_layer(model: nn.Module) -> bool:
    """Whether ``model`` contains a bidirectional recurrent layer (an2dl's or PyTorch's)."""
    return any(isinstance(m, (Recurrent, nn.RNNBase)) and m.bidirectional for m in model.modules())


# ---------------------------------------------------------------------------------------------------------------------
class SequenceRegressionTask(RegressionTask):
    """Regression from sequences: forecasting, the adding problem, per-step targets.

    A :class:`~an2dl.tasks.regression.RegressionTask` whose batches may carry
    lengths.  Logged per split: ``loss``, ``mse``, ``mae`` (means over the
    predicted numbers) and ``rmse`` (root of the split's mean squared error).
    When the batch carries lengths and the prediction has a time axis
    (``[B, T, ...]``), padded steps are left out of the loss and the metrics.

    Args:
        model: ``model(x)`` or ``model(x, lengths)`` -> predictions of the target's shape.
        loss: a loss name of :data:`~an2dl.losses.basic.LOSSES`,
            ``loss(pred, target) -> scalar``, or ``None`` for the mean squared error.
        optimizer: :class:`OptimizerSpec`.

    Shape:
        batch ``(x, y)`` or ``(x, lengths, y)``; ``predict_step`` returns the predictions.
    """

    kind = "sequence_regression"
    def __init__(self, model: nn.Module, *, loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                 optimizer: OptimizerSpec | None = None, augment: nn.Module | None = None) -> None:
        super().__init__(model, loss=loss, optimizer=optimizer, augment=augment)
        self.declare_metrics({"rmse": metric("rmse")})

    def tuple_fields(self, n: int) -> tuple[str, ...]:
        return _tuple_fields(n)

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.model(*args)

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        args, y = _model_args(batch), batch.targets
        pred = call_model(self.model, *args, owner=type(self).__name__)
        if pred.shape != y.shape:
            raise ValueError(f"the model's predictions {list(pred.shape)} must have the target's shape {list(y.shape)}")
        if len(args) == 2 and pred.dim() >= 3:  # per-step targets: leave the padding out
            valid = lengths_to_mask(torch.as_tensor(args[1], device=pred.device), pred.shape[1])
            pred, y = pred[valid], y[valid]
        loss = self.loss_fn(pred, y)
        n = y.numel()
        ctx.log("loss", loss)
        with torch.no_grad():
            err = pred.detach() - y
            ctx.log("mse", err.pow(2).mean(), batch_size=n)
            ctx.log("mae", err.abs().mean(), batch_size=n)
        self.update_metrics(ctx, pred.detach().reshape(-1), y.reshape(-1))
        return loss

    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return self.model(*_model_args(batch))

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """The numbers predicted from each series file, window by window.

        With a recorded series pipeline a file is a raw series (CSV/text, one
        step per line, or ``.npy`` ``[N]``/``[N, D]``) cut into the model's
        windows (e.g. the delay taps before each forecast); without one a
        ``.npy`` file holds one sequence as the model reads it: float features
        ``[T]`` / ``[T, D]`` or integer token ids ``[T]``.

        Returns:
            One line per window with every predicted number; ``values`` holds ``(name, [y, ...])``
            (see :func:`~an2dl.tasks.predictors.regress_sequences`).
        """
        from .predictors import regress_sequences

        return regress_sequences(model, meta, inputs, options, kind=cls.kind)


class SequenceClassificationTask(ClassificationTask):
    """Classify whole sequences, of equal or variable length (notes §4.1, §4.2).

    Same metrics and arguments as :class:`~an2dl.tasks.ClassificationTask`
    (loss, accuracy, top-k, confusion matrix); batches may carry lengths.

    Shape:
        batch ``(x, y)`` or ``(x, lengths, y)`` with ``y`` int64 ``[B]``;
        ``predict_step`` returns probabilities ``[B, K]``.
    """

    kind = "sequence_classification"
    def tuple_fields(self, n: int) -> tuple[str, ...]:
        return _tuple_fields(n)

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return self._score(call_model(self.model, *_model_args(batch), owner=type(self).__name__), batch.targets, ctx)

    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        return self.model(*_model_args(batch)).softmax(dim=-1)

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Top-k class probabilities of sequences: each line of a text file, or one ``.npy`` file each.

        A text file is read line by line through the model's recorded text
        pipeline (its vocabulary; unknown characters warn and become ``<unk>``);
        a ``.npy`` file holds one sequence without padding: integer token ids
        ``[T]`` (checked against the model's vocabulary) or float features ``[T, D]``.

        Returns:
            One line per file, ``"<input>: <class> (<probability>), ..."``; ``values``
            holds ``(input, [(class name, probability), ...])``.
        """
        from .predictors import classify_sequences

        return classify_sequences(model, meta, inputs, options, kind=cls.kind)


# ---------------------------------------------------------------------------------------------------------------------
def perplexity_metric() -> Any:
    """A torchmetrics ``Metric`` for corpus perplexity, ``exp(Σ NLL / #tokens)``.

    ``update(nll_sum, count)`` takes the summed negative log-likelihood in
    nats and the number of tokens; the sums are reduced across processes, so
    ``compute()`` is the exact perplexity of everything seen, not a mean of
    batch perplexities.  The same object as ``metric("perplexity")`` builds.
    """
    return build_metric(metric("perplexity"))


class LanguageModelTask(Task):
    """Next-token prediction: cross-entropy in nats per token and perplexity (notes §4.1.1, §4.2.4).

    Logged per split: ``loss`` (mean negative log-likelihood of the next token,
    in nats — nats per character for a character model), ``perplexity``
    (``exp`` of the split's mean loss over all its tokens) and
    ``bits_per_token`` (``loss / ln 2``).

    Args:
        model: ``model(tokens [B, T]) -> logits [B, T, V]``; for truncated
            BPTT also ``model(tokens, state, return_state=True) -> (logits, state)``
            (e.g. :class:`~an2dl.models.sequence.char_lm.CharLanguageModel`).
        bptt: ``"full"`` — back-propagate through the whole training window
            (one optimiser step per batch); ``"truncated"`` — TBPTT(k1, k2)
            over the batch's sequences (``k1`` new steps per update, gradient
            through the last ``k2`` steps, state carried over).
        k1, k2: truncation lengths (``truncated`` only; ``k2`` defaults to ``k1``, needs ``k2 >= k1``).
        ignore_index: target id left out of the loss (the padding id 0).
        optimizer: :class:`OptimizerSpec`.

    Raises:
        ConfigError: truncated BPTT with a bidirectional recurrent layer (a
            backward direction reads the future, so there is no state to
            carry forward), with a model that cannot return its state, or bad k1/k2.

    Departure from Williams & Peng (1990): when ``k2 > k1`` the ``k2 − k1``
    older steps of a window are recomputed with the current weights instead
    of being kept from the previous update.  In truncated mode the trainer
    counts one step per batch while the optimiser steps once per ``k1`` tokens.
    """

    kind = "language_model"
    batch_fields = ("tokens", "targets")
    required_fields = ("tokens", "targets")
    predict_fields = ("tokens",)

    def __init__(self, model: nn.Module, *, bptt: str = "full", k1: int | None = None, k2: int | None = None,
                 ignore_index: int = PAD, optimizer: OptimizerSpec | None = None) -> None:
        super().__init__(optimizer)
        if bptt not in ("full", "truncated"):
            raise ConfigError(f"LanguageModelTask bptt must be 'full' or 'truncated'; got {bptt!r}")
        if bptt == "full" and (k1 is not None or k2 is not None):
            raise ConfigError("LanguageModelTask k1/k2 apply to bptt='truncated' only; leave them None for full BPTT")
        if bptt == "truncated":
            if isinstance(k1, bool) or not isinstance(k1, int) or k1 <= 0:
                raise ConfigError(f"truncated BPTT needs k1, a positive integer; got {k1!r}")
            k2 = k1 if k2 is None else k2
            if isinstance(k2, bool) or not isinstance(k2, int) or k2 < k1:
                raise ConfigError(f"truncated BPTT needs an integer k2 >= k1 = {k1}; got {k2!r}")
            if has_bidirectional_layer(model):
                raise ConfigError("truncated BPTT carries the state forward in time, but the model has a bidirectional "
                                  "recurrent layer whose backward direction reads the future; use bptt='full' or a "
                                  "unidirectional model")
            if "return_state" not in inspect.signature(model.forward).parameters:
                raise ConfigError(f"truncated BPTT needs a model with forward(tokens, state=None, *, return_state=False); "
                                  f"{type(model).__name__}.forward has no return_state argument")
            self.automatic_optimization = False
        self.model, self.bptt, self.k1, self.k2 = model, bptt, k1, k2
        self.ignore_index = ignore_index
        self.declare_metrics({"perplexity": metric("perplexity")})

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)

    def _nll(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Summed negative log-likelihood (nats) and the number of scored tokens."""
        if logits.dim() != 3 or logits.shape[:2] != y.shape:
            raise ValueError(f"the model must return logits [B, T, V] for targets {list(y.shape)}; got {list(logits.shape)}")
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=self.ignore_index,
                              reduction="sum")
        return nll, int((y != self.ignore_index).sum())

    def _log(self, ctx: StepContext, nll: torch.Tensor, count: int) -> None:
        mean = nll.detach() / max(count, 1)
        ctx.log("loss", mean, batch_size=count)
        ctx.log("bits_per_token", mean / math.log(2), batch_size=count)
        self.update_metrics(ctx, nll.detach(), count)

    def check_batch(self, batch: Batch, split: str) -> None:
        super().check_batch(batch, split)
        vocab = getattr(self.model, "vocab_size", None)
        if isinstance(vocab, int):

            for name in ("tokens", "targets"):
                if name in batch:
                    check_token_ids(batch[name], vocab, name=f"batch.{name}")

    def training_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor | None:
        x, y = batch.tokens, batch.targets
        if self.bptt == "full":
            nll, count = self._nll(self.model(x), y)
            self._log(ctx, nll, count)
            return nll / max(count, 1)
        return self._truncated_step(x, y, ctx)

    def _truncated_step(self, x: torch.Tensor, y: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """TBPTT(k1, k2) over one batch: an optimiser step every ``k1`` tokens."""
        opt = ctx.optimizers[0]
        T = x.shape[1]
        k1, k2 = self.k1, self.k2
        assert k1 is not None and k2 is not None
        ends = list(range(k1, T, k1)) + [T]
        starts = [max(0, e - k2) for e in ends]
        saved: dict[int, Any] = {0: None}  # detached states at the window starts (None: the model's initial state)
        total_nll, total_count, prev_end = x.new_zeros((), dtype=torch.float64), 0, 0
        for j, (start, end) in enumerate(zip(starts, ends)):
            state = saved[start]
            nxt = starts[j + 1] if j + 1 < len(ends) else None
            if nxt is not None and start < nxt < end:
                # split the window where the next one starts, to keep that state
                logits_a, mid = self.model(x[:, start:nxt], state, return_state=True)
                saved[nxt] = detach_state(mid)
                logits_b, last = self.model(x[:, nxt:end], mid, return_state=True)
                logits = torch.cat([logits_a, logits_b], dim=1)
            else:
                logits, last = self.model(x[:, start:end], state, return_state=True)
                if nxt == end:
                    saved[end] = detach_state(last)
            new = slice(prev_end - start, end - start)  # only the k1 new steps are scored
            nll, count = self._nll(logits[:, new], y[:, prev_end:end])
            ctx.backward(nll / max(count, 1))
            ctx.step(opt)
            total_nll += nll.detach()
            total_count += count
            prev_end = end
        self._log(ctx, total_nll, total_count)
        return total_nll / max(total_count, 1)

    def validation_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        x, y = batch.tokens, batch.targets
        nll, count = self._nll(self.model(x), y)
        self._log(ctx, nll, count)
        return nll / max(count, 1)

    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        """Log-probabilities of the next token ``[B, T, V]``."""
        return self.model(batch.tokens).log_softmax(dim=-1)

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict, inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Continue ``--prompt`` and the text of each input file with the saved character vocabulary.

        ``--length`` characters (default 200) are drawn one at a time at
        ``--temperature`` (default 0.8), among the ``--top`` most likely when
        given, from a generator seeded with ``--seed`` (default 0); without a
        prompt the model starts a new line.  With ``--out DIR`` the texts are
        written to ``DIR/<name>.sample.txt`` instead of printed.

        Returns:
            The prompt followed by its continuation, as lines; ``values`` holds ``(source, text)``.
        """
        from .predictors import continue_text

        return continue_text(model, meta, inputs, options, kind=cls.kind)


@torch.no_grad()
def stream_nll(model: nn.Module, ids: torch.Tensor, *, chunk_len: int = 1024) -> float:
    """Mean negative log-likelihood (nats per token) of a whole token stream, reading it with the state carried over.

    The stream is read once, left to right, ``chunk_len`` tokens at a time;
    each chunk starts from the final state of the previous one, so every
    prediction is conditioned on the entire past (unlike windowed evaluation,
    where each window starts from the initial state).

    Args:
        model: ``model(tokens, state, return_state=True) -> (logits, state)``.
        ids: the stream, int64 ``[N]`` with ``N >= 2``.
        chunk_len: tokens per forward call.

    Returns:
        ``Σ −log p(ids[t+1] | ids[:t+1]) / (N − 1)``.
    """
    ids = torch.as_tensor(ids)
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(f"stream_nll needs a 1-D stream of at least 2 tokens; got shape {list(ids.shape)}")
    if isinstance(chunk_len, bool) or not isinstance(chunk_len, int) or chunk_len <= 0:
        raise ConfigError(f"stream_nll chunk_len must be a positive integer; got {chunk_len!r}")
    was_training = model.training
    model.eval()
    device = module_device(model)
    total, state = 0.0, None
    try:
        for s in range(0, len(ids) - 1, chunk_len):
            x = ids[s:s + chunk_len].to(device)[None]
            y = ids[s + 1:s + 1 + chunk_len].to(device)[None]
            x = x[:, : y.shape[1]]
            logits, state = model(x, state, return_state=True)
            total += float(F.cross_entropy(logits[0], y[0], reduction="sum"))
    finally:
        model.train(was_training)
    return total / (len(ids) - 1)
