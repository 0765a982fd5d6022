"""``gpt-shakespeare``: a character-level GPT on Tiny Shakespeare (notes §4.4, §4.4.2).

The decoder-only Transformer (:class:`~an2dl.models.transformer.GPT`) reads
the same 128-character windows as ``char-lstm-shakespeare`` and predicts the
next character at every position — all positions of a window in one pass
under the look-ahead mask (§4.4.2 "At training time"), where the LSTM walks
through them one step after the other.  Data, validation measure (nats per
character on the last 10 % of the text, windows of 128), time budget and
sampling are ``char-lstm-shakespeare``'s (its recipe class is reused), so the
two runs compare at equal wall time on the same machine: the claim the
recipe measures is the notes' "the Transformer … can perform operations in
parallel, speeding up training" (§4.4), read as the validation loss reached in
the same 180 seconds.

Reported besides the char-lstm recipe's figures: the attention maps of every
head and layer for a prompt (``attention.prompt``), and a sample generated
with the key/value cache (``sample.*``).

Defaults: 2 pre-norm blocks of width 128 (4 heads of 32), the written-out
attention, AdamW at 5e-3 decaying ×0.999 per step, and ``trainer.precision=auto`` — bfloat16 mixed
precision on a device that multiplies bfloat16 natively, float32 elsewhere
(:mod:`an2dl.engine.precision`).  On a CPU with AVX-512 BF16 a step of this
model takes 64 ms on one thread in bfloat16 with the written-out attention,
106 ms with the fused kernel and 150 ms in float32, so the budget holds about
2.3 times the steps.

Measured (one thread of a 2-core machine, ``OMP_NUM_THREADS=1 an2dl run
gpt-shakespeare``): the GPT reaches 1.620 nats per character in 180 s (3029
steps); ``char-lstm-shakespeare`` reached 1.521 in bfloat16 beside an earlier
GPT run, and 1.510 at its float32 defaults (2540 steps).  Both at their
defaults side by side while a third job shared the two cores: GPT 1.743
(1341 steps), LSTM 1.518 (1683 steps) — the LSTM loses less to a slower
machine.  The
former defaults (width 64, float32, fused attention) gave 1.679–1.785.  At
this budget on a CPU the claim does not show: the LSTM learns more per
second than a GPT of the sizes tried (docs/decisions.md), whose parallelism
over positions pays off on wider hardware.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...data import get_dataset
from ...data.core import DataSplits
from ...data.text import Vocabulary
from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.transformer import ATTENTION_BACKENDS
from ...report.plots import figure, save_figure
from ...tasks.sequence import LanguageModelTask
from ..base import RunResult, register_recipe
from ..config import ClipConfig, RunSettings, TrainerConfig
from ..sequence.char_lstm import CharLSTMShakespeare, SampleConfig, ShakespeareData

__all__ = ["GPTShakespeare", "GPTShakespeareConfig", "GPTModelConfig", "AttentionConfig"]


@dataclass
class GPTModelConfig:
    d_model: int = 128  # width of the residual stream; every head gets d_model / num_heads
    num_heads: int = 4  # heads of every self-attention
    num_layers: int = 2  # blocks; at a 3-minute CPU budget more steps beat more depth (docs/decisions.md)
    dim_feedforward: int | None = None  # FFN hidden size (None: 4 d_model)
    dropout: float = 0.0  # a 3-minute run does not overfit 1 M characters
    norm_first: bool = True  # pre-norm (GPT-2): trains at a high rate without a long warm-up
    positional: str = "learned"  # learned, sinusoidal or none
    tie_weights: bool = True  # the output layer reuses the embedding matrix
    max_len: int | None = None  # the positional table and context (None: data.seq_len)
    # attention backend: written (softmax(QK^T/sqrt d)V, the faster one for heads of 32 in bfloat16 on a CPU) or
    # fused (F.scaled_dot_product_attention)
    attention: str = "written"


@dataclass
class AttentionConfig:
    prompt: str = "ROMEO:\nBut soft, what light"  # text whose attention maps the report draws
    max_layers: int = 4  # draw at most this many layers (each a row of heads)


@dataclass
class GPTShakespeareConfig(RunSettings):
    data: ShakespeareData = field(default_factory=ShakespeareData)
    model: GPTModelConfig = field(default_factory=GPTModelConfig)
    # AdamW, a linear warm-up of 50 steps, then ×0.999 per step (÷e in 1000 steps; ÷20 by the end of 3 minutes here)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec(
        "adamw", lr=5e-3, weight_decay=0.01, betas=(0.9, 0.99),
        schedule=ScheduleSpec("exponential", interval="step", gamma=0.999, warmup_steps=50)))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(
        max_epochs=50, batch_size=32, eval_batch_size=128, val_every_n_epochs=1, time_budget_s=180.0,
        precision="auto"))  # bfloat16 where the device multiplies it natively (an2dl.engine.precision)
    clip: ClipConfig = field(default_factory=lambda: ClipConfig(max_norm=1.0))
    sample: SampleConfig = field(default_factory=SampleConfig)
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    stream_eval: bool = False  # a GPT carries no state between windows: only False is meaningful


def _check_prompt(name: str, text: str, vocab: Vocabulary) -> None:
    unknown = sorted({c for c in text if c not in vocab.stoi})
    if unknown:
        raise ConfigError(f"{name} must use characters of the vocabulary ({len(vocab)} tokens); got "
                          f"{', '.join(repr(c) for c in unknown)} outside it")
    if not text:
        raise ConfigError(f"{name} must hold at least one character")


@register_recipe
class GPTShakespeare(CharLSTMShakespeare):
    """Character-level GPT on Tiny Shakespeare at ``char-lstm-shakespeare``'s 3-minute CPU budget."""

    name = "gpt-shakespeare"
    summary = "character GPT on tinyshakespeare: val nats/char at char-lstm's 3-minute budget, samples, attention maps"
    section = "4.4"
    Config = GPTShakespeareConfig
    smoke_settings = ("data.seq_len=32", "data.train_stride=4096", "model.d_model=16", "model.num_heads=2",
                      "model.num_layers=1", "trainer.time_budget_s=null", "trainer.max_epochs=1", "sample.length=10",
                      "attention.prompt=ROMEO")

    def build(self, cfg: GPTShakespeareConfig) -> tuple[LanguageModelTask, DataSplits]:
        d, m = cfg.data, cfg.model
        if m.attention not in ATTENTION_BACKENDS:
            raise ConfigError(f"model.attention must be one of {', '.join(ATTENTION_BACKENDS)}; got {m.attention!r}")
        if cfg.stream_eval:
            raise ConfigError("stream_eval reads the text as one stream with a recurrent state; a GPT has none "
                              "(its context is max_len characters): leave stream_eval=false")
        data = get_dataset("tinyshakespeare", root=d.root, seq_len=d.seq_len, train_stride=d.train_stride,
                           val_fraction=d.val_fraction, seed=cfg.trainer.seed)
        vocab = Vocabulary.from_dict(data.info.extra["vocab"])
        _check_prompt("sample.prompt", cfg.sample.prompt, vocab)
        _check_prompt("attention.prompt", cfg.attention.prompt, vocab)
        max_len = d.seq_len if m.max_len is None else m.max_len
        if max_len < d.seq_len:
            raise ConfigError(f"model.max_len must be at least data.seq_len = {d.seq_len} (the windows the model "
                              f"reads); got {max_len}")
        model = get_model("gpt", vocab_size=len(vocab), max_len=max_len, d_model=m.d_model, num_heads=m.num_heads,
                          num_layers=m.num_layers, dim_feedforward=m.dim_feedforward, dropout=m.dropout,
                          norm_first=m.norm_first, positional=m.positional, tie_weights=m.tie_weights,
                          backend=m.attention)
        return LanguageModelTask(model, optimizer=cfg.optim), data

    def figures(self, result: RunResult) -> None:
        """The validation curve of ``char-lstm-shakespeare`` and the attention maps of every layer and head."""
        super().figures(result)
        if result.task is None or result.data is None:
            return
        cfg: GPTShakespeareConfig = result.config
        vocab = Vocabulary.from_dict(result.data.info.extra["vocab"])
        model = result.task.model
        text = cfg.attention.prompt[-model.max_len:]
        ids = vocab.encode(text)[None].to(next(model.parameters()).device)
        maps = model.attention_maps(ids)[:, 0].cpu()  # (N, h, T, T)
        maps = maps[: cfg.attention.max_layers]
        n_layers, n_heads, T = maps.shape[0], maps.shape[1], maps.shape[2]
        fig = figure(figsize=(2.6 * n_heads + 0.6, 2.6 * n_layers + 0.4))
        labels = [repr(c)[1:-1] for c in text]
        for i in range(n_layers):
            for j in range(n_heads):
                ax = fig.add_subplot(n_layers, n_heads, i * n_heads + j + 1)
                ax.imshow(maps[i, j].numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
                ax.set_title(f"layer {i + 1}, head {j + 1}", fontsize=8)
                if T <= 40:
                    ax.set_xticks(range(T), labels, fontsize=5, rotation=90)
                    ax.set_yticks(range(T), labels, fontsize=5)
                else:
                    ax.set_xticks([])
                    ax.set_yticks([])
        fig.tight_layout()
        save_figure(fig, result.run_dir, "attention_maps",
                    "Attention weights of every layer (rows) and head (columns) for the prompt: row i is the query "
                    "at character i, column j the key; the upper triangle is masked (look-ahead)")
