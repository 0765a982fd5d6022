"""Sequence models: delay-tap predictors, recurrent classifier and regressor, character language model."""

import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.models import example_inputs, get_model
from an2dl.models.sequence.char_lm import CharLanguageModel
from an2dl.models.sequence.memoryless import DelayTapLinear


def test_delay_tap_linear_is_an_autoregressive_sum():
    model = DelayTapLinear(window=3, input_size=2, output_size=1)
    x = torch.randn(4, 3, 2)
    w, b = model.linear.weight.view(3, 2), model.linear.bias
    expected = (x * w).sum(dim=(1, 2)) + b
    assert torch.allclose(model(x)[:, 0], expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[B, window=3, input_size=2\]; got \[4, 4, 2\]"):
        model(torch.randn(4, 4, 2))


def test_delay_tap_mlp_shapes_and_errors():
    model = get_model("delay_tap_mlp", window=5, output_size=3, hidden_sizes=[8], activation="relu")
    assert model(torch.randn(2, 5, 1)).shape == (2, 3)
    with pytest.raises(ConfigError, match="activation must be one of"):
        get_model("delay_tap_mlp", activation="gelu")
    with pytest.raises(ConfigError, match="at least one hidden layer"):
        get_model("delay_tap_mlp", hidden_sizes=[])
    with pytest.raises(ConfigError, match="window must be a positive integer"):
        get_model("delay_tap_linear", window=0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_last_pooling_reads_each_sequence_at_its_own_end(bidirectional):
    torch.manual_seed(0)
    model = get_model("recurrent_classifier", hidden_size=6, bidirectional=bidirectional).eval()
    tokens, lengths = example_inputs("recurrent_classifier", 3)
    assert lengths.tolist() == [12, 7, 2]
    features = model.forward_features(tokens, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone = model.forward_features(tokens[b:b + 1, :n])
        assert torch.allclose(features[b:b + 1], alone, atol=1e-6)
    assert torch.equal(model.forward_head(features), model(tokens, lengths))
    model.reset_classifier(7)
    assert model(tokens, lengths).shape == (3, 7)


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_classifier_mean_and_max_pooling_ignore_padding(pooling):
    torch.manual_seed(1)
    model = get_model("recurrent_classifier", vocab_size=None, input_size=2, hidden_size=5, pooling=pooling).eval()
    x = torch.randn(2, 6, 2)
    lengths = torch.tensor([6, 3])
    padded = x.clone()
    padded[1, 3:] = 100.0  # whatever lies in the padding must not matter
    a, b = model.forward_features(x, lengths), model.forward_features(padded, lengths)
    assert torch.allclose(a, b)
    assert torch.allclose(a[1:], model.forward_features(x[1:, :3]), atol=1e-6)


def test_classifier_and_regressor_bad_arguments():
    with pytest.raises(ConfigError, match="exactly one of input_size"):
        get_model("recurrent_classifier", vocab_size=None)
    with pytest.raises(ConfigError, match="pooling must be one of"):
        get_model("recurrent_classifier", pooling="attention")
    with pytest.raises(ConfigError, match="cell must be one of"):
        get_model("recurrent_classifier", cell="transformer")
    with pytest.raises(ValueError, match=r"token ids of shape \[B, T\]"):
        get_model("recurrent_classifier")(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match=r"features of shape \[B, T, input_size=1\]"):
        get_model("recurrent_regressor")(torch.randn(2, 5))
    with pytest.raises(ConfigError, match="dropout acts between stacked layers"):
        get_model("recurrent_regressor", dropout=0.2)


def test_regressor_many_to_one_and_per_step():
    torch.manual_seed(2)
    x = torch.randn(3, 7, 1)
    many_to_one = get_model("recurrent_regressor", output_size=2, cell="gru", num_layers=2, dropout=0.1).eval()
    per_step = get_model("recurrent_regressor", output_size=2, cell="gru", num_layers=2, per_step=True)
    per_step.load_state_dict(many_to_one.state_dict())
    per_step.eval()
    assert many_to_one(x).shape == (3, 2) and per_step(x).shape == (3, 7, 2)
    # unidirectional: the top layer's output at the last step is its final state
    assert torch.allclose(per_step(x)[:, -1], many_to_one(x), atol=1e-6)


def test_char_lm_state_carrying_is_exact_and_generation_reproducible():
    torch.manual_seed(3)
    model = CharLanguageModel(vocab_size=11, embedding_dim=4, hidden_size=8, num_layers=2, dropout=0.1).eval()
    tokens = torch.randint(0, 11, (2, 9))
    whole = model(tokens)
    first, state = model(tokens[:, :4], return_state=True)
    second = model(tokens[:, 4:], state)
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-6)
    model.train()
    prompt = tokens[:, :3]
    a = model.generate(prompt, 10, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(0))
    b = model.generate(prompt, 10, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(0))
    assert model.training  # the mode is restored
    assert a.shape == (2, 13) and torch.equal(a, b) and torch.equal(a[:, :3], prompt)
    greedy = model.generate(prompt, 4, temperature=0)
    model.eval()
    expected = prompt
    for _ in range(4):
        expected = torch.cat([expected, model(expected)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(greedy, expected)


def test_char_lm_top_k_one_is_greedy_and_bad_arguments():
    torch.manual_seed(4)
    model = get_model("char_rnn", cell="rnn", vocab_size=9, hidden_size=6, num_layers=1)
    prompt = torch.randint(0, 9, (1, 2))
    assert torch.equal(model.generate(prompt, 5, top_k=1), model.generate(prompt, 5, temperature=0))
    with pytest.raises(ValueError, match=r"token ids of shape \[B, T\]"):
        model(torch.randn(1, 4))
    with pytest.raises(ValueError, match="at least one token"):
        model.generate(prompt[:, :0], 3)
    with pytest.raises(ConfigError, match="top_k"):
        model.generate(prompt, 3, top_k=10)
    with pytest.raises(ConfigError, match="temperature"):
        model.generate(prompt, 3, temperature=-1.0)
