"""Recipes: named, runnable experiments (DESIGN §8).

A recipe is a :class:`Recipe` subclass with a config dataclass (``Config``)
and a :meth:`Recipe.build` returning ``(task, data)``; the default
:meth:`Recipe.run` then trains with the :class:`~an2dl.engine.Trainer`,
evaluates on the test split, exports the model and writes the report.
Recipes that are not a single training run (the Hebbian perceptron, k-NN,
k-fold cross-validation, sweeps) override :meth:`Recipe.run` and return
their own results; one that trains several models exports each to
``variants/<name>/model`` and lists the names in :meth:`Recipe.models`, and
one without a trained model says why in :meth:`Recipe.no_model`.

Files of a run (``runs/<recipe>/<YYYYmmdd-HHMMSS>/``): ``config.json``,
``results.json`` (``{"metrics": {"test/accuracy": ...}, ...}``), ``metrics.csv``,
``checkpoints/``, ``model/`` (or ``variants/<name>/model``), ``plots/``, ``env.json``, ``report.html``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from .._utils.files import atomic_write_text
from .._utils.rng import seed_everything
from ..data.core import DatasetInfo, DataSplits
from ..engine.callbacks import Callback
from ..engine.rundir import RunDirLock, is_secondary_process, move_aside, run_dir_entries
from ..engine.task import Task
from ..engine.trainer import Trainer
from ..errors import CheckpointError, ConfigError
from ..registry import Registry
from .config import from_dict, resolve, standard_callbacks, to_dict, trainer_kwargs, upgrade_stored
from .result import RunResult

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
    "input_preprocessing",
]

RECIPES: Registry[type[Recipe]] = Registry("recipe", "an2dl.recipes")


def input_preprocessing(info: DatasetInfo) -> dict[str, Any]:
    """``model.json``'s ``preprocessing`` for a model of ``info``'s inputs.

    ``input_shape`` and ``value_range`` ([0, 1]); ``mean``, the per-channel
    mean of the training inputs, when the data know it (a statistic that
    ``an2dl predict`` compares with each image to flag inverted ones, not a
    normalisation); and, for image data, the evaluation pipeline that made the
    dataset's inputs from its raw images (``pipeline`` and ``raw_input``,
    :attr:`~an2dl.data.core.DatasetInfo.preprocess`), which ``an2dl predict``
    applies to a user's files.
    """
    preprocessing: dict[str, Any] = {"input_shape": list(info.input_shape), "value_range": [0.0, 1.0]}
    if info.mean:
        preprocessing["mean"] = [float(m) for m in info.mean]
    preprocessing.update(info.preprocess)
    return preprocessing


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
    #: why ``an2dl resume`` cannot continue a run of this recipe (one line), or ``None`` when it can
    cannot_resume: ClassVar[str | None] = None
    #: ``--set`` overrides for the smallest run that still goes through every step (seconds on a CPU);
    #: the registry-wide smoke test runs every recipe with them
    smoke_settings: ClassVar[tuple[str, ...]] = ()

    # ---- to override
    def build(self, cfg: Any) -> tuple[Task, DataSplits]:
        """The task and data of a standard training recipe."""
        raise TypeError(f"recipe {self.name!r} must define build(cfg) or override run(cfg, run_dir)")

    # ---- what `an2dl eval`, `predict` and `export` find in a run (see recipes/run_commands.py)
    def models(self, cfg: Any) -> list[str] | None:
        """Names of the models a run trains side by side, each exported to ``run_dir/variants/<name>/model``.

        ``None`` (the default): the run has one model, exported to ``run_dir/model``.
        """
        return None

    def no_model(self, cfg: Any) -> str | None:
        """Why a run of this recipe holds no model to evaluate or export (one line), or ``None``."""
        return None

    def build_model(self, cfg: Any, name: str | None) -> tuple[Task, DataSplits]:
        """The task and data that evaluate model ``name`` of :meth:`models` (``None``: the run's one model).

        The run's weights are loaded into the task afterwards; the default is :meth:`build`.
        """
        return self.build(cfg)

    def extra_metrics(self, cfg: Any, task: Task, data: DataSplits) -> tuple[dict[str, Any], list[str]]:
        """Metrics beyond the trainer's (a baseline, a measurement of the trained model) and notes for
        ``results.json``, computed after the test evaluation; by default none."""
        return {}, []

    def callbacks(self, cfg: Any) -> list[Callback]:
        """Callbacks for the trainer (default: from the config's standard fields)."""
        return standard_callbacks(cfg)

    def figures(self, result: RunResult) -> None:
        """Extra plots for the report, written with :func:`an2dl.report.save_figure`."""
        from .figures import classification_figures

        classification_figures(result)

    def export_info(self, cfg: Any, data: DataSplits) -> dict[str, Any]:
        """Class names and preprocessing stored with the exported model.

        The preprocessing is :func:`input_preprocessing` of the data: ``input_shape``,
        ``value_range``, ``mean`` when the data know it, and the image pipeline
        (``pipeline``, ``raw_input``) of image data.

        Returns:
            ``{"class_names": [...], "preprocessing": {...}}``: the keyword arguments of the
            task's :meth:`~an2dl.engine.task.Task.export_metadata`, which adds the task kind.
        """
        return {"class_names": list(data.info.class_names), "preprocessing": input_preprocessing(data.info)}

    # ---- the standard flow
    def make_trainer(self, cfg: Any, run_dir: Path, *, progress: bool | None = None) -> Trainer:
        return Trainer(
            **trainer_kwargs(cfg.trainer),
            run_dir=run_dir,
            callbacks=self.callbacks(cfg),
            progress=progress,
            config={"recipe": self.name, **to_dict(cfg)},
        )

    def run(
        self, cfg: Any, run_dir: Path, *, resume: bool = False, progress: bool | None = None
    ) -> RunResult:
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
        extra, notes = self.extra_metrics(cfg, task, data)
        metrics.update(extra)
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
                **({"notes": notes} if notes else {}),
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
    """Write ``results.json``: ``{"metrics": {"test/accuracy": ..., ...}, **extra}``, each metric once.

    Raises:
        ValueError: an ``extra`` field is named ``metrics`` or like one of the metrics.
    """
    clash = sorted(set(extra) & (set(metrics) | {"metrics"}))
    if clash:
        raise ValueError(f"write_results: extra fields {clash} clash with the metrics; give each value once")
    doc = {"metrics": metrics, **extra}
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


def _create_new_run_dir(recipe: str, root: str | os.PathLike) -> tuple[Path, bool]:
    """:func:`new_run_dir`, created atomically (two runs started within a second get different
    directories); returns ``(path, created)``."""
    while True:
        path = new_run_dir(recipe, root)
        try:
            path.mkdir(parents=True)
            return path, True
        except FileExistsError:
            if os.environ.get("AN2DL_RUN_DIR"):  # a directory named by the environment is used as it is
                return path, False


@contextmanager
def _own_run_dir(path: Path, *, created: bool, fresh: bool, force: bool) -> Iterator[Path | None]:
    """Lock ``path`` for a run; a ``fresh`` run also needs it empty (``force``: its contents are moved
    aside).  Yields where the previous contents went (``None``: nowhere)."""
    lock = RunDirLock(path).acquire()
    previous = os.environ.get("AN2DL_RUN_DIR")
    # the processes of a multi-process run re-execute the command and find the directory here
    os.environ["AN2DL_RUN_DIR"] = str(path)
    finished = False
    try:
        replaced = None
        entries = run_dir_entries(path) if fresh else []
        if entries and not force:
            names = ", ".join(p.name for p in entries[:4]) + (", ..." if len(entries) > 4 else "")
            hint = f"resume its run with 'an2dl resume {path}', " if (path / "config.json").is_file() else ""
            raise ConfigError(
                f"run directory {path} is not empty (it holds {names}); {hint}choose another directory, or start "
                "over with --force (force=True), which moves the old contents into .replaced-<time>/ inside it"
            )
        if entries:
            replaced = move_aside(path)
        yield replaced
        finished = True
    finally:
        if previous is None:
            os.environ.pop("AN2DL_RUN_DIR", None)
        else:
            os.environ["AN2DL_RUN_DIR"] = previous
        lock.release()
        if created and not finished:
            try:  # a directory made for a run that stopped before writing anything
                path.rmdir()
            except OSError:
                pass


def run(
    name: str,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    config_file: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    runs_root: str | os.PathLike = "runs",
    progress: bool | None = None,
    force: bool = False,
    on_start: Callable[[Path, Path | None], None] | None = None,
) -> RunResult:
    """Run recipe ``name`` with ``--set``-style ``overrides``.

    The run locks its directory (``RUN_DIR/.an2dl.lock``) until it returns.

    Args:
        force: start even when ``run_dir`` holds files: they are first moved into
            ``run_dir/.replaced-<YYYYmmdd-HHMMSS>/``.
        on_start: called with ``(run_dir, replaced)`` once the directory is locked and ready, before
            the recipe starts (``replaced``: where ``force`` moved the old contents, else ``None``).

    Returns:
        :class:`RunResult` with the run directory and the final metrics.

    Raises:
        ConfigError: ``run_dir`` is not empty and ``force`` is not set.
        RunDirLockedError: another run is writing ``run_dir``.
    """
    recipe = get_recipe(name)
    cfg = resolve(recipe.Config, config_file=config_file, overrides=overrides)
    if is_secondary_process():  # a process of a multi-process run: rank 0 owns and prepares the directory
        return recipe.run(
            cfg, Path(run_dir) if run_dir is not None else new_run_dir(name, runs_root), progress=progress
        )
    if run_dir is not None:
        path, created = Path(run_dir), not Path(run_dir).exists()
    else:
        path, created = _create_new_run_dir(name, runs_root)
    with _own_run_dir(path, created=created, fresh=True, force=force) as replaced:
        if on_start is not None:
            on_start(path, replaced)
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
    return recipe, from_dict(recipe.Config, upgrade_stored(recipe.Config, config))


def resume(run_dir: str | os.PathLike, *, progress: bool | None = None) -> RunResult:
    """Continue the run in ``run_dir`` from its latest checkpoint, with its own configuration.

    Raises:
        CheckpointError: no run or checkpoint there, a corrupt checkpoint, or a
            ``config.json`` that differs from the checkpoint's configuration.
        RunDirLockedError: another run is writing ``run_dir``.
    """
    run_dir = Path(run_dir)
    recipe, cfg = load_run_config(run_dir)
    if recipe.cannot_resume:
        raise CheckpointError(
            f"{recipe.name} runs cannot be resumed: {recipe.cannot_resume}; "
            f"start a new run with: an2dl run {recipe.name}"
        )
    if not (run_dir / "checkpoints").is_dir():
        raise CheckpointError(f"{run_dir} has no checkpoints to resume from")
    if is_secondary_process():  # a process of a multi-process run: rank 0 owns the directory
        return recipe.run(cfg, run_dir, resume=True, progress=progress)
    with _own_run_dir(run_dir, created=False, fresh=False, force=False):
        return recipe.run(cfg, run_dir, resume=True, progress=progress)
