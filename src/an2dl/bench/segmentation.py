"""U-Net training throughput and memory: images/s and peak memory at 256² and 512², default vs channels-last.

One training step is forward, pixel-wise cross-entropy and backward of the
U-Net (``"same"`` padding, notes §3.5.1.2) on a batch of grey images with
random two-class masks; gradients are cleared every step and no optimiser
runs, so only the network is timed.  The baseline is PyTorch's default
contiguous (NCHW) layout; the candidate, in the same process, the
channels-last (NHWC) memory format.  Each figure is the best of several
timed repetitions after warm-up.

Peak memory of a step: the parameters, their gradients and the tensors
autograd saves in the forward pass for the backward pass (distinct
storages, counted with ``torch.autograd.graph.saved_tensors_hooks``) — what
a step holds at the end of its forward pass, the part of training memory
that grows with the image; exact and the same on every machine.  The
process's resident memory is not used: the command line keeps freed blocks
on the heap (``tune_cpu_allocator``), so it shows the largest step run so
far rather than this one.  On CUDA, ``torch.cuda.max_memory_allocated``
over the timed steps is reported as well.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from . import register_benchmark

__all__ = ["segmentation", "unet_training", "saved_activation_bytes"]


def saved_activation_bytes(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes of the distinct tensors saved for backward in one forward pass, plus parameters and gradients."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = (t.untyped_storage().data_ptr(), t.device.index or 0)
        seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    for p in model.parameters():
        p.grad = None
    return sum(seen.values()) + 2 * params


def _timed(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, repeats: int,
           warmup: int) -> tuple[float, int | None]:
    """``(images/s, CUDA peak bytes or None)`` of forward + cross-entropy + backward, best of ``repeats``."""
    cuda = x.is_cuda

    def step() -> None:
        for p in model.parameters():
            p.grad = None
        F.cross_entropy(model(x), y).backward()

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return steps * x.shape[0] / best, (torch.cuda.max_memory_allocated() if cuda else None)


def unet_training(sizes: tuple[int, ...] = (256, 512), *, base_channels: int = 16, depth: int = 4, batch_size: int = 2,
                  steps: int = 2, repeats: int = 3, warmup: int = 1, device: str = "cpu") -> dict[int, dict[str, Any]]:
    """Images/s and peak memory of U-Net training steps at each image side, default vs channels-last; printed as a table.

    Returns:
        ``{side: {"default": ips, "channels_last": ips, "channels_last_ratio": r, "peak_bytes": n
        (parameters + gradients + saved activations), "cuda_peak_default": n or None,
        "cuda_peak_channels_last": n or None}}``.
    """
    from ..models import get_model

    results: dict[int, dict[str, Any]] = {}
    torch.manual_seed(0)
    model = get_model("unet", in_channels=1, num_classes=2, base_channels=base_channels, depth=depth,
                      padding="same").to(device)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    for side in sizes:
        g = torch.Generator().manual_seed(side)
        x = torch.rand(batch_size, 1, side, side, generator=g).to(device)
        y = torch.randint(0, 2, (batch_size, side, side), generator=g).to(device)
        row: dict[str, Any] = {"peak_bytes": saved_activation_bytes(model, x, y)}
        row["default"], row["cuda_peak_default"] = _timed(model, x, y, steps=steps, repeats=repeats, warmup=warmup)
        model = model.to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        row["channels_last"], row["cuda_peak_channels_last"] = _timed(model, x_cl, y, steps=steps, repeats=repeats,
                                                                      warmup=warmup)
        model = model.to(memory_format=torch.contiguous_format)
        row["channels_last_ratio"] = row["channels_last"] / row["default"]
        results[side] = row

        cuda = (f" | CUDA peak {row['cuda_peak_default'] / 2**20:.1f} MiB, channels_last "
                f"{row['cuda_peak_channels_last'] / 2**20:.1f} MiB" if row["cuda_peak_default"] is not None else "")
        print(f"{side:4d}x{side:<4d} default {row['default']:7.2f} img/s | channels_last {row['channels_last']:7.2f} "
              f"img/s (x{row['channels_last_ratio']:.2f}) | peak memory (parameters + gradients + saved activations) "
              f"{row['peak_bytes'] / 2**20:.1f} MiB{cuda}", flush=True)
    print(f"U-Net (base {base_channels}, depth {depth}, same padding, {params:,} parameters), 1 input channel, 2 "
          f"classes, batch {batch_size}, forward+cross-entropy+backward, {steps} steps x best of {repeats}, "
          f"device {device}")
    return results


@register_benchmark("segmentation")
def segmentation(quick: bool = False) -> dict:
    """U-Net training images/s and memory at 256² and 512²: default (NCHW) vs channels-last (NHWC).

    ``quick`` uses a thinner U-Net, one image per batch and fewer repetitions.
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if quick:
        return unet_training(base_channels=8, batch_size=1, steps=1, repeats=2, device=device)
    return unet_training(device=device)
