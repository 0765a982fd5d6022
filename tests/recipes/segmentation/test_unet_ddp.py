"""unet-membrane on 2 CPU processes (DDP through Lightning Fabric) follows the single-process run (float64)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

# No random crop, flip or loss masking: each process would draw its own for its half of the batch; no batch
# norm: each process would normalise with the statistics of its own half. Float64:
# the gradient all-reduce sums in another order than one process, which float32 would amplify (see test_ddp.py).
COMMON = ["run", "unet-membrane", "--quiet", "--set", "data.limit=2", "--set", "model.base_channels=4",
          "--set", "model.depth=2", "--set", "model.batch_norm=false", "--set", "augment.crop=0", "--set", "augment.flip=false",
          "--set", "loss.random_mask=0", "--set", "trainer.max_steps=3", "--set", "trainer.batch_size=2",
          "--set", "trainer.val_every_n_steps=3", "--set", "checkpoint.every_n_steps=3", "--set", "overlays=1",
          "--set", "trainer.accelerator=cpu", "--set", "trainer.precision=64-true"]


def test_two_process_unet_matches_one_process(tmp_path):
    from conftest import require_data, run_cli

    require_data("membrane")
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    a = run_cli(*COMMON, "--run-dir", str(single))
    b = run_cli(*COMMON, "--set", "trainer.devices=2", "--set", "trainer.strategy=ddp", "--run-dir", str(ddp),
                env={"OMP_NUM_THREADS": "1"})
    assert a.returncode == 0, a.stderr
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
