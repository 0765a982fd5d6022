"""Hold-out, k-fold, leave-one-out and multiple restarts as engine features (notes §2.3.1, §2.5.1)."""

import numpy as np
import pytest
import torch

from an2dl.data import ArrayDataset, ClassificationInfo, DataSplits
from an2dl.data.splits import kfold_indices, leave_one_out_indices
from an2dl.engine import OptimizerSpec
from an2dl.engine.validation import cross_validate, holdout_validate, leave_one_out, restarts
from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.tasks import ClassificationTask

TRAINER = {"max_epochs": 3, "batch_size": 16, "accelerator": "cpu"}


def _blobs(n=60, seed=0):
    """Three well separated Gaussian blobs in 2-d, with each sample's index as a third tensor."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    x = centres[y] + 0.5 * torch.randn(n, 2, generator=g)
    return ArrayDataset(x, y, torch.arange(n))


class RecordingTask(ClassificationTask):
    """Remembers which samples it was trained on (the dataset's third field is the sample index)."""

    batch_fields = ("inputs", "targets", "index")

    def __init__(self):
        super().__init__(get_model("mlp", in_features=2, hidden=[8], num_outputs=3), num_classes=3,
                         optimizer=OptimizerSpec("adam", lr=0.05))
        self.seen: set[int] = set()

    def training_step(self, batch, ctx):
        self.seen.update(batch.index.tolist())
        return super().training_step(batch, ctx)


# ---------------------------------------------------------------- index functions
def test_kfold_indices_partition_the_samples():
    y = np.repeat(np.arange(3), [20, 12, 8])
    folds = kfold_indices(y, 4, seed=1)
    assert len(folds) == 4
    vals = np.concatenate([va for _, va in folds])
    assert sorted(vals.tolist()) == list(range(40))  # every sample validated exactly once
    for tr, va in folds:
        assert not set(tr) & set(va) and len(tr) + len(va) == 40
        assert np.bincount(y[va], minlength=3).tolist() == [5, 3, 2]  # stratified
    sizes = [len(va) for _, va in kfold_indices(23, 5, stratify=False)]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 23
    assert [va.tolist() for _, va in kfold_indices(6, 3, shuffle=False)] == [[0, 1], [2, 3], [4, 5]]
    again = kfold_indices(y, 4, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))


def test_leave_one_out_indices():
    pairs = leave_one_out_indices(5)
    assert [va.tolist() for _, va in pairs] == [[0], [1], [2], [3], [4]]
    assert pairs[2][0].tolist() == [0, 1, 3, 4]


# ---------------------------------------------------------------- engine features
def test_cross_validate_never_trains_on_the_held_out_fold():
    data = _blobs()
    tasks = []

    def make():
        tasks.append(RecordingTask())
        return tasks[-1]

    result = cross_validate(make, data, folds=5, trainer=TRAINER, monitor="val/accuracy", mode="max")
    folds = kfold_indices(data.tensors[1], 5, seed=0)
    assert len(result.runs) == 5 and result.sizes == [(48, 12)] * 5
    for task, (tr, va) in zip(tasks, folds):
        assert task.seen == set(tr.tolist()) and not task.seen & set(va.tolist())
    accs = result.values("val/accuracy")
    assert result.mean["val/accuracy"] == pytest.approx(np.mean(accs))
    assert result.std["val/accuracy"] == pytest.approx(np.std(accs))
    assert result.selected == int(np.argmax(accs)) and result.task is tasks[result.selected]
    assert result.mean["val/accuracy"] > 0.9  # the blobs are separable
    assert "over 5 folds" in result.summary() and "mean" in result.table(["val/accuracy"])


def test_cross_validate_refit_trains_the_selected_model_on_all_samples():
    data = _blobs()
    made = []
    result = cross_validate(lambda: made.append(RecordingTask()) or made[-1], data, folds=3, trainer=TRAINER, refit=True)
    assert result.selected is None and result.task is made[-1]
    assert made[-1].seen == set(range(60))


def test_leave_one_out_validates_each_sample_once():
    data = ArrayDataset(*(t[:9] for t in _blobs().tensors))
    result = leave_one_out(RecordingTask, data, trainer={**TRAINER, "max_epochs": 2}, monitor="val/accuracy", mode="max")
    assert len(result.runs) == 9 and result.sizes == [(8, 1)] * 9
    assert set(result.values("val/accuracy")) <= {0.0, 1.0}
    assert result.mean["val/accuracy"] * 9 == pytest.approx(round(result.mean["val/accuracy"] * 9))


def test_restarts_select_the_lowest_training_loss():
    data = _blobs()
    result = restarts(RecordingTask, data, 4, trainer={**TRAINER, "max_epochs": 1})
    losses = result.values("train/loss")
    assert len(set(losses)) == 4  # different initial weights, different solutions
    assert result.selected == int(np.argmin(losses))
    # the selected model's training loss is that of the returned task
    x, y = data.tensors[0], data.tensors[1]
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(result.task.model(x), y)
    assert float(loss) == pytest.approx(min(losses), rel=1e-5)


def test_holdout_uses_the_given_validation_set():
    blobs = _blobs()
    tr, va = (ArrayDataset(*(t[s] for t in blobs.tensors)) for s in (slice(0, 45), slice(45, 60)))
    splits = DataSplits(tr, va, None, ClassificationInfo("blobs", class_names=["a", "b", "c"]))
    result = holdout_validate(RecordingTask, splits, trainer=TRAINER, monitor="val/accuracy", mode="max")
    assert result.sizes == [(45, 15)] and result.selected == 0
    assert result.task.seen == set(range(45))
    result = holdout_validate(RecordingTask, blobs, val_fraction=0.25, trainer=TRAINER)
    assert result.sizes == [(45, 15)]


def test_bad_input():
    data = _blobs(12)
    with pytest.raises(ConfigError, match=r"k=13 is larger than the number of samples \(12\)"):
        kfold_indices(12, 13)
    with pytest.raises(ConfigError, match="k=13 is larger than the number of samples"):
        cross_validate(RecordingTask, data, folds=13, trainer=TRAINER, stratify=False)
    with pytest.raises(ConfigError, match="k must be an integer >= 2; got 1"):
        kfold_indices(12, 1)
    with pytest.raises(ConfigError, match="the smallest class has 4 samples, fewer than k=5 folds"):
        kfold_indices(np.arange(12) % 3, 5)
    with pytest.raises(ConfigError, match="leave-one-out needs at least 2 samples; got 1"):
        leave_one_out_indices(1)
    with pytest.raises(ConfigError, match="restarts n must be a positive integer; got 0"):
        restarts(RecordingTask, data, 0)
    with pytest.raises(ConfigError, match="mode must be 'min' or 'max'; got 'best'"):
        restarts(RecordingTask, data, 2, mode="best")
    with pytest.raises(ConfigError, match="make_task must return an an2dl Task; got Linear"):
        restarts(lambda: torch.nn.Linear(2, 3), data, 1, trainer=TRAINER)
    with pytest.raises(ConfigError, match="monitored metric 'val/f1'"):
        cross_validate(RecordingTask, data, folds=2, trainer=TRAINER, monitor="val/f1")
    with pytest.raises(ConfigError, match=r"val_fraction must be a number in \(0, 1\); got 1.5"):
        holdout_validate(RecordingTask, data, val_fraction=1.5)
