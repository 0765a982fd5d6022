"""The recurrent-network recipes (notes §4.1): each runs end to end at toy settings, and each shows its claim.

The first tests run every recipe for a few steps and check what it writes
(metrics, figures, the exported models and their recorded pipelines, resume).
The tests marked ``slow`` train long enough for the notes' claim to show and
assert it with a margin.  The margins were measured over seeds 0, 1 and 2
(``data.seed`` and ``trainer.seed``) at the settings of each test, and each
test states the per-seed values it was set from.
"""

import json

import pytest

import an2dl
from an2dl.data.preprocess import Preprocess
from an2dl.errors import ConfigError
from conftest import require_data


def _results(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def _plots(run_dir):
    return {e["file"] for e in json.loads((run_dir / "plots" / "index.json").read_text())}


def _pipeline(model_dir):
    return Preprocess.from_dict(json.loads((model_dir / "model.json").read_text())["preprocessing"])


def test_recipes_are_registered():
    names = set(an2dl.list_recipes())
    assert {"forecast-sine", "seq-classify", "adding-problem", "char-lstm-shakespeare",
            "learned-initial-state"} <= names


# ------------------------------------------------------------------------------------------------ toy runs
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
    pipeline = _pipeline(res.run_dir / "variants" / "gru" / "model")  # a file is one sequence of 12 steps
    assert pipeline.window == (12, 12) and pipeline.features == ["value", "marker"]
    with pytest.raises(ConfigError, match="model.cells items"):
        an2dl.run("adding-problem", ["model.cells=[\"elman\"]"], runs_root=tmp_path)


def test_forecast_sine_scores_every_model_on_the_same_forecasts_and_resumes(tmp_path):
    overrides = ["data.length=600", "trainer.max_epochs=1", "model.hidden_size=4", "model.mlp_hidden=[4]",
                 'model.names=["delay_tap_linear","delay_tap_mlp","rnn","lstm","gru"]']
    res = an2dl.run("forecast-sine", overrides, runs_root=tmp_path)
    m = _results(res.run_dir)["metrics"]
    for name in ("delay_tap_linear", "delay_tap_mlp", "rnn", "lstm", "gru"):
        for key in ("rmse", "rmse_clean", "rmse_cue_in_taps", "rmse_cue_beyond_taps"):
            assert m[f"test/{key}_{name}"] > 0
    assert m["test/rmse_noise_floor"] == 0.1 and 0 < m["test/share_beyond_taps"] < 1
    assert {"test_forecasts.png", "test_rmse.png", "validation_rmse.png"} <= _plots(res.run_dir)
    data = res.extra["data"]
    assert data["delay_tap_mlp"].test.tensors[0].shape[1:] == (16, 2)  # the delay taps
    assert data["lstm"].test.tensors[0].shape[1:] == (48, 2)  # the recurrent models' context
    assert (data["delay_tap_mlp"].test.tensors[1] == data["lstm"].test.tensors[1]).all()  # the same targets
    taps = _pipeline(res.run_dir / "variants" / "delay_tap_mlp" / "model")
    assert taps.window == (16, 1) and taps.features == ["cue", "carrier"]
    assert _pipeline(res.run_dir / "variants" / "gru" / "model").window == (48, 1)
    again = an2dl.resume(res.run_dir)  # every variant is finished: resuming re-evaluates the same weights
    assert again.metrics["test/rmse_lstm"] == pytest.approx(m["test/rmse_lstm"], rel=1e-6)


def test_seq_classify_trains_with_lengths_and_exports(tmp_path):
    res = an2dl.run("seq-classify", ["data.n_train=256", "data.n_val=64", "data.n_test=64", "trainer.max_epochs=2",
                                     "model.hidden_size=8"], runs_root=tmp_path)
    m = _results(res.run_dir)["metrics"]
    assert {"test/accuracy", "val/loss", "test/chance_accuracy"} <= set(m)
    model = an2dl.load(res.run_dir / "model")
    tokens, lengths, _ = res.data.test[:3]
    assert model(tokens, lengths).shape == (3, 4)
    assert model.preprocess.input_kind == "text"
    assert model.preprocess("aXbY").tolist() == [2, 4, 8, 5, 9, 3]  # <sos> a X b Y <eos>, the dataset's ids


def test_learned_initial_state_recipe(tmp_path):
    res = an2dl.run("learned-initial-state", ["seeds=[0]", "trainer.max_steps=10", "data.n_train=64",
                                              "data.n_test=32"], runs_root=tmp_path)
    m = _results(res.run_dir)["metrics"]
    assert m["runs"] == 1 and m["test/mse_zeros_mean"] > 0 and m["test/mse_learnable_mean"] > 0
    assert "initial_state_mse.png" in _plots(res.run_dir)
    assert res.config.clip.max_norm == 1.0  # clipped, as every recurrent recipe


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
    # the training text's character frequencies alone cost 3.35 nats per validation character
    assert m["val/unigram_nats_per_char"] == pytest.approx(3.347, abs=0.01)
    assert m["val/loss"] < m["val/unigram_nats_per_char"]
    assert m["val/perplexity"] == pytest.approx(2.718281828 ** m["val/loss"], rel=1e-4)
    assert m["val/bits_per_char"] == pytest.approx(m["val/loss"] / 0.6931471805599453, rel=1e-6)
    assert m["val/stream_nats_per_char"] < m["val/unigram_nats_per_char"]
    assert len(results["sample"]) == 1 + 40 and (res.run_dir / "sample.txt").is_file()
    assert _pipeline(res.run_dir / "model").vocabulary.itos == res.data.info.vocab.itos


# ------------------------------------------------------------------------------------------------ the claims
@pytest.mark.slow
def test_forecast_sine_a_model_with_memory_beats_the_delay_taps(tmp_path):
    """§4.1: delay taps "lack a true memory mechanism"; a recurrent state holds what left the window.

    Measured at these settings (seeds 0, 1, 2): test RMSE LSTM / delay-tap MLP 0.258 / 0.482, 0.182 / 0.494,
    0.167 / 0.461 (ratios 0.53, 0.37, 0.36); where the latest cue lies beyond the 16 taps 0.251 / 0.747,
    0.179 / 0.736, 0.137 / 0.727 (0.34, 0.24, 0.19), the MLP there no better than the zero forecast (0.749,
    0.740, 0.701 on all steps), and within the taps 0.224, 0.164, 0.179.

    The plain RNN is not asserted: at these settings its test RMSE is 0.745, 0.403, 0.747 (seeds 0, 1, 2), the
    zero forecast in two seeds of three (it has the memory but, §4.1.1, its gradient through time vanishes, so
    12 epochs do not always find it); at the recipe's 30 epochs seed 0 reaches 0.236 against the MLP's 0.466.
    """
    res = an2dl.run("forecast-sine", ['model.names=["delay_tap_mlp","lstm"]', "trainer.max_epochs=12"],
                    runs_root=tmp_path, progress=False)
    m = res.metrics
    mlp, lstm = "delay_tap_mlp", "lstm"
    assert m[f"test/rmse_{lstm}"] <= 0.65 * m[f"test/rmse_{mlp}"]
    assert m[f"test/rmse_cue_beyond_taps_{lstm}"] <= 0.45 * m[f"test/rmse_cue_beyond_taps_{mlp}"]
    # the delay taps know the amplitude only while the cue is among them
    assert m[f"test/rmse_cue_beyond_taps_{mlp}"] >= 0.9 * m["test/rmse_zero"]
    assert m[f"test/rmse_cue_in_taps_{mlp}"] <= 0.5 * m[f"test/rmse_cue_beyond_taps_{mlp}"]


@pytest.mark.slow
def test_adding_problem_the_gated_cells_solve_it_and_the_plain_rnn_does_not(tmp_path):
    """§4.1.1: the error signal vanishes through a plain RNN; gates let LSTM and GRU carry it over T = 100 steps.

    Measured at these settings (the defaults with 1500 steps; seeds 0, 1, 2): the constant prediction's test
    MSE 0.165, 0.166, 0.170; LSTM 214×, 155×, 209× below it (it leaves the plateau after 750, 750, 1250
    steps), GRU 1869×, 1269×, 970×, the plain RNN 0.89×, 1.00×, 1.00×. ‖∂L/∂h_0‖ / ‖∂L/∂h_T‖ after
    training: RNN 1e-50, 3e-59, 7e-16; LSTM 0.011, 0.041, 0.039; GRU 0.16, 0.38, 0.29.
    """
    res = an2dl.run("adding-problem", ["trainer.max_steps=1500"], runs_root=tmp_path, progress=False)
    m = res.metrics
    assert 0.15 < m["test/baseline_mse"] < 0.18  # 1/6, the variance of the sum of two U[0, 1]
    for cell in ("lstm", "gru"):
        assert m[f"test/baseline_over_mse_{cell}"] >= 10, cell
        assert m[f"grad_ratio_trained_{cell}"] > 1e-3, cell
    assert m["test/baseline_over_mse_rnn"] < 2
    assert m["grad_ratio_trained_rnn"] < 1e-10


@pytest.mark.slow
def test_seq_classify_is_far_above_chance(tmp_path):
    """§4.1.1: the network carries the first relevant symbol across the distractors.

    Measured at these settings (seeds 0, 1, 2): test accuracy 1.000, 1.000, 1.000 against chance
    (the most frequent test class) 0.282, 0.274, 0.284.
    """
    res = an2dl.run("seq-classify", ["data.n_train=2000", "data.n_val=200", "data.n_test=500", "trainer.max_epochs=5",
                                     "model.hidden_size=32"], runs_root=tmp_path, progress=False)
    m = res.metrics
    assert m["test/chance_accuracy"] < 0.32
    assert m["test/accuracy"] >= 0.9 and m["test/accuracy"] >= m["test/chance_accuracy"] + 0.5


@pytest.mark.slow
def test_a_learned_initial_state_beats_the_zero_state(tmp_path):
    """§4.1.1.2: treating the initial state as parameters is "a more effective method".

    Measured with the defaults (five trainer seeds each, gradients clipped at norm 1): mean test MSE learned /
    zero 0.35 with data.seed=0 (the learned start wins 4 of 5 runs; per run 0.20, 0.10, 0.26, 0.37, 1.26),
    0.30 with data.seed=1 (5 of 5) and 0.22 with data.seed=2 (5 of 5).
    """
    res = an2dl.run("learned-initial-state", [], runs_root=tmp_path, progress=False)
    m = res.metrics
    assert m["runs"] == 5 and m["runs_where_learnable_wins"] >= 4
    assert m["ratio_learnable_vs_zeros"] <= 0.5


@pytest.mark.slow
def test_char_lstm_needs_far_fewer_bits_than_the_character_frequencies(tmp_path):
    """§4.1.1: the state carries the context; the characters' frequencies alone cost 3.35 nats (4.83 bits).

    Measured at these settings (trainer seeds 0, 1, 2; one pass over a half of the training windows):
    validation loss 1.920, 1.912, 1.941 nats per character, 0.57–0.58 of the unigram cross-entropy.
    """
    root = require_data("tinyshakespeare")
    res = an2dl.run("char-lstm-shakespeare", [f"data.root={root}", "data.seq_len=64", "data.train_stride=128",
                                              "model.hidden_size=128", "model.embedding_dim=32", "trainer.max_epochs=1",
                                              "trainer.time_budget_s=null", "optim.lr=0.01", "sample.length=40",
                                              "stream_eval=false"], runs_root=tmp_path, progress=False)
    m = res.metrics
    assert m["val/unigram_nats_per_char"] == pytest.approx(3.347, abs=0.01)
    assert m["val/loss"] <= 0.7 * m["val/unigram_nats_per_char"]
