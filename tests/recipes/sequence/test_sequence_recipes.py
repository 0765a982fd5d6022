"""The recurrent-network recipes end to end, with reduced settings (the full figures are in the run reports)."""

import json

import pytest

import an2dl
from an2dl.errors import ConfigError
from conftest import require_data


def _results(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def _plots(run_dir):
    return {e["file"] for e in json.loads((run_dir / "plots" / "index.json").read_text())}


def test_recipes_are_registered():
    names = set(an2dl.list_recipes())
    assert {"forecast-sine", "seq-classify", "adding-problem", "char-lstm-shakespeare",
            "learned-initial-state"} <= names


def test_adding_problem_compares_three_cells_and_measures_the_gradient(tmp_path):
    res = an2dl.run("adding-problem", ["data.length=12", "data.n_train=256", "data.n_val=64", "data.n_test=64",
                                       "trainer.max_steps=20", "trainer.val_every_n_steps=10", "probe_batch=8",
                                       "model.hidden_size=8"], runs_root=tmp_path)
    m = _results(res.run_dir)["metrics"]
    for cell in ("rnn", "lstm", "gru"):
        assert {f"test/mse_{cell}", f"solved_{cell}", f"grad_ratio_initial_{cell}", f"grad_ratio_trained_{cell}"} <= set(m)
    assert 0.1 < m["test/baseline_mse"] < 0.25
    assert {"adding_validation_mse.png", "gradient_through_time.png"} <= _plots(res.run_dir)
    grads = res.extra["gradients"]["lstm"]["initial"]
    assert grads.shape == (12,) and float(grads[-1]) > 0
    assert (res.run_dir / "variants" / "gru" / "checkpoints").is_dir() and (res.run_dir / "report.html").is_file()
    with pytest.raises(ConfigError, match="model.cells items"):
        an2dl.run("adding-problem", ["model.cells=[\"elman\"]"], runs_root=tmp_path)


def test_forecast_sine_compares_memoryless_and_recurrent_models_and_resumes(tmp_path):
    overrides = ["data.length=400", "trainer.max_epochs=2", "model.hidden_size=8", "model.mlp_hidden=[8]",
                 "model.names=[\"delay_tap_linear\", \"delay_tap_mlp\", \"rnn\", \"lstm\", \"gru\"]"]
    res = an2dl.run("forecast-sine", overrides, runs_root=tmp_path)
    m = _results(res.run_dir)["metrics"]
    for name in ("delay_tap_linear", "delay_tap_mlp", "rnn", "lstm", "gru"):
        assert m[f"test/rmse_{name}"] > 0
    assert m["test/rmse_noise_floor"] == 0.2 and m["test/rmse_persistence"] > 0.2
    assert {"test_forecasts.png", "test_rmse.png", "validation_rmse.png"} <= _plots(res.run_dir)
    again = an2dl.resume(res.run_dir)  # every variant is finished: resuming re-evaluates the same weights
    assert again.metrics["test/rmse_lstm"] == pytest.approx(m["test/rmse_lstm"], rel=1e-6)


def test_seq_classify_trains_with_lengths_and_exports(tmp_path):
    res = an2dl.run("seq-classify", ["data.n_train=256", "data.n_val=64", "data.n_test=64", "trainer.max_epochs=2",
                                     "model.hidden_size=8"], runs_root=tmp_path)
    m = _results(res.run_dir)["metrics"]
    assert 0 <= m["test/accuracy"] <= 1 and "val/loss" in m
    model = an2dl.load(res.run_dir / "model")
    tokens, lengths, _ = res.data.test[:3]
    assert model(tokens, lengths).shape == (3, 4)


def test_learned_initial_state_recipe(tmp_path):
    res = an2dl.run("learned-initial-state", ["seeds=[0]", "trainer.max_steps=10", "data.n_train=64",
                                              "data.n_test=32"], runs_root=tmp_path)
    m = _results(res.run_dir)["metrics"]
    assert m["runs"] == 1 and m["test/mse_zeros_mean"] > 0 and m["test/mse_learnable_mean"] > 0
    assert "initial_state_mse.png" in _plots(res.run_dir)


@pytest.mark.parametrize("bptt", [["bptt.mode=full"], ["bptt.mode=truncated", "bptt.k1=16", "bptt.k2=24"]])
def test_char_lstm_learns_shakespeare_in_a_few_steps(tmp_path, bptt):
    root = require_data("tinyshakespeare")
    res = an2dl.run("char-lstm-shakespeare", [f"data.root={root}", "data.seq_len=64", "model.hidden_size=64",
                                              "model.embedding_dim=16", "trainer.max_epochs=1",
                                              "trainer.time_budget_s=null", "sample.length=40",
                                              "optim.lr=0.01", *bptt, "data.train_stride=512"],
                    runs_root=tmp_path)
    results = _results(res.run_dir)
    m = results["metrics"]
    # a uniform guess over the 65 characters costs ln 65 = 4.17 nats; the character frequencies alone ~3.3
    assert m["val/loss"] < 3.2
    assert m["val/perplexity"] == pytest.approx(2.718281828 ** m["val/loss"], rel=1e-4)
    assert m["val/stream_nats_per_char"] < 3.2
    assert len(results["sample"]) == 1 + 40 and (res.run_dir / "sample.txt").is_file()
    assert (res.run_dir / "model" / "model.json").is_file()
