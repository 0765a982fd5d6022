"""Every command on a run of every recipe, and one settings vocabulary (``trainer.*``) for all of them.

One cheap run per registered recipe (its ``smoke_settings``, with
``trainer.max_epochs=1``) ends with results, a report and its models; the
setting must be accepted (``--show-config``) and honoured (no training of
the run goes past one epoch); then ``eval`` and ``export`` work on the run
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
from _generative_support import JUDGE, use_session_cache
from an2dl.cli.main import main as cli_main
from an2dl.engine.trainer import Trainer
from an2dl.errors import ConfigError
from an2dl.evaluation.generative import digit_judge
from an2dl.recipes.base import get_recipe, load_run_config
from an2dl.recipes.config import TrainerConfig, resolve
from an2dl.recipes.run_commands import export_run
from conftest import require_data

NAMES = an2dl.list_recipes()

#: recipes whose run needs a real dataset of $AN2DL_DATA_DIR (the others make or embed their data)
REAL_DATA: dict[str, str] = {
    **{name: "mnist" for name in (
        "ae-generative-mnist", "ae-latent-sweep-mnist", "ae-mnist", "ae-pretrain-mnist", "cnn-mnist", "conv-ae-mnist",
        "dcgan-mnist", "gan-mnist", "inpaint-mnist", "kmeans-digits", "lenet5-mnist", "mlp-mnist", "superres-mnist",
        "transfer-mnist", "vae-mnist", "wgan-gp-mnist")},
    **{name: "mnist" for name in ("identify-unseen-digits", "siamese-mnist", "triplet-mnist")},
    "char-lstm-shakespeare": "tinyshakespeare",
    "gpt-shakespeare": "tinyshakespeare",
    "unet-membrane": "membrane",
    "localize-raccoon": "raccoon",
    "faster-rcnn-raccoon": "raccoon",
    "ngram-gutenberg": "gutenberg",
    "nnlm-wikitext2": "wikitext-2",
    "seq2seq-eng-fra": "eng-fra",
    "text-classify": "gutenberg",
    "seq2seq-multi30k": "multi30k",
    "transformer-eng-fra": "eng-fra",
    "transformer-multi30k": "multi30k",
    "word2vec-skipgram": "wikitext-2",
    "word2vec-cbow": "wikitext-2",
}
#: recipes that train nothing, so no Trainer is fitted
TRAINS_NOTHING = {"knn-digits", "filters-demo", "conv-vs-dense", "ngram-gutenberg", "word2vec-skipgram",
                  "word2vec-cbow"}

def smoke_run_settings(name: str) -> list[str]:
    """The recipe's ``smoke_settings`` stopped after one epoch; fails in CI (skips locally) without its real data."""
    if name in REAL_DATA:
        require_data(REAL_DATA[name])  # found by the recipes in $AN2DL_DATA_DIR
    return [*get_recipe(name).smoke_settings, "trainer.max_epochs=1"]


def prepare_judge(settings: list[str], tmp_path_factory, monkeypatch) -> bool:
    """Train (or load from the session cache) the digit judge that ``judge.*`` settings ask for; whether any did."""
    judge = {k[len("judge."):]: v for k, _, v in (s.partition("=") for s in settings) if k.startswith("judge.")}
    if not judge:
        return False
    use_session_cache(tmp_path_factory, monkeypatch)
    digit_judge(limit_train=int(judge.get("limit_train", JUDGE["limit_train"])),
                epochs=int(judge.get("epochs", JUDGE["epochs"])))
    return True


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


def test_every_registered_recipe_has_smoke_settings_and_a_trainer_group():
    assert set(REAL_DATA) <= set(NAMES) and TRAINS_NOTHING <= set(NAMES)
    for name in NAMES:
        recipe = get_recipe(name)
        assert recipe.smoke_settings, f"{name} declares no smoke_settings"
        cfg = resolve(recipe.Config, overrides=recipe.smoke_settings)  # every smoke setting is one of the recipe
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
@pytest.mark.parametrize("name", NAMES)
def test_every_command_on_a_one_epoch_run(name, tmp_path, tmp_path_factory, monkeypatch, capsys, fitted):
    """The recipe's smallest run (its ``smoke_settings``), stopped after one epoch, end to end."""
    settings = smoke_run_settings(name)
    # accepted, and reflected in the resolved settings
    code, out, err = _cli(capsys, "run", name, *[a for s in settings for a in ("--set", s)], "--show-config")
    assert code == 0, err
    assert json.loads(out)["trainer"]["max_epochs"] == 1
    if prepare_judge(settings, tmp_path_factory, monkeypatch):
        fitted.clear()  # the judge is trained (or loaded) before the epochs of the run's own trainings are counted
    result = an2dl.run(name, settings, runs_root=tmp_path, progress=False)
    run_dir = result.run_dir
    assert json.loads((run_dir / "results.json").read_text())["metrics"], f"{name} wrote no metrics"
    assert (run_dir / "report.html").is_file()

    # honoured: no training of the run went past one epoch
    recipe, cfg = load_run_config(run_dir)
    assert cfg.trainer.max_epochs == 1
    if name in TRAINS_NOTHING:
        assert fitted == []  # nothing is trained
    elif name == "perceptron-logic":
        assert fitted == [] and {result.metrics[f"{fn}/epochs"] for fn in cfg.functions} == {1.0}
    else:
        # none ran past one epoch (a smoke run may stop earlier, at its trainer.max_steps)
        assert fitted and all(limit == 1 and epochs <= 1 for limit, epochs in fitted), fitted

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
