"""Every command on a run of every recipe, and one settings vocabulary (``trainer.*``) for all of them.

One cheap run per registered recipe, with ``trainer.max_epochs=1``: the
setting must be accepted (``--show-config``) and honoured (every training of
the run stops after one epoch); then ``eval`` and ``export`` work on the run
(with ``--model NAME`` for a run that trained several models) or refuse in
one line with exit code 2, saying what the run holds, and ``report`` rewrites
the report.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

import an2dl
from _generative_support import JUDGE, small_judge, use_session_cache
from an2dl.cli.main import main as cli_main
from an2dl.engine.trainer import Trainer
from an2dl.errors import ConfigError
from an2dl.recipes.base import get_recipe, load_run_config
from an2dl.recipes.config import TrainerConfig
from an2dl.recipes.run_commands import export_run
from conftest import require_data

_MNIST = ["data.limit_train=600", "data.limit_eval=200"]
_JUDGE = [f"judge.limit_train={JUDGE['limit_train']}", f"judge.epochs={JUDGE['epochs']}", "judge.n_samples=200"]
_GAN = ["monitor.frechet_samples=100", "monitor.grid=16"]
_SMALL_CNN = ["model.channels=[8,16]", "model.hidden=[32]"]

#: the cheapest settings of every registered recipe (besides trainer.max_epochs=1), and the real data it needs
CASES: dict[str, tuple[list[str], str | None]] = {
    "encoder-decoder-vs-unet": (["data.name=shapes", "data.n_train=8", "data.n_val=2", "data.n_test=2", "data.size=32",
                                 "model.base_channels=4", "model.depth=2", "augment.crop=0", "overlays=1"], None),
    "fcn-shapes": (["data.n_train=8", "data.n_val=2", "data.n_test=2", "data.size=32", "model.base_channels=2",
                    "overlays=1"], None),
    "patch-vs-full": (["data.name=shapes", "data.n_train=2", "data.n_val=2", "data.n_test=2", "data.size=32",
                       "model.channels=[4]", "model.hidden=8", "patch_batch=64", "full_crop=0", "overlays=1"], None),
    "shift-and-stitch-demo": (["scene.rows=1", "scene.cols=2"], None),
    "unet-membrane": (["data.limit=1", "model.base_channels=4", "model.depth=2", "augment.crop=64",
                       "trainer.batch_size=1", "overlays=1"], "membrane"),
    "adding-problem": (["data.length=12", "data.n_train=256", "data.n_val=64", "data.n_test=64", "trainer.max_steps=20",
                        "trainer.val_every_n_steps=10", "probe_batch=8", "model.hidden_size=8"], None),
    "ae-generative-mnist": (_MNIST + _JUDGE + ["model.hidden=[32]", "latent_dims=[2]", "fit_images=200", "vae=true"],
                            "mnist"),
    "ae-latent-sweep-mnist": (_MNIST + _JUDGE + ["model.hidden=[32]", "latent_dims=[2,4]"], "mnist"),
    "ae-mnist": (_MNIST + _JUDGE + ["model.hidden=[32]"], "mnist"),
    "ae-pretrain-mnist": (_MNIST + ["model.hidden=[32]", "finetune.labels_per_class=[5]", "finetune.repeats=1",
                                    "finetune.epochs=1"], "mnist"),
    "augmentation-comparison": (["data.name=digits", "data.size=16", "data.val_fraction=0.1", "data.train_fraction=0.5",
                                 'variants=["none","mixup"]', *_SMALL_CNN], None),
    "char-lstm-shakespeare": (["data.seq_len=32", "data.train_stride=4096", "model.hidden_size=16",
                               "model.embedding_dim=8", "trainer.time_budget_s=null", "sample.length=10",
                               "stream_eval=false"], "tinyshakespeare"),
    "cnn-digits": (_SMALL_CNN, None),
    "cnn-mnist": (["data.train_fraction=0.01", *_SMALL_CNN], "mnist"),
    "conv-ae-mnist": (_MNIST + _JUDGE + ["model.channels=[4,8]"], "mnist"),
    "colorize-shapes": (["data.n_train=64", "data.n_val=16", "data.n_test=16", "model.width=4", "figure_images=2"], None),
    "inpaint-mnist": (_MNIST + ["model.width=4", "figure_images=2"], "mnist"),
    "superres-mnist": (_MNIST + ["model.width=4", "figure_images=2"], "mnist"),
    "dcgan-mnist": (_MNIST + _JUDGE + _GAN + ["models.g_channels=[16,8]", "models.d_channels=[8,16]"], "mnist"),
    "digits-kfold": (["folds=2", "model.hidden=[16]"], None),
    "filters-demo": (["max_side=32"], None),
    "conv-vs-dense": ([], None),
    "kmeans-digits": (["data.limit_train=600", "data.limit_test=200", "cluster.n_init=2", "model.hidden=[32]"],
                      "mnist"),
    "forecast-sine": (["data.length=400", "model.hidden_size=8", "model.mlp_hidden=[8]"], None),
    "gan-mnist": (_MNIST + _JUDGE + _GAN + ["models.g_hidden=[32]", "models.d_hidden=[32]"], "mnist"),
    "init-comparison": (['schemes=["zero","xavier"]', "hidden=[16,16]"], None),
    "knn-digits": (["ks=[1,3]"], None),
    "learned-initial-state": (["seeds=[0]", "trainer.max_steps=10", "data.n_train=64", "data.n_test=32"], None),
    "lenet5-digits": ([], None),
    "lenet5-mnist": (["data.limit_train=1000"], "mnist"),
    "linear-digits": ([], None),
    "mlp-digits": (["model.hidden=[32]"], None),
    "mlp-mnist": (["data.limit_train=1000", "model.hidden=[32]"], "mnist"),
    "mlp-sine": ([], None),
    "mlp-xor": ([], None),
    "optimizer-comparison": (['methods=["gd","adam"]', "train_limit=256"], None),
    "overfitting-digits": (['variants=["plain","early_stopping"]', "hidden=[32]", "train_size=100"], None),
    "perceptron-logic": ([], None),
    "restarts-demo": (["restarts=2"], None),
    "seq-classify": (["data.n_train=256", "data.n_val=64", "data.n_test=64", "model.hidden_size=8"], None),
    "transfer-mnist": (["data.pretrain_limit=300", "data.test_limit=200", "data.shots=5", 'model.kwargs={"width": 4}'],
                       "mnist"),
    "tta-comparison": ([*_SMALL_CNN, "views.angles=[-8]", "views.scales=[]"], None),
    "vae-mnist": (_MNIST + _JUDGE + ["model.hidden=[32]", "figures.map_size=3", "figures.interpolations=1"], "mnist"),
    "vanishing-gradients": (["depth=3", "width=16", 'activations=["sigmoid","relu"]', "batch=128"], None),
    "wgan-gp-mnist": (_MNIST + _JUDGE + _GAN + ["models.g_channels=[16,8]", "models.d_channels=[8,16]",
                                                "gan.critic_steps=2"], "mnist"),
}

#: a model of the run, a metric the run reported for it, the split and metric `an2dl eval` must give the same
SAME_METRIC = {
    "adding-problem": ("gru", "test/mse_gru", "test", "test/mse"),
    "ae-pretrain-mnist": ("random-n5-r0", "test/accuracy_random_5", "test", "test/accuracy"),
    "augmentation-comparison": ("none", "test/accuracy_none", "test", "test/accuracy"),
    "digits-kfold": (None, "test/accuracy", "test", "test/accuracy"),
    "forecast-sine": ("lstm", "test/rmse_lstm", "test", "test/rmse"),
    "init-comparison": ("xavier", "test/accuracy_xavier", "test", "test/accuracy"),
    "learned-initial-state": ("learnable-seed0", "test/mse_learnable_mean", "test", "test/mse"),
    "optimizer-comparison": ("adam", "train/loss_adam", "train", "train/loss"),
    "overfitting-digits": ("early_stopping", "val/loss_early_stopping", "val", "val/loss"),
    "perceptron-logic": ("and", "and/accuracy", "test", "test/accuracy"),
    "restarts-demo": (None, "selected/train_accuracy", "train", "train/accuracy"),
    "superres-mnist": ("unet", "test/mse_unet", "test", "test/mse"),
    "transfer-mnist": (None, "transfer/test_accuracy", "test", "test/accuracy"),
    "tta-comparison": (None, "test/accuracy", "test", "test/accuracy"),
    "vanishing-gradients": ("relu", "test/accuracy_relu", "test", "test/accuracy"),
}


def test_every_registered_recipe_has_a_case_and_a_trainer_group():
    assert set(CASES) == set(an2dl.list_recipes())
    for name in CASES:
        cfg = get_recipe(name).Config()
        assert isinstance(cfg.trainer, TrainerConfig), name
        # the settings of the group are not repeated at the top level
        assert not {f.name for f in dataclasses.fields(cfg)} & {f.name for f in dataclasses.fields(TrainerConfig)}, name


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli_main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _metrics(stdout: str) -> dict[str, float]:
    return {k: float(v) for k, v in (line.split(" = ") for line in stdout.strip().splitlines())}


@pytest.fixture
def fitted(monkeypatch):
    """``(max_epochs, epochs run)`` of every Trainer fitted while the fixture is active."""
    seen: list[tuple[int | None, int]] = []
    fit = Trainer.fit

    def spy(self, *args, **kwargs):
        out = fit(self, *args, **kwargs)
        seen.append((self.max_epochs, self.epoch))
        return out

    monkeypatch.setattr(Trainer, "fit", spy)
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_command_on_a_one_epoch_run(name, tmp_path, tmp_path_factory, monkeypatch, capsys, fitted):
    overrides, data = CASES[name]
    if data is not None:
        require_data(data)  # found by the recipes in $AN2DL_DATA_DIR
    settings = [*overrides, "trainer.max_epochs=1"]
    args = [a for s in settings for a in ("--set", s)]
    # accepted, and reflected in the resolved settings
    code, out, err = _cli(capsys, "run", name, *args, "--show-config")
    assert code == 0, err
    assert json.loads(out)["trainer"]["max_epochs"] == 1
    if any(s.startswith("judge.") for s in settings):
        use_session_cache(tmp_path_factory, monkeypatch)
        small_judge()  # trained (or loaded) before the epochs of the run's own trainings are counted
        fitted.clear()
    result = an2dl.run(name, settings, runs_root=tmp_path, progress=False)
    run_dir = result.run_dir

    # honoured: every training of the run stopped after one epoch
    recipe, cfg = load_run_config(run_dir)
    assert cfg.trainer.max_epochs == 1
    if name in ("knn-digits", "filters-demo", "conv-vs-dense"):
        assert fitted == []  # nothing is trained
    elif name == "perceptron-logic":
        assert fitted == [] and {result.metrics[f"{fn}/epochs"] for fn in cfg.functions} == {1.0}
    else:
        assert fitted and {epochs for _, epochs in fitted} == {1}, fitted

    reason, names = recipe.no_model(cfg), recipe.models(cfg)
    if reason is not None:
        for command in (["eval"], ["export"], ["predict", "x.npy"]):
            code, _, err = _cli(capsys, command[0], str(run_dir), *command[1:])
            assert code == 2 and err.strip() == f"an2dl: error: {reason}", err
            assert len(err.strip().splitlines()) == 1 and name in err
        assert not (run_dir / "model").exists() and not (run_dir / "variants").exists()
    else:
        model = None if names is None else names[0]
        select = [] if model is None else ["--model", model]
        if names is None:
            code, _, err = _cli(capsys, "eval", str(run_dir), "--model", "other")
            assert code == 2 and "trained one model" in err and len(err.strip().splitlines()) == 1
        else:
            assert sorted(p.name for p in (run_dir / "variants").iterdir() if (p / "model" / "model.json").is_file()) \
                == sorted(names)
            if len(names) > 1:
                for command in ("eval", "export", "predict"):
                    code, _, err = _cli(capsys, command, str(run_dir))
                    assert code == 2, err
                    assert err.strip() == f"an2dl: error: {name} trained {len(names)} models: {', '.join(names)}; " \
                                          "use --model NAME"
            code, _, err = _cli(capsys, "eval", str(run_dir), "--model", "no-such-model")
            assert code == 2 and f"--model must name one of the {len(names)} models" in err and names[0] in err
        code, out, err = _cli(capsys, "eval", str(run_dir), *select)
        assert code == 0, err
        metrics = _metrics(out)
        assert metrics and all(k.split("/")[0] in ("train", "val", "test") for k in metrics)
        if name in SAME_METRIC:
            model_name, run_key, split, key = SAME_METRIC[name]
            assert model_name == model or model_name in names
            pick = [] if model_name is None else ["--model", model_name]
            code, out, err = _cli(capsys, "eval", str(run_dir), "--split", split, *pick)
            assert code == 0, err
            assert _metrics(out)[key] == pytest.approx(float(result.metrics[run_key]), rel=1e-4, abs=1e-6)
        code, out, err = _cli(capsys, "export", str(run_dir), *select, "--out", str(tmp_path / "exported"))
        assert code == 0, err
        exported = an2dl.load(tmp_path / "exported")
        home = run_dir if model is None else run_dir / "variants" / model
        assert exported.an2dl_meta == an2dl.load(home).an2dl_meta
    (run_dir / "report.html").unlink()
    code, _, err = _cli(capsys, "report", str(run_dir))
    assert code == 0 and (run_dir / "report.html").is_file(), err


def test_settings_of_a_group_are_named_with_it(capsys):
    code, _, err = _cli(capsys, "run", "perceptron-logic", "--set", "max_epochs=3", "--show-config")
    assert code == 2 and "unknown setting 'max_epochs'; did you mean trainer.max_epochs?" in err
    code, _, err = _cli(capsys, "run", "lenet5-digits", "--set", "lr=0.1", "--show-config")
    assert code == 2 and "unknown setting 'lr'; did you mean optim.lr?" in err


def test_runs_of_older_versions_are_read_in_todays_layout(tmp_path):
    doc = {"config": {"recipe": "optimizer-comparison", "max_epochs": 3, "minibatch": 16, "seed": 2,
                      "methods": ["adam"]}}
    (tmp_path / "config.json").write_text(json.dumps(doc))
    _, cfg = load_run_config(tmp_path)
    assert (cfg.trainer.max_epochs, cfg.trainer.batch_size, cfg.trainer.seed, cfg.methods) == (3, 16, 2, ["adam"])
    doc = {"config": {"recipe": "overfitting-digits", "max_epochs": 5, "trainer": {"max_epochs": 7}}}
    (tmp_path / "config.json").write_text(json.dumps(doc))
    assert load_run_config(tmp_path)[1].trainer.max_epochs == 7  # the new name wins


def test_trainer_settings_a_recipe_cannot_use_are_reported(tmp_path, capsys):
    result = an2dl.run("filters-demo", ["max_side=32", "trainer.max_epochs=3", "trainer.seed=4"], runs_root=tmp_path)
    err = capsys.readouterr().err
    assert "an2dl: note: filters-demo does not use trainer.max_epochs=3: it trains nothing" in err
    assert "trainer.seed" not in err  # the seed of the noise
    assert result.config.trainer.seed == 4


def test_a_run_without_variants_refuses_a_model_name_and_a_missing_export_is_reported(tmp_path, capsys):
    result = an2dl.run("forecast-sine", ["data.length=600", "model.hidden_size=4", 'model.names=["rnn"]',
                                         "trainer.max_epochs=1"], runs_root=tmp_path, progress=False)
    # one model of a multi-model recipe: --model may be left out
    code, out, err = _cli(capsys, "eval", str(result.run_dir))
    assert code == 0 and "test/rmse = " in out, err
    shutil.rmtree(result.run_dir / "variants" / "rnn" / "model")
    code, _, err = _cli(capsys, "export", str(result.run_dir), "--model", "rnn")
    assert code == 1 and "has no exported model" in err and len(err.strip().splitlines()) == 1
    # eval falls back to the variant's checkpoint
    code, out, err = _cli(capsys, "eval", str(result.run_dir), "--model", "rnn")
    assert code == 0 and "test/rmse = " in out, err
    with pytest.raises(ConfigError, match="--model selects a model of a run directory"):
        export_run(tmp_path, model="rnn")
