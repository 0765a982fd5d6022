"""The §3.6–§3.7 MNIST recipes end to end at toy sizes, each asserting the statement of the notes it shows.

Every recipe runs once (a module-scoped fixture) and its test asserts the
claim with a margin; the margins were chosen from the values of seeds 0, 1
and 2 at these settings, listed next to each assertion (the test runs seed 0).
"""

import json

import pytest

import an2dl
from _generative_support import JUDGE, use_session_cache
from an2dl.errors import ConfigError
from an2dl.recipes import get_recipe
from conftest import require_data

TINY = [
    "data.limit_train=1200",
    "data.limit_eval=300",
    f"judge.limit_train={JUDGE['limit_train']}",
    f"judge.epochs={JUDGE['epochs']}",
    "judge.n_samples=300",
]
NO_JUDGE = [s for s in TINY if not s.startswith("judge.")]
#: about 350 optimiser steps: a small autoencoder needs a few hundred to leave the mean image behind
AE_TRAINING = ("trainer.max_epochs=10", "trainer.batch_size=32", "optim.lr=3e-3")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs a recipe once per module: ``runs(name, *settings)`` -> ``(result, results.json, plot files)``."""
    require_data("mnist")
    mp = pytest.MonkeyPatch()
    use_session_cache(tmp_path_factory, mp)
    root = tmp_path_factory.mktemp("generative-runs")
    done: dict[tuple[str, ...], tuple] = {}

    def run(name, *settings):
        key = (name, *settings)
        if key not in done:
            result = an2dl.run(name, list(settings), runs_root=root, progress=False)
            doc = json.loads((result.run_dir / "results.json").read_text())
            plots = {e["file"] for e in json.loads((result.run_dir / "plots" / "index.json").read_text())}
            assert (result.run_dir / "report.html").is_file()
            done[key] = (result, doc, plots)
        return done[key]

    yield run
    mp.undo()


# ---------------------------------------------------------------------------------------------- §3.6
AE = (*TINY, *AE_TRAINING, "model.hidden=[64]")
CONV_AE = (*TINY, *AE_TRAINING, "model.channels=[8,16]", "ae.regularizer=kl", "ae.reg_weight=0.1",
           "model.code_activation=sigmoid")


def test_ae_mnist_reconstructs_far_better_than_the_mean_image(runs):
    """§3.6: the autoencoder learns D(E(s)) ≈ s through a 32-number code.

    Seeds 0/1/2: test L2 per image / the mean image's: 0.669, 0.681, 0.669; judge accuracy on the
    reconstructions / on the originals: 0.859, 0.877, 0.866.
    """
    result, doc, plots = runs("ae-mnist", *AE)
    m = doc["metrics"]
    assert m["test/recon_l2"] == pytest.approx(m["test/l2"], rel=1e-4)
    assert m["test/l2"] < 0.75 * m["reference/l2_mean_image"]
    assert m["test/judge_accuracy"] > 0.8 * m["test/judge_accuracy_original"]
    assert m["wall_seconds"] > 0 and "wall_seconds" not in doc  # each value once
    assert (result.run_dir / "model" / "model.json").is_file() and "reconstructions.png" in plots


def test_conv_ae_with_a_sparsity_regulariser_keeps_its_code_sparse_and_still_reconstructs(runs):
    """§3.6: λ·R enforces a property of the code (here the KL sparsity of a sigmoid code towards ρ = 0.05).

    Seeds 0/1/2: mean code activation 0.168, 0.135, 0.163 (the same network without R: 1.00, saturated);
    L2 / the mean image's: 0.712, 0.775, 0.707.
    """
    _, doc, plots = runs("conv-ae-mnist", *CONV_AE)
    m = doc["metrics"]
    assert m["test/code_mean_activation"] < 0.25
    assert m["test/l2"] < 0.85 * m["reference/l2_mean_image"]
    assert "test/reg" in m and {"reconstructions.png", "curve_reg.png"} <= plots


def test_latent_sweep_reconstruction_improves_with_the_latent_size(runs):
    """§3.6: "the quality of the reconstruction improves as the latent space dimension increases".

    Seeds 0/1/2: L2 at d=16 / at d=2: 0.749, 0.789, 0.781; judge accuracy on the reconstructions at d=2:
    0.467, 0.410, 0.500, at d=16: 0.730, 0.743, 0.753.
    """
    _, doc, plots = runs("ae-latent-sweep-mnist", *TINY, *AE_TRAINING, "model.hidden=[64]", "latent_dims=[2,16]")
    m = doc["metrics"]
    assert m["test/l2_d16"] < 0.85 * m["test/l2_d2"]
    assert m["test/judge_accuracy_d16"] > m["test/judge_accuracy_d2"] + 0.1
    assert doc["compared"] == ["d2", "d16"]
    assert {"recon_vs_latent.png", "reconstructions_by_latent.png"} <= plots


def test_generative_autoencoder_samples_fall_behind_as_the_latent_size_grows(runs):
    """§3.6.2: decoding codes sampled from a Gaussian fitted to the training codes works in a small latent space
    and falls behind the decoder's own reconstructions in a large one ("the likelihood of sampling from
    under-populated regions rises").

    Fréchet distance (judge features) of the samples minus that of the reconstructions, seeds 0/1/2:
    diagonal Gaussian d=2: -49, -36, -55, d=32: +101, +106, +95; full covariance d=2: -50, -42, -55,
    d=32: +4, +13, +9.  Samples / reconstructions (diagonal): d=2: 0.80, 0.87, 0.79; d=32: 3.09, 3.29, 2.99.
    """
    _, doc, plots = runs("ae-generative-mnist", *TINY, *AE_TRAINING, "model.hidden=[64]", "latent_dims=[2,32]",
                         "fit_images=1000")
    m = doc["metrics"]
    assert m["samples/frechet_gap_diagonal_d32"] > m["samples/frechet_gap_diagonal_d2"] + 100
    assert m["samples/frechet_gap_full_d32"] > m["samples/frechet_gap_full_d2"] + 25
    assert m["samples/frechet_diagonal_d2"] < 1.2 * m["test/frechet_recon_d2"]
    assert m["samples/frechet_diagonal_d32"] > 2 * m["test/frechet_recon_d32"]
    assert {"frechet_vs_latent.png", "samples_full.png", "samples_diagonal.png"} <= plots
    assert doc["compared"] == ["ae-d2", "ae-d32"]


# -------------------------------------------------------------------------------------------- §3.6.1
@pytest.mark.slow
def test_ae_pretraining_beats_random_initialisation_with_few_labels(runs):
    """§3.6.1: with few labels and many unlabelled images, the classifier initialised with the autoencoder's
    encoder and fine-tuned beats the same network from random initialisation (mean over the labelled subsets).

    The effect needs an encoder worth keeping: the recipe's default autoencoder (512-256-64) trained for
    about 860 steps on 9,000 unlabelled digits; a one-epoch or one-hidden-layer autoencoder shows none.
    Mean test accuracy over 3 subsets of 5 labels per class, seeds 0/1/2: random 0.647, 0.633, 0.662;
    pre-trained and fine-tuned 0.683, 0.681, 0.698 (+0.037, +0.048, +0.036); frozen 0.659, 0.688, 0.696.
    """
    _, doc, plots = runs("ae-pretrain-mnist", *NO_JUDGE, "data.limit_train=10000", "trainer.max_epochs=6",
                         "trainer.batch_size=64", "finetune.labels_per_class=[5]", "finetune.repeats=3",
                         "finetune.checkpoint_every_n_epochs=100")
    m = doc["metrics"]
    assert m["test/accuracy_pretrained-finetuned_5"] > m["test/accuracy_random_5"] + 0.015
    assert len(doc["runs"]) == 3 * 3 and "pretrain_vs_random.png" in plots


def test_ae_pretrain_resumes_with_the_finished_models(tmp_path):
    """A resumed run continues every model from its checkpoint: the finished ones only re-evaluate."""
    require_data("mnist")
    name = "ae-pretrain-mnist"
    first = an2dl.run(name, list(get_recipe(name).smoke_settings), runs_root=tmp_path, progress=False)
    again = an2dl.resume(first.run_dir, progress=False)
    assert again.run_dir == first.run_dir
    assert [r["test_accuracy"] for r in again.extra["runs"]] == [r["test_accuracy"] for r in first.extra["runs"]]
    steps = [json.loads(line)["step"] for line in
             (first.run_dir / "variants" / "autoencoder" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # the autoencoder did not train again


# -------------------------------------------------------------------------------------------- §3.6.2
def test_vae_prior_samples_are_digits(runs):
    """§3.6.2: the VAE's latent space follows the prior, so decoding z ~ N(0, I) generates digits.

    Seeds 0/1/2: Fréchet distance of the prior samples / of the untrained network's: 0.266, 0.304, 0.265.
    """
    _, doc, plots = runs("vae-mnist", *TINY, *AE_TRAINING, "model.hidden=[64]", "figures.map_size=5",
                         "figures.interpolations=2")
    m = doc["metrics"]
    assert m["samples/frechet"] < m["reference/frechet_untrained"] / 2.5
    assert {"samples.png", "interpolation.png", "latent_map.png", "latent_scatter.png"} <= plots


# ---------------------------------------------------------------------------------------------- §3.7.1
GANS = {
    "gan-mnist": ("models.g_hidden=[64]", "models.d_hidden=[64]"),
    "dcgan-mnist": ("models.g_channels=[16,8]", "models.d_channels=[8,16]"),
    "wgan-gp-mnist": ("models.g_channels=[16,8]", "models.d_channels=[8,16]", "gan.critic_steps=2"),
}


#: about 140 generator steps at a learning rate of 1e-3 (the recipes' 2e-4 needs several times more)
GAN_TRAINING = ("trainer.max_epochs=4", "trainer.batch_size=32", "g_optim.lr=1e-3", "d_optim.lr=1e-3",
                "monitor.every_n_epochs=4", "monitor.frechet_samples=300", "monitor.grid=16")


@pytest.mark.parametrize("name", list(GANS))
def test_gan_training_brings_the_samples_towards_the_digits(runs, name):
    """§3.7.1: the generator learns, through the discriminator alone, to map noise to digits: the Fréchet
    distance of its samples to the real validation digits falls from the untrained generator (epoch 0) to the
    last epoch.

    Fréchet distance (judge features; validation vs test digits: 22.5) at epoch 0 / at epoch 4, seeds 0/1/2:
    gan-mnist 1.83, 2.07, 2.05; dcgan-mnist 2.38, 1.74, 1.53; wgan-gp-mnist 2.14, 1.96, 2.01.  Epoch 0 / the
    final samples' distance to the test digits: gan-mnist 1.89, 2.22, 2.20; dcgan-mnist 2.90, 1.98, 1.79;
    wgan-gp-mnist 2.33, 2.16, 2.27.
    """
    result, doc, plots = runs(name, *TINY, *GAN_TRAINING, *GANS[name])
    curve = [row["frechet"] for row in doc["frechet_curve"]]
    assert [row["epoch"] for row in doc["frechet_curve"]] == [0, 4]
    assert curve[-1] < curve[0] / 1.4
    assert doc["metrics"]["samples/frechet"] < curve[0] / 1.5  # the final score, on the test digits
    assert {"samples_epoch_004.png", "frechet_curve.png", "final_samples.png"} <= plots
    assert an2dl.load(result.run_dir).latent_dim == 64


def test_recipe_settings_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="latent_dims must be a non-empty list of positive integers"):
        an2dl.run("ae-latent-sweep-mnist", ["latent_dims=[0]"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="finetune.variants must be drawn from"):
        an2dl.run("ae-pretrain-mnist", ["finetune.variants=[\"scratch\"]"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="finetune.repeats must be an integer >= 1"):
        an2dl.run("ae-pretrain-mnist", ["finetune.repeats=0"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="covariances must be drawn from"):
        an2dl.run("ae-generative-mnist", ["covariances=[\"spherical\"]"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="critic_steps must be an integer >= 1"):
        an2dl.run("wgan-gp-mnist", ["gan.critic_steps=0", "data.limit_train=100"], runs_root=tmp_path)
