"""Using a finished run: evaluate, predict on files, export (``an2dl eval|predict|export``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .._utils.rng import seed_everything
from ..engine.checkpoint import load_checkpoint
from ..engine.prediction import Prediction, PredictOptions
from ..engine.trainer import Trainer
from ..errors import CheckpointError, ConfigError
from .base import load_run_config

__all__ = ["evaluate_run", "predict_run", "predict_files", "export_run", "load_run_task"]


def load_run_task(run_dir: str | os.PathLike):
    """Rebuild a run's recipe, config, task and data, with the run's final weights loaded.

    The weights come from the exported ``model/`` (the final model, after
    e.g. restoring the best early-stopping weights) or else from the latest checkpoint.
    """
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    recipe, cfg = load_run_config(run_dir)
    seed_everything(cfg.trainer.seed)
    task, data = recipe.build(cfg)
    exported = run_dir / "model" / "model.safetensors"
    if exported.is_file() and hasattr(task, "model"):
        task.model.load_state_dict(load_file(str(exported)), strict=True)
    else:
        ck = load_checkpoint(run_dir)
        task.load_state_dict(ck.model, strict=True)
    return recipe, cfg, task, data


def evaluate_run(run_dir: str | os.PathLike, *, split: str = "test") -> dict[str, float]:
    """Metrics of a run's final model on ``split`` (``train``, ``val`` or ``test``)."""
    _, cfg, task, data = load_run_task(run_dir)
    splits = ("train", "val", "test")
    dataset = getattr(data, split) if split in splits else None
    if dataset is None:
        present = [s for s in splits if getattr(data, s) is not None]
        raise ConfigError(f"split must be one of this run's data splits {present}; got {split!r}")
    trainer = Trainer(max_epochs=1, batch_size=cfg.trainer.batch_size, seed=cfg.trainer.seed, progress=False,
                      accelerator=cfg.trainer.accelerator)
    return trainer.evaluate(task, dataset, split=split)


def predict_run(
    run_dir: str | os.PathLike,
    inputs: Sequence[str] = (),
    *,
    top: int | None = None,
    samples: int | None = None,
    seed: int | None = None,
    out: str | os.PathLike | None = None,
    prompt: str | None = None,
    length: int | None = None,
    temperature: float | None = None,
) -> Prediction:
    """Use a run's exported model on ``inputs``, as its task kind defines (``an2dl predict``).

    The model and its ``model.json`` are loaded with :func:`an2dl.load` (the
    run's data are not rebuilt); ``model.json``'s ``task`` kind picks the task
    class (:func:`an2dl.tasks.task_for_kind`) whose ``predict_inputs`` reads
    the inputs and writes the outputs:

    ========================  ==========================================  =================================
    kind                      inputs                                      output
    ========================  ==========================================  =================================
    classification            images (PNG/JPEG/.npy) or vectors           top-k classes (``--top``)
    binary_classification     ``.npy`` vectors or numbers (``0,1``)       ``P(positive)`` and the class
    regression                ``.npy`` vectors or numbers (``0.5``)       the predicted values
    sequence_classification   ``.npy`` token ids ``[T]`` / features       top-k classes
    sequence_regression       ``.npy`` features ``[T]`` / ``[T, D]``      the predicted values
    language_model            text files and/or ``--prompt``              the continued text
    autoencoder               images                                      ``<name>.recon.png`` files
    vae                       images and/or ``--samples N``               reconstructions, a sample grid
    gan                       none; ``--samples N``                       a sample grid
    ========================  ==========================================  =================================

    Args:
        run_dir: a run directory (with ``model/``) or an export directory.
        inputs: files or literal values, as on the command line.
        top, samples, seed, out, prompt, length, temperature: the options of
            :class:`~an2dl.engine.prediction.PredictOptions`; one that the
            model's kind does not use is an error.

    Returns:
        :class:`~an2dl.engine.prediction.Prediction` (lines to print, files written, values).

    Raises:
        CheckpointError: no exported model in ``run_dir``.
        ConfigError: an unknown task kind, a kind without predict, missing
            inputs or an option that does not apply.
    """
    from ..export import load

    model = load(run_dir)
    home = Path(run_dir).parent if Path(run_dir).is_file() else Path(run_dir)  # run_dir may name model.json itself
    options = PredictOptions(top=top, samples=samples, seed=seed, out=out, prompt=prompt, length=length,
                             temperature=temperature, run_dir=home)
    return _predict(model, list(inputs), options)


def _predict(model: torch.nn.Module, inputs: list[str], options: PredictOptions) -> Prediction:
    from ..tasks import kind_of, task_for_kind

    meta = model.an2dl_meta
    kind = kind_of(meta)
    try:
        task = task_for_kind(kind)
    except ConfigError as e:
        raise ConfigError(f"the model.json of {options.source}: {e}") from None
    return task.predict_inputs(model, meta, inputs, options=options)


def predict_files(run_dir: str | os.PathLike, inputs: list[str], *, top: int = 1) -> list[tuple[str, list[tuple[str, float]]]]:
    """Class probabilities for the inputs of a classifier's run (see :func:`predict_run` for every kind).

    Returns:
        ``[(input, [(class name, probability), ...top]), ...]``.

    Raises:
        ConfigError: the run's model is not a classifier (``classification`` or
            ``sequence_classification``), or ``top`` is not a positive integer.
    """
    from ..export import load
    from ..tasks import kind_of

    model = load(run_dir)
    meta = model.an2dl_meta
    if kind_of(meta) not in ("classification", "sequence_classification"):
        raise ConfigError(f"predict classifies inputs, but the model of {run_dir} was exported for the task "
                          f"{meta.get('task')!r}; use predict_run for its outputs")
    return _predict(model, list(inputs), PredictOptions(top=top, run_dir=Path(run_dir))).values


def export_run(run_dir: str | os.PathLike, *, fmt: str = "safetensors", out: str | None = None) -> Path:
    """Export a run's model as safetensors + JSON (a directory) or ONNX (a file)."""
    from ..export import export, export_onnx, load

    run_dir = Path(run_dir)
    try:
        model = load(run_dir)
    except CheckpointError:
        raise CheckpointError(f"{run_dir} has no exported model (model/model.json); was the run completed?") from None
    meta: dict[str, Any] = model.an2dl_meta
    if fmt == "safetensors":
        target = Path(out) if out else run_dir / "export"
        from ..tasks import kind_of

        # a model exported before task kinds is re-exported with its kind
        return export(model, target, class_names=meta.get("class_names"), preprocessing=meta.get("preprocessing"),
                      task=kind_of(meta))
    if fmt == "onnx":
        shape = meta.get("preprocessing", {}).get("input_shape")
        if not shape:
            raise ConfigError("ONNX export needs the model's input shape in model.json")
        return export_onnx(model, Path(out) if out else run_dir / "model.onnx", torch.rand(2, *shape))
    raise ConfigError(f"--format must be safetensors or onnx; got {fmt!r}")
