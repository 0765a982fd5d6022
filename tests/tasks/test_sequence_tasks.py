"""Sequence tasks: regression, classification, language modelling with full and truncated BPTT."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import an2dl
from an2dl.data import ArrayDataset
from an2dl.engine import Callback, GradientClipping, OptimizerSpec, Trainer
from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.models.sequence.char_lm import CharLanguageModel
from an2dl.tasks.sequence import (
    LanguageModelTask,
    SequenceClassificationTask,
    SequenceRegressionTask,
    perplexity_metric,
    stream_nll,
)

V = 7


def _trainer(**kw):
    args = {"max_epochs": None, "max_steps": 1, "batch_size": 4, "shuffle": False, "val_every_n_epochs": None,
            "progress": False, "checkpoint": False, "accelerator": "cpu"}
    return Trainer(**{**args, **kw})


def _lm(seed=0, **kw):
    torch.manual_seed(seed)
    return CharLanguageModel(vocab_size=V, embedding_dim=5, hidden_size=6, num_layers=2, **kw).double()


def _tokens(n=4, T=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, V, (n, T + 1), generator=g)
    return ids[:, :-1], ids[:, 1:]


class _GradRecorder(Callback):
    """Records the gradients at every optimiser step and clears them, so the weights never move."""

    def __init__(self):
        self.grads = []

    def on_before_optimizer_step(self, trainer, task, optimizer):
        self.grads.append([p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in task.model.parameters()])
        for p in task.model.parameters():
            p.grad = None


# ------------------------------------------------------------------------------------------------ language models
def test_truncated_bptt_with_one_window_equals_full_bptt():
    x, y = _tokens(T=10)
    params = []
    for bptt, kw in (("full", {}), ("truncated", {"k1": 10})):
        task = LanguageModelTask(_lm(), bptt=bptt, optimizer=OptimizerSpec("sgd", lr=0.5), **kw)
        _trainer().fit(task, ArrayDataset(x, y))
        params.append([p.detach().clone() for p in task.model.parameters()])
    assert all(torch.allclose(a, b, atol=1e-12, rtol=0) for a, b in zip(*params))


@pytest.mark.parametrize("k1,k2", [(3, 3), (3, 5), (4, 9)])
def test_truncated_bptt_gradients_match_the_windowed_definition(k1, k2):
    x, y = _tokens(T=11)
    model = _lm(initial_state="learnable")
    task = LanguageModelTask(model, bptt="truncated", k1=k1, k2=k2, optimizer=OptimizerSpec("sgd", lr=0.1))
    rec = _GradRecorder()
    _trainer(callbacks=[rec]).fit(task, ArrayDataset(x, y))
    ends = list(range(k1, 11, k1)) + [11]
    assert len(rec.grads) == len(ends)  # one optimiser step per k1 tokens
    prev = 0
    for end, got in zip(ends, rec.grads):
        start = max(0, end - k2)
        state = None
        if start > 0:  # the state at the window start, computed without a gradient path
            with torch.no_grad():
                state = model(x[:, :start], return_state=True)[1]
        logits, _ = model(x[:, start:end], state, return_state=True)
        new = logits[:, prev - start:]
        loss = F.cross_entropy(new.reshape(-1, V), y[:, prev:end].reshape(-1))
        expected = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
        for g, e in zip(got, expected):
            e = torch.zeros_like(g) if e is None else e
            assert torch.allclose(g, e, atol=1e-10, rtol=0)
        prev = end
    assert float(rec.grads[0][0].abs().sum()) > 0  # the learnable initial state is trained by the first window


def test_truncated_bptt_steps_go_through_the_clipping_callback():
    x, y = _tokens(T=9)
    task = LanguageModelTask(_lm(), bptt="truncated", k1=3, optimizer=OptimizerSpec("sgd", lr=0.1))
    rec = _GradRecorder()
    _trainer(callbacks=[GradientClipping(max_value=1e-3), rec]).fit(task, ArrayDataset(x, y))
    assert len(rec.grads) == 3
    assert max(float(g.abs().max()) for step in rec.grads for g in step) <= 1e-3


def test_language_model_metrics_are_nats_and_corpus_perplexity():
    x, y = _tokens(n=6, T=8)
    task = LanguageModelTask(_lm(), optimizer=OptimizerSpec("adam", lr=1e-2))
    trainer = _trainer(max_steps=3, batch_size=4)
    trainer.fit(task, ArrayDataset(x, y), ArrayDataset(x, y))
    metrics = trainer.evaluate(task, ArrayDataset(x, y), split="val")
    with torch.no_grad():
        expected = float(F.cross_entropy(task.model(x).reshape(-1, V), y.reshape(-1)))
    assert metrics["val/loss"] == pytest.approx(expected, rel=1e-5)
    assert metrics["val/perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert metrics["val/bits_per_token"] == pytest.approx(expected / math.log(2), rel=1e-5)
    ppl = perplexity_metric()
    ppl.update(torch.tensor(2.0), 1)
    ppl.update(torch.tensor(4.0), 3)
    assert float(ppl.compute()) == pytest.approx(math.exp(6 / 4))


def test_padding_targets_are_left_out_of_the_loss():
    x, y = _tokens(n=2, T=6)
    y_pad = y.clone()
    y_pad[:, 4:] = 0
    task = LanguageModelTask(_lm())
    nll, count = task._nll(task.model(x), y_pad)
    expected = F.cross_entropy(task.model(x)[:, :4].reshape(-1, V), y[:, :4].reshape(-1), reduction="sum")
    assert count == 8 and torch.allclose(nll, expected)


def test_truncated_bptt_rejects_bidirectional_models_and_bad_settings():
    class BiLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = an2dl.nn.recurrent.LSTM(input_size=3, hidden_size=4, bidirectional=True)

        def forward(self, tokens, state=None, *, return_state=False):
            return tokens

    with pytest.raises(ConfigError, match="bidirectional"):
        LanguageModelTask(BiLM(), bptt="truncated", k1=4)
    with pytest.raises(ConfigError, match="bidirectional"):
        LanguageModelTask(nn.Sequential(nn.LSTM(3, 4, bidirectional=True)), bptt="truncated", k1=4)
    LanguageModelTask(BiLM(), bptt="full")  # full BPTT reads whole windows: allowed
    with pytest.raises(ConfigError, match="return_state"):
        LanguageModelTask(nn.Linear(2, 2), bptt="truncated", k1=4)
    with pytest.raises(ConfigError, match="k2 >= k1"):
        LanguageModelTask(_lm(), bptt="truncated", k1=4, k2=2)
    with pytest.raises(ConfigError, match="k1, a positive integer"):
        LanguageModelTask(_lm(), bptt="truncated")
    with pytest.raises(ConfigError, match="k1/k2 apply to bptt='truncated' only"):
        LanguageModelTask(_lm(), bptt="full", k1=4)
    with pytest.raises(ConfigError, match="bptt must be"):
        LanguageModelTask(_lm(), bptt="partial")


def test_stream_nll_carries_the_state_across_chunks():
    model = _lm()
    ids = torch.randint(1, V, (40,), generator=torch.Generator().manual_seed(3))
    whole = stream_nll(model, ids, chunk_len=100)
    pieces = stream_nll(model, ids, chunk_len=7)
    with torch.no_grad():
        logits = model(ids[None, :-1])
    expected = float(F.cross_entropy(logits[0], ids[1:]))
    assert whole == pytest.approx(expected, abs=1e-12) and pieces == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        stream_nll(model, ids[:1])


# ------------------------------------------------------------------------------------------ regression, classification
def test_regression_task_leaves_padded_steps_out():
    torch.manual_seed(0)
    model = get_model("recurrent_regressor", per_step=True, hidden_size=5)
    task = SequenceRegressionTask(model)
    x, y = torch.randn(3, 6, 1), torch.randn(3, 6, 1)
    lengths = torch.tensor([6, 2, 4])

    class Ctx:
        split, training = "val", False
        logged = {}

        def log(self, name, value, **kw):
            self.logged[name] = value

    loss = task.step(task.as_batch((x, lengths, y)), Ctx())
    pred = model(x, lengths)
    mask = torch.arange(6)[None, :] < lengths[:, None]
    assert torch.allclose(loss, F.mse_loss(pred[mask], y[mask]))
    with pytest.raises(ValueError, match="target's shape"):
        task.step(task.as_batch((x, torch.randn(3, 1))), Ctx())
    with pytest.raises(ValueError, match=r"needs the batch field\(s\) \['targets'\]"):
        task.prepare_batch((x,), Ctx())
    with pytest.raises(ConfigError, match="loss must be one of"):
        SequenceRegressionTask(model, loss="hinge")


def test_regression_task_learns_to_forecast_a_sine():
    data = an2dl.get_dataset("noisy-sine", length=800, noise_std=0.05, window=8)
    torch.manual_seed(0)
    task = SequenceRegressionTask(get_model("delay_tap_linear", window=8), optimizer=OptimizerSpec("adam", lr=0.05))
    trainer = _trainer(max_steps=150, batch_size=32, shuffle=True)
    trainer.fit(task, data.train)
    metrics = trainer.evaluate(task, data.test)
    assert metrics["test/rmse"] < 0.12 and metrics["test/mae"] < metrics["test/rmse"] + 1e-6


def test_learnable_initial_state_helps_on_a_leaky_integrator():
    # y_t = 0.95 y_{t-1} + 0.05 u_t from y_{-1} = 5: the start-up transient is the same for every sequence
    data = an2dl.get_dataset("leaky-integrator", length=20, decay=0.95, initial_value=5.0, n_train=256, n_val=8,
                             n_test=128)
    losses = {"zeros": 0.0, "learnable": 0.0}
    for seed in (0, 1):
        for init in losses:
            torch.manual_seed(seed)
            model = get_model("recurrent_regressor", cell="lstm", hidden_size=16, per_step=True, initial_state=init)
            task = SequenceRegressionTask(model, optimizer=OptimizerSpec("adam", lr=0.02))
            trainer = _trainer(max_steps=150, batch_size=32, shuffle=True)
            trainer.fit(task, data.train)
            losses[init] += trainer.evaluate(task, data.test)["test/loss"]
    # measured: about 0.07x; the same setting over five seeds is in the learned-initial-state recipe
    assert losses["learnable"] < 0.5 * losses["zeros"]


def test_sequence_classification_with_lengths():
    torch.manual_seed(0)
    data = an2dl.get_dataset("temporal-order", n_train=64, n_val=16, n_test=16, min_length=10, max_length=14)
    model = get_model("recurrent_classifier", hidden_size=8, bidirectional=True)
    task = SequenceClassificationTask(model, num_classes=4, optimizer=OptimizerSpec("adam", lr=1e-2))
    trainer = _trainer(max_steps=4, batch_size=16)
    trainer.fit(task, data.train, data.val)
    metrics = trainer.evaluate(task, data.test)
    assert {"test/loss", "test/accuracy"} <= set(metrics)
    probs = trainer.predict(task, data.test)
    assert probs.shape == (16, 4) and torch.allclose(probs.sum(1), torch.ones(16))
    assert trainer.eval_artifacts["test/confusion_matrix"].sum() == 16
