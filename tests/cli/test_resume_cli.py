"""A training process killed with SIGKILL — mid-epoch or inside a checkpoint write — resumes bit for bit."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from an2dl.engine.checkpoint import latest_checkpoint

pytestmark = pytest.mark.slow

ARGS = ["run", "lenet5-digits", "--quiet", "--set", "trainer.max_epochs=3", "--set", "checkpoint.every_n_steps=10",
        "--set", "checkpoint.keep_last=100", "--set", "trainer.accelerator=cpu"]


def final_weights(run_dir):
    return load_file(str(run_dir / "model" / "model.safetensors"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from conftest import run_cli

    run = tmp_path_factory.mktemp("full") / "run"
    proc = run_cli(*ARGS, "--run-dir", str(run))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(run)
    return run


@pytest.mark.parametrize(
    "fault, resumed_from",
    [
        ("train:batch-end@55", 50),  # killed mid-epoch 2 (40 batches per epoch), after the step-50 checkpoint
        ("checkpoint-write:optimizer.safetensors@3", 20),  # killed while writing the step-30 checkpoint
        ("checkpoint-write:before-rename@5", 40),  # killed after writing every file of step 50, before publishing it
    ],
)
def test_sigkill_then_resume_is_bit_identical(uninterrupted, tmp_path, fault, resumed_from):
    from conftest import run_cli

    run = tmp_path / "run"
    killed = run_cli(*ARGS, "--run-dir", str(run), env={"AN2DL_FAULT": fault})
    assert killed.returncode == -9, killed.stderr  # SIGKILL
    assert not (run / "results.json").exists()
    assert int(latest_checkpoint(run / "checkpoints").name) == resumed_from
    resumed = run_cli("resume", str(run), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == str(run)
    ref, got = final_weights(uninterrupted), final_weights(run)
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.equal(ref[k], got[k]), k
    a = json.loads((uninterrupted / "results.json").read_text())["metrics"]
    b = json.loads((run / "results.json").read_text())["metrics"]
    assert a == b


def test_resume_errors(uninterrupted, tmp_path, cli):
    import shutil

    missing = cli("resume", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "not a run directory" in missing.stderr
    run = tmp_path / "copy"
    shutil.copytree(uninterrupted, run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["config"]["optim"]["lr"] = 0.5
    (run / "config.json").write_text(json.dumps(cfg))
    changed = cli("resume", str(run))
    assert changed.returncode == 1
    assert "configuration differs" in changed.stderr and "optim.lr" in changed.stderr
    assert len(changed.stderr.strip().splitlines()) == 1
    shutil.copy(uninterrupted / "config.json", run / "config.json")
    latest = latest_checkpoint(run / "checkpoints")
    (latest / "model.safetensors").write_bytes(b"garbage")
    corrupt = cli("resume", str(run))
    assert corrupt.returncode == 1 and "corrupt" in corrupt.stderr
