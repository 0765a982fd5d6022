"""``transfer-mnist``: transfer learning and fine-tuning on MNIST digits (notes §3.4.2).

The experiment of the notes' section, end to end on real data:

1. **pre-train** a small ResNet (the CIFAR ResNet-20 of He et al. 2016) on
   the digits 0–4 of MNIST's training set;
2. **transfer** it to the digits 5–9 with only ``shots`` = 50 labelled images
   per class: remove the top, add a new linear head, freeze the trunk (its
   batch norms in evaluation mode) and train the head;
3. **fine-tune**: unfreeze the trunk and train everything at a lower,
   block-wise decaying learning rate;
4. **baseline**: the same network trained from scratch on the same
   5 × 50 = 250 images for as many epochs as stages 2 and 3 together.

Both are evaluated on every test image of the digits 5–9.  ``results.json``
holds ``pretrain/test_accuracy`` (digits 0–4), ``head/test_accuracy``
(after step 2), ``transfer/test_accuracy`` (after step 3),
``scratch/test_accuracy`` and their difference ``transfer_gain``.
The recipe runs several trainings and cannot be resumed; run it again.
``trainer.max_epochs`` (default: none) caps the epochs of every stage, e.g.
``--set trainer.max_epochs=1`` for a quick check.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._utils.rng import seed_everything
from ...data import get_dataset
from ...data.core import ArrayDataset, ClassificationInfo, DataSplits
from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...engine.trainer import Trainer
from ...engine.transfer import fine_tune
from ...errors import ConfigError
from ...export import export
from ...models import get_model
from ...models._checks import check_positive_int
from ...models.transfer import trainable_parameters, transfer
from ...tasks import ClassificationTask
from .._variants import note_unused_trainer_settings
from ..base import (
    Recipe,
    RunResult,
    finish_report,
    input_preprocessing,
    register_recipe,
    write_results,
    write_run_config,
)
from ..config import TrainerConfig, standard_callbacks, trainer_kwargs

__all__ = ["TransferMNIST", "TransferMNISTConfig", "split_digits", "few_shot"]


@dataclass
class TransferData:
    root: str | None = None  # MNIST IDX folder (default: $AN2DL_DATA_DIR/mnist, the cache, a download)
    source_digits: tuple[int, ...] = (0, 1, 2, 3, 4)  # classes of the pre-training task
    target_digits: tuple[int, ...] = (5, 6, 7, 8, 9)  # classes of the new task
    shots: int = 50  # labelled training images per target class
    pretrain_limit: int | None = None  # pre-train on at most n source images (quick runs)
    test_limit: int | None = None  # evaluate on at most n test images per task (quick runs)
    seed: int = 0  # seed of the validation split and of the few-shot sample


@dataclass
class TransferModelConfig:
    name: str = "resnet20"  # any zoo classifier that accepts in_channels and num_classes
    kwargs: dict[str, Any] = field(default_factory=dict)  # extra builder arguments, e.g. {"width": 8}
    head: str = "linear"  # the new head: "linear" (minimal) or "mlp"
    hidden: int = 128  # hidden units of the "mlp" head
    dropout: float = 0.0  # dropout in the new head


@dataclass
class StageConfig:
    epochs: int = 10  # passes over the stage's training set
    batch_size: int = 50  # mini-batch size
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-3))


@dataclass
class FineTuneConfig:
    epochs: int = 15  # passes over the few-shot target images
    batch_size: int = 50  # mini-batch size
    blocks: str = "all"  # trunk blocks to unfreeze from the top: "all" or a number
    lr: float = 1e-3  # learning rate of the topmost unfrozen block (lower than the head's 1e-2)
    decay: float = 0.5  # learning-rate factor per block towards the input (1: one rate)
    head_lr: float | None = None  # learning rate of the head (None: lr)
    optimizer: str = "adam"  # sgd, adam, adamw or rmsprop


@dataclass
class TransferMNISTConfig:
    data: TransferData = field(default_factory=TransferData)
    model: TransferModelConfig = field(default_factory=TransferModelConfig)
    pretrain: StageConfig = field(default_factory=lambda: StageConfig(
        epochs=2, batch_size=128,
        optim=OptimizerSpec("adam", lr=2e-3, schedule=ScheduleSpec("onecycle", interval="step", max_lr=4e-3))))
    head: StageConfig = field(default_factory=lambda: StageConfig(epochs=10, optim=OptimizerSpec("adam", lr=1e-2)))
    finetune: FineTuneConfig = field(default_factory=FineTuneConfig)
    scratch: StageConfig = field(default_factory=lambda: StageConfig(epochs=25, optim=OptimizerSpec("adam", lr=2e-3)))
    # every stage's seed, device, precision, ...; max_epochs (None: each stage's epochs) caps the epochs of every
    # stage; the batch sizes and the validation are set per stage
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=None))


def split_digits(dataset: ArrayDataset, digits: tuple[int, ...], *, limit: int | None = None) -> ArrayDataset:
    """The samples of ``dataset`` whose label is in ``digits``, relabelled ``0 … len(digits)-1``.

    Args:
        dataset: ``(image, label)`` pairs.
        digits: the labels kept, in the order that defines the new labels.
        limit: keep only the first n of them.
    """
    x, y = dataset.tensors[0], dataset.tensors[1]
    lookup = torch.full((int(y.max()) + 1,), -1, dtype=torch.long)
    lookup[torch.tensor(digits)] = torch.arange(len(digits))
    keep = torch.nonzero(lookup[y] >= 0).flatten()
    if limit is not None:
        keep = keep[:limit]
    return ArrayDataset(x[keep], lookup[y[keep]])


def few_shot(dataset: ArrayDataset, shots: int, *, seed: int) -> ArrayDataset:
    """``shots`` random samples of each class of ``dataset`` (seeded), in class order.

    Raises:
        ConfigError: a class has fewer than ``shots`` samples.
    """
    y = dataset.tensors[1]
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        if len(idx) < shots:
            raise ConfigError(f"class {c} has {len(idx)} training images; data.shots={shots} needs at least that many")
        picked.append(idx[torch.randperm(len(idx), generator=g)[:shots]])
    keep = torch.cat(picked)
    return ArrayDataset(*(t[keep] for t in dataset.tensors))


@register_recipe
class TransferMNIST(Recipe):
    """Pre-train on MNIST 0–4, transfer to 5–9 with 50 images per class, fine-tune, compare with scratch."""

    name = "transfer-mnist"
    summary = "transfer learning + fine-tuning: ResNet-20 pre-trained on digits 0-4, 50 shots of 5-9 vs scratch"
    section = "3.4.2"
    Config = TransferMNISTConfig
    cannot_resume = "its four stages hand weights to one another in memory and are not checkpointed together"
    smoke_settings = ("trainer.max_epochs=1", "data.pretrain_limit=300", "data.test_limit=200", "data.shots=5",
                      'model.kwargs={"width": 4}')

    def _check(self, cfg: TransferMNISTConfig) -> None:
        d = cfg.data
        if set(d.source_digits) & set(d.target_digits):
            raise ConfigError(f"data.source_digits {d.source_digits} and data.target_digits {d.target_digits} must not overlap")
        for name, digits in (("source_digits", d.source_digits), ("target_digits", d.target_digits)):
            if len(digits) < 2 or any(not 0 <= c <= 9 for c in digits) or len(set(digits)) != len(digits):
                raise ConfigError(f"data.{name} must list at least 2 distinct digits in 0..9; got {digits}")
        check_positive_int(self.name, "data.shots", d.shots)
        if cfg.finetune.blocks != "all" and not cfg.finetune.blocks.isdigit():
            raise ConfigError(f"finetune.blocks must be 'all' or a number of blocks; got {cfg.finetune.blocks!r}")

    def _trainer(self, cfg: TransferMNISTConfig, run_dir: Path, stage: str, epochs: int, batch_size: int,
                 validate: bool, progress: bool | None) -> Trainer:
        tc = cfg.trainer
        if tc.max_epochs is not None:
            epochs = min(epochs, tc.max_epochs)
        # every trainer setting (devices, num_nodes, precision, ...) holds for both stages; each stage has its own
        # epochs, batch size and validation
        kw = trainer_kwargs(tc) | {"max_epochs": epochs, "batch_size": batch_size,
                                   "val_every_n_epochs": 1 if validate else None,
                                   "val_every_n_steps": None}
        return Trainer(**kw, run_dir=run_dir / stage, progress=progress, callbacks=standard_callbacks(cfg),
                       config={"recipe": self.name, "stage": stage})

    def _fit(self, cfg: TransferMNISTConfig, run_dir: Path, stage: str, task: ClassificationTask, train: ArrayDataset,
             val: ArrayDataset | None, test: ArrayDataset, epochs: int, batch_size: int,
             progress: bool | None) -> tuple[Trainer, dict[str, Any]]:
        trainer = self._trainer(cfg, run_dir, stage, epochs, batch_size, val is not None, progress)
        t0 = time.perf_counter()
        trainer.fit(task, train, val)
        seconds = time.perf_counter() - t0
        metrics = trainer.evaluate(task, test, split="test")
        return trainer, {f"{stage}/{k.split('/', 1)[1]}": v for k, v in metrics.items()} | {f"{stage}/fit_seconds": seconds}

    def build(self, cfg: TransferMNISTConfig):
        """The fine-tuned network's task (the trunk with the new head) and the target digits on which ``an2dl eval``
        measures it: the few-shot training images and the test images (no validation part)."""
        self._check(cfg)
        d, m = cfg.data, cfg.model
        mnist = get_dataset("mnist", root=d.root, val_fraction=1 / 12, seed=d.seed)
        train = few_shot(split_digits(mnist.train, d.target_digits), d.shots, seed=d.seed)
        test = split_digits(mnist.test, d.target_digits, limit=d.test_limit)
        model = get_model(m.name, num_classes=len(d.source_digits), in_channels=1, **m.kwargs)
        transfer(model, len(d.target_digits), head=m.head, hidden=m.hidden, dropout=m.dropout)
        info = ClassificationInfo("mnist", class_names=[str(c) for c in d.target_digits],
                                  input_shape=tuple(mnist.info.input_shape), preprocess=mnist.info.preprocess)
        return ClassificationTask(model, num_classes=len(d.target_digits)), DataSplits(train, None, test, info)

    def run(self, cfg: TransferMNISTConfig, run_dir: Path, *, resume: bool = False,
            progress: bool | None = None) -> RunResult:
        self._check(cfg)
        notes = note_unused_trainer_settings(
            self.name, cfg, [f.name for f in dataclasses.fields(TrainerConfig)
                             if f.name not in ("batch_size", "val_every_n_epochs", "val_every_n_steps")],
            "each stage sets its batch size (pretrain.batch_size, ...) and whether it validates")
        write_run_config(run_dir, self.name, cfg)
        d, m = cfg.data, cfg.model
        seed_everything(cfg.trainer.seed)
        mnist = get_dataset("mnist", root=d.root, val_fraction=1 / 12, seed=d.seed)
        src_train = split_digits(mnist.train, d.source_digits, limit=d.pretrain_limit)
        src_val = split_digits(mnist.val, d.source_digits)
        src_test = split_digits(mnist.test, d.source_digits, limit=d.test_limit)
        tgt_train = few_shot(split_digits(mnist.train, d.target_digits), d.shots, seed=d.seed)
        tgt_test = split_digits(mnist.test, d.target_digits, limit=d.test_limit)
        n_src, n_tgt = len(d.source_digits), len(d.target_digits)
        metrics: dict[str, Any] = {}
        histories: dict[str, list] = {}

        # 1. pre-training on the source digits
        model = get_model(m.name, num_classes=n_src, in_channels=1, **m.kwargs)
        task = ClassificationTask(model, num_classes=n_src, optimizer=cfg.pretrain.optim)
        tr, res = self._fit(cfg, run_dir, "pretrain", task, src_train, src_val, src_test, cfg.pretrain.epochs,
                            cfg.pretrain.batch_size, progress)
        metrics.update(res)
        histories["pretrain"] = tr.history
        pretrained_state = copy.deepcopy(model.state_dict())

        # 2. transfer: new head, frozen trunk
        transfer(model, n_tgt, head=m.head, hidden=m.hidden, dropout=m.dropout)
        metrics["head/trainable_parameters"] = trainable_parameters(model)
        task = ClassificationTask(model, num_classes=n_tgt, optimizer=cfg.head.optim)
        tr, res = self._fit(cfg, run_dir, "head", task, tgt_train, None, tgt_test, cfg.head.epochs,
                            cfg.head.batch_size, progress)
        metrics.update(res)
        histories["head"] = tr.history
        frozen_unchanged = all(torch.equal(v, model.state_dict()[k]) for k, v in pretrained_state.items()
                               if k in model.state_dict())
        metrics["head/trunk_unchanged"] = frozen_unchanged

        # 3. fine-tuning: unfreeze, lower and decaying learning rates
        ft = cfg.finetune
        blocks: int | str = "all" if ft.blocks == "all" else int(ft.blocks)
        spec = fine_tune(model, blocks=blocks, lr=ft.lr, head_lr=ft.head_lr, decay=ft.decay, optimizer=ft.optimizer)
        metrics["transfer/trainable_parameters"] = trainable_parameters(model)
        task = ClassificationTask(model, num_classes=n_tgt, optimizer=spec)
        tr, res = self._fit(cfg, run_dir, "transfer", task, tgt_train, None, tgt_test, ft.epochs, ft.batch_size, progress)
        metrics.update(res)
        histories["transfer"] = tr.history
        final_task, final_trainer = task, tr
        # the fine-tuned network is the run's model: `an2dl predict` and `an2dl export` use it
        export(model, run_dir / "model", **task.export_metadata(
            class_names=[str(c) for c in d.target_digits],
            preprocessing=input_preprocessing(mnist.info)))

        # 4. the baseline: same network, same few-shot images, from scratch
        seed_everything(cfg.trainer.seed + 1)
        scratch = get_model(m.name, num_classes=n_tgt, in_channels=1, **m.kwargs)
        task = ClassificationTask(scratch, num_classes=n_tgt, optimizer=cfg.scratch.optim)
        tr, res = self._fit(cfg, run_dir, "scratch", task, tgt_train, None, tgt_test, cfg.scratch.epochs,
                            cfg.scratch.batch_size, progress)
        metrics.update(res)
        histories["scratch"] = tr.history

        metrics["transfer_gain"] = metrics["transfer/accuracy"] - metrics["scratch/accuracy"]
        metrics = {k.replace("/accuracy", "/test_accuracy").replace("/loss", "/test_loss"): v for k, v in metrics.items()}
        metrics["test/accuracy"] = metrics["transfer/test_accuracy"]
        sizes = {"pretrain_train": len(src_train), "pretrain_val": len(src_val), "pretrain_test": len(src_test),
                 "target_train": len(tgt_train), "target_test": len(tgt_test)}
        write_results(run_dir, metrics, sizes=sizes, stages=list(histories), notes=notes, compared=list(histories))
        result = RunResult(self.name, run_dir, metrics, cfg, final_task, None, final_trainer,
                           extra={"histories": histories, "sizes": sizes})
        self._figures(result)
        finish_report(run_dir, device=str(final_trainer.device), world_size=1)
        return result

    def _figures(self, result: RunResult) -> None:
        from ...report.plots import figure, save_figure

        mt, hist = result.metrics, result.extra["histories"]
        fig = figure(figsize=(5.5, 3.4))
        ax = fig.add_subplot(1, 1, 1)
        names = ["pre-trained\n(digits 0-4)", "new head only\n(5-9)", "fine-tuned\n(5-9)", "from scratch\n(5-9)"]
        keys = ["pretrain/test_accuracy", "head/test_accuracy", "transfer/test_accuracy", "scratch/test_accuracy"]
        values = [mt[k] for k in keys]
        bars = ax.bar(names, values, color=["#888888", "#6fa8dc", "#1f77b4", "#d62728"])
        for b, v in zip(bars, values):
            ax.text(b.get_x() + b.get_width() / 2, v + 0.005, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
        ax.set_ylim(min(values) - 0.05, 1.0)
        ax.set_ylabel("test accuracy")
        ax.grid(axis="y", alpha=0.3)
        save_figure(fig, result.run_dir, "transfer_vs_scratch",
                    f"Test accuracy: the network pre-trained on digits 0-4, then on digits 5-9 with "
                    f"{result.extra['sizes']['target_train']} labelled images: new head only, fine-tuned, "
                    "and the same network trained from scratch on the same images")
        fig = figure(figsize=(5.5, 3.4))
        ax = fig.add_subplot(1, 1, 1)
        head = [r["train/loss"] for r in hist["head"] if "train/loss" in r]
        tune = [r["train/loss"] for r in hist["transfer"] if "train/loss" in r]
        scratch = [r["train/loss"] for r in hist["scratch"] if "train/loss" in r]
        ax.plot(range(1, len(head) + 1), head, "-o", ms=3, label="transfer: head only")
        ax.plot(range(len(head) + 1, len(head) + len(tune) + 1), tune, "-o", ms=3, label="transfer: fine-tuning")
        ax.plot(range(1, len(scratch) + 1), scratch, "-s", ms=3, label="from scratch")
        ax.set_xlabel("epoch on the target images")
        ax.set_ylabel("training loss")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        save_figure(fig, result.run_dir, "target_training_loss",
                    "Training loss on the few-shot target set: the transferred network starts from useful features")
