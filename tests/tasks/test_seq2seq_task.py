"""Seq2SeqTask (§4.2.1): the loss −Σ_t y_tᵀ log P_t over real tokens, free-running evaluation, predictions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import an2dl
from an2dl.data import ArrayDataset
from an2dl.data.text.specials import EOS, PAD, SOS
from an2dl.engine import OptimizerSpec
from an2dl.errors import ConfigError
from an2dl.tasks import Seq2SeqTask
from an2dl.tasks.seq2seq import sequence_accuracy, shift_right


class _Ctx:
    def __init__(self, training):
        self.training, self.split, self.logged = training, "train" if training else "val", {}

    def log(self, name, value, *, batch_size=None):
        self.logged[name] = float(value.compute() if hasattr(value, "compute") else value)


def _data():
    src = torch.tensor([[5, 6, 7], [8, 9, PAD]])
    lengths = torch.tensor([3, 2])
    tgt = torch.tensor([[7, 6, 5, EOS], [9, 8, EOS, PAD]])
    return src, lengths, tgt


def test_shift_right_and_sequence_accuracy():
    _, _, tgt = _data()
    assert shift_right(tgt).tolist() == [[SOS, 7, 6, 5], [SOS, 9, 8, EOS]]
    pred = torch.tensor([[7, 6, 5, EOS, PAD, PAD], [9, 8, 4, EOS, PAD, PAD]])
    assert sequence_accuracy(pred, tgt).tolist() == [True, False]


def test_loss_is_the_summed_cross_entropy_over_real_tokens_per_token():
    torch.manual_seed(0)
    model = an2dl.get_model("seq2seq_rnn", src_vocab_size=10, tgt_vocab_size=10, hidden_size=6, embedding_dim=4)
    task = Seq2SeqTask(model, max_length=5)
    src, lengths, tgt = _data()
    batch = an2dl.data.batch.Batch({"inputs": src, "lengths": lengths, "targets": tgt}, size=2)
    ctx = _Ctx(training=False)
    loss = task.step(batch, ctx)
    log_p = model(src, lengths, shift_right(tgt)).detach().log_softmax(-1)
    terms = [-float(log_p[b, t, tgt[b, t]]) for b in range(2) for t in range(4) if tgt[b, t] != PAD]
    assert len(terms) == 7
    assert math.isclose(float(loss.detach()), sum(terms) / 7, rel_tol=1e-6)
    assert set(ctx.logged) == {"loss", "token_accuracy", "sequence_accuracy", "bleu"}
    training = _Ctx(training=True)
    task.step(batch, training)
    assert set(training.logged) == {"loss", "token_accuracy"}  # no free-running decoding in training


def test_label_smoothing_trains_on_pytorchs_smoothed_cross_entropy_and_reports_the_plain_one():
    """Label smoothing (Szegedy et al. 2016; the Transformer's ε_ls, Vaswani et al. 2017 §5.4) in float64, with
    padding: the training loss is ``F.cross_entropy(..., ignore_index=PAD, label_smoothing=ε)``, i.e. the
    cross-entropy against the targets ``(1 − ε) y_t + ε / V`` over the real tokens; ε = 0 is the plain loss bit
    for bit; the loss the task reports (also on validation) stays the plain cross-entropy."""
    torch.manual_seed(0)
    V = 10
    model = an2dl.get_model("seq2seq_rnn", src_vocab_size=V, tgt_vocab_size=V, hidden_size=6,
                            embedding_dim=4).double().eval()
    src, lengths, tgt = _data()
    batch = an2dl.data.batch.Batch({"inputs": src, "lengths": lengths, "targets": tgt}, size=2)
    logits = model(src, lengths, shift_right(tgt)).detach().reshape(-1, V)
    y = tgt.reshape(-1)
    plain = F.cross_entropy(logits, y, ignore_index=PAD, reduction="sum") / 7  # the task's loss before smoothing
    for eps in (0.1, 0.35):
        task = Seq2SeqTask(model, max_length=5, label_smoothing=eps)
        ctx = _Ctx(training=True)
        loss = task.step(batch, ctx)
        assert loss.dtype == torch.float64 and loss.requires_grad
        torch.testing.assert_close(loss, F.cross_entropy(logits, y, ignore_index=PAD, label_smoothing=eps),
                                   rtol=1e-13, atol=0)
        q = (1 - eps) * F.one_hot(y, V).double() + eps / V  # the smoothed targets, written out
        real = y != PAD
        by_hand = -(q * logits.log_softmax(-1)).sum(-1)[real].mean()
        torch.testing.assert_close(loss.detach(), by_hand, rtol=1e-13, atol=0)
        assert ctx.logged["smoothed_loss"] == float(loss.detach())
        assert ctx.logged["loss"] == pytest.approx(float(plain), rel=1e-13)
    validation = _Ctx(training=False)
    assert torch.equal(task.step(batch, validation), plain)  # validation: the plain cross-entropy
    assert "smoothed_loss" not in validation.logged and validation.logged["loss"] == float(plain)
    training = _Ctx(training=True)
    assert torch.equal(Seq2SeqTask(model, max_length=5, label_smoothing=0.0).step(batch, training).detach(), plain)
    assert "smoothed_loss" not in training.logged


def test_training_learns_to_reverse_short_sequences():
    g = torch.Generator().manual_seed(0)
    N, S = 256, 4
    src = torch.randint(4, 8, (N, S), generator=g)
    tgt = torch.cat([src.flip(1), torch.full((N, 1), EOS)], dim=1)
    data = ArrayDataset(src, torch.full((N,), S), tgt)
    torch.manual_seed(0)
    model = an2dl.get_model("seq2seq_rnn", src_vocab_size=8, tgt_vocab_size=8, hidden_size=32, embedding_dim=8,
                            attention="dot")
    task = Seq2SeqTask(model, max_length=S + 1, teacher_forcing=0.9, optimizer=OptimizerSpec("adam", lr=0.02))
    trainer = an2dl.Trainer(max_epochs=8, batch_size=32, progress=False, checkpoint=False, seed=0)
    trainer.fit(task, data)
    metrics = trainer.evaluate(task, data, split="test")
    assert metrics["test/sequence_accuracy"] > 0.9, metrics
    # corpus BLEU of the decodings, as the reference formula computes it from the predicted token ids
    from an2dl.engine.bleu import corpus_bleu

    decoded = trainer.predict(task, ArrayDataset(src, torch.full((N,), S)))
    rows = [[t for t in r[: r.index(EOS)] if t != 0] if EOS in r else [t for t in r if t != 0] for r in decoded.tolist()]
    assert metrics["test/bleu"] == pytest.approx(100 * corpus_bleu(rows, [[r] for r in src.flip(1).tolist()]), abs=1e-6)
    out = trainer.predict(task, ArrayDataset(src[:3], torch.full((3,), S)))
    assert out.shape == (3, S + 1) and out[:, :S].tolist() == src[:3].flip(1).tolist()


def test_bad_arguments_are_named():
    model = an2dl.get_model("seq2seq_rnn")
    with pytest.raises(ConfigError, match=r"teacher_forcing must be a ratio in \[0, 1\]; got 2"):
        Seq2SeqTask(model, teacher_forcing=2)
    with pytest.raises(ConfigError, match="beam_width must be a positive integer; got 0"):
        Seq2SeqTask(model, beam_width=0)
    with pytest.raises(ConfigError, match="max_length must be a positive integer"):
        Seq2SeqTask(model, max_length=0)
    for bad in (1, 1.5, -0.1, True, "0.1"):
        with pytest.raises(ConfigError, match=rf"label_smoothing must be a number in \[0, 1\); got {bad!r}"):
            Seq2SeqTask(model, label_smoothing=bad)
    with pytest.raises(ConfigError, match="generate"):
        Seq2SeqTask(nn.Linear(2, 2))
