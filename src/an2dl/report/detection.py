"""Report figures of object detection: precision–recall curves and held-out images with their boxes (notes §3.5.4).

* :func:`plot_pr_curves` — one panel per class: the interpolated precision at
  IoU 0.5 against the recall (the curves whose means are the per-class
  AP@0.5 of PASCAL VOC / COCO's ``map_50``), one line per detector, so that
  a comparison of detectors shows where each loses precision.  The curves
  come from a detection task's ``pr_curve_50`` artifact
  (``trainer.eval_artifacts["test/pr_curve_50"]``, float ``[C, 101]``: row
  ``k − 1`` is class ``k`` at the recall levels ``0, 0.01, ..., 1``, ``-1``
  where the class has no ground truth; see :mod:`an2dl.tasks.detection`).
* :func:`plot_detection_examples` — a grid of images with the true boxes in
  white and the detections (score ≥ a threshold) in their class colours
  with ``"<class> <score>"`` captions (:func:`~an2dl.tasks.detection.draw_detections`).

Recipes call both through :func:`an2dl.recipes.figures.detection_figures`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .plots import figure, save_figure

__all__ = ["plot_pr_curves", "plot_detection_examples", "RECALL_LEVELS"]

#: the recall levels of a ``pr_curve_50`` row (COCO's 101 points)
RECALL_LEVELS = np.linspace(0.0, 1.0, 101)


def _object_names(class_names: Sequence[str], count: int) -> list[str]:
    names = [str(n) for n in class_names]
    if len(names) == count + 1:  # the background came along
        names = names[1:]
    if len(names) != count:
        raise ValueError(f"plot_pr_curves needs the names of the {count} object classes (the background may lead); "
                         f"got {len(class_names)} names")
    return names


def plot_pr_curves(curves: Any, class_names: Sequence[str], run_dir: str | Path, *, name: str = "pr_curves_test",
                   split: str = "test") -> Path:
    """Precision–recall curves at IoU 0.5, one panel per class, one line per detector.

    Args:
        curves: ``[C, 101]`` precision at :data:`RECALL_LEVELS` (a ``pr_curve_50`` artifact), or
            ``{detector name: [C, 101]}`` to compare detectors; rows of ``-1`` (a class without ground
            truth) are left out.
        class_names: the C object classes (a leading ``"background"`` is dropped).
        run_dir: the run whose ``plots/`` receive ``<name>.png``.
        name: the file's name.
        split: the split named in the caption.

    Returns:
        The PNG's path.
    """
    runs = dict(curves) if isinstance(curves, Mapping) else {"": curves}
    arrays = {k: np.asarray(torch.as_tensor(v, dtype=torch.float64)) for k, v in runs.items()}
    for k, a in arrays.items():
        if a.ndim != 2 or a.shape[1] != len(RECALL_LEVELS):
            raise ValueError(f"plot_pr_curves curves{'[' + repr(k) + ']' if k else ''} must be [C, 101]; got "
                             f"{list(a.shape)}")
    count = next(iter(arrays.values())).shape[0]
    names = _object_names(class_names, count)
    cols = min(count, 3)
    rows = -(-count // cols)
    fig = figure(figsize=(3.3 * cols, 3.0 * rows))
    for c in range(count):
        ax = fig.add_subplot(rows, cols, c + 1)
        drawn = 0
        for label, a in arrays.items():
            if a[c, 0] < 0:  # no ground truth of this class
                continue
            ap = float(a[c].mean())
            ax.step(RECALL_LEVELS, a[c], where="post", label=f"{label + ' ' if label else ''}AP50 {ap:.3f}")
            drawn += 1
        if not drawn:
            ax.text(0.5, 0.5, "no ground truth", ha="center", va="center", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        if c % cols == 0:
            ax.set_ylabel("precision")
        ax.set_title(names[c], fontsize=9)
        if drawn:
            ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, run_dir, name,
                       f"Precision-recall curves at IoU 0.5 on the {split} set, one panel per class: the interpolated "
                       "precision reached at each recall; the mean over the 101 recall levels is the class's AP@0.5, "
                       "their mean over the classes map_50 (notes 3.5.4)")


def plot_detection_examples(images: Sequence[torch.Tensor], detections: Sequence[Mapping[str, torch.Tensor]],
                            targets: Sequence[Mapping[str, torch.Tensor]], class_names: Sequence[str],
                            run_dir: str | Path, *, name: str = "detections_test", score_threshold: float = 0.5,
                            cols: int = 4) -> Path:
    """Held-out images with their true boxes (white) and the detections scored ≥ ``score_threshold`` (coloured).

    Args:
        images: ``[3, H, W]`` (or ``[1, H, W]``) images in [0, 1].
        detections: per image ``{boxes [K, 4], labels [K], scores [K]}`` in pixels of the image, and
            ``masks [K, 1, H, W]`` for instance segmentation (drawn as tints).
        targets: per image ``{boxes [N, 4], labels [N]}``.
        class_names: names of labels ``0..C`` (label 0 the background).
        run_dir: the run whose ``plots/`` receive ``<name>.png``.
        name: the file's name.
        score_threshold: the lowest score drawn.
        cols: images per row.

    Returns:
        The PNG's path.
    """
    from ..tasks.detection import draw_detections
    from ..tasks.localization import draw_box

    n = len(images)
    if not (n == len(detections) == len(targets)):
        raise ValueError(f"plot_detection_examples needs one detection and one target dict per image; got {n} images, "
                         f"{len(detections)} detections, {len(targets)} targets")
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    fig = figure(figsize=(2.6 * cols, 2.75 * rows))
    for i, (image, det, truth) in enumerate(zip(images, detections, targets)):
        shown = image.detach().float().cpu()
        shown = shown.expand(3, -1, -1) if shown.shape[0] == 1 else shown
        for box in truth["boxes"].detach().cpu():
            shown = draw_box(shown, box, color=(1.0, 1.0, 1.0))
        keep = det["scores"].detach().cpu() >= score_threshold
        masks = det.get("masks")  # Mask R-CNN: [K, 1, H, W] probabilities, tinted in the class colours
        masks = None if masks is None else masks.detach().float().cpu()[keep].reshape(-1, *shown.shape[-2:])
        drawn = draw_detections(shown, det["boxes"].detach().cpu()[keep], det["labels"].detach().cpu()[keep],
                                det["scores"].detach().cpu()[keep], class_names=class_names, masks=masks)
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(drawn.permute(1, 2, 0).numpy())
        ax.set_title(f"{int(keep.sum())} found / {len(truth['boxes'])} true", fontsize=8)
        ax.axis("off")
    with_masks = any("masks" in d for d in detections)
    return save_figure(fig, run_dir, name,
                       f"Held-out images: true boxes in white, detections with a score of at least {score_threshold:g} "
                       "in their class colours, captioned with class and score"
                       + (" (each detection's mask, probability ≥ 0.5, tinted in its class colour)" if with_masks
                          else ""))
