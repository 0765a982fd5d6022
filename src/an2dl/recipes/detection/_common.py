"""What the detection recipes share: the synthetic shapes' settings and loader, mAP of a detector on a data set,
and the plot of the loss terms (notes §3.5.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...data import DataSplits, get_dataset
from ...engine.detection_metrics import MeanAveragePrecision
from ...errors import ConfigError

__all__ = ["ShapesDetectionData", "load_shapes_detection", "detection_map", "plot_loss_terms", "detector_figures",
           "cnn_evaluations_per_image", "inference_ms_per_image", "without_proposal_cache"]


@dataclass
class ShapesDetectionData:
    """The synthetic detection shapes (:func:`an2dl.data.datasets.shapes_detection.shapes_detection`)."""

    n_train: int = 512  # training images
    n_val: int = 128  # validation images (val/map each epoch)
    n_test: int = 128  # held-out images of the reported figures
    size: int = 64  # image side in pixels
    max_objects: int = 4  # 0..max_objects objects per image
    scale: list[float] = field(default_factory=lambda: [0.08, 0.2])  # object radius range, fraction of the side
    noise: float = 0.05  # Gaussian pixel noise
    seed: int = 0  # seed of the images


def load_shapes_detection(d: ShapesDetectionData) -> DataSplits:
    """``shapes-detection`` with the settings of ``d``."""
    if len(d.scale) != 2:
        raise ConfigError(f"data.scale must be [lo, hi]; got {d.scale!r}")
    return get_dataset("shapes-detection", n_train=d.n_train, n_val=d.n_val, n_test=d.n_test, size=d.size,
                       max_objects=d.max_objects, scale=tuple(d.scale), noise=d.noise, seed=d.seed)


def detection_map(model: torch.nn.Module, data: Any, detect=None, *, batch_size: int = 32) -> dict[str, float]:
    """``map``, ``map_50`` and ``map_75`` of ``detect(images)`` (default: the model in evaluation mode) on ``data``."""
    from ...data.batch import collate_images

    metric = MeanAveragePrecision()
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = collate_images([data[i] for i in range(start, min(start + batch_size, len(data)))])
            preds = detect(batch.inputs) if detect is not None else model(batch.inputs)
            metric.update([{k: p[k] for k in ("boxes", "scores", "labels")} for p in preds],
                          [{k: t[k] for k in ("boxes", "labels")} for t in batch.targets])
    model.train(was_training)
    out = metric.compute()
    return {k: float(out[k]) for k in ("map", "map_50", "map_75")}


def plot_loss_terms(history: list[dict[str, Any]], run_dir: Any, terms: tuple[str, ...], caption: str) -> None:
    """The training means of the loss ``terms`` per epoch (``plots/loss_terms.png``), log scale."""
    from ...report.plots import figure, save_figure

    rows = [r for r in history if any(f"train/{t}" in r for t in terms)]
    if not rows:
        return
    fig = figure(figsize=(5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for t in terms:
        pts = [(r["epoch"], r[f"train/{t}"]) for r in rows if r.get(f"train/{t}") is not None and r[f"train/{t}"] > 0]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, "-o", ms=3, label=t)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss term")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, run_dir, "loss_terms", caption)


def without_proposal_cache(model: torch.nn.Module) -> torch.nn.Module:
    """A CPU copy of ``model`` with its proposal cache off when it keeps one (R-CNN, Fast R-CNN), so that repeated
    passes over the same images pay for their proposals each time; ``model`` is left as it is."""
    import copy

    clone = copy.deepcopy(model).cpu()
    if getattr(clone, "cache_size", 0):
        clone.cache_size = 0
        clone._cache.clear()
    return clone


def cnn_evaluations_per_image(model: torch.nn.Module, images: torch.Tensor) -> float:
    """CNN evaluations per image of ``model`` detecting ``images``, counted: the inputs that pass through its first
    convolution (in module order), divided by the number of images.

    A detector that runs its CNN on the whole image counts 1 (Fast and Faster R-CNN, YOLO); one that runs it on
    crops counts the crops (R-CNN: its proposals; the sliding window: its windows).

    Shape:
        ``images``: ``[N, C, H, W]`` in [0, 1].
    """
    conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if conv is None:
        raise ConfigError(f"{type(model).__name__} has no convolution whose evaluations could be counted")
    counted: list[int] = []
    hook = conv.register_forward_hook(lambda m, inputs, output: counted.append(int(inputs[0].shape[0])))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(images)
    finally:
        hook.remove()
        model.train(was_training)
    return sum(counted) / max(int(images.shape[0]), 1)


def inference_ms_per_image(
    model: torch.nn.Module, images: torch.Tensor, *, batch_size: int = 32, repeats: int = 5
) -> float:
    """Milliseconds per image of ``model`` detecting ``images`` (evaluation mode, no gradients, ONE thread):
    the median of ``repeats`` timed passes in batches of ``batch_size``, after one warm-up batch.

    ``model`` and ``images`` are on the CPU.  A model that caches its proposals is timed as a copy with the cache
    off (:func:`without_proposal_cache`): each pass pays for its proposals.  The thread count is restored
    afterwards.

    Shape:
        ``images``: ``[N, C, H, W]`` in [0, 1].
    """
    import statistics
    import time

    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"inference_ms_per_image repeats must be a positive integer; got {repeats!r}")
    if getattr(model, "cache_size", 0):
        model = without_proposal_cache(model)
    threads = torch.get_num_threads()
    was_training = model.training
    model.eval()
    torch.set_num_threads(1)
    passes = []
    try:
        with torch.no_grad():
            model(images[:batch_size])
            for _ in range(repeats):
                t0 = time.perf_counter()
                for s in range(0, len(images), batch_size):
                    model(images[s : s + batch_size])
                passes.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    return 1000.0 * statistics.median(passes) / max(len(images), 1)


def detector_figures(result: Any, terms: tuple[str, ...], caption: str) -> None:
    """A detector recipe's report figures: test detections and precision-recall curves
    (:func:`~an2dl.recipes.figures.detection_figures`), and, when the run trained, its loss terms per epoch."""
    from ..figures import detection_figures

    detection_figures(result, n_examples=result.config.examples)
    if result.trainer is not None:
        plot_loss_terms(result.trainer.history, result.run_dir, terms, caption)
