"""VAE: reparameterisation, sampling, interpolation, latent map, VAETask."""

import pytest
import torch

import an2dl
from an2dl.data import ArrayDataset, subset
from an2dl.engine import OptimizerSpec, Trainer
from an2dl.errors import ConfigError
from an2dl.losses.generative import elbo
from an2dl.models.generative.vae import VAE
from an2dl.tasks.generative import VAETask
from conftest import require_data


def _vae(latent=2):
    torch.manual_seed(0)
    return an2dl.get_model("dense_vae", input_shape=[1, 8, 8], hidden=[32], latent_dim=latent)


def test_reparameterisation_draws_from_the_posterior_and_passes_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 2 * torch.log(torch.tensor(0.5)).item()]], requires_grad=True)
    g = torch.Generator().manual_seed(0)
    z = VAE.reparameterize(mu.expand(50000, 2), logvar.expand(50000, 2), generator=g)
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.02)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 0.5]), atol=0.02)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None and torch.all(logvar.grad != 0)


def test_encode_decode_forward_modes():
    vae = _vae()
    x = torch.rand(4, 1, 8, 8)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (4, 2)
    assert vae.decode_logits(mu).shape == x.shape
    vae.eval()
    assert torch.equal(vae(x), vae.decode(mu))  # eval mode: the posterior mean
    vae.train()
    assert not torch.equal(vae(x), vae.decode(mu))  # training mode: a sampled code


def test_sample_interpolate_and_latent_grid():
    vae = _vae().eval()
    g = torch.Generator().manual_seed(1)
    s = vae.sample(5, generator=g)
    assert s.shape == (5, 1, 8, 8) and s.min() > 0 and s.max() < 1
    g = torch.Generator().manual_seed(1)
    assert torch.equal(s, vae.decode(torch.randn(5, 2, generator=g)))
    a, b = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    path = vae.interpolate(a, b, steps=6)
    assert path.shape == (3, 6, 1, 8, 8)
    assert torch.allclose(path[:, 0], vae.decode(vae.encode(a)[0]), atol=1e-6)
    assert torch.allclose(path[:, -1], vae.decode(vae.encode(b)[0]), atol=1e-6)
    grid = vae.latent_grid(5, low=0.1, high=0.9)
    assert grid.shape == (5, 5, 1, 8, 8)
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.1, 0.9, 5))
    # row 0 is the highest value of z1, column j the j-th value of z0
    assert torch.allclose(grid[0, 1], vae.decode(torch.tensor([[q[1], q[4]]]))[0], atol=1e-6)
    assert torch.allclose(grid[4, 2], vae.decode(torch.tensor([[q[2], q[0]]]))[0], atol=1e-6)


def test_vae_bad_arguments():
    vae = _vae()
    with pytest.raises(ValueError, match="steps must be >= 2"):
        vae.interpolate(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), steps=1)
    with pytest.raises(ValueError, match="same batch size"):
        vae.interpolate(torch.rand(1, 1, 8, 8), torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="two different indices"):
        vae.latent_grid(4, dims=(0, 0))
    with pytest.raises(ValueError, match="0 < low < high < 1"):
        vae.latent_grid(4, low=0.0)
    with pytest.raises(ValueError, match="sample n must be a positive integer"):
        vae.sample(0)
    with pytest.raises(ValueError, match=r"expects images of shape \[B, 1, 8, 8\]"):
        vae.encode(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"expects codes of shape \[B, 2\]"):
        vae.decode(torch.rand(2, 3))
    with pytest.raises(ConfigError, match="needs a VAE model"):
        VAETask(an2dl.get_model("dense_autoencoder"))
    with pytest.raises(ConfigError, match="likelihood must be"):
        VAETask(vae, likelihood="laplace")
    with pytest.raises(ConfigError, match="beta must be a number >= 0"):
        VAETask(vae, beta=-0.5)


def test_vae_task_loss_is_the_negative_elbo():
    vae = _vae()
    task = VAETask(vae)
    x = torch.rand(6, 1, 8, 8)

    class Ctx:
        training, split = True, "train"
        logged = {}

        def log(self, name, value, **kw):
            self.logged[name] = value

    ctx = Ctx()
    torch.manual_seed(5)
    loss = task.training_step(task.as_batch((x,)), ctx)
    torch.manual_seed(5)
    mu, logvar = vae.encode(x)
    z = vae.reparameterize(mu, logvar)
    ref = elbo(x, vae.decode_logits(z), mu, logvar)
    assert torch.allclose(loss, ref.loss)
    assert torch.allclose(ctx.logged["kl"], ref.kl) and torch.allclose(ctx.logged["reconstruction"], ref.reconstruction)


def test_vae_on_real_mnist():
    require_data("mnist")
    data = an2dl.get_dataset("mnist", limit_train=3000)
    torch.manual_seed(0)
    vae = an2dl.get_model("dense_vae", hidden=[256], latent_dim=8)
    task = VAETask(vae, optimizer=OptimizerSpec("adam", lr=2e-3))
    trainer = Trainer(max_epochs=3, batch_size=64, progress=False, val_every_n_epochs=None)
    trainer.fit(task, ArrayDataset(data.train.tensors[0]))
    m = trainer.evaluate(task, subset(data.test, torch.arange(1000)))
    # an untrained decoder costs ~544 nats per image (784·log 2); predicting the mean digit ~206
    assert m["test/loss"] < 175
    assert 3 < m["test/kl"] < 40
