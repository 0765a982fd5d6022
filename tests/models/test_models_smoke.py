"""Registry-driven smoke test: every registered model runs forward and backward (DESIGN §12).

For each model built with its default settings: the output has the batch
dimension (``[B, num_classes]`` for the image classifiers of the zoo), every
value is finite, and a gradient reaches every trainable parameter.  Zoo
classifiers run on 32×32 images or, when larger, their smallest accepted
input size (their registered example input is the ImageNet resolution,
too slow for the whole zoo); other models use ``example_inputs(name)``.
VGG runs as its small-input variant: the default's 25088×4096 FC layers
(100M parameters) would take most of the test's time; their layout is
checked against torchvision's manifests in ``test_zoo_manifest.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch

from an2dl.models import example_inputs, get_model, list_models
from an2dl.models.vision._base import ImageClassifier


def _tensors(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _tensors(v)]
    return []


# models checked in a cheaper configuration (see the module docstring)
SMOKE_KWARGS = {name: {"small_input": True} for name in list_models("vgg*")}
# the paper-sized U-Net and FCNs: thinner encoders, same layout (test_segmentation_models.py checks the sizes)
SMOKE_KWARGS.update({"unet": {"base_channels": 8}, "encoder_decoder": {"base_channels": 8},
                     **{n: {"backbone_kwargs": {"small_input": True}} for n in ("fcn8s", "fcn16s", "fcn32s")}})


@pytest.mark.parametrize("name", list_models())
def test_registered_model_runs_forward_and_backward(name):
    torch.manual_seed(0)
    model = get_model(name, **SMOKE_KWARGS.get(name, {}))
    batch = 2
    if isinstance(model, ImageClassifier):
        size = max(model.min_input_size, 32)
        args: tuple = (torch.rand(batch, model.in_channels, size, size),)
    else:
        args = example_inputs(name, batch)
    model.train()
    out = model(*args)
    outputs = _tensors(out)
    assert outputs, f"{name} returned no tensor"
    first = outputs[0]
    if isinstance(model, ImageClassifier):
        assert first.shape == (batch, model.num_classes)
    elif isinstance(out, Mapping) and all(t.dim() == 0 for t in outputs):
        pass  # a detector in training mode: torchvision's dict of scalar loss terms for the whole batch
    else:
        assert first.dim() >= 1 and first.shape[0] == batch
    floats = [t for t in outputs if t.is_floating_point()]
    for t in floats:
        assert torch.isfinite(t).all(), f"{name} produced non-finite values"
    loss = sum(t.float().mean() for t in floats if t.requires_grad)
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"{name}: no gradient reaches {no_grad[:5]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradients in {bad[:5]}"
