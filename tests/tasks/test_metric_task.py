"""MetricLearningTask and its retrieval metrics (notes §3.5.6)."""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN
from sklearn.metrics import roc_auc_score

import an2dl
from an2dl.data import ArrayDataset
from an2dl.data.pk_sampling import PKDataset
from an2dl.engine import OptimizerSpec, Trainer
from an2dl.errors import ConfigError
from an2dl.losses import ContrastiveLoss, TripletLoss
from an2dl.tasks import MetricLearningTask, retrieval_metrics


def test_retrieval_metrics_by_hand():
    # points on a line: a0=0, a1=1, b0=3, b1=10
    e = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    y = torch.tensor([0, 0, 1, 1])
    m = retrieval_metrics(e, y, ks=(1, 2))
    # nearest neighbours: 0->1 (hit), 1->0 (hit), 2->1 (miss), 3->2 (hit)
    assert m["recall_at_1"] == 0.75
    # recall@2: 2's two nearest are 1, 0 -> miss; the others hit
    assert m["recall_at_2"] == 0.75
    # R = 1 for every query: AP@R is the hit at rank 1
    assert m["map_at_r"] == 0.75
    # pairs (score −d): genuine (0,1) d=1, (2,3) d=7; impostor (0,2) 3, (0,3) 10, (1,2) 2, (1,3) 9
    want = roc_auc_score([1, 0, 0, 0, 0, 1], [-1, -3, -10, -2, -9, -7])
    assert m["roc_auc"] == pytest.approx(want)


@pytest.mark.parametrize("seed", [0, 1])
def test_recall_at_1_and_map_at_r_equal_pytorch_metric_learning(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = torch.arange(40) % 4
    ours = retrieval_metrics(x, y)
    ref = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"),
                             knn_func=CustomKNN(LpDistance(normalize_embeddings=False))).get_accuracy(
        x, y, x, y, ref_includes_query=True)
    assert ours["recall_at_1"] == pytest.approx(ref["precision_at_1"], abs=1e-12)
    assert ours["map_at_r"] == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-12)


def _blobs(n_per=16, classes=4, seed=0):
    """Images whose class is the position of a bright quadrant, with noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_per * classes, 1, 8, 8, generator=g) * 0.5
    y = torch.arange(n_per * classes) % classes
    for i, c in enumerate(y.tolist()):
        r, col = divmod(c, 2)
        x[i, 0, r * 4:(r + 1) * 4, col * 4:(col + 1) * 4] += 0.5
    return x, y


@pytest.mark.parametrize("loss", [ContrastiveLoss(margin=1.0), TripletLoss(margin=0.2, mining="semi_hard")])
def test_training_with_pk_batches_separates_the_classes(loss):
    x, y = _blobs()
    torch.manual_seed(0)
    net = an2dl.get_model("embedding_cnn", embedding_dim=8, input_size=8, channels=(4,), hidden=(16,))
    task = MetricLearningTask(net, loss=loss, optimizer=OptimizerSpec("adam", lr=3e-3), recall_at=(1, 2))
    before = Trainer(progress=False).evaluate(task, ArrayDataset(*_blobs(seed=1)))
    train = PKDataset(ArrayDataset(x, y), y, p=4, k=4, num_batches=8, seed=0)
    Trainer(max_epochs=4, batch_size=train.batch_size, shuffle=False, progress=False, checkpoint=False).fit(task, train)
    after = Trainer(progress=False).evaluate(task, ArrayDataset(*_blobs(seed=1)))
    assert after["test/map_at_r"] > before["test/map_at_r"] and after["test/recall_at_1"] >= 0.9
    assert set(after) >= {"test/loss", "test/recall_at_1", "test/recall_at_2", "test/map_at_r", "test/roc_auc"}
    z = Trainer(progress=False).predict(task, ArrayDataset(x[:5]))
    assert z.shape == (5, 8)


def test_bad_arguments_are_named():
    net = an2dl.get_model("embedding_cnn", embedding_dim=4, input_size=8, channels=(4,), hidden=(8,))
    with pytest.raises(ConfigError, match="recall_at values must be positive integers; got 0"):
        MetricLearningTask(net, recall_at=(0,))
    with pytest.raises(ConfigError, match="loss must be a callable"):
        MetricLearningTask(net, loss=3)
    task = MetricLearningTask(net)
    with pytest.raises(ConfigError, match=r"targets must be integer class ids of shape \[B\]"):
        Trainer(max_epochs=1, progress=False).fit(task, ArrayDataset(torch.rand(8, 1, 8, 8), torch.rand(8)))
    with pytest.raises(ConfigError, match=r"retrieval_metrics needs embeddings \[N, D\] and labels \[N\]"):
        retrieval_metrics(torch.zeros(3, 2), torch.zeros(2))


def test_identification_scores_closed_and_open_set_by_hand():
    from an2dl.tasks.metric import identification_scores

    templates = torch.tensor([[0.0], [10.0], [20.0]])
    t_labels = torch.tensor([7, 8, 9])
    queries = torch.tensor([[1.0], [4.0], [6.0], [11.0], [19.0], [16.0]])
    q_labels = torch.tensor([7, 7, 8, 8, 9, 9])
    s = identification_scores(templates, t_labels, queries, q_labels, unknown=(9,), acceptance=1.0)
    # closed set: 1->7 ok, 4->7 ok, 6->8 ok, 11->8 ok, 19->9 ok, 16->9 ok
    assert s["accuracy"] == 1.0
    # open set (gallery 7, 8): known distances 1, 4, 4, 1 -> threshold (acceptance 1) = 4;
    # strangers 19 (d=9) and 16 (d=6) are both rejected
    assert s["threshold"] == 4.0 and s["rejection_rate"] == 1.0 and s["open_set_accuracy"] == 1.0
    s = identification_scores(templates, t_labels, queries, q_labels, unknown=(9,), acceptance=0.5)
    # threshold = median of (1, 4, 4, 1) = 2.5: the queries at distance 4 are rejected although known
    assert s["threshold"] == 2.5 and s["open_set_accuracy"] == 0.5
    with pytest.raises(ConfigError, match=r"acceptance must lie in \(0, 1\]; got 0"):
        identification_scores(templates, t_labels, queries, q_labels, acceptance=0)
