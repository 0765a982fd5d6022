"""``text-classify``: many-to-one classification of real text with a recurrent network (notes §4.1.1.2).

The notes' example of a many-to-one network is sentiment analysis: the words
of a review in, one class out.  No labelled sentiment corpus can be had
offline here, so the recipe classifies Gutenberg passages by author
(``gutenberg-authors``: 40–60 words of whole sentences from the 13 books of
six authors, split by position in each book — see its module).  The network
embeds the words, reads the passage with a bidirectional GRU over its true
length and classifies the concatenated final states.  The claim: the
network's held-out accuracy is far above the share of the most frequent
author (Austen's three books: 44 % of the test passages), and its balanced
accuracy (the mean of the per-author recalls) far above chance (1/6).
``an2dl predict RUN passage.txt`` reads a passage through the recorded word
vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...data import get_dataset
from ...data.core import DataSplits
from ...engine.optim import OptimizerSpec
from ...models import get_model
from ...tasks.sequence import SequenceClassificationTask
from ..base import register_recipe
from ..config import ClipConfig, RunSettings, TrainerConfig
from .seq_classify import ClassifierModel, SeqClassify

__all__ = ["TextClassify", "TextClassifyConfig"]


@dataclass
class AuthorData:
    root: str | None = None  # folder of the Gutenberg books (default: $AN2DL_DATA_DIR/gutenberg)
    passage_words: int = 40  # a passage gathers whole sentences up to at least this many words
    max_words: int = 60  # and is cut at this many
    max_per_author: int | None = 1500  # training passages kept per author (None: all)
    min_freq: int = 2  # vocabulary cut-off
    seed: int = 0  # seed of the per-author sample


@dataclass
class TextClassifyConfig(RunSettings):
    data: AuthorData = field(default_factory=AuthorData)
    model: ClassifierModel = field(default_factory=lambda: ClassifierModel(
        cell="gru", hidden_size=64, embedding_dim=64, bidirectional=True, dropout=0.3))
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=2e-3, weight_decay=0.0))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=6, batch_size=64))
    clip: ClipConfig = field(default_factory=lambda: ClipConfig(max_norm=1.0))


@register_recipe
class TextClassify(SeqClassify):
    """A bidirectional GRU classifying Gutenberg passages by author (many-to-one on real text)."""

    name = "text-classify"
    summary = "many-to-one text classification: Gutenberg passages by author with a bidirectional GRU"
    section = "4.1.1"
    Config = TextClassifyConfig
    smoke_settings = ("data.max_per_author=40", "model.hidden_size=8", "model.embedding_dim=8")

    def build(self, cfg: TextClassifyConfig) -> tuple[SequenceClassificationTask, DataSplits]:
        d, m = cfg.data, cfg.model
        data = get_dataset("gutenberg-authors", root=d.root, passage_words=d.passage_words, max_words=d.max_words,
                           max_per_author=d.max_per_author, min_freq=d.min_freq, seed=d.seed)
        model = get_model("recurrent_classifier", num_classes=data.info.num_classes, vocab_size=data.info.vocab_size,
                          embedding_dim=m.embedding_dim, cell=m.cell, hidden_size=m.hidden_size,
                          num_layers=m.num_layers, bidirectional=m.bidirectional, dropout=m.dropout,
                          initial_state=m.initial_state, pooling=m.pooling)
        return SequenceClassificationTask(model, num_classes=data.info.num_classes, optimizer=cfg.optim), data

    def extra_metrics(self, cfg: TextClassifyConfig, task: Any, data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        """The majority share and the balanced accuracy (mean recall over the authors)."""
        metrics, notes = super().extra_metrics(cfg, task, data)
        tokens, lengths, labels = data.test.tensors  # type: ignore[union-attr]
        was_training = task.training
        task.eval()
        device = next(task.parameters()).device
        with torch.no_grad():
            pred = torch.cat([task.model(tokens[i:i + 512].to(device), lengths[i:i + 512]).argmax(-1).cpu()
                              for i in range(0, len(tokens), 512)])
        task.train(was_training)
        recalls = [float((pred[labels == k] == k).float().mean()) for k in range(data.info.num_classes)
                   if bool((labels == k).any())]
        balanced = sum(recalls) / len(recalls)
        metrics["test/balanced_accuracy"] = balanced
        notes.append(f"Balanced accuracy (mean recall over the {len(recalls)} authors): {balanced:.3f}; "
                     f"chance 1/{len(recalls)} = {1 / len(recalls):.3f}.")
        return metrics, notes

    def export_info(self, cfg: Any, data: DataSplits) -> dict[str, Any]:
        return {"class_names": list(data.info.class_names),
                "preprocessing": {"input": "a passage of English text (words)", **data.info.preprocess}}
