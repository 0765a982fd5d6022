"""Transfer learning and fine-tuning (notes §3.4.2): new head, frozen trunk, unfreezing, learning rates."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from an2dl.engine import fine_tune
from an2dl.engine.optim import build_optimizer
from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.models.transfer import TransferHead, freeze, trainable_parameters, transfer, unfreeze
from an2dl.tasks import ClassificationTask


@pytest.fixture
def pretrained():
    torch.manual_seed(0)
    model = get_model("resnet20", num_classes=10, in_channels=1, width=8)
    # give the batch norms non-trivial running statistics, as after pre-training
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(16, 1, 12, 12))
    return model


def _train_steps(model, steps=3, lr=0.1):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    g = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        x, y = torch.rand(8, 1, 12, 12, generator=g), torch.randint(0, 4, (8,), generator=g)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_transfer_replaces_the_top_and_trains_only_the_new_head(pretrained):
    trunk = {k: v.clone() for k, v in pretrained.state_dict().items() if not k.startswith("fc.")}
    model = transfer(pretrained, 4)
    assert not hasattr(model, "fc") and isinstance(model.head, TransferHead)
    assert model.num_classes == 4
    assert trainable_parameters(model) == 32 * 4 + 4  # the minimal head: one linear layer on the pooled features
    assert model(torch.rand(2, 1, 12, 12)).shape == (2, 4)
    head_before = model.head.mlp[-1].weight.clone()
    _train_steps(model)
    state = model.state_dict()
    # frozen weights and batch-norm running statistics are untouched; the head learned
    assert all(torch.equal(state[k], v) for k, v in trunk.items())
    assert not torch.equal(model.head.mlp[-1].weight, head_before)
    assert not model.bn1.training and not model.layer3[0].bn2.training


def test_frozen_batch_norm_stays_in_eval_mode_after_model_train(pretrained):
    model = transfer(pretrained, 4)
    model.train()
    assert model.bn1.training  # switched back by model.train() ...
    model(torch.rand(2, 1, 12, 12))
    assert not model.bn1.training  # ... and to evaluation mode by the next forward pass


def test_mlp_head_and_pooled_inputs(pretrained):
    model = transfer(pretrained, 3, head="mlp", hidden=16, dropout=0.2)
    assert trainable_parameters(model) == 32 * 16 + 16 + 16 * 3 + 3
    head = model.head.eval()
    f = torch.rand(2, 32, 3, 3)
    torch.testing.assert_close(head(f), head(f.mean(dim=(2, 3))))


def test_transfer_removes_auxiliary_heads():
    model = get_model("googlenet", num_classes=10, aux_logits=True, small_input=True)
    transfer(model, 3)
    assert model.aux1 is None and model.aux2 is None and not hasattr(model, "fc")
    assert model.train()(torch.rand(2, 3, 8, 8)).shape == (2, 3)  # a plain tensor in training mode too


def test_fine_tune_unfreezes_the_top_blocks_with_decaying_learning_rates(pretrained):
    model = transfer(pretrained, 4)
    spec = fine_tune(model, blocks=2, lr=1e-3, decay=0.5, head_lr=1e-2, prefix="model")
    assert spec.layer_lr == {"model.layer3": 1e-3, "model.layer2": 5e-4}
    assert spec.lr == 1e-2
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer2", "layer3", "head"}
    assert model.layer3[0].bn1.training == model.training  # unfrozen batch norms train again
    task = ClassificationTask(model, num_classes=4, optimizer=spec)
    groups = {g["name"]: g["lr"] for g in build_optimizer(task, spec).param_groups}
    assert groups == {"model.layer3": 1e-3, "model.layer2": 5e-4, "default": 1e-2}


def test_fine_tune_all_unfreezes_everything_and_batch_norm_learns_again(pretrained):
    model = transfer(pretrained, 4)
    spec = fine_tune(model, blocks="all", lr=1e-4, prefix="")
    assert trainable_parameters(model) == sum(p.numel() for p in model.parameters())
    assert set(spec.layer_lr) == {"conv1", "bn1", "layer1", "layer2", "layer3"}
    mean = model.bn1.running_mean.clone()
    _train_steps(model, steps=1)
    assert not torch.equal(model.bn1.running_mean, mean)


def test_fine_tune_can_keep_batch_norm_frozen(pretrained):
    model = transfer(pretrained, 4)
    fine_tune(model, blocks=1, train_bn=False)
    mean = model.layer3[0].bn1.running_mean.clone()
    _train_steps(model, steps=1)
    assert torch.equal(model.layer3[0].bn1.running_mean, mean)
    assert model.layer3[0].bn1.weight.requires_grad


def test_freeze_and_unfreeze_by_name(pretrained):
    n = freeze(pretrained, ["layer1"])
    assert n == sum(p.numel() for p in pretrained.layer1.parameters())
    assert unfreeze(pretrained, ["layer1"]) == n
    with pytest.raises(ConfigError, match="no sub-module named 'layer9'"):
        freeze(pretrained, ["layer9"])


def test_bad_arguments(pretrained):
    with pytest.raises(TypeError, match="needs a zoo classifier"):
        transfer(get_model("lenet5"), 3)
    with pytest.raises(ConfigError, match="num_classes must be a positive integer; got 0"):
        transfer(pretrained, 0)
    with pytest.raises(ConfigError, match="head must be 'linear' or 'mlp'; got 'conv'"):
        transfer(pretrained, 3, head="conv")
    with pytest.raises(ConfigError, match="hidden must be a positive integer"):
        transfer(pretrained, 3, head="mlp", hidden=0)
    model = transfer(pretrained, 3)
    with pytest.raises(ConfigError, match=r"blocks must be 'all' or an integer in \[0, 4\]"):
        fine_tune(model, blocks=9)
    with pytest.raises(ConfigError, match="decay must be a number in"):
        fine_tune(model, decay=0.0)
    with pytest.raises(ConfigError, match="lr must be a positive number"):
        fine_tune(model, lr=-1.0)
    with pytest.raises(ConfigError, match="replaced head"):
        model.reset_classifier(5)


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_a_transferred_model_exports_and_loads_back_by_name(pretrained, tmp_path, head):
    import json

    import an2dl
    from an2dl.export import export

    model = transfer(pretrained, 4, head=head, hidden=16)
    _train_steps(model)
    meta_path = export(model, tmp_path / "exported", class_names=list("abcd"))
    assert json.loads(meta_path.read_text())["transfer"] == {"num_classes": 4, "head": head, "hidden": 16, "dropout": 0.0}
    loaded = an2dl.load(tmp_path / "exported")
    x = torch.rand(4, 1, 12, 12)
    torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)
    assert trainable_parameters(loaded) == sum(p.numel() for p in loaded.parameters())
