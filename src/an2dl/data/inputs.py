"""A user's input files, made ready for a trained model (``an2dl predict``).

* :func:`read_image_input` — a PNG/JPEG (or a ``.npy`` image, ``[C, H, W]``
  or ``[H, W, C]``) as the model's ``[C, H, W]`` input: channels converted,
  resized by the model's pipeline, values checked against the model's range.
* :func:`read_vector_input` — feature vectors from a ``.npy`` file or from
  numbers written on the command line (``0.5``, ``0,1``).
* :func:`read_sequence_input` — one sequence from a ``.npy`` file: token ids
  ``[T]`` (an integer array) or features ``[T, D]`` (a float array).
* :func:`read_series_input` — a numeric series ``[N, D]`` from a CSV/text
  file (an optional header picks the model's columns by name) or a ``.npy`` array.
* :func:`read_text_input` — a UTF-8 text file.
* :func:`check_finite`, :func:`check_value_range` — refuse NaN/Inf, and
  values outside the model's declared range unless told to clip them.
* :func:`invert_image`, :func:`polarity_warning` — an image whose brightness
  is that of an inverted training image (dark digit on white paper for a model
  trained on light-on-dark digits) is flagged; ``--invert`` flips it.
* :func:`derived_path` — where an output made from an input goes
  (``digit.png`` → ``digit.recon.png``, beside it or in an output folder).

Files are never unpickled (``np.load(..., allow_pickle=False)``).  A missing
file raises :class:`~an2dl.errors.DataNotFoundError` and numbers written on
the command line that do not fit the model :class:`~an2dl.errors.ConfigError`
(usage errors, exit code 2); malformed contents of a file — also NaN/Inf and
values outside the model's range — raise :class:`~an2dl.errors.DataError`
(exit code 1) naming the file, what was expected and what it holds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError, DataNotFoundError
from .images import DEFAULT_MAX_PIXELS, read_image
from .preprocess import Preprocess

__all__ = [
    "image_layout",
    "read_image_input",
    "read_vector_input",
    "read_sequence_input",
    "read_series_input",
    "read_text_input",
    "check_finite",
    "check_value_range",
    "invert_image",
    "polarity_warning",
    "derived_path",
    "derived_paths",
    "POLARITY_MIN_GAP",
    "POLARITY_RATIO",
]

#: :func:`polarity_warning` needs the input's mean this far (in [0, 1] units) from the training mean ...
POLARITY_MIN_GAP = 0.25
#: ... and the inverted input's mean at most this fraction of that distance from it
POLARITY_RATIO = 1 / 3
#: channel counts an image array may have besides the model's own (grey, RGB, RGBA)
_CHANNEL_COUNTS = (1, 3, 4)


# ------------------------------------------------------------------------------------------- values
def check_finite(x: torch.Tensor, source: str, *, error: type[Exception] = DataError) -> torch.Tensor:
    """Refuse NaN and ±Inf values.

    Args:
        x: any tensor.
        source: how the message names the input, e.g. ``"digit.npy"`` or ``"input 'nan'"``.
        error: the exception class (:class:`DataError` for files, :class:`ConfigError`
            for numbers written on the command line).

    Returns:
        ``x`` unchanged.

    Raises:
        error: names ``source`` and how many of its values are not finite.
    """
    if x.is_floating_point():
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise error(f"{source} holds {bad} NaN or infinite value(s) out of {x.numel()}; the model needs finite numbers")
    return x


def check_value_range(x: torch.Tensor, value_range: Sequence[float], source: str, *, clip: bool = False,
                      error: type[Exception] = DataError, note: str = "") -> torch.Tensor:
    """Refuse values outside ``value_range = [lo, hi]``, or clip them into it when ``clip``.

    Args:
        x: finite values (see :func:`check_finite`).
        value_range: the model's declared input range (``preprocessing.value_range``).
        source: how the message names the input.
        clip: clip to ``[lo, hi]`` instead of refusing.
        error: the exception class (as in :func:`check_finite`).
        note: said after the range found, e.g. how integer arrays were scaled.

    Returns:
        ``x`` (clipped when ``clip``).

    Raises:
        error: a value outside ``[lo, hi]`` and not ``clip``; names the range found and the expected one.
    """
    lo, hi = (float(v) for v in value_range)
    if x.numel() == 0:
        return x
    found_lo, found_hi = (float(v) for v in torch.aminmax(x.float()))
    if found_lo >= lo and found_hi <= hi:
        return x
    if clip:
        return x.clamp(lo, hi)
    raise error(f"{source} holds values in [{found_lo:.6g}, {found_hi:.6g}]{note}; the model reads values in "
                f"[{lo:.6g}, {hi:.6g}]; rescale the input or pass --clip to clip it")


def invert_image(x: torch.Tensor, value_range: Sequence[float] = (0.0, 1.0)) -> torch.Tensor:
    """The negative of an image: ``lo + hi - x`` (``1 - x`` for values in [0, 1])."""
    lo, hi = (float(v) for v in value_range)
    return (lo + hi) - x


def polarity_warning(x: torch.Tensor, train_mean: Sequence[float] | float, source: str, *,
                     value_range: Sequence[float] = (0.0, 1.0), inverted: bool = False) -> str | None:
    """A one-line warning when an image looks like the negative of the training images, else ``None``.

    With ``m`` the image's mean and ``t`` the training images' mean (over
    all channels, both scaled to [0, 1] by ``value_range``), the image looks
    inverted when ``|m - t| >= POLARITY_MIN_GAP`` (0.25) and
    ``|(1 - m) - t| <= POLARITY_RATIO · |m - t|`` (1/3): its negative is much
    closer to the training brightness than the image itself.  A dark digit on
    white paper (``m ≈ 0.85``) against MNIST (``t ≈ 0.13``) is flagged; a
    photo against CIFAR-10 (``t ≈ 0.47``) never is, since no image's negative
    is much closer to a mid-grey mean than the image.

    Args:
        x: the image as the model reads it, ``[C, H, W]``.
        train_mean: per-channel means of the training inputs (``preprocessing.mean``).
        source: how the warning names the image (its file).
        value_range: the model's input range.
        inverted: the image was already inverted with ``--invert`` (the warning then says to drop it).

    Returns:
        ``"<source> looks inverted (mean 0.87, training images 0.13): the model was trained on
        light-on-dark images; invert it with --invert"``, or ``None``.
    """
    lo, hi = (float(v) for v in value_range)
    means = [float(train_mean)] if isinstance(train_mean, (int, float)) else [float(v) for v in train_mean]
    if not means or hi <= lo or x.numel() == 0:
        return None
    t = (sum(means) / len(means) - lo) / (hi - lo)
    m = (float(x.float().mean()) - lo) / (hi - lo)
    direct, flipped = abs(m - t), abs((1.0 - m) - t)
    if direct < POLARITY_MIN_GAP or flipped > POLARITY_RATIO * direct:
        return None
    polarity = "light-on-dark" if t < 0.5 else "dark-on-light"
    if inverted:
        return (f"{source} looks inverted after --invert (mean {m:.2f}, training images {t:.2f}): the model was "
                f"trained on {polarity} images; drop --invert")
    return (f"{source} looks inverted (mean {m:.2f}, training images {t:.2f}): the model was trained on {polarity} "
            "images; invert it with --invert")


# ------------------------------------------------------------------------------------------- images
def image_layout(x: torch.Tensor, shape: Sequence[int], *, source: str) -> torch.Tensor:
    """An image array as ``[C, H, W]``: ``[H, W]`` gains a channel, ``[H, W, C]`` is transposed.

    A 3-D array is read as ``[H, W, C]`` (the layout of Pillow, NumPy and
    Matplotlib images) when its shape is the model's ``[H, W, C]``, or when its
    last side is a channel count (1, 3, 4 or the model's ``C``), its first
    two sides are larger than 4 and its first side is not a channel count.
    It is read as ``[C, H, W]`` when its shape is the model's, or its first
    side is a channel count and the ``[H, W, C]`` reading does not apply.
    When both readings apply (e.g. ``[5, 8, 5]`` for a 5-channel model) the
    layout is ambiguous and the array is refused.

    Args:
        x: ``[H, W]``, ``[C, H, W]`` or ``[H, W, C]``.
        shape: the model's ``[C, H, W]``.
        source: how messages name the array (its file).

    Returns:
        ``[C', H', W']`` (channels and size are fitted afterwards by the pipeline).

    Raises:
        DataError: a batch (4-D), another rank, or an ambiguous layout.
    """
    c, h, w = (int(v) for v in shape)
    if x.dim() == 2:
        return x.unsqueeze(0)
    if x.dim() == 4:
        raise DataError(f"{source}: holds a batch {list(x.shape)}; give one image per file")
    if x.dim() != 3:
        raise DataError(f"{source}: expected an image of shape [H, W], [C, H, W] or [H, W, C]; got {list(x.shape)}")
    dims = tuple(int(v) for v in x.shape)
    if dims == (c, h, w):
        return x
    if dims == (h, w, c):
        return x.permute(2, 0, 1)
    counts = (*_CHANNEL_COUNTS, c)
    chw = dims[0] in counts
    hwc = dims[2] in counts and dims[0] > 4 and dims[1] > 4
    if chw and hwc:
        raise DataError(f"{source}: an array of shape {list(dims)} could be [C, H, W] or [H, W, C]; the model reads "
                        f"[C, H, W] = {[c, h, w]}; save the image as [C, H, W]")
    return x.permute(2, 0, 1) if hwc else x


def _existing(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{what} {path} does not exist")
    return path


def read_image_input(path: str | os.PathLike, shape: Sequence[int], *,
                     value_range: Sequence[float] = (0.0, 1.0), clip: bool = False,
                     max_pixels: int | None = DEFAULT_MAX_PIXELS,
                     preprocess: Preprocess | None = None, invert: bool = False) -> torch.Tensor:
    """Read one image file (PNG/JPEG, or a ``.npy`` image) as the model's input.

    PNG/JPEG files are read with :func:`~an2dl.data.images.read_image` (8-bit
    scaled by 1/255, 16-bit by 1/65535, alpha dropped), after checking their
    size against ``max_pixels``.  A ``.npy`` array holds ``[H, W]``,
    ``[C, H, W]`` or ``[H, W, C]`` (see :func:`image_layout`); integer arrays
    are 0–255 values (scaled by 1/255), float arrays are taken as they are.
    Array values must be finite and lie in ``value_range``, or are clipped
    into it with ``clip``.  The image is then brought to the model's input by
    ``preprocess`` (the model's recorded pipeline), or for a model exported
    without one by :meth:`Preprocess.for_metadata`'s stand-in (channels
    converted, bilinear resize).

    Args:
        path: the file.
        shape: the model's ``[C, H, W]``.
        value_range: the model's input range (``preprocessing.value_range``, [0, 1] for images).
        clip: clip array values outside ``value_range`` instead of refusing them.
        max_pixels: the largest ``width * height`` of an image file decoded (``None``: no limit).
        preprocess: the model's evaluation pipeline (``model.preprocess``); ``None``: the stand-in for old files.
        invert: take the negative of the image (:func:`invert_image`) before it is fitted, so that
            the pipeline's padding keeps the training images' background.

    Returns:
        ``[C, H, W]`` float32 of ``shape``.

    Raises:
        DataNotFoundError: no such file.
        DataError: unreadable file, an image above ``max_pixels``, a batch of
            images, an ambiguous layout, unconvertible channels, NaN/Inf,
            values outside ``value_range`` without ``clip``, an image the
            pipeline cannot bring to the model's input, or a pipeline whose
            result is not ``shape``.
    """
    if len(shape) != 3:
        raise ConfigError(f"read_image_input shape must be an image shape [C, H, W]; got {list(shape)}")
    _existing(path, "input image")
    source = str(path)
    if source.endswith(".npy"):
        arr = _load_numbers(Path(path))
        if arr.dtype.kind == "b":
            raise DataError(f"{path} holds a {arr.dtype} array; expected numbers")
        integer = arr.dtype.kind in "iu"
        x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        if integer:
            x = x / 255.0
        check_finite(x, source)
        note = " (integer arrays are 0-255 pixel values, scaled by 1/255)" if integer else ""
        x = check_value_range(x, value_range, source, clip=clip, note=note)
        x = image_layout(x, _raw_shape(shape, preprocess), source=source)
    else:
        x = read_image(path, channels=int(shape[0]), max_pixels=max_pixels)
    if invert:
        x = invert_image(x, value_range)
    if preprocess is None:  # a model exported without its pipeline: the stand-in of Preprocess.for_metadata
        preprocess = Preprocess.for_metadata({"preprocessing": {"input_shape": [int(v) for v in shape]}})
    x = preprocess(x, source=source)
    if list(x.shape) != [int(v) for v in shape]:
        raise DataError(f"{source}: the model's preprocessing pipeline made an input of shape {list(x.shape)}; "
                        f"the model reads {[int(v) for v in shape]}")
    return x


def _raw_shape(shape: Sequence[int], preprocess: Preprocess | None) -> list[int]:
    """The ``[C, H, W]`` an array is expected in: the pipeline's raw input when recorded, else the model's input."""
    raw = preprocess.raw_input if preprocess is not None else None
    return [raw["channels"], *raw["size"]] if raw else [int(v) for v in shape]


def _load_numbers(path: Path) -> np.ndarray:
    _existing(path, "array file")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path} is not a readable .npy array: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{path} holds a {arr.dtype} array; expected numbers")
    return arr


def read_vector_input(item: str, shape: Sequence[int], *, value_range: Sequence[float] | None = None,
                      clip: bool = False) -> tuple[list[str], torch.Tensor]:
    """Feature vectors of ``shape`` from a ``.npy`` file or from numbers written out (``"0.5"``, ``"0,1"``).

    Unlike images, number arrays are taken as they are (an integer array is
    not scaled by 1/255).  The values must be finite and, when the model
    declares a ``value_range``, lie in it (or are clipped into it with ``clip``).

    Args:
        item: a path to a ``.npy`` file holding one sample (``shape``, or any
            array of ``prod(shape)`` numbers) or ``N`` samples (``[N, *shape]``;
            for a model of one number also ``[N]``);
            or, when no such file exists, ``prod(shape)`` numbers separated by commas.
        shape: the model's input shape for one sample, e.g. ``[1]`` or ``[2]``.
        value_range: the model's declared input range ``[lo, hi]`` (``None``: no range check).
        clip: clip values outside ``value_range`` instead of refusing them.

    Returns:
        ``(names, x)``: a name per sample (``item``, or ``item[i]`` for a file of
        several) and ``x`` float32 ``[N, *shape]``.

    Raises:
        DataNotFoundError: a ``.npy`` path that does not exist.
        DataError: the file holds another shape, is not a ``.npy`` array, or
            holds NaN/Inf or values outside ``value_range`` (without ``clip``).
        ConfigError: ``item`` is neither a file nor numbers, not ``prod(shape)``
            numbers, or numbers that are NaN/Inf or outside ``value_range``.
    """
    shape = [int(v) for v in shape]
    size = math.prod(shape)
    path = Path(item)
    if path.suffix == ".npy" or path.is_file():
        arr = _load_numbers(path).astype(np.float32)
        if list(arr.shape) == shape or (arr.size == size and arr.ndim <= 1):
            names, x = [item], torch.from_numpy(arr.reshape(1, *shape).copy())
        elif size == 1 and arr.ndim == 1 and len(arr) > 0:  # a model of one number: a 1-D array is N samples
            names, x = [f"{item}[{i}]" for i in range(len(arr))], torch.from_numpy(arr.reshape(-1, *shape).copy())
        elif arr.ndim == len(shape) + 1 and list(arr.shape[1:]) == shape and len(arr) > 0:
            names, x = [f"{item}[{i}]" for i in range(len(arr))], torch.from_numpy(np.ascontiguousarray(arr))
        else:
            raise DataError(f"{path}: expected one sample of shape {shape} or N samples of shape "
                            f"[N, {', '.join(map(str, shape))}]; got an array of shape {list(arr.shape)}")
        source, error = str(path), DataError
    else:
        try:
            values = [float(v) for v in item.replace(",", " ").split()]
        except ValueError:
            raise ConfigError(f"input {item!r} is neither a file nor numbers such as 0.5 or 0,1") from None
        if len(values) != size:
            raise ConfigError(f"input {item!r} holds {len(values)} number(s); the model reads {size} (shape {shape})")
        names, x = [item], torch.tensor(values, dtype=torch.float32).reshape(1, *shape)
        source, error = f"input {item!r}", ConfigError
    check_finite(x, source, error=error)
    if value_range is not None:
        x = check_value_range(x, value_range, source, clip=clip, error=error)
    return names, x


def read_sequence_input(path: str | os.PathLike) -> torch.Tensor:
    """One sequence from a ``.npy`` file: token ids or feature vectors.

    Args:
        path: an integer array ``[T]`` (token ids) or a float array ``[T]`` /
            ``[T, D]`` (one feature, or ``D`` features, per step), ``T >= 1``.

    Returns:
        int64 ``[T]`` for token ids; float32 ``[T, D]`` for features (``[T]`` becomes ``[T, 1]``).

    Raises:
        DataNotFoundError: no such file.
        DataError: unreadable file, another rank, an empty sequence, NaN/Inf features.
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
    return check_finite(torch.from_numpy(np.ascontiguousarray(arr.reshape(len(arr), -1))), str(path))


def _number(field: str) -> float | None:
    try:
        return float(field)
    except ValueError:
        return None


def read_series_input(path: str | os.PathLike, features: Sequence[str] | None = None) -> torch.Tensor:
    """One numeric series ``[N, D]`` from a CSV/text file or a ``.npy`` array, its columns in the model's order.

    A CSV or text file holds one step per line, its numbers separated by
    commas, semicolons or white space; blank lines and lines starting with
    ``#`` are skipped.  A first line that is not numbers is a header naming
    the columns: the model's ``features`` are then picked by name (other
    columns, e.g. a time stamp, are left out); without a header the file must
    have exactly the model's columns, in its order.  A ``.npy`` array is
    ``[N]`` (one feature) or ``[N, D]``; integer arrays are numbers, not token ids.

    Args:
        path: the file.
        features: the column names the model reads (``preprocessing.raw_input.features``);
            ``None``: every column, as it is.

    Returns:
        float32 ``[N, D]``, finite, ``N >= 1``.

    Raises:
        DataNotFoundError: no such file.
        DataError: an unreadable file, rows of different lengths, a field that is
            not a number, a header without one of ``features``, another number of
            columns than ``features``, no steps, NaN/Inf.
    """
    path = _existing(path, "series file")
    if path.suffix == ".npy":
        arr = _load_numbers(path)
        if arr.ndim not in (1, 2) or len(arr) == 0:
            raise DataError(f"{path}: a series must have shape [N] or [N, D] with N >= 1; got {list(arr.shape)}")
        x = torch.from_numpy(np.ascontiguousarray(arr.astype(np.float32).reshape(len(arr), -1)))
        header: list[str] | None = None
    else:
        text = read_text_input(path)
        rows: list[list[str]] = []
        lines: list[int] = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append([f.strip() for f in line.replace(";", ",").replace("\t", ",").split(",")]
                            if ("," in line or ";" in line) else line.split())
                lines.append(number)
        header = None
        if rows and any(_number(f) is None for f in rows[0]):
            header, rows, lines = rows[0], rows[1:], lines[1:]
        if not rows:
            raise DataError(f"{path}: expected a series, one step of numbers per line; found no steps")
        width = len(header) if header is not None else len(rows[0])
        values = []
        for number, row in zip(lines, rows):
            if len(row) != width:
                raise DataError(f"{path}, line {number}: expected {width} numbers like the "
                                f"{'header' if header is not None else 'first line'}; got {len(row)}")
            parsed = [_number(f) for f in row]
            if any(v is None for v in parsed):
                bad = row[parsed.index(None)]
                raise DataError(f"{path}, line {number}: {bad!r} is not a number")
            values.append(parsed)
        x = torch.tensor(values, dtype=torch.float32)
    names = list(features) if features is not None else None
    if names is not None:
        if header is not None:
            missing = [n for n in names if n not in header]
            if missing:
                raise DataError(f"{path}: the model reads the column(s) {', '.join(names)}; the header "
                                f"{', '.join(header)} lacks {', '.join(missing)}")
            x = x[:, [header.index(n) for n in names]]
        elif x.shape[1] != len(names):
            raise DataError(f"{path}: the model reads {len(names)} column(s) ({', '.join(names)}); got "
                            f"{x.shape[1]} per step (name them in a header line to pick columns)")
    return check_finite(x.contiguous(), str(path))


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


def derived_paths(sources: Sequence[str | os.PathLike], suffix: str,
                  out_dir: str | os.PathLike | None = None) -> list[Path]:
    """:func:`derived_path` of every source, refusing two sources that would write the same file.

    Raises:
        ConfigError: two sources (e.g. ``a/x.png`` and ``b/x.png`` with one ``out_dir``) map to one output.
    """
    seen: dict[Path, str] = {}
    for src in sources:
        dest = derived_path(src, suffix, out_dir)
        if dest in seen:
            raise ConfigError(f"inputs {seen[dest]} and {src} would both write {dest}; rename one or use --out")
        seen[dest] = str(src)
    return list(seen)

