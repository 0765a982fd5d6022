"""``unet-membrane``: the U-Net on the ISBI 2012 electron-microscopy membrane images (notes §3.5.1.2).

The data set of Ronneberger et al. (2015, §3.1): 30 labelled 512×512
sections, membrane (the thin borders between cells, about 22 % of the
pixels) against cell interior.  The U-Net is trained on random crops with
flips (augmentation moves the masks with the pixels), with the
cross-entropy weighted by class from the label frequencies, and evaluated
on whole held-out sections (the last 6 of the volume).  The report shows
the held-out images with the ground truth and the prediction overlaid, and
the per-class IoU.

Departures from the paper, for a laptop CPU: a thinner network (16 base
channels instead of 64) with batch normalisation after every convolution,
``"same"`` padding (``model.padding=valid`` gives the paper's unpadded
network, trained on valid crops and evaluated by overlap-tile prediction),
Adam instead of SGD with momentum 0.99, and no elastic deformation by
default (``augment.elastic_sigma=10`` adds the paper's); the border weights
of the paper's eq. 2 are available with ``loss.border_w0=10``.

Why batch norm and no elastic deformation (seed 0, the default settings but
for the ones named, test pixel accuracy / mean IoU on sections 24–29):

* with batch norm, 400 steps: 0.904 / 0.747;
* without, 400 steps at a learning rate of 3·10⁻⁴: 0.825 / 0.641; 600 steps
  at the default 10⁻³: 0.756 / 0.564 — the unnormalised thin network learns
  far more slowly, and trains worse at the default rate than at a lower one;
* with batch norm and elastic deformation (σ = 10 pixels on a 3×3 grid),
  400 steps: 0.898 / 0.745 — no gain at this budget.  The paper credits the
  deformation with teaching invariance to deformations from few annotated
  images; on this budget it changes the held-out figures by less than 0.01.

Each run: ``AN2DL_DATA_DIR=... an2dl run unet-membrane --set trainer.max_steps=400``
with ``--set model.batch_norm=false``, ``--set optim.lr=3e-4`` or
``--set augment.elastic_sigma=10`` as named (75–100 s of CPU each, one thread).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base import Recipe, RunResult, register_recipe
from ._common import (
    UNetFamilySettings,
    build_net,
    load_segmentation_data,
    prediction_figures,
    segmentation_task,
)

__all__ = ["UNetMembrane", "UNetMembraneConfig"]


@dataclass
class UNetMembraneConfig(UNetFamilySettings):
    """The settings of ``unet-membrane`` (those of the U-Net family, see :class:`UNetFamilySettings`)."""


def unet_task(cfg: Any, data: Any) -> Any:
    """The U-Net's task for ``cfg`` (``model``, ``augment``, ``loss``, ``optim``) on ``data``."""
    net = build_net("unet", cfg.model, data)
    side = int(data.info.input_shape[-1])
    augment = cfg.augment
    if cfg.model.padding == "valid" and augment.crop:  # training crops must be sizes the unpadded network takes
        augment = type(augment)(**{**augment.__dict__, "crop": net.valid_input_size(augment.crop)})
    return segmentation_task(net, data, cfg.loss, cfg.optim, augment.build(side))


@register_recipe
class UNetMembrane(Recipe):
    """The U-Net (Ronneberger et al. 2015) on the ISBI 2012 membrane sections: crops for training, whole sections for testing."""

    name = "unet-membrane"
    summary = "U-Net on the ISBI 2012 EM membrane images (AN2DL_DATA_DIR/membrane or downloaded); overlays, per-class IoU"
    section = "3.5.1.2"
    Config = UNetMembraneConfig
    smoke_settings = ("data.limit=1", "model.base_channels=4", "model.depth=2", "augment.crop=64",
                      "trainer.max_steps=2", "trainer.batch_size=1", "trainer.val_every_n_steps=2",
                      "checkpoint.every_n_steps=2", "overlays=1")

    def build(self, cfg: UNetMembraneConfig):
        data = load_segmentation_data(cfg.data)
        return unet_task(cfg, data), data

    def figures(self, result: RunResult) -> None:
        if result.data is None or result.task is None:
            return
        prediction_figures(result.run_dir, result.data, {"U-Net": result.task.model}, {"U-Net": result.metrics},
                           result.config.overlays, caption="Intersection over union of each class on the test images")
