"""Segmentation masks on disk and on screen: PNG index and palette masks, colours, overlays (notes §3.5.1).

A semantic-segmentation mask holds one class id per pixel, ``[H, W]``
integers in ``[0, K)``.  On disk it is a PNG, never a JPEG (lossy
compression would invent ids at every edge):

* an **index** mask — 8- or 16-bit grey levels that are the class ids
  themselves, or values that ``values`` maps to ids (the ISBI membrane
  labels: ``{0: 1, 255: 0}``);
* a **palette** mask — mode ``P``: the palette indices are the class ids
  and the palette gives each class a colour (PASCAL VOC's format;
  :func:`save_mask` writes this form, with :data:`PALETTE`).

:func:`overlay_mask` blends the class colours onto an image for reports and
``an2dl predict``; class 0 (the background) is left uncoloured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

__all__ = ["PALETTE", "read_mask", "save_mask", "colorize_mask", "overlay_mask", "MASK_SUFFIXES"]

#: suffixes accepted for mask files (lossless formats only)
MASK_SUFFIXES = (".png",)

#: RGB colour of each class id (PASCAL VOC's first colours, then a fixed spread); class 0 is black
PALETTE: list[tuple[int, int, int]] = [
    (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128),
    (128, 128, 128),
]


def _palette_bytes() -> list[int]:
    colours = PALETTE + [(255, 255, 255)] * (256 - len(PALETTE))
    return [c for rgb in colours for c in rgb]


def read_mask(path: str | os.PathLike, *, values: Mapping[int, int] | None = None) -> torch.Tensor:
    """Read a PNG mask as int64 class ids ``[H, W]``.

    Args:
        path: a ``.png`` file: palette (``P``: indices are ids), grey (``L``,
            ``I;16``: values are ids) or ``1`` (0/1).
        values: ``{stored value: class id}`` for index masks whose values are
            not the ids (every value found must be a key).

    Raises:
        DataError: not a PNG, unreadable, a colour (RGB) mask, or a value ``values`` does not map;
            the message names the file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.suffix.lower() not in MASK_SUFFIXES:
        raise DataError(f"mask {path} must be a PNG file (lossless; JPEG compression changes class ids at every "
                        f"edge); got a {path.suffix or 'suffix-less'} file")
    try:
        with Image.open(path) as im:
            if im.mode in ("RGB", "RGBA"):
                raise DataError(f"mask {path} is a colour ({im.mode}) image; save masks as palette (P) or grey (L) "
                                "PNGs whose values are class ids")
            arr = np.asarray(im.convert("L") if im.mode == "1" else im).astype(np.int64)
    except FileNotFoundError:
        raise DataError(f"mask {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"mask {path} is not a readable PNG: {e}") from None
    if arr.ndim != 2:
        raise DataError(f"mask {path} must hold one value per pixel; got an array of shape {list(arr.shape)}")
    if values is not None:
        found = np.unique(arr)
        unmapped = [int(v) for v in found if int(v) not in values]
        if unmapped:
            raise DataError(f"mask {path} holds values {unmapped} that the value map {dict(values)} does not name")
        lut = np.zeros(int(found.max()) + 1, dtype=np.int64)
        for k, v in values.items():
            if 0 <= int(k) < len(lut):
                lut[int(k)] = int(v)
        arr = lut[arr]
    return torch.from_numpy(np.ascontiguousarray(arr))


def save_mask(path: str | os.PathLike, mask: torch.Tensor) -> Path:
    """Write class ids ``[H, W]`` (0–255) as a palette PNG (indices = ids, colours = :data:`PALETTE`)."""
    from PIL import Image

    path = Path(path)
    m = mask.detach().cpu()
    if m.dim() != 2 or m.is_floating_point():
        raise ValueError(f"save_mask needs integer class ids [H, W]; got {m.dtype} {list(m.shape)}")
    if m.numel() and (int(m.min()) < 0 or int(m.max()) > 255):
        raise ValueError(f"save_mask writes class ids 0-255; got values from {int(m.min())} to {int(m.max())}")
    im = Image.fromarray(m.numpy().astype(np.uint8), mode="P")
    im.putpalette(_palette_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def colorize_mask(mask: torch.Tensor) -> torch.Tensor:
    """Class ids ``[H, W]`` as an RGB image ``[3, H, W]`` in [0, 1] (:data:`PALETTE`; ids beyond it are white)."""
    table = torch.tensor(PALETTE + [(255, 255, 255)], dtype=torch.float32) / 255.0
    ids = mask.detach().cpu().long().clamp(0, len(PALETTE))
    return table[ids].permute(2, 0, 1).contiguous()


def overlay_mask(image: torch.Tensor, mask: torch.Tensor, *, alpha: float = 0.5) -> torch.Tensor:
    """The image ``[C, H, W]`` (grey or RGB, [0, 1]) with every non-background class tinted by its colour.

    Returns:
        RGB ``[3, H, W]`` in [0, 1]: ``(1 − α) · image + α · colour`` where the class is not 0, the image elsewhere.
    """
    img = image.detach().cpu().float()
    if img.dim() != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"overlay_mask needs an image [1 or 3, H, W]; got {list(img.shape)}")
    if tuple(mask.shape) != tuple(img.shape[-2:]):
        raise ValueError(f"overlay_mask: the mask {list(mask.shape)} must have the image's size {list(img.shape[-2:])}")
    rgb = img.expand(3, -1, -1) if img.shape[0] == 1 else img
    tint = (mask.detach().cpu() != 0).unsqueeze(0).float() * alpha
    return (rgb * (1 - tint) + colorize_mask(mask) * tint).clamp(0, 1)
