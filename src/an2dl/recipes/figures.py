"""Standard report figures shared by recipes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..data.core import ArrayDataset, subset
from ..report.plots import plot_confusion_matrix, plot_image_grid

if TYPE_CHECKING:  # pragma: no cover
    from .result import RunResult

__all__ = ["classification_figures", "gradcam_figure", "detection_figures"]


def classification_figures(result: RunResult, *, n_samples: int = 32) -> None:
    """Confusion matrix of the test split and a grid of test samples with predictions."""
    trainer, data, task = result.trainer, result.data, result.task
    if trainer is None or data is None or task is None or data.test is None:
        return
    names = list(data.info.class_names) or [str(i) for i in range(data.info.num_classes)]
    cm = trainer.eval_artifacts.get("test/confusion_matrix")
    if cm is not None:
        plot_confusion_matrix(cm, names, result.run_dir)
    test = data.test
    if not isinstance(test, ArrayDataset) or len(test.tensors) < 2:
        return
    n = min(n_samples, len(test))
    idx = torch.linspace(0, len(test) - 1, n).long()
    sample = subset(test, idx)
    x, y = sample.tensors[0], sample.tensors[1]
    # computed here, on this process only (in a multi-process run the trainer's loops are sharded)
    was_training = task.training
    task.eval()
    with torch.no_grad():
        dtype = next(task.parameters()).dtype
        probs = task.predict_step(task.as_batch((x.to(trainer.device, dtype), y)), None)
    task.train(was_training)
    if not isinstance(probs, torch.Tensor) or probs.dim() != 2:
        return
    conf, pred = probs.cpu().max(dim=1)
    if x.dim() != 4:
        return
    plot_image_grid(x.numpy(), y.tolist(), pred.tolist(), conf.tolist(), names, result.run_dir)
    model = getattr(task, "model", None)
    if isinstance(model, torch.nn.Module):
        gradcam_figure(model, x[:8].to(trainer.device, dtype), y[:8].tolist(), names, result.run_dir)


def gradcam_figure(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: list[int],
    names: list[str],
    run_dir,
    *,
    name: str = "gradcam_test",
) -> Path | None:
    """Grad-CAM overlays of the predicted class for a few test images (notes §3.5.2.2), when the model has a
    convolutional layer with a spatial map; ``None`` (no figure) otherwise.

    One forward and one backward pass over ``images`` (up to 8 in the standard reports).
    """
    from ..explain import conv_layers, default_gradcam_layer, grad_cam, plot_overlays
    from ..explain.gradcam import NoConvLayerError

    if not conv_layers(model) or images.shape[1] not in (1, 3):
        return None
    try:
        layer = default_gradcam_layer(model, images)
    except NoConvLayerError:  # convolutions that give 1x1 maps only: nothing to localise
        return None
    maps = grad_cam(model, images, layer=layer)
    with torch.no_grad():
        was_training = model.training
        model.eval()
        out = model(images)
        model.train(was_training)
    scores = out[0] if isinstance(out, (tuple, list)) else out
    pred = scores.argmax(dim=1).tolist()
    titles = [f"{names[p]}" + ("" if p == t else f" (true {names[t]})") for p, t in zip(pred, labels)]
    return plot_overlays(
        images.float().cpu(),
        maps.float().cpu(),
        titles,
        run_dir,
        name=name,
        caption=f"Grad-CAM of the predicted class on {len(images)} test images (layer {layer}): "
        "red marks where the feature maps raise the class score most (notes 3.5.2.2)",
    )


def detection_figures(result: RunResult, *, n_examples: int = 8, score_threshold: float = 0.5) -> None:
    """The test split's precision-recall curves at IoU 0.5 and a grid of test images with true and found boxes.

    For a :class:`~an2dl.tasks.DetectionTask` run (notes §3.5.4): the curves are the task's ``pr_curve_50``
    artifact of the test evaluation (:func:`an2dl.report.detection.plot_pr_curves`); the examples are the
    first ``n_examples`` test images, detected here (:func:`an2dl.report.detection.plot_detection_examples`).
    """
    from ..data.batch import collate_images
    from ..report.detection import plot_detection_examples, plot_pr_curves

    trainer, data, task = result.trainer, result.data, result.task
    if trainer is None or data is None or task is None or data.test is None:
        return
    names = list(getattr(task, "class_names", None) or getattr(data.test, "class_names", None) or [])
    curves = trainer.eval_artifacts.get("test/pr_curve_50")
    if curves is not None and names:
        plot_pr_curves(curves, names, result.run_dir)
    samples = [data.test[i] for i in range(min(n_examples, len(data.test)))]
    if not samples or not names:
        return
    images = [s[0] for s in samples]
    was_training = task.training
    task.eval()
    with torch.no_grad():
        detections = task.predict_step(collate_images(samples).to(trainer.device), None)
    task.train(was_training)
    plot_detection_examples(
        images,
        [{k: v.cpu() for k, v in d.items()} for d in detections],
        [s[1] for s in samples],
        names,
        result.run_dir,
        score_threshold=score_threshold,
    )
