"""A user's input files, made ready for a trained model (``an2dl predict``).

* :func:`read_image_input` — a PNG/JPEG (or a ``.npy`` image) as the model's
  ``[C, H, W]`` input: channels converted, resized, values in [0, 1] like the
  training data (:func:`fit_image`).
* :func:`read_vector_input` — feature vectors from a ``.npy`` file or from
  numbers written on the command line (``0.5``, ``0,1``).
* :func:`read_sequence_input` — one sequence from a ``.npy`` file: token ids
  ``[T]`` (an integer array) or features ``[T, D]`` (a float array).
* :func:`read_text_input` — a UTF-8 text file.
* :func:`derived_path` — where an output made from an input goes
  (``digit.png`` → ``digit.recon.png``, beside it or in an output folder).

Files are never unpickled (``np.load(..., allow_pickle=False)``).  A missing
file raises :class:`~an2dl.errors.DataNotFoundError` and numbers written on
the command line that do not fit the model :class:`~an2dl.errors.ConfigError`
(usage errors); malformed contents raise :class:`~an2dl.errors.DataError`
naming the file, what was expected and what it holds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError, DataNotFoundError
from .images import read_array, read_image
from .transforms.photometric import rgb_to_grayscale

__all__ = [
    "fit_image",
    "read_image_input",
    "read_vector_input",
    "read_sequence_input",
    "read_text_input",
    "derived_path",
]


def fit_image(x: torch.Tensor, shape: Sequence[int], *, source: str) -> torch.Tensor:
    """Bring one image to a model's input shape: channels, size and value range.

    Grey images are repeated to three channels and colour images averaged
    with the luma weights to one (:func:`~an2dl.data.transforms.photometric.rgb_to_grayscale`);
    a different size is resized bilinearly; values are clamped to [0, 1].

    Args:
        x: ``[H, W]`` or ``[C, H, W]`` float in [0, 1].
        shape: the model's ``[C, H, W]``.
        source: how messages name the image (its file).

    Returns:
        ``[C, H, W]`` float32 of ``shape``.

    Raises:
        DataError: not an image, or a channel count that cannot be converted (e.g. 2 → 3).
    """
    c, h, w = (int(v) for v in shape)
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3:
        raise DataError(f"{source}: expected an image of shape [H, W] or [C, H, W]; got {list(x.shape)}")
    if x.shape[0] != c:
        if x.shape[0] == 3 and c == 1:
            x = rgb_to_grayscale(x)
        elif x.shape[0] == 1 and c == 3:
            x = x.expand(3, -1, -1)
        else:
            raise DataError(f"{source}: the model reads {c} channel(s); got an image with {x.shape[0]}")
    if tuple(x.shape[1:]) != (h, w):
        x = F.interpolate(x.unsqueeze(0), size=(h, w), mode="bilinear", align_corners=False).squeeze(0)
    return x.float().clamp(0, 1)


def _existing(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{what} {path} does not exist")
    return path


def read_image_input(path: str | os.PathLike, shape: Sequence[int]) -> torch.Tensor:
    """Read one image file (PNG/JPEG, or ``.npy`` holding ``[H, W]`` / ``[C, H, W]``) as the model's input.

    ``.npy`` integer arrays are 0–255 values (scaled by 1/255), float arrays
    values in [0, 1].

    Args:
        path: the file.
        shape: the model's ``[C, H, W]``.

    Returns:
        ``[C, H, W]`` float32 in [0, 1] (see :func:`fit_image`).

    Raises:
        DataNotFoundError: no such file.
        DataError: unreadable file, a batch of images, unconvertible channels.
    """
    if len(shape) != 3:
        raise ConfigError(f"read_image_input shape must be an image shape [C, H, W]; got {list(shape)}")
    _existing(path, "input image")
    x = read_array(path) if str(path).endswith(".npy") else read_image(path, channels=int(shape[0]))
    if x.dim() == 4:
        raise DataError(f"{path}: holds a batch {list(x.shape)}; give one image per file")
    return fit_image(x, shape, source=str(path))


def _load_numbers(path: Path) -> np.ndarray:
    _existing(path, "array file")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path} is not a readable .npy array: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{path} holds a {arr.dtype} array; expected numbers")
    return arr


def read_vector_input(item: str, shape: Sequence[int]) -> tuple[list[str], torch.Tensor]:
    """Feature vectors of ``shape`` from a ``.npy`` file or from numbers written out (``"0.5"``, ``"0,1"``).

    Unlike images, number arrays are taken as they are (an integer array is
    not scaled by 1/255).

    Args:
        item: a path to a ``.npy`` file holding one sample (``shape``, or any
            array of ``prod(shape)`` numbers) or ``N`` samples (``[N, *shape]``;
            for a model of one number also ``[N]``);
            or, when no such file exists, ``prod(shape)`` numbers separated by commas.
        shape: the model's input shape for one sample, e.g. ``[1]`` or ``[2]``.

    Returns:
        ``(names, x)``: a name per sample (``item``, or ``item[i]`` for a file of
        several) and ``x`` float32 ``[N, *shape]``.

    Raises:
        DataNotFoundError: a ``.npy`` path that does not exist.
        DataError: the file holds another shape or is not a ``.npy`` array.
        ConfigError: ``item`` is neither a file nor numbers, or not ``prod(shape)`` numbers.
    """
    shape = [int(v) for v in shape]
    size = math.prod(shape)
    path = Path(item)
    if path.suffix == ".npy" or path.is_file():
        arr = _load_numbers(path).astype(np.float32)
        if list(arr.shape) == shape or (arr.size == size and arr.ndim <= 1):
            return [item], torch.from_numpy(arr.reshape(1, *shape).copy())
        if size == 1 and arr.ndim == 1 and len(arr) > 0:  # a model of one number: a 1-D array is N samples
            return [f"{item}[{i}]" for i in range(len(arr))], torch.from_numpy(arr.reshape(-1, *shape).copy())
        if arr.ndim == len(shape) + 1 and list(arr.shape[1:]) == shape and len(arr) > 0:
            return [f"{item}[{i}]" for i in range(len(arr))], torch.from_numpy(np.ascontiguousarray(arr))
        raise DataError(f"{path}: expected one sample of shape {shape} or N samples of shape [N, {', '.join(map(str, shape))}]; "
                        f"got an array of shape {list(arr.shape)}")
    try:
        values = [float(v) for v in item.replace(",", " ").split()]
    except ValueError:
        raise ConfigError(f"input {item!r} is neither a file nor numbers such as 0.5 or 0,1") from None
    if len(values) != size:
        raise ConfigError(f"input {item!r} holds {len(values)} number(s); the model reads {size} (shape {shape})")
    return [item], torch.tensor(values, dtype=torch.float32).reshape(1, *shape)


def read_sequence_input(path: str | os.PathLike) -> torch.Tensor:
    """One sequence from a ``.npy`` file: token ids or feature vectors.

    Args:
        path: an integer array ``[T]`` (token ids) or a float array ``[T]`` /
            ``[T, D]`` (one feature, or ``D`` features, per step), ``T >= 1``.

    Returns:
        int64 ``[T]`` for token ids; float32 ``[T, D]`` for features (``[T]`` becomes ``[T, 1]``).

    Raises:
        DataNotFoundError: no such file.
        DataError: unreadable file, another rank, an empty sequence.
    """
    path = Path(path)
    arr = _load_numbers(path)
    if arr.dtype.kind in "iu":
        if arr.ndim != 1 or len(arr) == 0:
            raise DataError(f"{path}: token ids must be one sequence of shape [T] with T >= 1; got {list(arr.shape)}")
        return torch.from_numpy(arr.astype(np.int64))
    if arr.ndim not in (1, 2) or len(arr) == 0:
        raise DataError(f"{path}: a sequence of features must have shape [T] or [T, D] with T >= 1; got {list(arr.shape)}")
    arr = arr.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.reshape(len(arr), -1)))


def read_text_input(path: str | os.PathLike) -> str:
    """The text of a UTF-8 file.

    Raises:
        DataNotFoundError: no such file.
        DataError: not UTF-8 text.
    """
    path = _existing(path, "text file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text: {e}") from None
    except OSError as e:
        raise DataError(f"{path} cannot be read: {e}") from None


def derived_path(source: str | os.PathLike, suffix: str, out_dir: str | os.PathLike | None = None) -> Path:
    """Where an output made from ``source`` goes: ``<stem><suffix>`` beside it, or in ``out_dir``.

    Example: ``derived_path("digits/seven.png", ".recon.png")`` is ``digits/seven.recon.png``.

    Args:
        source: the input file.
        suffix: appended to the input's name without its extension, e.g. ``".recon.png"``.
        out_dir: folder of the outputs (``None``: the input's folder).

    Returns:
        The output path (its folder is not created).
    """
    src = Path(source)
    stem = src.name[: -len(src.suffix)] if src.suffix else src.name
    return (Path(out_dir) if out_dir is not None else src.parent) / f"{stem}{suffix}"
