"""The ``inverse_sqrt`` learning-rate schedule (Vaswani et al. 2017, §5.3; the Transformer of notes §4.4):
``lr · min(s / w, √(w / s))`` at optimiser step ``s`` counted from 1."""

from __future__ import annotations

import math

import pytest
import torch
from test_engine_trainer import blobs, mlp, params

from an2dl.engine import Checkpoint, OptimizerSpec, ScheduleSpec, Trainer
from an2dl.engine.callbacks.base import Callback
from an2dl.engine.optim import build_scheduler, inverse_sqrt_factor
from an2dl.errors import ConfigError
from an2dl.tasks import ClassificationTask

LR, W = 2e-3, 5


def paper_rate(s: int, w: int, lr: float = LR) -> float:
    """The paper's ``d^-0.5 · min(s^-0.5, s · w^-1.5)`` rescaled so that its peak ``d^-0.5 · w^-0.5`` is ``lr``."""
    d = 512
    return lr * d ** -0.5 * min(s ** -0.5, s * w ** -1.5) / (d ** -0.5 * w ** -0.5)


def test_inverse_sqrt_factor_is_the_papers_schedule():
    w = 4000
    for s in (1, 10, 3999, 4000, 4001, 10_000, 100_000):
        assert inverse_sqrt_factor(s, w) == pytest.approx(paper_rate(s, w, lr=1.0), rel=1e-12)
    assert inverse_sqrt_factor(w, w) == 1.0 and inverse_sqrt_factor(4 * w, w) == pytest.approx(0.5)
    assert math.isclose(inverse_sqrt_factor(1, 1), 1.0)


def test_the_scheduler_gives_each_optimiser_step_the_formulas_rate():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=LR)
    sched = build_scheduler(opt, ScheduleSpec("inverse_sqrt", interval="step", warmup_steps=W), total_steps=40,
                            steps_per_epoch=8)
    rates = []
    for _ in range(40):
        rates.append(opt.param_groups[0]["lr"])  # the rate optimiser step s = len(rates) uses
        opt.step()
        sched.step()
    # bit for bit the rate the recipes' former per-step callback set: lr · min(s / w, √(w / s))
    assert rates == [LR * min(s / W, math.sqrt(W / s)) for s in range(1, 41)]
    assert rates == pytest.approx([paper_rate(s, W) for s in range(1, 41)], rel=1e-12)
    assert rates[W - 1] == LR and rates[0] == LR / W and rates[4 * W - 1] == pytest.approx(LR / 2)


class _Rates(Callback):
    """The learning rate each optimiser step is taken with."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_before_optimizer_step(self, trainer, task, optimizer) -> None:
        self.rates.append(optimizer.param_groups[0]["lr"])


def _fit(run_dir, *, ckpt_path=None, seed=0):
    rates = _Rates()
    task = ClassificationTask(mlp(seed=seed), num_classes=3, optimizer=OptimizerSpec(
        "adam", lr=LR, schedule=ScheduleSpec("inverse_sqrt", interval="step", warmup_steps=W)))
    trainer = Trainer(max_epochs=3, batch_size=16, seed=0, run_dir=run_dir, progress=False,
                      callbacks=[rates, Checkpoint(every_n_steps=3, keep_last=100)])
    trainer.fit(task, blobs(n=64), ckpt_path=ckpt_path)
    return task, trainer, rates.rates


def test_a_run_follows_the_schedule_and_resumes_it_exactly(tmp_path):
    task, trainer, rates = _fit(tmp_path / "full")
    assert trainer.global_step == 12
    assert rates == [LR * inverse_sqrt_factor(s, W) for s in range(1, 13)]
    # from inside the warm-up (step 3 of w = 5), mid-epoch, with another initialisation: all from the checkpoint
    resumed, _, later = _fit(tmp_path / "resumed", ckpt_path=tmp_path / "full" / "checkpoints" / "000000003",
                             seed=123)
    assert later == rates[3:]
    assert all(torch.equal(v, params(task)[k]) for k, v in params(resumed).items())


def test_inverse_sqrt_bad_settings():
    for bad in (0, -3, None, True, 2.5):
        with pytest.raises(ConfigError, match=rf"inverse_sqrt schedule needs warmup_steps.*got {bad!r}"):
            ScheduleSpec("inverse_sqrt", interval="step", warmup_steps=bad)
    with pytest.raises(ConfigError, match="inverse_sqrt schedule needs warmup_steps.*got 0"):
        OptimizerSpec("adam", schedule={"name": "inverse_sqrt", "interval": "step"})  # w missing
    with pytest.raises(ConfigError, match="advances every optimiser step; set interval='step' .*'epoch'"):
        ScheduleSpec("inverse_sqrt", warmup_steps=10)
    with pytest.raises(ConfigError, match="warmup_steps must be a positive integer; got 0"):
        inverse_sqrt_factor(1, 0)
    with pytest.raises(ConfigError, match="step must be a positive integer .* got 0"):
        inverse_sqrt_factor(0, 10)
