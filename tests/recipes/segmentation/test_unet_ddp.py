"""unet-membrane on 2 CPU processes (DDP through Lightning Fabric) follows the single-process run (float64).

The run uses the recipe's synthetic membranes (64x64) rather than the 512x512 ISBI sections: the equivalence
does not depend on the images, and the small ones make the three processes' training steps negligible next
to their start-up (the test took 25 s on the ISBI sections, most of it in float64 convolutions).  The
single-process run is made in the test's own process, which has the package imported already.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

# No random crop, flip or loss masking: each process would draw its own for its half of the batch; no batch
# norm: each process would normalise with the statistics of its own half. Float64:
# the gradient all-reduce sums in another order than one process, which float32 would amplify (see test_ddp.py).
SETTINGS = ["data.name=cells", "data.size=64", "data.n_train=4", "data.n_val=2", "data.n_test=2",
            "model.base_channels=4", "model.depth=2", "model.batch_norm=false", "augment.crop=0", "augment.flip=false",
            "loss.random_mask=0", "trainer.max_steps=3", "trainer.batch_size=2", "trainer.val_every_n_steps=3",
            "checkpoint.every_n_steps=3", "overlays=1", "trainer.accelerator=cpu", "trainer.precision=64-true"]


def test_two_process_unet_matches_one_process(tmp_path):
    import an2dl
    from conftest import run_cli

    single, ddp = tmp_path / "single", tmp_path / "ddp"
    an2dl.run("unet-membrane", SETTINGS, run_dir=single, progress=False)
    two = [*SETTINGS, "trainer.devices=2", "trainer.strategy=ddp"]
    b = run_cli("run", "unet-membrane", "--quiet", *(a for s in two for a in ("--set", s)), "--run-dir", str(ddp),
                env={"OMP_NUM_THREADS": "1"})
    assert b.returncode == 0, b.stderr
    assert "GLOBAL_RANK: 1" in b.stderr + b.stdout  # two processes really ran
    ra = json.loads((single / "results.json").read_text())
    rb = json.loads((ddp / "results.json").read_text())
    assert ra["steps"] == rb["steps"] == 3
    wa, wb = load_file(str(single / "model" / "model.safetensors")), load_file(str(ddp / "model" / "model.safetensors"))
    assert wa["head.weight"].dtype == torch.float64
    # each process takes one of the two images of a step; the pixel mean of the class-weighted loss divides
    # by the pixel count, so the two halves average to the global mean exactly
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-10
    for key in ("train/loss", "val/loss", "test/loss", "test/pixel_accuracy", "test/mean_iou", "test/dice"):
        assert rb["metrics"][key] == pytest.approx(ra["metrics"][key], abs=1e-6), key
