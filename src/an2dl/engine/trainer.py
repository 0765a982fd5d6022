"""The training loop (DESIGN §5–§6).

The loop is short on purpose: it moves batches, calls the task's steps, steps
the optimisers and fires named events; everything else — checkpoints, early
stopping, schedules, clipping, logging, progress — is a callback.  Devices,
precision and multi-process strategies come from Lightning Fabric.

Events, in order, for one epoch::

    on_epoch_start
      for each batch: on_batch_start -> training_step -> backward -> on_after_backward
                      -> [on_before_optimizer_step -> optimizer.step]   (every `accumulate_grad_batches`)
                      -> [validation -> on_validation_end]              (every `val_every_n_steps`)
                      -> on_batch_end
    [validation -> on_validation_end]                                   (every `val_every_n_epochs`)
    on_epoch_end

Exact resume: before every training batch the global generators are reseeded
from ``(seed, epoch, batch index, rank)`` and the epoch's order is a function of
``(seed, epoch)``; a checkpoint stores the counters, optimiser, scheduler,
callback and metric states (:mod:`an2dl.engine.trainer_state`), so a resumed
run continues bit for bit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from .._utils.files import atomic_write_text
from .._utils.rng import derive_seed, seed_step
from ..data.batch import Batch
from ..data.core import collate
from ..errors import ConfigError, RunDirLockedError
from . import checkpoint as ckpt
from .callbacks.base import Callback
from .optim import OptimizerSpec, build_optimizer, build_scheduler
from .precision import resolve_precision
from .rundir import RunDirLock
from .sampling import EpochBatchSampler, ShardedBatchSampler
from .sharding import fsdp_strategy, gather_into, has_parameters, sharded_copy
from .task import MetricLog, StepContext, Task
from .trainer_state import TrainerState, capture_state, check_config, config_document, restore_state

__all__ = ["Trainer"]


def _positive_int(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"Trainer {name} must be a positive integer{' or None' if allow_none else ''}; got {value!r}")


class Trainer:
    """Fits, evaluates and applies a :class:`~an2dl.engine.Task`.

    Args:
        max_epochs: epochs to train (``None``: bounded by ``max_steps`` only).
        max_steps: optimiser steps to train (``None``: bounded by ``max_epochs``).
        batch_size: global mini-batch size (all processes together). The notes'
            batch gradient descent is ``batch_size = len(train)``, stochastic
            gradient descent ``batch_size = 1``.
        eval_batch_size: batch size for validation, test and prediction
            (default: ``2 * batch_size``).
        shuffle: draw a new seeded order every epoch.
        drop_last: drop the final incomplete training batch.
        accumulate_grad_batches: micro-batches whose gradients are summed
            before each optimiser step.
        val_every_n_epochs: validate after every n-th epoch (``None``: never).
        val_every_n_steps: also validate every n optimiser steps.
        seed: the seed every random draw of the run derives from.
        run_dir: directory for checkpoints and logs (``None``: keep nothing on disk). ``fit`` locks it
            (``run_dir/.an2dl.lock``; a second writer fails with ``RunDirLockedError``) and refuses to
            start afresh in a directory that holds checkpoints (resume them with ``ckpt_path="last"``).
        callbacks: extra callbacks; defaults are added for what they do not cover.
        accelerator, devices, strategy, precision: passed to Lightning Fabric
            (e.g. ``"cpu"``, ``2``, ``"ddp"``, ``"bf16-mixed"``); ``strategy="fsdp"`` shards parameters,
            gradients and optimiser state over the processes (:mod:`an2dl.engine.sharding`);
            ``precision="auto"`` is ``"bf16-mixed"`` on a device that multiplies bfloat16 natively and
            ``"32-true"`` elsewhere (:mod:`an2dl.engine.precision`), resolved here.
        num_nodes: machines the run spans, passed to Lightning Fabric: ``devices`` processes on
            each, ``devices * num_nodes`` in all, started by ``torchrun`` or SLURM (``srun``).
        num_workers: DataLoader worker processes.
        channels_last: keep the model's 4-D weights and the batches' 4-D floating-point tensors in the
            ``channels_last`` memory format (NHWC), the layout that convolution kernels of GPUs with tensor cores
            and of oneDNN on CPUs run fastest in; values are unchanged, only the layout in memory.
        compile: compile the forward of each of the task's modules with :func:`torch.compile` for this fit
            (the first steps pay the compilation; the modules' names and state dicts are unchanged, and the
            plain forward is back once ``fit`` returns, so export and ``predict`` see the eager model).
        progress: show a progress bar (``None``: only when stderr is a terminal).
        checkpoint: add a default ``Checkpoint`` callback (every epoch, keep the
            last) when ``run_dir`` is set and none is given.
        config: the resolved run configuration, stored in ``run_dir/config.json``
            and compared on resume.
    """

    def __init__(
        self,
        *,
        max_epochs: int | None = 10,
        max_steps: int | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        accumulate_grad_batches: int = 1,
        val_every_n_epochs: int | None = 1,
        val_every_n_steps: int | None = None,
        seed: int = 0,
        run_dir: str | os.PathLike | None = None,
        callbacks: Sequence[Callback] | None = None,
        accelerator: str = "auto",
        devices: int | str = 1,
        num_nodes: int = 1,
        strategy: str = "auto",
        precision: str = "32-true",
        num_workers: int = 0,
        channels_last: bool = False,
        compile: bool = False,
        progress: bool | None = None,
        checkpoint: bool = True,
        config: dict[str, Any] | None = None,
    ) -> None:
        if max_epochs is None and max_steps is None:
            raise ConfigError("Trainer needs max_epochs or max_steps; got neither")
        _positive_int("max_epochs", max_epochs, allow_none=True)
        _positive_int("max_steps", max_steps, allow_none=True)
        _positive_int("batch_size", batch_size)
        _positive_int("eval_batch_size", eval_batch_size, allow_none=True)
        _positive_int("accumulate_grad_batches", accumulate_grad_batches)
        _positive_int("val_every_n_epochs", val_every_n_epochs, allow_none=True)
        _positive_int("val_every_n_steps", val_every_n_steps, allow_none=True)
        _positive_int("num_nodes", num_nodes)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ConfigError(f"Trainer seed must be a non-negative integer; got {seed!r}")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigError(f"Trainer num_workers must be an integer >= 0; got {num_workers!r}")
        for flag, value in (("channels_last", channels_last), ("compile", compile)):
            if not isinstance(value, bool):
                raise ConfigError(f"Trainer {flag} must be true or false; got {value!r}")
        if isinstance(callbacks, Callback):
            name = type(callbacks).__name__
            raise ConfigError(f"Trainer callbacks must be a list of Callback instances; got one {name}, not in a list "
                              f"(write callbacks=[{name}(...)])")
        if callbacks is not None and (isinstance(callbacks, (str, bytes, dict)) or not hasattr(callbacks, "__iter__")):
            raise ConfigError(f"Trainer callbacks must be a list of Callback instances; got {type(callbacks).__name__}")
        for cb in callbacks or ():
            if not isinstance(cb, Callback):
                raise ConfigError(f"Trainer callbacks must be Callback instances; got {type(cb).__name__}")
        self.max_epochs, self.max_steps = max_epochs, max_steps
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or 2 * batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.accumulate_grad_batches = accumulate_grad_batches
        self.val_every_n_epochs, self.val_every_n_steps = val_every_n_epochs, val_every_n_steps
        self.seed = seed
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.accelerator, self.devices, self.strategy = accelerator, devices, strategy
        self.precision = resolve_precision(precision, accelerator)  # "auto": bf16-mixed where native
        self.num_nodes = num_nodes
        #: whether parameters are sharded over the processes (``strategy="fsdp"``, :mod:`an2dl.engine.sharding`)
        self.sharded = strategy == "fsdp"
        self._user_task: Task | None = None
        self.num_workers = num_workers
        self.channels_last, self.compile = channels_last, compile
        self.progress = progress
        self.checkpoint = checkpoint
        self.config = config or {}
        self.callbacks: list[Callback] = list(callbacks or [])

        self.fabric: Any = None
        self._reset_progress()

    # ------------------------------------------------------------------ public state
    def _reset_progress(self) -> None:
        self.epoch = 0  # current epoch (0-based)
        self.batch_in_epoch = 0  # batches of the current epoch already consumed
        self.global_step = 0  # optimiser steps done
        self.num_batches = 0  # training batches per epoch
        self.should_stop = False  # set by callbacks to end fit after the current batch
        self.stop_reason: str | None = None
        self.is_last_batch = False
        self.metrics: dict[str, float] = {}  # latest value of every epoch-level metric
        self.history: list[dict[str, Any]] = []  # one row per validation/epoch end; its "epoch" counts from 1
        self.eval_artifacts: dict[str, torch.Tensor] = {}  # non-scalar metric results, e.g. confusion matrices
        self.last_loss: torch.Tensor | None = None
        self.optimizers: list[torch.optim.Optimizer] = []
        self.schedulers: list[Any] = []
        self.task: Task | None = None
        self._module: Any = None
        self._train_log = MetricLog()
        self._stepped = False
        self._epoch_ending = False
        self._fitting = False

    @property
    def rank(self) -> int:
        return self.fabric.global_rank if self.fabric is not None else 0

    @property
    def world_size(self) -> int:
        return self.fabric.world_size if self.fabric is not None else 1

    @property
    def is_global_zero(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        return self.fabric.device if self.fabric is not None else torch.device("cpu")

    @property
    def checkpoint_dir(self) -> Path | None:
        return self.run_dir / "checkpoints" if self.run_dir is not None else None

    def settings(self) -> dict[str, Any]:
        """The settings that determine the result of ``fit`` (stored in ``config.json``)."""
        return {
            "max_epochs": self.max_epochs,
            "max_steps": self.max_steps,
            "batch_size": self.batch_size,
            "eval_batch_size": self.eval_batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "accumulate_grad_batches": self.accumulate_grad_batches,
            "val_every_n_epochs": self.val_every_n_epochs,
            "val_every_n_steps": self.val_every_n_steps,
            "seed": self.seed,
            "precision": self.precision,
        }

    # ------------------------------------------------------------------ set-up
    def _ensure_fabric(self) -> None:
        if self.fabric is not None:
            return
        from lightning_fabric import Fabric

        _check_multi_node_launch(self.num_nodes)
        _check_strategy(self.strategy)
        strategy: Any = self.strategy
        if self.sharded:
            if not isinstance(self.devices, int) or isinstance(self.devices, bool):
                raise ConfigError(f"Trainer strategy='fsdp' needs devices as a number of processes; got {self.devices!r}")
            strategy = fsdp_strategy(self.devices * self.num_nodes)
        precision: dict[str, Any] = {"precision": self.precision}
        if self.sharded and self.precision in ("64-true", "64", 64):
            # Fabric's ModelParallelStrategy takes float64 only as the plugin, not by name
            from lightning_fabric.plugins import DoublePrecision

            precision = {"plugins": [DoublePrecision()]}
        self.fabric = Fabric(
            accelerator=self.accelerator,
            devices=self.devices,
            num_nodes=self.num_nodes,
            strategy=strategy,
            **precision,
        )
        self.fabric.launch()

    def _default_callbacks(self) -> list[Callback]:
        from .callbacks import Checkpoint, LRSchedule, MetricsLogger, ProgressBar, TerminateOnNaN, Timer

        have = {type(cb) for cb in self.callbacks}
        extra: list[Callback] = []
        if not any(isinstance(cb, ProgressBar) for cb in self.callbacks):
            extra.append(ProgressBar(enable=self.progress))
        if TerminateOnNaN not in have:
            extra.append(TerminateOnNaN())
        if Timer not in have:
            extra.append(Timer())
        if LRSchedule not in have and any(s is not None for s in self.schedulers):
            extra.append(LRSchedule())
        if self.run_dir is not None:
            if MetricsLogger not in have:
                extra.append(MetricsLogger())
            if self.checkpoint and not any(isinstance(cb, Checkpoint) for cb in self.callbacks):
                extra.append(Checkpoint())
        return extra

    def _setup(self, task: Task, train: Dataset) -> None:
        if not isinstance(task, Task):
            raise ConfigError(f"fit needs an an2dl Task; got {type(task).__name__} (wrap your model in a Task)")
        _check_dataset(train, "train")
        self._ensure_fabric()
        self._reset_progress()
        # a dataset may ask for weighted sampling (class balancing) through a `sample_weights` attribute
        self._sample_weights = getattr(train, "sample_weights", None)
        if self.channels_last:
            task.to(memory_format=torch.channels_last)
        if self.sharded:  # train a sharded copy; `task` itself receives the weights after fit
            self._user_task, task = task, sharded_copy(task)
        self.task = task
        self._module = self.fabric.setup_module(task)
        for name in ("training_step", "validation_step", "test_step", "predict_step"):
            self._module.mark_forward_method(name)
        sampler = self._train_sampler(len(train), epoch=0, start=0)
        self.num_batches = sampler.num_batches
        if self.num_batches == 0:
            raise ConfigError(
                f"the training set ({len(train)} samples) gives no batch of batch_size={self.batch_size}"
                f"{' with drop_last=True' if self.drop_last else ''}"
            )
        steps_per_epoch = -(-self.num_batches // self.accumulate_grad_batches)
        total = self.max_steps or steps_per_epoch * (self.max_epochs or 1)
        if self.max_steps and self.max_epochs:
            total = min(self.max_steps, steps_per_epoch * self.max_epochs)
        self.optimizers, self.schedulers = [], []
        for item in task.configure_optimizers():
            if isinstance(item, OptimizerSpec):
                opt = build_optimizer(task, item)
                sched = build_scheduler(opt, item.schedule, total_steps=total, steps_per_epoch=steps_per_epoch)
            elif isinstance(item, torch.optim.Optimizer):
                opt, sched = item, None
            else:
                raise ConfigError(
                    f"configure_optimizers must return OptimizerSpec or torch.optim.Optimizer items; got {type(item).__name__}"
                )
            self.optimizers.append(opt)
            self.schedulers.append(sched)
        if task.automatic_optimization and len(self.optimizers) != 1:
            raise ConfigError(
                f"automatic optimisation needs exactly one optimizer; {type(task).__name__} configures "
                f"{len(self.optimizers)} (set automatic_optimization = False and step them with ctx.step)"
            )
        if not task.automatic_optimization and self.accumulate_grad_batches != 1:
            raise ConfigError("accumulate_grad_batches applies to automatic optimisation only; set it to 1")
        self.optimizers = list(self.fabric.setup_optimizers(*self.optimizers)) if len(self.optimizers) > 1 else [
            self.fabric.setup_optimizers(self.optimizers[0])
        ]
        self._active_callbacks = sorted(self.callbacks + self._default_callbacks(), key=lambda cb: cb.order)
        self._train_ctx = StepContext(self, "train", self._train_log, training=True)

    def _train_sampler(self, n: int, *, epoch: int, start: int) -> EpochBatchSampler:
        return EpochBatchSampler(
            n,
            self.batch_size,
            shuffle=self.shuffle,
            drop_last=self.drop_last,
            seed=self.seed,
            epoch=epoch,
            rank=self.rank,
            world_size=self.world_size,
            start_batch=start,
            weights=self._sample_weights,
        )

    def _loader(self, dataset: Dataset, batch_sampler: Any, *keys: Any) -> Any:
        collate_fn = getattr(dataset, "collate_fn", None) or collate
        pin_memory = self.device.type == "cuda"
        if self.num_workers == 0 and not pin_memory:
            # what DataLoader does in the main process, without its per-batch bookkeeping
            return _in_process_batches(dataset, batch_sampler, collate_fn)
        return DataLoader(
            dataset,
            batch_sampler=batch_sampler,
            collate_fn=collate_fn,
            num_workers=self.num_workers,
            pin_memory=pin_memory,
            generator=torch.Generator().manual_seed(derive_seed(self.seed, "loader", *keys)),
        )

    def _to_device(self, batch: Any) -> Any:
        if self.channels_last:
            batch = _channels_last(batch)
        if self.device.type == "cpu":
            return batch
        if isinstance(batch, Batch):
            return batch.to(self.device, non_blocking=True)
        return self.fabric.to_device(batch)

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self._active_callbacks:
            getattr(cb, hook)(self, self.task, *args)

    def _step(self, name: str, *args: Any) -> Any:
        """Call a task step through Fabric: under DDP & co. via the wrapper's forward, otherwise with the
        precision plugin's input conversion and autocast applied here (Fabric only does it in ``forward``)."""
        module = self._module
        # Fabric has no public way to ask whether the strategy wrapped the module (DDP, FSDP): the wrapper's
        # private `_forward_module` is the task itself exactly when it did not
        if module._forward_module is not module.module:
            return getattr(module, name)(*args)
        precision = self.fabric.strategy.precision
        args = precision.convert_input(args)
        with precision.forward_context():
            out = getattr(module.module, name)(*args)
        return precision.convert_output(out)

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        task: Task,
        train: Dataset,
        val: Dataset | None = None,
        *,
        ckpt_path: str | os.PathLike | None = None,
    ) -> dict[str, float]:
        """Train ``task`` on ``train``, validating on ``val``.

        Args:
            ckpt_path: a checkpoint directory, a run directory or ``"last"``
                (this trainer's latest checkpoint) to resume from.

        Returns:
            The latest value of every epoch-level metric (``train/loss``, ``val/...``).
        """
        self._setup(task, train)
        if val is not None:
            _check_dataset(val, "val")
        self._train_data, self._val_data = train, val
        resuming = ckpt_path is not None
        if resuming and str(ckpt_path) == "last" and self.checkpoint_dir is None:
            raise ConfigError('ckpt_path="last" needs a run_dir')
        lock = self._claim_run_dir(fresh=not resuming)
        try:
            if resuming:
                path = self.checkpoint_dir if str(ckpt_path) == "last" else Path(ckpt_path)  # type: ignore[arg-type]
                data = ckpt.load_checkpoint(path)
                check_config(data.state.get("config"), config_document(self))
            elif self.run_dir is not None and self.is_global_zero:
                atomic_write_text(self.run_dir / "config.json", json.dumps(config_document(self), indent=2) + "\n")
            self._fitting = True
            self._call("on_fit_start")
            if resuming:
                restore_state(self, data)
            compiled = _compile_forwards(self.task) if self.compile else []
            try:
                while not self._done():
                    self._train_epoch()
            except BaseException as exc:
                self._call("on_exception", exc)
                raise
            finally:
                self._fitting = False
                for module in compiled:
                    del module.forward  # the class's eager forward again
            self._call("on_fit_end")
            if self.sharded:
                self._unshard(task)
        finally:
            if lock is not None:
                lock.release()
        return dict(self.metrics)

    def _unshard(self, task: Task) -> None:
        """After a sharded fit: gather the trained weights into the user's ``task`` on every process, and make it
        the task that evaluation and prediction use."""
        assert self.task is not None
        whole = self._whole(task)
        gather_into(whole, self.task)
        self.task, self._module = whole, _Unwrapped(whole)

    def _whole(self, task: Task) -> Task:
        """``task`` (unsharded) in the run's precision and on its device, as Fabric prepares a module."""
        return self.fabric.strategy.precision.convert_module(task).to(self.device)

    def _claim_run_dir(self, *, fresh: bool) -> RunDirLock | None:
        """Lock ``run_dir`` for this fit (the global-zero process only) and, for a fresh fit, make sure it
        holds no other run's checkpoints.  Every process raises the same error when that fails."""
        if self.run_dir is None:
            return None
        lock, error = None, None
        if self.is_global_zero:
            try:
                lock = RunDirLock(self.run_dir).acquire()
                if fresh and ckpt.has_checkpoint(self.checkpoint_dir):  # type: ignore[arg-type]
                    found = ckpt.list_checkpoints(self.checkpoint_dir)  # type: ignore[arg-type]
                    latest = f" (latest: {found[-1].name})" if found else ""
                    raise ConfigError(
                        f"run_dir {self.run_dir} already holds the checkpoints of a run{latest}; continue that run "
                        'with fit(..., ckpt_path="last") or Trainer.resume, or give a new run_dir'
                    )
            except (RunDirLockedError, ConfigError) as e:
                if lock is not None:
                    lock.release()
                    lock = None
                error = e
        if self.world_size > 1:
            error = self.fabric.broadcast(error, src=0)
        if error is not None:
            raise error
        return lock

    def resume(self, task: Task, train: Dataset, val: Dataset | None = None) -> dict[str, float]:
        """Continue the run in ``run_dir`` from its latest checkpoint (see :meth:`fit`)."""
        if self.run_dir is None:
            raise ConfigError("resume needs the Trainer's run_dir")
        return self.fit(task, train, val, ckpt_path="last")

    def _done(self) -> bool:
        if self.should_stop:
            return True
        if self.max_steps is not None and self.global_step >= self.max_steps:
            return True
        return self.max_epochs is not None and self.epoch >= self.max_epochs

    def _train_epoch(self) -> None:
        task, train = self.task, self._train_data
        assert task is not None
        start = self.batch_in_epoch
        if start == 0:
            self._train_log.reset()
            self._call("on_epoch_start")
        # datasets that draw per-sample randomness (augmentation) are told the epoch, like DistributedSampler
        set_epoch = getattr(train, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(self.epoch)
        sampler = self._train_sampler(len(train), epoch=self.epoch, start=start)
        loader = self._loader(train, sampler, self.epoch, start)
        task.train()
        ctx = self._train_ctx
        for batch in loader:
            b = self.batch_in_epoch
            self.is_last_batch = b == self.num_batches - 1
            self._stepped = False
            seed_step(self.seed, "train", self.epoch, b, self.rank)
            ctx.batch_idx = b
            batch = task.prepare_batch(self._to_device(batch), ctx)
            ctx.batch_size = batch.size
            self._call("on_batch_start", batch, b)
            if task.automatic_optimization:
                outputs = self._automatic_step(batch, ctx, sampler.loss_scale(b))
            else:
                outputs = self._step("training_step", batch, ctx)
                self.global_step += 1
                self._stepped = True
            self.batch_in_epoch += 1
            if self._stepped and self.val_every_n_steps and self.global_step % self.val_every_n_steps == 0:
                self._validate()
            self._call("on_batch_end", outputs, batch, b)
            ckpt._fault("train:batch-end")
            if self._done():
                break
        if self.batch_in_epoch >= self.num_batches:
            self._end_epoch()

    def _automatic_step(self, batch: Any, ctx: StepContext, scale: float) -> Any:
        b, acc = self.batch_in_epoch, self.accumulate_grad_batches
        window_start = b - b % acc
        window = min(acc, self.num_batches - window_start)
        boundary = b + 1 == window_start + window
        sync_ctx = (
            self.fabric.no_backward_sync(self._module, enabled=not boundary)
            if self.world_size > 1 and acc > 1
            else _NULL_CONTEXT
        )
        with sync_ctx:
            outputs = self._step("training_step", batch, ctx)
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                raise ConfigError(
                    f"{type(self.task).__name__}.training_step must return a scalar loss tensor or a dict with "
                    f"'loss'; got {type(loss).__name__}{tuple(loss.shape) if isinstance(loss, torch.Tensor) else ''}"
                )
            self.last_loss = loss.detach()
            factor = scale / window
            self.fabric.backward(loss * factor if factor != 1.0 else loss)
        self._call("on_after_backward")
        if boundary:
            opt = self.optimizers[0]
            self._call("on_before_optimizer_step", opt)
            opt.step()
            opt.zero_grad(set_to_none=True)
            self.global_step += 1
            self._stepped = True
        return outputs

    # manual optimisation, reached through StepContext
    def _manual_backward(self, loss: torch.Tensor) -> None:
        if not self._fitting:
            raise ConfigError("ctx.backward is only available while fitting")
        self.last_loss = loss.detach()
        self.fabric.backward(loss)
        self._call("on_after_backward")

    def _manual_step(self, optimizer: torch.optim.Optimizer, *, zero_grad: bool) -> None:
        if not self._fitting:
            raise ConfigError("ctx.step is only available while fitting")
        self._call("on_before_optimizer_step", optimizer)
        optimizer.step()
        if zero_grad:
            optimizer.zero_grad(set_to_none=True)

    def _end_epoch(self) -> None:
        reduce = self._all_reduce_sum if self.world_size > 1 else None
        epoch_metrics = self._train_log.compute("train", reduce)
        self._train_log.reset()
        self.metrics.update(epoch_metrics)
        if self._val_data is not None and self.val_every_n_epochs and (self.epoch + 1) % self.val_every_n_epochs == 0:
            epoch_metrics.update(self._validate(record=False))
        self.history.append({"epoch": self.epoch + 1, "step": self.global_step, **epoch_metrics})
        self._epoch_ending = True
        try:
            self._call("on_epoch_end", epoch_metrics)
        finally:
            self._epoch_ending = False
        self.epoch += 1
        self.batch_in_epoch = 0

    def _validate(self, *, record: bool = True) -> dict[str, float]:
        assert self.task is not None
        if self._val_data is None:
            return {}
        if self.sharded and self._user_task is not None and self.task is not self._user_task:
            # every process evaluates the whole model on its part of the data (a sharded forward would need
            # the same number of batches on every process)
            whole = self._whole(self._user_task)
            gather_into(whole, self.task)
            training = self.task, self._module
            self.task, self._module = whole, _Unwrapped(whole)
            try:
                metrics = self._evaluate_loop(self._val_data, "val")
            finally:
                self.task, self._module = training
        else:
            metrics = self._evaluate_loop(self._val_data, "val")
        self.metrics.update(metrics)
        if record:  # step-level validation gets its own history row
            self.history.append({"epoch": self.epoch + 1, "step": self.global_step, **metrics})
        self._call("on_validation_end", metrics)
        return metrics

    def _all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        return self.fabric.all_reduce(t.to(self.device), reduce_op="sum").cpu()

    def _eval_steps(self, dataset: Dataset, split: str, step: str, ctx: StepContext, *, keep: bool) -> list[Any]:
        """Call the task's ``step`` on every evaluation batch of ``dataset`` (eval mode, no gradients);
        returns the outputs when ``keep``."""
        task = self.task
        assert task is not None
        hook = {"val": "on_validation_batch_end", "predict": "on_predict_batch_end"}.get(split, "on_test_batch_end")
        sampler = ShardedBatchSampler(len(dataset), self.eval_batch_size, rank=self.rank, world_size=self.world_size)
        was_training = task.training
        task.eval()
        outs = []
        try:
            with torch.no_grad():
                for b, batch in enumerate(self._loader(dataset, sampler, split)):
                    ctx.batch_idx = b
                    batch = task.prepare_batch(self._to_device(batch), ctx)
                    ctx.batch_size = batch.size
                    out = self._step(step, batch, ctx)
                    self._call(hook, out, batch, b)
                    if keep:
                        outs.append(out)
        finally:
            task.train(was_training)
        return outs

    def _evaluate_loop(self, dataset: Dataset, split: str) -> dict[str, float]:
        log = MetricLog()
        seed_step(self.seed, split, self.global_step, self.rank)
        try:
            step = "validation_step" if split == "val" else "test_step"
            self._eval_steps(dataset, split, step, StepContext(self, split, log), keep=False)
            metrics = log.compute(split, self._all_reduce_sum if self.world_size > 1 else None)
            self.eval_artifacts.update(log.artifacts)
            return metrics
        finally:
            log.reset()

    # ------------------------------------------------------------------ evaluate / predict
    def _setup_eval(self, task: Task, dataset: Dataset, split: str) -> None:
        if not isinstance(task, Task):
            raise ConfigError(f"expected an an2dl Task; got {type(task).__name__}")
        _check_dataset(dataset, split)
        self._ensure_fabric()
        if self.task is not task:
            self.task = task
            if self.sharded:  # evaluated whole on every process (each on its part of the data)
                self._module = _Unwrapped(self._whole(task))
            else:
                self._module = self.fabric.setup_module(task)
            for name in ("validation_step", "test_step", "predict_step"):
                self._module.mark_forward_method(name)
            # outside fit, the user's callbacks still see the evaluation batches (collectors, writers)
            self._active_callbacks = sorted(self.callbacks, key=lambda cb: cb.order)

    def evaluate(self, task: Task, dataset: Dataset, *, split: str = "test") -> dict[str, float]:
        """Metrics of ``task`` on ``dataset``, named ``split/name`` (``test/accuracy``, ...)."""
        self._setup_eval(task, dataset, split)
        return self._evaluate_loop(dataset, split)

    def predict(self, task: Task, dataset: Dataset) -> Any:
        """Outputs of ``task.predict_step`` over ``dataset``, concatenated along dim 0 when tensors."""
        self._setup_eval(task, dataset, "predict")
        ctx = StepContext(self, "predict", MetricLog())
        outs = self._eval_steps(dataset, "predict", "predict_step", ctx, keep=True)
        if outs and all(isinstance(o, torch.Tensor) for o in outs):
            return torch.cat(outs)
        return outs

    def close(self) -> None:
        """End a multi-process run cleanly (see :func:`close_process_group`); nothing on one process."""
        if self.world_size > 1:
            close_process_group()

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_state(self) -> TrainerState:
        """The full training state as (model, optimizer, other tensors, JSON state)."""
        return capture_state(self)

    def save_checkpoint(self, directory: str | os.PathLike | None = None, *, update_latest: bool = True) -> Path | None:
        """Write a checkpoint of the current state (only on the global-zero process).

        Returns:
            The checkpoint directory (``None`` on other processes).
        """
        directory = Path(directory) if directory is not None else self.checkpoint_dir
        if directory is None:
            raise ConfigError("save_checkpoint needs a directory or the Trainer's run_dir")
        model, optim, extra, state = self.checkpoint_state()
        path = None
        if self.is_global_zero:
            path = ckpt.save_checkpoint(
                directory,
                self.global_step,
                model=model,
                optimizer=optim,
                tensors=extra,
                state=state,
                update_latest=update_latest,
            )
        if self.world_size > 1:
            self.fabric.barrier()
        return path


_NULL_CONTEXT = nullcontext()  # reusable: no allocation per batch


def close_process_group() -> None:
    """Wait for every process, then shut the default process group down (when one is running).

    Without it, a process that finishes first can exit while its communication
    threads are alive, which aborts it and makes the launcher stop the others.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


# set for every process by torchrun (RANK, WORLD_SIZE), SLURM (SLURM_NTASKS) or on each node by hand (NODE_RANK)
_NODE_LAUNCH_VARS = ("WORLD_SIZE", "SLURM_NTASKS", "NODE_RANK")


def _channels_last(batch: Any) -> Any:
    """``batch`` with every 4-D floating-point tensor (images, feature maps) in the channels_last layout."""
    if isinstance(batch, torch.Tensor):
        return batch.contiguous(memory_format=torch.channels_last) if batch.dim() == 4 and batch.is_floating_point() else batch
    if isinstance(batch, Batch):
        return Batch({k: _channels_last(v) for k, v in batch.items()}, size=batch._size)
    if isinstance(batch, dict):
        return {k: _channels_last(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_channels_last(v) for v in batch)
    return batch


def _compile_forwards(task: Task) -> list[torch.nn.Module]:
    """Compile the forward of each of ``task``'s child modules that holds parameters, in place.

    The compiled function is set as the module's instance attribute ``forward``, so ``module(x)`` runs it while
    the module's names, parameters and state dict stay those of the eager module (``torch.compile(module)``
    would wrap it and prefix every key with ``_orig_mod.``); deleting the attribute restores the eager forward.
    """
    compiled = []
    for _, module in task.named_children():
        if has_parameters(module):
            module.forward = torch.compile(module.forward)
            compiled.append(module)
    return compiled


#: Fabric strategies that shard parameters, other than an2dl's own "fsdp"
_SHARDING_STRATEGIES = ("fsdp", "model_parallel", "deepspeed")


class _Unwrapped:
    """The plain task in the place of Fabric's module wrapper (after a sharded fit: the whole model)."""

    def __init__(self, task: Task) -> None:
        self.module = self._forward_module = task

    def mark_forward_method(self, name: str) -> None:
        pass


def _check_strategy(strategy: Any) -> None:
    """Refuse Fabric's sharding strategies other than ``"fsdp"``: an2dl's checkpoints, evaluation and export
    need the gathering that :mod:`an2dl.engine.sharding` does for ``"fsdp"`` only (docs/scaling.md, FSDP)."""
    if strategy == "fsdp":
        return
    name = strategy if isinstance(strategy, str) else type(strategy).__name__
    if any(s in name.lower().replace("strategy", "") for s in _SHARDING_STRATEGIES):
        raise ConfigError(
            f"Trainer strategy={name!r} shards the parameters in a way an2dl does not support: its checkpoints "
            "and exports need the full state gathered, which an2dl does for strategy='fsdp' (PyTorch's FSDP2); "
            "use strategy='fsdp' or 'ddp' (docs/scaling.md, FSDP)"
        )


def _check_multi_node_launch(num_nodes: int) -> None:
    """Refuse ``num_nodes > 1`` in a process no multi-node launcher started: Fabric would wait for the
    other nodes forever."""
    if num_nodes > 1 and not any(os.environ.get(v) for v in _NODE_LAUNCH_VARS):
        raise ConfigError(
            f"Trainer num_nodes={num_nodes} needs a process on every node, started by a launcher; this process "
            f"has none ({', '.join(_NODE_LAUNCH_VARS)} are all unset): start the command with torchrun --nnodes "
            f"{num_nodes} or srun on each node (docs/scaling.md), or use num_nodes=1 on one machine"
        )


def _in_process_batches(dataset: Dataset, batch_sampler: Any, collate_fn: Any) -> Any:
    """The batches a ``DataLoader(num_workers=0)`` yields for ``batch_sampler``: one
    ``__getitems__`` call per batch when the dataset has it, else one ``__getitem__`` per
    index, then ``collate_fn``.  For in-memory data the DataLoader's own per-batch
    bookkeeping costs as much as fetching the batch."""
    getitems = getattr(dataset, "__getitems__", None)
    for indices in batch_sampler:
        yield collate_fn(getitems(indices) if getitems else [dataset[i] for i in indices])


def _check_dataset(dataset: Any, split: str) -> None:
    if isinstance(dataset, torch.Tensor):
        raise ConfigError(
            f"the {split} data must be a Dataset; got a Tensor of shape {list(dataset.shape)} "
            "(wrap inputs and targets: an2dl.data.ArrayDataset(x, y) or torch.utils.data.TensorDataset(x, y))"
        )
    if isinstance(dataset, (tuple, list)) and dataset and all(isinstance(t, torch.Tensor) for t in dataset):
        shapes = ", ".join(str(list(t.shape)) for t in dataset)
        raise ConfigError(
            f"the {split} data must be a Dataset; got a {type(dataset).__name__} of {len(dataset)} tensors ({shapes}) "
            "(wrap them: an2dl.data.ArrayDataset(x, y) or torch.utils.data.TensorDataset(x, y))"
        )
    if isinstance(dataset, DataLoader):
        raise ConfigError(
            f"pass the {split} Dataset itself, not a DataLoader: the trainer builds its loaders "
            "(batch_size, seeded order, sharding) to keep runs reproducible"
        )
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise ConfigError(f"the {split} data must be a map-style Dataset with __len__; got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ConfigError(f"the {split} dataset is empty")
