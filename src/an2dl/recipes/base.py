"""Recipes: named, runnable experiments (DESIGN §8).

A recipe is a :class:`Recipe` subclass with a config dataclass (``Config``)
and a :meth:`Recipe.build` returning ``(task, data)``; the default
:meth:`Recipe.run` then trains with the :class:`~an2dl.engine.Trainer`,
evaluates on the test split, exports the model and writes the report.
Recipes that are not a single training run (the Hebbian perceptron, k-NN,
k-fold cross-validation, sweeps) override :meth:`Recipe.run` and return
their own results.

Files of a run (``runs/<recipe>/<YYYYmmdd-HHMMSS>/``): ``config.json``,
``results.json`` (``{"metrics": {"test/accuracy": ...}, ...}``), ``metrics.csv``,
``checkpoints/``, ``model/``, ``plots/``, ``env.json``, ``report.html``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .._utils.rng import seed_everything
from ..data.core import DataSplits
from ..engine.callbacks import Callback
from ..engine.checkpoint import atomic_write_text
from ..engine.task import Task
from ..engine.trainer import Trainer
from ..errors import CheckpointError, ConfigError
from ..registry import Registry
from .config import from_dict, resolve, standard_callbacks, to_dict, trainer_kwargs

__all__ = [
    "Recipe",
    "RunResult",
    "RECIPES",
    "register_recipe",
    "get_recipe",
    "list_recipes",
    "run",
    "resume",
    "new_run_dir",
    "write_results",
    "write_run_config",
]

RECIPES: Registry[type[Recipe]] = Registry("recipe", "an2dl.recipes")


@dataclass
class RunResult:
    """What :func:`run` returns."""

    recipe: str
    run_dir: Path
    metrics: dict[str, Any]
    config: Any = None
    task: Task | None = None
    data: DataSplits | None = None
    trainer: Trainer | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Recipe:
    """Base class of every recipe; subclasses set ``name``, ``summary``, ``Config``."""

    #: registry name, e.g. ``"lenet5-digits"``
    name: ClassVar[str] = ""
    #: one line for ``an2dl list recipes``
    summary: ClassVar[str] = ""
    #: the config dataclass
    Config: ClassVar[type] = object
    #: the notes' section(s) the recipe illustrates
    section: ClassVar[str] = ""

    # ---- to override
    def build(self, cfg: Any) -> tuple[Task, DataSplits]:
        """The task and data of a standard training recipe."""
        raise TypeError(f"recipe {self.name!r} must define build(cfg) or override run(cfg, run_dir)")

    def callbacks(self, cfg: Any) -> list[Callback]:
        """Callbacks for the trainer (default: from the config's standard fields)."""
        return standard_callbacks(cfg)

    def figures(self, result: RunResult) -> None:
        """Extra plots for the report, written with :func:`an2dl.report.save_figure`."""
        from .reporting import classification_figures

        classification_figures(result)

    def export_info(self, cfg: Any, data: DataSplits) -> dict[str, Any]:
        """Class names and preprocessing stored with the exported model.

        Returns:
            ``{"class_names": [...], "preprocessing": {...}}``: the keyword arguments of the
            task's :meth:`~an2dl.engine.task.Task.export_metadata`, which adds the task kind.
        """
        return {
            "class_names": list(data.info.class_names),
            "preprocessing": {"input_shape": list(data.info.input_shape), "value_range": [0.0, 1.0]},
        }

    # ---- the standard flow
    def make_trainer(self, cfg: Any, run_dir: Path, *, progress: bool | None = None) -> Trainer:
        return Trainer(
            **trainer_kwargs(cfg.trainer),
            run_dir=run_dir,
            callbacks=self.callbacks(cfg),
            progress=progress,
            config={"recipe": self.name, **to_dict(cfg)},
        )

    def run(self, cfg: Any, run_dir: Path, *, resume: bool = False, progress: bool | None = None) -> RunResult:
        """Train, evaluate on the test split, export and report."""
        seed_everything(cfg.trainer.seed)
        task, data = self.build(cfg)
        trainer = self.make_trainer(cfg, run_dir, progress=progress)
        t0 = time.perf_counter()
        trainer.fit(task, data.train, data.val, ckpt_path=trainer.checkpoint_dir if resume else None)
        fit_s = time.perf_counter() - t0
        metrics: dict[str, Any] = {k: v for k, v in trainer.metrics.items() if not k.startswith("time/")}
        if data.val is not None:
            metrics.update(trainer.evaluate(task, data.val, split="val"))
        if data.test is not None:
            metrics.update(trainer.evaluate(task, data.test, split="test"))
        total = trainer.metrics.get("time/total_s", fit_s)
        result = RunResult(self.name, run_dir, metrics, cfg, task, data, trainer)
        if trainer.is_global_zero:
            write_results(
                run_dir,
                metrics,
                epochs=trainer.epoch,
                steps=trainer.global_step,
                fit_seconds=round(total, 3),
                stop_reason=trainer.stop_reason,
            )
            model = getattr(task, "model", None)
            if model is not None and hasattr(model, "an2dl_spec"):
                from ..export import export

                export(model, run_dir / "model", **type(task).export_metadata(**self.export_info(cfg, data)))
            self.figures(result)
            finish_report(run_dir, device=str(trainer.device), world_size=trainer.world_size)
        trainer.close()
        return result


def write_results(run_dir: Path, metrics: dict[str, Any], **extra: Any) -> Path:
    """Write ``results.json``: ``{"metrics": {...}, **extra}`` (also flat ``split/name`` keys)."""
    doc = {**{k: v for k, v in metrics.items()}, "metrics": metrics, **extra}
    path = Path(run_dir) / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(doc, indent=2, default=float) + "\n")
    return path


def write_run_config(run_dir: Path, recipe: str, cfg: Any) -> Path:
    """``config.json`` of a recipe that runs its own loop(s): the Trainer's layout, which :func:`load_run_config` reads."""
    path = Path(run_dir) / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"config": {"recipe": recipe, **to_dict(cfg)}}, indent=2) + "\n")
    return path


def finish_report(run_dir: Path, **env: Any) -> Path:
    """Write ``env.json`` and ``report.html`` (with the standard curves) for ``run_dir``."""
    from ..report.html import environment, write_report
    from ..report.plots import plot_curves

    hist = run_dir / "metrics.jsonl"
    if hist.is_file():
        rows = [json.loads(line) for line in hist.read_text().splitlines() if line.strip()]
        plot_curves(rows, run_dir)
    atomic_write_text(run_dir / "env.json", json.dumps(environment(**env), indent=2) + "\n")
    return write_report(run_dir)


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator registering a recipe under ``cls.name``."""
    if not cls.name:
        raise ConfigError(f"recipe class {cls.__name__} needs a name")
    if not dataclasses.is_dataclass(cls.Config):
        raise ConfigError(f"recipe {cls.name!r}: Config must be a dataclass")
    return RECIPES.add(cls.name, cls)


def get_recipe(name: str) -> Recipe:
    """An instance of the registered recipe ``name``."""
    return RECIPES.get(name)()


def list_recipes(pattern: str | None = None) -> list[str]:
    """Names of the registered recipes."""
    return RECIPES.names(pattern)


def new_run_dir(recipe: str, root: str | os.PathLike = "runs") -> Path:
    """``runs/<recipe>/<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... if taken).

    Child processes of a multi-process run find the directory chosen by the
    parent in ``AN2DL_RUN_DIR``.
    """
    inherited = os.environ.get("AN2DL_RUN_DIR")
    if inherited:
        return Path(inherited)
    base = Path(root) / recipe / time.strftime("%Y%m%d-%H%M%S")
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


def run(
    name: str,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    config_file: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    runs_root: str | os.PathLike = "runs",
    progress: bool | None = None,
) -> RunResult:
    """Run recipe ``name`` with ``--set``-style ``overrides``.

    Returns:
        :class:`RunResult` with the run directory and the final metrics.
    """
    recipe = get_recipe(name)
    cfg = resolve(recipe.Config, config_file=config_file, overrides=overrides)
    path = Path(run_dir) if run_dir is not None else new_run_dir(name, runs_root)
    # children of a multi-process run re-execute the command and must reuse this directory
    os.environ["AN2DL_RUN_DIR"] = str(path)
    path.mkdir(parents=True, exist_ok=True)
    return recipe.run(cfg, path, progress=progress)


def load_run_config(run_dir: str | os.PathLike) -> tuple[Recipe, Any]:
    """The recipe and resolved config stored in ``run_dir/config.json``."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.json)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from None
    config = dict(doc.get("config", {}))
    name = config.pop("recipe", None)
    if not name:
        raise CheckpointError(f"{path} does not name the recipe of the run")
    recipe = get_recipe(name)
    return recipe, from_dict(recipe.Config, config)


def resume(run_dir: str | os.PathLike, *, progress: bool | None = None) -> RunResult:
    """Continue the run in ``run_dir`` from its latest checkpoint, with its own configuration.

    Raises:
        CheckpointError: no run or checkpoint there, a corrupt checkpoint, or a
            ``config.json`` that differs from the checkpoint's configuration.
    """
    run_dir = Path(run_dir)
    recipe, cfg = load_run_config(run_dir)
    if not (run_dir / "checkpoints").is_dir():
        raise CheckpointError(f"{run_dir} has no checkpoints to resume from")
    os.environ["AN2DL_RUN_DIR"] = str(run_dir)
    return recipe.run(cfg, run_dir, resume=True, progress=progress)
