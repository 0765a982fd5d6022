"""GANs (§3.7.1): generators and discriminators, GANTask's alternating manual optimisation, WGAN(-GP)."""

import pytest
import torch
from torch import nn

import an2dl
from _generative_support import small_judge, use_session_cache
from an2dl.data import ArrayDataset
from an2dl.engine import Callback, OptimizerSpec, Trainer
from an2dl.errors import ConfigError
from an2dl.evaluation.generative import FrechetMonitor
from an2dl.tasks.generative import GANTask
from conftest import require_data


@pytest.fixture
def judge_cache(tmp_path_factory, monkeypatch):
    return use_session_cache(tmp_path_factory, monkeypatch)


def _players(latent=4):
    torch.manual_seed(0)
    g = an2dl.get_model("mlp_generator", latent_dim=latent, hidden=[16], output_shape=[1, 4, 4])
    d = an2dl.get_model("mlp_discriminator", input_shape=[1, 4, 4], hidden=[16], dropout=0.2)
    return g, d


def _data(n=64):
    return ArrayDataset(torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(0)))


def test_dcgan_layouts():
    g = an2dl.get_model("dcgan_generator", latent_dim=10)
    x = g(torch.randn(3, 10))
    assert x.shape == (3, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    assert isinstance(g.net[0], nn.Linear) and g.net[0].out_features == 64 * 7 * 7  # project and reshape to 7x7
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g.net) == 2
    g32 = an2dl.get_model("dcgan_generator", image_size=32, channels=[64, 32, 16], out_channels=3)
    assert g32(torch.randn(2, 64)).shape == (2, 3, 32, 32)
    d = an2dl.get_model("dcgan_discriminator")
    assert d(x).shape == (3,)
    assert not isinstance(d.net[1], nn.BatchNorm2d)  # no batch norm on the input layer (Radford et al.)
    assert any(isinstance(m, nn.BatchNorm2d) for m in d.net)
    critic = an2dl.get_model("wgan_critic")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in critic.modules())
    w = torch.cat([m.weight.detach().flatten() for m in d.modules() if isinstance(m, nn.Conv2d)])
    assert abs(float(w.std()) - 0.02) < 0.002  # N(0, 0.02²) initialisation


def test_model_input_errors():
    g = an2dl.get_model("dcgan_generator")
    with pytest.raises(ValueError, match=r"expects noise of shape \[B, 64\]; got \[2, 8\]"):
        g(torch.randn(2, 8))
    with pytest.raises(ValueError, match=r"expects images of shape \[B, 1, 28, 28\]"):
        an2dl.get_model("dcgan_discriminator")(torch.rand(2, 1, 32, 32))
    with pytest.raises(ConfigError, match="norm must be one of"):
        an2dl.get_model("dcgan_discriminator", norm="instance")
    with pytest.raises(ConfigError, match=r"dropout must be in \[0, 1\)"):
        an2dl.get_model("mlp_discriminator", dropout=1.0)
    with pytest.raises(ConfigError, match="at least 8x8"):
        an2dl.get_model("dcgan_discriminator", image_size=4, channels=[4, 4, 4])
    with pytest.raises(ValueError, match="sample n must be a positive integer"):
        g.sample(0)


@pytest.mark.parametrize("steps", [0, -2, 1.5, True])
def test_critic_steps_must_be_a_positive_integer(steps):
    g, d = _players()
    with pytest.raises(ConfigError, match=r"critic_steps must be an integer >= 1; got"):
        GANTask(g, d, critic_steps=steps)


def test_gan_task_bad_arguments():
    g, d = _players()
    with pytest.raises(ConfigError, match="loss must be one of"):
        GANTask(g, d, loss="hinge")
    with pytest.raises(ConfigError, match="clip_value is the weight clipping of loss='wgan'"):
        GANTask(g, d, clip_value=0.01)
    with pytest.raises(ConfigError, match="clip_value must be a number > 0"):
        GANTask(g, d, loss="wgan", clip_value=0)
    with pytest.raises(ConfigError, match="gp_weight must be a number > 0"):
        GANTask(g, d, loss="wgan-gp", gp_weight=0)
    with pytest.raises(ConfigError, match="generator with a positive integer latent_dim"):
        GANTask(nn.Linear(4, 16), d)
    with pytest.raises(ConfigError, match="g_optimizer must be an OptimizerSpec"):
        GANTask(g, d, g_optimizer="adam")


class _Recorder(Callback):
    """Which optimiser steps, and which player holds gradients at that moment."""

    def __init__(self):
        self.events = []

    def on_before_optimizer_step(self, trainer, task, optimizer):
        who = "g" if optimizer is trainer.optimizers[0] else "d"
        g_grads = any(p.grad is not None for p in task.generator.parameters())
        d_grads = any(p.grad is not None for p in task.discriminator.parameters())
        self.events.append((who, g_grads, d_grads))


def test_alternating_updates_through_manual_optimisation():
    g, d = _players()
    task = GANTask(g, d, critic_steps=2)
    assert task.automatic_optimization is False
    assert [s.params for s in task.configure_optimizers()] == ["generator", "discriminator"]
    rec = _Recorder()
    trainer = Trainer(max_steps=4, max_epochs=None, batch_size=16, progress=False, callbacks=[rec])
    trainer.fit(task, _data())
    opt_g, opt_d = trainer.optimizers
    assert {id(p) for grp in opt_g.param_groups for p in grp["params"]} == {id(p) for p in g.parameters()}
    assert {id(p) for grp in opt_d.param_groups for p in grp["params"]} == {id(p) for p in d.parameters()}
    # D on every batch, G after every second one; each step sees gradients of its own player only
    assert rec.events == [("d", False, True), ("d", False, True), ("g", True, False)] * 2
    assert all(p.requires_grad for p in d.parameters())  # D is unfrozen again after the G step
    assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"} <= set(trainer.metrics)


def test_both_players_change_and_losses_are_the_notes():
    g, d = _players()
    g0 = [p.detach().clone() for p in g.parameters()]
    d0 = [p.detach().clone() for p in d.parameters()]
    task = GANTask(g, d, loss="minimax")
    Trainer(max_steps=3, max_epochs=None, batch_size=16, progress=False).fit(task, _data())
    assert all(not torch.equal(a, b) for a, b in zip(g0, g.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d0, d.parameters()))


def test_wgan_weight_clipping_and_gradient_penalty():
    g, d = _players()
    task = GANTask(g, d, loss="wgan", critic_steps=5)
    assert task.clip_value == 0.01
    trainer = Trainer(max_epochs=2, batch_size=16, progress=False)  # 8 batches: G steps after the 5th
    trainer.fit(task, _data())
    assert max(float(p.detach().abs().max()) for p in d.parameters()) <= 0.01
    assert "train/wasserstein" in trainer.metrics and "train/g_loss" in trainer.metrics
    g, d = _players()
    task = GANTask(g, d, loss="wgan-gp", critic_steps=1, d_optimizer=OptimizerSpec("adam", lr=1e-2))
    trainer = Trainer(max_steps=4, max_epochs=None, batch_size=16, progress=False)
    trainer.fit(task, _data())
    assert trainer.metrics["train/gp"] >= 0
    assert max(float(p.detach().abs().max()) for p in d.parameters()) > 0.01  # no clipping without loss="wgan"


class _StopAfterFirstEpoch(Callback):
    def on_epoch_end(self, trainer, task, metrics):
        if trainer.epoch == 0:
            trainer.should_stop = True


class _CountBatches(Callback):
    def __init__(self):
        self.n = 0

    def on_batch_start(self, trainer, task, batch, batch_idx):
        self.n += 1


def test_exact_resume_of_the_adversarial_game(tmp_path):
    def run(run_dir, interrupt):
        g, d = _players()
        task = GANTask(g, d, critic_steps=3)
        cbs = [_StopAfterFirstEpoch()] if interrupt else []
        Trainer(max_epochs=2, batch_size=16, progress=False, run_dir=run_dir, callbacks=cbs, seed=3).fit(task, _data())
        if not interrupt:
            return task.state_dict(), None
        first = {k: v.clone() for k, v in task.state_dict().items()}
        g, d = _players()
        task = GANTask(g, d, critic_steps=3)
        count = _CountBatches()
        trainer = Trainer(max_epochs=2, batch_size=16, progress=False, run_dir=run_dir, seed=3, callbacks=[count])
        trainer.fit(task, _data(), ckpt_path="last")
        assert count.n == 4 and trainer.global_step == 8  # only the second epoch ran
        return task.state_dict(), first

    straight, _ = run(tmp_path / "a", False)
    resumed, after_one_epoch = run(tmp_path / "b", True)
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert not all(torch.equal(straight[k], after_one_epoch[k]) for k in straight)


def test_dcgan_frechet_distance_falls_on_real_mnist(judge_cache):
    require_data("mnist")
    judge = small_judge()
    data = an2dl.get_dataset("mnist", limit_train=3000)
    torch.manual_seed(0)
    g = an2dl.get_model("dcgan_generator", channels=[32, 16])
    d = an2dl.get_model("dcgan_discriminator", channels=[16, 32])
    monitor = FrechetMonitor(judge, data.val.tensors[0][:500], n_samples=500)
    Trainer(max_epochs=3, batch_size=32, progress=False, callbacks=[monitor], val_every_n_epochs=None).fit(
        GANTask(g, d), data.train
    )
    curve = [v for _, _, v in monitor.curve]
    assert len(curve) == 4
    # measured: 905 -> 783 -> 586 -> 494 (seed 0) and 905 -> 660 -> 515 -> 391 (seed 1)
    assert curve[-1] < 0.75 * curve[0]
