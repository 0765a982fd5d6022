"""Class activation maps (notes §3.5.2.1): M_c = Σ_k w_k^c f_k, and mean(M_c) + b_c = S_c for GAP networks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import an2dl
from an2dl.errors import ConfigError
from an2dl.explain.cam import CamError, cam_parts, class_activation_map
from an2dl.models.localization import CamNet


def _identity(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean of M_c over the positions + b_c, S_c) of the predicted class of each image."""
    model.eval()
    with torch.no_grad():
        scores = model(x)
    c = scores.argmax(dim=1)
    cam = class_activation_map(model, x, upsample=False)
    fc = cam_parts(model).fc if not isinstance(model, nn.Sequential) else model[-1]
    return cam.mean(dim=(1, 2)) + fc.bias[c], scores.gather(1, c[:, None])[:, 0]


@pytest.mark.parametrize("make", [
    lambda: CamNet(num_classes=4, channels=[4, 8], pool="avg"),
    lambda: an2dl.get_model("resnet18", num_classes=5, small_input=True),
    lambda: nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3)),
], ids=["camnet", "resnet18", "sequential"])
def test_the_mean_of_the_map_plus_the_bias_is_the_class_score(make):
    torch.manual_seed(0)
    model = make().double()
    channels = 3 if hasattr(model, "fc") and not isinstance(model, CamNet) else 1
    x = torch.rand(3, channels, 32, 32, dtype=torch.float64)
    lhs, rhs = _identity(model, x)
    assert torch.allclose(lhs, rhs, rtol=0, atol=1e-12)


def test_the_map_is_the_weighted_sum_of_the_feature_maps_upsampled_bilinearly():
    torch.manual_seed(0)
    net = CamNet(num_classes=3, channels=[4, 8], pool="max").double().eval()
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    f = net.forward_features(x)
    expected = torch.einsum("nkhw,k->nhw", f, net.fc.weight[2])  # M_2 = Σ_k w_k^2 f_k
    small = class_activation_map(net, x, 2, upsample=False)
    assert torch.allclose(small, expected, atol=1e-12)
    full = class_activation_map(net, x, torch.tensor([2, 2]))
    ref = F.interpolate(expected.unsqueeze(1), size=(16, 16), mode="bilinear", align_corners=False).squeeze(1)
    assert full.shape == (2, 16, 16) and torch.allclose(full, ref, atol=1e-12)
    # GMP: the score is Σ_k w_k^c max f_k + b_c, which the mean of M_c does not give (documented)
    scores = net(x)[:, 2]
    assert not torch.allclose(small.mean(dim=(1, 2)) + net.fc.bias[2], scores, atol=1e-6)
    assert torch.allclose(net.fc(f.amax(dim=(2, 3)))[:, 2], scores)


def test_the_class_defaults_to_the_prediction_and_can_be_given_per_image():
    torch.manual_seed(0)
    net = CamNet(num_classes=3, channels=[4]).eval()
    x = torch.rand(2, 1, 8, 8)
    predicted = net(x).argmax(dim=1)
    per_image = class_activation_map(net, x, predicted)
    assert torch.equal(class_activation_map(net, x), per_image)
    assert torch.allclose(class_activation_map(net, x[:1], 1)[0], class_activation_map(net, x, torch.tensor([1, 0]))[0])
    with pytest.raises(ConfigError, match=r"class_index must lie in \[0, 2\] \(the model has 3 classes\); got 3"):
        class_activation_map(net, x, 3)


def test_zoo_networks_with_auxiliary_heads_use_the_fully_connected_layer_that_runs():
    torch.manual_seed(0)
    g = an2dl.get_model("googlenet", num_classes=4, aux_logits=True).double().eval()  # aux1.fc1, aux1.fc2, ... fc
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    cam = class_activation_map(g, x, 2, upsample=False)
    with torch.no_grad():
        score = g(x)[0, 2]
    assert torch.allclose(cam.mean() + g.fc.bias[2], score, rtol=0, atol=1e-12)


@pytest.mark.parametrize("model, why", [
    (lambda: an2dl.get_model("nin", num_classes=5), "has no nn.Linear layer"),
    (lambda: an2dl.get_model("plain_cnn", num_classes=5), "runs 2 fully connected layers"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 2)), "has no global pooling layer"),
    (lambda: nn.Linear(4, 2), "neither forward_features/forward_head"),
])
def test_networks_without_gap_and_one_fc_are_refused_saying_what_cam_needs(model, why):
    m = model()
    channels = 3 if "NiN" in type(m).__name__ else 1
    size = 64 if channels == 3 else 28
    with pytest.raises(CamError, match=f"CAM needs a convolutional network whose feature maps go through global average "
                                       f".*; .*{why}"):
        class_activation_map(m, torch.rand(1, channels, size, size)[:, :, :8 if isinstance(m, nn.Sequential) else size,
                                                                        :8 if isinstance(m, nn.Sequential) else size])
