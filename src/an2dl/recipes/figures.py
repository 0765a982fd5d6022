"""Standard report figures shared by recipes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..data.core import ArrayDataset, subset
from ..report.plots import plot_confusion_matrix, plot_image_grid

if TYPE_CHECKING:  # pragma: no cover
    from .base import RunResult

__all__ = ["classification_figures"]


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
