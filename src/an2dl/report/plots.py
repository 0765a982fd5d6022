"""Plots for run reports, drawn with matplotlib's Agg backend (no display needed).

Every function writes one PNG into ``run_dir/plots`` and registers a caption
in ``plots/index.json`` so that the report shows plots in the order they were
made, each with its explanation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._utils.files import atomic_write_text

__all__ = ["figure", "save_figure", "plot_curves", "plot_confusion_matrix", "plot_image_grid"]


def figure(*args: Any, **kwargs: Any):
    """A new matplotlib figure on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.figure(*args, **kwargs)


def save_figure(fig: Any, run_dir: str | Path, name: str, caption: str) -> Path:
    """Save ``fig`` as ``run_dir/plots/<name>.png``, record its caption and close it.

    The house style is applied first (:func:`~an2dl.report.layout.tidy_figure`):
    integer ticks on epoch axes, legends moved off the data.
    """
    import matplotlib.pyplot as plt

    from .layout import tidy_figure

    tidy_figure(fig)
    plots = Path(run_dir) / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    path = plots / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    index_path = plots / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else []
    index = [e for e in index if e["file"] != path.name] + [{"file": path.name, "caption": caption}]
    atomic_write_text(index_path, json.dumps(index, indent=1))
    return path


def plot_curves(history: Sequence[dict[str, Any]], run_dir: str | Path) -> list[Path]:
    """Training vs validation curves, one plot per metric (``loss``, ``accuracy``, ...)."""
    rows = [r for r in history if any(k.startswith(("train/", "val/")) for k in r)]
    if not rows:
        return []
    names = sorted({k.split("/", 1)[1] for r in rows for k in r if k.startswith(("train/", "val/"))})
    out = []
    for name in names:
        fig = figure(figsize=(5, 3.4))
        ax = fig.add_subplot(1, 1, 1)
        for split, style in (("train", "-o"), ("val", "-s")):
            pts = [(r["epoch"], r[f"{split}/{name}"]) for r in rows if f"{split}/{name}" in r and r[f"{split}/{name}"] is not None]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, style, ms=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
        safe = name.replace("/", "_")
        out.append(save_figure(fig, run_dir, f"curve_{safe}", f"{name} per epoch on the training and validation sets"))
    return out


def plot_confusion_matrix(matrix: Any, class_names: Sequence[str], run_dir: str | Path, *, split: str = "test") -> Path:
    """Confusion matrix: rows are true classes, columns predicted classes, counts in cells."""
    m = np.asarray(matrix)
    k = len(m)
    fig = figure(figsize=(0.45 * k + 2.5, 0.45 * k + 2))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(k), class_names, rotation=90 if k > 10 else 0)
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 20:
        top = m.max() if m.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7, color="white" if m[i, j] > top / 2 else "black")
    acc = np.trace(m) / max(1, m.sum())
    ax.set_title(f"{split} confusion matrix (accuracy {acc:.4f})")
    return save_figure(fig, run_dir, f"confusion_matrix_{split}", f"Confusion matrix on the {split} set; rows are the true classes")


def plot_image_grid(
    images: Any,
    labels: Sequence[int],
    predictions: Sequence[int],
    probabilities: Sequence[float],
    class_names: Sequence[str],
    run_dir: str | Path,
    *,
    name: str = "test_predictions",
    cols: int = 8,
) -> Path:
    """Images with predicted class and probability; mistakes in red with the true class."""
    imgs = np.asarray(images)
    n = len(imgs)
    rows = max(1, -(-n // cols))
    fig = figure(figsize=(cols * 1.25, rows * 1.45))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        img = imgs[i]
        if img.ndim == 3 and img.shape[0] in (1, 3):
            img = img.transpose(1, 2, 0)
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        ax.imshow(np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None)
        ok = predictions[i] == labels[i]
        text = f"{class_names[predictions[i]]} {probabilities[i]:.2f}"
        if not ok:
            text += f"\n(true {class_names[labels[i]]})"
        ax.set_title(text, fontsize=7, color="black" if ok else "red")
        ax.axis("off")
    wrong = sum(int(p != t) for p, t in zip(predictions, labels))
    return save_figure(
        fig, run_dir, name, f"Test samples with the predicted class and its probability; {wrong} of {n} mistakes in red"
    )
