"""What a task's ``predict_inputs`` receives and returns (``an2dl predict RUN_DIR INPUT...``, DESIGN §9).

Prediction works on an *exported* model (``model.json`` + ``model.safetensors``,
rebuilt by :func:`an2dl.load`): the run's data are not rebuilt.  The command
line gathers its options into a :class:`PredictOptions`; the task class named
by ``model.json``'s ``task`` kind turns the inputs into a :class:`Prediction`,
the lines to print and the files it wrote.  An option that the task kind does
not use is an error (:meth:`PredictOptions.refuse_unused`), never silently ignored.
Warnings about the inputs (an image that looks inverted) travel back in
:attr:`Prediction.warnings`; the command line prints them on stderr.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["PredictOptions", "Prediction", "IMAGE_INPUT_OPTIONS"]

#: options about how image inputs are read; task kinds whose models read images accept them
IMAGE_INPUT_OPTIONS = ("clip", "invert", "max_pixels")

#: option field -> how the command line spells it (for messages)
_FLAGS = {
    "top": "--top",
    "samples": "--samples",
    "seed": "--seed",
    "out": "--out",
    "prompt": "--prompt",
    "length": "--length",
    "temperature": "--temperature",
    "clip": "--clip",
    "invert": "--invert",
    "max_pixels": "--max-pixels",
}


def _positive_int(name: str, value: Any, *, minimum: int = 1) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise ConfigError(f"{_FLAGS[name]} must be an integer >= {minimum}; got {value!r}")


@dataclass(frozen=True)
class PredictOptions:
    """Options of ``an2dl predict``; ``None`` means "not given" (each task kind has its defaults).

    Attributes:
        top: classification: how many classes to show (default 1); language
            model: sample among the ``top`` most likely tokens (default: all).
        samples: GAN / VAE: how many images to draw into the sample grid (default 16).
        seed: seed of every random draw of the prediction (default 0).
        out: folder for written files (default: beside each input; samples go
            to ``<run_dir>/samples``); language model: write the texts there
            instead of printing them.
        prompt: language model: text to continue.
        length: language model: tokens (characters) to generate (default 200).
        temperature: language model: divides the logits before sampling
            (default 0.8; 0 picks the most likely token).
        clip: clip input values outside the model's declared range
            (``preprocessing.value_range``) into it instead of refusing them.
        invert: image models: use ``lo + hi - x`` (``1 - x`` for [0, 1]) of each
            image, e.g. a dark digit on white paper for a model trained on light-on-dark digits.
        max_pixels: image files: the largest ``width x height`` decoded (default
            :data:`~an2dl.data.images.DEFAULT_MAX_PIXELS`, 50 megapixels).
        run_dir: where the model came from (named in messages; home of the samples).

    ``clip`` and ``invert`` are flags: ``False`` means "not given".
    """

    top: int | None = None
    samples: int | None = None
    seed: int | None = None
    out: Path | None = None
    prompt: str | None = None
    length: int | None = None
    temperature: float | None = None
    clip: bool = False
    invert: bool = False
    max_pixels: int | None = None
    run_dir: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _positive_int("top", self.top)
        _positive_int("samples", self.samples)
        _positive_int("length", self.length, minimum=0)
        _positive_int("max_pixels", self.max_pixels)
        for flag in ("clip", "invert"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{_FLAGS[flag]} must be True or False; got {getattr(self, flag)!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ConfigError(f"--seed must be an integer; got {self.seed!r}")
        if self.temperature is not None and not (isinstance(self.temperature, (int, float)) and self.temperature >= 0):
            raise ConfigError(f"--temperature must be a number >= 0; got {self.temperature!r}")
        if self.prompt is not None and not isinstance(self.prompt, str):
            raise ConfigError(f"--prompt must be a string; got {type(self.prompt).__name__}")
        if self.out is not None:
            object.__setattr__(self, "out", Path(self.out))
        if self.run_dir is not None:
            object.__setattr__(self, "run_dir", Path(self.run_dir))

    @property
    def source(self) -> str:
        """How messages name the model: its run directory, or "the model"."""
        return str(self.run_dir) if self.run_dir is not None else "the model"

    @property
    def seed_value(self) -> int:
        """The seed of the random draws (0 when ``--seed`` is not given)."""
        return 0 if self.seed is None else self.seed

    def given(self) -> list[str]:
        """Names of the options that were set (``run_dir`` is not an option; a flag left ``False`` is not set)."""
        return [f.name for f in dataclasses.fields(self)
                if f.name != "run_dir" and getattr(self, f.name) is not None and getattr(self, f.name) is not False]

    def refuse_unused(self, kind: str, accepted: tuple[str, ...]) -> None:
        """Raise :class:`ConfigError` if an option outside ``accepted`` was given for a ``kind`` model.

        Raises:
            ConfigError: names the first unused option, the task kind and the options it takes.
        """
        for name in self.given():
            if name not in accepted:
                takes = ", ".join(_FLAGS[a] for a in accepted) or "no options"
                raise ConfigError(f"{_FLAGS[name]} does not apply to the {kind} model of {self.source} "
                                  f"(it takes {takes})")


@dataclass
class Prediction:
    """The outcome of ``predict_inputs``.

    Attributes:
        lines: what ``an2dl predict`` prints, one string per line.
        files: the files written (reconstructions, sample grids, texts), in order.
        values: one result per input, for callers in Python (e.g. the ranked
            ``(class name, probability)`` pairs of a classifier; see each task kind).
        warnings: one line per doubt about an input that did not stop the
            prediction (e.g. an image that looks inverted); ``an2dl predict`` prints them on stderr.
    """

    lines: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
