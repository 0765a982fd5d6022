"""The zoo's state dicts match torchvision's, entry by entry (notes §3.4.2, DESIGN §1.3).

One test per torchvision classification model of ``../shared/reference/
classification_models.json``: the ordered ``[key, shape, dtype]`` manifest,
the parameter and buffer counts, the default input size and the eval-mode
output shape.  Models are built on PyTorch's ``meta`` device (shapes only),
so the whole file runs in seconds.
"""

from __future__ import annotations

import json

import pytest
import torch

from an2dl.models import example_inputs, get_model
from conftest import require_reference

# every classification entry of the reference file (variant keys carry constructor arguments)
REFERENCE_MODELS = [
    "alexnet",
    "vgg11",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "googlenet[aux_logits=False]",
    "googlenet[aux_logits=True]",
    "inception_v3[aux_logits=True]",
    "inception_v3[aux_logits=False]",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "wide_resnet50_2",
    "wide_resnet101_2",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "squeezenet1_0",
]


@pytest.fixture(scope="module")
def reference() -> dict:
    path = require_reference("classification_models.json")
    return json.loads(path.read_text())["models"]


def _build(entry: dict) -> torch.nn.Module:
    # torchvision's init_weights only chooses an initialisation; it does not change the state dict
    kwargs = {k: v for k, v in entry["kwargs"].items() if k not in ("weights", "init_weights")}
    with torch.device("meta"):
        return get_model(entry["builder"].rsplit(".", 1)[1], **kwargs)


def _manifest(model: torch.nn.Module) -> list:
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]


def test_the_list_covers_every_reference_entry(reference):
    assert sorted(REFERENCE_MODELS) == sorted(reference)


@pytest.mark.parametrize("key", REFERENCE_MODELS)
def test_state_dict_and_output_match_torchvision(reference, key):
    entry = reference[key]
    model = _build(entry)
    got = _manifest(model)
    if got != entry["state_dict"]:
        first = next(i for i, (a, b) in enumerate(zip(got + [None] * 9999, entry["state_dict"] + [None] * 9999)) if a != b)
        pytest.fail(f"{key}: first difference at entry {first}: ours {got[first:first + 1]} vs torchvision "
                    f"{entry['state_dict'][first:first + 1]} ({len(got)} vs {len(entry['state_dict'])} entries)")
    params = list(model.parameters())
    assert sum(p.numel() for p in params) == entry["total_params"]
    assert sum(p.numel() for p in params if p.requires_grad) == entry["trainable_params"]
    assert len(params) == entry["num_param_tensors"]
    buffers = list(model.buffers())
    assert len(buffers) == entry["num_buffers"]
    assert sum(b.numel() for b in buffers) == entry["num_buffer_elements"]
    # the registered example input is the native resolution; the eval-mode output has torchvision's shape
    model.eval()
    name = entry["builder"].rsplit(".", 1)[1]
    assert list(example_inputs(name, 1)[0].shape[1:]) == entry["native_input_size"]
    assert model.default_input_size == entry["native_input_size"][-1]
    out = model(torch.empty(*entry["eval_input_shape"], device="meta"))
    assert list(out.shape) == entry["eval_output_shape"]


# torchvision models outside the reference file, against the parameter counts its documentation publishes
@pytest.mark.parametrize(
    "name, count",
    [
        ("vgg11_bn", 132_868_840),
        ("vgg13", 133_047_848),
        ("vgg13_bn", 133_053_736),
        ("vgg19_bn", 143_678_248),
        ("resnext101_64x4d", 83_455_272),
        ("squeezenet1_1", 1_235_496),
    ],
)
def test_parameter_count_of_torchvision_models_outside_the_reference(name, count):
    with torch.device("meta"):
        model = get_model(name)
    assert sum(p.numel() for p in model.parameters()) == count
