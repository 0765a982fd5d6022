"""The §3.6–§3.7 recipes end to end, at toy sizes (the full figures come from running the recipes)."""

import json

import pytest

import an2dl
from _generative_support import JUDGE, use_session_cache
from an2dl.errors import ConfigError
from conftest import require_data

TINY = [
    "data.limit_train=1200",
    "data.limit_eval=300",
    f"judge.limit_train={JUDGE['limit_train']}",
    f"judge.epochs={JUDGE['epochs']}",
    "judge.n_samples=300",
]

@pytest.fixture
def judge_cache(tmp_path_factory, monkeypatch):
    return use_session_cache(tmp_path_factory, monkeypatch)


def _run(name, tmp_path, *extra, judge=True):
    settings = TINY if judge else [s for s in TINY if not s.startswith("judge.")]
    result = an2dl.run(name, [*settings, *extra], runs_root=tmp_path, progress=False)
    doc = json.loads((result.run_dir / "results.json").read_text())
    plots = {e["file"] for e in json.loads((result.run_dir / "plots" / "index.json").read_text())}
    assert (result.run_dir / "report.html").is_file()
    assert doc["metrics"]["wall_seconds"] > 0 and "wall_seconds" not in doc  # each value once
    return result, doc, plots


@pytest.fixture
def mnist(judge_cache):
    require_data("mnist")


def test_ae_mnist_from_the_command_line(mnist, cli, tmp_path):
    proc = cli("run", "ae-mnist", *[a for s in TINY for a in ("--set", s)], "--set", "trainer.max_epochs=1",
               "--set", "model.hidden=[64]", "--quiet", "--runs-root", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / proc.stdout.strip().splitlines()[-1]
    doc = json.loads((run_dir / "results.json").read_text())
    for key in ("test/l2", "test/mse", "test/recon_l2", "test/judge_accuracy", "test/judge_accuracy_original", "wall_seconds"):
        assert key in doc["metrics"]
    assert doc["metrics"]["test/recon_l2"] == pytest.approx(doc["metrics"]["test/l2"], rel=1e-4)
    assert (run_dir / "model" / "model.json").is_file() and (run_dir / "plots" / "reconstructions.png").is_file()


def test_conv_ae_with_a_regulariser(mnist, tmp_path):
    _, doc, plots = _run("conv-ae-mnist", tmp_path, "trainer.max_epochs=1", "model.channels=[8,16]",
                         "ae.regularizer=kl", "ae.reg_weight=0.1", "model.code_activation=sigmoid")
    assert "test/reg" in doc["metrics"] and "test/code_mean_activation" in doc["metrics"]
    assert {"reconstructions.png", "curve_reg.png"} <= plots


def test_vae_mnist(mnist, tmp_path):
    result, doc, plots = _run("vae-mnist", tmp_path, "trainer.max_epochs=1", "model.hidden=[64]",
                              "figures.map_size=5", "figures.interpolations=2")
    for key in ("test/loss", "test/kl", "samples/frechet", "samples/confidence", "test/judge_accuracy"):
        assert key in doc["metrics"]
    assert {"samples.png", "interpolation.png", "latent_map.png", "latent_scatter.png"} <= plots


@pytest.mark.parametrize(
    "name,extra",
    [
        ("gan-mnist", ["models.g_hidden=[32]", "models.d_hidden=[32]"]),
        ("dcgan-mnist", ["models.g_channels=[16,8]", "models.d_channels=[8,16]"]),
        ("wgan-gp-mnist", ["models.g_channels=[16,8]", "models.d_channels=[8,16]", "gan.critic_steps=2"]),
    ],
)
def test_gan_recipes(mnist, tmp_path, name, extra):
    result, doc, plots = _run(name, tmp_path, "trainer.max_epochs=2", "monitor.frechet_samples=100", "monitor.grid=16",
                              *extra)
    assert [row["epoch"] for row in doc["frechet_curve"]] == [0, 1, 2]
    assert {"samples_epoch_001.png", "samples_epoch_002.png", "frechet_curve.png", "final_samples.png"} <= plots
    for key in ("samples/frechet", "samples/confidence", "samples/classifier_score", "val/frechet", "test/d_loss"):
        assert key in doc["metrics"]
    assert (result.run_dir / "model" / "model.json").is_file()
    assert an2dl.load(result.run_dir).latent_dim == 64


def test_ae_pretrain_compares_with_random_init(mnist, tmp_path):
    _, doc, plots = _run("ae-pretrain-mnist", tmp_path, "trainer.max_epochs=1", "model.hidden=[64]",
                         "finetune.labels_per_class=[5]", "finetune.repeats=2", "finetune.epochs=3", judge=False)
    for v in ("random", "pretrained-frozen", "pretrained-finetuned"):
        assert 0 < doc["metrics"][f"test/accuracy_{v}_5"] <= 1
    assert len(doc["runs"]) == 2 * 3
    assert "pretrain_vs_random.png" in plots


def test_latent_sweep_and_generative_autoencoder(mnist, tmp_path):
    _, doc, plots = _run("ae-latent-sweep-mnist", tmp_path, "trainer.max_epochs=1", "model.hidden=[64]",
                         "latent_dims=[2,16]")
    assert doc["latent_dims"] == [2, 16] and len(doc["curves"]["l2"]) == 2
    assert {"recon_vs_latent.png", "reconstructions_by_latent.png"} <= plots
    _, doc, plots = _run("ae-generative-mnist", tmp_path, "trainer.max_epochs=1", "model.hidden=[64]",
                         "latent_dims=[2,8]", "fit_images=500", "vae=true")
    for key in ("samples/frechet_full_d8", "samples/frechet_diagonal_d2", "samples/frechet_vae_d8", "test/frechet_recon_d2"):
        assert key in doc["metrics"]
    assert {"frechet_vs_latent.png", "samples_full.png", "samples_diagonal.png"} <= plots


def test_recipe_settings_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="latent_dims must be a non-empty list of positive integers"):
        an2dl.run("ae-latent-sweep-mnist", ["latent_dims=[0]"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="finetune.variants must be drawn from"):
        an2dl.run("ae-pretrain-mnist", ["finetune.variants=[\"scratch\"]"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="covariances must be drawn from"):
        an2dl.run("ae-generative-mnist", ["covariances=[\"spherical\"]"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="critic_steps must be an integer >= 1"):
        an2dl.run("wgan-gp-mnist", ["gan.critic_steps=0", "data.limit_train=100"], runs_root=tmp_path)
