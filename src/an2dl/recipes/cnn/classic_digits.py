"""Classic image classifiers on the embedded digits: ``linear-digits`` and ``knn-digits`` (notes §3.2).

* ``linear-digits`` trains the linear classifier ``K(x) = Wx + b`` on the
  flattened 8×8 images with cross-entropy (``loss=cross_entropy``) or the
  multiclass hinge loss (``loss=hinge``) and shows the rows of ``W`` as
  class templates.
* ``knn-digits`` has no training: it picks ``k`` and the distance
  (Euclidean or Manhattan) on the validation split and reports the test
  accuracy of the chosen one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...errors import ConfigError
from ...losses.classification import multiclass_hinge_loss
from ...models import get_model
from ...models.classic import KNNClassifier
from ...tasks import ClassificationTask
from .._variants import note_unused_trainer_settings
from ..base import Recipe, RunResult, finish_report, register_recipe, write_results, write_run_config
from ..config import CheckpointConfig, RunSettings, TrainerConfig
from ._common import ImageData, filters_figure, load_image_data

__all__ = ["LinearDigits", "LinearDigitsConfig", "KNNDigits", "KNNDigitsConfig"]

_LOSSES = ("cross_entropy", "hinge")


@dataclass
class LinearDigitsConfig(RunSettings):
    data: ImageData = field(default_factory=ImageData)
    loss: str = "cross_entropy"  # cross_entropy (softmax) or hinge (multiclass SVM, Weston & Watkins 1999)
    margin: float = 1.0  # hinge margin Delta
    bias: bool = True  # K(x) = Wx + b; False gives exactly K(x) = Wx
    optim: OptimizerSpec = field(
        default_factory=lambda: OptimizerSpec("adam", lr=0.01, weight_decay=1e-4, schedule=ScheduleSpec("cosine"))
    )
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=60, batch_size=64))
    checkpoint: CheckpointConfig = field(default_factory=lambda: CheckpointConfig(every_n_epochs=20))


@register_recipe
class LinearDigits(Recipe):
    """Linear classifier K(x) = Wx + b on the flattened 8x8 digits (cross-entropy or hinge loss)."""

    name = "linear-digits"
    summary = "linear classifier K(x)=Wx+b on the embedded 8x8 digits, cross-entropy or multiclass hinge (notes §3.2.1)"
    section = "3.2.1"
    Config = LinearDigitsConfig
    smoke_settings = ("trainer.max_epochs=1",)

    def build(self, cfg: LinearDigitsConfig):
        if cfg.loss not in _LOSSES:
            raise ConfigError(f"loss must be one of {_LOSSES}; got {cfg.loss!r}")
        data = load_image_data(cfg.data)
        model = get_model("linear_classifier", input_shape=list(data.info.input_shape),
                          num_classes=data.info.num_classes, bias=cfg.bias)
        if cfg.loss == "hinge":
            margin = cfg.margin

            def loss(scores, target):
                return multiclass_hinge_loss(scores, target, margin=margin)
        else:
            loss = None
        return ClassificationTask(model, num_classes=data.info.num_classes, loss=loss, optimizer=cfg.optim), data

    def figures(self, result: RunResult) -> None:
        super().figures(result)
        model = result.task.model
        filters_figure(model.templates(), result.run_dir, name="templates", cols=10,
                       caption="Rows of W reshaped to images: the learned class templates (red positive weights)")


@dataclass
class KNNDigitsConfig:
    data: ImageData = field(default_factory=ImageData)
    ks: list[int] = field(default_factory=lambda: [1, 3, 5, 7, 9, 15])  # candidate numbers of neighbours
    metrics: list[str] = field(default_factory=lambda: ["euclidean", "manhattan"])  # candidate distances
    query_chunk: int = 512  # test images per distance block
    train_chunk: int = 8192  # training images per distance block
    # the settings group of every recipe; k-NN does not train, so none of them applies
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


@register_recipe
class KNNDigits(Recipe):
    """k-nearest neighbours on the 8x8 digits; k and the distance chosen on the validation split."""

    name = "knn-digits"
    summary = "k-NN (Euclidean / Manhattan, k chosen on validation) on the embedded 8x8 digits (notes §3.2.2)"
    section = "3.2.2"
    Config = KNNDigitsConfig
    cannot_resume = "k-NN trains nothing: choosing k on the validation split takes seconds"
    smoke_settings = ("ks=[1,3]", 'metrics=["euclidean"]')

    def no_model(self, cfg: KNNDigitsConfig) -> str | None:
        return ("knn-digits holds no trained model to evaluate, export or predict with: k-NN classifies from the "
                "training images themselves; the chosen k and distance and the test accuracy are in results.json "
                "(run the recipe again to recompute them)")

    def run(self, cfg: KNNDigitsConfig, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        notes = note_unused_trainer_settings(self.name, cfg, (), "k-NN does not train")
        write_run_config(run_dir, self.name, cfg)
        data = load_image_data(cfg.data)
        x_tr, y_tr = data.train.tensors[:2]
        x_va, y_va = data.val.tensors[:2]
        x_te, y_te = data.test.tensors[:2]
        if not cfg.ks or not cfg.metrics:
            raise ConfigError("knn-digits needs at least one k (ks) and one distance (metrics)")
        k_num = data.info.num_classes
        val_acc: dict[tuple[str, int], float] = {}
        for metric in cfg.metrics:
            for k in cfg.ks:
                knn = KNNClassifier(k=k, metric=metric, query_chunk=cfg.query_chunk, train_chunk=cfg.train_chunk)
                val_acc[(metric, k)] = knn.fit(x_tr, y_tr, num_classes=k_num).score(x_va, y_va)
        # best validation accuracy; ties go to the smaller k, then to the first distance listed
        best_metric, best_k = max(val_acc, key=lambda mk: (val_acc[mk], -mk[1], -cfg.metrics.index(mk[0])))
        knn = KNNClassifier(k=best_k, metric=best_metric, query_chunk=cfg.query_chunk, train_chunk=cfg.train_chunk)
        # the chosen model predicts the test set from training + validation images
        knn.fit(torch.cat([x_tr, x_va]), torch.cat([y_tr, y_va]), num_classes=k_num)
        t0 = time.perf_counter()
        pred = knn.predict(x_te)
        seconds = time.perf_counter() - t0
        acc = float((pred == y_te).float().mean())
        metrics: dict[str, float | int | str] = {
            "test/accuracy": acc,
            "selected/k": best_k,
            "selected/metric": best_metric,
            "val/accuracy": val_acc[(best_metric, best_k)],
            "time/test_predict_s": seconds,
            "data/train_images": len(x_tr) + len(x_va),
            "data/test_images": len(x_te),
        }
        for (metric, k), a in val_acc.items():
            metrics[f"val/accuracy_{metric}_k{k}"] = a
        from torchmetrics.functional.classification import multiclass_confusion_matrix

        from ...report.plots import figure, plot_confusion_matrix, save_figure

        plot_confusion_matrix(multiclass_confusion_matrix(pred, y_te, k_num), data.info.class_names, run_dir)
        fig = figure(figsize=(5, 3.4))
        ax = fig.add_subplot(1, 1, 1)
        for metric in cfg.metrics:
            ax.plot(cfg.ks, [val_acc[(metric, k)] for k in cfg.ks], "-o", ms=3, label=metric)
        ax.set_xlabel("k (neighbours)")
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
        save_figure(fig, run_dir, "knn_validation", "Validation accuracy against k for each distance")
        write_results(run_dir, metrics, compared=list(cfg.metrics), notes=[
            f"chosen on validation: k={best_k}, {best_metric} distance; the test set is classified from the "
            "training and validation images together",
            "distances are computed in blocks (never an N x M x D tensor); vote ties go to the class of the nearest neighbour",
            *notes,
        ])
        finish_report(run_dir)
        return RunResult(self.name, run_dir, metrics, cfg, data=data)
