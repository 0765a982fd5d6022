"""Engine overhead: the Trainer against a plain PyTorch loop doing the same work."""

from __future__ import annotations

import statistics
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
    trainer adds its data loader, events, per-batch reseeding and logging, and
    its one-time set-up (Lightning Fabric) is included.  The two alternate in
    rounds (the order flips every round) to share any drift of the machine;
    the reported ratio is the median of the per-round ratios.
    """
    from ..engine.allocator import tune_cpu_allocator

    tune_cpu_allocator()  # both loops under the same allocator settings, whatever ran before
    steps, batch, rounds = (30, 32, 1) if quick else (400, 128, 7)
    x, y = _data(1024 if quick else 4096)
    _plain_loop(x, y, batch, 5)  # warm-up: allocator, kernels, first imports
    _trainer(x, y, batch, 5)
    plain, ours, ratios = [], [], []
    for r in range(rounds):
        if r % 2:
            o = _trainer(x, y, batch, steps)
            p = _plain_loop(x, y, batch, steps)
        else:
            p = _plain_loop(x, y, batch, steps)
            o = _trainer(x, y, batch, steps)
        plain.append(p)
        ours.append(o)
        ratios.append(o / p)
    ratio = statistics.median(ratios)
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"plain loop: {p:.3f} s  ({steps / p:.1f} steps/s)   [min {min(plain):.3f}, max {max(plain):.3f}]")
    print(f"Trainer:    {o:.3f} s  ({steps / o:.1f} steps/s)   [min {min(ours):.3f}, max {max(ours):.3f}]")
    print(f"ratio Trainer / plain = {ratio:.3f}  (median of {rounds} rounds; {steps} steps, batch {batch}, LeNet-5 on 32x32)")
    return {"plain_s": p, "trainer_s": o, "ratio": ratio, "ratios": ratios, "steps": steps, "batch_size": batch}


def _main(argv: list[str]) -> None:
    """``python -m an2dl.bench.engine_overhead plain|trainer STEPS``: run one loop, for instruction counting.

    Wall time on a shared machine varies by tens of per cent between identical runs;
    instruction counts do not.  Running each loop under
    ``valgrind --tool=callgrind`` with two step counts and differencing cancels
    the start-up work and gives the instructions per step of each loop.
    """
    from ..engine.allocator import tune_cpu_allocator

    which, steps = argv[0], int(argv[1])
    tune_cpu_allocator()
    torch.set_num_threads(1)
    x, y = _data(1024)
    loop = {"plain": _plain_loop, "trainer": _trainer}[which]
    loop(x, y, 128, 2)  # the lazy imports and first-call work of this loop
    loop(x, y, 128, steps)


if __name__ == "__main__":  # pragma: no cover
    import sys

    _main(sys.argv[1:])
