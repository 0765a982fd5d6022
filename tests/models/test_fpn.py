"""The Feature Pyramid Network (notes §3.5.5.2): the top-down pathway with lateral connections, written out, and
state dicts identical to torchvision's manifests (``../shared/reference/detection_models.json``)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from an2dl.errors import ConfigError
from an2dl.models.detection.fpn import FeaturePyramidNetwork, resnet_fpn_backbone
from conftest import require_reference


def _manifest(name: str) -> dict:
    return json.loads((require_reference("detection_models.json")).read_text())["models"][name]


def _layout(module: torch.nn.Module, prefix: str = "") -> list[list]:
    return [[prefix + k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in module.state_dict().items()]


def test_the_state_dict_and_output_shapes_are_torchvisions():
    ref = _manifest("FeaturePyramidNetwork([256,512,1024,2048],256)")
    fpn = FeaturePyramidNetwork([256, 512, 1024, 2048], 256)
    assert _layout(fpn) == ref["state_dict"]
    assert sum(p.numel() for p in fpn.parameters()) == ref["total_params"] == 3_344_384
    feats = {k: torch.zeros(v) for k, v in ref["eval_input_shapes"].items()}
    out = fpn.eval()(feats)
    assert {k: list(v.shape) for k, v in out.items()} == ref["eval_output_shapes"]


def test_the_top_down_pathway_is_the_papers_equation():
    """P_l = smooth_l(lateral_l(C_l) + nearest-upsample(M_{l+1})), from the coarsest map down; sizes need not halve."""
    torch.manual_seed(0)
    fpn = FeaturePyramidNetwork([3, 5, 7], 4, extra_blocks="maxpool").double()
    maps = [torch.randn(2, 3, 13, 11, dtype=torch.float64), torch.randn(2, 5, 7, 6, dtype=torch.float64),
            torch.randn(2, 7, 3, 3, dtype=torch.float64)]
    out = fpn(maps)

    def conv(block, x, pad):
        return F.conv2d(x, block[0].weight, block[0].bias, padding=pad)

    m3 = conv(fpn.inner_blocks[2], maps[2], 0)
    m2 = conv(fpn.inner_blocks[1], maps[1], 0) + F.interpolate(m3, size=(7, 6), mode="nearest")
    m1 = conv(fpn.inner_blocks[0], maps[0], 0) + F.interpolate(m2, size=(13, 11), mode="nearest")
    expected = [conv(fpn.layer_blocks[i], m, 1) for i, m in enumerate((m1, m2, m3))]
    assert list(out) == ["0", "1", "2", "pool"]
    for got, want in zip(list(out.values())[:3], expected):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(out["pool"], expected[2][:, :, ::2, ::2])  # a 1x1 max pool with stride 2


def test_older_flat_keys_load():
    fpn = FeaturePyramidNetwork([8, 16], 4)
    old = {k.replace(".0.weight", ".weight").replace(".0.bias", ".bias"): v for k, v in fpn.state_dict().items()}
    assert "inner_blocks.0.weight" in old
    other = FeaturePyramidNetwork([8, 16], 4)
    other.load_state_dict(old, strict=True)  # version-less metadata: read as the older layout
    assert all(torch.equal(a, b) for a, b in zip(fpn.state_dict().values(), other.state_dict().values()))


def test_resnet50_with_fpn_has_the_backbone_of_fasterrcnn_resnet50_fpn():
    ref = _manifest("fasterrcnn_resnet50_fpn[frozen_bn,trainable_layers=3]")
    want = [e for e in ref["state_dict"] if e[0].startswith("backbone.")]
    backbone = resnet_fpn_backbone("resnet50", trainable_layers=3)
    assert _layout(backbone, "backbone.") == want
    # torchvision's rule: conv1 and layer1 frozen, layer2..4 and the FPN train
    frozen = {n.split(".")[1] for n, p in backbone.named_parameters() if not p.requires_grad}
    assert frozen == {"conv1", "layer1"}
    out = backbone.eval()(torch.zeros(1, 3, 64, 96))
    assert {k: tuple(v.shape[-2:]) for k, v in out.items()} == {"0": (16, 24), "1": (8, 12), "2": (4, 6),
                                                                   "3": (2, 3), "pool": (1, 2)}
    assert backbone.strides == [4, 8, 16, 32]


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="in_channels_list must be non-negative integers"):
        FeaturePyramidNetwork([], 4)
    with pytest.raises(ConfigError, match="out_channels must be a positive integer; got 0"):
        FeaturePyramidNetwork([4], 0)
    with pytest.raises(ConfigError, match="extra_blocks must be one of"):
        FeaturePyramidNetwork([4], 4, extra_blocks="p6p7")
    with pytest.raises(ValueError, match=r"map '1' must be \[B, 8, H, W\]; got \[1, 9, 4, 4\]"):
        FeaturePyramidNetwork([4, 8], 4)([torch.zeros(1, 4, 8, 8), torch.zeros(1, 9, 4, 4)])
