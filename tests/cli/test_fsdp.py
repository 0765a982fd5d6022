"""Sharded data parallelism (``trainer.strategy=fsdp``, PyTorch's FSDP2) on 2 CPU processes (gloo).

The same run as ``test_ddp.py``'s, with the parameters, gradients and optimiser state sharded over the two
processes: in float64 it follows the single-process run with the same global batch to rounding, through a
kill of both processes mid-epoch and ``an2dl resume`` from the gathered checkpoint.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import run_cli

pytestmark = pytest.mark.slow

COMMON = ["lenet5-digits", "--quiet", "--set", "trainer.max_epochs=2", "--set", "augment.p=0",
          "--set", "trainer.accelerator=cpu", "--set", "trainer.precision=64-true"]
FSDP = ["--set", "trainer.devices=2", "--set", "trainer.strategy=fsdp"]


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_fsdp_killed_and_resumed_matches_one_process(tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "fsdp"
    one = run_cli("run", *COMMON, "--run-dir", str(single))
    assert one.returncode == 0, one.stderr[-3000:]

    # both processes are killed (SIGKILL) after batch 50 of 80, in the second epoch: the epoch-1 checkpoint
    # (step 40), gathered from the shards and written by rank 0, is the last one
    killed = run_cli("run", *COMMON, *FSDP, "--run-dir", str(sharded),
                     env={"OMP_NUM_THREADS": "1", "AN2DL_FAULT": "train:batch-end@50"})
    assert killed.returncode != 0
    assert (sharded / "checkpoints" / "LATEST").read_text().strip() == "000000040"
    saved = load_file(str(sharded / "checkpoints" / "000000040" / "model.safetensors"))
    whole = load_file(str(single / "model" / "model.safetensors"))
    # full tensors, under the task's names (the exported model's, prefixed with "model.")
    assert {k.removeprefix("model."): v.shape for k, v in saved.items()} == {k: v.shape for k, v in whole.items()}

    resumed = run_cli("resume", str(sharded), "--quiet", env={"OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in resumed.stderr + resumed.stdout  # two processes really ran
    ra = json.loads((single / "results.json").read_text())
    rb = json.loads((sharded / "results.json").read_text())
    assert ra["steps"] == rb["steps"] == 80
    # measured: 3.1e-15 (the same samples in every step; the gradients averaged over the two halves)
    final = load_file(str(sharded / "model" / "model.safetensors"))
    assert final["classifier.weight"].dtype == torch.float64
    assert _max_difference(whole, final) < 1e-10
    for key in ("test/loss", "val/loss", "test/accuracy", "val/accuracy"):
        assert rb["metrics"][key] == pytest.approx(ra["metrics"][key], abs=1e-6), key


def test_fsdp_trains_the_transformer_like_one_process(tmp_path):
    """The GPT of ``gpt-shakespeare`` (its smallest settings, float64, 10 steps): sharded over two processes,
    its weights equal the single-process run's (measured 2e-16)."""
    from an2dl.recipes.base import get_recipe
    from conftest import require_data

    root = require_data("tinyshakespeare")
    settings = [*get_recipe("gpt-shakespeare").smoke_settings, f"data.root={root}", "data.val_fraction=0.01",
                "trainer.accelerator=cpu", "trainer.precision=64-true", "trainer.max_steps=10"]
    args = [a for s in settings for a in ("--set", s)]
    one = run_cli("run", "gpt-shakespeare", "--quiet", *args, "--run-dir", str(tmp_path / "one"))
    two = run_cli("run", "gpt-shakespeare", "--quiet", *args, *FSDP, "--run-dir", str(tmp_path / "fsdp"),
                  env={"OMP_NUM_THREADS": "1"})
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    a = load_file(str(tmp_path / "one" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "fsdp" / "model" / "model.safetensors"))
    assert _max_difference(a, b) < 1e-10
