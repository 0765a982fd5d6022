"""Augmentation throughput: the batched, on-device path against the per-sample path, same transforms."""

from __future__ import annotations

import time

import torch

from . import register_benchmark

__all__ = ["augment"]


def _pipeline():
    from ..data.transforms import ColorJitter, Compose, GaussianNoise, RandomAffine, RandomHorizontalFlip

    return Compose([
        RandomHorizontalFlip(p=0.5),
        RandomAffine(degrees=15, translate=0.1, scale=0.1),
        ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3),
        GaussianNoise(std=0.03),
    ])


def _per_sample(transform, x: torch.Tensor) -> float:
    """What :class:`~an2dl.data.transforms.AugmentedDataset` does: one image at a time, one seeded generator each."""
    from .._utils.rng import generator

    t0 = time.perf_counter()
    for i in range(len(x)):
        transform(x[i], generator=generator(0, "augment", 0, i))
    return time.perf_counter() - t0


def _batched(transform, x: torch.Tensor, batch: int) -> float:
    """What a task's ``augment`` does: whole batches on the device, drawn from the global generator."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for i in range(0, len(x), batch):
        transform(x[i : i + batch])
    sync()
    return time.perf_counter() - t0


@register_benchmark("augment")
def augment(quick: bool = False) -> dict:
    """Images/s of the batched on-device augmentation vs the per-sample path (flip, affine, colour jitter, noise).

    Same :class:`~an2dl.data.transforms.Compose` object, same 3×32×32 images;
    the per-sample path draws from a fresh generator per image as the dataset
    wrapper does, the batched path transforms batches of 256 on the fastest
    device present (CUDA when available, else the CPU).
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    n = 512 if quick else 4096
    batch = 256
    x_cpu = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    x_dev = x_cpu.to(device)
    transform = _pipeline().to(device)
    _per_sample(transform, x_cpu[:32])  # warm-up
    _batched(transform, x_dev[:batch], batch)
    per, bat = [], []
    n_per = n // 8 if not quick else n // 4  # the slow path on a subset; throughput is per image
    for _ in range(3 if not quick else 2):
        per.append(_per_sample(transform, x_cpu[:n_per]))
        bat.append(_batched(transform, x_dev, batch))
    per_ips = n_per / min(per)
    bat_ips = n / min(bat)
    ratio = bat_ips / per_ips
    print(f"per-sample (cpu, 1 image per call): {per_ips:10.0f} images/s  ({n_per} images, best of {len(per)})")
    print(f"batched ({device}, {batch} per call):  {bat_ips:10.0f} images/s  ({n} images, best of {len(bat)})")
    print(f"ratio batched / per-sample = {ratio:.1f}  (3x32x32; flip + affine + colour jitter + noise)")
    return {"per_sample_images_per_s": per_ips, "batched_images_per_s": bat_ips, "ratio": ratio, "device": device}
