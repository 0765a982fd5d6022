"""Teacher forcing with a schedulable ratio (notes §4.2.1; scheduled sampling, Bengio et al. 2015)."""

from __future__ import annotations

import math

import pytest
import torch

from an2dl.data.batch import Batch
from an2dl.data.text.specials import SOS
from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.models.seq2seq.encoder_decoder import _example
from an2dl.tasks.seq2seq import Seq2SeqTask, TeacherForcingSchedule


def test_the_four_decays_by_hand():
    assert [TeacherForcingSchedule("constant", start=0.7).ratio(i) for i in (0, 10**6)] == [0.7, 0.7]
    lin = TeacherForcingSchedule("linear", start=1.0, decay=0.01, minimum=0.2)  # max(ε, k − c i)
    assert [lin.ratio(i) for i in (0, 30, 80, 1000)] == pytest.approx([1.0, 0.7, 0.2, 0.2])
    exp = TeacherForcingSchedule("exponential", decay=0.9)  # k^i
    assert [exp.ratio(i) for i in (0, 1, 2, 10)] == pytest.approx([1.0, 0.9, 0.81, 0.9**10])
    inv = TeacherForcingSchedule("inverse_sigmoid", decay=5.0)  # k / (k + exp(i / k))
    assert inv.ratio(0) == pytest.approx(5 / 6)
    assert inv.ratio(10) == pytest.approx(5 / (5 + math.e**2))
    assert 0 <= inv.ratio(10**9) < 1e-300  # no overflow far out
    assert TeacherForcingSchedule("inverse_sigmoid", decay=5.0, minimum=0.25).ratio(100) == 0.25


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "cosine"}, "kind must be one of constant, linear, exponential, inverse_sigmoid"),
    ({"kind": "linear", "decay": 0.0}, "decay must be a positive slope c"),
    ({"kind": "exponential", "decay": 1.0}, r"decay must be a base k in \(0, 1\)"),
    ({"kind": "inverse_sigmoid", "decay": 0.5}, "decay must be k >= 1"),
    ({"start": 1.5}, r"start must be in \[0, 1\]; got 1.5"),
])
def test_bad_schedules_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TeacherForcingSchedule(**kwargs)


def test_ratio_0_feeds_the_models_own_predictions_and_1_the_targets():
    torch.manual_seed(0)
    model = get_model("seq2seq_rnn", attention="general").eval()
    src, lengths, tgt_in = _example(3)
    with torch.no_grad():
        forced = model(src, lengths, tgt_in, teacher_forcing=1.0)
        free = model(src, lengths, tgt_in, teacher_forcing=0.0)
        # ratio 0: step t reads the argmax of step t − 1, i.e. teacher forcing on the model's own predictions
        own = torch.cat([torch.full_like(tgt_in[:, :1], SOS), free.argmax(-1)[:, :-1]], dim=1)
        assert torch.allclose(free, model(src, lengths, own, teacher_forcing=1.0), atol=1e-6)
        # ratio 1 reads the targets, whatever the predictions
        assert torch.allclose(forced, model(src, lengths, tgt_in), atol=1e-6)
        assert not torch.equal(own, tgt_in) and not torch.allclose(forced, free)
        # and the greedy decoder's first steps are those of ratio 0
        greedy = model.generate(src, lengths, max_length=tgt_in.shape[1])
        n = greedy.tokens.shape[1]
        assert torch.equal(greedy.tokens[:, : min(n, 2)], free.argmax(-1)[:, : min(n, 2)])


class _Ctx:
    training, split = True, "train"

    def __init__(self, step):
        self.global_step, self.logged = step, {}

    def log(self, name, value, *, batch_size=None):
        self.logged[name] = value


def test_the_task_reads_its_schedule_at_the_trainers_step(monkeypatch):
    model = get_model("seq2seq_rnn", attention=None)
    task = Seq2SeqTask(model, teacher_forcing=TeacherForcingSchedule("exponential", decay=0.5))
    src, lengths, tgt_in = _example(2)
    batch = Batch({"inputs": src, "lengths": lengths, "targets": tgt_in[:, 1:]}, size=2)
    seen = []
    forward = type(model).forward
    monkeypatch.setattr(type(model), "forward", lambda self, *a, **kw: seen.append(kw) or forward(self, *a, **kw))
    for step in (0, 3):
        ctx = _Ctx(step)
        task.step(batch, ctx)
        assert seen[-1].get("teacher_forcing", 1.0) == ctx.logged["teacher_forcing"] == 0.5**step
    assert Seq2SeqTask(model, teacher_forcing=0.3).schedule == TeacherForcingSchedule("constant", start=0.3)
    with pytest.raises(ConfigError, match=r"teacher_forcing must be a ratio in \[0, 1\]; got 'linear' \(or give a TeacherForcingSchedule\)"):
        Seq2SeqTask(model, teacher_forcing="linear")
