"""Data-parallel training on CPU: 2 processes (gloo) through Lightning Fabric."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

# Augmentation is off: with 2 processes each draws its own random transforms for its half of the batch,
# which is a different (equally valid) stream than one process drawing for the whole batch.
# Double precision: in float32 the two runs differ by the summation order of the gradient all-reduce
# (~1e-7 relative per step), and ReLU/max-pool decisions amplify that over 120 steps to ~1e-3 in the
# losses; in float64 the same effect stays below 1e-12, so the comparison can be tight.
COMMON = ["run", "lenet5-digits", "--quiet", "--set", "trainer.max_epochs=3", "--set", "augment.p=0",
          "--set", "trainer.accelerator=cpu", "--set", "trainer.precision=64-true"]


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path):
    from conftest import run_cli

    single, ddp = tmp_path / "single", tmp_path / "ddp"
    a = run_cli(*COMMON, "--run-dir", str(single))
    b = run_cli(*COMMON, "--set", "trainer.devices=2", "--set", "trainer.strategy=ddp", "--run-dir", str(ddp),
                env={"OMP_NUM_THREADS": "1"})
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    assert b.stdout.strip().splitlines()[-1] == str(ddp)
    assert "GLOBAL_RANK: 1" in b.stderr + b.stdout  # two processes really ran
    ra = json.loads((single / "results.json").read_text())
    rb = json.loads((ddp / "results.json").read_text())
    assert ra["steps"] == rb["steps"] == 120
    # Both runs see the same samples in every step (each global batch of 32 is split 16/16 and each
    # process's mean loss is weighted to the global mean), so in float64 the weights agree to ~1e-15
    # and the metrics (reported in float32) to float32 rounding: tolerance 1e-10 and 1e-6.
    wa, wb = load_file(str(single / "model" / "model.safetensors")), load_file(str(ddp / "model" / "model.safetensors"))
    assert wa["classifier.weight"].dtype == torch.float64
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-10
    for key in ("test/loss", "val/loss", "train/loss", "test/accuracy", "val/accuracy", "train/accuracy"):
        assert rb["metrics"][key] == pytest.approx(ra["metrics"][key], abs=1e-6), key
    assert rb["metrics"]["test/accuracy"] > 0.85
