"""What the visualisation recipes share: a small CNN on digits, the digits-on-a-canvas data, filter statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ...data import get_dataset
from ...data.core import ArrayDataset, ClassificationInfo, DataSplits
from ...errors import ConfigError
from ...models import get_model

__all__ = ["SmallCNN", "DigitsData", "load_digits_data", "build_cnn", "neighbour_correlation", "CanvasData",
           "digit_canvas", "canvas_splits", "mass_in_boxes"]


@dataclass
class SmallCNN:
    channels: list[int] = field(default_factory=lambda: [16, 32])  # filters of each conv-ReLU-pool block
    kernel_size: int = 5  # side of every convolution's kernel (odd; "same" padding)
    head: str = "dense"  # "dense" (flatten -> hidden -> classes) or "gap-linear" (GAP -> one linear layer)
    hidden: list[int] = field(default_factory=lambda: [64])  # hidden widths of a dense head
    batch_norm: bool = False  # batch normalisation after each convolution (faster training on noisy canvases)


@dataclass
class DigitsData:
    name: str = "digits"  # "digits" (embedded 8x8, no download) or "mnist" (the IDX files)
    size: int = 16  # digits: resize the 8x8 images to size x size (bilinear); mnist: 28 (ignored)
    root: str | None = None  # mnist: folder of the IDX files (default: $AN2DL_DATA_DIR/mnist, cache, download)
    limit_train: int | None = None  # mnist: use only the first n training images
    val_fraction: float = 0.1  # held out for validation
    test_fraction: float = 0.2  # digits: held out for testing (mnist has its own test set)
    seed: int = 0  # seed of the split


def load_digits_data(d: DigitsData) -> DataSplits:
    """The 8x8 digits (resized) or MNIST, as :class:`DataSplits` of ``(image [1, H, W], label)``."""
    if d.name == "digits":
        return get_dataset("digits", size=d.size, val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                           seed=d.seed)
    if d.name == "mnist":
        return get_dataset("mnist", root=d.root, limit_train=d.limit_train, val_fraction=d.val_fraction, seed=d.seed)
    raise ConfigError(f"data.name must be 'digits' or 'mnist'; got {d.name!r}")


def build_cnn(m: SmallCNN, info: ClassificationInfo):
    """A :func:`~an2dl.models.vision.plain_cnn.plain_cnn` for ``info``'s images."""
    c, h, w = info.input_shape
    return get_model("plain_cnn", num_classes=info.num_classes, in_channels=c, input_size=[h, w],
                     channels=list(m.channels), kernel_size=m.kernel_size, head=m.head, hidden=list(m.hidden),
                     batch_norm=m.batch_norm)


def neighbour_correlation(weight: torch.Tensor) -> float:
    """Mean correlation of horizontally and vertically adjacent weights of the filters ``[K, C, kh, kw]``.

    The Pearson correlation over every pair of neighbouring taps (each channel of each
    filter centred on its own mean): about 0 for independent random weights, close to 1 for
    smooth filters (blobs, oriented edges), negative for checkerboards.
    """
    w = weight.detach().double()
    w = w - w.mean(dim=(2, 3), keepdim=True)
    pairs = [(w[..., :, :-1], w[..., :, 1:]), (w[..., :-1, :], w[..., 1:, :])]
    a = torch.cat([p[0].reshape(-1) for p in pairs])
    b = torch.cat([p[1].reshape(-1) for p in pairs])
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


@dataclass
class CanvasData:
    canvas: int = 40  # side of the canvas the digit is pasted on
    digit: int = 16  # side of the pasted digit (the 8x8 digits resized bilinearly)
    noise: float = 0.15  # std of the Gaussian noise over the whole canvas (clipped to [0, 1])
    clutter: int = 4  # bright 2x2 specks at random places (distractors outside the digit)
    val_fraction: float = 0.1  # of the 1,797 digits
    test_fraction: float = 0.2
    limit_train: int | None = None  # use only the first n training digits
    seed: int = 0  # seed of the split, the positions and the noise


def digit_canvas(digits: torch.Tensor, canvas: int, *, noise: float, clutter: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste each digit ``[N, 1, d, d]`` at a random place of a noisy ``canvas × canvas`` image.

    Returns:
        ``(images [N, 1, canvas, canvas] in [0, 1], boxes [N, 4])`` with the boxes
        ``(x1, y1, x2, y2)`` of the pasted squares in pixels (half-open: columns ``x1 .. x2 - 1``).
    """
    n, _, d, _ = digits.shape
    if d > canvas:
        raise ConfigError(f"the digit ({d} pixels) must fit the canvas ({canvas} pixels)")
    x = noise * torch.randn(n, 1, canvas, canvas, generator=generator)
    for _ in range(clutter):
        pos = torch.randint(0, canvas - 1, (n, 2), generator=generator)
        for i, (r, c) in enumerate(pos.tolist()):
            x[i, 0, r:r + 2, c:c + 2] += 1.0
    corner = torch.randint(0, canvas - d + 1, (n, 2), generator=generator)  # (row, col) of the top-left pixel
    for i, (r, c) in enumerate(corner.tolist()):
        x[i, 0, r:r + d, c:c + d] = torch.maximum(x[i, 0, r:r + d, c:c + d], digits[i, 0])
    boxes = torch.stack([corner[:, 1], corner[:, 0], corner[:, 1] + d, corner[:, 0] + d], dim=1)
    return x.clamp(0, 1), boxes


def canvas_splits(cfg: CanvasData) -> tuple[DataSplits, dict[str, torch.Tensor]]:
    """The digits of each split pasted on canvases; the boxes of each split (never used for training)."""
    digits = get_dataset("digits", size=cfg.digit, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                         seed=cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    parts, boxes = {}, {}
    for split in ("train", "val", "test"):
        x, y = getattr(digits, split).tensors[:2]
        if split == "train" and cfg.limit_train is not None:
            x, y = x[:cfg.limit_train], y[:cfg.limit_train]
        img, box = digit_canvas(x, cfg.canvas, noise=cfg.noise, clutter=cfg.clutter, generator=g)
        parts[split] = ArrayDataset(img, y)
        boxes[split] = box
    train = parts["train"].tensors[0]
    info = ClassificationInfo(
        name="digits-on-canvas", input_shape=(1, cfg.canvas, cfg.canvas),
        mean=tuple(train.mean(dim=(0, 2, 3)).tolist()), std=tuple(train.std(dim=(0, 2, 3)).tolist()),
        extra={"source": f"scikit-learn's 8x8 digits resized to {cfg.digit}x{cfg.digit} and pasted at a random place "
                         f"of a {cfg.canvas}x{cfg.canvas} canvas with Gaussian noise (std {cfg.noise}) and "
                         f"{cfg.clutter} bright specks"},
        class_names=[str(i) for i in range(10)])
    return DataSplits(parts["train"], parts["val"], parts["test"], info), boxes


def mass_in_boxes(maps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """The fraction of each non-negative map ``[N, H, W]``'s total inside its box ``(x1, y1, x2, y2)`` ``[N, 4]``.

    A map with zero total counts as 0 (no evidence inside the box).
    """
    inside = torch.zeros_like(maps, dtype=torch.bool)
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        inside[i, y1:y2, x1:x2] = True
    m = maps.clamp_min(0).double()
    total = m.flatten(1).sum(1)
    return torch.where(total > 0, (m * inside).flatten(1).sum(1) / total.clamp_min(1e-300), torch.zeros_like(total))
