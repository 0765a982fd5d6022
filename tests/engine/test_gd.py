"""Gradient descent variants of §2.3.1: plain, momentum, the notes' two-step Nesterov, batch sizes, layer LRs."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from an2dl.data import ArrayDataset
from an2dl.engine import OptimizerSpec, Trainer
from an2dl.engine.gd import GradientDescent, Nesterov, batch_size_for
from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.tasks import ClassificationTask

DT = torch.float64


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 5, generator=g, dtype=DT)
    y = torch.randint(0, 3, (40,), generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    return model, x, y


def _trajectory(model, opt, x, y, steps=25):
    out = []
    for k in range(steps):
        idx = torch.arange(k % 4 * 10, k % 4 * 10 + 10)  # a fixed cycle of mini-batches
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
        out.append([p.detach().clone() for p in model.parameters()])
    return out


def _clone(model):
    return copy.deepcopy(model)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_gradient_descent_equals_torch_sgd(momentum):
    model, x, y = _problem()
    ref = _clone(model)
    ours = _trajectory(model, GradientDescent(model.parameters(), lr=0.1, momentum=momentum), x, y)
    theirs = _trajectory(ref, torch.optim.SGD(ref.parameters(), lr=0.1, momentum=momentum), x, y)
    for a, b in zip(ours, theirs):
        for pa, pb in zip(a, b):
            torch.testing.assert_close(pa, pb, rtol=1e-12, atol=1e-13)


def test_nesterov_parameters_follow_torch_sgd_nesterov():
    """Our parameters hold the predicted positions w^(k+1/2), which are exactly PyTorch's Nesterov iterates."""
    model, x, y = _problem(1)
    ref = _clone(model)
    ours = _trajectory(model, Nesterov(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3), x, y)
    theirs = _trajectory(ref, torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3), x, y)
    for a, b in zip(ours, theirs):
        for pa, pb in zip(a, b):
            torch.testing.assert_close(pa, pb, rtol=1e-10, atol=1e-12)


def test_nesterov_weights_are_the_notes_two_steps():
    """w^(k+1/2) = w^(k) + α Δw^(k-1);  Δw^(k) = α Δw^(k-1) - η ∇E(w^(k+1/2));  w^(k+1) = w^(k) + Δw^(k)."""
    A = torch.tensor([[3.0, 0.5], [0.5, 1.0]], dtype=DT)

    def grad_e(w):  # E(w) = ½ wᵀAw + sin(w₀), a non-quadratic bowl
        return A @ w + torch.stack([torch.cos(w[0]), torch.zeros((), dtype=DT)])

    eta, alpha = 0.1, 0.8
    w_ref, delta = torch.tensor([2.0, -1.5], dtype=DT), torch.zeros(2, dtype=DT)
    p = w_ref.clone().requires_grad_(True)
    opt = Nesterov([p], lr=eta, momentum=alpha)
    for _ in range(30):
        w_half = w_ref + alpha * delta  # 1: momentum-based prediction
        delta = alpha * delta - eta * grad_e(w_half)  # 2: correction with the gradient at the prediction
        w_ref = w_ref + delta
        p.grad = grad_e(p.detach())  # the training loop differentiates at the parameters' position
        opt.step()
        torch.testing.assert_close(opt.weights()[0], w_ref, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(p.detach(), w_ref + alpha * delta, rtol=1e-12, atol=1e-14)


def _digits_like(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ArrayDataset(torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))


def _fit(spec, batch_size, epochs=2, seed=0, hidden=(16,)):
    torch.manual_seed(seed)
    task = ClassificationTask(get_model("mlp", hidden=list(hidden)), num_classes=10, optimizer=spec)
    tr = Trainer(max_epochs=epochs, batch_size=batch_size, progress=False, checkpoint=False, accelerator="cpu",
                 val_every_n_epochs=None)
    tr.fit(task, _digits_like())
    return task, tr


def test_nag_by_name_in_the_trainer_matches_sgd_nesterov():
    a, _ = _fit(OptimizerSpec("nag", lr=0.1, momentum=0.9), 16)
    b, _ = _fit(OptimizerSpec("sgd", lr=0.1, momentum=0.9, nesterov=True), 16)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5)


def test_batch_stochastic_and_minibatch_gradient_descent():
    n = 96
    assert batch_size_for("batch", n) == n
    assert batch_size_for("stochastic", n) == 1
    assert batch_size_for("minibatch", n, minibatch=32) == 32
    # stochastic: one step per sample; batch: one step per epoch, along the mean gradient of all samples
    _, tr = _fit(OptimizerSpec("sgd", lr=0.1), batch_size_for("stochastic", n), epochs=1)
    assert tr.global_step == n
    torch.manual_seed(0)
    model = get_model("mlp", hidden=[16])
    data = _digits_like()
    x, y = data.tensors
    F.cross_entropy(model(x), y).backward()
    expected = [p.detach() - 0.1 * p.grad for p in model.parameters()]
    task, tr = _fit(OptimizerSpec("sgd", lr=0.1), batch_size_for("batch", n), epochs=1)
    assert tr.global_step == 1
    for p, e in zip(task.model.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-5, atol=1e-6)


def test_per_layer_learning_rates():
    torch.manual_seed(0)
    before = get_model("mlp", hidden=[16, 16]).state_dict()
    spec = OptimizerSpec("sgd", lr=0.1, layer_lr={"model.features.0": 0.0, "model.classifier": 0.5})
    task, _ = _fit(spec, 16, hidden=(16, 16))
    after = task.model.state_dict()
    assert torch.equal(after["features.0.linear.weight"], before["features.0.linear.weight"])  # lr 0: frozen
    assert not torch.equal(after["features.1.linear.weight"], before["features.1.linear.weight"])
    # with GradientDescent: each group steps with its own η
    w1, w2 = torch.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    opt = GradientDescent([{"params": [w1], "lr": 0.1}, {"params": [w2], "lr": 1.0}])
    w1.grad, w2.grad = torch.ones(3), torch.ones(3)
    opt.step()
    assert torch.equal(w1.detach(), torch.full((3,), -0.1)) and torch.equal(w2.detach(), torch.full((3,), -1.0))


def test_bad_input():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ConfigError, match="learning rate lr must be a number >= 0; got -1"):
        GradientDescent(p, lr=-1)
    with pytest.raises(ConfigError, match=r"momentum must be a number in \[0, 1\); got 1.0"):
        Nesterov(p, momentum=1.0)
    with pytest.raises(ConfigError, match="weight_decay must be a number >= 0"):
        Nesterov(p, weight_decay=-0.1)
    with pytest.raises(ConfigError, match=r"gradient descent mode must be one of .* got 'full'"):
        batch_size_for("full", 10)
    with pytest.raises(ConfigError, match="num_samples must be a positive integer; got 0"):
        batch_size_for("batch", 0)


def test_nesterov_state_survives_an_exact_resume(tmp_path):
    from an2dl.engine import Callback, Checkpoint
    from an2dl.engine.checkpoint import list_checkpoints

    class CountBatches(Callback):
        def __init__(self):
            self.n = 0

        def on_batch_end(self, trainer, task, outputs, batch, batch_idx):
            self.n += 1

    def run(ckpt=None):
        torch.manual_seed(0)
        task = ClassificationTask(get_model("mlp", hidden=[16]), num_classes=10,
                                  optimizer=OptimizerSpec("nag", lr=0.1, momentum=0.9))
        count = CountBatches()
        tr = Trainer(max_epochs=3, batch_size=16, progress=False, accelerator="cpu", val_every_n_epochs=None,
                     run_dir=tmp_path, callbacks=[Checkpoint(every_n_epochs=1, keep_last=3), count])
        tr.fit(task, _digits_like(), ckpt_path=ckpt)
        return task, count.n

    full, n_full = run()
    first_epoch = list_checkpoints(tmp_path / "checkpoints")[0]
    resumed, n_resumed = run(first_epoch)
    assert (n_full, n_resumed) == (18, 12)  # the second run really continued after the first epoch
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
