"""Exact resume: a run restarted from ANY checkpoint ends with bit-identical parameters."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from an2dl.data import ArrayDataset
from an2dl.data.transforms import RandomAffine
from an2dl.engine import Checkpoint, EarlyStopping, OptimizerSpec, ScheduleSpec, Task, Trainer
from an2dl.engine.checkpoint import (
    join_tensors,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    split_tensors,
)
from an2dl.errors import CheckpointError


class NoisyTask(Task):
    """Dropout, random augmentation and random noise: every source of randomness a step can have."""

    def __init__(self, seed=0):
        super().__init__(OptimizerSpec("adam", lr=0.01, weight_decay=1e-4,
                                       schedule=ScheduleSpec("cosine", interval="step", warmup_steps=3)),
                         augment=RandomAffine(degrees=15, translate=0.1))  # applied by the Task base
        torch.manual_seed(seed)
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))

    def training_step(self, batch, ctx):
        x = batch.inputs + 0.01 * torch.randn_like(batch.inputs)
        loss = F.cross_entropy(self.model(x), batch.targets)
        ctx.log("loss", loss)
        return loss

    def validation_step(self, batch, ctx):
        ctx.log("loss", F.cross_entropy(self.model(batch.inputs), batch.targets))


def data(n=100):
    g = torch.Generator().manual_seed(1)
    return ArrayDataset(torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g))


def trainer(run_dir, **kw):
    return Trainer(
        max_epochs=3, batch_size=16, accumulate_grad_batches=2, val_every_n_steps=3, seed=7, run_dir=run_dir,
        progress=False,
        callbacks=[EarlyStopping("val/loss", patience=50), Checkpoint(every_n_steps=1, keep_last=1000)],
        **kw,
    )


def untimed(history):
    return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in history]


def final_params(task):
    return {k: v.detach().clone() for k, v in task.state_dict().items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("ref")
    task = NoisyTask()
    tr = trainer(run)
    tr.fit(task, data(), data(30))
    return run, final_params(task), untimed(tr.history)


def test_uninterrupted_runs_are_reproducible(reference, tmp_path):
    _, ref, history = reference
    task = NoisyTask()
    tr = trainer(tmp_path)
    tr.fit(task, data(), data(30))
    assert untimed(tr.history) == history
    for k, v in final_params(task).items():
        assert torch.equal(v, ref[k])


def test_resume_from_every_checkpoint_is_bit_identical(reference, tmp_path):
    run, ref, history = reference
    ckpts = list_checkpoints(run / "checkpoints")
    # 7 batches per epoch, accumulation 2 -> 4 optimiser steps per epoch; 3 epochs -> 12 steps
    assert [int(p.name) for p in ckpts] == list(range(1, 13))
    mid_epoch = [p for p in ckpts if json.loads((p / "state.json").read_text())["trainer"]["batch_in_epoch"] > 0]
    assert len(mid_epoch) == 9
    for ck in ckpts[:-1]:
        task = NoisyTask(seed=123)  # a different initialisation: everything must come from the checkpoint
        tr = trainer(tmp_path / ck.name)
        tr.fit(task, data(), data(30), ckpt_path=ck)
        assert untimed(tr.history) == history, f"history differs after resuming from step {ck.name}"
        got = final_params(task)
        for k in ref:
            assert torch.equal(got[k], ref[k]), f"{k} differs after resuming from step {ck.name}"


def test_resume_refuses_a_different_configuration(reference, tmp_path):
    run, _, _ = reference
    tr = Trainer(max_epochs=3, batch_size=8, accumulate_grad_batches=2, val_every_n_steps=3, seed=7,
                 run_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match=r"configuration differs.*batch_size: saved 16, now 8"):
        tr.fit(NoisyTask(), data(), data(30), ckpt_path=run / "checkpoints")


def test_corrupt_missing_and_absent_checkpoints(reference, tmp_path):
    run, _, _ = reference
    copy = tmp_path / "ck"
    shutil.copytree(run / "checkpoints" / "000000005", copy)
    blob = bytearray((copy / "model.safetensors").read_bytes())
    blob[-3] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(copy)
    shutil.copy(run / "checkpoints" / "000000005" / "model.safetensors", copy / "model.safetensors")
    load_checkpoint(copy)
    (copy / "optimizer.safetensors").unlink()
    with pytest.raises(CheckpointError, match="lacks optimizer.safetensors"):
        load_checkpoint(copy)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(empty)
    (empty / "LATEST").write_text("000000042\n")
    with pytest.raises(CheckpointError, match="missing or incomplete"):
        load_checkpoint(empty)


def test_an_interrupted_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    from an2dl.engine import checkpoint as ck

    tensors = {"w": torch.arange(4.0)}
    save_checkpoint(tmp_path, 1, model=tensors, optimizer={}, tensors={}, state={"note": "first"})

    def crash(point):
        if point == "checkpoint-write:before-rename":
            raise KeyboardInterrupt

    monkeypatch.setattr(ck, "_fault", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 2, model={"w": torch.ones(4)}, optimizer={}, tensors={}, state={"note": "second"})
    loaded = load_checkpoint(tmp_path)
    assert loaded.state["step"] == 1 and torch.equal(loaded.model["w"], tensors["w"])
    monkeypatch.undo()
    save_checkpoint(tmp_path, 2, model={"w": torch.ones(4)}, optimizer={}, tensors={}, state={})
    assert not list(tmp_path.glob(".tmp-*")) and load_checkpoint(tmp_path).state["step"] == 2


def test_state_trees_round_trip_without_pickle():
    tree = {"a": [1, 2.5, None, True, "x"], "t": torch.randn(3, 2), 4: {"u": torch.tensor(7)}, "nested": [{"v": torch.zeros(1)}]}
    doc, tensors = split_tensors(tree)
    json.dumps(doc)
    back = join_tensors(json.loads(json.dumps(doc)), tensors)
    assert back["a"] == tree["a"] and torch.equal(back["t"], tree["t"])
    assert torch.equal(back[4]["u"], tree[4]["u"]) and torch.equal(back["nested"][0]["v"], tree["nested"][0]["v"])
    with pytest.raises(TypeError, match="cannot store object"):
        split_tensors({"bad": object()})


def test_a_setting_newer_than_the_checkpoint_does_not_block_resume():
    from an2dl.engine.trainer_state import check_config

    saved = {"trainer": {"max_epochs": 2, "devices": 1}, "seed": 0}
    check_config(saved, {"trainer": {"max_epochs": 2, "devices": 1, "num_nodes": 1}, "seed": 0})  # added since
    with pytest.raises(CheckpointError, match=r"trainer\.max_epochs: saved 2, now 3"):
        check_config(saved, {"trainer": {"max_epochs": 3, "devices": 1, "num_nodes": 1}, "seed": 0})
    with pytest.raises(CheckpointError, match=r"trainer\.devices: saved 1, now None"):
        check_config(saved, {"trainer": {"max_epochs": 2}, "seed": 0})  # a setting the checkpoint used is gone
