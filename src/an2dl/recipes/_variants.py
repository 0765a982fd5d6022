"""Runs that train several models: where each model is exported, and trainer settings a recipe cannot use.

A recipe that trains several models side by side (a comparison, a sweep)
exports each final model to ``run_dir/variants/<name>/model`` in the format
of a single-model run (``model.safetensors`` + ``model.json``) and lists the
names in :meth:`~an2dl.recipes.base.Recipe.models`; ``an2dl eval``,
``predict`` and ``export`` then take ``--model NAME``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ..engine.task import Task

__all__ = ["VARIANTS", "variant_dir", "export_variant", "unused_trainer_settings", "note_unused_trainer_settings"]

#: the folder of a run that holds one sub-folder per model
VARIANTS = "variants"


def variant_dir(run_dir: str | Path, name: str) -> Path:
    """``run_dir/variants/<name>``: the folder of model ``name`` of a run that trains several."""
    return Path(run_dir) / VARIANTS / name


def export_variant(run_dir: str | Path, name: str, model: nn.Module, task: type[Task] | Task, *,
                   class_names: Sequence[str] | None = None,
                   preprocessing: Mapping[str, Any] | None = None) -> Path:
    """Export model ``name`` of a run to ``run_dir/variants/<name>/model`` with ``task``'s export metadata.

    Returns:
        The path of the written ``model.json``.
    """
    from ..export import export

    task_cls = task if isinstance(task, type) else type(task)
    meta = task_cls.export_metadata(class_names=class_names, preprocessing=preprocessing)
    return export(model, variant_dir(run_dir, name) / "model", **meta)


def unused_trainer_settings(cfg: Any, used: Iterable[str]) -> list[str]:
    """``trainer.<field>=<value>`` for every trainer setting of ``cfg`` that differs from the recipe's default
    but is not among the ``used`` fields."""
    used = set(used)
    default = type(cfg)().trainer
    return [f"trainer.{f.name}={getattr(cfg.trainer, f.name)!r}" for f in dataclasses.fields(cfg.trainer)
            if f.name not in used and getattr(cfg.trainer, f.name) != getattr(default, f.name)]


def note_unused_trainer_settings(recipe: str, cfg: Any, used: Iterable[str], why: str) -> list[str]:
    """A note, printed to stderr, naming the trainer settings of ``cfg`` that ``recipe`` does not use.

    Args:
        recipe: the recipe's name.
        cfg: the run's settings (with a ``trainer`` group).
        used: the trainer fields the recipe honours.
        why: the reason the others do not apply.

    Returns:
        ``[note]`` for the notes of the run's ``results.json``, or ``[]`` when every changed setting is used.
    """
    items = unused_trainer_settings(cfg, used)
    if not items:
        return []
    note = f"{recipe} does not use {', '.join(items)}: {why}"
    print(f"an2dl: note: {note}", file=sys.stderr, flush=True)
    return [note]
