"""``saliency-gradcam``: do saliency and Grad-CAM point at the object? (notes §3.5.2.1–§3.5.2.2, "Explanation").

The notes: saliency maps and Grad-CAM "highlight the regions of the image
influencing the network's predictions", which also uncovers a network that
looks at the wrong place.  To measure it, the answer must be known: each image
is a digit (the 8×8 digits resized to 16×16) pasted at a random place of a
40×40 canvas of Gaussian noise with a few bright specks, and only the class is
used in training.  A small CNN with global average pooling (three
conv–BN–ReLU–pool blocks, GAP, one linear layer) learns the class; on the test
canvases the recipe computes

* the saliency map ``max_ch |∂S_c/∂I|`` (:func:`an2dl.explain.saliency_map`) and
* Grad-CAM of the last convolution (:func:`an2dl.explain.grad_cam`)

of the predicted class, and the share of each map's mass inside the digit's
box (``gradcam/mass_in_box``, ``saliency/mass_in_box``, means over the test
images), against the share a map spread evenly would have, the box's area
fraction ``box/area_fraction`` (16² / 40² = 0.16).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...engine.optim import OptimizerSpec
from ...explain import grad_cam, plot_overlays, saliency_map
from ...tasks import ClassificationTask
from ..base import Recipe, RunResult, register_recipe
from ..config import RunSettings, TrainerConfig
from ._common import CanvasData, SmallCNN, build_cnn, canvas_splits, mass_in_boxes

__all__ = ["SaliencyGradCam", "SaliencyGradCamConfig"]


@dataclass
class SaliencyGradCamConfig(RunSettings):
    data: CanvasData = field(default_factory=CanvasData)
    model: SmallCNN = field(default_factory=lambda: SmallCNN(channels=[16, 32, 64], kernel_size=3, head="gap-linear",
                                                             batch_norm=True))
    explain_images: int = 200  # test canvases whose maps are measured
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=1e-2))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=12, batch_size=32))


@register_recipe
class SaliencyGradCam(Recipe):
    """Saliency and Grad-CAM of a CNN trained on digits placed at random on a noisy canvas: mass inside the digit."""

    name = "saliency-gradcam"
    summary = ("saliency |dS_c/dI| and Grad-CAM on digits pasted at random places: how much of each map lies on "
               "the digit (notes §3.5.2.2)")
    section = "3.5.2.1, 3.5.2.2"
    Config = SaliencyGradCamConfig
    smoke_settings = ("trainer.max_epochs=1", "data.limit_train=128", "explain_images=16")

    def build(self, cfg: SaliencyGradCamConfig):
        data, self._boxes = canvas_splits(cfg.data)
        model = build_cnn(cfg.model, data.info)
        return ClassificationTask(model, num_classes=data.info.num_classes, optimizer=cfg.optim), data

    def extra_metrics(self, cfg: SaliencyGradCamConfig, task: ClassificationTask, data) -> tuple[dict[str, Any], list[str]]:
        model = task.model
        device = next(model.parameters()).device
        n = min(cfg.explain_images, len(data.test))
        x = data.test.tensors[0][:n].to(device)
        boxes = self._boxes["test"][:n]
        cam = grad_cam(model, x).cpu()
        sal = saliency_map(model, x).cpu()
        self._maps = (x.cpu(), cam, sal, boxes)
        area = float(cfg.data.digit ** 2 / cfg.data.canvas ** 2)
        cam_in, sal_in = mass_in_boxes(cam, boxes), mass_in_boxes(sal, boxes)
        metrics = {
            "gradcam/mass_in_box": float(cam_in.mean()),
            "saliency/mass_in_box": float(sal_in.mean()),
            "box/area_fraction": area,
            "gradcam/ratio_to_area": float(cam_in.mean()) / area,
            "saliency/ratio_to_area": float(sal_in.mean()) / area,
            "gradcam/peak_in_box": float(_peak_in_box(cam, boxes).mean()),
            "saliency/peak_in_box": float(_peak_in_box(sal, boxes).mean()),
        }
        return metrics, [
            f"*/mass_in_box: mean over {n} test canvases of the share of the map's sum inside the digit's "
            f"{cfg.data.digit}x{cfg.data.digit} box; box/area_fraction: the share an even map would have",
            "*/peak_in_box: the fraction of canvases whose map peaks inside the box; the boxes are never used in "
            "training",
        ]

    def figures(self, result: RunResult) -> None:
        super().figures(result)
        x, cam, sal, boxes = self._maps
        k = min(8, len(x))
        titles = [f"box x{int(b[0])}-{int(b[2])}, y{int(b[1])}-{int(b[3])}" for b in boxes[:k]]
        plot_overlays(x[:k], cam[:k], titles, result.run_dir, name="gradcam_canvas",
                      caption="Grad-CAM of the predicted class on test canvases (the digit's box in the titles): "
                              "the map lights the digit, not the noise or the specks")
        plot_overlays(x[:k], sal[:k], titles, result.run_dir, name="saliency_canvas",
                      caption="Saliency max_ch |dS_c/dI| of the predicted class on the same canvases")


def _peak_in_box(maps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """1 where the map's arg-max pixel lies inside the box, else 0."""
    w = maps.shape[-1]
    flat = maps.flatten(1).argmax(dim=1)
    r, c = flat // w, flat % w
    x1, y1, x2, y2 = boxes.unbind(dim=1)
    return ((c >= x1) & (c < x2) & (r >= y1) & (r < y2)).float()
