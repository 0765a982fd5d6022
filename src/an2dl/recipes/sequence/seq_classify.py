"""``seq-classify``: variable-length sequence classification with a recurrent network (notes §4.1.1).

The temporal-order task (Hochreiter & Schmidhuber 1997, experiment 6a) with
sequences of 20–50 symbols: the class is the order of two relevant symbols
that appear early and in the middle of the sequence, among distractors.
Batches carry the true lengths, so padded steps never reach the model
(``pack_padded_sequence`` on the fast path, frozen states on the
written-out path); the default model is a bidirectional LSTM whose two
final states are concatenated (notes §4.1.1.2).  The claim: the network
carries the first relevant symbol across the distractors, so its test
accuracy is far above chance (the share of the most frequent class, about 25 %).
The sequences are read as text (``"acXdbY..."``, one per line for ``an2dl predict``)
through the vocabulary the dataset records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...data import get_dataset
from ...data.core import DataSplits
from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...models import get_model
from ...report.plots import figure, plot_confusion_matrix, save_figure
from ...tasks.sequence import SequenceClassificationTask
from ..base import Recipe, RunResult, register_recipe
from ..config import ClipConfig, RunSettings, TrainerConfig

__all__ = ["SeqClassify", "SeqClassifyConfig"]


@dataclass
class OrderData:
    min_length: int = 20  # shortest sequence
    max_length: int = 50  # longest sequence (the padded length)
    n_train: int = 4000  # training sequences
    n_val: int = 500  # validation sequences
    n_test: int = 2000  # test sequences
    seed: int = 0  # seed of the draws


@dataclass
class ClassifierModel:
    cell: str = "lstm"  # rnn, lstm or gru
    hidden_size: int = 64  # state size per direction
    num_layers: int = 1  # stacked layers
    bidirectional: bool = True  # read the sequence both ways, concatenate the final states
    embedding_dim: int = 16  # width of the symbol embedding
    pooling: str = "last"  # last (final states), mean or max over the valid steps
    dropout: float = 0.0  # between layers and before the read-out
    initial_state: str = "zeros"  # zeros or learnable


@dataclass
class SeqClassifyConfig(RunSettings):
    data: OrderData = field(default_factory=OrderData)
    model: ClassifierModel = field(default_factory=ClassifierModel)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3, schedule=ScheduleSpec("cosine")))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=25, batch_size=64))
    clip: ClipConfig = field(default_factory=lambda: ClipConfig(max_value=1.0))  # clipping by value (norm elsewhere)


@register_recipe
class SeqClassify(Recipe):
    """Bidirectional LSTM on the variable-length temporal-order task."""

    name = "seq-classify"
    summary = "variable-length sequence classification (temporal order, lengths 20-50) with a bidirectional LSTM"
    section = "4.1.1"
    Config = SeqClassifyConfig
    smoke_settings = ("data.n_train=256", "data.n_val=64", "data.n_test=64", "trainer.max_epochs=1",
                      "model.hidden_size=8")

    def extra_metrics(self, cfg: SeqClassifyConfig, task: Any, data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        """Chance: the accuracy of always answering the test set's most frequent class."""
        labels = data.test.tensors[-1]  # type: ignore[union-attr]
        chance = float(torch.bincount(labels, minlength=data.info.num_classes).max()) / len(labels)
        return {"test/chance_accuracy": chance}, [f"Chance (always the most frequent test class): {chance:.3f}."]

    def build(self, cfg: SeqClassifyConfig) -> tuple[SequenceClassificationTask, DataSplits]:
        d, m = cfg.data, cfg.model
        data = get_dataset("temporal-order", min_length=d.min_length, max_length=d.max_length, n_train=d.n_train,
                           n_val=d.n_val, n_test=d.n_test, seed=d.seed)
        model = get_model("recurrent_classifier", num_classes=data.info.num_classes,
                          vocab_size=data.info.vocab_size, embedding_dim=m.embedding_dim, cell=m.cell,
                          hidden_size=m.hidden_size, num_layers=m.num_layers, bidirectional=m.bidirectional,
                          dropout=m.dropout, initial_state=m.initial_state, pooling=m.pooling)
        task = SequenceClassificationTask(model, num_classes=data.info.num_classes, optimizer=cfg.optim)
        return task, data

    def figures(self, result: RunResult) -> None:
        """The test confusion matrix and the test accuracy against the sequence length."""
        trainer, data, task = result.trainer, result.data, result.task
        if trainer is None or data is None or task is None or data.test is None:
            return
        cm = trainer.eval_artifacts.get("test/confusion_matrix")
        if cm is not None:
            plot_confusion_matrix(cm, list(data.info.class_names), result.run_dir)
        tokens, lengths, labels = data.test.tensors
        was_training = task.training
        task.eval()
        with torch.no_grad():
            pred = torch.cat([task.model(tokens[i:i + 512].to(trainer.device), lengths[i:i + 512]).argmax(-1).cpu()
                              for i in range(0, len(tokens), 512)])
        task.train(was_training)
        correct = (pred == labels).float()
        fig = figure(figsize=(6, 3.4))
        ax = fig.add_subplot(1, 1, 1)
        ls = sorted(set(lengths.tolist()))
        ax.plot(ls, [float(correct[lengths == n].mean()) for n in ls], "o-", ms=3)
        ax.set_xlabel("sequence length")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        save_figure(fig, result.run_dir, "accuracy_by_length", "Test accuracy for each sequence length")

    def export_info(self, cfg: Any, data: DataSplits) -> dict[str, Any]:
        return {
            "class_names": list(data.info.class_names),
            "preprocessing": {"input": "token ids [B, T] (0 = padding) and lengths [B]",
                              "symbols": data.info.extra["symbols"], **data.info.preprocess},
        }
