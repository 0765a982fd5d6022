"""The pose regressor and the person-box crop ``N(x; b)`` (notes §3.5.3; DeepPose §3)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

import an2dl
from an2dl.errors import CheckpointError, ConfigError
from an2dl.models.pose import crop_to_boxes, load_backbone_weights


def test_the_output_is_the_2k_vector():
    model = an2dl.get_model("pose_regressor", num_joints=14, input_size=32, channels=[8, 16], hidden=[32])
    assert model(torch.rand(3, 3, 32, 32)).shape == (3, 28)
    bare = an2dl.get_model("pose_regressor", num_joints=5, in_channels=1, input_size=16, channels=[4], hidden=[])
    assert bare(torch.rand(2, 1, 16, 16)).shape == (2, 10)
    assert isinstance(bare.head[-1], torch.nn.Linear) and bare.head[-1].in_features == 4 * 8 * 8  # linear head


def test_a_zoo_backbone_gives_the_same_contract_without_its_classifier_top():
    model = an2dl.get_model("pose_regressor", num_joints=14, backbone="resnet18", input_size=32)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 28)
    names = {n for n, _ in model.backbone.named_parameters()}
    assert not any(n.startswith("fc.") for n in names)  # the unused ImageNet top is gone
    assert model.head[-1].in_features == 512
    small = an2dl.get_model("pose_regressor", num_joints=3, backbone="resnet18", input_size=16, small_input=True)
    assert small.backbone.small_input and small(torch.rand(1, 3, 16, 16)).shape == (1, 6)


def test_backbone_weights_load_into_the_trunk(tmp_path):
    source = an2dl.get_model("resnet18", num_classes=10)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "r18.safetensors"))
    model = an2dl.get_model("pose_regressor", backbone="resnet18")
    load_backbone_weights(model, tmp_path / "r18.safetensors")
    assert torch.equal(model.backbone.conv1.weight, source.conv1.weight)
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)
    partial = {k: v.contiguous() for k, v in source.state_dict().items() if not k.startswith("layer4")}
    save_file(partial, str(tmp_path / "partial.safetensors"))
    with pytest.raises(CheckpointError, match="lacks .* tensor.* of the resnet18 trunk"):
        load_backbone_weights(model, tmp_path / "partial.safetensors")
    with pytest.raises(ConfigError, match="needs a zoo backbone"):
        load_backbone_weights(an2dl.get_model("pose_regressor"), tmp_path / "r18.safetensors")


def test_the_crop_maps_the_box_onto_the_output_grid():
    """On a linear ramp image ``I(x, y) = x + 100 y`` the crop's pixel ``(r, c)`` holds the ramp at the box
    point ``(x1 + (c + 1/2) w / S, y1 + (r + 1/2) h / S)`` (averaging a linear function keeps its centre value)."""
    h = w = 40
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    image = (xs + 100 * ys)[None, None].double()
    box = torch.tensor([[8.0, 4.0, 24.0, 36.0]], dtype=torch.float64)  # 16 wide, 32 high
    s = 8
    crop = crop_to_boxes(image, box, s)[0, 0]
    centres = (torch.arange(s, dtype=torch.float64) + 0.5) / s
    expected = (8 + centres * 16)[None, :] + 100 * (4 + centres * 32)[:, None]
    assert torch.allclose(crop, expected, atol=1e-9)


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="3 poolings need crops of at least 8 pixels; got input_size=4"):
        an2dl.get_model("pose_regressor", input_size=4, channels=[4, 4, 4])
    with pytest.raises(ConfigError, match=r"expects crops \[B, 3, 32, 32\]; got \[2, 1, 32, 32\]"):
        an2dl.get_model("pose_regressor")(torch.rand(2, 1, 32, 32))
    with pytest.raises(ConfigError, match="one box"):
        crop_to_boxes(torch.rand(2, 3, 8, 8), torch.zeros(3, 4), 4)
