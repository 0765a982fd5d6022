"""Saliency and Grad-CAM (an2dl.explain) on constructed networks whose right answer is known."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import an2dl
from an2dl.errors import ConfigError
from an2dl.explain import (
    NoConvLayerError,
    default_gradcam_layer,
    explanation_map,
    grad_cam,
    input_gradient,
    overlay_heatmap,
    saliency_map,
)


class QuadrantNet(nn.Module):
    """Sees only the top-left quadrant: the input and the last feature map are multiplied by its mask."""

    def __init__(self, size: int = 16, channels: int = 3, classes: int = 4):
        super().__init__()
        mask = torch.zeros(1, 1, size, size)
        mask[..., : size // 2, : size // 2] = 1
        self.register_buffer("mask", mask)
        self.features = nn.Sequential(nn.Conv2d(channels, 8, 3, padding=1, bias=False), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.ReLU())
        self.gate = nn.Identity()  # the masked map, a named layer to explain
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        a = self.gate(self.features(x * self.mask) * self.mask)
        return self.fc(a.mean(dim=(2, 3)))


def gap_net(classes: int = 3) -> nn.Sequential:
    """conv -> ReLU -> conv -> ReLU -> global average pooling -> one fully connected layer: the network CAM needs."""
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, classes))


def _outside(m: torch.Tensor) -> torch.Tensor:
    out = m.clone()
    out[..., : m.shape[-2] // 2, : m.shape[-1] // 2] = 0
    return out


def test_saliency_is_the_max_over_channels_of_the_input_gradient():
    torch.manual_seed(0)
    net = QuadrantNet().double()
    x = torch.rand(3, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    s = net(x)
    ref = torch.autograd.grad(s[:, 2].sum(), x)[0].abs().amax(dim=1)
    got = saliency_map(net, x.detach(), 2)
    torch.testing.assert_close(got, ref)
    assert torch.equal(_outside(got), torch.zeros_like(got))  # the quadrant net ignores three quadrants
    assert float(got.sum()) > 0
    grad, classes = input_gradient(net, x.detach())
    assert torch.equal(classes, s.argmax(dim=1))


def test_gradcam_on_the_quadrant_net():
    torch.manual_seed(1)
    net = QuadrantNet()
    x = torch.rand(4, 3, 16, 16)
    cam = grad_cam(net, x, 1, layer="gate")
    assert cam.shape == (4, 16, 16) and bool((cam >= 0).all())
    assert torch.equal(_outside(cam), torch.zeros_like(cam))
    assert float(cam.sum()) > 0


def test_gradcam_is_the_rectified_cam_over_z():
    """GAP + one FC layer: S_c = sum_k w_k^c (1/Z) sum_xy f_k(x, y) + b_c, so dS_c/df_k(x, y) = w_k^c / Z and
    Grad-CAM on f is ReLU(sum_k (w_k^c / Z) f_k) = ReLU(M_c) / Z with M_c the class activation map."""
    from an2dl.explain.cam import class_activation_map

    torch.manual_seed(2)
    net = gap_net().double()
    x = torch.rand(2, 1, 8, 10, dtype=torch.float64)
    f = net[:4](x)
    z = f.shape[-2] * f.shape[-1]
    fc = net[6]
    for c in range(3):
        m_c = torch.einsum("k,nkhw->nhw", fc.weight[c], f)
        got = grad_cam(net, x, c, layer="3", upsample=False)
        torch.testing.assert_close(got, F.relu(m_c) / z)
        # the notes' identity behind CAM: the mean of M_c plus the bias is the class score
        torch.testing.assert_close(m_c.mean(dim=(1, 2)) + fc.bias[c], net(x)[:, c])
        torch.testing.assert_close(got, F.relu(class_activation_map(net, x, c, upsample=False)) / z)
    # upsampled, both are resized by the same bilinear map, which commutes with the positive factor 1/Z
    # (but not with the ReLU): compare ReLU-ed maps at the feature resolution, resized alike
    up = grad_cam(net, x, 1, layer="3")
    ref = F.interpolate((F.relu(class_activation_map(net, x, 1, upsample=False)) / z)[:, None], size=(8, 10),
                        mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(up, ref)


def test_default_layer_is_the_last_spatial_conv_and_its_activation():
    lenet = an2dl.get_model("lenet5", num_classes=10, in_channels=1)
    x = torch.rand(1, 1, 32, 32)
    assert default_gradcam_layer(lenet, x) == "features.4"  # C5 gives 1x1 maps; C3 -> its ReLU
    assert default_gradcam_layer(gap_net(), torch.rand(1, 1, 8, 8)) == "3"
    assert grad_cam(lenet, x).shape == (1, 32, 32)


def test_model_state_is_restored_and_no_gradient_leaks():
    net = QuadrantNet()
    net.train()
    net.fc.weight.requires_grad_(False)
    for fn in (lambda: grad_cam(net, torch.rand(2, 3, 16, 16), layer="gate"),
               lambda: saliency_map(net, torch.rand(2, 3, 16, 16))):
        fn()
        assert net.training and all(m.training for m in net.modules())
        assert [p.requires_grad for p in net.parameters()] == [True, True, False, True]
        assert all(p.grad is None for p in net.parameters())
        assert all(not m._forward_hooks for m in net.modules())
    with pytest.raises(ConfigError):
        grad_cam(net, torch.rand(2, 3, 16, 16), 99, layer="gate")
    assert net.training and all(not m._forward_hooks for m in net.modules())


def test_bad_input():
    net = QuadrantNet()
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ConfigError, match=r"class_index must lie in \[0, 3\].*got 7"):
        grad_cam(net, x, 7, layer="gate")
    with pytest.raises(ConfigError, match=r"class_index must lie in \[0, 3\].*got -1"):
        saliency_map(net, x, -1)
    with pytest.raises(ConfigError, match="got 'features.33'; close names: features.3"):
        grad_cam(net, x, layer="features.33")
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    with pytest.raises(NoConvLayerError, match="Grad-CAM needs a convolutional layer.*Sequential has none"):
        grad_cam(mlp, x)
    with pytest.raises(NoConvLayerError, match="CAM needs a convolutional network ending in global average pooling"):
        explanation_map(mlp, x, "cam")
    with pytest.raises(ConfigError, match="Grad-CAM explains a layer whose output is a feature map"):
        grad_cam(net, x, layer="fc")
    with pytest.raises(ConfigError, match="method must be one of cam, gradcam, saliency"):
        explanation_map(net, x, "lime")
    with pytest.raises(ConfigError, match="layer chooses the layer Grad-CAM explains; method 'saliency' has none"):
        explanation_map(net, x, "saliency", layer="gate")
    with pytest.raises(ConfigError, match=r"class_index must be one class id or one per image \(1\); got 2 ids"):
        grad_cam(net, x, [1, 2], layer="gate")
    with pytest.raises(ConfigError, match="images must be a float tensor"):
        saliency_map(net, torch.zeros(16, 16))


def test_overlay_blends_the_normalised_map():
    img = torch.full((1, 4, 4), 0.5)
    heat = torch.zeros(4, 4)
    heat[0, 0] = 2.0
    out = overlay_heatmap(img, heat, alpha=0.5)
    assert out.shape == (3, 4, 4) and float(out.min()) >= 0 and float(out.max()) <= 1
    import matplotlib

    top = torch.tensor(matplotlib.colormaps["jet"](1.0)[:3], dtype=torch.float32)
    torch.testing.assert_close(out[:, 0, 0], 0.25 + 0.5 * top)
    with pytest.raises(ConfigError, match="alpha must lie in"):
        overlay_heatmap(img, heat, alpha=2)
