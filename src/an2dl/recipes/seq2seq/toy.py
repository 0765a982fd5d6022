"""``seq2seq-toy``: the plain encoder–decoder against attention on reversing digit strings (notes §4.2–4.3).

Each source is a random string of 10–20 digits; the target is the same digits
reversed, then ``<eos>``.  The plain encoder–decoder must squeeze the whole
string into its final state and write it out backwards from there; with
attention (§4.3) every decoding step looks at all encoder outputs and only has
to find the digit it needs.  The variants share the data, the model size, the
optimiser and the number of epochs.  The claim (§4.3, "the fixed source
representation can become a bottleneck"): held-out sequence accuracy (the whole
reversed string right, decoded freely) is far higher with attention.  The
report shows an attention heat map per attention variant: the weights form the
anti-diagonal of the reversal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...data import ArrayDataset
from ...data.core import DatasetInfo, DataSplits
from ...data.text.specials import EOS, PAD, SPECIALS
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.attention import ATTENTION_SCORES
from ...report.plots import figure, save_figure
from ...tasks.seq2seq import Seq2SeqTask, shift_right
from ..base import register_recipe
from ..comparison import ComparisonRecipe, Variant, plot_variant_curves
from ..config import RunSettings, TrainerConfig

__all__ = ["Seq2SeqToy", "Seq2SeqToyConfig", "digit_strings"]

_FIRST_DIGIT = 4  # digit d is token id 4 + d, after the four special tokens
_VOCAB = _FIRST_DIGIT + 10


def digit_strings(n: int, *, min_length: int, max_length: int, reverse: bool, seed: int) -> ArrayDataset:
    """``n`` random digit strings and their targets (the string reversed, or copied), ``<eos>``-terminated.

    Returns:
        ``ArrayDataset(src [n, max_length], lengths [n], targets [n, max_length + 1])``, ``<pad>``-padded.
    """
    if not 1 <= min_length <= max_length:
        raise ConfigError(f"data lengths must satisfy 1 <= min_length <= max_length; got {min_length}, {max_length}")
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_length, max_length + 1, (n,), generator=g)
    src = torch.randint(_FIRST_DIGIT, _VOCAB, (n, max_length), generator=g)
    src[torch.arange(max_length)[None] >= lengths[:, None]] = PAD
    tgt = torch.full((n, max_length + 1), PAD)
    for i, length in enumerate(lengths.tolist()):
        tgt[i, :length] = src[i, :length].flip(0) if reverse else src[i, :length]
        tgt[i, length] = EOS
    return ArrayDataset(src, lengths, tgt)


@dataclass
class DigitData:
    min_length: int = 10  # shortest string
    max_length: int = 20  # longest string (the padded source length)
    reverse: bool = True  # reverse the string (False: copy it)
    n_train: int = 4000  # training strings
    n_val: int = 300  # validation strings
    n_test: int = 500  # held-out test strings
    seed: int = 0  # seed of the draws (test strings use seed + 2)


@dataclass
class Seq2SeqModels:
    variants: list[str] = field(default_factory=lambda: ["plain", "dot", "mlp"])  # plain or an attention score
    cell: str = "gru"  # rnn, lstm or gru, encoder and decoder alike
    hidden_size: int = 64  # encoder state (per direction)
    embedding_dim: int = 16  # width of the digit embeddings
    bidirectional: bool = False  # a bidirectional encoder for every variant (Bahdanau et al. used one)
    teacher_forcing: float = 1.0  # probability of feeding the true previous digit in training
    beam_width: int = 1  # 1 = greedy decoding at evaluation


@dataclass
class Seq2SeqToyConfig(RunSettings):
    data: DigitData = field(default_factory=DigitData)
    model: Seq2SeqModels = field(default_factory=Seq2SeqModels)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=6, batch_size=64))


@register_recipe
class Seq2SeqToy(ComparisonRecipe):
    """Plain encoder–decoder vs dot and Bahdanau attention on reversing 10–20 digit strings."""

    name = "seq2seq-toy"
    summary = "plain encoder-decoder vs attention (dot, Bahdanau) on reversing digit strings of length 10-20"
    section = "4.3"
    Config = Seq2SeqToyConfig
    smoke_settings = ("data.n_train=128", "data.n_val=32", "data.n_test=32", "data.min_length=3",
                      "data.max_length=5", "model.hidden_size=8", "model.embedding_dim=4")
    primary_metric = "test/sequence_accuracy"
    higher_is_better = True

    def variant_names(self, cfg: Seq2SeqToyConfig) -> list[str]:
        return list(cfg.model.variants)

    def check(self, cfg: Seq2SeqToyConfig) -> None:
        super().check(cfg)
        for name in cfg.model.variants:
            if name != "plain" and name not in ATTENTION_SCORES:
                raise ConfigError(f"model.variants items must be 'plain' or one of {', '.join(ATTENTION_SCORES)}; "
                                  f"got {name!r}")

    def load_data(self, cfg: Seq2SeqToyConfig) -> DataSplits:
        d = cfg.data

        def make(n: int, seed: int) -> ArrayDataset:
            return digit_strings(n, min_length=d.min_length, max_length=d.max_length, reverse=d.reverse, seed=seed)

        info = DatasetInfo("digit-strings", input_shape=(d.max_length,),
                           extra={"task": "reverse" if d.reverse else "copy", "vocab_size": _VOCAB})
        return DataSplits(make(d.n_train, d.seed), make(d.n_val, d.seed + 1), make(d.n_test, d.seed + 2), info)

    def build_variant(self, cfg: Seq2SeqToyConfig, name: str, data: DataSplits) -> Seq2SeqTask:
        m = cfg.model
        model = get_model("seq2seq_rnn", src_vocab_size=_VOCAB, tgt_vocab_size=_VOCAB, embedding_dim=m.embedding_dim,
                          hidden_size=m.hidden_size, cell=m.cell, bidirectional=m.bidirectional,
                          attention=None if name == "plain" else name)
        return Seq2SeqTask(model, teacher_forcing=m.teacher_forcing, max_length=cfg.data.max_length + 1,
                           beam_width=m.beam_width, optimizer=cfg.optim)

    def export_info(self, cfg: Seq2SeqToyConfig, data: DataSplits) -> dict[str, Any]:
        return {"preprocessing": {"input": f"source token ids [S]: digit d is id {_FIRST_DIGIT} + d",
                                  "max_length": cfg.data.max_length + 1, "beam_width": cfg.model.beam_width}}

    def summarize(self, cfg: Seq2SeqToyConfig, variants: list[Variant], data: DataSplits
                  ) -> tuple[dict[str, Any], list[str]]:
        acc = {v.name: v.metrics.get("test/sequence_accuracy") for v in variants}
        if "plain" not in acc or len(acc) < 2:
            return {}, []
        margin = min(a for n, a in acc.items() if n != "plain") - acc["plain"]
        return ({"test/attention_margin": margin},
                ["Held-out sequence accuracy: " + ", ".join(f"{n} {a:.3f}" for n, a in acc.items())
                 + f"; the weakest attention variant beats the plain encoder-decoder by {margin:.3f}."])

    def comparison_figures(self, cfg: Seq2SeqToyConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        plot_variant_curves(variants, run_dir, "val/sequence_accuracy", label="validation sequence accuracy",
                            name="validation_sequence_accuracy", x="epoch",
                            caption="Validation sequence accuracy (free-running greedy decoding) of each variant")
        attending = [v for v in variants if v.name != "plain"]
        if not attending or data.test is None:
            return
        src, lengths, tgt = (t[:1] for t in data.test.tensors)  # type: ignore[union-attr]
        n = int(lengths[0])
        fig = figure(figsize=(4.2 * len(attending), 4))
        for i, v in enumerate(attending):
            model = v.task.model.eval()
            device = next(model.parameters()).device
            with torch.no_grad():
                _, weights = model(src.to(device), lengths, shift_right(tgt).to(device), return_attention=True)
            ax = fig.add_subplot(1, len(attending), i + 1)
            ax.imshow(weights[0, : n + 1, :n].cpu().numpy(), cmap="viridis", vmin=0, vmax=1)
            digits = [str(int(t) - _FIRST_DIGIT) for t in src[0, :n]]
            ax.set_xticks(range(n), digits, fontsize=7)
            ax.set_yticks(range(n + 1), [*(str(int(t) - _FIRST_DIGIT) for t in tgt[0, :n]), SPECIALS[EOS]], fontsize=7)
            ax.set_xlabel("source digit (encoder step)")
            ax.set_ylabel("target digit (decoder step)")
            ax.set_title(v.name)
        save_figure(fig, run_dir, "attention_heatmap",
                    "Attention weights a_tk of one held-out string (teacher-forced): row t is the distribution over "
                    "the source digits when the decoder writes target digit t")
