"""``chatbot-chatterbot``: generative chatbots, single-turn, multi-turn and hierarchical, against a retrieval
chatbot (notes §4.3.1).

The notes present two kinds of chatbot.  A *generative* one is a
sequence-to-sequence model from the user's utterance to a reply (§4.2–4.3;
here a GRU encoder–decoder with Bahdanau attention); a multi-turn one also
reads the previous exchanges (the last ``data.turns`` utterances, joined by
``|``); the *hierarchical* one reads the same context with word-level and
utterance-level encoders and attentions (HRAN, Xing et al. 2017:
:class:`~an2dl.models.seq2seq.hierarchical.HierarchicalAttentionChatbot`).
A *retrieval* one encodes the question, finds the most similar stored
question and returns its reply (:class:`~an2dl.models.seq2seq.retrieval.RetrievalBot`,
TF-IDF cosine).  All are trained on the same conversations of the
``chatterbot-corpus`` package (split by conversation) and scored on the same
held-out replies: BLEU against every reply the test conversations give to the
same context (``test/bleu_all_references_<variant>``, ``test/bleu_all_references_retrieval``),
and for retrieval recall@k (a reference reply among the k retrieved ones).
The notes' point, measured: the generative bots say new sentences (the share
of their test replies not found verbatim in the training replies is
reported), the retrieval bot only stored ones.  The corpus is small (about
1,650 training exchanges), so every score is modest; the report states them
as they are.

``batching.bucketing`` trains on length-bucketed batches (:mod:`an2dl.data.bucketing`);
it is off by default here (see docs/decisions.md).

``an2dl chat RUN_DIR --model single-turn`` talks with a trained generative bot
(reading stdin, so it also works with piped input).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...data import get_dataset
from ...data.core import DataSplits
from ...data.text.specials import PAD
from ...engine.bleu import corpus_bleu
from ...engine.optim import OptimizerSpec
from ...errors import ConfigError
from ...models import get_model
from ...models.seq2seq.retrieval import RetrievalBot
from ...nn.attention import ATTENTION_SCORES
from ...report.plots import figure, save_figure
from ...tasks.seq2seq import Seq2SeqTask
from ..base import register_recipe
from ..comparison import Variant, plot_variant_curves
from ..config import RunSettings, TrainerConfig
from .translation import Batching, TranslationRecipe, bucketed, decoded_words, teacher_forcing

__all__ = ["ChatbotChatterbot", "ChatbotConfig"]

_VARIANTS = ("single-turn", "multi-turn", "hierarchical")


@dataclass
class ChatData:
    turns: int = 3  # utterances of context of the multi-turn bot (the single-turn one reads 1)
    max_words: int | None = 20  # drop exchanges whose question or reply is longer
    min_freq: int = 1  # vocabulary cut-off
    seed: int = 0  # seed of the split by conversation


@dataclass
class ChatModels:
    variants: list[str] = field(default_factory=lambda: list(_VARIANTS))  # the generative bots trained
    attention: str = "mlp"  # attention score of the decoders (dot, general, concat, mlp)
    cell: str = "gru"  # rnn, lstm or gru
    hidden_size: int = 128  # encoder state
    embedding_dim: int = 64  # word embeddings
    teacher_forcing: float = 1.0  # probability of feeding the true previous word (the schedule's start)
    teacher_forcing_schedule: str = "constant"  # constant, linear, exponential, inverse_sigmoid (Bengio et al. 2015)
    teacher_forcing_decay: float = 0.0  # c (linear), k < 1 (exponential), k >= 1 (inverse_sigmoid), per step
    teacher_forcing_min: float = 0.0  # floor of the decaying ratio
    beam_width: int = 1  # 1 = greedy decoding
    max_length: int = 22  # most words of a reply (+ <eos>)


@dataclass
class ChatbotConfig(RunSettings):
    data: ChatData = field(default_factory=ChatData)
    model: ChatModels = field(default_factory=ChatModels)
    # off: on this small corpus, batches of one length slow learning (3 epochs: BLEU 5 instead of 67; decisions.md)
    batching: Batching = field(default_factory=lambda: Batching(bucketing=False))
    retrieval_k: list[int] = field(default_factory=lambda: [1, 5])  # recall@k of the retrieval bot
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=20, batch_size=32))


def _last_utterance(ids: list[int], separator: int) -> list[int]:
    return ids[len(ids) - ids[::-1].index(separator):] if separator in ids else ids


@register_recipe
class ChatbotChatterbot(TranslationRecipe):
    """Generative single- and multi-turn chatbots (seq2seq with attention) against a TF-IDF retrieval chatbot."""

    name = "chatbot-chatterbot"
    summary = "chatbots on chatterbot-corpus: generative single- and multi-turn (seq2seq + attention) vs retrieval"
    section = "4.3.1"
    Config = ChatbotConfig
    dataset = "chatterbot"
    primary_metric = "test/bleu"
    smoke_settings = ("model.hidden_size=8", "model.embedding_dim=4", "model.max_length=6", "data.max_words=6")

    def dataset_settings(self, cfg: ChatbotConfig, turns: int = 1) -> dict[str, Any]:
        d = cfg.data
        return {"turns": turns, "max_words": d.max_words, "min_freq": d.min_freq, "seed": d.seed}

    def check(self, cfg: ChatbotConfig) -> None:
        if not cfg.model.variants or any(v not in _VARIANTS for v in cfg.model.variants):
            raise ConfigError(f"model.variants items must be among {list(_VARIANTS)}; got {cfg.model.variants!r}")
        if cfg.model.attention not in ATTENTION_SCORES:
            raise ConfigError(f"model.attention must be one of {', '.join(ATTENTION_SCORES)}; "
                              f"got {cfg.model.attention!r}")
        if isinstance(cfg.data.turns, bool) or not isinstance(cfg.data.turns, int) or cfg.data.turns < 2:
            raise ConfigError(f"data.turns (the multi-turn bot's context) must be an integer >= 2; got "
                              f"{cfg.data.turns!r}")
        if not cfg.retrieval_k or any(isinstance(k, bool) or not isinstance(k, int) or k < 1
                                      for k in cfg.retrieval_k):
            raise ConfigError(f"retrieval_k must list positive integers; got {cfg.retrieval_k!r}")

    def variant_data(self, cfg: ChatbotConfig, name: str, data: DataSplits) -> DataSplits:
        if name == "single-turn":
            return bucketed(cfg, data)
        return bucketed(cfg, get_dataset(self.dataset, **self.dataset_settings(cfg, turns=cfg.data.turns)))

    def build_variant(self, cfg: ChatbotConfig, name: str, data: DataSplits) -> Seq2SeqTask:
        m, vocab = cfg.model, data.info.src_vocab
        if name == "hierarchical":
            model = get_model("hran", vocab_size=len(vocab), separator=vocab.stoi["|"],
                              embedding_dim=m.embedding_dim, hidden_size=m.hidden_size)
        else:
            model = get_model("seq2seq_rnn", src_vocab_size=len(vocab), tgt_vocab_size=len(vocab),
                              embedding_dim=m.embedding_dim, hidden_size=m.hidden_size, cell=m.cell,
                              attention=m.attention)
        return Seq2SeqTask(model, teacher_forcing=teacher_forcing(m), max_length=m.max_length,
                           beam_width=m.beam_width, optimizer=cfg.optim)

    def export_info(self, cfg: ChatbotConfig, data: DataSplits) -> dict[str, Any]:
        info = super().export_info(cfg, data)
        info["preprocessing"]["input"] = "the conversation's last utterances joined by ' | ' (a context)"
        info["preprocessing"]["context_turns"] = {"single-turn": 1, "multi-turn": cfg.data.turns,
                                                  "hierarchical": cfg.data.turns}
        return info

    def summarize(self, cfg: ChatbotConfig, variants: list[Variant], data: DataSplits
                  ) -> tuple[dict[str, Any], list[str]]:
        info = data.info
        vocab = info.src_vocab
        metrics: dict[str, Any] = {}
        replies: dict[str, list[list[str]]] = {}
        for v in variants:
            vdata = self.variant_data(cfg, v.name, data)
            replies[v.name] = self._translate(v, vdata, cfg)
            metrics[f"test/bleu_all_references_{v.name}"] = 100 * corpus_bleu(replies[v.name],
                                                                              info.test_references)
        # retrieval: the training questions (the last utterance of each single-turn context) and their replies
        sep = vocab.stoi["|"]
        src, lengths, tgt = data.train.tensors  # type: ignore[union-attr]
        questions = [_last_utterance(row[:n], sep) for row, n in zip(src.tolist(), lengths.tolist())]
        stored = decoded_words(tgt, vocab)
        bot = RetrievalBot(questions, stored, vocab_size=len(vocab), ignore=[PAD, sep])
        t_src, t_len, _ = data.test.tensors  # type: ignore[union-attr]
        asked = [_last_utterance(row[:n], sep) for row, n in zip(t_src.tolist(), t_len.tolist())]
        k_max = min(max(cfg.retrieval_k), len(stored))
        ranked = bot.reply(asked, k=k_max)
        replies["retrieval"] = [r[0] for r in ranked]
        metrics["test/bleu_all_references_retrieval"] = 100 * corpus_bleu(replies["retrieval"], info.test_references)
        for k in cfg.retrieval_k:
            hits = [any(a in refs for a in r[:k]) for r, refs in zip(ranked, info.test_references)]
            metrics[f"test/retrieval_recall@{k}"] = sum(hits) / len(hits)
        seen = {tuple(q) for q in questions}
        metrics["test/questions_seen_in_training"] = sum(tuple(q) in seen for q in asked) / len(asked)
        known = {tuple(r) for r in stored}
        for name, said in replies.items():
            metrics[f"test/novel_replies_{name}"] = sum(tuple(r) not in known for r in said) / len(said)
        notes = [f"chatterbot-corpus: {info.extra['pairs']} exchanges ({info.extra['split']}); vocabulary "
                 f"{len(vocab)} ids; multi-turn context {cfg.data.turns} utterances.",
                 "Held-out BLEU against all references: " + ", ".join(
                     f"{n} {metrics[f'test/bleu_all_references_{n}']:.2f}" for n in replies)
                 + "; retrieval recall" + ", ".join(f" @{k} {metrics[f'test/retrieval_recall@{k}']:.3f}"
                                                   for k in cfg.retrieval_k)
                 + "; share of replies not in the training replies: " + ", ".join(
                     f"{n} {metrics[f'test/novel_replies_{n}']:.2f}" for n in replies) + "; "
                 f"{metrics['test/questions_seen_in_training']:.0%} of the test questions are asked in some training "
                 f"conversation too (the corpus repeats questions, each conversation with its own answer)."]
        first: dict[tuple[str, ...], int] = {}
        for i, s in enumerate(info.test_sources):
            first.setdefault(tuple(s), i)
        for i in list(first.values())[:8]:
            notes.append(f"user: {' '.join(info.test_sources[i])} | reference: "
                         f"{' / '.join(' '.join(r) for r in info.test_references[i])} | "
                         + " | ".join(f"{n}: {' '.join(said[i])}" for n, said in replies.items()))
        return metrics, notes

    def comparison_figures(self, cfg: ChatbotConfig, variants: list[Variant], data: DataSplits,
                           run_dir: Path, *, metrics: dict[str, Any]) -> None:
        plot_variant_curves(variants, run_dir, "val/bleu", label="validation BLEU", name="validation_bleu", x="epoch",
                            caption="Validation BLEU (own reference, free-running decoding) of each generative bot")
        names = [v.name for v in variants] + ["retrieval"]
        fig = figure(figsize=(5.5, 3.4))
        ax = fig.add_subplot(1, 1, 1)
        ax.bar(names, [metrics[f"test/bleu_all_references_{n}"] for n in names], color="tab:blue")
        ax.set_ylabel("held-out BLEU (all references)")
        ax.grid(axis="y", alpha=0.3)
        save_figure(fig, run_dir, "chatbot_bleu", "Held-out BLEU of the generative bots and of the retrieval bot "
                                                  "against every reply given to the same context")
