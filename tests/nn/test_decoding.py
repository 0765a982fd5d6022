"""Greedy and beam-search decoding (§4.2): width 1 is greedy, beam >= greedy, beam = exhaustive search."""

from __future__ import annotations

import itertools

import pytest
import torch

from an2dl.data.text.specials import EOS, PAD, SOS
from an2dl.nn.decoding import beam_search, greedy_decode

V = 5  # <pad>, <unk>, <sos>, <eos>, one word


class RandomDecoder:
    """A tiny autoregressive model: the state is a hidden vector updated by the previous token.

    The state tensor has the batch on axis 0, as the step-function interface asks.
    """

    def __init__(self, seed, vocab=V, hidden=4):
        g = torch.Generator().manual_seed(seed)
        self.E = torch.randn(vocab, hidden, generator=g, dtype=torch.float64) * 2
        self.W = torch.randn(hidden, hidden, generator=g, dtype=torch.float64)
        self.O = torch.randn(hidden, vocab, generator=g, dtype=torch.float64) * 2
        self.bias = torch.zeros(vocab, dtype=torch.float64)
        self.bias[[SOS, PAD]] = -1e9  # never generate <sos> or <pad>

    def initial(self, batch, seed=0):
        return torch.randn(batch, self.W.shape[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    def step(self, tokens, h):
        h = torch.tanh(h @ self.W + self.E[tokens])
        return (h @ self.O + self.bias).log_softmax(-1), h

    def log_prob(self, h, seq):
        """log P of a full sequence (generated tokens, ending at <eos> or at max length) for one row."""
        total, prev = 0.0, SOS
        h = h[None]
        for tok in seq:
            lp, h = self.step(torch.tensor([prev]), h)
            total += float(lp[0, tok])
            prev = tok
        return total


def _trim(row):
    out = []
    for t in row.tolist():
        if t == PAD:
            break
        out.append(t)
    return out


def test_special_ids_match_the_vocabulary_conventions():
    import an2dl.nn.decoding as dec
    assert (dec._PAD, dec._SOS, dec._EOS) == (PAD, SOS, EOS)


@pytest.mark.parametrize("seed", range(5))
def test_width_one_is_greedy(seed):
    m = RandomDecoder(seed)
    h0 = m.initial(6, seed)
    g = greedy_decode(m.step, h0, batch_size=6, max_length=7)
    b = beam_search(m.step, h0, batch_size=6, beam_width=1, max_length=7)
    assert torch.equal(g.tokens, b.tokens[:, :g.tokens.shape[1]]) and torch.equal(g.lengths, b.lengths)
    torch.testing.assert_close(g.log_prob, b.log_prob)


@pytest.mark.parametrize("seed", range(20))
def test_beam_is_never_below_greedy(seed):
    m = RandomDecoder(seed)
    h0 = m.initial(8, seed)
    g = greedy_decode(m.step, h0, batch_size=8, max_length=6)
    for width in (2, 3, 5):
        b = beam_search(m.step, h0, batch_size=8, beam_width=width, max_length=6)
        assert bool((b.log_prob >= g.log_prob - 1e-9).all())


def test_log_probs_are_those_of_the_returned_sequences():
    m = RandomDecoder(1)
    h0 = m.initial(4)
    for result in (greedy_decode(m.step, h0, batch_size=4, max_length=6),
                   beam_search(m.step, h0, batch_size=4, beam_width=3, max_length=6, length_penalty=0.7)):
        for b in range(4):
            seq = _trim(result.tokens[b])
            assert len(seq) == int(result.lengths[b])
            assert abs(m.log_prob(h0[b], seq) - float(result.log_prob[b])) < 1e-9
            assert EOS not in seq[:-1]


def _exhaustive(m, h, max_length, alpha):
    """Every sequence of the real tokens that ends at <eos> or at max_length."""
    words = [t for t in range(V) if t not in (PAD, SOS)]
    best = (float("-inf"), None)
    for n in range(1, max_length + 1):
        for seq in itertools.product(words, repeat=n):
            if EOS in seq[:-1] or (n < max_length and seq[-1] != EOS):
                continue
            lp = m.log_prob(h, list(seq))
            score = lp / n ** alpha
            if score > best[0]:
                best = (score, list(seq))
    return best


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_beam_holding_every_sequence_is_exhaustive_search(alpha):
    m = RandomDecoder(3)
    h0 = m.initial(3, seed=3)
    L = 4  # 3 real tokens (<unk>, <eos>, word): at most 3^3 = 27 live prefixes
    b = beam_search(m.step, h0, batch_size=3, beam_width=V ** L, max_length=L, length_penalty=alpha)
    for row in range(3):
        score, seq = _exhaustive(m, h0[row], L, alpha)
        assert _trim(b.tokens[row]) == seq
        assert abs(float(b.score[row]) - score) < 1e-9


def test_early_stop_on_eos():
    calls = []

    def step(tokens, state):
        calls.append(1)
        lp = torch.full((tokens.shape[0], V), -10.0)
        lp[:, EOS] = -0.01
        return lp.log_softmax(-1), state

    b = beam_search(step, torch.zeros(2, 1), batch_size=2, beam_width=3, max_length=50)
    assert len(calls) == 1 and b.tokens.tolist() == [[EOS], [EOS]] and b.lengths.tolist() == [1, 1]
    calls.clear()
    g = greedy_decode(step, torch.zeros(2, 1), batch_size=2, max_length=50)
    assert len(calls) == 1 and g.tokens.tolist() == [[EOS], [EOS]]


def test_length_normalisation_prefers_longer_sequences():
    def step(tokens, state):  # <eos> now costs 1.0; one more word costs 0.6, then <eos> is certain
        lp = torch.full((tokens.shape[0], V), -30.0, dtype=torch.float64)
        first = tokens == SOS
        lp[first, EOS], lp[first, 4] = -1.0, -0.6
        lp[~first, EOS] = 0.0
        return lp, state

    short = beam_search(step, torch.zeros(1, 1), batch_size=1, beam_width=2, max_length=3, length_penalty=0.0)
    assert _trim(short.tokens[0]) == [4, EOS]  # -0.6 > -1.0 already
    def step2(tokens, state):
        lp = torch.full((tokens.shape[0], V), -30.0, dtype=torch.float64)
        first = tokens == SOS
        lp[first, EOS], lp[first, 4] = -1.0, -1.2
        lp[~first, EOS] = -0.2
        return lp, state

    plain = beam_search(step2, torch.zeros(1, 1), batch_size=1, beam_width=2, max_length=3, length_penalty=0.0)
    normed = beam_search(step2, torch.zeros(1, 1), batch_size=1, beam_width=2, max_length=3, length_penalty=1.0)
    assert _trim(plain.tokens[0]) == [EOS]  # -1.0 > -1.4
    assert _trim(normed.tokens[0]) == [4, EOS]  # -1.4 / 2 = -0.7 > -1.0
    assert abs(float(normed.score[0]) + 0.7) < 1e-12


def test_bad_arguments_are_named():
    m = RandomDecoder(0)
    with pytest.raises(ValueError, match="beam_width must be a positive integer .*; got 0"):
        beam_search(m.step, m.initial(2), batch_size=2, beam_width=0, max_length=3)
    with pytest.raises(ValueError, match="length_penalty"):
        beam_search(m.step, m.initial(2), batch_size=2, beam_width=2, max_length=3, length_penalty=-1)
    with pytest.raises(ValueError, match="max_length must be a positive integer; got 0"):
        greedy_decode(m.step, m.initial(2), batch_size=2, max_length=0)
    with pytest.raises(ValueError, match=r"log_probs \[N=2, V\]"):
        greedy_decode(lambda t, s: (torch.zeros(3, V), s), None, batch_size=2, max_length=2)
