"""RegressionTask and BinaryClassificationTask: losses, metrics, custom losses, bad input."""

import pytest
import torch

from an2dl.data import ArrayDataset
from an2dl.engine import OptimizerSpec, Trainer
from an2dl.errors import ConfigError
from an2dl.losses.basic import perceptron_criterion, sse, with_l2_penalty
from an2dl.models import get_model
from an2dl.models.ffnn import Perceptron
from an2dl.tasks.regression import BinaryClassificationTask, RegressionTask


def _trainer(**kw):
    return Trainer(**{"max_epochs": 30, "batch_size": 32, "progress": False, "checkpoint": False,
                      "accelerator": "cpu", **kw})


def test_regression_fits_a_linear_function_and_logs_its_errors():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(128, 3, generator=g)
    t = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    model = get_model("mlp", in_features=3, hidden=[], num_outputs=1, output="linear")
    task = RegressionTask(model, optimizer=OptimizerSpec("adam", lr=0.05))
    tr = _trainer()
    tr.fit(task, ArrayDataset(x, t))
    m = tr.evaluate(task, ArrayDataset(x, t))
    assert m["test/mse"] < 1e-3 and m["test/loss"] == pytest.approx(m["test/mse"], rel=1e-5)
    with torch.no_grad():
        expected_mae = (model(x).squeeze(1) - t).abs().mean()
    assert m["test/mae"] == pytest.approx(float(expected_mae), rel=1e-4)


def test_custom_losses_sse_and_penalty():
    model = get_model("mlp", in_features=2, hidden=[4], num_outputs=1, output="linear")
    task = RegressionTask(model, loss=with_l2_penalty(sse, model, 0.1))
    x, t = torch.rand(8, 2), torch.rand(8, 1)
    with torch.no_grad():
        expected = sse(model(x), t) + 0.1 * sum((m.weight**2).sum() for m in model.linear_layers())
        torch.testing.assert_close(task.loss_fn(model(x), t), expected)
    assert RegressionTask(model, loss="sse").loss_fn is sse


def test_binary_classification_with_cross_entropy_and_with_the_perceptron_criterion():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=g)
    y01 = (x[:, 0] + x[:, 1] > 0).float()
    model = get_model("mlp", in_features=2, hidden=[8], num_outputs=1, activation="tanh", output="sigmoid")
    task = BinaryClassificationTask(model, optimizer=OptimizerSpec("adam", lr=0.05))
    tr = _trainer()
    tr.fit(task, ArrayDataset(x, y01))
    assert tr.evaluate(task, ArrayDataset(x, y01))["test/accuracy"] > 0.95
    p = tr.predict(task, ArrayDataset(x, y01))
    assert p.shape == (200,) and float(p.min()) >= 0 and float(p.max()) <= 1
    # the perceptron trained by SGD on its criterion, targets -1/+1
    ypm = y01 * 2 - 1
    ptask = BinaryClassificationTask(Perceptron(in_features=2), loss=perceptron_criterion,
                                     optimizer=OptimizerSpec("sgd", lr=0.1))
    tr = _trainer(batch_size=1, max_epochs=5)
    tr.fit(ptask, ArrayDataset(x, ypm))
    assert tr.evaluate(ptask, ArrayDataset(x, ypm))["test/accuracy"] > 0.95


def test_bad_input():
    with pytest.raises(ConfigError, match="RegressionTask model must be an nn.Module; got str"):
        RegressionTask("mlp")
    with pytest.raises(ConfigError, match="loss must be a callable loss"):
        BinaryClassificationTask(torch.nn.Linear(2, 1), loss=3)
    with pytest.raises(ConfigError, match="loss must be one of"):
        RegressionTask(torch.nn.Linear(2, 1), loss="l7")
    task = BinaryClassificationTask(torch.nn.Linear(2, 3))
    with pytest.raises(ValueError, match=r"one score per sample, \[B\] or \[B, 1\]; got \[4, 3\]"):
        task.scores(torch.rand(4, 2))
    reg = RegressionTask(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"targets must have the predictions' shape \[4, 2\]; got \[4, 3\]"):
        reg._align(torch.zeros(4, 2), torch.zeros(4, 3))
