"""The Trainer loop: learning, accumulation, stopping, callbacks, manual optimisation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from an2dl.data import ArrayDataset
from an2dl.engine import (
    Callback,
    EarlyStopping,
    GradientClipping,
    OptimizerSpec,
    ScheduleSpec,
    Task,
    Trainer,
)
from an2dl.errors import ConfigError, TrainingDiverged
from an2dl.tasks import ClassificationTask


def blobs(n=96, d=4, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 3
    y = torch.arange(n) % k
    x = centres[y] + torch.randn(n, d, generator=g)
    return ArrayDataset(x, y)


def mlp(d=4, k=3, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, k))


def params(task):
    return {k: v.detach().clone() for k, v in task.state_dict().items()}


def test_fit_learns_and_names_metrics_by_split():
    data = blobs()
    task = ClassificationTask(mlp(), num_classes=3, optimizer=OptimizerSpec("adam", lr=0.05))
    trainer = Trainer(max_epochs=15, batch_size=16, progress=False)
    metrics = trainer.fit(task, data, data)
    assert {"train/loss", "train/accuracy", "val/loss", "val/accuracy"} <= set(metrics)
    assert metrics["val/accuracy"] > 0.95
    assert len(trainer.history) == 15 and trainer.global_step == 15 * 6
    test = trainer.evaluate(task, data, split="test")
    assert set(test) == {"test/loss", "test/accuracy"}
    cm = trainer.eval_artifacts["test/confusion_matrix"]
    assert cm.shape == (3, 3) and int(cm.sum()) == len(data)
    # the logged loss is the sample-weighted mean of F.cross_entropy over the data
    x, y = data.tensors
    with torch.no_grad():
        assert test["test/loss"] == pytest.approx(float(F.cross_entropy(task.model.eval()(x), y)), rel=1e-5)
    probs = trainer.predict(task, data)
    assert probs.shape == (96, 3) and torch.allclose(probs.sum(1), torch.ones(96))


def test_gradient_accumulation_equals_the_large_batch():
    data = blobs(n=96)
    runs = []
    for batch, acc in ((32, 1), (16, 2), (8, 4)):
        task = ClassificationTask(mlp(), num_classes=3, optimizer=OptimizerSpec("sgd", lr=0.1, momentum=0.9))
        Trainer(max_epochs=3, batch_size=batch, accumulate_grad_batches=acc, shuffle=False, progress=False,
                val_every_n_epochs=None).fit(task, data)
        runs.append(params(task))
    for other in runs[1:]:
        for k in runs[0]:
            torch.testing.assert_close(other[k], runs[0][k], rtol=1e-5, atol=1e-6)


def test_max_steps_stops_mid_epoch_and_step_validation_is_recorded():
    data = blobs()
    task = ClassificationTask(mlp(), num_classes=3)
    trainer = Trainer(max_epochs=None, max_steps=10, batch_size=16, val_every_n_steps=4, progress=False)
    trainer.fit(task, data, data)
    assert trainer.global_step == 10 and trainer.epoch == 1 and trainer.batch_in_epoch == 4
    steps = [row["step"] for row in trainer.history]
    assert steps == [4, 6, 8]  # validations at steps 4 and 8, the end of epoch 1 at step 6


class ScriptedValidation(Task):
    """A task whose validation score follows a script, to drive early stopping exactly."""

    def __init__(self, scores):
        super().__init__(OptimizerSpec("sgd", lr=0.1))
        self.model = mlp()
        self.scores = scores

    def training_step(self, batch, ctx):
        x, y = batch.inputs, batch.targets
        loss = F.cross_entropy(self.model(x), y)
        ctx.log("loss", loss)
        return loss

    def validation_step(self, batch, ctx):
        ctx.log("score", self.scores[ctx.epoch])


class Snapshots(Callback):
    order = 50

    def on_fit_start(self, trainer, task):
        self.by_epoch = []

    def on_epoch_end(self, trainer, task, metrics):
        self.by_epoch.append(params(task))


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    scores = [3.0, 2.0, 1.0, 1.5, 1.2, 1.1, 0.5]
    snaps = Snapshots()
    es = EarlyStopping("val/score", patience=2, mode="min")
    trainer = Trainer(max_epochs=7, batch_size=32, progress=False, callbacks=[es, snaps])
    task = ScriptedValidation(scores)
    trainer.fit(task, blobs(), blobs(n=12))
    assert trainer.epoch == 5  # epochs 3 and 4 do not improve on epoch 2: stop after the second (Keras)
    assert es.best == 1.0 and es.stopped_epoch == 4
    assert "early stopping" in trainer.stop_reason
    final = params(task)
    for k in final:
        assert torch.equal(final[k], snaps.by_epoch[2][k])
    # min_delta: an improvement must exceed it
    es2 = EarlyStopping("val/score", patience=0, min_delta=1.5)
    t2 = Trainer(max_epochs=7, batch_size=32, progress=False, callbacks=[es2])
    t2.fit(ScriptedValidation(scores), blobs(), blobs(n=12))
    assert es2.best == 3.0 and t2.epoch == 2  # 3 -> 2 improves by only 1.0


def test_early_stopping_needs_the_monitored_metric():
    trainer = Trainer(max_epochs=2, batch_size=32, progress=False, callbacks=[EarlyStopping("val/nope")])
    with pytest.raises(ConfigError, match="val/nope"):
        trainer.fit(ScriptedValidation([1.0, 1.0]), blobs(), blobs(n=12))


class NaNAfter(Task):
    def __init__(self, bad_step):
        super().__init__(OptimizerSpec("sgd", lr=0.1))
        self.model = mlp()
        self.bad_step = bad_step

    def training_step(self, batch, ctx):
        loss = F.cross_entropy(self.model(batch.inputs), batch.targets)
        if ctx.global_step >= self.bad_step:
            loss = loss * float("nan")
        return loss


def test_terminate_on_nan_stops_before_the_weights_change(tmp_path):
    from an2dl.engine import Checkpoint, load_checkpoint

    task = NaNAfter(bad_step=8)
    trainer = Trainer(max_epochs=5, batch_size=16, progress=False, run_dir=tmp_path,
                      callbacks=[Checkpoint(every_n_steps=3, keep_last=5)])
    with pytest.raises(TrainingDiverged, match=r"the loss became nan at epoch 1, batch 2, step 8.*last good checkpoint"):
        trainer.fit(task, blobs())
    assert all(torch.isfinite(p).all() for p in task.parameters())
    ck = load_checkpoint(tmp_path)
    assert ck.state["step"] == 6


def test_gradient_clipping_by_norm_and_value():
    seen = {}

    class Probe(Callback):
        order = 10  # after clipping

        def on_before_optimizer_step(self, trainer, task, optimizer):
            grads = [p.grad for p in task.parameters() if p.grad is not None]
            seen["norm"] = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
            seen["max"] = max(float(g.abs().max()) for g in grads)

    clip = GradientClipping(max_norm=0.01)
    Trainer(max_steps=3, max_epochs=None, batch_size=16, progress=False, callbacks=[clip, Probe()]).fit(
        ClassificationTask(mlp(), num_classes=3), blobs())
    assert clip.last_norm > 0.01 and seen["norm"] == pytest.approx(0.01, rel=1e-4)
    Trainer(max_steps=3, max_epochs=None, batch_size=16, progress=False,
            callbacks=[GradientClipping(max_value=1e-3), Probe()]).fit(ClassificationTask(mlp(), num_classes=3), blobs())
    assert seen["max"] == pytest.approx(1e-3)  # float32 of 1e-3
    with pytest.raises(ConfigError, match="exactly one"):
        GradientClipping()


class OneDimGAN(Task):
    """A two-player game: G(z) = a·z + b tries to match N(3, 0.5²) against a logistic discriminator."""

    automatic_optimization = False

    def __init__(self):
        super().__init__([OptimizerSpec("adam", lr=0.05, betas=(0.5, 0.999), params="generator"),
                          OptimizerSpec("adam", lr=0.05, betas=(0.5, 0.999), params="discriminator")])
        self.generator = nn.Linear(1, 1)
        self.discriminator = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))

    def training_step(self, batch, ctx):
        real = batch.inputs
        opt_g, opt_d = ctx.optimizers
        z = torch.randn_like(real)
        fake = self.generator(z)
        # discriminator ascends log D(x) + log(1 - D(G(z)))
        d_real, d_fake = self.discriminator(real), self.discriminator(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        ctx.backward(loss_d)
        ctx.step(opt_d)
        # generator: non-saturating loss -log D(G(z))
        d_gen = self.discriminator(fake)
        loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        opt_g.zero_grad(set_to_none=True)
        ctx.backward(loss_g)
        ctx.step(opt_g)
        ctx.log("loss_d", loss_d)
        ctx.log("loss_g", loss_g)


def test_manual_optimisation_alternates_two_players():
    torch.manual_seed(0)
    real = ArrayDataset(3.0 + 0.5 * torch.randn(512, 1))
    task = OneDimGAN()
    trainer = Trainer(max_epochs=30, batch_size=64, progress=False, val_every_n_epochs=None)
    metrics = trainer.fit(task, real)
    assert trainer.global_step == 30 * 8 and len(trainer.optimizers) == 2
    assert {"train/loss_d", "train/loss_g"} <= set(metrics)
    # each optimiser owns exactly its player's parameters
    g_params = {id(p) for p in task.generator.parameters()}
    assert {id(p) for grp in trainer.optimizers[0].param_groups for p in grp["params"]} == g_params
    with torch.no_grad():
        samples = task.generator(torch.randn(4000, 1))
    assert abs(float(samples.mean()) - 3.0) < 0.25


def test_manual_optimisation_refuses_accumulation_and_automatic_needs_one_optimizer():
    with pytest.raises(ConfigError, match="accumulate_grad_batches applies to automatic"):
        Trainer(max_epochs=1, accumulate_grad_batches=2, progress=False).fit(OneDimGAN(), ArrayDataset(torch.randn(8, 1)))

    class TwoOpt(OneDimGAN):
        automatic_optimization = True

    with pytest.raises(ConfigError, match="exactly one optimizer"):
        Trainer(max_epochs=1, progress=False).fit(TwoOpt(), ArrayDataset(torch.randn(8, 1)))


def test_schedules_change_the_learning_rate():
    data = blobs(n=64)
    cos = OptimizerSpec("sgd", lr=0.1, schedule=ScheduleSpec("cosine", interval="step"))
    trainer = Trainer(max_epochs=2, batch_size=16, progress=False)
    trainer.fit(ClassificationTask(mlp(), num_classes=3, optimizer=cos), data, data)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert trainer.history[0]["lr"] == pytest.approx(0.1 * (1 + math.cos(math.pi * 4 / 8)) / 2)
    step = OptimizerSpec("sgd", lr=0.1, schedule=ScheduleSpec("step", step_size=1, gamma=0.5))
    trainer = Trainer(max_epochs=3, batch_size=16, progress=False)
    trainer.fit(ClassificationTask(mlp(), num_classes=3, optimizer=step), data, data)
    assert [row["lr"] for row in trainer.history] == pytest.approx([0.05, 0.025, 0.0125])
    warm = OptimizerSpec("sgd", lr=0.1, schedule=ScheduleSpec("constant", interval="step", warmup_steps=4, warmup_start_factor=0.25))
    trainer = Trainer(max_steps=2, max_epochs=None, batch_size=16, progress=False)
    trainer.fit(ClassificationTask(mlp(), num_classes=3, optimizer=warm), data)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * (0.25 + 0.75 * 2 / 4))


def test_plateau_schedule_reduces_on_a_stalled_metric():
    spec = OptimizerSpec("sgd", lr=0.1, schedule=ScheduleSpec("plateau", monitor="val/score", patience=0, factor=0.5))
    task = ScriptedValidation([1.0] * 4)
    task.optimizer_specs = [spec]
    trainer = Trainer(max_epochs=4, batch_size=32, progress=False)
    trainer.fit(task, blobs(), blobs(n=12))
    assert [row["lr"] for row in trainer.history] == pytest.approx([0.1, 0.05, 0.025, 0.0125])


def test_bad_trainer_arguments_and_data():
    for kw, msg in (
        ({"max_epochs": None}, "max_epochs or max_steps"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"accumulate_grad_batches": -1}, "accumulate_grad_batches"),
        ({"seed": -3}, "seed must be a non-negative integer"),
        ({"callbacks": [object()]}, "Callback instances"),
    ):
        with pytest.raises(ConfigError, match=msg):
            Trainer(**kw)
    trainer = Trainer(max_epochs=1, progress=False)
    task = ClassificationTask(mlp(), num_classes=3)
    with pytest.raises(ConfigError, match="not a DataLoader"):
        trainer.fit(task, torch.utils.data.DataLoader(blobs()))
    with pytest.raises(ConfigError, match="empty"):
        trainer.fit(task, ArrayDataset(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ConfigError, match="no batch"):
        Trainer(max_epochs=1, batch_size=64, drop_last=True, progress=False).fit(task, blobs(n=10))
    with pytest.raises(ConfigError, match="an2dl Task"):
        trainer.fit(mlp(), blobs())


def test_callback_state_is_reset_at_fit_start():
    es = EarlyStopping("val/score", patience=0)
    trainer = Trainer(max_epochs=3, batch_size=32, progress=False, callbacks=[es])
    trainer.fit(ScriptedValidation([1.0, 2.0, 3.0]), blobs(), blobs(n=12))
    assert trainer.epoch == 2
    trainer.fit(ScriptedValidation([5.0, 4.0, 3.0]), blobs(), blobs(n=12))
    assert trainer.epoch == 3 and es.best == 3.0


class PrecisionProbe(ClassificationTask):
    def training_step(self, batch, ctx):
        self.seen = (batch.inputs.dtype, torch.is_autocast_enabled("cpu"))
        return super().training_step(batch, ctx)


@pytest.mark.parametrize("precision, dtype, autocast", [("64-true", torch.float64, False), ("bf16-mixed", torch.bfloat16, True)])
def test_precision_applies_to_task_steps(precision, dtype, autocast):
    task = PrecisionProbe(mlp(), num_classes=3)
    Trainer(max_steps=1, max_epochs=None, batch_size=16, precision=precision, accelerator="cpu", progress=False).fit(task, blobs())
    assert task.seen == (dtype, autocast)


def test_auxiliary_classifier_losses_are_added_in_training():
    import an2dl
    from an2dl.models.vision.googlenet import auxiliary_loss

    torch.manual_seed(0)
    model = an2dl.get_model("googlenet", num_classes=4, aux_logits=True, small_input=True)
    task = ClassificationTask(model, num_classes=4)
    x, y = torch.rand(3, 3, 32, 32), torch.tensor([0, 1, 3])
    logged = {}

    class Ctx:
        training, split, batch_size = True, "train", 3

        def log(self, name, value, **kw):
            logged[name] = value

    model.train()
    torch.manual_seed(1)
    loss = task.training_step(task.as_batch((x, y)), Ctx())
    torch.manual_seed(1)
    assert torch.allclose(loss, auxiliary_loss(model(x), y, aux_weight=0.3))


@pytest.mark.parametrize("kind", ["array", "array-with-transform", "plain-dataset"])
def test_in_process_batches_equal_the_dataloader_batches(kind):
    from torch.utils.data import DataLoader, Dataset

    from an2dl.data import ArrayDataset
    from an2dl.data.core import collate
    from an2dl.engine.sampling import EpochBatchSampler
    from an2dl.engine.trainer import _in_process_batches

    x, y = torch.randn(50, 3), torch.arange(50)

    class Plain(Dataset):
        def __len__(self):
            return 50

        def __getitem__(self, i):
            return x[i] * 2, y[i]

    ds = {
        "array": ArrayDataset(x, y),
        "array-with-transform": ArrayDataset(x, y, transform=lambda a, b: (a + 1, b)),
        "plain-dataset": Plain(),
    }[kind]
    sampler = EpochBatchSampler(50, 16, shuffle=True, seed=3, epoch=2, start_batch=1)
    ours = list(_in_process_batches(ds, sampler, collate))
    ref = list(DataLoader(ds, batch_sampler=sampler, collate_fn=collate))
    assert len(ours) == len(ref) == 3
    for a, b in zip(ours, ref):
        assert all(torch.equal(u, v) for u, v in zip(a, b))
