import pytest
import torch
from torch import nn

import an2dl
from an2dl.errors import ConfigError
from an2dl.models import summary
from an2dl.models.summary import (
    count_flops,
    count_parameters,
    format_count,
    registry_table,
    summarize,
    summarize_registered,
)
from an2dl.registry import Registry


@pytest.mark.parametrize(
    "c_in, n_f, k, stride, padding, groups, size",
    [(3, 8, 3, 1, 1, 1, 16), (4, 6, 5, 2, 0, 2, 21), (16, 16, 3, 1, 1, 16, 9), (1, 2, (3, 1), 1, 0, 1, 7)],
)
def test_conv_flops_by_hand(c_in, n_f, k, stride, padding, groups, size):
    conv = nn.Conv2d(c_in, n_f, k, stride=stride, padding=padding, groups=groups)
    kh, kw = (k, k) if isinstance(k, int) else k
    out_h = (size + 2 * padding - kh) // stride + 1
    out_w = (size + 2 * padding - kw) // stride + 1
    batch = 3
    expected = 2 * batch * out_h * out_w * n_f * (c_in // groups) * kh * kw
    assert count_flops(conv, torch.rand(batch, c_in, size, size)) == expected


def test_linear_flops_by_hand_and_on_meta():
    with torch.device("meta"):
        lin = nn.Linear(100, 7)
        x = torch.empty(5, 100)
    assert count_flops(lin, x) == 2 * 5 * 100 * 7


def test_summary_rows_shapes_params_and_flops():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)
    )
    s = summarize(model, torch.rand(2, 3, 16, 16))
    names = [r.name for r in s.rows()]
    assert names == ["0", "1", "2", "3", "4"]
    conv, pool, lin = s.layers[0], s.layers[2], s.layers[4]
    assert conv.output_shape == [2, 8, 16, 16] and pool.output_shape == [2, 8, 8, 8]
    # notes §3.3.1: (h_r * h_c * c) * n_f + n_f
    assert conv.params == (3 * 3 * 3) * 8 + 8
    assert lin.params == 512 * 10 + 10
    assert conv.flops == 2 * 2 * 16 * 16 * 8 * 3 * 9
    assert lin.flops == 2 * 2 * 512 * 10
    assert s.flops == conv.flops + lin.flops
    assert s.macs == s.flops // 2 and s.flops_per_sample == s.flops / 2
    assert s.total_params == count_parameters(model)
    text = s.table()
    assert "Conv2d" in text and "[2, 8, 16, 16]" in text and f"{s.total_params:,}" in text
    assert model.training  # mode restored


def test_nested_modules_and_depth():
    model = an2dl.get_model("lenet5")
    s = summarize(model, torch.rand(1, 1, 32, 32))
    top = s.rows(depth=1)
    assert [r.name for r in top] == ["features", "pre_logits", "classifier"]
    assert sum(r.params for r in top) == 61706
    assert sum(r.flops for r in top) == s.flops


def test_summarize_registered_on_meta_matches_cpu():
    meta = summarize_registered("lenet5")
    cpu = summarize_registered("lenet5", device="cpu", batch_size=2)
    assert meta.total_params == cpu.total_params == 61706
    assert meta.flops * 2 == cpu.flops
    # by hand: C1, C3, C5, F6, output
    per_sample = 2 * (28 * 28 * 6 * 25 + 10 * 10 * 16 * 6 * 25 + 120 * 16 * 25 + 120 * 84 + 84 * 10)
    assert meta.flops == per_sample


def test_registry_table_shows_params_and_flops():
    rows = registry_table("lenet5")
    assert rows[0][:3] == ("lenet5", "61,706 params", f"{format_count(833040)} FLOPs")


class _NeedsValues(nn.Module):
    """Data-dependent control flow: cannot run on the meta device."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if x.sum().item() > -1:
            return self.fc(x)
        return x


def test_registry_table_falls_back_to_cpu(monkeypatch):
    reg = Registry("model")

    def needs_values():
        """A model that reads tensor values."""
        return _NeedsValues()

    def broken(*, width):
        """Needs an argument."""
        return nn.Linear(width, 1)

    reg.add("needs_values", needs_values)
    reg.add("broken", broken)
    monkeypatch.setattr(summary, "MODELS", reg)
    monkeypatch.setattr(summary, "example_inputs", lambda name, b, generator=None: (torch.rand(b, 4),))
    rows = dict((r[0], r[1:]) for r in registry_table())
    assert rows["needs_values"][:2] == ("10 params", "16 FLOPs")
    assert rows["broken"][0] == "(TypeError)"


def test_format_count():
    assert format_count(999) == "999"
    assert format_count(1234567) == "1.23M"
    assert format_count(4.1e9, "FLOPs") == "4.1GFLOPs"
    assert format_count(None) == "?"


def test_bad_arguments():
    with pytest.raises(TypeError, match="summarize expects an nn.Module"):
        summarize(lambda x: x, torch.rand(1))
    with pytest.raises(ConfigError, match="device must be 'meta' or 'cpu'"):
        summarize_registered("lenet5", device="cuda:7")
    with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
        summarize_registered("lenet5", batch_size=0)
