"""The localisation network (two heads on one backbone) and the CAM network (trunk -> GAP/GMP -> one FC), notes §3.5.2."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import an2dl
from an2dl.errors import ConfigError
from an2dl.models.localization import CamNet, LocalizationNet, LocalizationOutput


def test_the_localizer_returns_class_scores_and_a_normalised_box():
    torch.manual_seed(0)
    net = an2dl.get_model("localizer", num_classes=4, in_channels=1, channels=[4, 8], box_grid=2, box_hidden=8)
    out = net(torch.rand(3, 1, 32, 32))
    assert isinstance(out, LocalizationOutput)
    assert out.logits.shape == (3, 4) and out.boxes.shape == (3, 4)
    assert bool(((out.boxes > 0) & (out.boxes < 1)).all())  # the sigmoid keeps (x, y, h, w) inside the image
    # the class head is GAP -> Linear on the backbone's maps
    f = net.forward_features(torch.ones(1, 1, 32, 32))
    assert torch.allclose(net(torch.ones(1, 1, 32, 32)).logits, net.classifier(f.mean(dim=(2, 3))))


def test_a_zoo_backbone_loses_its_top_so_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    net = an2dl.get_model("localizer", num_classes=2, in_channels=3, backbone="resnet18",
                          backbone_kwargs={"small_input": True}, box_hidden=8)
    assert not hasattr(net.backbone, "fc") and net.num_features == 512
    out = net(torch.rand(2, 3, 32, 32))
    (out.logits.sum() + out.boxes.sum()).backward()
    assert all(p.grad is not None for p in net.parameters())


def test_camnet_is_trunk_global_pooling_and_one_linear_layer():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 16, 16)
    for pool, ref in (("avg", F.adaptive_avg_pool2d), ("max", F.adaptive_max_pool2d)):
        net = CamNet(num_classes=3, channels=[4, 8], pool=pool).eval()
        f = net.forward_features(x)
        assert f.shape == (2, 8, 8, 8)  # one pooling for two blocks: maps at half the input's resolution
        assert torch.allclose(net(x), net.fc(ref(f, 1).flatten(1)), atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="pool must be 'avg'.*got 'sum'"):
        CamNet(num_classes=3, pool="sum")
    with pytest.raises(ValueError, match=r"CamNet expects images of shape \[B, 1, H, W\]; got \[2, 3, 8, 8\]"):
        CamNet(num_classes=3)(torch.rand(2, 3, 8, 8))
    with pytest.raises(ConfigError, match="backbone_kwargs apply to zoo backbones"):
        LocalizationNet(num_classes=2, backbone_kwargs={"small_input": True})
    with pytest.raises(ConfigError, match="must be a zoo image classifier"):
        LocalizationNet(num_classes=2, backbone="unet")
    with pytest.raises(ValueError, match=r"LocalizationNet expects images of shape \[B, 1, H, W\]"):
        LocalizationNet(num_classes=2)(torch.rand(1, 28, 28))
