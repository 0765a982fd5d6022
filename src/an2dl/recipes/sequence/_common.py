"""Shared pieces of the recurrent-network recipes (notes §4.1): several models trained side by side."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...data.core import DataSplits
from ...engine.checkpoint import has_checkpoint
from ...engine.task import Task
from .. import base
from .._variants import export_variant, variant_dir
from ..base import Recipe

__all__ = ["Variant", "write_run_config", "fit_variant", "validation_series"]


@dataclass
class Variant:
    """The outcome of one model of a comparison: final metrics, history and the trained task."""

    name: str
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    task: Task | None = None
    seconds: float = 0.0
    steps: int = 0


def write_run_config(run_dir: Path, recipe: str, cfg: Any) -> None:
    """``config.json`` of a recipe that runs several trainers (the layout ``an2dl resume`` reads)."""
    base.write_run_config(run_dir, recipe, cfg)
    (run_dir / "checkpoints").mkdir(exist_ok=True)  # the variants' checkpoints live in variants/<name>/checkpoints


def fit_variant(recipe: Recipe, cfg: Any, run_dir: Path, name: str, task: Task, data: DataSplits, *,
                resume: bool = False, progress: bool | None = None,
                preprocessing: dict[str, Any] | None = None) -> Variant:
    """Train ``task`` in ``run_dir/variants/<name>`` with the recipe's trainer settings, evaluate it and
    export its final model to ``run_dir/variants/<name>/model`` (with ``preprocessing`` in ``model.json``).

    A resumed run continues each variant from its latest checkpoint (a
    finished variant is only re-evaluated).

    Returns:
        :class:`Variant` with the validation and test metrics (``val/...``, ``test/...``).
    """
    sub = variant_dir(run_dir, name)
    trainer = recipe.make_trainer(cfg, sub, progress=progress)
    ckpt = sub / "checkpoints"
    t0 = time.perf_counter()
    trainer.fit(task, data.train, data.val, ckpt_path=ckpt if resume and has_checkpoint(ckpt) else None)
    seconds = time.perf_counter() - t0  # this call's wall time (a resumed variant: the time since resuming)
    metrics: dict[str, Any] = {}
    if data.val is not None:
        metrics.update(trainer.evaluate(task, data.val, split="val"))
    if data.test is not None:
        metrics.update(trainer.evaluate(task, data.test, split="test"))
    if trainer.is_global_zero:
        export_variant(run_dir, name, task.model, task, preprocessing=preprocessing)
    return Variant(name, metrics, list(trainer.history), task, float(seconds), trainer.global_step)


def validation_series(history: list[dict[str, Any]], metric: str) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of ``metric`` (e.g. ``"val/loss"``) over a trainer's history."""
    pts = [(int(r["step"]), float(r[metric])) for r in history if r.get(metric) is not None]
    seen: dict[int, float] = {}
    for s, v in pts:  # an epoch-end row may repeat the last step-level validation
        seen[s] = v
    steps = sorted(seen)
    return steps, [seen[s] for s in steps]
