"""Sequence-to-sequence learning: teacher-forced cross-entropy, free-running evaluation (notes §4.2–4.2.1).

Loss (§4.2.1): with one-hot targets ``y_t`` and the decoder's distributions
``P_t``, ``L = −Σ_t y_tᵀ log P_t``, summed over the real target steps and
divided by their number (padding, id 0, is left out).  The decoder reads
``<sos>`` followed by the target shifted right (teacher forcing, with a ratio);
evaluation also decodes freely (greedy or beam search, no ground truth) and
scores whole sequences.

Label smoothing (beyond the notes; Szegedy et al. 2016, the Transformer's
``ε_ls``, Vaswani et al. 2017 §5.4): training may replace the one-hot ``y_t`` by
``(1 − ε) y_t + ε / V`` over the ``V`` target words, i.e. minimise
``(1 − ε) · (−log P_t[y_t]) + ε · mean_k(−log P_t[k])`` per real token
(``F.cross_entropy(..., label_smoothing=ε)``).  Every reported ``loss`` stays
the plain cross-entropy above, so runs with and without smoothing compare;
training with ``ε > 0`` also logs the objective as ``smoothed_loss``.

Teacher-forcing schedule (§4.2.1, "ratio schedulable"; scheduled sampling,
Bengio et al. 2015): the probability ``ε_i`` that training step ``i`` reads the
true previous token decays from 1 (pure teacher forcing) towards reading the
model's own predictions, as at inference — :class:`TeacherForcingSchedule`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batch import Batch
from ..data.text.specials import PAD, SOS
from ..engine.metrics import metric
from ..engine.optim import OptimizerSpec
from ..engine.prediction import Prediction, PredictOptions
from ..engine.task import StepContext, Task, call_model
from ..errors import ConfigError, DataError

__all__ = ["Seq2SeqTask", "TeacherForcingSchedule", "TEACHER_FORCING_SCHEDULES", "shift_right", "sequence_accuracy"]

#: the decays of :class:`TeacherForcingSchedule`
TEACHER_FORCING_SCHEDULES = ("constant", "linear", "exponential", "inverse_sigmoid")


def _number(name: str, value: Any, ok: bool, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok:
        raise ConfigError(f"TeacherForcingSchedule {name} must be {expected}; got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TeacherForcingSchedule:
    """The teacher-forcing ratio ``ε_i`` of training step ``i`` (scheduled sampling, Bengio et al. 2015).

    * ``constant``: ``ε_i = start``;
    * ``linear``: ``ε_i = max(minimum, start − decay · i)`` (Bengio's ``k − c i`` with ``k = start``, ``c = decay``);
    * ``exponential``: ``ε_i = max(minimum, decay^i)`` with ``0 < decay < 1``;
    * ``inverse_sigmoid``: ``ε_i = max(minimum, k / (k + exp(i / k)))`` with ``k = decay ≥ 1``.

    Args:
        kind: one of :data:`TEACHER_FORCING_SCHEDULES`.
        start: the constant ratio, or the linear schedule's ratio at step 0, in [0, 1].
        decay: ``c`` (linear, > 0), ``k`` (exponential, in (0, 1); inverse sigmoid, ≥ 1); unused when constant.
        minimum: the floor ``ε`` in [0, 1] (Bengio's linear ``ε``; 0 leaves the other decays as published).
    """

    kind: str = "constant"
    start: float = 1.0
    decay: float = 0.0
    minimum: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in TEACHER_FORCING_SCHEDULES:
            raise ConfigError(f"TeacherForcingSchedule kind must be one of {', '.join(TEACHER_FORCING_SCHEDULES)}; "
                              f"got {self.kind!r}")
        _number("start", self.start, isinstance(self.start, (int, float)) and 0 <= self.start <= 1, "in [0, 1]")
        _number("minimum", self.minimum, isinstance(self.minimum, (int, float)) and 0 <= self.minimum <= 1,
                "in [0, 1]")
        d = self.decay
        num = isinstance(d, (int, float)) and not isinstance(d, bool)
        if self.kind == "linear":
            _number("decay", d, num and d > 0, "a positive slope c for the linear schedule")
        elif self.kind == "exponential":
            _number("decay", d, num and 0 < d < 1, "a base k in (0, 1) for the exponential schedule")
        elif self.kind == "inverse_sigmoid":
            _number("decay", d, num and d >= 1, "k >= 1 for the inverse-sigmoid schedule")

    def ratio(self, step: int) -> float:
        """``ε_i`` at training step ``i`` (optimiser steps completed so far)."""
        i = float(step)
        if self.kind == "constant":
            return float(self.start)
        if self.kind == "linear":
            value = self.start - self.decay * i
        elif self.kind == "exponential":
            value = self.decay ** i
        else:
            k = self.decay
            value = k / (k + math.exp(min(i / k, 700.0)))  # exp overflows past ~709
        return max(float(self.minimum), value)


def shift_right(targets: torch.Tensor, *, sos: int = SOS) -> torch.Tensor:
    """Decoder inputs for teacher forcing: ``<sos>`` then ``targets[:, :-1]``.

    Shape:
        ``[B, T]`` -> ``[B, T]``.
    """
    return torch.cat([torch.full_like(targets[:, :1], sos), targets[:, :-1]], dim=1)


def sequence_accuracy(predicted: torch.Tensor, targets: torch.Tensor, *, pad: int = PAD) -> torch.Tensor:
    """Per-row exact match of a decoded sequence with its target, up to and including ``<eos>``.

    Both are padded with ``pad`` after their end; the shorter is padded to the longer.

    Returns:
        bool ``[B]``.
    """
    T = max(predicted.shape[1], targets.shape[1])
    p = F.pad(predicted, (0, T - predicted.shape[1]), value=pad)
    t = F.pad(targets, (0, T - targets.shape[1]), value=pad)
    return (p == t).all(dim=1)


class Seq2SeqTask(Task):
    """Train an encoder–decoder on ``(source, source lengths, target)`` batches (notes §4.2–4.2.1).

    Logged per split: ``loss`` (mean −log P_t per real target token, nats; the
    plain cross-entropy also when training with label smoothing, whose
    objective is logged as ``smoothed_loss``),
    ``token_accuracy`` (teacher-forced argmax per real token) and, outside
    training, ``sequence_accuracy`` (free-running decoding equal to the whole
    target, ``<eos>`` included) and ``bleu`` (corpus BLEU × 100 of the
    free-running decodings against the targets, on token ids:
    :mod:`an2dl.engine.bleu`).

    Args:
        model: ``model(src, src_lengths, tgt_in, teacher_forcing=r) -> logits [B, T, V]`` with
            ``model.generate(src, src_lengths, max_length=..., beam_width=..., length_penalty=...)``
            (e.g. :class:`~an2dl.models.seq2seq.EncoderDecoder`).
        teacher_forcing: probability that a training step reads the ground-truth previous token, or a
            :class:`TeacherForcingSchedule` of it over the training steps.
        max_length: most tokens generated at evaluation and prediction.
        beam_width: 1 = greedy decoding, more = beam search.
        length_penalty: α of beam search.
        label_smoothing: ε in [0, 1): the training targets put ``1 − ε + ε / V`` on the true word and ``ε / V`` on
            every other (0: the plain cross-entropy; the Transformer paper: 0.1).  Evaluation is unaffected.
        optimizer: :class:`OptimizerSpec`.

    Shape:
        batch ``(inputs [B, S], lengths [B], targets [B, T])``; targets end with ``<eos>`` then ``<pad>``;
        ``predict_step`` returns token ids ``[B, max_length]`` padded with ``<pad>``.
    """

    kind = "seq2seq"
    batch_fields = ("inputs", "lengths", "targets")
    required_fields = ("inputs", "lengths", "targets")
    predict_fields = ("inputs", "lengths")

    def __init__(self, model: nn.Module, *, teacher_forcing: float | TeacherForcingSchedule = 1.0,
                 max_length: int = 32, beam_width: int = 1, length_penalty: float = 0.0,
                 label_smoothing: float = 0.0, optimizer: OptimizerSpec | None = None) -> None:
        super().__init__(optimizer)
        if not isinstance(teacher_forcing, TeacherForcingSchedule) and (
                isinstance(teacher_forcing, bool) or not isinstance(teacher_forcing, (int, float))
                or not 0.0 <= teacher_forcing <= 1.0):
            raise ConfigError(f"Seq2SeqTask teacher_forcing must be a ratio in [0, 1]; got {teacher_forcing!r} "
                              f"(or give a TeacherForcingSchedule)")
        for name, value in (("max_length", max_length), ("beam_width", beam_width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Seq2SeqTask {name} must be a positive integer; got {value!r}")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"Seq2SeqTask label_smoothing must be a number in [0, 1); got {label_smoothing!r}")
        if not hasattr(model, "generate"):
            raise ConfigError(f"Seq2SeqTask needs a model with a generate(...) method for free-running decoding; "
                              f"{type(model).__name__} has none")
        self.model = model
        self.schedule = teacher_forcing if isinstance(teacher_forcing, TeacherForcingSchedule) else \
            TeacherForcingSchedule("constant", start=float(teacher_forcing))
        self.teacher_forcing, self.max_length = self.schedule.start, max_length
        self.beam_width, self.length_penalty = beam_width, length_penalty
        self.label_smoothing = float(label_smoothing)
        self.declare_metrics({"bleu": metric("bleu", splits=("val", "test"))})

    def forward(self, src: torch.Tensor, lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.model(src, lengths, tgt_in)

    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        src, lengths, y = batch.inputs, batch.lengths, batch.targets
        ratio = 1.0
        if ctx.training:
            ratio = self.schedule.start
            if self.schedule.kind != "constant":
                ratio = self.schedule.ratio(ctx.global_step)
                ctx.log("teacher_forcing", ratio)
        logits = call_model(self.model, src, lengths, shift_right(y), owner=type(self).__name__) if ratio == 1.0 \
            else self.model(src, lengths, shift_right(y), teacher_forcing=ratio)
        if logits.dim() != 3 or logits.shape[:2] != y.shape:
            raise ValueError(f"the model must return logits [B, T, V] for targets {list(y.shape)}; "
                             f"got {list(logits.shape)}")
        real = y != PAD
        count = int(real.sum())
        flat_logits, flat_y = logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
        smoothing = self.label_smoothing if ctx.training else 0.0
        if smoothing:
            # one log-softmax for both: the objective (1 − ε)·(−log P[y]) + ε·mean_k(−log P[k]) (what
            # F.cross_entropy(label_smoothing=ε) computes) and the plain −log P[y] that "loss" reports
            low = flat_logits.dtype in (torch.float16, torch.bfloat16)  # autocast: the softmax in float32
            logp = F.log_softmax(flat_logits.float() if low else flat_logits, dim=-1)
            keep = flat_y != PAD
            nll = -logp.gather(1, flat_y[:, None]).squeeze(1)[keep].sum()
            loss = ((1 - smoothing) * nll - smoothing * logp.mean(-1)[keep].sum()) / max(count, 1)
            ctx.log("smoothed_loss", loss.detach(), batch_size=count)
            plain = nll.detach() / max(count, 1)
        else:
            loss = F.cross_entropy(flat_logits, flat_y, ignore_index=PAD, reduction="sum") / max(count, 1)
            plain = loss.detach()
        ctx.log("loss", plain, batch_size=count)
        with torch.no_grad():
            correct = (logits.argmax(-1) == y) & real
            ctx.log("token_accuracy", correct.sum() / max(count, 1), batch_size=count)
            if not ctx.training:
                decoded = self._decode(src, lengths)
                ctx.log("sequence_accuracy", sequence_accuracy(decoded, y).float().mean(), batch_size=y.shape[0])
                self.update_metrics(ctx, decoded, y, names=("bleu",))
        return loss

    def _decode(self, src: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out = self.model.generate(src, lengths, max_length=self.max_length, beam_width=self.beam_width,
                                  length_penalty=self.length_penalty).tokens
        return F.pad(out, (0, self.max_length - out.shape[1]), value=PAD)  # (B, max_length)

    def predict_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        """Free-running decoded token ids ``[B, max_length]`` (``<eos>`` then ``<pad>``)."""
        return self._decode(batch.inputs, batch.lengths)

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict[str, Any], inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Decode each ``.npy`` file of source token ids ``[S]`` freely (no target is read); a model whose
        ``preprocessing`` records its vocabularies (``src_vocab``, ``tgt_vocab``: a translator) reads sentences
        instead — ``--prompt`` and text files, one sentence per line — and prints their translations.

        ``max_length``, ``beam_width`` and ``length_penalty`` come from the model's
        recorded ``preprocessing`` (defaults 32, 1 = greedy, 0).

        Returns:
            One line per file, ``"<input>: <id> <id> ... <eos id>"``; ``values`` holds
            ``(input, [ids...], log-probability)``.  A translator prints ``"<sentence> -> <translation>"``;
            ``values`` holds ``(sentence, translation, log-probability)``, and a sentence with words outside
            the source vocabulary adds a warning naming them (they are read as ``<unk>``).

        Raises:
            DataError: a file that is not a sequence of ids within the source vocabulary.
        """
        from ..data.inputs import read_sequence_input
        from .predictors import _require_inputs

        pre = meta.get("preprocessing") or {}
        if "src_vocab" in pre and "tgt_vocab" in pre:
            return cls._translate_text(model, pre, inputs, options)
        if "tgt_vocab" in pre and len(pre.get("input_shape") or ()) == 3:
            return cls._caption_images(model, meta, inputs, options)
        options.refuse_unused(cls.kind, ())
        _require_inputs(inputs, cls.kind, options, ".npy files of source token ids [S]")
        size = (meta.get("kwargs") or {}).get("src_vocab_size", getattr(model, "src_vocab_size", None))
        out = Prediction()
        for path in inputs:
            src = read_sequence_input(path)
            if src.is_floating_point():
                raise DataError(f"{path}: a seq2seq model reads integer token ids [S]; got floating-point features")
            if size is not None and not (0 <= int(src.min()) and int(src.max()) < int(size)):
                raise DataError(f"{path}: token ids must lie in [0, {size}); got values from {int(src.min())} "
                                f"to {int(src.max())}")
            result = model.generate(src[None], torch.tensor([len(src)]), max_length=int(pre.get("max_length", 32)),
                                    beam_width=int(pre.get("beam_width", 1)),
                                    length_penalty=float(pre.get("length_penalty", 0.0)))
            ids = result.tokens[0, : int(result.lengths[0])].tolist()
            out.lines.append(f"{path}: {' '.join(str(i) for i in ids)}")
            out.values.append((str(path), ids, float(result.log_prob[0])))
        return out

    @classmethod
    def _translate_text(cls, model: nn.Module, pre: dict[str, Any], inputs: Sequence[str],
                        options: PredictOptions) -> Prediction:
        from ..data.inputs import read_text_input

        options.refuse_unused(cls.kind, ("prompt",))
        vocabs = cls.vocabularies(pre)
        src_vocab = vocabs[0]
        sentences = [("--prompt", options.prompt)] if options.prompt is not None else []
        for path in inputs:
            sentences += [(str(path), line) for line in read_text_input(path).splitlines() if line.strip()]
        if not sentences:
            raise ConfigError(f"predict with the translation model of {options.source} needs sentences: --prompt "
                              f"TEXT and/or text files (one sentence per line)")
        out = Prediction()
        for source, text in sentences:
            translation, log_prob, unknown = cls.respond(model, pre, text, source=source, vocabs=vocabs)
            if unknown:
                out.warnings.append(f"{source}: words {', '.join(map(repr, unknown))} are not in the model's "
                                    f"source vocabulary ({len(src_vocab)} tokens); the model reads them as <unk>")
            out.lines.append(f"{text.strip()} -> {translation}")
            out.values.append((text, translation, log_prob))
        return out

    @staticmethod
    def vocabularies(pre: dict[str, Any]) -> tuple[Any, Any]:
        """The ``(source, target)`` :class:`~an2dl.data.text.Vocabulary` a model's ``preprocessing`` records —
        built once per loaded model and handed to :meth:`respond` for every sentence.

        Raises:
            ConfigError: ``pre`` records no vocabularies.
        """
        from ..data.text import Vocabulary

        if "src_vocab" not in pre or "tgt_vocab" not in pre:
            raise ConfigError("the model records no source and target vocabularies (preprocessing.src_vocab, "
                              "tgt_vocab): it reads token ids, not text")
        return Vocabulary.from_dict(pre["src_vocab"]), Vocabulary.from_dict(pre["tgt_vocab"])

    @classmethod
    def respond(cls, model: nn.Module, pre: dict[str, Any], text: str, *, source: str = "the input",
                vocabs: tuple[Any, Any] | None = None) -> tuple[str, float, list[str]]:
        """Decode the reply (translation) of one sentence with the vocabularies a model records.

        Args:
            vocabs: the model's ``(source, target)`` vocabularies from :meth:`vocabularies` (a caller that
                decodes many sentences builds them once); ``None`` builds them from ``pre``.

        Returns:
            ``(reply text, log-probability, the sentence's words outside the source vocabulary)``.

        Raises:
            ConfigError: ``pre`` records no vocabularies, or the sentence holds no word.
        """
        src_vocab, tgt_vocab = vocabs if vocabs is not None else cls.vocabularies(pre)
        tokens = src_vocab.tokenizer.tokenize(text)
        if not tokens:
            raise ConfigError(f"a sentence must hold at least one word; {source} gives {text!r}")
        unknown = sorted({t for t in tokens if t not in src_vocab.stoi})
        ids = src_vocab.encode(text)
        result = model.generate(ids[None], torch.tensor([len(ids)]), max_length=int(pre.get("max_length", 32)),
                                beam_width=int(pre.get("beam_width", 1)),
                                length_penalty=float(pre.get("length_penalty", 0.0)))
        reply = tgt_vocab.decode(result.tokens[0, : int(result.lengths[0])])
        return reply, float(result.log_prob[0]), unknown

    @classmethod
    def _caption_images(cls, model: nn.Module, meta: dict[str, Any], inputs: Sequence[str],
                        options: PredictOptions) -> Prediction:
        """One line ``"<image>: <caption>"`` per image file, read as the captioner's test images were."""
        from ..data.text import Vocabulary
        from ..engine.prediction import IMAGE_INPUT_OPTIONS
        from .predictors import _image_batch, _input_shape, _require_inputs

        options.refuse_unused(cls.kind, IMAGE_INPUT_OPTIONS)
        _require_inputs(inputs, cls.kind, options, "image files (PNG/JPEG/.npy)")
        pre = meta["preprocessing"]
        images, warnings = _image_batch(model, meta, inputs, options, _input_shape(meta, options, image=True))
        vocab = Vocabulary.from_dict(pre["tgt_vocab"])
        result = model.generate(images, torch.ones(len(images), dtype=torch.long),
                                max_length=int(pre.get("max_length", 32)), beam_width=int(pre.get("beam_width", 1)),
                                length_penalty=float(pre.get("length_penalty", 0.0)))
        out = Prediction(warnings=list(warnings))
        for path, row, n, lp in zip(inputs, result.tokens, result.lengths.tolist(), result.log_prob.tolist()):
            caption = vocab.decode(row[:n])
            out.lines.append(f"{path}: {caption}")
            out.values.append((str(path), caption, float(lp)))
        return out

