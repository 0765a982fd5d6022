"""The zoo's common interface, small-input variants, published parameter counts and building blocks."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from an2dl.errors import ConfigError, UnknownNameError
from an2dl.models import MODELS, get_model, list_models
from an2dl.models.vision._base import ImageClassifier
from an2dl.models.vision._layers import SqueezeExcitation, StochasticDepth, make_divisible
from an2dl.models.vision.googlenet import GoogLeNetOutputs, auxiliary_loss
from an2dl.models.vision.inception import InceptionOutputs

FAMILIES = ("alexnet", "vgg", "nin", "googlenet", "inception", "resnet", "mobilenet", "densenet", "efficientnet",
            "squeezenet")


def _zoo() -> list[str]:
    # the zoo's image classifiers: every model registered by one of the family modules of models/vision
    return [n for n in list_models() if MODELS.get(n).__module__.rsplit(".", 1)[1] in FAMILIES]


ZOO = _zoo()
# one member per configuration that changes the stem, the reductions or the module names (the other
# members of a family differ only in depth or width, which leaves the minimum size and the stage layout alone)
REPRESENTATIVES = ["alexnet", "vgg11", "vgg16_bn", "nin", "googlenet", "inception_v3", "resnet18", "resnet50",
                   "resnext50_32x4d", "resnet20", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small",
                   "mobilenet_v3_large", "densenet121", "efficientnet_b0", "squeezenet1_0", "squeezenet1_1"]


def _variants(name: str) -> list[dict]:
    params = inspect.signature(MODELS.get(name)).parameters
    variants: list[dict] = [{}]
    if "small_input" in params:
        variants.append({"small_input": True})
    if "aux_logits" in params:
        flipped = not params["aux_logits"].default
        variants += [dict(v, aux_logits=flipped) for v in list(variants)]
    return variants


def _meta(name: str, **kwargs) -> ImageClassifier:
    with torch.device("meta"):
        return get_model(name, **kwargs)


def _runs(model: ImageClassifier, size: int) -> bool:
    try:
        model(torch.empty(2, model.in_channels, size, size, device="meta"))
        return True
    except (RuntimeError, ValueError):
        return False


def test_the_zoo_has_every_family_of_the_notes():
    expected = {"alexnet", "vgg16", "vgg16_bn", "nin", "googlenet", "inception_v3", "resnet50", "wide_resnet50_2",
                "resnext50_32x4d", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "densenet121", "efficientnet_b0",
                "efficientnet_b7"}
    assert expected <= set(ZOO)


def test_representatives_are_registered_zoo_classifiers():
    assert set(REPRESENTATIVES) <= set(ZOO)
    assert all(isinstance(_meta(n), ImageClassifier) for n in ZOO)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_minimum_input_size_is_exact(name):
    # shape propagation on the meta device: the declared minimum runs, one pixel less breaks inside the network
    for kwargs in _variants(name):
        model = _meta(name, **kwargs).train()
        m = model.min_input_size
        assert _runs(model, m), f"{name}{kwargs} fails at its minimum {m}"
        if m > 1:
            with pytest.raises(ValueError, match=f"at least {m}×{m} pixels"):
                model(torch.empty(2, model.in_channels, m - 1, m - 1, device="meta"))
            model.min_input_size = 1  # without the check, the layers themselves fail
            assert not _runs(model, m - 1), f"{name}{kwargs} runs below its declared minimum {m}"


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_interface_stages_and_classifier_reset(name):
    model = _meta(name, num_classes=7, in_channels=1).eval()
    size = max(model.min_input_size, 32)
    x = torch.empty(2, 1, size, size, device="meta")
    features = model.forward_features(x)
    assert features.dim() == 4 and features.shape[:2] == (2, model.num_features)
    assert model.forward_head(features).shape == (2, 7)
    # the stages cover the trunk: every parameter belongs to exactly one stage or to the top
    stage_names = [n for stage in model.stages() for n in stage]
    modules = dict(model.named_modules())
    assert all(n in modules for n in stage_names)
    owner: dict[str, int] = {}
    for n, _ in model.named_parameters():
        hits = [s for s in stage_names + list(model.top_modules) if n.startswith(s + ".")]
        owner[n] = len(hits)
    assert all(v == 1 for v in owner.values()), [n for n, v in owner.items() if v != 1][:5]
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.num_classes == 3


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_small_input_variant_takes_28x28_digits(name):
    params = inspect.signature(MODELS.get(name)).parameters
    kwargs = {"small_input": True} if "small_input" in params else {}
    model = _meta(name, num_classes=10, in_channels=1, **kwargs).train()
    out = model(torch.empty(4, 1, 28, 28, device="meta"))
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (4, 10)


def test_forward_is_head_of_features_on_real_values():
    torch.manual_seed(0)
    model = get_model("resnet20", num_classes=4).eval()
    x = torch.rand(3, 3, 20, 20)
    torch.testing.assert_close(model(x), model.forward_head(model.forward_features(x)))


@pytest.mark.parametrize("name", ["resnet18", "vgg11", "googlenet", "densenet121", "efficientnet_b0", "mobilenet_v1", "nin"])
def test_bad_num_classes_and_channels_are_config_errors(name):
    with pytest.raises(ConfigError, match="num_classes must be a positive integer; got 0"):
        get_model(name, num_classes=0)
    with pytest.raises(ConfigError, match="num_classes must be a positive integer; got -3"):
        get_model(name, num_classes=-3)
    with pytest.raises(ConfigError, match="in_channels must be a positive integer"):
        get_model(name, in_channels=0)


def test_unknown_model_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean .*'resnet50'"):
        get_model("resnet5O")
    with pytest.raises(UnknownNameError, match="efficientnet_b0"):
        get_model("efficientnet-b0")


def test_unknown_keyword_is_a_config_error():
    with pytest.raises(ConfigError, match="resnet18"):
        get_model("resnet18", depth=3)


def test_input_smaller_than_the_minimum_names_the_minimum():
    model = _meta("alexnet")
    with pytest.raises(ValueError, match=r"AlexNet needs inputs of at least 63×63 pixels .* got 32×32; small_input=True"):
        model(torch.empty(1, 3, 32, 32, device="meta"))
    with pytest.raises(ValueError, match=r"expects input of shape \[B, 3, H, W\]; got \[1, 1, 64, 64\]"):
        model(torch.empty(1, 1, 64, 64, device="meta"))
    with pytest.raises(ValueError, match=r"got \[3, 64, 64\]"):
        model(torch.empty(3, 64, 64, device="meta"))
    with pytest.raises(TypeError, match="expects a tensor"):
        model([[0.0]])


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("vgg16", {"dropout": 1.5}, "dropout must be a number in"),
        ("mobilenet_v2", {"width_mult": 0}, "width_mult must be a positive number"),
        ("googlenet", {"transform_input": True, "in_channels": 1}, "transform_input needs in_channels=3"),
        ("densenet121", {"drop_rate": -0.1}, "drop_rate must be a number in"),
        ("resnet20", {"width": 0}, "width must be a positive integer"),
        ("alexnet", {"small_input": "yes"}, "small_input must be True or False"),
        ("efficientnet_b0", {"stochastic_depth_prob": 1.0}, "stochastic_depth_prob must be a number in"),
    ],
)
def test_bad_constructor_arguments(name, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        get_model(name, **kwargs)


def test_bad_architecture_settings():
    from an2dl.models.vision.densenet import DenseNet
    from an2dl.models.vision.mobilenet import MobileNetV3
    from an2dl.models.vision.resnet import CifarResNet, ResNet
    from an2dl.models.vision.vgg import VGG

    with pytest.raises(ConfigError, match="VGG config must be one of"):
        VGG(config="Z")
    with pytest.raises(ConfigError, match="ResNet block must be one of"):
        ResNet(block="wide")
    with pytest.raises(ConfigError, match="blocks of 4 stages"):
        ResNet(layers=(2, 2))
    with pytest.raises(ConfigError, match="depth must be 6n\\+2"):
        CifarResNet(depth=21)
    with pytest.raises(ConfigError, match="arch must be 'large' or 'small'"):
        MobileNetV3(arch="tiny")
    with pytest.raises(ConfigError, match="block_config must list at least one block"):
        DenseNet(block_config=())


# ------------------------------------------------------------------ published parameter counts
def _params(name: str, **kwargs) -> int:
    return sum(p.numel() for p in _meta(name, **kwargs).parameters())


def test_nin_parameter_counts():
    # ImageNet NiN: the conv/1×1 layers of the authors' 4-layer model (29 MiB of float32)
    assert _params("nin") == 7_595_176
    assert 7_595_176 * 4 / 2**20 == pytest.approx(29.0, abs=0.05)
    # CIFAR-10 NiN: 192-160-96 / 192-192-192 / 192-192-10 mlpconv layers
    expected = (192 * 75 + 192) + (160 * 192 + 160) + (96 * 160 + 96) + (192 * 96 * 25 + 192) + 2 * (192 * 192 + 192) \
        + (192 * 192 * 9 + 192) + (192 * 192 + 192) + (10 * 192 + 10)
    assert _params("nin", small_input=True, num_classes=10) == expected == 966_986


def test_nin_class_maps_with_and_without_the_final_relu():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    with_relu = get_model("nin", small_input=True, num_classes=4).eval()
    without = get_model("nin", small_input=True, num_classes=4, final_relu=False).eval()
    without.load_state_dict(with_relu.state_dict())  # the ReLU has no parameters
    maps = with_relu.classifier[0](with_relu.forward_features(x))  # (B, K, h, w) class maps
    torch.testing.assert_close(without(x), maps.mean(dim=(2, 3)))
    torch.testing.assert_close(with_relu(x), maps.relu().mean(dim=(2, 3)))


@pytest.mark.parametrize("alpha, paper_millions", [(1.0, 4.2), (0.75, 2.6), (0.5, 1.3), (0.25, 0.5)])
def test_mobilenet_v1_parameter_counts_match_the_paper(alpha, paper_millions):
    # Howard et al. 2017, Table 6 (1.0 MobileNet-224 ... 0.25 MobileNet-224), rounded to 0.1M
    assert round(_params("mobilenet_v1", width_mult=alpha) / 1e6, 1) == paper_millions


def test_mobilenet_v1_separable_layer_cost():
    # depthwise 3×3 + pointwise 1×1 instead of a full 3×3 convolution: 9M + MN instead of 9MN weights
    from an2dl.models.vision.mobilenet import DepthwiseSeparable

    block = DepthwiseSeparable(512, 512, 1)
    conv_weights = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
    assert conv_weights == 9 * 512 + 512 * 512
    assert conv_weights / (9 * 512 * 512) == pytest.approx(1 / 512 + 1 / 9)


@pytest.mark.parametrize("depth, paper_millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)])
def test_cifar_resnet_parameter_counts_match_the_paper(depth, paper_millions):
    # He et al. 2016, Table 6
    digits = 2 if depth < 110 else 1
    assert round(_params(f"resnet{depth}") / 1e6, digits) == paper_millions


def test_small_inputs_use_fast_batch_norm_statistics():
    # the ImageNet settings of MobileNet v3 and EfficientNet-B5+ average over ~100 steps; small inputs use 0.1
    for name in ("mobilenet_v3_small", "efficientnet_b5"):
        default = {m.momentum for m in _meta(name).modules() if isinstance(m, nn.BatchNorm2d)}
        small = {m.momentum for m in _meta(name, small_input=True).modules() if isinstance(m, nn.BatchNorm2d)}
        assert default == {0.01} and small == {0.1}


def test_efficientnet_compound_scaling():
    from an2dl.models.vision.efficientnet import EFFICIENTNET_PARAMS, MBConv

    for variant in ("b0", "b4", "b7"):
        width, depth, resolution, _ = EFFICIENTNET_PARAMS[variant]
        model = _meta(f"efficientnet_{variant}")
        blocks = [m for m in model.modules() if isinstance(m, MBConv)]
        assert len(blocks) == sum(math.ceil(n * depth) for n in (1, 2, 2, 3, 3, 4, 1))
        assert model.features[0][0].out_channels == make_divisible(32 * width)
        assert model.default_input_size == resolution
        # stochastic depth grows linearly from 0 to 0.2·(N-1)/N
        probs = [b.stochastic_depth.p for b in blocks]
        assert probs[0] == 0.0 and probs[-1] == pytest.approx(0.2 * (len(blocks) - 1) / len(blocks))


# ------------------------------------------------------------------ blocks written from the papers
def test_inception_module_concatenates_its_branches():
    from an2dl.models.vision.googlenet import Inception

    block = Inception(192, 64, 96, 128, 16, 32, 32).eval()
    x = torch.rand(1, 192, 9, 9)
    y = block(x)
    assert y.shape == (1, 64 + 128 + 32 + 32, 9, 9)
    torch.testing.assert_close(y[:, :64], block.branch1(x))
    torch.testing.assert_close(y[:, 224:], block.branch4(x))


def test_dense_block_concatenates_every_layer():
    from an2dl.models.vision.densenet import DenseBlock

    block = DenseBlock(3, 8, bn_size=2, growth_rate=4, drop_rate=0.0).eval()
    x = torch.rand(2, 8, 5, 5)
    y = block(x)
    assert y.shape == (2, 8 + 3 * 4, 5, 5)
    torch.testing.assert_close(y[:, :8], x)  # the input is passed on unchanged
    first = block["denselayer1"]([x])
    torch.testing.assert_close(y[:, 8:12], first)


def test_densenet_memory_efficient_gives_the_same_gradients():
    from an2dl.models.vision.densenet import DenseNet

    torch.manual_seed(0)
    a = DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=3, small_input=True).double()
    b = DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=3, small_input=True,
                 memory_efficient=True).double()
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    a(x).sum().backward()
    b(x).sum().backward()
    for (n, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=n)


def test_squeeze_excitation_is_the_gated_channel_mean():
    torch.manual_seed(0)
    se = SqueezeExcitation(6, 3).double()
    x = torch.rand(2, 6, 4, 4, dtype=torch.float64)
    s = x.mean(dim=(2, 3))  # squeeze
    s = torch.sigmoid(F.linear(F.relu(F.linear(s, se.fc1.weight[:, :, 0, 0], se.fc1.bias)), se.fc2.weight[:, :, 0, 0],
                               se.fc2.bias))  # excitation
    torch.testing.assert_close(se(x), x * s[:, :, None, None])


def test_stochastic_depth_keeps_the_expectation():
    sd = StochasticDepth(0.25)
    x = torch.ones(20000, 3)
    torch.manual_seed(0)
    y = sd(x)
    kept = y[:, 0] > 0
    assert torch.all((y == 0) | torch.isclose(y, torch.tensor(1 / 0.75)))
    assert torch.equal(y[:, 0], y[:, 1])  # whole rows are dropped
    assert kept.float().mean().item() == pytest.approx(0.75, abs=0.015)
    assert y.mean().item() == pytest.approx(1.0, abs=0.02)
    assert torch.equal(sd.eval()(x), x)
    with pytest.raises(ConfigError, match="p must be in"):
        StochasticDepth(1.0)


def test_make_divisible_rounds_to_multiples_of_eight_without_losing_ten_percent():
    assert make_divisible(32) == 32
    assert make_divisible(32 * 0.35) == 16  # 11.2 -> 16 (never below the divisor)
    assert make_divisible(1280 * 1.1) == 1408
    assert make_divisible(100) == 104
    assert make_divisible(27) == 32  # 24 would lose more than 10 %


def test_auxiliary_heads_in_training_and_evaluation():
    torch.manual_seed(0)
    model = get_model("googlenet", num_classes=5, aux_logits=True, small_input=True)
    x = torch.rand(2, 3, 16, 16)
    out = model.train()(x)
    assert isinstance(out, GoogLeNetOutputs) and all(t.shape == (2, 5) for t in out)
    target = torch.tensor([1, 3])
    expected = F.cross_entropy(out.logits, target) + 0.3 * (
        F.cross_entropy(out.aux_logits1, target) + F.cross_entropy(out.aux_logits2, target))
    torch.testing.assert_close(auxiliary_loss(out, target), expected)
    assert model.eval()(x).shape == (2, 5)
    inc = _meta("inception_v3", num_classes=4, aux_logits=True).train()
    out = inc(torch.empty(2, 3, 299, 299, device="meta"))
    assert isinstance(out, InceptionOutputs) and out.aux_logits.shape == (2, 4)
    # below 299 px the auxiliary head pools adaptively instead of failing
    assert inc(torch.empty(2, 3, 75, 75, device="meta")).aux_logits.shape == (2, 4)


def test_transform_input_maps_imagenet_normalisation_to_plus_minus_one():
    model = get_model("googlenet", transform_input=True, small_input=True)
    raw = torch.rand(2, 3, 4, 4)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(model._transform((raw - mean) / std), (raw - 0.5) / 0.5)
