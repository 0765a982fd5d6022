"""Patch-based training data for segmentation: patches labelled by their centre pixel (notes §3.5.1.3).

"A classification network is trained using patches cropped from annotated
images.  Each patch is assigned the label corresponding to the pixel at its
centre ... resampling is often used to address class imbalance."
:class:`CenterPixelPatches` is that data pipeline for the ordinary engine:
sample ``i`` is the ``P × P`` patch centred on one pixel of one image
(images are extended by mirroring so that every pixel has a full patch) and
its label is the class of that pixel.  With ``balance=True`` the dataset
carries ``sample_weights`` ``1 / n_{class}``, so the trainer draws every class
equally often (:mod:`an2dl.data.balance`).  Batches are gathered in one
indexing operation (``__getitems__``), without a loop over patches.

Full-image training needs no special dataset: the images and masks
themselves (an :class:`~an2dl.data.ArrayDataset`) with a fully
convolutional network, the loss weighted by class and randomly masked
(:class:`~an2dl.tasks.SegmentationTask`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..errors import ConfigError
from .core import PreCollated

__all__ = ["CenterPixelPatches"]


class CenterPixelPatches(Dataset):
    """The ``P × P`` patch around each (sampled) pixel, labelled with the pixel's class.

    Args:
        images: ``[N, C, H, W]`` float.
        masks: ``[N, H, W]`` int class ids.
        patch_size: odd side ``P``.
        stride: use every ``stride``-th pixel (rows and columns) as a centre (1: all).
        balance: set ``sample_weights`` to inverse class frequencies of the centres.
        ignore_index: centres with this label are left out.
        pad_mode: how images are extended beyond their border (``"reflect"``, ``"replicate"``, ``"constant"``).
        mask_patches: return the patch of the mask ``[P, P]`` (extended like the image) instead of the
            centre's label: the batch then suits a :class:`~an2dl.tasks.SegmentationTask` whose network
            scores only the centre (an unpadded network with a ``P × P`` receptive field), which
            compares it with the centre of the mask patch, i.e. the patch's label.

    Shape:
        a sample is ``(patch [C, P, P], label int64)`` (or ``(patch, mask patch [P, P])``);
        a batch ``([B, C, P, P], [B])`` (or ``[B, P, P]``).
    """

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, *, patch_size: int, stride: int = 1,
                 balance: bool = True, ignore_index: int | None = None, pad_mode: str = "reflect",
                 mask_patches: bool = False) -> None:
        if images.dim() != 4 or masks.shape != (images.shape[0], *images.shape[-2:]):
            raise ConfigError(f"CenterPixelPatches needs images [N, C, H, W] and masks [N, H, W] of the same size; "
                              f"got {list(images.shape)} and {list(masks.shape)}")
        if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1 or patch_size % 2 == 0:
            raise ConfigError(f"CenterPixelPatches patch_size must be an odd positive integer; got {patch_size!r}")
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ConfigError(f"CenterPixelPatches stride must be a positive integer; got {stride!r}")
        half = patch_size // 2
        self.patch_size, self.half = patch_size, half
        pads = (half, half, half, half)
        self.padded = F.pad(images, pads, mode=pad_mode) if pad_mode != "constant" else F.pad(images, pads)
        self.padded_masks = None
        if mask_patches:
            mode = pad_mode if pad_mode != "constant" else "replicate"  # a mask is extended like its image
            self.padded_masks = F.pad(masks[:, None].float(), pads, mode=mode)[:, 0].long()
        n, _, h, w = images.shape
        nn_, rr, cc = torch.meshgrid(torch.arange(n), torch.arange(0, h, stride), torch.arange(0, w, stride),
                                     indexing="ij")
        centers = torch.stack([nn_.reshape(-1), rr.reshape(-1), cc.reshape(-1)], dim=1)  # (M, 3): image, row, column
        labels = masks[centers[:, 0], centers[:, 1], centers[:, 2]].long()
        if ignore_index is not None:
            keep = labels != ignore_index
            centers, labels = centers[keep], labels[keep]
        if len(labels) == 0:
            raise ConfigError("CenterPixelPatches: no labelled centre pixel")
        self.centers, self.labels = centers, labels
        self.offsets = torch.arange(patch_size)
        if balance:
            counts = torch.bincount(labels).double()
            self.sample_weights = 1.0 / counts[labels]
            self.sample_weights *= len(labels) / self.sample_weights.sum()

    def __len__(self) -> int:
        return len(self.labels)

    def _windows(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, r, c = self.centers[idx].unbind(1)
        rows = (r.view(-1, 1) + self.offsets).view(-1, self.patch_size, 1)  # (B, P, 1) in padded coordinates
        cols = (c.view(-1, 1) + self.offsets).view(-1, 1, self.patch_size)  # (B, 1, P)
        return n.view(-1, 1, 1), rows, cols

    def _sample(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, rows, cols = self._windows(idx)
        patch = self.padded[n, :, rows, cols].permute(0, 3, 1, 2).contiguous()  # (B, P, P, C) -> (B, C, P, P)
        target = self.padded_masks[n, rows, cols] if self.padded_masks is not None else self.labels[idx]
        return patch, target

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        patch, target = self._sample(torch.tensor([int(i)]))
        return patch[0], target[0]

    def __getitems__(self, indices: Sequence[int]) -> PreCollated:
        return PreCollated(self._sample(torch.as_tensor(indices, dtype=torch.long)))
