"""Engine overhead: the Trainer against a plain PyTorch loop doing the same work."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from . import register_benchmark

__all__ = ["engine_overhead"]


def _data(n: int):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 32, 32, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y


def _plain_loop(x, y, batch_size: int, steps: int) -> float:
    from ..models import get_model

    torch.manual_seed(0)
    model = get_model("lenet5")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    n = len(x)
    t0 = time.perf_counter()
    done = 0
    while done < steps:
        perm = torch.randperm(n)
        for b in range(n // batch_size):
            idx = perm[b * batch_size : (b + 1) * batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
    return time.perf_counter() - t0


def _trainer(x, y, batch_size: int, steps: int) -> float:
    from ..data import ArrayDataset
    from ..engine import OptimizerSpec, Trainer
    from ..models import get_model
    from ..tasks import ClassificationTask

    torch.manual_seed(0)
    task = ClassificationTask(get_model("lenet5"), num_classes=10, optimizer=OptimizerSpec("sgd", lr=0.01, momentum=0.9),
                              compute_train_metrics=False)
    trainer = Trainer(max_steps=steps, max_epochs=None, batch_size=batch_size, drop_last=True, progress=False,
                      val_every_n_epochs=None, accelerator="cpu")
    t0 = time.perf_counter()
    trainer.fit(task, ArrayDataset(x, y))
    return time.perf_counter() - t0


@register_benchmark("engine_overhead")
def engine_overhead(quick: bool = False) -> dict:
    """Wall time of ``Trainer.fit`` vs a hand-written loop: LeNet-5, same data, batch and steps.

    Both do forward, cross-entropy, backward and an SGD step per batch; the
    trainer adds its data loader, events and logging.  The trainer's one-time
    set-up (Lightning Fabric) is included.  Runs alternate to share any drift.
    """
    steps, batch = (30, 32) if quick else (400, 128)
    x, y = _data(1024 if quick else 4096)
    _plain_loop(x, y, batch, 5)  # warm-up: allocator, kernels, first imports
    _trainer(x, y, batch, 5)
    plain, ours = [], []
    for _ in range(1 if quick else 3):
        plain.append(_plain_loop(x, y, batch, steps))
        ours.append(_trainer(x, y, batch, steps))
    p, o = min(plain), min(ours)
    ratio = o / p
    print(f"plain loop: {p:.3f} s  ({steps / p:.1f} steps/s)")
    print(f"Trainer:    {o:.3f} s  ({steps / o:.1f} steps/s)")
    print(f"ratio Trainer / plain = {ratio:.3f}  ({steps} steps, batch {batch}, LeNet-5 on 32x32, best of {len(plain)})")
    return {"plain_s": p, "trainer_s": o, "ratio": ratio, "steps": steps, "batch_size": batch}
