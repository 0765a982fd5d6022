"""Feature maps of every backbone: ``feature_info`` and ``forward_intermediates`` (timm's interface).

Registry-driven: every model registered by a module of ``an2dl.models.vision``
must expose the interface.  Each is built once with real values (the smoke
test's configuration: VGG as its small-input variant, 32×32 inputs or the
model's minimum size) and checked for the number of maps, their channels and
sizes, the modules that ``feature_info`` names, the last map against
``forward_features`` and the gradients.  The rounding of the map sizes is
checked on the ``meta`` device (shapes only) for one member of each
configuration, at several sizes.
"""

from __future__ import annotations

import inspect
from functools import partial

import pytest
import torch
from torch import nn

from an2dl.errors import ConfigError
from an2dl.models import MODELS, get_model, list_models
from an2dl.models.vision._base import FeatureInfo, FeatureMapsMixin, FeatureStage, ImageClassifier
from an2dl.models.vision.resnet import Bottleneck, ResNet

BACKBONES = [n for n in list_models() if MODELS.get(n).__module__.startswith("an2dl.models.vision.")]
# the smoke test's cheaper configuration (test_models_smoke.SMOKE_KWARGS)
SMOKE_KWARGS = {name: {"small_input": True} for name in list_models("vgg*")}
# one member per configuration that changes the stem, the reductions or the stage modules
REPRESENTATIVES = ["alexnet", "vgg11", "vgg16_bn", "nin", "googlenet", "inception_v3", "resnet18", "resnet50",
                   "resnext50_32x4d", "resnet20", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small",
                   "mobilenet_v3_large", "densenet121", "efficientnet_b0", "squeezenet1_0", "squeezenet1_1"]


def _rounding(model: nn.Module) -> str:
    """How a stage's side h relates to the input side H and the reduction r (ImageClassifier's docstring)."""
    name = type(model).__name__
    small = getattr(model, "small_input", False)
    if name in ("ResNet", "CifarResNet", "MobileNetV1", "MobileNetV2", "MobileNetV3", "EfficientNet"):
        return "ceil"  # padded stride-2 convolutions and pools round up
    if name == "VGG":
        return "ceil" if small else "floor"
    if name == "PlainCNN":
        return "floor"
    if name == "GoogLeNet":
        return "floor or ceil"
    if name == "DenseNet":
        return "floor" if small else "floor or ceil"
    if name in ("NiN", "SqueezeNet"):
        return "floor" if small else "trimmed"
    if name in ("AlexNet", "Inception3", "LeNet5"):
        return "trimmed"
    raise AssertionError(f"no size rule recorded for {name}: add it here and to forward_intermediates' docstring")


def _check_size(model: nn.Module, h: int, size: int, r: int) -> None:
    rule = _rounding(model)
    lo, hi = size // r, -(-size // r)
    allowed = {"ceil": {hi}, "floor": {lo}, "floor or ceil": {lo, hi}}.get(rule)
    if allowed is None:  # unpadded layers trim a border: never more than floor(H / r)
        assert 1 <= h <= lo, f"{type(model).__name__}: {h} for H={size}, r={r}, expected at most {lo}"
    else:
        assert h in allowed, f"{type(model).__name__}: {h} for H={size}, r={r}, expected {rule} = {sorted(allowed)}"


def _input_size(model: nn.Module) -> int:
    if isinstance(model, ImageClassifier):
        return max(model.min_input_size, 32)
    return model.input_size[0]  # LeNet-5 and PlainCNN take one size only


def _trunk_parameters(model: nn.Module) -> list[str]:
    top = tuple(getattr(model, "top_modules", ()))
    if not isinstance(model, ImageClassifier):
        return [n for n, p in model.named_parameters() if n.startswith("features.")]
    return [n for n, p in model.named_parameters() if not n.startswith(tuple(t + "." for t in top))]


def test_the_registry_has_the_zoo_and_the_small_cnns():
    assert {"alexnet", "vgg16", "googlenet", "inception_v3", "resnet50", "resnet20", "mobilenet_v3_small", "densenet121",
            "efficientnet_b0", "squeezenet1_0", "nin", "lenet5", "plain_cnn"} <= set(BACKBONES)


@pytest.mark.parametrize("name", BACKBONES)
def test_intermediates_of_every_backbone(name):
    torch.manual_seed(0)
    model = get_model(name, **SMOKE_KWARGS.get(name, {})).eval()
    assert isinstance(model, FeatureMapsMixin), f"{name} has no feature maps"
    info = model.feature_info
    assert isinstance(info, FeatureInfo) and len(info) >= 3, info
    if isinstance(model, ImageClassifier):
        assert info[-1].num_chs == model.num_features
    size = _input_size(model)
    x = torch.rand(1, model.in_channels, size, size, requires_grad=True)

    # every stage's map is the output of the module feature_info names
    hooked: dict[str, torch.Tensor] = {}
    handles = [model.get_submodule(m).register_forward_hook(lambda mod, a, out, m=m: hooked.setdefault(m, out))
               for m in info.module_names()]
    maps = model.forward_intermediates(x)
    for h in handles:
        h.remove()

    assert len(maps) == len(info)
    for fmap, stage in zip(maps, info):
        assert fmap.shape[:2] == (1, stage.num_chs), (stage, fmap.shape)
        _check_size(model, fmap.shape[-2], size, stage.reduction)
        _check_size(model, fmap.shape[-1], size, stage.reduction)
        assert torch.equal(hooked[stage.module], fmap), stage.module
    with torch.no_grad():
        features = model.forward_features(x)
    if isinstance(model, ImageClassifier):
        assert maps[-1].shape == features.shape
    torch.testing.assert_close(maps[-1].flatten(1), features.flatten(1), rtol=0, atol=0)

    sum(fmap.square().mean() for fmap in maps).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    params = dict(model.named_parameters())
    missing = [n for n in _trunk_parameters(model) if params[n].grad is None]
    assert not missing, f"{name}: no gradient reaches {missing[:5]}"


def _variants(name: str) -> list[dict]:
    params = inspect.signature(MODELS.get(name)).parameters
    return [{}, {"small_input": True}] if "small_input" in params else [{}]


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_map_sizes_follow_the_reductions(name):
    # shapes only: the stated rounding at sizes of every parity, and exactly R / r more pixels per stage
    # for R more input pixels (R: the largest reduction), which pins r down for every family
    for kwargs in _variants(name):
        with torch.device("meta"):
            model = get_model(name, **kwargs).eval()
        info = model.feature_info
        big = info[-1].reduction
        base = max(model.min_input_size, 32)
        for h in (base + 1, base + 2):  # with w = h + 3, four residues modulo 4
            w = h + 3
            maps = model.forward_intermediates(torch.empty(1, model.in_channels, h, w, device="meta"))
            more = model.forward_intermediates(torch.empty(1, model.in_channels, h + big, w + big, device="meta"))
            for fmap, later, stage in zip(maps, more, info):
                assert fmap.shape[1] == stage.num_chs
                _check_size(model, fmap.shape[-2], h, stage.reduction)
                _check_size(model, fmap.shape[-1], w, stage.reduction)
                grown = (later.shape[-2] - fmap.shape[-2], later.shape[-1] - fmap.shape[-1])
                assert grown == (big // stage.reduction,) * 2, (name, kwargs, stage, h)


# ------------------------------------------------------------------ selecting stages
@pytest.fixture(scope="module")
def resnet20():
    torch.manual_seed(0)
    return get_model("resnet20").eval()


def test_indices_select_stages(resnet20):
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        every = resnet20.forward_intermediates(x)
        assert len(every) == 4
        assert [m.shape[1:] for m in every] == [(16, 16, 16), (16, 16, 16), (32, 8, 8), (64, 4, 4)]
        last_two = resnet20.forward_intermediates(x, 2)
        picked = resnet20.forward_intermediates(x, [3, -4, 2, 2])
        early = resnet20.forward_intermediates(x, [1], stop_early=True)
    assert all(torch.equal(a, b) for a, b in zip(last_two, every[2:]))
    assert [m.shape[1] for m in picked] == [64, 16, 32, 32]
    assert torch.equal(picked[0], every[3]) and torch.equal(picked[1], every[0]) and torch.equal(picked[2], every[2])
    assert torch.equal(early[0], every[1])
    assert resnet20.forward_intermediates(x, 4)[0].shape == every[0].shape


def test_stop_early_skips_the_later_stages(resnet20):
    calls: list[str] = []
    handle = resnet20.layer3.register_forward_hook(lambda *_: calls.append("layer3"))
    try:
        x = torch.rand(1, 3, 8, 8)
        resnet20.forward_intermediates(x, [0, 1], stop_early=True)
        assert calls == []
        resnet20.forward_intermediates(x, [0, 1])
        assert calls == ["layer3"]
    finally:
        handle.remove()


def test_feature_info_helpers():
    model = get_model("resnet50", small_input=True, replace_stride_with_dilation=[False, False, True])
    info = model.feature_info
    assert info.channels() == [64, 256, 512, 1024, 2048]
    assert info.reduction() == [1, 1, 2, 4, 4]
    assert info.module_names() == ["relu", "layer1", "layer2", "layer3", "layer4"]
    assert info.channels(2) == [1024, 2048] and info.module_names([-1, 0]) == ["layer4", "relu"]
    assert info[1] == FeatureStage(num_chs=256, reduction=1, module="layer1")
    assert "layer4" in repr(info)


@pytest.mark.parametrize(
    "indices, error, message",
    [
        ([0, 4], ValueError, r"indices: stage index 4 is out of range; valid stage indices are -4\.\.3 \(4 stages\); "
                             r"got \[0, 4\]"),
        ([-5], ValueError, r"stage index -5 is out of range; valid stage indices are -4\.\.3"),
        (0, ValueError, r"an int takes the last n stages and must be in 1\.\.4 \(4 stages\); got 0"),
        (5, ValueError, r"must be in 1\.\.4 \(4 stages\); got 5"),
        ([], ValueError, r"indices must select at least one stage; got an empty list"),
        ([1.0], TypeError, r"indices must be ints; got 1\.0 \(float\)"),
        (True, TypeError, r"indices must be None, an int or a sequence of ints; got bool True"),
        ("0", TypeError, r"got str '0'"),
        ({0, 1}, TypeError, r"got set"),
    ],
)
def test_bad_indices_name_the_argument_the_range_and_the_value(resnet20, indices, error, message):
    with pytest.raises(error, match=r"CifarResNet\.forward_intermediates.*" + message):
        resnet20.forward_intermediates(torch.rand(1, 3, 8, 8), indices)


def test_bad_inputs_of_forward_intermediates(resnet20):
    with pytest.raises(TypeError, match="stop_early must be True or False; got 1"):
        resnet20.forward_intermediates(torch.rand(1, 3, 8, 8), stop_early=1)
    with pytest.raises(ValueError, match=r"expects input of shape \[B, 3, H, W\]; got \[1, 1, 8, 8\]"):
        resnet20.forward_intermediates(torch.rand(1, 1, 8, 8))
    lenet = get_model("lenet5")
    with pytest.raises(ValueError, match=r"LeNet5 expects input of shape \[B, 1, 32, 32\]; got \[1, 1, 28, 28\]"):
        lenet.forward_intermediates(torch.rand(1, 1, 28, 28))
    with pytest.raises(ValueError, match=r"valid stage indices are -3\.\.2"):
        lenet.forward_intermediates(torch.rand(1, 1, 32, 32), [3])


def test_feature_info_validates_its_stages():
    with pytest.raises(ConfigError, match=r"reductions must not decrease from input to output; got \[4, 2\]"):
        FeatureInfo([FeatureStage(8, 4, "a"), FeatureStage(8, 2, "b")])
    with pytest.raises(TypeError, match="must be FeatureStage objects; got dict"):
        FeatureInfo([{"num_chs": 8, "reduction": 2, "module": "a"}])
    with pytest.raises(ConfigError, match="FeatureStage num_chs must be a positive integer; got 0"):
        FeatureStage(0, 2, "a")
    with pytest.raises(ConfigError, match="module must be a non-empty dotted module name; got ''"):
        FeatureStage(8, 2, "")


# ------------------------------------------------------------------ ResNet: dilation and injected layers
def test_dilation_keeps_the_resolution_as_torchvision():
    plain = get_model("resnet50")
    dilated = get_model("resnet50", replace_stride_with_dilation=[False, True, True])
    # the state dict does not change: same keys and shapes
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in dilated.state_dict().items()}
    assert dilated.feature_info.reduction() == [2, 4, 8, 8, 8]
    # torchvision's _make_layer: a dilated stage's first block keeps the previous dilation and loses its stride,
    # the later blocks (and the later stages) use the accumulated dilation; padding = dilation keeps the size
    expected = {"layer2": (2, [1, 1, 1, 1]), "layer3": (1, [1, 2, 2, 2, 2, 2]), "layer4": (1, [2, 4, 4])}
    for layer, (stride, dilations) in expected.items():
        blocks = dilated.get_submodule(layer)
        assert blocks[0].conv2.stride == (stride, stride) and blocks[0].downsample[0].stride == (stride, stride)
        assert [b.conv2.dilation[0] for b in blocks] == dilations
        assert [b.conv2.padding[0] for b in blocks] == dilations
        assert all(b.conv1.dilation == (1, 1) and b.conv3.dilation == (1, 1) for b in blocks)
    with torch.device("meta"):
        maps = get_model("resnet50", replace_stride_with_dilation=[False, True, True]).forward_intermediates(
            torch.empty(1, 3, 64, 64, device="meta"))
    assert [m.shape[-1] for m in maps] == [32, 16, 8, 8, 8]


def test_dilated_basic_blocks():
    torch.manual_seed(0)
    model = get_model("resnet18", replace_stride_with_dilation=[False, False, True]).eval()
    assert model.feature_info.reduction() == [2, 4, 8, 16, 16]
    assert [b.conv1.dilation[0] for b in model.layer4] == [1, 2]
    maps = model.forward_intermediates(torch.rand(1, 3, 32, 32))
    assert [m.shape[-1] for m in maps] == [16, 8, 4, 2, 2]
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 1000)


def test_injected_norm_layer_and_block():
    torch.manual_seed(0)
    model = get_model("resnet18", num_classes=5, norm_layer=partial(nn.GroupNorm, 8))
    kinds = {type(m) for m in model.modules()}
    assert nn.GroupNorm in kinds and nn.BatchNorm2d not in kinds
    assert model.layer2[0].downsample[1].num_groups == 8
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 5)
    by_class = ResNet(block=Bottleneck, layers=(1, 1, 1, 1))
    by_name = ResNet(block="bottleneck", layers=(1, 1, 1, 1))
    assert [(k, v.shape) for k, v in by_class.state_dict().items()] == [
        (k, v.shape) for k, v in by_name.state_dict().items()
    ]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"replace_stride_with_dilation": [True, True]}, ConfigError,
         r"replace_stride_with_dilation must be None or 3 booleans \(for layer2, layer3, layer4\); got \[True, True\]"),
        ({"replace_stride_with_dilation": [0, 1, 1]}, ConfigError, r"must be None or 3 booleans .* got \[0, 1, 1\]"),
        ({"replace_stride_with_dilation": "TTT"}, ConfigError, r"must be None or 3 booleans .* got 'TTT'"),
        ({"norm_layer": "batch"}, TypeError,
         r"norm_layer must be a callable num_features -> nn.Module .* got 'batch' \(str\)"),
        ({"norm_layer": 3}, TypeError, r"norm_layer must be a callable .* got 3 \(int\)"),
        ({"norm_layer": nn.BatchNorm2d(64)}, TypeError, r"norm_layer must be a factory .* not a module instance"),
        ({"norm_layer": lambda c: c}, TypeError, r"norm_layer\(64\) must return an nn.Module; got int"),
        ({"block": "wide"}, ConfigError, r"block must be one of \['basic', 'bottleneck'\] or a BasicBlock/Bottleneck"),
    ],
)
def test_bad_resnet_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        ResNet(layers=(1, 1, 1, 1), **kwargs)


def test_builders_forward_keyword_arguments():
    with torch.device("meta"):
        model = get_model("resnext50_32x4d", replace_stride_with_dilation=[False, False, True])
    assert model.feature_info.reduction() == [2, 4, 8, 16, 16] and model.groups == 32
    with pytest.raises(ConfigError, match="resnet18"):
        get_model("resnet18", depth=3)
    assert sum(p.numel() for p in model.parameters()) == 25_028_904
