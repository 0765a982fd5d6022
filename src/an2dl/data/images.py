"""Digital images as tensors: reading, writing, converting and validating (notes §3.1.1).

The notes describe a colour image as three matrices (red, green, blue) of
intensities 0–255.  an2dl holds an image as a float32 tensor ``[C, H, W]``
(a batch: ``[B, C, H, W]``) with values in [0, 1]: :func:`read_image` and
:func:`to_float_image` convert from files and from ``uint8`` arrays,
:func:`to_uint8` and :func:`save_image` go back, and :func:`check_image`
validates rank, dtype and range at public boundaries (transforms, filters).
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

__all__ = ["read_image", "read_array", "check_image", "to_float_image", "to_uint8", "save_image", "tile_images",
           "DEFAULT_MAX_PIXELS"]

#: the largest image (``width * height``) :func:`read_image` decodes unless told otherwise: 50 megapixels,
#: a guard against decompression bombs (a small file that claims a huge image), below Pillow's own 89.5 MP
DEFAULT_MAX_PIXELS = 50_000_000

#: Pillow modes of 16-bit grey images (values 0-65535); ``"I"`` is how older Pillows open 16-bit PNGs
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
#: Pillow's size limit is a module global: :func:`read_image` lifts it while it applies its own
_PIL_LIMIT_LOCK = threading.Lock()


def read_image(path: str | os.PathLike, *, channels: int | None = None,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read a PNG/JPEG (any format Pillow reads) as float32 ``[C, H, W]`` in [0, 1].

    8-bit images are scaled by 1/255 and 16-bit grey images (PNG mode
    ``I;16``) by 1/65535.  An alpha channel is dropped (``RGBA`` → ``RGB``,
    ``LA`` → ``L``), as Pillow's ``convert``, torchvision's ``read_image(mode=RGB)``
    and Keras' ``load_img`` do.  The size in the file's header is checked
    against ``max_pixels`` before anything is decoded, so a small file that
    claims a huge image (a decompression bomb) costs no memory.

    Args:
        channels: 1 converts to grey levels, 3 to RGB; ``None`` keeps grey
            images grey and converts everything else to RGB.
        max_pixels: the largest ``width * height`` decoded (default
            :data:`DEFAULT_MAX_PIXELS`); ``None``: no limit (trusted files only).
            It replaces Pillow's own ``Image.MAX_IMAGE_PIXELS`` check.

    Raises:
        DataError: the file is missing, not a readable image, larger than
            ``max_pixels``, or a 32-bit integer image with values outside 0-65535.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1):
        raise ValueError(f"read_image max_pixels must be a positive integer or None; got {max_pixels!r}")
    try:
        with _PIL_LIMIT_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # our limit below replaces Pillow's
            try:
                with Image.open(path) as im:  # reads the header only
                    width, height = im.size
                    if max_pixels is not None and width * height > max_pixels:
                        raise DataError(
                            f"{path} is a {width} x {height} image ({width * height:,} pixels), above the limit of "
                            f"{max_pixels:,} pixels that guards against decompression bombs; if the file is "
                            "trusted, raise the limit (--max-pixels N, or max_pixels=N)")
                    arr = _decode(im, channels, path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path} is not a readable image: {e}") from None
    t = torch.from_numpy(np.ascontiguousarray(arr))
    return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1).contiguous()


def _decode(im, channels: int | None, path: Path) -> np.ndarray:
    """The pixels of an opened Pillow image as float32 ``[H, W]`` (grey) or ``[H, W, 3]`` in [0, 1]."""
    if im.mode in _SIXTEEN_BIT:  # Pillow's convert("L") would clip these at 255 instead of scaling them
        arr = np.asarray(im)
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 65535):
            raise DataError(f"{path}: a {im.mode} image must hold 16-bit values 0-65535; "
                            f"got values from {int(arr.min())} to {int(arr.max())}")
        grey = arr.astype(np.float32) / 65535.0
        return np.repeat(grey[..., None], 3, axis=2) if channels == 3 else grey
    grey_modes = ("1", "L", "LA")
    mode = {1: "L", 3: "RGB"}.get(channels or 0) or ("L" if im.mode in grey_modes else "RGB")
    return np.asarray(im.convert(mode), dtype=np.float32) / 255.0


def read_array(path: str | os.PathLike) -> torch.Tensor:
    """Read a ``.npy`` array (never unpickled) as float32; integer arrays are scaled by 1/255.

    Raises:
        DataError: missing, unreadable or object arrays.
    """
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"array file {path} does not exist") from None
    except (ValueError, OSError) as e:
        raise DataError(f"{path} is not a readable .npy array: {e}") from None
    if arr.dtype.kind in "ui":
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    else:
        raise DataError(f"{path} holds a {arr.dtype} array; expected numbers")
    return torch.from_numpy(np.ascontiguousarray(arr))


def check_image(
    x: torch.Tensor,
    *,
    name: str = "image",
    batched: bool | None = None,
    check_range: bool = True,
) -> torch.Tensor:
    """Validate a float image ``[C, H, W]`` (or a batch ``[B, C, H, W]``) with values in [0, 1].

    Args:
        x: the tensor to check.
        name: how error messages call it.
        batched: ``True`` requires ``[B, C, H, W]``, ``False`` ``[C, H, W]``, ``None`` accepts both.
        check_range: also check that the values lie in [0, 1] (one reduction over the tensor).

    Returns:
        ``x`` unchanged.

    Raises:
        TypeError: not a tensor, or not floating point (``uint8`` images: use :func:`to_float_image`).
        ValueError: wrong rank, empty sides or values outside [0, 1].
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    ranks = {True: (4,), False: (3,), None: (3, 4)}[batched]
    if x.dim() not in ranks:
        want = {True: "[B, C, H, W]", False: "[C, H, W]", None: "[C, H, W] or [B, C, H, W]"}[batched]
        raise ValueError(f"{name} must have shape {want}; got {list(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor with values in [0, 1]; got {x.dtype} "
            "(convert uint8 images with an2dl.data.images.to_float_image)"
        )
    if x.shape[-1] == 0 or x.shape[-2] == 0 or x.shape[-3] == 0:
        raise ValueError(f"{name} has an empty side: {list(x.shape)}")
    if check_range and x.numel():
        lo, hi = torch.aminmax(x.detach())
        lo, hi = float(lo), float(hi)
        if not (lo >= 0.0 and hi <= 1.0):
            raise ValueError(
                f"{name} values must lie in [0, 1]; got [{lo:.4g}, {hi:.4g}] "
                "(scale 0-255 images by 1/255 and augment before normalising)"
            )
    return x


def to_float_image(array, *, channels_last: bool | None = None) -> torch.Tensor:
    """Convert an image array (NumPy or torch; ``uint8`` 0–255 or float 0–1) to float32 ``[C, H, W]``.

    Args:
        array: ``[H, W]``, ``[H, W, C]`` or ``[C, H, W]`` (a batch adds a leading ``B``).
        channels_last: whether the channel axis is last; ``None`` guesses from
            the shape (a last axis of size 1, 3 or 4 with a larger first one).

    Returns:
        float32 ``[C, H, W]`` (or ``[B, C, H, W]``) in [0, 1].
    """
    t = torch.from_numpy(np.array(array)) if not isinstance(array, torch.Tensor) else array
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    elif t.is_floating_point():
        t = t.float()
    else:
        raise TypeError(f"image arrays must be uint8 (0-255) or float (0-1); got {t.dtype}")
    if t.dim() == 2:
        return t.unsqueeze(0)
    if t.dim() not in (3, 4):
        raise ValueError(f"image arrays must have 2, 3 or 4 dimensions; got shape {list(t.shape)}")
    if channels_last is None:
        channels_last = t.shape[-1] in (1, 3, 4) and t.shape[-3] > 4
    if channels_last:
        t = t.movedim(-1, -3)
    return check_image(t.contiguous(), name="image")


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``[C, H, W]`` float in [0, 1] -> ``uint8`` ``[H, W, C]`` (``[H, W]`` for one channel), rounded."""
    check_image(x, batched=False, check_range=False)
    arr = (x.detach().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def save_image(path: str | os.PathLike, x: torch.Tensor) -> Path:
    """Write a ``[C, H, W]`` float image in [0, 1] as PNG/JPEG (format from the suffix)."""
    from PIL import Image

    path = Path(path)
    arr = to_uint8(x)
    if arr.ndim == 3 and arr.shape[-1] not in (3, 4):
        raise ValueError(f"save_image writes 1, 3 or 4 channels; got {arr.shape[-1]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def tile_images(images: torch.Tensor, *, nrow: int = 8, padding: int = 2, fill: float = 1.0) -> torch.Tensor:
    """Tile images into one grid image, row by row, with ``padding`` pixels of ``fill`` around every tile.

    Args:
        images: ``[N, C, H, W]`` with ``N >= 1``.
        nrow: tiles per row (clipped to ``[1, N]``); the last row is completed with blank tiles.
        padding: pixels between tiles and around the grid.
        fill: value of the padding and of the blank tiles (1: white).

    Returns:
        ``[C, rows·(H+p)+p, nrow·(W+p)+p]`` with ``rows = ceil(N / nrow)``; tile ``i`` has its
        top-left pixel at ``(p + (i // nrow)·(H+p), p + (i % nrow)·(W+p))``.

    Raises:
        ValueError: ``images`` is not ``[N >= 1, C, H, W]``, or ``padding`` is negative.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) == 0:
        got = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"tile_images expects images of shape [N > 0, C, H, W]; got {got}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"tile_images padding must be an integer >= 0; got {padding!r}")
    n, c, h, w = images.shape
    nrow = max(1, min(int(nrow), n))
    rows = -(-n // nrow)
    tiles = images.new_full((rows * nrow, c, h + padding, w + padding), fill)
    tiles[:n, :, padding:, padding:] = images  # each tile: padding above and to the left
    grid = tiles.reshape(rows, nrow, c, h + padding, w + padding).permute(2, 0, 3, 1, 4)  # (C, rows, H+p, nrow, W+p)
    grid = grid.reshape(c, rows * (h + padding), nrow * (w + padding))
    out = images.new_full((c, grid.shape[1] + padding, grid.shape[2] + padding), fill)
    out[:, : grid.shape[1], : grid.shape[2]] = grid  # and one more band below and to the right
    return out
