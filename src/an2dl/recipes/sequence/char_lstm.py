"""``char-lstm-shakespeare``: a character-level LSTM language model on Tiny Shakespeare (notes §4.1.1).

The model reads 128-character windows and predicts the next character at
every position (Karpathy's char-rnn).  Reported: the validation loss in nats
per character on the last 10 % of the text (windows of 128 characters, each
starting from the initial state — the same measure as nanoGPT's
``val loss``), its perplexity and bits per character, the loss of reading the
validation text as one stream with the state carried over, and a generated
sample.  The claim of §4.1.1 it measures: a model whose state carries the
context predicts the next character far better than the characters'
frequencies alone — the validation loss is set against the cross-entropy of
the training text's unigram distribution on the validation text (3.35 nats,
4.83 bits per character on Tiny Shakespeare).

By default training stops after ``trainer.time_budget_s = 180`` seconds of
wall time, the budget of nanoGPT's small CPU character model (about 1.88
nats per character after about 3 minutes), so the two can be compared at
equal time on the machine at hand.  ``bptt.mode=truncated`` trains with
TBPTT(k1, k2) over longer windows instead (``data.seq_len`` > ``bptt.k1``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._utils.files import atomic_write_text
from ..._utils.rng import seed_everything
from ...data import get_dataset
from ...data.core import DataSplits
from ...data.text import Vocabulary
from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...errors import ConfigError
from ...models import get_model
from ...report.plots import figure, save_figure
from ...tasks.sequence import LanguageModelTask, stream_nll
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results
from ..config import ClipConfig, RunSettings, TrainerConfig

__all__ = ["CharLSTMShakespeare", "CharLSTMConfig", "unigram_nats"]


@dataclass
class ShakespeareData:
    root: str | None = None  # folder with input.txt (default: $AN2DL_DATA_DIR/tinyshakespeare, the cache, a download)
    seq_len: int = 128  # characters per window: the BPTT length with full BPTT
    train_stride: int | None = None  # None: non-overlapping windows shifted each epoch (one pass per epoch)
    val_fraction: float = 0.1  # the last 10 % of the text, as nanoGPT


@dataclass
class CharModelConfig:
    cell: str = "lstm"  # lstm, gru or rnn
    embedding_dim: int = 64  # width of the character embedding
    hidden_size: int = 256  # state size per layer
    num_layers: int = 1  # stacked layers
    dropout: float = 0.0  # between layers and before the output layer
    initial_state: str = "zeros"  # zeros or learnable


@dataclass
class BPTTConfig:
    mode: str = "full"  # full: back-propagate through each whole window; truncated: TBPTT(k1, k2)
    k1: int | None = None  # truncated: optimiser step every k1 characters
    k2: int | None = None  # truncated: back-propagate k2 >= k1 steps (default k1)


@dataclass
class SampleConfig:
    prompt: str = "\n"  # text the sample continues
    length: int = 600  # characters generated
    temperature: float = 0.8  # < 1 sharpens the distribution (nanoGPT's sample.py default)
    top_k: int | None = None  # sample among the k most likely characters only
    seed: int = 0  # seed of the sampling


@dataclass
class CharLSTMConfig(RunSettings):
    data: ShakespeareData = field(default_factory=ShakespeareData)
    model: CharModelConfig = field(default_factory=CharModelConfig)
    bptt: BPTTConfig = field(default_factory=BPTTConfig)
    # a high rate with clipping learns fast; ×0.7 per pass over the text whatever the time budget allows
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec(
        "adam", lr=1e-2, schedule=ScheduleSpec("exponential", gamma=0.7)))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(
        max_epochs=50, batch_size=32, eval_batch_size=128, val_every_n_epochs=1, time_budget_s=180.0))
    clip: ClipConfig = field(default_factory=lambda: ClipConfig(max_norm=1.0))
    sample: SampleConfig = field(default_factory=SampleConfig)
    stream_eval: bool = True  # also report the loss of the validation text read as one stream


@register_recipe
class CharLSTMShakespeare(Recipe):
    """Character-level LSTM language model on Tiny Shakespeare, at nanoGPT's 3-minute CPU budget."""

    name = "char-lstm-shakespeare"
    summary = "character-level LSTM LM on tinyshakespeare: val nats/char, perplexity, a sample (3-minute budget)"
    section = "4.1.1"
    Config = CharLSTMConfig
    smoke_settings = ("data.seq_len=32", "data.train_stride=4096", "model.hidden_size=16", "model.embedding_dim=8",
                      "trainer.time_budget_s=null", "trainer.max_epochs=1", "sample.length=10", "stream_eval=false")

    def build(self, cfg: CharLSTMConfig) -> tuple[LanguageModelTask, DataSplits]:
        d, m, b = cfg.data, cfg.model, cfg.bptt
        if b.mode == "truncated" and b.k1 is None:
            raise ConfigError("bptt.mode=truncated needs bptt.k1 (e.g. --set bptt.k1=64)")
        data = get_dataset("tinyshakespeare", root=d.root, seq_len=d.seq_len, train_stride=d.train_stride,
                           val_fraction=d.val_fraction, seed=cfg.trainer.seed)
        vocab = Vocabulary.from_dict(data.info.extra["vocab"])
        model = get_model("char_rnn", vocab_size=len(vocab), cell=m.cell, embedding_dim=m.embedding_dim,
                          hidden_size=m.hidden_size, num_layers=m.num_layers, dropout=m.dropout,
                          initial_state=m.initial_state)
        kw = {"k1": b.k1, "k2": b.k2} if b.mode == "truncated" else {}
        return LanguageModelTask(model, bptt=b.mode, optimizer=cfg.optim, **kw), data

    def export_info(self, cfg: Any, data: DataSplits) -> dict[str, Any]:
        return {"class_names": list(Vocabulary.from_dict(data.info.extra["vocab"]).itos),
                "preprocessing": {"vocab": data.info.extra["vocab"], "input": "character ids [B, T]",
                                  "input_shape": [cfg.data.seq_len], **data.info.preprocess}}

    def figures(self, result: RunResult) -> None:
        """Validation loss against optimiser steps (the per-epoch curves come from the report)."""
        if result.trainer is None:
            return
        pts = [(r["step"], r["val/loss"]) for r in result.trainer.history if r.get("val/loss") is not None]
        if not pts:
            return
        fig = figure(figsize=(6, 3.4))
        ax = fig.add_subplot(1, 1, 1)
        ax.plot(*zip(*pts), "-o", ms=3, label="validation")
        ax.axhline(1.88, color="gray", ls="--", lw=1, label="nanoGPT CPU char model, ~3 min")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("loss (nats per character)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save_figure(fig, result.run_dir, "val_loss_steps", "Validation loss in nats per character during training")

    def run(self, cfg: CharLSTMConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        """Train within the time budget, evaluate, sample, export and report."""
        seed_everything(cfg.trainer.seed)
        task, data = self.build(cfg)
        trainer = self.make_trainer(cfg, run_dir, progress=progress)
        t0 = time.perf_counter()
        trainer.fit(task, data.train, data.val, ckpt_path=trainer.checkpoint_dir if resume else None)
        fit_seconds = time.perf_counter() - t0
        metrics: dict[str, Any] = {k: v for k, v in trainer.metrics.items() if not k.startswith("time/")}
        metrics.update(trainer.evaluate(task, data.val, split="val"))
        result = RunResult(self.name, run_dir, metrics, cfg, task, data, trainer)
        if not trainer.is_global_zero:
            return result
        model = task.model
        vocab = Vocabulary.from_dict(data.info.extra["vocab"])
        metrics["val/nats_per_char"] = metrics["val/loss"]
        metrics["val/bits_per_char"] = metrics["val/loss"] / math.log(2)
        unigram = metrics["val/unigram_nats_per_char"] = unigram_nats(data.train.ids, data.val.ids, len(vocab))
        notes = [f"Validation loss {metrics['val/loss']:.4f} nats per character (perplexity "
                 f"{metrics['val/perplexity']:.2f}) after {trainer.global_step} steps and {fit_seconds:.0f} s of "
                 "training (this call; validation included); nanoGPT's small CPU character model reaches about "
                 "1.88 after about 3 minutes.",
                 f"Character frequencies alone (the training text's unigram distribution) cost {unigram:.4f} nats "
                 f"({unigram / math.log(2):.3f} bits) per validation character; the model's "
                 f"{metrics['val/bits_per_char']:.3f} bits are {metrics['val/loss'] / unigram:.0%} of that: the "
                 "context its state carries is worth the difference."]
        if cfg.stream_eval:
            metrics["val/stream_nats_per_char"] = stream_nll(model, data.val.ids, chunk_len=1024)
            notes.append("Validation text read as one stream with the state carried over: "
                         f"{metrics['val/stream_nats_per_char']:.4f} nats per character.")
        s = cfg.sample
        prompt = vocab.encode(s.prompt)[None].to(trainer.device)
        if prompt.shape[1] == 0:
            raise ConfigError("sample.prompt must hold at least one character")
        generator = torch.Generator(device=prompt.device).manual_seed(s.seed)
        ids = model.generate(prompt, s.length, temperature=s.temperature, top_k=s.top_k, generator=generator)
        sample = vocab.decode(ids[0].cpu())
        notes.append(f"Sample (temperature {s.temperature}):\n{sample}")
        write_results(run_dir, metrics, epochs=trainer.epoch, steps=trainer.global_step,
                      fit_seconds=round(fit_seconds, 3), stop_reason=trainer.stop_reason, notes=notes, sample=sample)
        atomic_write_text(run_dir / "sample.txt", sample)
        from ...export import export

        export(model, run_dir / "model", **type(task).export_metadata(**self.export_info(cfg, data)))
        self.figures(result)
        finish_report(run_dir, device=str(trainer.device), world_size=trainer.world_size)
        result.extra["sample"] = sample
        return result


def unigram_nats(train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int) -> float:
    """Nats per character of ``val_ids`` under the training text's character frequencies (add-one smoothed).

    The baseline of a model without context: the cross-entropy of the unigram
    distribution ``(count(c) + 1) / (N + V)`` fitted on the training ids.
    """
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1
    logp = (counts / counts.sum()).log()
    return float(-logp[val_ids].mean())
