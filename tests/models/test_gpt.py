"""The decoder-only GPT and the encoder–decoder ``transformer`` models (notes §4.4)."""

from __future__ import annotations

import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.models import get_model


def _gpt(**kw):
    torch.manual_seed(0)
    args = {"vocab_size": 20, "max_len": 12, "d_model": 16, "num_heads": 4, "num_layers": 2, **kw}
    return get_model("gpt", **args).double().eval()


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_gpt_cached_steps_equal_the_parallel_forward(positional):
    model = _gpt(positional=positional)
    x = torch.randint(0, 20, (2, 12), generator=torch.Generator().manual_seed(1))
    full = model(x)
    logits, past = model.step(x[:, :5])
    outs = [logits]
    for t in range(5, 12):
        logits, past = model.step(x[:, t:t + 1], past)
        outs.append(logits)
    assert torch.allclose(torch.cat(outs, dim=1), full, atol=1e-12)


def test_gpt_is_causal_a_later_token_does_not_change_earlier_logits():
    model = _gpt()
    x = torch.randint(0, 20, (1, 10), generator=torch.Generator().manual_seed(2))
    y = x.clone()
    y[0, 6] = (y[0, 6] + 1) % 20
    a, b = model(x), model(y)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-12) and not torch.allclose(a[:, 6:], b[:, 6:])


def test_gpt_generation_slides_the_window_past_max_len_and_greedy_equals_argmax():
    model = _gpt()
    prompt = torch.randint(0, 20, (2, 3), generator=torch.Generator().manual_seed(3))
    out = model.generate(prompt, 20, temperature=0.0)
    assert out.shape == (2, 23) and torch.equal(out[:, :3], prompt)
    for t in range(3, 23):  # every greedy token is the argmax of the forward on the last max_len tokens
        ctx = out[:, max(0, t - 12):t]
        assert torch.equal(model(ctx)[:, -1].argmax(-1), out[:, t])
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(model.generate(prompt, 8, temperature=0.8, top_k=5, generator=g1),
                       model.generate(prompt, 8, temperature=0.8, top_k=5, generator=g2))


def test_gpt_weight_tying_stores_the_matrix_once_and_attention_maps_are_causal():
    tied, untied = _gpt(), _gpt(tie_weights=False)
    assert "head.weight" not in tied.state_dict() and "head.weight" in untied.state_dict()
    n_tied = sum(p.numel() for p in tied.parameters())
    assert sum(p.numel() for p in untied.parameters()) - n_tied == 20 * 16
    maps = tied.attention_maps(torch.randint(0, 20, (1, 7)))
    assert maps.shape == (2, 1, 4, 7, 7)
    assert torch.allclose(maps.sum(-1), torch.ones((), dtype=maps.dtype))
    assert (maps.triu(diagonal=1) == 0).all()


def test_gpt_exports_and_loads_without_pickle(tmp_path):
    import an2dl
    from an2dl.export import export

    model = get_model("gpt", vocab_size=20, max_len=12, d_model=16, num_heads=2, num_layers=1)
    export(model, tmp_path / "m", task="language_model")
    loaded = an2dl.load(tmp_path / "m").eval()
    x = torch.randint(0, 20, (1, 6))
    assert torch.allclose(loaded(x), model.eval()(x))


def test_gpt_and_transformer_bad_input():
    with pytest.raises(ConfigError, match=r"d_model must be divisible by num_heads.*d_model=30, num_heads=4"):
        get_model("gpt", d_model=30, num_heads=4)
    with pytest.raises(ConfigError, match=r"d_model must be divisible by num_heads.*d_model=10, num_heads=4"):
        get_model("transformer", d_model=10, num_heads=4)
    with pytest.raises(ConfigError, match="positional must be one of"):
        get_model("gpt", positional="rotary")
    model = _gpt()
    with pytest.raises(ValueError, match=r"max_len=12 .*position 13"):
        model(torch.zeros(1, 13, dtype=torch.long))
    with pytest.raises(ValueError, match=r"tokens.*\[0, 20\)|tokens.*20"):
        model(torch.full((1, 3), 25))
    with pytest.raises(ValueError, match=r"token ids of shape \[B, T\]"):
        model(torch.zeros(1, 3))
    s2s = get_model("transformer")
    with pytest.raises(ConfigError, match="teacher_forcing must be 1.0"):
        s2s(torch.ones(1, 3, dtype=torch.long), torch.tensor([3]), torch.ones(1, 2, dtype=torch.long),
            teacher_forcing=0.5)
