"""Bengio et al.'s (2003) NNLM (notes §4.2.4): shapes, the shared projection C, the paper's parameter count."""

from __future__ import annotations

import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.models.language import NNLM, nnlm_parameter_count


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("V, n, m, h", [(100, 5, 60, 50), (37, 2, 8, 3), (1000, 3, 30, 100)])
def test_parameter_count_is_the_papers_formula(direct, V, n, m, h):
    model = NNLM(vocab_size=V, context_size=n - 1, embedding_dim=m, hidden_size=h, direct=direct)
    count = sum(p.numel() for p in model.parameters())
    paper = V * (1 + n * m + h) + h * (1 + (n - 1) * m) if direct else V * (1 + m + h) + h * (1 + (n - 1) * m)
    assert count == paper == nnlm_parameter_count(V, n, m, h, direct=direct)


def test_shapes_and_softmax():
    model = NNLM(vocab_size=50, context_size=3, embedding_dim=6, hidden_size=7)
    x = torch.randint(0, 50, (4, 3))
    y = model(x)
    assert y.shape == (4, 50)
    assert torch.allclose(y.softmax(-1).sum(-1), torch.ones(4))
    seq = NNLM(vocab_size=50, context_size=3, embedding_dim=6, hidden_size=7, sequence_output=True)
    seq.load_state_dict(model.state_dict())
    assert torch.equal(seq(x), y.unsqueeze(1))


def test_equation_and_shared_projection():
    """y = b + W x + U tanh(d + H x), x the concatenated rows of the one matrix C."""
    torch.manual_seed(0)
    model = NNLM(vocab_size=20, context_size=3, embedding_dim=4, hidden_size=5).double()
    ctx = torch.tensor([[1, 2, 3], [3, 3, 0]])
    C = model.C.weight
    x = torch.cat([C[ctx[:, 0]], C[ctx[:, 1]], C[ctx[:, 2]]], dim=1)
    expected = model.U.bias + x @ model.W.weight.T + torch.tanh(model.H.bias + x @ model.H.weight.T) @ model.U.weight.T
    assert torch.allclose(model(ctx), expected, atol=1e-12)
    # one parameter C serves every context position: the same word gives the same projection anywhere
    assert [n for n, _ in model.named_parameters() if n.startswith("C")] == ["C.weight"]
    model(torch.tensor([[7, 8, 9]])).sum().backward()
    rows = model.C.weight.grad.abs().sum(1).nonzero().flatten().tolist()
    assert rows == [7, 8, 9]  # each position's gradient lands in the one shared matrix


def test_direct_connections_change_the_function():
    torch.manual_seed(0)
    a = NNLM(vocab_size=10, context_size=2, embedding_dim=3, hidden_size=4, direct=True)
    b = NNLM(vocab_size=10, context_size=2, embedding_dim=3, hidden_size=4, direct=False)
    assert b.W is None
    b.load_state_dict({k: v for k, v in a.state_dict().items() if not k.startswith("W.")})
    x = torch.randint(0, 10, (5, 2))
    assert torch.allclose(a(x) - b(x), a.W(a.C(x).reshape(5, -1)), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(vocab_size=0), "vocab_size"), (dict(vocab_size=10, context_size=0), "context_size"),
    (dict(vocab_size=10, embedding_dim=-1), "embedding_dim"), (dict(vocab_size=10, hidden_size=0), "hidden_size"),
    (dict(vocab_size=10, dropout=1.0), "dropout"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        NNLM(**kwargs)


def test_bad_inputs():
    model = NNLM(vocab_size=10, context_size=2)
    with pytest.raises(ValueError, match=r"context must be int64 ids \[B, 2\]; got shape \[3, 4\]"):
        model(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="integer ids"):
        model(torch.zeros(3, 2))


def test_generate_reads_the_last_n_minus_1_words_and_restarts_after_the_end_of_a_sentence():
    """Greedy generation equals the argmax of P(w | the last n - 1 words), the context padded with <s> as in
    training and reset to <s> x (n - 1) after </s>."""
    from an2dl.data.text.specials import EOS, SOS

    torch.manual_seed(0)
    model = NNLM(vocab_size=12, context_size=3, embedding_dim=4, hidden_size=5)
    with torch.no_grad():
        model.U.bias[EOS] += 1.2  # make sentences end now and then
    prompt = torch.tensor([[7, 5]])
    out = model.generate(prompt, 15, temperature=0)
    context, expected, ended = [SOS, 7, 5], [], 0
    for _ in range(15):
        nxt = int(model(torch.tensor([context])).argmax())
        expected.append(nxt)
        context = [SOS] * 3 if nxt == EOS else context[1:] + [nxt]
        ended += nxt == EOS
    assert out[0].tolist() == [7, 5, *expected] and ended >= 1
    sampled = model.generate(torch.zeros(2, 0, dtype=torch.long), 6, top_k=3, generator=torch.Generator().manual_seed(1))
    assert sampled.shape == (2, 6) and model.training
    again = model.generate(torch.zeros(2, 0, dtype=torch.long), 6, top_k=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(sampled, again)
    with pytest.raises(ConfigError, match="top_k must be an integer in \\[1, 12\\]"):
        model.generate(prompt, 2, top_k=13)

