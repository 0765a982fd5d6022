"""The :class:`Task` contract: how a model is trained, validated and used (DESIGN §5).

A task is an ``nn.Module`` that owns the model(s), the loss and the metrics.
The trainer calls its ``*_step`` methods with a batch and a
:class:`StepContext`; the task returns the loss (automatic optimisation) or
drives its optimisers itself through the context (manual optimisation, as a
GAN needs: ``ctx.optimizers``, ``ctx.backward(loss)``, ``ctx.step(opt)``).

Logging: ``ctx.log("loss", value)`` records a running mean over the epoch,
weighted by the batch size; ``ctx.log("accuracy", metric)`` with a
``torchmetrics.Metric`` records the metric's ``compute()`` at the end of the
epoch.  Names are prefixed with the split: ``train/loss``, ``val/accuracy``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..data.batch import Batch, as_batch
from ..errors import ConfigError
from .optim import OptimizerSpec

if TYPE_CHECKING:  # pragma: no cover
    from .prediction import Prediction, PredictOptions
    from .trainer import Trainer

__all__ = ["Task", "StepContext", "MetricLog", "call_model"]

#: first lines of torch errors raised when inputs do not fit a layer (width, channels, rank, size)
_SHAPE_ERRORS = re.compile(
    r"mat1 and mat2 shapes cannot be multiplied|expected input\[.*channels|Expected \d+D \(unbatched\)"
    r"|input\.size\(-1\) must be equal to input_size|Kernel size can't be greater than actual input size"
    r"|is invalid for input of size|must match the size of tensor|size mismatch"
)


def _expected_input(model: nn.Module) -> str:
    """What the first layer with a declared input size expects, e.g. ``"its first Linear layer takes 5 features"``."""
    for m in model.modules():
        for attr, what in (("in_features", "feature"), ("in_channels", "channel"), ("input_size", "feature")):
            value = getattr(m, attr, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                per_step = " per step" if attr == "input_size" else ""
                return f"its first {type(m).__name__} layer takes {value} {what}{'s' if value != 1 else ''}{per_step}"
    return ""


def call_model(model: nn.Module, *args: Any, owner: str = "the task") -> Any:
    """``model(*args)``; inputs that do not fit the model's layers fail with one line naming both.

    Torch reports a width mismatch from deep inside the model (``mat1 and mat2
    shapes cannot be multiplied (32x4 and 5x3)``); this names the input
    shape and what the model's first layer expects, and keeps torch's words.

    Raises:
        ConfigError: a shape error of the forward pass (any other error passes unchanged).
    """
    try:
        return model(*args)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if not _SHAPE_ERRORS.search(first):
            raise
        shapes = ", ".join(str(list(a.shape)) for a in args if isinstance(a, torch.Tensor)) or "?"
        expected = _expected_input(model)
        raise ConfigError(
            f"{owner}: the inputs of shape {shapes} do not fit the model {type(model).__name__}"
            f"{' (' + expected + ')' if expected else ''}; torch says: {first}"
        ) from e


def _single_process() -> bool:
    return False


class MetricLog:
    """Epoch accumulators behind ``ctx.log``: running means and torchmetrics objects."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, float] = {}
        self.metrics: dict[str, Any] = {}
        self.last: dict[str, torch.Tensor] = {}
        self.artifacts: dict[str, torch.Tensor] = {}  # non-scalar metric results of the last compute

    def reset(self) -> None:
        for m in self.metrics.values():
            m.reset()
        self.sums.clear()
        self.counts.clear()
        self.metrics.clear()
        self.last.clear()

    def add(self, name: str, value: Any, weight: float) -> None:
        if hasattr(value, "compute") and hasattr(value, "update"):
            self.metrics[name] = value
            return
        v = value.detach() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
        if v.numel() != 1:
            raise ConfigError(f"ctx.log({name!r}, ...) needs a scalar or a torchmetrics Metric; got shape {tuple(v.shape)}")
        v = v.reshape(()).float()
        self.last[name] = v
        if name in self.sums:
            self.sums[name] = self.sums[name] + v * weight
            self.counts[name] += weight
        else:
            self.sums[name] = v * weight
            self.counts[name] = weight

    def compute(self, prefix: str, reduce_sum=None) -> dict[str, float]:
        """Epoch values ``{prefix/name: float}``; ``reduce_sum`` all-reduces across processes (``None``: this
        process's values only, torchmetrics metrics included)."""
        out: dict[str, float] = {}
        names = sorted(self.sums)
        if names:
            sums = torch.stack([self.sums[n].cpu() for n in names])
            counts = torch.tensor([self.counts[n] for n in names], dtype=sums.dtype)
            if reduce_sum is not None:
                sums, counts = reduce_sum(sums), reduce_sum(counts)
            for n, s, c in zip(names, sums.tolist(), counts.tolist()):
                out[f"{prefix}/{n}"] = s / c if c else float("nan")
        self.artifacts = {}
        for n, m in sorted(self.metrics.items()):
            # torchmetrics syncs over every process of the default group when one exists; a trainer of one
            # process inside a multi-process job (a judge trained on rank 0 after the run) must not
            # (``distributed_available_fn``, a constructor argument of every torchmetrics Metric, decides that)
            available = getattr(m, "distributed_available_fn", None)
            if reduce_sum is None and available is not None:
                m.distributed_available_fn = _single_process
            try:
                value = m.compute()
            finally:
                if available is not None:
                    m.distributed_available_fn = available
            items = value.items() if isinstance(value, Mapping) else [(n, value)]
            for key, v in items:
                name = f"{prefix}/{key}"
                if isinstance(v, torch.Tensor) and v.numel() == 1:
                    if name in out:
                        raise ConfigError(f"metric {n!r} logs {key!r}, which another metric of {prefix} logs too")
                    out[name] = float(v)
                elif isinstance(v, torch.Tensor):
                    self.artifacts[name] = v.detach().cpu()
                elif isinstance(v, (int, float)):
                    out[name] = float(v)
        return out

    # -- checkpointing: the running sums (metric objects are saved by the trainer through the task)
    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums = {k: v.clone() for k, v in state["sums"].items()}
        self.counts = {k: float(v) for k, v in state["counts"].items()}


class StepContext:
    """What a task's step sees of the trainer.

    Attributes:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"predict"``.
        epoch: current epoch (0-based).
        global_step: optimiser steps completed so far.
        batch_idx: index of the batch within the epoch.
        optimizers: the task's optimisers, in ``configure_optimizers`` order.
        trainer: the running :class:`~an2dl.engine.Trainer`.
    """

    def __init__(self, trainer: Trainer, split: str, log: MetricLog, *, training: bool = False) -> None:
        self.trainer = trainer
        self.split = split
        self._training = training
        self._log = log
        self.batch_idx = 0
        self.batch_size = 1

    @property
    def epoch(self) -> int:
        return self.trainer.epoch

    @property
    def global_step(self) -> int:
        return self.trainer.global_step

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        return self.trainer.optimizers

    @property
    def device(self) -> torch.device:
        return self.trainer.device

    @property
    def training(self) -> bool:
        """True inside a training step (augmentation, dropout); False in every evaluation,
        also when the training split itself is evaluated."""
        return self._training

    def log(self, name: str, value: Any, *, batch_size: int | None = None) -> None:
        """Record ``value`` (scalar tensor/float or a torchmetrics Metric) as ``split/name``."""
        self._log.add(name, value, float(batch_size if batch_size is not None else self.batch_size))

    def backward(self, loss: torch.Tensor) -> None:
        """Manual optimisation: back-propagate ``loss`` (runs the after-backward callbacks)."""
        self.trainer._manual_backward(loss)

    def step(self, optimizer: torch.optim.Optimizer, *, zero_grad: bool = True) -> None:
        """Manual optimisation: clip (callbacks), step ``optimizer`` and clear its gradients."""
        self.trainer._manual_step(optimizer, zero_grad=zero_grad)


class Task(nn.Module):
    """Base class of everything the trainer can fit.

    Subclasses implement :meth:`step` (or :meth:`training_step` and
    :meth:`validation_step`); the defaults of the other hooks cover most tasks.

    **Batches.** Every step receives a :class:`~an2dl.data.batch.Batch` whose
    fields the task reads by name (``batch.inputs``, ``batch.targets``, ...).
    Datasets that yield tuples are named by position with :attr:`batch_fields`
    (:meth:`tuple_fields` may depend on the tuple's length); the fields in
    :attr:`required_fields` are checked before every step, so a batch that
    lacks one fails with a one-line error naming the field.

    **Metrics.** A task declares its metrics once with :meth:`declare_metrics`
    (``{"accuracy": metric("accuracy", num_classes=10)}``); the base builds
    one ``torchmetrics.MetricCollection`` per split and
    :meth:`update_metrics` updates and logs the current split's.

    **Augmentation.** ``augment`` (a module, usually an an2dl
    :class:`~an2dl.data.transforms.Transform`) is applied by the base to
    training batches only, before the step.  An an2dl transform moves the
    fields named in :attr:`augment_fields` with the pixels (a class label,
    a dense mask, per-image boxes/masks/keypoints); any other module is
    applied to ``inputs`` alone.  It is kept outside the model, so an
    exported model carries no augmentation.

    Args:
        optimizer: one :class:`OptimizerSpec` or a sequence of them (one per
            optimiser, e.g. generator and discriminator), used by the default
            :meth:`configure_optimizers`.
        augment: the training-time batch transform, or ``None``.
    """

    #: what the task's models do, recorded as ``task`` in an exported ``model.json``; ``an2dl predict``
    #: finds the class of a kind in :data:`an2dl.tasks.TASK_KINDS` (``generic``: no predict)
    kind: str = "generic"
    #: ``False`` for tasks that call ``ctx.backward`` / ``ctx.step`` themselves.
    automatic_optimization: bool = True
    #: names of the fields of a tuple batch, by position
    batch_fields: tuple[str, ...] = ("inputs", "targets")
    #: fields every training and evaluation batch must have (checked before each step)
    required_fields: tuple[str, ...] = ("inputs",)
    #: fields a prediction batch must have (no targets)
    predict_fields: tuple[str, ...] = ("inputs",)
    #: ``{batch field: transform target key}``: what an an2dl Transform moves with the image
    #: (``"label"``: class ids or soft targets, ``"mask"``: a dense mask, ``"instances"``: per-image target dicts)
    augment_fields: Mapping[str, str] = {}

    def __init__(self, optimizer: OptimizerSpec | Sequence[OptimizerSpec] | None = None, *,
                 augment: nn.Module | None = None) -> None:
        super().__init__()
        if optimizer is None:
            specs: list[OptimizerSpec] = [OptimizerSpec()]
        elif isinstance(optimizer, OptimizerSpec):
            specs = [optimizer]
        else:
            specs = list(optimizer)
        for s in specs:
            if not isinstance(s, OptimizerSpec):
                raise ConfigError(f"optimizer must be an OptimizerSpec or a list of them; got {type(s).__name__}")
        if augment is not None and not isinstance(augment, nn.Module):
            raise ConfigError(f"augment must be an nn.Module (e.g. an an2dl Transform) or None; got {type(augment).__name__}")
        self.optimizer_specs = specs
        self.augment = augment
        self.split_metrics = nn.ModuleDict()

    # ---- batches
    def tuple_fields(self, n: int) -> tuple[str, ...]:
        """Names of the fields of a tuple batch of length ``n``: the first ``n`` of :attr:`batch_fields`
        (a shorter tuple names its leading fields; the required-field check catches what is missing)."""
        return self.batch_fields[:n] if n <= len(self.batch_fields) else self.batch_fields

    def as_batch(self, raw: Any) -> Batch:
        """The loader's batch as a named :class:`~an2dl.data.batch.Batch` (tuples named by position)."""
        if isinstance(raw, (tuple, list)):
            return as_batch(raw, self.tuple_fields(len(raw)), owner=type(self).__name__)
        return as_batch(raw, owner=type(self).__name__)

    def check_batch(self, batch: Batch, split: str) -> None:
        """Validate a batch before a step (default: the :attr:`required_fields` are present)."""
        batch.require(*(self.predict_fields if split == "predict" else self.required_fields), owner=type(self).__name__)

    def prepare_batch(self, raw: Any, ctx: StepContext) -> Batch:
        """Name, check and (training only) augment a batch; the trainer calls it before every step."""
        batch = self.as_batch(raw)
        self.check_batch(batch, ctx.split)
        if ctx.training and self.augment is not None:
            batch = self.augment_batch(batch)
        return batch

    def augment_batch(self, batch: Batch) -> Batch:
        """Apply ``augment`` to ``inputs`` and, for an an2dl Transform, to the :attr:`augment_fields`."""
        from ..data.transforms.base import Transform

        if not isinstance(self.augment, Transform):
            return batch.replace(inputs=self.augment(batch.inputs))
        moved = {f: key for f, key in self.augment_fields.items() if f in batch}
        if not moved:
            return batch.replace(inputs=self.augment(batch.inputs))
        if "instances" in moved.values():
            (field,) = [f for f, k in moved.items() if k == "instances"]
            targets = [dict(t) for t in batch[field]]
            for f, key in moved.items():
                if key != "instances":
                    for i, t in enumerate(targets):
                        t[key] = batch[f][i]
            x, out = self.augment(batch.inputs, targets)
            changes = {field: [{k: v for k, v in t.items() if k not in moved.values()} for t in out]}
            for f, key in moved.items():
                if key != "instances":
                    changes[f] = torch.stack([t[key] for t in out])
            return batch.replace(inputs=x, **changes)
        if list(moved.values()) == ["label"]:
            (field,) = moved
            x, y = self.augment(batch.inputs, batch[field])
            return batch.replace(inputs=x, **{field: y})
        x, out = self.augment(batch.inputs, {key: batch[f] for f, key in moved.items()})
        return batch.replace(inputs=x, **{f: out[key] for f, key in moved.items()})

    # ---- metrics
    def declare_metrics(self, declarations: Mapping[str, Any]) -> None:
        """Build one ``MetricCollection`` per split from ``{log name: metric(...)}`` (see :mod:`an2dl.engine.metrics`).

        A name declared for some splits only (``metric(..., splits=("val", "test"))``)
        is absent from the other splits' collections.
        """
        from torchmetrics import MetricCollection

        from .metrics import SPLITS, MetricSpec, build_metric, metric

        if not isinstance(declarations, Mapping):
            raise ConfigError(f"declare_metrics needs a mapping {{name: metric(...)}}; got {type(declarations).__name__}")
        specs = {n: metric(s) if isinstance(s, str) else s for n, s in declarations.items()}
        for n, s in specs.items():
            if not isinstance(s, MetricSpec):
                raise ConfigError(f"metric {n!r} must be declared with metric(name, ...); got {type(s).__name__}")
        # keyed "<split>_metrics": a module cannot have a child named "train" (nn.Module.train)
        self.split_metrics = nn.ModuleDict({
            f"{split}_metrics": MetricCollection({n: build_metric(s) for n, s in specs.items() if split in s.splits},
                                                 compute_groups=False)
            for split in SPLITS
        })

    def metrics_for(self, split: str) -> Mapping[str, Any]:
        """The declared metrics of ``split`` (``predict`` and unknown splits have none)."""
        key = f"{split}_metrics"
        return self.split_metrics[key] if key in self.split_metrics else {}

    def update_metrics(self, ctx: StepContext, *args: Any, names: Sequence[str] | None = None) -> None:
        """Update the current split's metrics (all, or those in ``names``) with ``args`` and log them."""
        for name, m in self.metrics_for(ctx.split).items():
            if names is None or name in names:
                m.update(*args)
                ctx.log(name, m)

    # ---- steps
    def step(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        """Compute and log the loss of one batch, in training and in evaluation alike.

        Most tasks differ between training and evaluation only in ``ctx.split``
        and ``ctx.training``: they define this one method, which the default
        :meth:`training_step` and :meth:`validation_step` call.
        """
        raise TypeError(f"{type(self).__name__} must define step(batch, ctx) or training_step(batch, ctx)")

    def training_step(self, batch: Batch, ctx: StepContext) -> torch.Tensor | dict[str, Any] | None:
        """Compute the loss of one training batch (or, in manual mode, step the optimisers); default: :meth:`step`."""
        return self.step(batch, ctx)

    def validation_step(self, batch: Batch, ctx: StepContext) -> Any:
        """Evaluate one batch (log metrics through ``ctx``); default: :meth:`step` if the task defines it."""
        if type(self).step is not Task.step:
            return self.step(batch, ctx)
        return None

    def test_step(self, batch: Batch, ctx: StepContext) -> Any:
        """Evaluate one test batch; defaults to :meth:`validation_step`."""
        return self.validation_step(batch, ctx)

    def predict_step(self, batch: Batch, ctx: StepContext) -> Any:
        """Outputs for one batch; the default runs ``self(batch.inputs)``."""
        return self(batch.inputs)

    def configure_optimizers(self) -> list[OptimizerSpec | torch.optim.Optimizer]:
        """The optimisers: specs (built by the trainer) or ready ``torch.optim`` objects."""
        return list(self.optimizer_specs)

    # ---- exported models (``model.json``, ``an2dl predict``)
    @classmethod
    def export_metadata(cls, *, class_names: Sequence[str] | None = None,
                        preprocessing: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What ``model.json`` records about a model this task trained: its kind, class names and preprocessing.

        ``export(model, directory, **TaskClass.export_metadata(...))`` writes it
        (:func:`an2dl.export.export`); ``an2dl predict`` reads it back.

        Args:
            class_names: names of the output classes (none for models without classes).
            preprocessing: what inputs look like, e.g. ``{"input_shape": [1, 32, 32],
                "value_range": [0, 1]}``; each kind's :meth:`predict_inputs` says which keys it reads.

        Returns:
            ``{"task": cls.kind, "class_names": [...], "preprocessing": {...}}``.
        """
        return {"task": cls.kind, "class_names": list(class_names or []), "preprocessing": dict(preprocessing or {})}

    @classmethod
    def predict_inputs(cls, model: nn.Module, meta: dict[str, Any], inputs: Sequence[str], *,
                       options: PredictOptions) -> Prediction:
        """Use an exported model of this kind on ``inputs`` (``an2dl predict RUN_DIR INPUT...``).

        Subclasses whose models have a meaningful output override this; the
        base class (kind ``generic``) refuses, since it does not know what its
        model's outputs mean.

        Args:
            model: the model rebuilt by :func:`an2dl.load`, in eval mode.
            meta: its ``model.json``.
            inputs: input files (or literal values) as given on the command line.
            options: the command line's options.

        Returns:
            :class:`~an2dl.engine.prediction.Prediction`: printed lines, written files, values.

        Raises:
            ConfigError: always here, naming the run and the task kind.
        """
        raise ConfigError(f"the model of {options.source} was trained by a task of kind {cls.kind!r}, which has no "
                          "predict; load it with an2dl.load(...) and call it in Python")
