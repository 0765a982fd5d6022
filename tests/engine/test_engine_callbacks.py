"""Callbacks and optimiser specs: checkpoints kept, logs written, progress, timer, per-layer rates."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from rich.console import Console
from test_engine_trainer import ScriptedValidation, blobs, mlp
from torch import nn

from an2dl.data import ArrayDataset
from an2dl.engine import Checkpoint, MetricsLogger, OptimizerSpec, ProgressBar, ScheduleSpec, Timer, Trainer
from an2dl.engine.checkpoint import list_checkpoints
from an2dl.engine.optim import build_optimizer, param_groups
from an2dl.errors import ConfigError
from an2dl.tasks import ClassificationTask


def test_checkpoint_keeps_the_last_and_the_best(tmp_path):
    scores = [5.0, 1.0, 4.0, 3.0, 2.0, 6.0]
    ck = Checkpoint(every_n_epochs=1, keep_last=2, keep_best=1, monitor="val/score", mode="min")
    trainer = Trainer(max_epochs=6, batch_size=32, run_dir=tmp_path, progress=False, callbacks=[ck])
    trainer.fit(ScriptedValidation(scores), blobs(), blobs(n=12))
    kept = [int(p.name) for p in list_checkpoints(tmp_path / "checkpoints")]
    assert kept == [6, 15, 18]  # best (epoch 2, step 6) + the last two
    assert (tmp_path / "checkpoints" / "BEST").read_text().strip() == "000000006"
    assert (tmp_path / "checkpoints" / "LATEST").read_text().strip() == "000000018"
    with pytest.raises(ConfigError, match="keep_last must be an integer >= 1"):
        Checkpoint(keep_last=0)


def test_metrics_logger_writes_csv_jsonl_and_tensorboard(tmp_path):
    trainer = Trainer(max_epochs=3, batch_size=16, run_dir=tmp_path, progress=False,
                      callbacks=[MetricsLogger(tensorboard=True)])
    trainer.fit(ClassificationTask(mlp(), num_classes=3), blobs(), blobs())
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and [r["step"] for r in rows] == [6, 12, 18]
    table = list(csv.DictReader(io.StringIO((tmp_path / "metrics.csv").read_text())))
    assert float(table[2]["val/accuracy"]) == pytest.approx(rows[2]["val/accuracy"])
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["trainer"]["batch_size"] == 16


def test_progress_bar_draws_on_request_and_prints_lines_otherwise(capsys):
    bar = ProgressBar(enable=True)
    Trainer(max_epochs=2, batch_size=16, callbacks=[bar]).fit(ClassificationTask(mlp(), num_classes=3), blobs(), blobs())
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "val/accuracy=" in err
    Trainer(max_epochs=2, batch_size=16, progress=None).fit(ClassificationTask(mlp(), num_classes=3), blobs(), blobs())
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2  step 12") and "train/loss=" in lines[1]
    Trainer(max_epochs=1, batch_size=16, progress=False).fit(ClassificationTask(mlp(), num_classes=3), blobs())
    assert capsys.readouterr().err == ""
    assert isinstance(Console(stderr=True), Console)


def test_timer_records_and_enforces_a_budget():
    timer = Timer(max_seconds=1e-9)
    trainer = Trainer(max_epochs=5, batch_size=16, progress=False, callbacks=[timer])
    trainer.fit(ClassificationTask(mlp(), num_classes=3), blobs())
    assert trainer.global_step == 1 and "time budget" in trainer.stop_reason
    trainer = Trainer(max_epochs=2, batch_size=16, progress=False)
    trainer.fit(ClassificationTask(mlp(), num_classes=3), blobs())
    assert trainer.history[1]["time/total_s"] >= trainer.history[1]["time/epoch_s"] > 0
    with pytest.raises(ConfigError, match="max_seconds must be > 0"):
        Timer(max_seconds=0)


def test_per_layer_learning_rates_and_parameter_selection():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    spec = OptimizerSpec("sgd", lr=0.1, layer_lr={"0": 0.01, "0.bias": 0.0})
    groups = {g["name"]: g for g in param_groups(model, spec)}
    assert groups["0.bias"]["params"] == [model[0].bias] and groups["0.bias"]["lr"] == 0.0
    assert groups["0"]["params"] == [model[0].weight] and groups["0"]["lr"] == 0.01
    assert groups["default"]["params"] == [model[2].weight, model[2].bias]
    before = [p.detach().clone() for p in model.parameters()]
    opt = build_optimizer(model, spec)
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    after = list(model.parameters())
    assert torch.equal(after[1], before[1])  # lr 0 for the first bias
    assert torch.allclose(after[0], before[0] - 0.01 * after[0].grad)
    assert torch.allclose(after[2], before[2] - 0.1 * after[2].grad)
    only = param_groups(model, OptimizerSpec(params="2"))
    assert only[0]["params"] == [model[2].weight, model[2].bias]
    with pytest.raises(ConfigError, match="matches no trainable parameter"):
        param_groups(model, OptimizerSpec(layer_lr={"head": 0.1}))


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"name": "lbfgs"}, "optimizer name must be one of"),
        ({"lr": 0}, "lr must be a positive number"),
        ({"nesterov": True}, "nesterov=True needs name='sgd' and momentum > 0"),
        ({"weight_decay": -1}, "weight_decay must be >= 0"),
        ({"schedule": {"name": "triangle"}}, "schedule name must be one of"),
    ],
)
def test_optimizer_spec_validation(kw, message):
    with pytest.raises(ConfigError, match=message):
        OptimizerSpec(**kw)


def test_optimizers_match_torch_defaults():
    model = nn.Linear(3, 2)
    opt = build_optimizer(model, OptimizerSpec("sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3))
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["nesterov"] and opt.defaults["weight_decay"] == 1e-3
    assert isinstance(build_optimizer(model, OptimizerSpec("adamw", weight_decay=0.01)), torch.optim.AdamW)
    assert isinstance(build_optimizer(model, OptimizerSpec("rmsprop")), torch.optim.RMSprop)
    with pytest.raises(ConfigError, match="interval='step'"):
        Trainer(max_epochs=1, batch_size=16, progress=False).fit(
            ClassificationTask(mlp(), num_classes=3, optimizer=OptimizerSpec(schedule=ScheduleSpec("onecycle"))), blobs())


def test_top_k_accuracy_is_reported():
    data = blobs()
    task = ClassificationTask(mlp(), num_classes=3, top_k=(2,))
    trainer = Trainer(max_epochs=1, batch_size=16, progress=False)
    trainer.fit(task, data)
    out = trainer.evaluate(task, data)
    x, y = data.tensors
    with torch.no_grad():
        top2 = task.model(x).topk(2, dim=1).indices
    assert out["test/top2_accuracy"] == pytest.approx(float((top2 == y[:, None]).any(1).float().mean()))
    with pytest.raises(ConfigError, match="top_k values"):
        ClassificationTask(mlp(), num_classes=3, top_k=(5,))


def test_weighted_sampling_balances_classes():
    y = torch.tensor([0] * 90 + [1] * 10)
    ds = ArrayDataset(torch.randn(100, 4), y)
    ds.sample_weights = 1.0 / torch.bincount(y)[y].double()
    seen = []

    class Record(ClassificationTask):
        def training_step(self, batch, ctx):
            seen.append(batch.targets)
            return super().training_step(batch, ctx)

    Trainer(max_epochs=20, batch_size=50, progress=False).fit(Record(mlp(), num_classes=3), ds)
    labels = torch.cat(seen)
    assert abs(float(labels.float().mean()) - 0.5) < 0.05
