"""Synthetic scenes with their descriptions, for image captioning (notes §4.3: attention over an image).

Each 64×64 image holds two shapes (circle, square or triangle) of two different
colours (red, green, blue, yellow) on a noisy grey background, and is described
by one sentence naming both and where the first is from the second:

    "a red circle left of a blue square"      (the shapes side by side)
    "a yellow triangle above a green circle"  (one over the other)

The description is a function of the image: the relation follows the larger of
the horizontal and vertical offsets between the centres, and the shape named
first is the left (or upper) one.  A captioner must therefore find both shapes,
tell their colours and kinds apart and compare their positions — the kind of
question attention over the feature map answers step by step.  The vocabulary
has the four special tokens and 11 words.
"""

from __future__ import annotations

import torch

from ...errors import ConfigError
from ..core import ArrayDataset, DataSplits
from ..registry import register_dataset
from ..text import Vocabulary
from ..text.specials import EOS, PAD
from .shapes import SHAPE_EXTENT, shape_masks
from .translation import TranslationInfo

__all__ = ["caption_shapes", "CAPTION_COLOURS", "CAPTION_SHAPES", "CAPTION_VOCAB", "draw_scene"]

CAPTION_COLOURS = {"red": (0.9, 0.15, 0.15), "green": (0.15, 0.75, 0.2), "blue": (0.2, 0.3, 0.95),
                   "yellow": (0.95, 0.85, 0.1)}
CAPTION_SHAPES = ("circle", "square", "triangle")  # classes 1, 2, 3 of shape_masks
#: every word of a caption
CAPTION_VOCAB = Vocabulary(["a", *CAPTION_COLOURS, *CAPTION_SHAPES, "left", "of", "above"], tokenizer="word")
_MAX_WORDS = 8  # "a <colour> <shape> left of a <colour> <shape>"


def draw_scene(generator: torch.Generator, size: int = 64, noise: float = 0.05) -> tuple[torch.Tensor, str]:
    """One image ``[3, size, size]`` in [0, 1] and its caption."""
    colours = list(CAPTION_COLOURS)
    c = torch.randperm(len(colours), generator=generator)[:2].tolist()
    kinds = torch.randint(1, 4, (2,), generator=generator)
    r = 0.09 + 0.05 * torch.rand(2, generator=generator)
    theta = torch.rand(2, generator=generator) * 6.2832
    while True:  # two centres far enough apart that the shapes do not touch
        centre = 0.18 + 0.64 * torch.rand(2, 2, generator=generator)
        if float((centre[0] - centre[1]).norm()) > SHAPE_EXTENT * float(r.sum()) + 0.04:
            break
    masks = shape_masks(kinds, r, centre[:, 0], centre[:, 1], theta, size)
    image = 0.5 + noise * torch.randn(3, size, size, generator=generator)
    for k in range(2):
        image[:, masks[k]] = torch.tensor(CAPTION_COLOURS[colours[c[k]]])[:, None]
    dx, dy = float(centre[1, 0] - centre[0, 0]), float(centre[1, 1] - centre[0, 1])
    horizontal = abs(dx) >= abs(dy)
    first = 0 if (dx > 0 if horizontal else dy > 0) else 1  # the left (upper) shape is named first
    second = 1 - first

    def name(k: int) -> str:
        return f"a {colours[c[k]]} {CAPTION_SHAPES[int(kinds[k]) - 1]}"

    relation = "left of" if horizontal else "above"
    return image.clamp(0, 1), f"{name(first)} {relation} {name(second)}"


def _split(n: int, seed: int, size: int) -> tuple[ArrayDataset, list[list[str]]]:
    g = torch.Generator().manual_seed(seed)
    images, captions = [], []
    for _ in range(n):
        image, caption = draw_scene(g, size)
        images.append(image)
        captions.append(caption.split())
    tgt = torch.full((n, _MAX_WORDS + 1), PAD, dtype=torch.long)
    for i, words in enumerate(captions):
        tgt[i, : len(words)] = CAPTION_VOCAB.encode(" ".join(words))
        tgt[i, len(words)] = EOS
    # every image is one "source" of fixed length: the feature map's positions are counted by the model
    return ArrayDataset(torch.stack(images), torch.ones(n, dtype=torch.long), tgt), captions


@register_dataset("caption-shapes")
def caption_shapes(*, n_train: int = 3000, n_val: int = 300, n_test: int = 500, size: int = 64,
                   seed: int = 0) -> DataSplits:
    """Two-shape scenes and their one-sentence descriptions (see the module docstring).

    Returns:
        :class:`DataSplits` of ``(image [3, size, size], 1, caption ids [9])`` (ids ``<eos>``-terminated, padded);
        ``info`` a :class:`~an2dl.data.datasets.translation.TranslationInfo` with the caption vocabulary as
        ``tgt_vocab`` and the test captions as ``test_references``.
    """
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"caption-shapes {name} must be a positive integer; got {value!r}")
    if size < 32:
        raise ConfigError(f"caption-shapes size must be at least 32 pixels; got {size}")
    train, _ = _split(n_train, seed, size)
    val, _ = _split(n_val, seed + 1, size)
    test, captions = _split(n_test, seed + 2, size)
    info = TranslationInfo("caption-shapes", input_shape=(3, size, size), tgt_vocab=CAPTION_VOCAB,
                           source_language="image", target_language="en",
                           test_references=[[c] for c in captions], test_sources=[[f"test image {i}"]
                                                                                   for i in range(n_test)],
                           extra={"images": {"train": n_train, "val": n_val, "test": n_test}})
    return DataSplits(train, val, test, info)
