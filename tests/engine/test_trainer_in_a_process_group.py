"""A one-process Trainer inside a multi-process job (a judge trained on rank 0 after a DDP run) keeps its
metrics to itself: torchmetrics would otherwise gather over every process of the default group and wait
for peers that are not evaluating."""

from __future__ import annotations

import datetime
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: str) -> None:
    from an2dl.data import ArrayDataset
    from an2dl.engine.trainer import Trainer
    from an2dl.tasks import ClassificationTask

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2, timeout=datetime.timedelta(seconds=20))
    try:
        if rank == 0:  # rank 1 does not evaluate anything: it only waits at the barrier below
            torch.manual_seed(0)
            task = ClassificationTask(torch.nn.Linear(4, 3), num_classes=3)  # accuracy is a torchmetrics Metric
            x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
            metrics = Trainer(max_epochs=1, batch_size=8, accelerator="cpu", devices=1, progress=False,
                              val_every_n_epochs=None, checkpoint=False).fit(task, ArrayDataset(x, y))
            torch.save(metrics, out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_a_one_process_trainer_inside_a_process_group_does_not_wait_for_the_others(tmp_path):
    out = tmp_path / "metrics.pt"
    mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=2, join=True, start_method="spawn")
    metrics = torch.load(out)
    assert 0.0 <= metrics["train/accuracy"] <= 1.0 and metrics["train/loss"] > 0
