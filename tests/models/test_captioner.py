"""The image captioner (notes §4.3, Show, Attend and Tell): attention over the feature map's positions."""

from __future__ import annotations

import pytest
import torch

import an2dl
from an2dl.errors import ConfigError
from an2dl.tasks.seq2seq import shift_right


def test_attention_weights_cover_the_feature_map_and_decoding_follows_the_contract():
    torch.manual_seed(0)
    model = an2dl.get_model("caption_rnn", vocab_size=12, channels=(4, 8), hidden_size=16).eval()
    images = torch.rand(3, 3, 32, 32)
    tgt = torch.randint(4, 12, (3, 5))
    logits, weights = model(images, torch.ones(3), shift_right(tgt), return_attention=True)
    assert logits.shape == (3, 5, 12) and weights.shape == (3, 5, 8 * 8)  # two poolings: 32 -> 8
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))
    # the annotation vectors are the projected feature map, position by position (row-major)
    keys, (h, w) = model.annotations(images)
    fmap = model.cnn(images)
    torch.testing.assert_close(keys[:, 1 * w + 2], torch.relu(model.project(fmap[:, :, 1, 2])))
    out = model.generate(images, torch.ones(3), max_length=6)
    assert out.tokens.shape[0] == 3 and out.tokens.shape[1] <= 6
    # decoding greedily equals stepping the decoder by hand on the argmax
    state = model.encode(images[:1])
    tokens, by_hand = torch.tensor([2]), []
    for _ in range(out.lengths[0]):
        log_p, state = model.step(tokens, state)
        tokens = log_p.argmax(-1)
        by_hand.append(int(tokens))
    assert by_hand == out.tokens[0, : out.lengths[0]].tolist()


def test_without_attention_the_decoder_sees_only_the_initial_state():
    torch.manual_seed(0)
    model = an2dl.get_model("caption_rnn", vocab_size=12, channels=(4,), hidden_size=8, attention=None).eval()
    images = torch.rand(2, 3, 16, 16)
    _, weights = model(images, torch.ones(2), torch.full((2, 3), 2), return_attention=True)
    assert weights is None
    state = model.encode(images)
    torch.testing.assert_close(state["h"][:, 0], torch.tanh(model.init_h(state["keys"].mean(1))))


def test_bad_inputs_are_named():
    with pytest.raises(ConfigError, match="vocab_size must be a positive integer; got 0"):
        an2dl.get_model("caption_rnn", vocab_size=0)
    model = an2dl.get_model("caption_rnn", vocab_size=12)
    with pytest.raises(ValueError, match=r"reads images \[B, 3, H, W\]; got \[2, 1, 16, 16\]"):
        model(torch.rand(2, 1, 16, 16), torch.ones(2), torch.full((2, 3), 2))
