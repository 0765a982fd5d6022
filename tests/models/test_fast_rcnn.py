"""Fast R-CNN on selective-search proposals (notes §3.5.4.3): R-CNN's proposals, RoI max pooling of one feature
map, one CNN evaluation per image, the detectors' contract."""

from __future__ import annotations

import pytest
import torch
from test_yolo import toy_detection_images

from an2dl.errors import ConfigError
from an2dl.models import get_model
from an2dl.ops.roi import roi_pool

SMALL = {"channels": [8, 16], "representation_size": 32, "proposal_ks": [0.5, 1.0]}


def test_proposals_are_rcnns_selective_search_and_cached():
    images, _ = toy_detection_images(2)
    model = get_model("fast_rcnn_selective_search", **SMALL)
    rcnn = get_model("rcnn", proposal_ks=[0.5, 1.0])
    for ours, theirs in zip(model.propose(images), rcnn.propose(images)):
        assert torch.equal(ours, theirs)
    assert model.cache_hits == 0
    model.propose(list(images))
    assert model.cache_hits == 2
    uncached = get_model("fast_rcnn_selective_search", cache_size=0, **SMALL)
    uncached.propose(images)
    uncached.propose(images)
    assert uncached.cache_hits == 0 and not uncached._cache


def test_roi_pooling_path_is_roi_max_pooling_of_the_one_feature_map():
    images, _ = toy_detection_images(2)
    model = get_model("fast_rcnn_selective_search", **SMALL).eval()
    pooled = []
    hook = model.roi_heads.box_roi_pool.register_forward_hook(lambda m, i, o: pooled.append(o))
    with torch.no_grad():
        model(images)
        # the reference: the backbone on the normalised images, then ops.roi_pool at the map's scale (stride 2)
        batch, _ = model.batch_images(list(images))
        features = model.backbone(batch)
        expected = roi_pool(features, model.propose(images), 7, spatial_scale=0.5)
    hook.remove()
    assert features.shape[-1] == 32 and len(pooled) == 1
    torch.testing.assert_close(pooled[0], expected, rtol=0, atol=0)


def test_one_cnn_evaluation_per_image_against_rcnns_one_per_proposal():
    images, _ = toy_detection_images(3)
    model = get_model("fast_rcnn_selective_search", **SMALL).eval()
    calls = []
    hook = model.backbone.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    with torch.no_grad():
        model(images)
    hook.remove()
    assert calls == [3] and model.last_evaluations == [1, 1, 1]  # one pass over the 3 images
    rcnn = get_model("rcnn", proposal_ks=[0.5, 1.0]).eval()
    with torch.no_grad():
        rcnn(images)
    counts = [p.shape[0] for p in rcnn.propose(images)]
    assert rcnn.last_evaluations == counts and min(counts) > 1


def test_equals_the_plain_fast_rcnn_given_the_same_proposals():
    torch.manual_seed(0)
    images, targets = toy_detection_images(2)
    model = get_model("fast_rcnn_selective_search", **SMALL)
    plain = get_model("fast_rcnn", channels=[8, 16], representation_size=32)
    plain.load_state_dict(model.state_dict())  # the same keys: backbone.body..., roi_heads...
    proposals = model.propose(images)
    torch.manual_seed(1)
    ours = model(images, targets)
    torch.manual_seed(1)
    theirs = plain(images, targets, proposals)
    assert set(ours) == {"loss_classifier", "loss_box_reg"}
    for k in ours:
        torch.testing.assert_close(ours[k], theirs[k])
    sum(ours.values()).backward()
    assert all(p.grad is not None for p in model.parameters())  # end to end, the backbone included
    model.eval()
    plain.eval()
    with torch.no_grad():
        for a, b in zip(model(images), plain(images, proposals=proposals)):
            for k in ("boxes", "labels", "scores"):
                torch.testing.assert_close(a[k], b[k])


def test_output_format_equals_the_other_detectors():
    torch.manual_seed(0)
    images, _ = toy_detection_images(2)
    outputs = {}
    for name in ("fast_rcnn_selective_search", "rcnn", "faster_rcnn", "yolo"):
        with torch.no_grad():
            outputs[name] = get_model(name).eval()(images)
    for name, dets in outputs.items():
        assert len(dets) == 2, name
        for det in dets:
            assert set(det) == {"boxes", "labels", "scores"}, name
            assert det["boxes"].dtype == torch.float32 and det["boxes"].shape[1:] == (4,), name
            assert det["labels"].dtype == torch.int64 and det["scores"].dtype == torch.float32, name
            assert det["labels"].shape == det["scores"].shape == det["boxes"].shape[:1], name
    for det in outputs["fast_rcnn_selective_search"]:
        assert ((det["labels"] >= 1) & (det["labels"] <= 3)).all() and (det["boxes"] <= 64).all()
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}] * 2
    loss = get_model("fast_rcnn_selective_search", **SMALL)(images, empty)  # images without objects train
    assert all(torch.isfinite(v) for v in loss.values())


def test_bad_input_is_named():
    images, targets = toy_detection_images(2)
    model = get_model("fast_rcnn_selective_search", **SMALL)
    with pytest.raises(ValueError, match="training mode needs targets"):
        model(images)
    with pytest.raises(ValueError, match="makes its own selective-search proposals"):
        model(images, targets, [t["boxes"] for t in targets])
    with pytest.raises(ValueError, match=r"SelectiveSearchFastRCNN images must be a tensor \[B, 3, H, W\]"):
        model(torch.rand(2, 1, 64, 64), targets)
    with pytest.raises(ValueError, match=r"must lie in 1..3"):
        model(images, [dict(t, labels=torch.zeros_like(t["labels"])) for t in targets])
    with pytest.raises(ConfigError, match="cache_size must be an integer >= 0"):
        get_model("fast_rcnn_selective_search", cache_size=-1)
    with pytest.raises(ConfigError, match="ks must be a non-empty list"):
        get_model("fast_rcnn_selective_search", proposal_ks=[])
    with pytest.raises(ConfigError, match="num_classes must be an integer >= 2"):
        get_model("fast_rcnn_selective_search", num_classes=1)
