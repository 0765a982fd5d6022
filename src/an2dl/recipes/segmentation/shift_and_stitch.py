"""``shift-and-stitch-demo``: a digit classifier made fully convolutional (notes §3.5.1.1).

LeNet-5 is trained on the embedded digits (32×32), then its dense layers
become convolutions (:func:`~an2dl.models.segmentation.convolutionalize`,
weights copied) and it is run on a *scene* — a grid of held-out test digits
— as a fully convolutional network:

* its **heat maps**: one score map per class, one value every ``f = 4``
  pixels (the product of its two pooling strides);
* **direct upsampling** of the heat maps to every pixel (bilinear, each
  value at its window's centre): one pass, coarse;
* **shift and stitch**: the ``f² = 16`` heat maps of the shifted scene,
  interleaved — equal to evaluating the classifier on the window centred on
  every pixel (the *dense sliding evaluation*, computed too as the
  reference: one classifier call per pixel), at a fraction of its cost.

Each pixel's class is the argmax of its scores; the scene's ground truth
labels every pixel with the digit of the 32×32 cell it lies in; the window
centred on a pixel near a cell's border shows parts of two digits, so the
accuracy is also given on the central half of each cell.  The classifier is
trained with random shifts (``augment``), which such windows need.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from ...data import get_dataset
from ...data.transforms import RandomAffine
from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...models import get_model
from ...models.segmentation import convolutionalize, shift_and_stitch, sliding_window_scores, upsample_heatmap
from ...tasks import ClassificationTask
from ..base import Recipe, RunResult, register_recipe, write_results
from ..config import RunSettings, TrainerConfig

__all__ = ["ShiftAndStitchDemo", "ShiftAndStitchConfig", "digit_scene"]


@dataclass
class SceneSettings:
    rows: int = 3  # digits per column of the scene
    cols: int = 4  # digits per row of the scene
    seed: int = 0  # which test digits are drawn
    reference: bool = True  # also run the dense sliding evaluation (one classifier call per pixel)


@dataclass
class DigitsSplit:
    val_fraction: float = 0.1  # stratified hold-out for validation
    test_fraction: float = 0.2  # stratified hold-out for testing (the scene's digits come from it)
    seed: int = 0  # seed of the split


@dataclass
class ClassifierAugment:
    enabled: bool = True  # random shifts teach the classifier windows that are not centred on a digit
    degrees: float = 10.0  # random rotation in [-degrees, degrees]
    translate: float = 0.15  # random shift up to this fraction of the image size
    scale: float = 0.1  # random zoom in [1 - scale, 1 + scale]


@dataclass
class ShiftAndStitchConfig(RunSettings):
    data: DigitsSplit = field(default_factory=DigitsSplit)
    augment: ClassifierAugment = field(default_factory=ClassifierAugment)
    scene: SceneSettings = field(default_factory=SceneSettings)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3, schedule=ScheduleSpec("cosine")))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=15, batch_size=32))


def digit_scene(images: torch.Tensor, labels: torch.Tensor, rows: int, cols: int, *,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``rows × cols`` grid of randomly drawn digits and the label of every pixel (its cell's digit).

    Args:
        images: ``[N, 1, S, S]`` digits; labels ``[N]``.

    Returns:
        the scene ``[1, 1, rows·S, cols·S]`` and the labels ``[rows·S, cols·S]`` int64.
    """
    s = images.shape[-1]
    pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[: rows * cols]
    tiles = images[pick].reshape(rows, cols, s, s)
    scene = tiles.permute(0, 2, 1, 3).reshape(1, 1, rows * s, cols * s)  # (1, 1, rows·S, cols·S)
    truth = labels[pick].reshape(rows, cols).repeat_interleave(s, 0).repeat_interleave(s, 1)
    return scene, truth


@register_recipe
class ShiftAndStitchDemo(Recipe):
    """LeNet-5 on digits made fully convolutional: heat maps, direct upsampling, shift and stitch = dense evaluation."""

    name = "shift-and-stitch-demo"
    summary = "LeNet-5 made fully convolutional: heat maps, direct upsampling, shift-and-stitch equal to dense sliding"
    section = "3.5.1.1"
    Config = ShiftAndStitchConfig
    smoke_settings = ("trainer.max_epochs=1", "scene.rows=1", "scene.cols=2")

    def build(self, cfg: ShiftAndStitchConfig):
        d = cfg.data
        data = get_dataset("digits", size=32, val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)
        model = get_model("lenet5", num_classes=10, in_channels=1)
        a = cfg.augment
        augment = RandomAffine(degrees=a.degrees, translate=a.translate, scale=a.scale) if a.enabled else None
        return ClassificationTask(model, num_classes=10, optimizer=cfg.optim, augment=augment), data

    def figures(self, result: RunResult) -> None:
        super().figures(result)
        cfg, task, data = result.config, result.task, result.data
        if task is None or data is None or data.test is None:
            return
        demo, arrays = scene_demo(task.model, data.test.tensors[0], data.test.tensors[1], cfg.scene)
        result.metrics.update(demo)
        path = result.run_dir / "results.json"
        doc = json.loads(path.read_text())
        doc["metrics"].update(demo)
        notes = doc.pop("notes", []) + [
            f"Heat maps {demo['scene/heatmap_rows']}x{demo['scene/heatmap_cols']} for a "
            f"{demo['scene/height']}x{demo['scene/width']} scene (downsampling factor {demo['scene/stride']}).",
            f"Shift and stitch: {demo['scene/shift_and_stitch_passes']} passes in {demo['scene/shift_and_stitch_s']:.3f} s; "
            + (f"dense sliding evaluation: {demo['scene/sliding_windows']} classifier calls in "
               f"{demo['scene/sliding_s']:.3f} s; largest difference {demo['scene/max_abs_difference']:.2e}."
               if "scene/sliding_s" in demo else "dense sliding evaluation skipped."),
        ]
        write_results(result.run_dir, doc.pop("metrics"), notes=notes, **doc)
        _scene_figures(result.run_dir, arrays, demo)


@torch.no_grad()
def scene_demo(classifier: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
               s: SceneSettings) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Heat maps, direct upsampling, shift and stitch (and the dense reference) of ``classifier`` on a digit scene."""
    device = next(classifier.parameters()).device
    was = classifier.training
    clf = classifier.eval()
    fcn = convolutionalize(clf)
    scene, truth = digit_scene(images, labels, s.rows, s.cols, seed=s.seed)
    x = scene.to(device)
    h, w = scene.shape[-2:]
    t0 = time.perf_counter()
    heat = fcn(x)
    t_heat = time.perf_counter() - t0
    up = upsample_heatmap(heat, stride=fcn.stride, window=fcn.window, size=(h, w))
    t0 = time.perf_counter()
    stitched = shift_and_stitch(fcn, x, pad_mode="constant")  # zeros: the digits' background
    t_stitch = time.perf_counter() - t0
    out: dict[str, Any] = {
        "scene/height": h, "scene/width": w, "scene/stride": fcn.stride,
        "scene/heatmap_rows": int(heat.shape[-2]), "scene/heatmap_cols": int(heat.shape[-1]),
        "scene/heatmap_s": t_heat, "scene/shift_and_stitch_s": t_stitch,
        "scene/shift_and_stitch_passes": fcn.stride ** 2,
        "scene/pixel_accuracy_upsampled": float((up.argmax(1)[0].cpu() == truth).double().mean()),
        "scene/pixel_accuracy_shift_and_stitch": float((stitched.argmax(1)[0].cpu() == truth).double().mean()),
    }
    # the pixels whose window lies mostly on their own digit: the central half of each cell
    side = images.shape[-1]
    pos = torch.arange(side)
    core = ((pos >= side // 4) & (pos < side - side // 4))
    central = core.repeat(s.rows).view(-1, 1) & core.repeat(s.cols).view(1, -1)
    for key, scores in (("upsampled", up), ("shift_and_stitch", stitched)):
        hits = scores.argmax(1)[0].cpu() == truth
        out[f"scene/central_accuracy_{key}"] = float(hits[central].double().mean())
    if s.reference:
        t0 = time.perf_counter()
        dense = sliding_window_scores(clf, x, fcn.window, pad_mode="constant")
        out["scene/sliding_s"] = time.perf_counter() - t0
        out["scene/sliding_windows"] = h * w
        out["scene/max_abs_difference"] = float((dense - stitched).abs().max())
        out["scene/speedup_shift_and_stitch_over_sliding"] = out["scene/sliding_s"] / max(t_stitch, 1e-9)
    classifier.train(was)
    arrays = {"scene": scene[0, 0], "truth": truth, "heat": heat[0].cpu(), "upsampled": up[0].argmax(0).cpu(),
              "stitched": stitched[0].argmax(0).cpu()}
    return out, arrays


def _scene_figures(run_dir, a: dict[str, torch.Tensor], demo: dict[str, Any]) -> None:
    from ...report.plots import figure, save_figure

    panels = [("scene", a["scene"], "gray"), ("ground truth (digit of each cell)", a["truth"], "tab10"),
              (f"heat maps: argmax ({demo['scene/heatmap_rows']}x{demo['scene/heatmap_cols']})",
               a["heat"].argmax(0), "tab10"),
              (f"direct upsampling ({100 * demo['scene/pixel_accuracy_upsampled']:.1f} %)", a["upsampled"], "tab10"),
              (f"shift and stitch ({100 * demo['scene/pixel_accuracy_shift_and_stitch']:.1f} %)", a["stitched"], "tab10")]
    fig = figure(figsize=(3.2 * len(panels), 3.0))
    for i, (title, img, cmap) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        kw = {"vmin": 0, "vmax": 9} if cmap == "tab10" else {}
        ax.imshow(img.numpy(), cmap=cmap, interpolation="nearest", **kw)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    save_figure(fig, run_dir, "shift_and_stitch", "A scene of test digits, the class of every pixel (colour = digit, "
                "tab10) from the coarse heat maps, their direct upsampling and shift and stitch; in brackets the share "
                "of pixels given the digit of their cell")
    heat = a["heat"].softmax(0)
    fig = figure(figsize=(12, 5))
    for k in range(10):
        ax = fig.add_subplot(2, 5, k + 1)
        ax.imshow(heat[k].numpy(), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"P({k})", fontsize=8)
        ax.axis("off")
    save_figure(fig, run_dir, "heat_maps", "Heat map of each class: the softmax probability of the window at each "
                f"heat-map position (one position every {demo['scene/stride']} pixels)")
