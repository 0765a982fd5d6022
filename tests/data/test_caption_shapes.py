"""Two-shape scenes and their descriptions (captioning, notes §4.3): the caption is a function of the image."""

from __future__ import annotations

import pytest
import torch

from an2dl.data import get_dataset
from an2dl.data.datasets.caption_shapes import CAPTION_COLOURS, CAPTION_VOCAB, draw_scene
from an2dl.errors import ConfigError


def _colour_centre(image: torch.Tensor, rgb: tuple[float, float, float]) -> torch.Tensor:
    inside = ((image - torch.tensor(rgb)[:, None, None]).abs().amax(0) < 1e-6).nonzero().float()
    assert len(inside) > 20  # the shape is drawn
    return inside.mean(0)  # (row, column)


def test_captions_name_the_colours_and_the_relation_the_pixels_show():
    g = torch.Generator().manual_seed(0)
    for _ in range(40):
        image, caption = draw_scene(g)
        words = caption.split()
        relation = words[3:5] if words[3] == "left" else words[3:4]
        assert words[0] == "a" and relation in (["left", "of"], ["above"])
        words = words[:3] + ["left"] + words[5:] if relation == ["left", "of"] else words
        assert len(words) == 7 and words[4] == "a"  # a <colour> <shape> <relation> a <colour> <shape>
        first, second = (_colour_centre(image, CAPTION_COLOURS[words[i]]) for i in (1, 5))
        drow, dcol = float(second[0] - first[0]), float(second[1] - first[1])
        if words[3] == "left":
            assert dcol > 0 and abs(dcol) >= abs(drow) - 1.0  # pixel centroids, up to a pixel of rounding
        else:
            assert drow > 0 and abs(drow) >= abs(dcol) - 1.0


def test_splits_are_seeded_and_encoded_with_the_caption_vocabulary():
    d = get_dataset("caption-shapes", n_train=8, n_val=4, n_test=6, seed=3)
    images, lengths, tgt = d.train.tensors
    assert images.shape == (8, 3, 64, 64) and float(images.min()) >= 0 and float(images.max()) <= 1
    assert bool((lengths == 1).all()) and tgt.shape == (8, 9)
    n = (tgt != 0).sum(1)  # 7 or 8 words, then <eos>
    assert set(n.tolist()) <= {8, 9} and bool((tgt[torch.arange(8), n - 1] == 3).all())
    again = get_dataset("caption-shapes", n_train=8, n_val=4, n_test=6, seed=3)
    assert torch.equal(again.train.tensors[0], images)
    assert [[" ".join(r) for r in refs] for refs in d.info.test_references] == \
        [[CAPTION_VOCAB.decode(t)] for t in d.test.tensors[2]]
    assert len(CAPTION_VOCAB) == 4 + 11  # a, four colours, three shapes, left, of, above


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="n_train must be a positive integer; got 0"):
        get_dataset("caption-shapes", n_train=0)
    with pytest.raises(ConfigError, match="size must be at least 32 pixels; got 16"):
        get_dataset("caption-shapes", size=16)
