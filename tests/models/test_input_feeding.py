"""Luong's input feeding (Luong et al. 2015, §3.3): h̃_{t−1} joins the next decoder input."""

from __future__ import annotations

import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.models.seq2seq.encoder_decoder import _example


def test_off_is_the_luong_decoder_as_before():
    torch.manual_seed(0)
    model = get_model("seq2seq_rnn", attention="general", input_feeding=False).eval()
    torch.manual_seed(0)
    default = get_model("seq2seq_rnn", attention="general").eval()
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in default.state_dict().items()}
    src, lengths, tgt_in = _example(2)
    with torch.no_grad():
        logits = model(src, lengths, tgt_in)
        assert torch.equal(logits, default(src, lengths, tgt_in))
        # by hand: h_t = GRU(E y_{t-1}, h_{t-1}), c_t = attention(h_t), h̃_t = tanh(W_c [c_t; h_t]), W_o h̃_t
        d, state = model.decoder, model.encode(src, lengths)
        h = state["h"].transpose(0, 1).contiguous()
        for t in range(tgt_in.shape[1]):
            out, h = d.rnn(d.embedding(tgt_in[:, t])[:, None], h)
            context, _ = d.attention(out[:, 0], state["keys"], mask=state["mask"])
            expected = d.out(torch.tanh(d.combine.W_c(torch.cat([context, out[:, 0]], dim=-1))))
            assert torch.allclose(logits[:, t], expected, atol=1e-6)


def test_on_the_input_grows_and_the_gradient_reaches_the_previous_attention():
    torch.manual_seed(0)
    on = get_model("seq2seq_rnn", attention="dot", input_feeding=True, embedding_dim=32, hidden_size=64)
    off = get_model("seq2seq_rnn", attention="dot", embedding_dim=32, hidden_size=64)
    assert on.decoder.rnn.input_size == off.decoder.rnn.input_size + 64 == 32 + 64
    src, lengths, tgt_in = _example(2)
    for model, reaches in ((on, True), (off, False)):
        d, state = model.decoder, model.encode(src, lengths)
        h = state["h"].transpose(0, 1).contiguous()
        _, h, _, attentional = d.step(tgt_in[:, 0], h, state["keys"], state["mask"])  # h̃_0
        attentional.retain_grad()
        logits, _, _, _ = d.step(tgt_in[:, 1], h.detach(), state["keys"], state["mask"], attentional)
        logits.sum().backward()
        got = attentional.grad is not None and bool(attentional.grad.abs().sum() > 0)
        assert got == reaches
    # the model's own loop carries h̃ between steps: its step 1 is the step above, fed h̃_0
    with torch.no_grad():
        state = on.encode(src, lengths)
        h = state["h"].transpose(0, 1).contiguous()
        _, h, _, a0 = on.decoder.step(tgt_in[:, 0], h, state["keys"], state["mask"])
        step1, _, _, _ = on.decoder.step(tgt_in[:, 1], h, state["keys"], state["mask"], a0)
        assert torch.allclose(on(src, lengths, tgt_in)[:, 1], step1, atol=1e-6)
    assert on.generate(src, lengths, max_length=5, beam_width=2).tokens.shape[0] == 2


@pytest.mark.parametrize("attention", [None, "mlp"])
def test_input_feeding_needs_luong_attention(attention):
    with pytest.raises(ConfigError, match="input_feeding feeds Luong's attentional vector"):
        get_model("seq2seq_rnn", attention=attention, input_feeding=True)
