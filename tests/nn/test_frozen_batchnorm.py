"""FrozenBatchNorm2d: evaluation-mode batch norm with fixed statistics, state-dict compatible with torchvision.

References: ``F.batch_norm`` in evaluation mode (float64), torchvision's
``FrozenBatchNorm2d`` layout (four buffers, no ``num_batches_tracked``) and
the Faster R-CNN ResNet-50 backbone manifests of ``../shared/reference/
detection_models.json`` (the ``[frozen_bn,...]`` entry is the layout of
torchvision's COCO checkpoints).
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import an2dl.nn as ann
from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.nn import FrozenBatchNorm2d, freeze_batch_norm
from conftest import require_reference


def _random_statistics(bn: nn.Module, generator: torch.Generator) -> None:
    c = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(torch.randn(c, generator=generator, dtype=torch.float64))
        bn.bias.copy_(torch.randn(c, generator=generator, dtype=torch.float64))
        bn.running_mean.copy_(torch.randn(c, generator=generator, dtype=torch.float64))
        bn.running_var.copy_(torch.rand(c, generator=generator, dtype=torch.float64) + 0.1)


def test_equals_batch_norm_in_evaluation_mode_float64():
    g = torch.Generator().manual_seed(0)
    frozen = FrozenBatchNorm2d(5).double()
    _random_statistics(frozen, g)
    x = torch.randn(3, 5, 4, 6, generator=g, dtype=torch.float64)
    expected = F.batch_norm(x, frozen.running_mean, frozen.running_var, frozen.weight, frozen.bias,
                            training=False, eps=1e-5)
    for mode in (True, False):  # frozen in training mode too
        frozen.train(mode)
        torch.testing.assert_close(frozen(x), expected, rtol=1e-12, atol=1e-12)


def test_layout_is_torchvisions():
    frozen = FrozenBatchNorm2d(3)
    assert list(frozen.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    assert list(frozen.parameters()) == []
    assert [b.tolist() for b in frozen.buffers()] == [[1.0] * 3, [0.0] * 3, [0.0] * 3, [1.0] * 3]
    assert frozen.eps == 1e-5 and "3, eps=1e-05" in repr(frozen)


def test_loads_a_batch_norm_state_dict_strictly():
    g = torch.Generator().manual_seed(1)
    bn = nn.BatchNorm2d(4)
    _random_statistics(bn, g)
    bn.num_batches_tracked.fill_(7)
    state = bn.state_dict()
    frozen = FrozenBatchNorm2d(4)
    frozen.load_state_dict(state, strict=True)  # num_batches_tracked is dropped
    assert "num_batches_tracked" in state  # the caller's dict is left alone
    for key in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(frozen.state_dict()[key], state[key])
    x = torch.randn(2, 4, 3, 3, generator=g)
    torch.testing.assert_close(frozen(x), bn.eval()(x))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        frozen.load_state_dict({**state, "other": torch.zeros(1)}, strict=True)


def test_freeze_batch_norm_keeps_what_the_trained_model_computes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1, bias=False),
                          ann.BatchNorm2d(4), nn.Sequential(nn.BatchNorm2d(4, affine=False))).double()
    for _ in range(3):  # move the running statistics away from 0 and 1
        model(torch.randn(4, 3, 8, 8, dtype=torch.float64) * 3 + 1)
    model.eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    expected = model(x)
    frozen = freeze_batch_norm(model)
    assert frozen is model
    assert [type(m).__name__ for m in model.modules()].count("FrozenBatchNorm2d") == 3
    assert not any(isinstance(m, (nn.BatchNorm2d, ann.BatchNorm2d)) for m in model.modules())
    assert model[1].running_mean.dtype == torch.float64
    model.train()  # the statistics no longer move
    torch.testing.assert_close(model(x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model(x), expected, rtol=1e-12, atol=1e-12)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "3.weight"]


def test_freeze_batch_norm_of_a_single_layer_and_bad_inputs():
    bn = nn.BatchNorm2d(2)
    assert isinstance(freeze_batch_norm(bn), FrozenBatchNorm2d)
    with pytest.raises(ConfigError, match="needs running statistics to freeze; got a BatchNorm2d built with "
                                          "track_running_stats=False"):
        freeze_batch_norm(nn.Sequential(nn.BatchNorm2d(2, track_running_stats=False)))
    with pytest.raises(TypeError, match="expects an nn.Module; got int"):
        freeze_batch_norm(3)
    with pytest.raises(ConfigError, match="num_features must be a positive integer; got 0"):
        FrozenBatchNorm2d(0)
    with pytest.raises(ConfigError, match="eps must be a number > 0; got 0"):
        FrozenBatchNorm2d(2, eps=0)
    with pytest.raises(ValueError, match=r"expects input of shape \[B, C, H, W\] with C=2; got \[2, 3, 4, 4\]"):
        FrozenBatchNorm2d(2)(torch.zeros(2, 3, 4, 4))


def test_gradients_reach_the_input_not_the_statistics():
    frozen = FrozenBatchNorm2d(3)
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    frozen(x).sum().backward()
    assert x.grad is not None and all(not b.requires_grad for b in frozen.buffers())


def test_imagenet_weights_load_into_a_frozen_resnet():
    # a checkpoint of the plain model (with num_batches_tracked) loads strictly into the frozen backbone,
    # and the frozen backbone computes what the plain one computes in evaluation mode, also in training mode
    torch.manual_seed(0)
    plain = get_model("resnet18")
    plain.train()
    plain(torch.randn(4, 3, 32, 32))  # running statistics away from their initial values
    frozen = get_model("resnet18", norm_layer=FrozenBatchNorm2d)
    frozen.load_state_dict(plain.state_dict(), strict=True)
    converted = freeze_batch_norm(get_model("resnet18"))
    converted.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = plain.eval()(x)
        torch.testing.assert_close(frozen.train()(x), expected)
        torch.testing.assert_close(converted.train()(x), expected)


# ------------------------------------------------------------------ the detection backbone
@pytest.fixture(scope="module")
def detection() -> dict:
    return json.loads(require_reference("detection_models.json").read_text())["models"]


def _body(entry: dict) -> list:
    prefix = "backbone.body."
    return [[k[len(prefix):], shape, dtype] for k, shape, dtype in entry["state_dict"] if k.startswith(prefix)]


def _trunk(model: nn.Module) -> list:
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()
            if not k.startswith("fc.")]


def test_resnet50_with_frozen_batch_norm_is_the_faster_rcnn_backbone(detection):
    with torch.device("meta"):
        frozen = get_model("resnet50", norm_layer=FrozenBatchNorm2d)
        plain = get_model("resnet50")
    # the layout torchvision's COCO checkpoints load into, and the randomly initialised builder's
    assert _trunk(frozen) == _body(detection["fasterrcnn_resnet50_fpn[frozen_bn,trainable_layers=3]"])
    assert _trunk(plain) == _body(detection["fasterrcnn_resnet50_fpn"])
    # batch norm's γ and β become buffers: 53,120 fewer parameters, the difference of the two entries
    difference = sum(p.numel() for p in plain.parameters()) - sum(p.numel() for p in frozen.parameters())
    entries = detection["fasterrcnn_resnet50_fpn"], detection["fasterrcnn_resnet50_fpn[frozen_bn,trainable_layers=3]"]
    assert difference == entries[0]["total_params"] - entries[1]["total_params"] == 53_120
    # the maps torchvision's feature pyramid takes: layer1-layer4 (its reference input shapes are for 256×256)
    fpn_inputs = detection["FeaturePyramidNetwork([256,512,1024,2048],256)"]["eval_input_shapes"]
    with torch.device("meta"):
        maps = frozen.forward_intermediates(torch.empty(1, 3, 256, 256, device="meta"), [1, 2, 3, 4])
    assert [list(m.shape) for m in maps] == list(fpn_inputs.values())
    # ... and the pyramid levels of the detector's backbone at 320×320 keep the layers' sizes
    with torch.device("meta"):
        maps = frozen.forward_intermediates(torch.empty(1, 3, 320, 320, device="meta"), [1, 2, 3, 4])
    levels = detection["fasterrcnn_resnet50_fpn"]["backbone_eval_output_shapes"]
    assert [m.shape[-2:] for m in maps] == [tuple(levels[k][-2:]) for k in ("0", "1", "2", "3")]
