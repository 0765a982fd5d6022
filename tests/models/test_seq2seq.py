"""The recurrent encoder–decoder of §4.2–4.3: encoder state, attention over padding, teacher forcing, decoding."""

from __future__ import annotations

import pytest
import torch

import an2dl
from an2dl.data.text.specials import EOS, PAD, SOS
from an2dl.errors import ConfigError
from an2dl.models.seq2seq import EncoderDecoder, RecurrentEncoder

V = 12


def _batch(B=4, S=7, T=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 3, 5, 1][:B])
    src = torch.randint(4, V, (B, S), generator=g)
    src[torch.arange(S)[None] >= lengths[:, None]] = PAD
    tgt_in = torch.randint(4, V, (B, T), generator=g)
    tgt_in[:, 0] = SOS
    return src, lengths, tgt_in


def _model(**kw):
    torch.manual_seed(0)
    kw.setdefault("embedding_dim", 8)
    kw.setdefault("hidden_size", 6)
    return EncoderDecoder(src_vocab_size=V, tgt_vocab_size=V, **kw).double()


VARIANTS = [dict(attention=None), dict(attention="dot"), dict(attention="general", cell="lstm"),
            dict(attention="concat", cell="rnn"), dict(attention="mlp", bidirectional=True),
            dict(attention="mlp", cell="lstm", bidirectional=True, num_layers=2)]


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_shapes_and_attention_ignores_source_padding(kw):
    m = _model(**kw)
    src, lengths, tgt_in = _batch()
    logits, w = m(src, lengths, tgt_in, return_attention=True)
    assert logits.shape == (4, 5, V) and torch.isfinite(logits).all()
    if kw["attention"] is None:
        assert w is None
        return
    assert w.shape == (4, 5, 7)
    torch.testing.assert_close(w.sum(-1), torch.ones(4, 5, dtype=torch.float64))
    pad = (torch.arange(7)[None] >= lengths[:, None])[:, None, :].expand_as(w)
    assert bool((w[pad] == 0).all())
    # more padding changes nothing
    longer = torch.cat([src, torch.zeros(4, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(m(longer, lengths, tgt_in), logits)


def test_bidirectional_final_state_concatenates_both_directions():
    torch.manual_seed(0)
    enc = RecurrentEncoder(vocab_size=V, embedding_dim=5, hidden_size=3, cell="gru", bidirectional=True).double()
    src, lengths, _ = _batch()
    out, h = enc(src, lengths)
    assert h.shape == (1, 4, 6)
    last = out[torch.arange(4), lengths - 1]  # forward direction ends at the last real step
    torch.testing.assert_close(h[0, :, :3], last[:, :3])
    torch.testing.assert_close(h[0, :, 3:], out[:, 0, 3:])  # backward direction ends at step 0


def test_teacher_forced_logits_are_the_step_function_fed_the_truth():
    m = _model(attention="mlp", cell="lstm")
    src, lengths, tgt_in = _batch()
    logits = m(src, lengths, tgt_in)
    state = m.encode(src, lengths)
    for t in range(tgt_in.shape[1]):
        lp, state = m.step(tgt_in[:, t], state)
        torch.testing.assert_close(lp, logits[:, t].log_softmax(-1))


def test_zero_teacher_forcing_runs_free_like_greedy_decoding():
    m = _model(attention="general")
    src, lengths, tgt_in = _batch()
    free = m(src, lengths, tgt_in, teacher_forcing=0.0).argmax(-1)
    greedy = m.generate(src, lengths, max_length=5).tokens
    for b in range(4):
        row = greedy[b].tolist()
        n = row.index(EOS) + 1 if EOS in row else len(row)
        assert free[b, :n].tolist() == row[:n]


def test_partial_teacher_forcing_mixes_truth_and_predictions():
    m = _model(attention="dot")
    src, lengths, tgt_in = _batch()
    full = m(src, lengths, tgt_in)
    torch.manual_seed(1)
    mixed = m(src, lengths, tgt_in, teacher_forcing=0.5)
    torch.testing.assert_close(mixed[:, 0], full[:, 0])  # step 0 always reads <sos>
    assert not torch.allclose(mixed, full)


def test_beam_width_one_is_greedy_and_beams_score_at_least_as_high():
    m = _model(attention="mlp", bidirectional=True)
    src, lengths, _ = _batch()
    g = m.generate(src, lengths, max_length=6)
    b1 = m.generate(src, lengths, max_length=6, beam_width=1)
    b4 = m.generate(src, lengths, max_length=6, beam_width=4)
    assert torch.equal(g.tokens, b1.tokens)
    assert bool((b4.log_prob >= g.log_prob - 1e-9).all())


def test_registered_builder_and_gradients_reach_every_parameter():
    for attention in (None, "dot", "general", "concat", "mlp"):
        m = an2dl.get_model("seq2seq_rnn", attention=attention, hidden_size=8, embedding_dim=4)
        src, lengths, tgt_in = an2dl.models.example_inputs("seq2seq_rnn", 3)
        m(src, lengths, tgt_in).sum().backward()
        for name, p in m.named_parameters():
            assert p.grad is not None, (attention, name)


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="cell must be one of rnn, lstm, gru; got 'tcn'"):
        EncoderDecoder(src_vocab_size=V, tgt_vocab_size=V, cell="tcn")
    with pytest.raises(ConfigError, match="attention must be None or one of"):
        EncoderDecoder(src_vocab_size=V, tgt_vocab_size=V, attention="cosine")
    with pytest.raises(ConfigError, match="hidden_size must be a positive integer; got 0"):
        EncoderDecoder(src_vocab_size=V, tgt_vocab_size=V, hidden_size=0)
    m = _model()
    src, lengths, tgt_in = _batch()
    with pytest.raises(ValueError, match=r"src ids must lie in \[0, 11\]"):
        m(src + 20, lengths, tgt_in)
    with pytest.raises(ValueError, match="tgt_in must be integer token ids"):
        m(src, lengths, tgt_in.double())
    with pytest.raises(ValueError, match="teacher_forcing must be a ratio in"):
        m(src, lengths, tgt_in, teacher_forcing=1.5)
    with pytest.raises(ValueError, match="beam_width must be a positive integer"):
        m.generate(src, lengths, max_length=3, beam_width=0)
