"""The hierarchical recurrent attention network of a multi-turn chatbot (notes §4.3.1; Xing et al. 2017)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.models.seq2seq.hierarchical import split_utterances

SEP = 4


def _contexts():
    # row 0: three utterances of 3, 2 and 4 words; row 1: one of 2 words (two padded utterances in the batch)
    src = torch.tensor([[5, 6, 7, SEP, 8, 9, SEP, 10, 11, 12, 13],
                        [7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    return src, torch.tensor([11, 2])


def test_the_context_is_cut_at_the_separator():
    words, lengths = split_utterances(*_contexts(), SEP)
    assert lengths.tolist() == [[3, 2, 4], [2, 0, 0]]
    assert words[0].tolist() == [[5, 6, 7, 0], [8, 9, 0, 0], [10, 11, 12, 13]]
    assert words[1, 0].tolist() == [7, 8, 0, 0] and not bool(words[1, 1:].any())
    with pytest.raises(ValueError, match="holds no word outside the separator"):
        split_utterances(torch.tensor([[SEP, SEP]]), torch.tensor([2]), SEP)


def test_weights_sum_to_one_at_both_levels_and_are_zero_on_padding():
    torch.manual_seed(0)
    model = get_model("hran", hidden_size=16, embedding_dim=8)
    state = model.encode(*_contexts())
    context, alpha, beta = model.attend(torch.randn(2, 16), state)
    assert context.shape == (2, 16) and alpha.shape == (2, 3, 4) and beta.shape == (2, 3)
    real_words, real_utterances = state["word_mask"], state["utterance_mask"]
    assert torch.allclose(beta.sum(-1), torch.ones(2))
    assert torch.allclose(alpha.sum(-1)[real_utterances], torch.ones(4))
    assert bool((alpha[~real_words] == 0).all()) and bool((beta[~real_utterances] == 0).all())
    assert int((~real_words).sum()) == 3 + 4 + 4 + 2 and int((~real_utterances).sum()) == 2
    assert bool((alpha[real_words] > 0).all())


def test_padding_added_to_the_context_changes_no_output():
    torch.manual_seed(0)
    model = get_model("hran", hidden_size=16, embedding_dim=8).eval()
    src, lengths = _contexts()
    tgt_in = torch.tensor([[2, 5, 6, 7], [2, 8, 9, 10]])
    with torch.no_grad():
        batch = model(src, lengths, tgt_in)
        for b in range(2):  # alone, row 1 has no padded utterance and row 0 no padded word
            alone = model(src[b:b + 1, : int(lengths[b])], lengths[b:b + 1], tgt_in[b:b + 1])
            assert torch.allclose(batch[b:b + 1], alone, atol=1e-5)
        words, word_lengths = split_utterances(src, lengths, SEP)
        state = model.encode_utterances(words, word_lengths)
        padded = model.encode_utterances(F.pad(words, (0, 3, 0, 2)), F.pad(word_lengths, (0, 2)))  # [2, 5, 7]
        s = torch.randn(2, 16)
        c, alpha, beta = model.attend(s, state)
        c2, alpha2, beta2 = model.attend(s, padded)
        assert torch.allclose(c, c2, atol=1e-6) and torch.allclose(beta, beta2[:, :3], atol=1e-6)
        assert torch.allclose(alpha, alpha2[:, :3, :4], atol=1e-6)
        assert not bool(alpha2[:, 3:].any()) and not bool(alpha2[..., 4:].any()) and not bool(beta2[:, 3:].any())
        assert torch.allclose(state["h"], padded["h"], atol=1e-6)
        # decoding: beam search of width 1 is greedy decoding
        greedy = model.generate(src, lengths, max_length=5)
        beam = model.generate(src, lengths, max_length=5, beam_width=1)
        assert torch.equal(greedy.tokens, beam.tokens)
        assert model.generate(src, lengths, max_length=5, beam_width=3).tokens.shape[0] == 2


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match=r"separator must be a token id in \[0, 14\); got 20"):
        get_model("hran", separator=20)
    with pytest.raises(ValueError, match="real utterances first"):
        get_model("hran").encode_utterances(torch.ones(1, 2, 3, dtype=torch.long), torch.tensor([[0, 3]]))
