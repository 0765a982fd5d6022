"""Zoo training throughput: forward + backward images/s, default vs channels-last vs ``torch.compile``.

For ResNet-18, MobileNet v2 and EfficientNet-B0 (notes §3.4.2) on 64×64
images: one training step is forward, cross-entropy, backward (gradients
zeroed each step; no optimiser, so that only the network is timed).  The
baseline is PyTorch's default contiguous (NCHW) layout in eager mode; the
candidates are the channels-last (NHWC) memory format and the model
compiled with ``torch.compile`` (Inductor).  Every figure is the best of
several timed repetitions after warm-up, measured in the same process.
Compilation needs a C++ compiler on CPU and takes a minute or more per
model; where it fails the row says why and the benchmark goes on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from . import register_benchmark

__all__ = ["zoo", "zoo_throughput", "train_step_throughput"]


def train_step_throughput(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, repeats: int = 3,
                          warmup: int = 2) -> float:
    """Images per second of forward + cross-entropy + backward on the batch ``(x, y)``, best of ``repeats``."""
    model.train()

    def step() -> None:
        for p in model.parameters():
            p.grad = None
        out = model(x)
        logits = out[0] if isinstance(out, tuple) else out
        F.cross_entropy(logits, y).backward()

    for _ in range(warmup):
        step()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, time.perf_counter() - t0)
    return steps * x.shape[0] / best


def zoo_throughput(
    models: Sequence[str] = ("resnet18", "mobilenet_v2", "efficientnet_b0"),
    *,
    size: int = 64,
    batch_size: int = 16,
    steps: int = 5,
    repeats: int = 3,
    compile: bool = True,
    device: str = "cpu",
) -> dict[str, dict[str, Any]]:
    """Measure every model in the three modes and print images/s and ratios to the default.

    Returns:
        ``{model: {"default": ips, "channels_last": ips, "compile": ips or None,
        "channels_last_ratio": r, "compile_ratio": r or None, "compile_error": str or None}}``.
    """
    from ..models import get_model

    results: dict[str, dict[str, Any]] = {}
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, 3, size, size, generator=g).to(device)
    y = torch.randint(0, 10, (batch_size,), generator=g).to(device)
    for name in models:
        torch.manual_seed(0)
        model = get_model(name, num_classes=10).to(device)
        row: dict[str, Any] = {"default": train_step_throughput(model, x, y, steps=steps, repeats=repeats)}
        cl_model = model.to(memory_format=torch.channels_last)
        cl_x = x.contiguous(memory_format=torch.channels_last)
        row["channels_last"] = train_step_throughput(cl_model, cl_x, y, steps=steps, repeats=repeats)
        model = model.to(memory_format=torch.contiguous_format)
        row["compile"], row["compile_error"], row["compile_seconds"] = None, None, None
        if compile:
            try:
                t0 = time.perf_counter()
                compiled = torch.compile(model)
                train_step_throughput(compiled, x, y, steps=1, repeats=1, warmup=1)  # compiles forward and backward
                row["compile_seconds"] = time.perf_counter() - t0
                row["compile"] = train_step_throughput(compiled, x, y, steps=steps, repeats=repeats)
            except Exception as e:  # a missing compiler or an unsupported operator: report and go on
                row["compile_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
        row["channels_last_ratio"] = row["channels_last"] / row["default"]
        row["compile_ratio"] = row["compile"] / row["default"] if row["compile"] else None
        results[name] = row
        comp = (f"compile {row['compile']:8.1f} img/s (x{row['compile_ratio']:.2f}, compiled in {row['compile_seconds']:.0f} s)"
                if row["compile"] else f"compile n/a ({row['compile_error'] or 'skipped'})")
        print(f"{name:16s} default {row['default']:8.1f} img/s | channels_last {row['channels_last']:8.1f} img/s "
              f"(x{row['channels_last_ratio']:.2f}) | {comp}", flush=True)
    print(f"forward+backward, batch {batch_size}, {size}x{size} RGB, {steps} steps x best of {repeats}, device {device}")
    return results


@register_benchmark("zoo")
def zoo(quick: bool = False) -> dict:
    """ResNet-18, MobileNet v2, EfficientNet-B0 training steps at 64×64: default vs channels-last vs torch.compile.

    ``quick`` uses fewer steps and skips ``torch.compile`` (its compilation alone takes minutes on CPU).
    """
    if quick:
        return zoo_throughput(batch_size=8, steps=2, repeats=2, compile=False)
    return zoo_throughput()
