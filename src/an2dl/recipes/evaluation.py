"""Using a finished run: evaluate, predict on files, export (``an2dl eval|predict|export``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..data.transforms.photometric import rgb_to_grayscale
from ..engine.checkpoint import load_checkpoint
from ..engine.rng import seed_everything
from ..engine.trainer import Trainer
from ..errors import CheckpointError, ConfigError, DataError
from .base import load_run_config

__all__ = ["evaluate_run", "predict_files", "export_run", "load_run_task"]


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


def _prepare(x: torch.Tensor, shape: list[int], source: str) -> torch.Tensor:
    """Bring one image tensor to the model's ``[C, H, W]`` input shape."""
    c, h, w = shape
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3:
        raise DataError(f"{source}: expected an image of shape [H, W] or [C, H, W]; got {list(x.shape)}")
    if x.shape[0] != c:
        if x.shape[0] == 3 and c == 1:
            x = rgb_to_grayscale(x)
        elif x.shape[0] == 1 and c == 3:
            x = x.expand(3, -1, -1)
        else:
            raise DataError(f"{source}: the model reads {c} channel(s); got {x.shape[0]}")
    if tuple(x.shape[1:]) != (h, w):
        x = F.interpolate(x.unsqueeze(0), size=(h, w), mode="bilinear", align_corners=False).squeeze(0)
    return x.clamp(0, 1)


def predict_files(run_dir: str | os.PathLike, inputs: list[str], *, top: int = 1) -> list[tuple[str, list[tuple[str, float]]]]:
    """Class probabilities for image files (PNG/JPEG) or ``.npy`` arrays.

    Images are converted to the model's channels and resized to its input
    size; pixel values are scaled to [0, 1] like the training data.

    Returns:
        ``[(input, [(class name, probability), ...top]), ...]``.
    """
    from ..data.images import read_array, read_image
    from ..export import load

    model = load(run_dir)
    meta = model.an2dl_meta
    if meta.get("task", "classification") != "classification":
        raise ConfigError(f"predict classifies inputs, but the model of {run_dir} was exported for the task {meta['task']!r}")
    shape = meta.get("preprocessing", {}).get("input_shape")
    names = meta.get("class_names") or []
    if not shape or len(shape) != 3:
        raise ConfigError(f"the model of {run_dir} does not record an image input shape; predict needs one")
    if not isinstance(top, int) or top < 1:
        raise ConfigError(f"--top must be a positive integer; got {top!r}")
    batch = []
    for path in inputs:
        x = read_array(path) if str(path).endswith(".npy") else read_image(path, channels=shape[0])
        if x.dim() == 4:
            raise DataError(f"{path}: holds a batch {list(x.shape)}; give one image per file")
        batch.append(_prepare(x, shape, str(path)))
    with torch.no_grad():
        probs = model(torch.stack(batch)).softmax(dim=-1)
    k = min(top, probs.shape[1])
    out = []
    for path, p in zip(inputs, probs):
        vals, idx = p.topk(k)
        out.append((path, [(names[i] if i < len(names) else str(i), float(v)) for v, i in zip(vals, idx.tolist())]))
    return out


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
        return export(model, target, class_names=meta.get("class_names"), preprocessing=meta.get("preprocessing"),
                      task=meta.get("task", "classification"))
    if fmt == "onnx":
        shape = meta.get("preprocessing", {}).get("input_shape")
        if not shape:
            raise ConfigError("ONNX export needs the model's input shape in model.json")
        return export_onnx(model, Path(out) if out else run_dir / "model.onnx", torch.rand(2, *shape))
    raise ConfigError(f"--format must be safetensors or onnx; got {fmt!r}")
