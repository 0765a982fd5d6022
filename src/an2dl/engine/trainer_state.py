"""What a checkpoint holds of a :class:`~an2dl.engine.Trainer`, captured and restored (DESIGN §6–§7).

A resumed run continues bit for bit when it restores, besides the task's
parameters and buffers:

* the counters — epoch, batch within the epoch, global step — and the
  metrics and history written so far;
* every optimiser's and scheduler's state;
* the global random generators (for draws made outside a training step);
* every callback's ``state_dict``;
* the running sums of the training metrics logged with ``ctx.log`` and the
  state of every torchmetrics ``Metric`` inside the task, with its update count;
* the resolved configuration, which must equal the resumed run's.

The loop lives in :mod:`an2dl.engine.trainer`; this module is its other half
and reads and writes the trainer's own attributes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .._utils.rng import get_rng_state, set_rng_state
from ..errors import CheckpointError, ConfigError
from . import checkpoint as ckpt
from .sharding import full_tensors, is_sharded, load_sharded, shard_optimizer_state

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer

__all__ = ["TrainerState", "capture_state", "check_config", "config_document", "restore_state"]

#: model tensors, optimiser tensors, other tensors, JSON state: the four parts of a checkpoint
TrainerState = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]


def config_document(trainer: Trainer) -> dict[str, Any]:
    """The trainer settings and run configuration as they read back from JSON (tuples as lists, ...)."""
    return json.loads(json.dumps({"trainer": trainer.settings(), "config": trainer.config}))


def check_config(saved: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """Refuse to resume when the checkpoint's configuration ``saved`` differs from ``current``.

    A setting the saved configuration does not hold at all was added to an2dl
    after the checkpoint was written; the run used its behaviour before the
    setting existed, which its default keeps, so it is not counted as a
    difference (``an2dl resume`` fills it with that default).

    Raises:
        CheckpointError: naming the first differing keys, with both values.
    """
    if saved is None or saved == current:
        return
    diffs = _diff(saved, current)
    if not diffs:
        return
    shown = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, a, b in diffs[:5])
    raise CheckpointError(
        f"cannot resume: the configuration differs from the checkpoint's ({shown}); "
        "resume with the run's own configuration or start a new run"
    )


def capture_state(trainer: Trainer) -> TrainerState:
    """The full training state of ``trainer`` as (model, optimizer, other tensors, JSON state)."""
    from torchmetrics import Metric

    task = trainer.task
    assert task is not None
    # saved from on_epoch_end, the checkpoint resumes at the start of the next epoch
    epoch, batch = (trainer.epoch + 1, 0) if trainer._epoch_ending else (trainer.epoch, trainer.batch_in_epoch)
    sharded = is_sharded(task)  # then every process gathers the full tensors (a collective), rank 0 writes them
    optim_tree, optim_tensors = ckpt.split_tensors(
        {
            "optimizers": [full_tensors(o.state_dict()) if sharded else o.state_dict() for o in trainer.optimizers],
            "schedulers": [s.state_dict() if s is not None else None for s in trainer.schedulers],
        }
    )
    metric_states = {}
    for name, m in task.named_modules():
        if isinstance(m, Metric):  # the metrics themselves, not the per-split MetricCollections
            metric_states[name] = {"state": dict(m.metric_state), "updates": int(m.update_count)}
    registered = {k: _module_path(task, m) for k, m in trainer._train_log.metrics.items()}
    extra_tree, extra_tensors = ckpt.split_tensors(
        {
            "rng": get_rng_state(),
            "callbacks": {cb.state_key: cb.state_dict() for cb in trainer._active_callbacks},
            "train_log": trainer._train_log.state_dict(),
            "metric_states": metric_states,
        }
    )
    state = {
        "trainer": {
            "epoch": epoch,
            "batch_in_epoch": batch,
            "global_step": trainer.global_step,
            "num_batches": trainer.num_batches,
            "world_size": trainer.world_size,
            "metrics": trainer.metrics,
            "history": trainer.history,
            "registered_metrics": registered,
        },
        "config": config_document(trainer),
        "optim": optim_tree,
        "extra": extra_tree,
    }
    model = full_tensors(dict(task.state_dict())) if sharded else dict(task.state_dict())
    return model, optim_tensors, extra_tensors, state


def restore_state(trainer: Trainer, data: ckpt.CheckpointData) -> None:
    """Load a checkpoint written by :func:`capture_state` into a trainer set up for the same task and data.

    Raises:
        CheckpointError: the data gives another number of batches per epoch, the
            task's parameters or optimisers do not match the checkpoint's.
    """
    task = trainer.task
    assert task is not None
    st = data.state["trainer"]
    if st["num_batches"] != trainer.num_batches:
        raise CheckpointError(
            f"cannot resume: the checkpoint has {st['num_batches']} batches per epoch, this data gives "
            f"{trainer.num_batches} (was the dataset or batch size changed?)"
        )
    sharded = is_sharded(task)
    try:
        if sharded:
            load_sharded(task, data.model)
        else:
            task.load_state_dict(data.model, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {data.path} does not fit this task: {str(e).splitlines()[0]}") from None
    optim = ckpt.join_tensors(data.state["optim"], data.optimizer)
    if len(optim["optimizers"]) != len(trainer.optimizers):
        raise CheckpointError(
            f"checkpoint has {len(optim['optimizers'])} optimizers, the task configures {len(trainer.optimizers)}"
        )
    for opt, s in zip(trainer.optimizers, optim["optimizers"]):
        opt.load_state_dict(s)
        if sharded:
            shard_optimizer_state(getattr(opt, "optimizer", opt))
    for sched, s in zip(trainer.schedulers, optim["schedulers"]):
        if sched is not None and s is not None:
            sched.load_state_dict(s)
    extra = ckpt.join_tensors(data.state["extra"], data.tensors)
    set_rng_state(extra["rng"])
    saved_cbs = extra["callbacks"]
    for cb in trainer._active_callbacks:
        if cb.state_key in saved_cbs:
            cb.load_state_dict(saved_cbs[cb.state_key])
    modules = dict(task.named_modules())
    device = trainer.device
    for name, ms in extra["metric_states"].items():
        m = modules.get(name)
        if m is None:
            continue
        m.reset()  # also drops a cached compute() result
        for k, v in ms["state"].items():
            setattr(m, k, v.to(device) if isinstance(v, torch.Tensor) else [t.to(device) for t in v])
        # torchmetrics offers no public setter for the count; forward() averages "mean" states with it
        # and compute() warns when it is 0, so a resumed metric needs the saved one
        m._update_count = ms["updates"]
    trainer._train_log.load_state_dict(extra["train_log"])
    for name, path in st["registered_metrics"].items():
        trainer._train_log.metrics[name] = modules[path]
    trainer.epoch, trainer.batch_in_epoch, trainer.global_step = st["epoch"], st["batch_in_epoch"], st["global_step"]
    trainer.metrics, trainer.history = dict(st["metrics"]), list(st["history"])
    if data.state.get("version", 1) < 2:  # format 1 counted the epochs of history rows from 0
        trainer.history = [{**row, "epoch": row["epoch"] + 1} if "epoch" in row else row for row in trainer.history]


def _module_path(root: nn.Module, target: nn.Module) -> str:
    for name, m in root.named_modules():
        if m is target:
            return name
    raise ConfigError("a metric logged with ctx.log must be a submodule of the task (assign it as an attribute)")


def _diff(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k in a:  # a key only in ``b`` (current) is a setting newer than ``a``
                out += _diff(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        return out
    return [] if a == b else [(prefix, a, b)]
