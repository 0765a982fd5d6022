"""What a recipe's run returns (:class:`RunResult`), in a module of its own so that the figure and report
helpers can name it without importing the recipe machinery that calls them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..data.core import DataSplits
    from ..engine.task import Task
    from ..engine.trainer import Trainer

__all__ = ["RunResult"]


@dataclass
class RunResult:
    """What :func:`~an2dl.recipes.base.run` returns: the run directory, the test metrics and what was trained."""

    recipe: str
    run_dir: Path
    metrics: dict[str, Any]
    config: Any = None
    task: Task | None = None
    data: DataSplits | None = None
    trainer: Trainer | None = None
    extra: dict[str, Any] = field(default_factory=dict)
