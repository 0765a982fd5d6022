"""``check_task``: the conformance checks every :class:`~an2dl.engine.Task` must pass.

Like scikit-learn's ``check_estimator``, one function runs a task through the
whole contract of DESIGN §5 on a few batches of its data, so every task
class in the package (and a user's own) is held to the same rules:

1. the dataset's batches become named :class:`~an2dl.data.batch.Batch`\\ es
   whose size is the number of samples (also for lists of images of different
   sizes), and a batch that lacks a required field fails with a
   :class:`~an2dl.data.batch.BatchError` naming it;
2. fitting for a few steps gives finite ``train/...`` metrics, changes the
   parameters, and (automatic optimisation) returns a scalar loss;
3. evaluation names every metric ``split/name`` with finite values, calls
   the evaluation-batch hooks once per batch with the batch's size, and is
   deterministic (two evaluations agree);
4. prediction gives one output per sample (tensors concatenated along dim 0,
   or one entry per sample in lists);
5. the state dict round-trips into a fresh task with the same evaluation.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset

from ..data.batch import Batch, BatchError
from .callbacks.base import Callback
from .task import Task
from .trainer import Trainer

__all__ = ["check_task"]


class _Recorder(Callback):
    """Counts the evaluation-batch hooks and the sizes of the batches they see."""

    def __init__(self) -> None:
        self.calls: dict[str, list[int]] = {"val": [], "test": [], "predict": []}

    def on_validation_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        self.calls["val"].append(batch.size)

    def on_test_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        self.calls["test"].append(batch.size)

    def on_predict_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        self.calls["predict"].append(batch.size)


def _batch_count(out: Any) -> int:
    """Samples in one batch's prediction: a tensor's first dimension, a list's length (one entry per sample)."""
    if isinstance(out, torch.Tensor):
        return int(out.shape[0])
    if isinstance(out, list):
        return len(out)
    if isinstance(out, tuple) and out:
        return _batch_count(out[0])
    if isinstance(out, dict) and out:
        return _batch_count(next(iter(out.values())))
    raise AssertionError(f"a batch's prediction is a {type(out).__name__}; expected tensors, lists, tuples or dicts")


def _num_outputs(out: Any) -> int:
    """Samples in ``Trainer.predict``'s result: concatenated tensors, or a list of per-batch outputs."""
    if isinstance(out, torch.Tensor):
        return int(out.shape[0])
    return sum(_batch_count(o) for o in out)


def check_task(make_task: Callable[[], Task], dataset: Dataset, *, batch_size: int = 8,
               drop_field: str | None = None, predict: bool = True) -> dict[str, float]:
    """Run ``make_task()`` through the Task contract on ``dataset``; raise ``AssertionError`` on a breach.

    Args:
        make_task: builds a fresh task (called twice: the second task receives
            the first one's state dict).
        dataset: at least ``2 * batch_size`` samples of the task's data.
        batch_size: training and evaluation batch size (one epoch is trained).
        drop_field: a required field to remove from a batch to check the
            error (default: the task's first required field after ``inputs``, if any).
        predict: check ``Trainer.predict`` too (tasks without a per-sample prediction say ``False``).

    Returns:
        The evaluation metrics of the trained task (``test/...``).
    """
    task = make_task()
    assert isinstance(task, Task), f"make_task must return a Task; got {type(task).__name__}"
    n = len(dataset)  # type: ignore[arg-type]
    assert n >= 2 * batch_size, f"check_task needs at least {2 * batch_size} samples; got {n}"
    eval_set = _first(dataset, 2 * batch_size)

    # 1. named batches with their size; a missing field is named
    trainer = Trainer(max_epochs=1, batch_size=batch_size, eval_batch_size=batch_size, progress=False,
                      checkpoint=False, seed=0)
    steps = -(-n // batch_size)
    raw = trainer._loader(eval_set, [list(range(batch_size))], "check")
    first = next(iter(raw))

    class _Ctx:
        split, training = "val", False

    batch = task.prepare_batch(first, _Ctx())
    assert isinstance(batch, Batch), f"prepare_batch must return a Batch; got {type(batch).__name__}"
    assert batch.size == batch_size, f"a batch of {batch_size} samples reports size {batch.size}"
    missing = drop_field or next((f for f in task.required_fields if f != "inputs"), None)
    if missing is not None:
        broken = Batch({k: v for k, v in batch.items() if k != missing}, size=batch.size)
        try:
            task.prepare_batch(broken, _Ctx())
        except BatchError as exc:
            assert missing in str(exc), f"the missing-field error must name {missing!r}: {exc}"
        else:
            raise AssertionError(f"{type(task).__name__} accepted a batch without its required field {missing!r}")

    # 2. an epoch of training changes the parameters and gives finite train metrics
    before = {k: v.detach().clone() for k, v in task.state_dict().items() if v.is_floating_point()}
    fitted = trainer.fit(task, dataset)
    assert trainer.global_step == steps, f"expected {steps} optimiser steps; the trainer made {trainer.global_step}"
    train = {k: v for k, v in fitted.items() if k.startswith("train/")}
    assert train, f"{type(task).__name__} logged no train/ metric"
    for k, v in train.items():
        assert math.isfinite(v), f"{k} is not finite: {v}"
    changed = [k for k, v in task.state_dict().items() if k in before and not torch.equal(before[k], v)]
    assert changed, f"{steps} training steps changed no parameter of {type(task).__name__}"

    # 3. evaluation: split-prefixed finite metrics, hooks per batch, deterministic
    recorder = _Recorder()
    evaluator = Trainer(max_epochs=1, eval_batch_size=batch_size, progress=False, checkpoint=False, seed=0,
                        callbacks=[recorder])
    metrics = evaluator.evaluate(task, eval_set, split="test")
    assert metrics and all(k.startswith("test/") for k in metrics), f"evaluation metrics must be test/...: {metrics}"
    for k, v in metrics.items():
        assert math.isfinite(v), f"{k} is not finite: {v}"
    assert recorder.calls["test"] == [batch_size, batch_size], f"on_test_batch_end saw {recorder.calls['test']}"
    again = evaluator.evaluate(task, eval_set, split="test")
    assert again == metrics, f"two evaluations differ: {metrics} vs {again}"
    evaluator.evaluate(task, eval_set, split="val")
    assert recorder.calls["val"] == [batch_size, batch_size], f"on_validation_batch_end saw {recorder.calls['val']}"

    # 4. one prediction per sample
    if predict:
        out = evaluator.predict(task, eval_set)
        assert _num_outputs(out) == len(eval_set), f"predict gave {_num_outputs(out)} outputs for {len(eval_set)} samples"
        assert recorder.calls["predict"] == [batch_size, batch_size]

    # 5. the state dict round-trips
    clone = make_task()
    clone.load_state_dict(copy.deepcopy(task.state_dict()))
    assert evaluator.evaluate(clone, eval_set, split="test") == metrics, "a task rebuilt from the state dict evaluates differently"
    return metrics


def _first(dataset: Dataset, n: int) -> Dataset:
    from ..data.core import subset

    return subset(dataset, range(n))
