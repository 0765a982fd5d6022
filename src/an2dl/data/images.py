"""Reading images from files into tensors (notes §3.1.1)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

__all__ = ["read_image", "read_array"]


def read_image(path: str | os.PathLike, *, channels: int | None = None) -> torch.Tensor:
    """Read a PNG/JPEG (any format Pillow reads) as float32 ``[C, H, W]`` in [0, 1].

    Args:
        channels: 1 converts to grey levels, 3 to RGB; ``None`` keeps grey
            images grey and converts everything else to RGB.

    Raises:
        DataError: the file is missing or not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            mode = {1: "L", 3: "RGB"}.get(channels or 0) or ("L" if im.mode in ("1", "L", "I;16", "I") else "RGB")
            arr = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path} is not a readable image: {e}") from None
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1).contiguous()


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
