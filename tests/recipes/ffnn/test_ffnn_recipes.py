"""Chapter 1–2 recipes end to end with reduced settings; the full figures come from the recipes' defaults."""

import json

import pytest

import an2dl
from an2dl.cli.main import main as cli_main
from an2dl.errors import ConfigError
from conftest import require_data


def _run(name, tmp_path, *overrides):
    result = an2dl.run(name, list(overrides), runs_root=tmp_path, progress=False)
    assert (result.run_dir / "report.html").is_file()
    saved = json.loads((result.run_dir / "results.json").read_text())["metrics"]
    assert saved.keys() == result.metrics.keys()
    return result


def _plots(result):
    return {p.name for p in (result.run_dir / "plots").glob("*.png")}


def test_perceptron_logic(tmp_path):
    r = _run("perceptron-logic", tmp_path)
    m = r.metrics
    for gate in ("and", "or", "nand"):
        assert m[f"{gate}/accuracy"] == 1.0 and m[f"{gate}/converged"] == 1.0
    assert m["xor/converged"] == 0.0 and m["xor/best_accuracy"] < 1.0
    assert {"perceptron_boundaries.png", "perceptron_mistakes.png"} <= _plots(r)


def test_mlp_xor(tmp_path):
    r = _run("mlp-xor", tmp_path, "trainer.max_epochs=100")
    assert r.metrics["test/accuracy"] == 1.0
    assert "xor_decision_surface.png" in _plots(r)
    model = an2dl.load(r.run_dir)  # exported and rebuilt without pickle
    assert model(r.data.test.tensors[0]).shape == (4, 1)


def test_universal_approximation_of_sin():
    """Theorem 2.2.1: one hidden layer of 8 sigmoids fits sin on [-π, π] to a test MSE below 1e-3.

    The recipe's model, data and optimiser, trained without a run directory
    (800 one-step epochs of batch gradient descent).
    """
    from an2dl._utils.rng import seed_everything
    from an2dl.engine import Trainer
    from an2dl.recipes.base import get_recipe
    from an2dl.recipes.config import resolve

    recipe = get_recipe("mlp-sine")
    cfg = resolve(recipe.Config, overrides=["model.hidden=8"])
    seed_everything(0)
    task, data = recipe.build(cfg)
    assert task.model.hidden == (8,) and task.model.activation == "sigmoid"
    tr = Trainer(max_epochs=800, batch_size=len(data.train), progress=False, checkpoint=False, val_every_n_epochs=None)
    tr.fit(task, data.train)
    assert tr.evaluate(task, data.test)["test/mse"] < 1e-3


def test_mlp_sine_recipe_report(tmp_path):
    r = _run("mlp-sine", tmp_path, "trainer.max_epochs=60", "trainer.val_every_n_epochs=30")
    assert r.metrics["test/mse"] < 0.5  # sixty steps: far from the fit, but learning
    assert "sine_fit.png" in _plots(r)


def test_mlp_digits_reduced(tmp_path):
    r = _run("mlp-digits", tmp_path, "trainer.max_epochs=12", "checkpoint.every_n_epochs=null")
    assert r.metrics["test/accuracy"] > 0.93


def test_mlp_mnist_reduced(tmp_path):
    root = require_data("mnist")
    r = _run("mlp-mnist", tmp_path, f"data.root={root}", "data.limit_train=10000", "model.hidden=[256]",
             "model.dropout=0", "optim.lr=0.003", "trainer.max_epochs=3", "checkpoint.every_n_epochs=null")
    assert r.metrics["test/accuracy"] > 0.92


def test_digits_kfold_prints_folds_and_mean_std(tmp_path, capsys):
    code = cli_main(["run", "digits-kfold", "--runs-root", str(tmp_path), "--quiet", "--set", "folds=3",
                     "--set", "trainer.max_epochs=4", "--set", "model.hidden=[32]"])
    out = capsys.readouterr().out
    assert code == 0
    for i in range(3):
        assert f"fold_{i}/val_accuracy = " in out
    line = next(x for x in out.splitlines() if x.startswith("3-fold cross-validation"))
    assert "val/accuracy = " in line and " ± " in line and "over 3 folds" in line
    mean = float(line.split("= ")[1].split(" ±")[0])
    assert mean > 0.85
    assert "test accuracy of the model refitted on all folds" in out


def test_init_comparison(tmp_path):
    r = _run("init-comparison", tmp_path, "schemes=[\"zero\", \"small\", \"xavier\"]", "hidden=[32, 32, 32]",
             "trainer.max_epochs=3")
    m = r.metrics
    assert m["zero/distinct_units"] == 1.0 and m["xavier/distinct_units"] == 32.0
    assert m["small/activation_std_last_layer"] < 1e-3 < m["xavier/activation_std_last_layer"]
    assert m["xavier/test_accuracy"] > 0.8 > m["zero/test_accuracy"]
    assert {"init_activation_std.png", "init_gradient_norms.png", "init_train_loss.png"} <= _plots(r)


def test_optimizer_comparison(tmp_path):
    r = _run("optimizer-comparison", tmp_path, "methods=[\"gd\", \"sgd\", \"nesterov\", \"adam\"]",
             "trainer.max_epochs=2", "train_limit=256")
    m = r.metrics
    assert m["gd/steps"] == 2 and m["sgd/steps"] == 512 and m["nesterov/steps"] == 16
    assert m["nesterov/train_loss"] < m["gd/train_loss"] and m["sgd/train_loss"] < m["gd/train_loss"]
    assert "optimizers_train_loss.png" in _plots(r)


def test_restarts_demo_selects_the_lowest_training_loss(tmp_path):
    r = _run("restarts-demo", tmp_path, "restarts=4", "trainer.max_epochs=300")
    losses = [r.metrics[f"restart_{i}/train_loss"] for i in range(4)]
    assert r.metrics["restarts/best_train_loss"] == min(losses)
    assert losses[int(r.metrics["restarts/selected"])] == min(losses)
    assert {"restart_losses.png", "restart_boundaries.png"} <= _plots(r)


def test_vanishing_gradients_sigmoid_vs_relu(tmp_path):
    """§2.2: in a 10-layer sigmoid MLP the first layer's gradient is orders of magnitude below the last's."""
    r = _run("vanishing-gradients", tmp_path, "activations=[\"sigmoid\", \"relu\"]", "train=false", "batch=256")
    m = r.metrics
    assert m["sigmoid/grad_ratio_first_to_last"] < 1e-3
    assert m["relu/grad_ratio_first_to_last"] > 0.1
    assert "gradient_norms_at_init.png" in _plots(r)


def test_overfitting_and_early_stopping(tmp_path):
    r = _run("overfitting-digits", tmp_path, "variants=[\"plain\", \"weight_decay\", \"early_stopping\"]",
             "hidden=[256, 256]", "trainer.max_epochs=40", "patience=5")
    m = r.metrics
    # without regularisation the training loss goes to ~0 while the validation loss climbs back above its minimum
    assert m["plain/train_loss"] < 0.01 and m["plain/val_loss"] > 1.05 * m["plain/best_val_loss"]
    # the penalty keeps the training loss off zero and ends with a lower validation loss
    assert m["weight_decay/train_loss"] > 2 * m["plain/train_loss"]
    assert m["weight_decay/val_loss"] < 0.95 * m["plain/val_loss"]
    # early stopping ends before the budget and keeps the best validation weights
    assert m["early_stopping/epochs"] < 40
    assert m["early_stopping/val_loss"] == pytest.approx(m["early_stopping/best_val_loss"], rel=1e-4)
    assert "overfitting_curves.png" in _plots(r)


def test_bad_recipe_settings(tmp_path):
    with pytest.raises(ConfigError, match="schemes must be names of"):
        an2dl.run("init-comparison", ["schemes=[\"ones\"]"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="logic function must be one of"):
        an2dl.run("perceptron-logic", ["functions=[\"xnor3\"]"], runs_root=tmp_path)
    with pytest.raises(ConfigError, match="methods must be names of"):
        an2dl.run("optimizer-comparison", ["methods=[\"lbfgs\"]"], runs_root=tmp_path)
