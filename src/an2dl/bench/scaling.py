"""Data-parallel scaling on CPU: training throughput of 2 processes (DDP, gloo) against 1.

Each measurement runs in fresh processes: one ``python -m an2dl.bench.scaling --worker``
for the baseline, ``torchrun --standalone --nproc-per-node 2`` of the same worker for the
candidate, so neither inherits the other's threads, allocator state or process group.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from ..errors import ConfigError
from . import register_benchmark

__all__ = ["scaling"]

_RESULT_TAG = "an2dl-scaling-result "


def _worker(steps: int, warmup: int, batch_size: int, threads: int) -> None:
    """Train LeNet-5 on synthetic 32x32 images for ``warmup + steps`` steps in this process (one rank of
    the job when started by torchrun); rank 0 prints the samples per second of the last ``steps``."""
    import torch

    from ..data import ArrayDataset
    from ..engine import OptimizerSpec, Trainer
    from ..engine.callbacks.base import Callback
    from ..models import get_model
    from ..tasks import ClassificationTask

    torch.set_num_threads(threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))

    class _Clock(Callback):
        def __init__(self) -> None:
            self.start: float | None = None
            self.end = 0.0

        def on_batch_end(self, trainer: Any, task: Any, *args: Any) -> None:
            if trainer.global_step == warmup:
                self.start = time.perf_counter()
            elif trainer.global_step == warmup + steps:
                self.end = time.perf_counter()

    g = torch.Generator().manual_seed(0)
    n = batch_size * (warmup + steps)
    x, y = torch.rand(n, 1, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)
    torch.manual_seed(0)
    task = ClassificationTask(get_model("lenet5"), num_classes=10, optimizer=OptimizerSpec("sgd", lr=0.01, momentum=0.9),
                              compute_train_metrics=False)
    clock = _Clock()
    trainer = Trainer(max_steps=warmup + steps, max_epochs=None, batch_size=batch_size, drop_last=True, progress=False,
                      val_every_n_epochs=None, accelerator="cpu", devices=world,
                      strategy="ddp" if world > 1 else "auto", callbacks=[clock])
    trainer.fit(task, ArrayDataset(x, y))
    if trainer.is_global_zero:
        assert clock.start is not None
        print(_RESULT_TAG + json.dumps({"samples_per_s": steps * batch_size / (clock.end - clock.start)}), flush=True)
    trainer.close()
    # leave without running the interpreter's teardown: destroying the DDP wrapper's reference to the
    # (already shut down) gloo process group at exit now and then aborts the process
    # ("terminate called without an active exception"), which torchrun reports as a failed job
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _measure(processes: int, steps: int, warmup: int, batch_size: int, threads: int) -> float:
    worker = ["-m", "an2dl.bench.scaling", "--worker", str(steps), str(warmup), str(batch_size), str(threads)]
    if processes == 1:
        cmd = [sys.executable, *worker]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes), *worker]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    for var in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "AN2DL_RUN_DIR"):
        env.pop(var, None)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in r.stdout.splitlines() if line.startswith(_RESULT_TAG)]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"scaling benchmark: the {processes}-process run failed (exit {r.returncode}): "
                           f"{r.stderr.strip()[-2000:]}")
    return float(json.loads(lines[-1][len(_RESULT_TAG):])["samples_per_s"])


@register_benchmark("scaling")
def scaling(quick: bool = False) -> dict:
    """Training throughput (samples/s) of LeNet-5 with 2 DDP processes on CPU (gloo) against 1 process.

    The global batch is the same (each of the 2 processes computes half of it) and both runs use the
    same cores: the single process gets all the intra-op threads, each of the 2 processes half of them
    (at least 1).  Steady state only: the first steps (Fabric set-up, process group, first kernels)
    are not timed.  The two alternate in rounds; the reported ratio is the median of the per-round
    ratios 2-process / 1-process (above 1: the second process pays off).
    """
    cores = os.cpu_count() or 1
    steps, warmup, batch, rounds = (10, 3, 32, 1) if quick else (200, 20, 128, 3)
    one_t, two_t = max(1, cores), max(1, cores // 2)
    ones, twos, ratios = [], [], []
    for r in range(rounds):
        order = (1, 2) if r % 2 == 0 else (2, 1)
        got = {p: _measure(p, steps, warmup, batch, one_t if p == 1 else two_t) for p in order}
        ones.append(got[1])
        twos.append(got[2])
        ratios.append(got[2] / got[1])
    ratio = statistics.median(ratios)
    print(f"  1 process  ({one_t} threads): {statistics.median(ones):9.1f} samples/s")
    print(f"  2 processes ({two_t} thread{'s' if two_t > 1 else ''} each, DDP gloo): "
          f"{statistics.median(twos):9.1f} samples/s")
    print(f"  ratio 2 processes / 1 process = {ratio:.3f}  (LeNet-5, global batch {batch}, {steps} timed steps, "
          f"{rounds} round{'s' if rounds > 1 else ''})")
    return {"ratio": ratio, "ratios": ratios, "one_process_samples_per_s": ones, "two_process_samples_per_s": twos,
            "batch_size": batch, "steps": steps, "threads": [one_t, two_t]}


def _main(argv: list[str]) -> None:
    if len(argv) != 5 or argv[0] != "--worker":
        raise ConfigError(f"python -m an2dl.bench.scaling expects --worker STEPS WARMUP BATCH THREADS; got {argv}")
    _worker(*(int(a) for a in argv[1:]))


if __name__ == "__main__":
    _main(sys.argv[1:])
