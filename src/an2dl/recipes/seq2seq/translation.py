"""``seq2seq-eng-fra`` and ``seq2seq-multi30k``: translation with the plain encoder–decoder and with attention
(notes §4.2–4.3), judged by BLEU.

The notes' translator reads a sentence into the encoder's final state and
writes the translation from it (§4.2); attention (§4.3) lets every decoding
step look at all encoder outputs instead of that one vector.  Each recipe
trains the plain model and one model per attention score (dot, bilinear
"general", Bahdanau "mlp"; Luong's "concat" can be added) on the same pairs,
with the same size, optimiser and epochs, and decodes the held-out sources
freely (greedy by default, ``model.beam_width`` for beam search).

Metrics per variant: ``test/bleu`` (corpus BLEU × 100 against the pair's own
reference, the task's metric), ``test/bleu_all_references`` (against every
translation of the source in the test split: Tatoeba often has several),
``test/sequence_accuracy`` (exact match) and the teacher-forced loss.  The
claim (§4.3): attention beats the plain encoder–decoder in BLEU.  The report
shows validation BLEU per epoch, an attention heat map over the words of one
test sentence per attention variant, and sample translations with their
references in the notes.

Training options (§4.2.1–4.2.2): ``batching.bucketing`` trains on
length-bucketed batches cut to their longest pair (:mod:`an2dl.data.bucketing`;
on for Multi30K, off for the short Tatoeba sentences, see docs/decisions.md);
``model.teacher_forcing_schedule`` decays the teacher-forcing ratio over the
steps (constant, linear, exponential, inverse sigmoid: scheduled sampling);
``model.input_feeding`` feeds Luong's attentional vector h̃_{t−1} to the next
step of the dot, general and concat variants.

* ``seq2seq-eng-fra`` — Tatoeba's 5,000 English–French pairs (short
  sentences), a small GRU; minutes on a laptop CPU.
* ``seq2seq-multi30k`` — Multi30K de→en (or any pair of en, de, fr): 29,000
  image captions of ~12 words; anchor: a GRU encoder–decoder with Bahdanau
  attention reaches about 28 BLEU de→en after GPU training (a larger model,
  more epochs than the CPU default here).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...data import get_dataset
from ...data.bucketing import LengthBucketedDataset, padding_fraction
from ...data.core import ArrayDataset, DataSplits
from ...data.datasets.translation import bucket_pairs, pair_lengths
from ...data.text.specials import EOS, PAD
from ...engine import Trainer
from ...engine.bleu import corpus_bleu
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...nn.attention import ATTENTION_SCORES
from ...report.plots import figure, save_figure
from ...tasks.seq2seq import Seq2SeqTask, TeacherForcingSchedule, shift_right
from ..base import register_recipe
from ..comparison import ComparisonRecipe, Variant, plot_variant_curves
from ..config import RunSettings, TrainerConfig

__all__ = ["Batching", "Seq2SeqEngFra", "Seq2SeqMulti30k", "TranslationRecipe", "batching_trainer", "bucketed",
           "decoded_words", "teacher_forcing", "training_padding"]


@dataclass
class TranslationModels:
    variants: list[str] = field(default_factory=lambda: ["plain", "dot", "general", "mlp"])  # plain or a score
    cell: str = "gru"  # rnn, lstm or gru, encoder and decoder alike
    hidden_size: int = 128  # encoder state (per direction)
    embedding_dim: int = 64  # word embeddings of both languages
    bidirectional: bool = False  # a bidirectional encoder for every variant
    dropout: float = 0.0  # between stacked recurrent layers (num_layers > 1)
    num_layers: int = 1  # stacked recurrent layers of the encoder and the decoder
    teacher_forcing: float = 1.0  # probability of feeding the true previous word (the schedule's start)
    teacher_forcing_schedule: str = "constant"  # constant, linear, exponential, inverse_sigmoid (Bengio et al. 2015)
    teacher_forcing_decay: float = 0.0  # c (linear), k < 1 (exponential), k >= 1 (inverse_sigmoid), per step
    teacher_forcing_min: float = 0.0  # floor of the decaying ratio
    input_feeding: bool = False  # Luong's input feeding in the dot, general and concat variants
    beam_width: int = 1  # 1 = greedy decoding at evaluation
    max_length: int = 16  # most words decoded per sentence (the longest target + <eos> at least)


@dataclass
class Batching:
    bucketing: bool = True  # length-bucketed training batches, cut to their longest sentence (§4.2.2)
    bucket_batches: int = 10  # batches per bucket sorted by length (more: less padding, less randomness)


@dataclass
class EngFraData:
    root: str | None = None  # folder of eng-fra.txt (default: $AN2DL_DATA_DIR/eng-fra, or download)
    reverse: bool = False  # translate French into English
    max_words: int | None = 10  # longest sentence kept (tokens)
    min_freq: int = 1  # vocabulary cut-off
    seed: int = 0  # seed of the split by source sentence


@dataclass
class Multi30kData:
    root: str | None = None  # folder of the Multi30K .gz files (default: $AN2DL_DATA_DIR/multi30k, or download)
    source: str = "de"  # en, de or fr
    target: str = "en"
    min_freq: int = 2  # vocabulary cut-off
    max_pairs: int | None = None  # first lines of the training files only (quick runs)


@dataclass
class Seq2SeqEngFraConfig(RunSettings):
    data: EngFraData = field(default_factory=EngFraData)
    # off here: Tatoeba's sentences are short, and at equal epochs the buckets cost validation BLEU for their
    # shorter epochs (docs/decisions.md)
    batching: Batching = field(default_factory=lambda: Batching(bucketing=False))
    model: TranslationModels = field(default_factory=TranslationModels)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=15, batch_size=32))


@dataclass
class Seq2SeqMulti30kConfig(RunSettings):
    data: Multi30kData = field(default_factory=Multi30kData)
    batching: Batching = field(default_factory=Batching)
    model: TranslationModels = field(default_factory=lambda: TranslationModels(
        variants=["plain", "mlp"], hidden_size=256, embedding_dim=128, bidirectional=True, max_length=40))
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=3, batch_size=64))


def teacher_forcing(m: Any) -> TeacherForcingSchedule:
    """The teacher-forcing schedule of a recipe's ``model`` settings (:class:`TeacherForcingSchedule`)."""
    return TeacherForcingSchedule(getattr(m, "teacher_forcing_schedule", "constant"), start=m.teacher_forcing,
                                  decay=getattr(m, "teacher_forcing_decay", 0.0),
                                  minimum=getattr(m, "teacher_forcing_min", 0.0))


def bucketed(cfg: Any, data: DataSplits) -> DataSplits:
    """``data`` with its training pairs in length-bucketed batches when ``cfg.batching.bucketing`` is on."""
    b = getattr(cfg, "batching", None)  # a settings class without the section trains in shuffled batches
    if b is None or not b.bucketing or not isinstance(data.train, ArrayDataset):
        return data
    if isinstance(b.bucket_batches, bool) or not isinstance(b.bucket_batches, int) or b.bucket_batches < 1:
        raise ConfigError(f"batching.bucket_batches must be a positive integer; got {b.bucket_batches!r}")
    train = bucket_pairs(data.train, batch_size=cfg.trainer.batch_size, bucket_batches=b.bucket_batches,
                         seed=cfg.trainer.seed)
    return dataclasses.replace(data, train=train)


def training_padding(cfg: Any, data: DataSplits) -> float:
    """Share of ``<pad>`` among the source and target positions of the first epoch's training batches, as the
    recipe batches them: length-bucketed and cut to their longest pair, or padded to the set's longest pair."""
    train = bucketed(cfg, data).train
    if isinstance(train, LengthBucketedDataset):
        return padding_fraction(pair_lengths(train.dataset), train.sampler.batches())
    lengths = pair_lengths(train)  # type: ignore[arg-type]
    src, _, tgt = train.tensors  # type: ignore[union-attr]
    return 1.0 - int(lengths.sum()) / (len(src) * (src.shape[1] + tgt.shape[1]))


def batching_trainer(recipe: Any, cfg: Any, run_dir: Path, *, progress: bool | None = None) -> Trainer:
    """The recipe's trainer; with bucketing it reads the training set in the order the buckets laid out."""
    trainer = ComparisonRecipe.make_trainer(recipe, cfg, run_dir, progress=progress)
    if getattr(cfg, "batching", None) is not None and cfg.batching.bucketing:
        trainer.shuffle = False  # the bucketed dataset is laid out batch after batch, shuffled by epoch
    return trainer


def decoded_words(ids: torch.Tensor, vocab: Any) -> list[list[str]]:
    """Token id rows ``[B, T]`` as word lists, each read up to its first ``<eos>`` (``<pad>`` dropped)."""
    out = []
    for row in ids.tolist():
        if EOS in row:
            row = row[: row.index(EOS)]
        out.append([vocab.itos[t] for t in row if t != PAD])
    return out


class TranslationRecipe(ComparisonRecipe):
    """Plain encoder–decoder vs attention on a parallel corpus (the data differ per subclass)."""

    section = "4.3"
    primary_metric = "test/bleu"
    higher_is_better = True
    dataset: str = ""

    def dataset_settings(self, cfg: Any) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} must define dataset_settings(cfg)")

    def variant_names(self, cfg: Any) -> list[str]:
        return list(cfg.model.variants)

    def check(self, cfg: Any) -> None:
        super().check(cfg)
        for name in cfg.model.variants:
            if name != "plain" and name not in ATTENTION_SCORES:
                raise ConfigError(f"model.variants items must be 'plain' or one of {', '.join(ATTENTION_SCORES)}; "
                                  f"got {name!r}")

    def load_data(self, cfg: Any) -> DataSplits:
        return get_dataset(self.dataset, **self.dataset_settings(cfg))

    def variant_data(self, cfg: Any, name: str, data: DataSplits) -> DataSplits:
        return bucketed(cfg, data)

    def make_trainer(self, cfg: Any, run_dir: Path, *, progress: bool | None = None) -> Trainer:
        return batching_trainer(self, cfg, run_dir, progress=progress)

    def build_variant(self, cfg: Any, name: str, data: DataSplits) -> Seq2SeqTask:
        m, info = cfg.model, data.info
        model = get_model("seq2seq_rnn", src_vocab_size=len(info.src_vocab), tgt_vocab_size=len(info.tgt_vocab),
                          embedding_dim=m.embedding_dim, hidden_size=m.hidden_size, cell=m.cell,
                          bidirectional=m.bidirectional, num_layers=m.num_layers, dropout=m.dropout,
                          attention=None if name == "plain" else name,
                          input_feeding=m.input_feeding and name in ("dot", "general", "concat"))
        return Seq2SeqTask(model, teacher_forcing=teacher_forcing(m), max_length=m.max_length,
                           beam_width=m.beam_width, optimizer=cfg.optim)

    def export_info(self, cfg: Any, data: DataSplits) -> dict[str, Any]:
        info = data.info
        return {"preprocessing": {"input": f"a {info.source_language} sentence (text), translated into "
                                           f"{info.target_language}",
                                  "src_vocab": info.src_vocab.to_dict(), "tgt_vocab": info.tgt_vocab.to_dict(),
                                  "max_length": cfg.model.max_length, "beam_width": cfg.model.beam_width}}

    def _translate(self, v: Variant, data: DataSplits, cfg: Any) -> list[list[str]]:
        src, lengths, _ = data.test.tensors  # type: ignore[union-attr]
        model = v.task.model.eval()
        device = next(model.parameters()).device
        words: list[list[str]] = []
        with torch.no_grad():
            for s in range(0, len(src), 256):
                out = model.generate(src[s:s + 256].to(device), lengths[s:s + 256], max_length=cfg.model.max_length,
                                     beam_width=cfg.model.beam_width, length_penalty=0.0).tokens.cpu()
                words += decoded_words(out, data.info.tgt_vocab)
        return words

    def summarize(self, cfg: Any, variants: list[Variant], data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        info = data.info
        metrics: dict[str, Any] = {"train/padding_fraction": training_padding(cfg, data)}
        bucketing = getattr(cfg, "batching", None) is not None and cfg.batching.bucketing
        notes = [f"{self.dataset} {info.source_language}→{info.target_language}: {info.extra['pairs']} pairs "
                 f"({info.extra['split']}); vocabularies {len(info.src_vocab)} / {len(info.tgt_vocab)} ids.",
                 f"Training batches {'length-bucketed' if bucketing else 'shuffled, padded to the longest pair'}: "
                 f"{metrics['train/padding_fraction']:.1%} of their source and target positions are <pad>."]
        translations = {}
        for v in variants:
            translations[v.name] = self._translate(v, data, cfg)
            metrics[f"test/bleu_all_references_{v.name}"] = 100 * corpus_bleu(translations[v.name],
                                                                              info.test_references)
        bleu = {v.name: v.metrics.get("test/bleu") for v in variants}
        if "plain" in bleu and len(bleu) > 1:
            metrics["test/attention_bleu_margin"] = min(b for n, b in bleu.items() if n != "plain") - bleu["plain"]
        notes.append("Held-out BLEU (own reference / all references): " + ", ".join(
            f"{n} {bleu[n]:.2f} / {metrics[f'test/bleu_all_references_{n}']:.2f}" for n in bleu))
        first: dict[tuple[str, ...], int] = {}
        for i, s in enumerate(info.test_sources):
            first.setdefault(tuple(s), i)
        shown = sorted(first.values(), key=lambda i: -len(info.test_sources[i]))[:6]  # the longest distinct sources
        for i in shown:
            notes.append(f"source: {' '.join(info.test_sources[i])} | reference: "
                         f"{' / '.join(' '.join(r) for r in info.test_references[i])} | "
                         + " | ".join(f"{n}: {' '.join(t[i])}" for n, t in translations.items()))
        return metrics, notes

    def comparison_figures(self, cfg: Any, variants: list[Variant], data: DataSplits, run_dir: Path, *,
                           metrics: dict[str, Any]) -> None:
        plot_variant_curves(variants, run_dir, "val/bleu", label="validation BLEU", name="validation_bleu", x="epoch",
                            caption="Validation BLEU (free-running decoding) of each variant after every epoch")
        attending = [v for v in variants if v.name != "plain"]
        if not attending or data.test is None:
            return
        src, lengths, tgt = data.test.tensors  # type: ignore[union-attr]
        i = int(torch.argmax(lengths))  # the longest test sentence shows the alignment best
        src, lengths, tgt = src[i:i + 1], lengths[i:i + 1], tgt[i:i + 1]
        n, m = int(lengths[0]), int((tgt[0] != PAD).sum())
        fig = figure(figsize=(4.4 * len(attending), 4.2))
        for k, v in enumerate(attending):
            model = v.task.model.eval()
            device = next(model.parameters()).device
            with torch.no_grad():
                _, weights = model(src.to(device), lengths, shift_right(tgt).to(device), return_attention=True)
            ax = fig.add_subplot(1, len(attending), k + 1)
            ax.imshow(weights[0, :m, :n].cpu().numpy(), cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks(range(n), [data.info.src_vocab.itos[t] for t in src[0, :n].tolist()], fontsize=7,
                          rotation=60)
            ax.set_yticks(range(m), [data.info.tgt_vocab.itos[t] for t in tgt[0, :m].tolist()], fontsize=7)
            ax.set_xlabel(f"source word ({data.info.source_language})")
            ax.set_ylabel(f"target word ({data.info.target_language})")
            ax.set_title(v.name)
        save_figure(fig, run_dir, "attention_heatmap",
                    "Attention weights a_tk over the source words of the longest test sentence (teacher-forced): "
                    "row t is where the decoder looks when it writes target word t")


@register_recipe
class Seq2SeqEngFra(TranslationRecipe):
    """Plain encoder–decoder vs dot, bilinear and Bahdanau attention on Tatoeba English→French, by BLEU."""

    name = "seq2seq-eng-fra"
    summary = "translation English→French (Tatoeba): plain encoder-decoder vs attention, held-out BLEU"
    Config = Seq2SeqEngFraConfig
    dataset = "eng-fra"
    smoke_settings = ("data.max_words=4", "model.hidden_size=8", "model.embedding_dim=4", "model.max_length=6",
                      'model.variants=["plain", "dot"]')

    def dataset_settings(self, cfg: Seq2SeqEngFraConfig) -> dict[str, Any]:
        d = cfg.data
        return {"root": d.root, "reverse": d.reverse, "max_words": d.max_words, "min_freq": d.min_freq,
                "seed": d.seed}


@register_recipe
class Seq2SeqMulti30k(TranslationRecipe):
    """Plain encoder–decoder vs Bahdanau attention on Multi30K (de→en by default), by BLEU."""

    name = "seq2seq-multi30k"
    summary = "translation on Multi30K (de→en by default): plain encoder-decoder vs Bahdanau attention, BLEU"
    Config = Seq2SeqMulti30kConfig
    dataset = "multi30k"
    smoke_settings = ("data.max_pairs=300", "model.hidden_size=8", "model.embedding_dim=4", "model.max_length=8",
                      "trainer.max_steps=3")

    def dataset_settings(self, cfg: Seq2SeqMulti30kConfig) -> dict[str, Any]:
        d = cfg.data
        return {"root": d.root, "source": d.source, "target": d.target, "min_freq": d.min_freq,
                "max_pairs": d.max_pairs}
