"""The segmentation benchmark's measuring code on a tiny configuration (the full run is `an2dl bench segmentation`)."""

from __future__ import annotations

import torch

from an2dl.bench import BENCHMARKS
from an2dl.bench.segmentation import saved_activation_bytes, unet_training
from an2dl.models import get_model


def test_segmentation_benchmark_reports_throughput_memory_and_the_channels_last_ratio(capsys):
    assert "segmentation" in BENCHMARKS
    result = unet_training((16, 32), base_channels=2, depth=2, batch_size=1, steps=1, repeats=1, warmup=0)
    for side in (16, 32):
        row = result[side]
        assert row["default"] > 0 and row["channels_last"] > 0
        assert row["channels_last_ratio"] == row["channels_last"] / row["default"]
    # saved activations grow with the image: 4x the pixels, about 4x the bytes (parameters and gradients aside)
    fixed = 2 * 4 * sum(p.numel() for p in get_model("unet", base_channels=2, depth=2, padding="same").parameters())
    assert 3 < (result[32]["peak_bytes"] - fixed) / (result[16]["peak_bytes"] - fixed) < 4.5
    out = capsys.readouterr().out
    assert "channels_last" in out and "img/s" in out and "MiB" in out


def test_saved_activation_bytes_counts_what_backward_keeps():
    net = get_model("unet", base_channels=2, depth=1, padding="same")
    x, y = torch.rand(1, 1, 8, 8), torch.randint(0, 2, (1, 8, 8))
    params = sum(p.numel() * 4 for p in net.parameters())
    n = saved_activation_bytes(net, x, y)
    assert n > 2 * params  # the feature maps saved for backward come on top of parameters and gradients
    assert all(p.grad is None for p in net.parameters())
