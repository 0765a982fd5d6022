"""Evaluation-time preprocessing as data: a pipeline of JSON steps stored with the model (DESIGN §7).

A dataset builder declares how its raw inputs — images, texts or numeric
series — become a model's input as a :class:`Preprocess`, applies it to its
own raw data, and records it in :attr:`~an2dl.data.core.DatasetInfo.preprocess`;
the exported ``model.json`` carries the same steps (``preprocessing.pipeline``
and ``preprocessing.raw_input``), :func:`an2dl.load` rebuilds them as
``model.preprocess`` and ``an2dl predict`` applies them to a user's files.
One pipeline therefore prepares the test inputs the report measures and the
inputs a user gives.

A pipeline reads one kind of raw input, named by ``raw_input``: images
(``{"channels": 1, "size": [28, 28]}``), text (``{"kind": "text"}``) or
numeric series (``{"kind": "series", "features": ["value"]}``, the columns of
a CSV file in order).  Image steps, the text step and the series step do not mix.

Image steps (each a JSON object, applied in order):

* ``{"op": "to_channels", "channels": 1}`` — alpha dropped (4 → 3), colour
  averaged to grey with the luma weights (3 → 1), grey repeated (1 → 3);
* ``{"op": "pad", "size": [32, 32], "fill": 0.0}`` — centred padding up to
  ``size`` (the extra row/column goes to the bottom/right); an image larger
  than ``size`` on either side is refused, not shrunk;
* ``{"op": "resize", "size": [32, 32], "mode": "bilinear"}`` — ``bilinear``
  (``align_corners=False``, no antialiasing), ``nearest`` or ``area``, from
  any size; results are clamped to [0, 1] (interpolated images stay images);
* ``{"op": "center_crop", "size": [24, 24]}`` — the centred window (the extra
  row/column is dropped at the bottom/right); an image smaller than ``size``
  is refused;
* ``{"op": "normalize", "mean": [0.13], "std": [0.31]}`` — ``(x - mean) / std``
  per channel; only ``flatten`` may follow it;
* ``{"op": "flatten"}`` — ``[C, H, W]`` → ``[C·H·W]`` for vector models; last.

Text step (the only step of a text pipeline):

* ``{"op": "tokenize", "vocab": {...}, "add_sos": false, "add_eos": false}`` —
  the text normalised and split by the vocabulary's tokenizer
  (``vocab["tokenizer"]``: level, Unicode ``normalization``, ``lowercase`` —
  the text normalisation is the vocabulary's own, so the two cannot drift),
  then numbered by :meth:`~an2dl.data.text.Vocabulary.encode`; tokens outside
  the vocabulary become ``<unk>`` (:meth:`Preprocess.unknown_tokens` names
  them); ``add_sos``/``add_eos`` put ``<sos>``/``<eos>`` around the ids.

Series step (the only step of a series pipeline; a series pipeline without it
hands the whole series to the model as one sequence):

* ``{"op": "window", "size": 16, "stride": 1}`` — windows of ``size``
  consecutive steps starting every ``stride`` steps, the last one ending at the
  series' last step (the delay taps of notes §4.1); a series shorter than
  ``size``, or one whose steps after the last window would be left out, is refused.

Shape:
    images: ``x`` float ``[C, H, W]`` or ``[B, C, H, W]`` in [0, 1] → the model
    input ``[C', H', W']`` / ``[B, C', H', W']`` (``[D]`` / ``[B, D]`` after ``flatten``);
    text: a ``str`` → int64 ids ``[T]``;
    series: float ``[N]`` / ``[N, D]`` → windows ``[M, size, D]`` (``[1, N, D]``
    without a window step), a batch ``[B, N, D]`` → ``[B, M, size, D]``.

Nothing is pickled: :meth:`Preprocess.to_dict` is plain JSON and
:meth:`Preprocess.from_dict` checks every step and argument.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError
from .text import Vocabulary
from .transforms.photometric import rgb_to_grayscale

__all__ = ["Preprocess", "OPS", "INPUT_KINDS", "RESIZE_MODES", "convert_channels"]

#: the step names :meth:`Preprocess.from_dict` accepts
OPS = ("to_channels", "pad", "resize", "center_crop", "normalize", "flatten", "tokenize", "window")
#: the kinds of raw input a pipeline reads
INPUT_KINDS = ("image", "text", "series")
#: the interpolation modes of a ``resize`` step
RESIZE_MODES = ("bilinear", "nearest", "area")
#: the arguments each step takes: (required, optional)
_ARGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "to_channels": (("channels",), ()),
    "pad": (("size",), ("fill",)),
    "resize": (("size",), ("mode",)),
    "center_crop": (("size",), ()),
    "normalize": (("mean", "std"), ()),
    "flatten": ((), ()),
    "tokenize": (("vocab",), ("add_sos", "add_eos")),
    "window": (("size",), ("stride",)),
}
#: the kind of raw input each step reads
_KIND = {**{op: "image" for op in OPS[:6]}, "tokenize": "text", "window": "series"}


def convert_channels(x: torch.Tensor, channels: int, *, source: str) -> torch.Tensor:
    """An image ``[C, H, W]`` or batch ``[B, C, H, W]`` with ``channels`` channels.

    RGBA loses its alpha channel (4 → 3, before any other conversion, as
    Pillow's ``convert("RGB")``); RGB becomes grey with the luma weights
    (:func:`~an2dl.data.transforms.photometric.rgb_to_grayscale`); grey is
    repeated to RGB.

    Raises:
        DataError: a channel count that cannot be converted (e.g. 2 → 3), naming ``source``.
    """
    have = int(x.shape[-3])
    if have == 4 and channels in (1, 3):
        x = x[..., :3, :, :]
        have = 3
    if have == channels:
        return x
    if have == 3 and channels == 1:
        return rgb_to_grayscale(x)
    if have == 1 and channels == 3:
        return x.expand(*x.shape[:-3], 3, *x.shape[-2:])
    raise DataError(f"{source}: the model reads {channels} channel(s); got an image with {int(x.shape[-3])}")


# ------------------------------------------------------------------------------------------- validation
def _json_step(step: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a validated step (its lists and the vocabulary are not shared with the caller)."""
    return copy.deepcopy(dict(step))


def _where(index: int, op: str) -> str:
    return f"preprocessing.pipeline[{index}] ({op!r})"


def _size(value: Any, where: str) -> list[int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value)):
        raise ConfigError(f"{where} size must be [H, W], two positive integers; got {value!r}")
    return [int(v) for v in value]


def _numbers(value: Any, where: str, name: str, *, positive: bool = False) -> list[float]:
    ok = isinstance(value, (list, tuple)) and len(value) > 0
    if ok:
        try:
            numbers = [float(v) for v in value]
        except (TypeError, ValueError):
            ok = False
        else:
            ok = all(math.isfinite(v) and (v > 0 or not positive) for v in numbers)
    if not ok:
        what = "positive finite numbers" if positive else "finite numbers"
        raise ConfigError(f"{where} {name} must be a non-empty list of {what}; got {value!r}")
    return numbers


def _check_step(index: int, step: Any) -> dict[str, Any]:
    """A validated copy of one step, with its optional arguments filled in."""
    if not isinstance(step, Mapping) or not isinstance(step.get("op"), str):
        raise ConfigError(f"preprocessing.pipeline[{index}] must be an object with an 'op' such as "
                          f"{{'op': 'pad', 'size': [32, 32]}}; got {step!r}")
    op = step["op"]
    if op not in _ARGS:
        raise ConfigError(f"preprocessing.pipeline[{index}] op must be one of {', '.join(OPS)}; got {op!r}")
    where = _where(index, op)
    required, optional = _ARGS[op]
    unknown = sorted(set(step) - {"op", *required, *optional})
    missing = [k for k in required if k not in step]
    if unknown or missing:
        raise ConfigError(f"{where} takes {', '.join(required + optional) or 'no arguments'}; "
                          f"got {', '.join(sorted(k for k in step if k != 'op')) or 'none'}")
    if op == "to_channels":
        c = step["channels"]
        if c not in (1, 3) or isinstance(c, bool):
            raise ConfigError(f"{where} channels must be 1 or 3; got {c!r}")
        return {"op": op, "channels": int(c)}
    if op == "pad":
        fill = step.get("fill", 0.0)
        if isinstance(fill, bool) or not isinstance(fill, (int, float)) or not math.isfinite(fill):
            raise ConfigError(f"{where} fill must be a finite number; got {fill!r}")
        return {"op": op, "size": _size(step["size"], where), "fill": float(fill)}
    if op == "resize":
        mode = step.get("mode", "bilinear")
        if mode not in RESIZE_MODES:
            raise ConfigError(f"{where} mode must be one of {', '.join(RESIZE_MODES)}; got {mode!r}")
        return {"op": op, "size": _size(step["size"], where), "mode": mode}
    if op == "center_crop":
        return {"op": op, "size": _size(step["size"], where)}
    if op == "tokenize":
        try:
            vocab = Vocabulary.from_dict(step["vocab"])
        except (DataError, ConfigError) as e:
            raise ConfigError(f"{where} vocab is not a vocabulary: {e}") from None
        flags = {k: step.get(k, False) for k in ("add_sos", "add_eos")}
        for k, v in flags.items():
            if not isinstance(v, bool):
                raise ConfigError(f"{where} {k} must be true or false; got {v!r}")
        return {"op": op, "vocab": vocab.to_dict(), **flags}
    if op == "window":
        size, stride = step["size"], step.get("stride", 1)
        for name, v in (("size", size), ("stride", stride)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ConfigError(f"{where} {name} must be a positive integer; got {v!r}")
        if stride > size:
            raise ConfigError(f"{where} stride must be at most size ({size}), so that no step falls between "
                              f"two windows; got {stride}")
        return {"op": op, "size": int(size), "stride": int(stride)}
    if op == "normalize":
        mean = _numbers(step["mean"], where, "mean")
        std = _numbers(step["std"], where, "std", positive=True)
        if len(mean) != len(std):
            raise ConfigError(f"{where} needs as many means as stds; got {len(mean)} and {len(std)}")
        return {"op": op, "mean": mean, "std": std}
    return {"op": op}


# ------------------------------------------------------------------------------------------- the pipeline
class Preprocess:
    """An ordered list of JSON steps that turns raw inputs (images, text, series) into a model's input.

    Args:
        steps: the steps (see the module's list), validated.
        raw_input: what the pipeline was declared for: ``{"channels": 1, "size": [28, 28]}``
            (the dataset's native images), ``{"kind": "text"}`` or ``{"kind": "series",
            "features": ["value", "marker"]}`` (the names of a series' columns, in order);
            named in error messages, and it fixes the kind of an empty pipeline.
        recorded: ``False`` for the stand-in that :meth:`for_metadata` builds for a
            ``model.json`` without a pipeline (see there).

    Raises:
        ConfigError: an unknown step, a bad argument, a step after ``normalize``/``flatten``
            other than ``flatten``, steps of two kinds of input, more than one
            ``tokenize``/``window`` step, or a ``raw_input`` of another kind than the steps.

    Example::

        pre = Preprocess([{"op": "to_channels", "channels": 1}, {"op": "pad", "size": [32, 32]}],
                         raw_input={"channels": 1, "size": [28, 28]})
        pre(torch.rand(1, 28, 28)).shape  # torch.Size([1, 32, 32])
        taps = Preprocess([{"op": "window", "size": 16}], raw_input={"kind": "series", "features": ["value"]})
        taps(torch.randn(100)).shape       # torch.Size([85, 16, 1]): one window per forecast
    """

    def __init__(self, steps: Sequence[Mapping[str, Any]] = (), *, raw_input: Mapping[str, Any] | None = None,
                 recorded: bool = True) -> None:
        if isinstance(steps, (str, bytes, Mapping)) or not isinstance(steps, Sequence):
            raise ConfigError(f"preprocessing.pipeline must be a list of steps; got {steps!r}")
        self.steps = [_check_step(i, s) for i, s in enumerate(steps)]
        for i, step in enumerate(self.steps):
            before = [s["op"] for s in self.steps[:i]]
            if "flatten" in before:
                raise ConfigError(f"{_where(i, step['op'])} comes after 'flatten'; flatten must be the last step")
            if "normalize" in before and step["op"] != "flatten":
                raise ConfigError(f"{_where(i, step['op'])} comes after 'normalize'; only 'flatten' may follow it")
        kinds = sorted({_KIND[s["op"]] for s in self.steps})
        if len(kinds) > 1:
            raise ConfigError(f"preprocessing.pipeline mixes steps for {' and '.join(kinds)} inputs; a pipeline reads "
                              f"one kind of input")
        for op in ("tokenize", "window"):
            if len(self.steps) > 1 and any(s["op"] == op for s in self.steps):
                raise ConfigError(f"a {_KIND[op]} pipeline is the single step {op!r}; got "
                                  f"{[s['op'] for s in self.steps]}")
        self.raw_input = self._check_raw(raw_input)
        raw_kind = self.raw_input.get("kind", "image") if self.raw_input else None
        if kinds and raw_kind is not None and raw_kind != kinds[0]:
            raise ConfigError(f"preprocessing.raw_input describes {raw_kind} inputs but the pipeline's steps read "
                              f"{kinds[0]} inputs")
        #: ``"image"``, ``"text"``, ``"series"``, or ``None`` for an empty pipeline without ``raw_input``
        self.input_kind: str | None = kinds[0] if kinds else raw_kind
        self.recorded = bool(recorded)
        self._vocab = next((Vocabulary.from_dict(s["vocab"]) for s in self.steps if s["op"] == "tokenize"), None)

    @staticmethod
    def _check_raw(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A checked copy of ``raw_input``; an image's has no ``kind`` (it predates the other kinds)."""
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"preprocessing.raw_input must be an object; got {raw!r}")
        kind = raw.get("kind", "image")
        if kind == "text":
            if set(raw) != {"kind"}:
                raise ConfigError(f"preprocessing.raw_input of text is {{'kind': 'text'}}; got {dict(raw)!r}")
            return {"kind": "text"}
        if kind == "series":
            names = raw.get("features")
            if (set(raw) != {"kind", "features"} or not isinstance(names, (list, tuple)) or not names
                    or any(not isinstance(n, str) or not n or "," in n for n in names) or len(set(names)) != len(names)):
                raise ConfigError(f"preprocessing.raw_input of a series is {{'kind': 'series', 'features': [names]}} "
                                  f"with distinct, non-empty column names without commas; got {dict(raw)!r}")
            return {"kind": "series", "features": [str(n) for n in names]}
        if kind != "image" or set(raw) - {"kind"} != {"channels", "size"}:
            raise ConfigError(f"preprocessing.raw_input must be {{'channels': C, 'size': [H, W]}} (images), "
                              f"{{'kind': 'text'}} or {{'kind': 'series', 'features': [...]}}; got {dict(raw)!r}")
        c = raw["channels"]
        if isinstance(c, bool) or not isinstance(c, int) or c <= 0:
            raise ConfigError(f"preprocessing.raw_input channels must be a positive integer; got {c!r}")
        return {"channels": int(c), "size": _size(raw["size"], "preprocessing.raw_input")}

    # ---- construction
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Preprocess:
        """The pipeline of ``{"pipeline": [...], "raw_input": {...}}`` (other keys are ignored)."""
        if not isinstance(d, Mapping) or "pipeline" not in d:
            raise ConfigError(f"a preprocessing description needs a 'pipeline' list; got {d!r}")
        return cls(d["pipeline"], raw_input=d.get("raw_input"))

    def to_dict(self) -> dict[str, Any]:
        """``{"pipeline": [...], "raw_input": {...}}``: plain JSON, read back by :meth:`from_dict`."""
        out: dict[str, Any] = {"pipeline": [_json_step(s) for s in self.steps]}
        if self.raw_input is not None:
            out["raw_input"] = {k: (list(v) if isinstance(v, list) else v) for k, v in self.raw_input.items()}
        return out

    @classmethod
    def for_metadata(cls, meta: Mapping[str, Any]) -> Preprocess | None:
        """The pipeline a ``model.json`` records, or a stand-in for a file written before pipelines were recorded.

        A ``model.json`` whose ``preprocessing`` holds a ``pipeline`` gives that
        pipeline.  One with only an image ``input_shape`` ``[C, H, W]`` (``C`` = 1 or 3; other
        channel counts are arrays such as an image stacked with its mask, not images) gives
        the behaviour ``an2dl predict`` always had for it — channels converted,
        then a bilinear resize to ``H × W`` — marked ``recorded = False``; one
        with only a language model's ``vocab`` gives the ``tokenize`` step that
        vocabulary always applied (also ``recorded = False``).  Models of other
        inputs (vectors, sequences) give ``None``.
        """
        pre = meta.get("preprocessing") or {}
        if "pipeline" in pre:
            return cls.from_dict(pre)
        if isinstance(pre.get("vocab"), Mapping):  # a language model's vocabulary, recorded before pipelines
            return cls([{"op": "tokenize", "vocab": pre["vocab"]}], raw_input={"kind": "text"}, recorded=False)
        shape = pre.get("input_shape")
        if isinstance(shape, (list, tuple)) and len(shape) == 3 and int(shape[0]) in (1, 3):
            c, h, w = (int(v) for v in shape)
            return cls([{"op": "to_channels", "channels": c}, {"op": "resize", "size": [h, w], "mode": "bilinear"}],
                       recorded=False)
        return None

    # ---- properties
    @property
    def channels(self) -> int | None:
        """The channel count the ``to_channels`` step converts to (else the raw input's, else ``None``)."""
        for step in self.steps:
            if step["op"] == "to_channels":
                return step["channels"]
        return self.raw_input["channels"] if self.raw_input and "channels" in self.raw_input else None

    @property
    def vocabulary(self) -> Vocabulary | None:
        """The :class:`~an2dl.data.text.Vocabulary` of the ``tokenize`` step (``None`` for other pipelines)."""
        return self._vocab

    @property
    def features(self) -> list[str] | None:
        """The column names a series pipeline reads, in order (``None`` for other pipelines or when not recorded)."""
        raw = self.raw_input
        return list(raw["features"]) if raw is not None and raw.get("kind") == "series" else None

    @property
    def window(self) -> tuple[int, int] | None:
        """``(size, stride)`` of the ``window`` step, or ``None``."""
        step = next((s for s in self.steps if s["op"] == "window"), None)
        return (step["size"], step["stride"]) if step is not None else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Preprocess) and self.to_dict() == other.to_dict() and self.recorded == other.recorded

    def __repr__(self) -> str:
        return f"Preprocess({self.steps!r}, raw_input={self.raw_input!r})"

    # ---- application
    def __call__(self, x: Any, *, source: str = "input") -> Any:
        """Apply the steps to a raw input of the pipeline's kind.

        Args:
            x: images: one image ``[C, H, W]`` or a batch ``[B, C, H, W]`` (float, in
                [0, 1]; ``[H, W]`` is read as one grey image); text: a ``str``;
                series: ``[N]`` (one feature), ``[N, D]`` or a batch ``[B, N, D]``.
            source: how error messages name the input (a file name).

        Returns:
            images: float32, batched if ``x`` was; text: int64 ids ``[T]``;
            series: float32 windows ``[M, size, D]`` (``[B, M, size, D]`` for a batch).

        Raises:
            DataError: ``x`` is not an input of the pipeline's kind, or a step cannot
                bring it to its size (``pad`` of a larger image, ``center_crop`` of a
                smaller one, a channel count ``to_channels``/``normalize`` cannot use,
                a series shorter than the window or with steps left after the last
                window, a series with another number of features); the message
                names the step, what it needs and what it got.
        """
        if self.input_kind == "text":
            return self._tokenize(x, source)
        if self.input_kind == "series":
            return self._windows(x, source)
        if not isinstance(x, torch.Tensor):
            raise DataError(f"{source}: an image pipeline reads image tensors [C, H, W]; got {type(x).__name__}")
        if x.dim() == 2:
            x = x.unsqueeze(0)
        if x.dim() not in (3, 4):
            raise DataError(f"{source}: expected an image [C, H, W] or a batch [B, C, H, W]; got {list(x.shape)}")
        single = x.dim() == 3
        x = (x.unsqueeze(0) if single else x).float()
        for i, step in enumerate(self.steps):
            x = self._apply(i, step, x, source)
        return x.squeeze(0) if single else x

    def unknown_tokens(self, text: str) -> list[str]:
        """The distinct tokens of ``text`` (in order of appearance) that the ``tokenize`` step reads as ``<unk>``.

        Character and word vocabularies only (a subword tokenizer splits any text into known pieces).
        """
        vocab = self._vocab
        if vocab is None or vocab.level not in ("char", "word"):
            return []
        return list(dict.fromkeys(t for t in vocab.tokenizer.tokenize(text) if t not in vocab.stoi))

    def window_bounds(self, steps: int) -> list[tuple[int, int]]:
        """``[(start, end), ...]``: the steps ``start .. end - 1`` of a series of ``steps`` steps in each window.

        Without a ``window`` step, the whole series is one window.  No check of the
        length here: :meth:`__call__` refuses a series it cannot cut.
        """
        if self.window is None:
            return [(0, steps)]
        size, stride = self.window
        return [(a, a + size) for a in range(0, max(steps - size, -1) + 1, stride)]

    def _tokenize(self, text: Any, source: str) -> torch.Tensor:
        if not isinstance(text, str):
            raise DataError(f"{source}: a text pipeline reads a str; got {type(text).__name__}")
        step, vocab = self.steps[0], self._vocab
        assert vocab is not None  # a text pipeline is its tokenize step
        return vocab.encode(text, add_sos=step["add_sos"], add_eos=step["add_eos"])

    def _windows(self, x: Any, source: str) -> torch.Tensor:
        names = self.features
        if not isinstance(x, torch.Tensor) or x.dim() not in (1, 2, 3) or (x.dim() == 1 and names and len(names) != 1):
            got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise DataError(f"{source}: a series pipeline reads a series [N, D] (or [N] for one feature, "
                            f"[B, N, D] for a batch); got {got}")
        batched = x.dim() == 3
        x = x.float().reshape(len(x), -1) if x.dim() == 1 else x.float()
        x = x if batched else x.unsqueeze(0)  # [B, N, D]
        n, d = int(x.shape[1]), int(x.shape[2])
        if names and d != len(names):
            raise DataError(f"{source}: the model reads series of {len(names)} feature(s) ({', '.join(names)}); "
                            f"got {d} per step")
        if self.window is None:
            out = x.unsqueeze(1)  # [B, 1, N, D]: the whole series is the model's input
        else:
            size, stride = self.window
            where = f"{source}: preprocessing step 0 ('window')"
            columns = f" (columns {', '.join(names)})" if names else ""
            if n < size:
                raise DataError(f"{where} cuts the series into windows of {size} steps; got a series of {n} "
                                f"step(s){columns}; give at least {size} steps")
            left = (n - size) % stride
            if left:
                raise DataError(f"{where} cuts the series into windows of {size} steps every {stride} steps, the "
                                f"last ending at the last step; a series of {n} steps{columns} leaves {left} step(s) "
                                f"over; give {size} + k × {stride} steps (e.g. {n - left})")
            out = x.unfold(1, size, stride).transpose(2, 3)  # [B, M, D, size] -> [B, M, size, D]
        return out if batched else out.squeeze(0)

    def _raw_hint(self) -> str:
        if self.raw_input is None:
            return ""
        h, w = self.raw_input["size"]
        return f" (the model was trained on {h}x{w} images)"

    def _apply(self, i: int, step: dict[str, Any], x: torch.Tensor, source: str) -> torch.Tensor:
        op = step["op"]
        where = f"{source}: preprocessing step {i} ({op!r})"
        if op == "to_channels":
            return convert_channels(x, step["channels"], source=source)
        if op == "flatten":
            return x.reshape(len(x), -1)
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if op == "pad":
            th, tw = step["size"]
            if h > th or w > tw:
                raise DataError(f"{where} pads images up to {th}x{tw} and cannot shrink them; got a {h}x{w} image"
                                f"{self._raw_hint()}; give an image of at most {th}x{tw}")
            if (h, w) == (th, tw):
                return x
            dh, dw = th - h, tw - w
            return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), value=step["fill"])
        if op == "center_crop":
            th, tw = step["size"]
            if h < th or w < tw:
                raise DataError(f"{where} crops images to {th}x{tw} and cannot enlarge them; got a {h}x{w} image"
                                f"{self._raw_hint()}; give an image of at least {th}x{tw}")
            top, left = (h - th) // 2, (w - tw) // 2
            return x[..., top:top + th, left:left + tw]
        if op == "resize":
            th, tw = step["size"]
            if (h, w) == (th, tw):
                return x
            mode = step["mode"]
            kwargs = {"align_corners": False} if mode == "bilinear" else {}
            return F.interpolate(x, size=(th, tw), mode=mode, **kwargs).clamp_(0, 1)
        # normalize
        mean, std = step["mean"], step["std"]
        c = int(x.shape[1]) if x.dim() == 4 else 0
        if len(mean) not in (1, c):
            raise DataError(f"{where} normalises {len(mean)} channel(s); got an image with {c}")
        m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - m) / s
