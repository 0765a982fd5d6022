"""Classical region proposals (notes §3.5.4.2): graph-based segmentation, hierarchical grouping, selective search."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from an2dl.errors import ConfigError
from an2dl.ops.proposals import (
    felzenszwalb_segmentation,
    hierarchical_grouping,
    proposal_recall,
    selective_search,
)


def _two_blocks() -> torch.Tensor:
    """A 12 x 20 image: a red left block (columns 0..7) and a blue right block (columns 8..19)."""
    image = torch.zeros(3, 12, 20)
    image[0, :, :8] = 0.9
    image[2, :, 8:] = 0.8
    return image


def test_segmentation_of_two_flat_blocks_gives_the_two_blocks():
    labels = felzenszwalb_segmentation(_two_blocks(), k=1.0, sigma=0.0, min_size=5)
    assert labels.shape == (12, 20) and labels.dtype == np.int64
    assert (labels[:, :8] == 0).all() and (labels[:, 8:] == 1).all()
    # smoothing makes the border columns intermediate colours, thin regions of their own; min_size merges them back
    assert np.unique(felzenszwalb_segmentation(_two_blocks(), k=1.0, sigma=0.8, min_size=5)).size > 2
    smoothed = felzenszwalb_segmentation(_two_blocks(), k=1.0, sigma=0.8, min_size=30)
    assert np.array_equal(smoothed, labels)


def test_the_merge_criterion_by_hand():
    # a 1 x 3 grey ramp 0, 0.1, 0.5 (one channel): edges 0.1 (a-b) and 0.4 (b-c); with k = 0.2:
    # a-b merge (0.1 <= 0 + 0.2 / 1); then 0.4 > Int(ab) + k / 2 = 0.1 + 0.1 = 0.2: c stays apart
    ramp = np.array([[[0.0, 0.1, 0.5]]])
    assert felzenszwalb_segmentation(ramp, k=0.2, sigma=0.0, min_size=1).tolist() == [[0, 0, 1]]
    # k = 0.7: 0.4 <= min(0.1 + 0.35, 0 + 0.7): one region
    assert felzenszwalb_segmentation(ramp, k=0.7, sigma=0.0, min_size=1).tolist() == [[0, 0, 0]]
    # min_size = 2 merges the lone pixel into its neighbour
    assert felzenszwalb_segmentation(ramp, k=0.2, sigma=0.0, min_size=2).tolist() == [[0, 0, 0]]


def test_grouping_merges_adjacent_similar_regions_first():
    # three vertical stripes: red | dark red | blue; the two reds are adjacent and of similar colour
    image = torch.zeros(3, 10, 30)
    image[0, :, :10] = 0.9
    image[0, :, 10:20] = 0.8
    image[2, :, 20:] = 0.9
    labels = np.repeat(np.repeat(np.arange(3)[None], 10, axis=0), 10, axis=1)  # (10, 30): stripes 0, 1, 2
    result = hierarchical_grouping(image, labels)
    assert result.merges == [(0, 1), (2, 3)]  # the reds, then the blue with their union (region 3)
    torch.testing.assert_close(result.boxes, torch.tensor([[0.0, 0, 10, 10], [10, 0, 20, 10], [20, 0, 30, 10],
                                                           [0, 0, 20, 10], [0, 0, 30, 10]]))
    assert result.sizes.tolist() == [100, 100, 100, 200, 300]
    # with the middle stripe blue, the two blues merge first
    image[:, :, 10:20] = torch.tensor([0.0, 0.0, 0.9])[:, None, None]
    assert hierarchical_grouping(image, labels).merges == [(1, 2), (0, 3)]


def test_similarity_terms_by_hand():
    # two 1-pixel regions in a 1 x 2 image: colour 1 (identical), size 1 - 2/2 = 0, fill 1 - (2 - 2)/2 = 1
    image = np.full((3, 1, 2), 0.5)
    labels = np.array([[0, 1]])
    for terms in (("colour",), ("size",), ("fill",), ("colour", "size", "fill")):
        assert hierarchical_grouping(image, labels, similarities=terms).merges == [(0, 1)]


def test_selective_search_returns_distinct_ranked_boxes_and_is_repeatable():
    image = _two_blocks()
    boxes = selective_search(image, ks=(0.5, 1.0), sigma=0.0, min_size=5)
    assert boxes.dtype == torch.float32 and boxes.shape[1] == 4
    assert len({tuple(b) for b in boxes.tolist()}) == boxes.shape[0]  # deduplicated
    expected = {(0.0, 0.0, 8.0, 12.0), (8.0, 0.0, 20.0, 12.0), (0.0, 0.0, 20.0, 12.0)}
    assert {tuple(b) for b in boxes.tolist()} == expected
    assert torch.equal(boxes, selective_search(image, ks=(0.5, 1.0), sigma=0.0, min_size=5))
    assert selective_search(image, ks=(0.5, 1.0), sigma=0.0, min_size=5, max_proposals=2).shape == (2, 4)


def test_proposal_recall_by_hand():
    gt = [torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), torch.zeros(0, 4)]
    props = [torch.tensor([[0.0, 0, 10, 12], [20, 20, 24, 24]]), torch.tensor([[0.0, 0, 5, 5]])]
    # IoU 100 / 120 = 0.83 recalls the first object; 16 / 100 does not recall the second
    assert proposal_recall(props, gt) == 0.5
    assert proposal_recall(props, gt, iou_threshold=0.9) == 0.0
    assert proposal_recall([p.flip(0) for p in props], gt, top=1) == 0.0
    assert np.isnan(proposal_recall([torch.zeros(0, 4)], [torch.zeros(0, 4)]))


def test_recall_on_shapes_detection_above_the_measured_floor():
    """Measured on the first 32 test images of shapes-detection (seed 0, the default settings): recall at IoU 0.5
    1.000 with 26.5 proposals per image (0.95 from the first 10); floor 0.9."""
    from an2dl.data import get_dataset

    data = get_dataset("shapes-detection", n_train=1, n_val=1, n_test=32, seed=0)
    images = [data.test[i][0] for i in range(len(data.test))]
    gt = [data.test[i][1]["boxes"] for i in range(len(data.test))]
    props = [selective_search(im, ks=(0.25, 0.5, 1.0)) for im in images]
    assert proposal_recall(props, gt) >= 0.9
    for p in props:
        assert (p[:, 2:] > p[:, :2]).all() and (p >= 0).all() and (p <= 64).all()


def test_bad_arguments_are_named():
    image = _two_blocks()
    with pytest.raises(ConfigError, match="k must be a number >= 0; got -1"):
        felzenszwalb_segmentation(image, k=-1)
    with pytest.raises(ConfigError, match="sigma must be a number >= 0"):
        felzenszwalb_segmentation(image, sigma=float("nan"))
    with pytest.raises(ConfigError, match="min_size must be an integer >= 1; got 0"):
        felzenszwalb_segmentation(image, min_size=0)
    with pytest.raises(ValueError, match=r"image must be \[C, H, W\]"):
        felzenszwalb_segmentation(torch.zeros(1, 3, 4, 4))
    with pytest.raises(TypeError, match="image must be a tensor or array"):
        felzenszwalb_segmentation([[0.0]])
    with pytest.raises(ConfigError, match="similarities must be distinct names among"):
        hierarchical_grouping(image, np.zeros((12, 20), dtype=np.int64), similarities=("texture",))
    with pytest.raises(ValueError, match=r"labels must be an integer \[H, W\] = \[12, 20\]"):
        hierarchical_grouping(image, np.zeros((12, 19), dtype=np.int64))
    with pytest.raises(ValueError, match="without gaps"):
        hierarchical_grouping(image, np.full((12, 20), 2, dtype=np.int64))
    with pytest.raises(ConfigError, match="ks must be a non-empty list"):
        selective_search(image, ks=())
    with pytest.raises(ConfigError, match="max_proposals must be an integer >= 1"):
        selective_search(image, max_proposals=0)
    with pytest.raises(ValueError, match="one entry per image"):
        proposal_recall([torch.zeros(0, 4)], [])
    with pytest.raises(ConfigError, match=r"iou_threshold must be in \(0, 1\]"):
        proposal_recall([torch.zeros(0, 4)], [torch.zeros(0, 4)], iou_threshold=1.5)
