"""Class-balanced P×K batches (notes §3.5.6): balance, determinism in (seed, epoch, step), trainer use, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from an2dl.data import ArrayDataset
from an2dl.data.pk_sampling import PKBatchSampler, PKDataset
from an2dl.engine import OptimizerSpec, Task, Trainer
from an2dl.errors import ConfigError

# 5 classes of unequal sizes: 4, 6, 8, 10, 12 samples
LABELS = torch.cat([torch.full((n,), c) for c, n in enumerate([4, 6, 8, 10, 12])])


def test_every_batch_has_p_distinct_classes_of_k_distinct_images():
    s = PKBatchSampler(LABELS, p=3, k=4, seed=1)
    assert len(s) == len(LABELS) // 12 == 3
    for batch in s:
        y = LABELS[batch]
        assert len(batch) == 12 and len(set(batch)) == 12
        classes, counts = torch.unique(y, return_counts=True)
        assert len(classes) == 3 and counts.tolist() == [4, 4, 4]
        assert all(len(set(y[i:i + 4].tolist())) == 1 for i in range(0, 12, 4))  # grouped class by class


def test_batches_are_a_function_of_seed_epoch_and_step():
    full = list(PKBatchSampler(LABELS, p=2, k=3, seed=5, epoch=1, num_batches=6))
    resumed = list(PKBatchSampler(LABELS, p=2, k=3, seed=5, epoch=1, num_batches=6, start_batch=4))
    assert resumed == full[4:]
    assert full != list(PKBatchSampler(LABELS, p=2, k=3, seed=5, epoch=2, num_batches=6))
    assert full != list(PKBatchSampler(LABELS, p=2, k=3, seed=6, epoch=1, num_batches=6))


class _Recorder(Task):
    """Records the labels of every training batch it sees."""

    def __init__(self):
        super().__init__(OptimizerSpec("sgd", lr=0.01))
        self.w = nn.Parameter(torch.zeros(1))
        self.seen = []

    def step(self, batch, ctx):
        if ctx.training:
            self.seen.append((ctx.epoch, batch.targets.tolist()))
        loss = (self.w * batch.inputs.float().mean()).square().sum()
        ctx.log("loss", loss)
        return loss


def test_the_trainer_reads_the_epoch_s_pk_batches_and_resumes_them(tmp_path):
    x = torch.arange(len(LABELS)).float().unsqueeze(1)
    ds = PKDataset(ArrayDataset(x, LABELS), LABELS, p=2, k=2, num_batches=4, seed=3)
    task = _Recorder()
    Trainer(max_epochs=2, batch_size=ds.batch_size, shuffle=False, progress=False, checkpoint=False).fit(task, ds)
    want = []
    for epoch in range(2):
        ref = PKBatchSampler(LABELS, p=2, k=2, num_batches=4, seed=3, epoch=epoch)
        want += [(epoch, LABELS[b].tolist()) for b in ref]
    assert task.seen == want
    # a fresh dataset told to start at epoch 1 gives the same order as the one that went through epoch 0
    fresh = PKDataset(ArrayDataset(x, LABELS), LABELS, p=2, k=2, num_batches=4, seed=3)
    fresh.set_epoch(1)
    assert [fresh[i][1].item() for i in range(len(fresh))] == [y for _, ys in want[4:] for y in ys]


def test_bad_requests_are_named():
    with pytest.raises(ConfigError, match=r"p \(classes per batch\) must be at most the number of classes, 5; got p=6"):
        PKBatchSampler(LABELS, p=6, k=2)
    with pytest.raises(ConfigError, match=r"k \(images per class\) must be at most the size of the smallest class "
                                          r"\(class 0 has 4 images\); got k=5"):
        PKBatchSampler(LABELS, p=2, k=5)
    with pytest.raises(ConfigError, match=r"k \(images per class\) must be a positive integer; got 0"):
        PKBatchSampler(LABELS, p=2, k=0)
    with pytest.raises(ConfigError, match="labels must be a non-empty 1-D integer tensor"):
        PKBatchSampler(LABELS.float(), p=2, k=2)
    with pytest.raises(ConfigError, match=r"labels must hold one class id per sample \(40\); got 3"):
        PKDataset(ArrayDataset(torch.zeros(40, 1)), LABELS[:3], p=1, k=1)


def test_a_metric_learning_run_resumed_mid_epoch_is_bit_identical(tmp_path):
    """Training on P×K batches, resumed from a mid-epoch checkpoint, ends with the uninterrupted run's weights."""
    from an2dl.engine.callbacks import Checkpoint
    from an2dl.losses import TripletLoss
    from an2dl.tasks import MetricLearningTask

    g = torch.Generator().manual_seed(0)
    x = torch.randn(len(LABELS), 6, generator=g) + LABELS[:, None].float()

    def make():
        torch.manual_seed(0)
        return MetricLearningTask(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)),
                                  loss=TripletLoss(margin=0.5, mining="random"), optimizer=OptimizerSpec("sgd", lr=0.1))

    def run(run_dir, ckpt=None):
        task = make()
        ds = PKDataset(ArrayDataset(x, LABELS), LABELS, p=3, k=2, num_batches=3, seed=1)
        Trainer(max_epochs=2, batch_size=ds.batch_size, shuffle=False, progress=False, seed=4, run_dir=run_dir,
                callbacks=[Checkpoint(every_n_steps=1, keep_last=10)]).fit(task, ds, ckpt_path=ckpt)
        return task.state_dict()

    ref = run(tmp_path / "ref")
    mid = tmp_path / "ref" / "checkpoints" / "000000002"  # step 2 of 3 in epoch 0; random mining: step-seeded draws
    assert mid.is_dir()
    got = run(tmp_path / "resumed", mid)
    for k, v in ref.items():
        assert torch.equal(got[k], v), k
