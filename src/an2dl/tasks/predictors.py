"""Predictions of exported models, one function per kind of output (``an2dl predict``).

Each task class's ``predict_inputs`` calls one of these on a model rebuilt
by :func:`an2dl.load`, with ``meta`` its ``model.json``:

* :func:`classify_inputs` / :func:`classify_sequences` — top-k class probabilities;
* :func:`score_binary_inputs` — ``P(positive) = σ(z)`` and the decision ``z > 0``;
* :func:`regress_inputs` / :func:`regress_sequences` — the predicted numbers;
* :func:`reconstruct_inputs` — autoencoder reconstructions written as PNG;
* :func:`draw_samples` — a seeded PNG grid of images from a generator or a VAE's prior;
* :func:`continue_text` — a character language model's continuation of prompts.

Inputs are read with :mod:`an2dl.data.inputs`; image files are prepared by
the model's recorded evaluation pipeline (``model.preprocess``, see
:mod:`an2dl.data.preprocess`), or fitted by resizing for models exported
without one.  Numbers must be finite,
arrays and numbers must lie in the model's ``preprocessing.value_range``
(images: [0, 1] when not declared) unless ``--clip`` clips them, image files
above ``--max-pixels`` are refused before decoding, and an image whose
brightness is that of an inverted training image (``preprocessing.mean``)
adds a warning to :attr:`Prediction.warnings` (``--invert`` flips it).
Every function returns a :class:`~an2dl.engine.prediction.Prediction`;
messages name the model's run directory (``options.source``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._utils.files import atomic_write_text
from ..data.images import DEFAULT_MAX_PIXELS, save_image, tile_images
from ..data.inputs import (
    derived_path,
    derived_paths,
    polarity_warning,
    read_image_input,
    read_sequence_input,
    read_series_input,
    read_text_input,
    read_vector_input,
)
from ..data.preprocess import Preprocess
from ..data.text.specials import EOS
from ..engine.prediction import IMAGE_INPUT_OPTIONS, Prediction, PredictOptions
from ..errors import ConfigError, DataError

__all__ = [
    "classify_inputs",
    "classify_sequences",
    "score_binary_inputs",
    "regress_inputs",
    "regress_sequences",
    "reconstruct_inputs",
    "draw_samples",
    "continue_text",
    "input_options",
    "DEFAULT_SAMPLES",
    "DEFAULT_LENGTH",
    "DEFAULT_TEMPERATURE",
]

#: images drawn by a GAN or VAE when ``--samples`` is not given
DEFAULT_SAMPLES = 16
#: characters a language model generates when ``--length`` is not given
DEFAULT_LENGTH = 200
#: sampling temperature of a language model when ``--temperature`` is not given (nanoGPT's sample.py)
DEFAULT_TEMPERATURE = 0.8
#: windows of a series a sequence model reads in one call
_WINDOW_BATCH = 1024


# ------------------------------------------------------------------------------------------------ helpers
def _require_inputs(inputs: Sequence[str], kind: str, options: PredictOptions, what: str) -> None:
    if not inputs:
        raise ConfigError(f"predict with the {kind} model of {options.source} needs inputs: {what}")


def _input_shape(meta: dict[str, Any], options: PredictOptions, *, image: bool = False) -> list[int]:
    shape = (meta.get("preprocessing") or {}).get("input_shape")
    if not shape or (image and len(shape) != 3):
        want = "an image input shape [C, H, W]" if image else "an input shape"
        raise ConfigError(f"the model.json of {options.source} does not record {want} (preprocessing.input_shape); "
                          f"got {shape!r}; predict needs one")
    return [int(v) for v in shape]


def _reads_images(meta: dict[str, Any]) -> bool:
    shape = (meta.get("preprocessing") or {}).get("input_shape")
    return isinstance(shape, (list, tuple)) and len(shape) == 3


def _value_range(meta: dict[str, Any], options: PredictOptions, *, image: bool) -> tuple[float, float] | None:
    """``preprocessing.value_range`` as ``(lo, hi)``; images default to (0, 1), vectors to no range."""
    given = (meta.get("preprocessing") or {}).get("value_range")
    if given is None:
        return (0.0, 1.0) if image else None
    try:
        lo, hi = (float(v) for v in given)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConfigError(f"the model.json of {options.source} must record preprocessing.value_range as [lo, hi] "
                          f"with lo < hi; got {given!r}")
    return lo, hi


def input_options(meta: dict[str, Any]) -> tuple[str, ...]:
    """The input options a model of ``meta`` takes: ``--clip/--invert/--max-pixels`` for images,
    ``--clip`` for vectors with a declared ``value_range``, none otherwise."""
    if _reads_images(meta):
        return IMAGE_INPUT_OPTIONS
    return ("clip",) if (meta.get("preprocessing") or {}).get("value_range") is not None else ()


def _pipeline(model: nn.Module, meta: dict[str, Any], options: PredictOptions) -> Preprocess | None:
    """The model's evaluation pipeline (``model.preprocess``, else rebuilt from ``meta``): the recorded one, or
    for a model exported without one the stand-in of :meth:`Preprocess.for_metadata`."""
    pre = getattr(model, "preprocess", None)
    if not isinstance(pre, Preprocess):
        try:
            pre = Preprocess.for_metadata(meta)
        except ConfigError as e:
            raise ConfigError(f"the model.json of {options.source}: {e}") from None
    return pre


def _image_batch(model: nn.Module, meta: dict[str, Any], inputs: Sequence[str], options: PredictOptions,
                 shape: list[int]) -> tuple[torch.Tensor, list[str]]:
    """The images ``[N, C, H, W]`` as the model reads them (inverted with ``--invert``) and the polarity warnings.

    Each file goes through the model's recorded evaluation pipeline (the
    steps that made the test images it was measured on), or, for a model
    exported without one, the stand-in of :meth:`Preprocess.for_metadata`.
    """
    value_range = _value_range(meta, options, image=True)
    max_pixels = DEFAULT_MAX_PIXELS if options.max_pixels is None else options.max_pixels
    train_mean = (meta.get("preprocessing") or {}).get("mean")
    pre = _pipeline(model, meta, options)
    images, warnings = [], []
    for path in inputs:
        x = read_image_input(path, shape, value_range=value_range, clip=options.clip, max_pixels=max_pixels,
                             preprocess=pre, invert=options.invert)
        if train_mean:
            hint = polarity_warning(x, train_mean, str(path), value_range=value_range, inverted=options.invert)
            if hint:
                warnings.append(hint)
        images.append(x)
    return torch.stack(images), warnings


def _feature_batch(model: nn.Module, meta: dict[str, Any], inputs: Sequence[str],
                   options: PredictOptions) -> tuple[list[str], torch.Tensor, list[str]]:
    """Names, the batch ``[N, *input_shape]`` (images for a ``[C, H, W]`` input, else vectors) and warnings."""
    shape = _input_shape(meta, options)
    if len(shape) == 3:
        x, warnings = _image_batch(model, meta, inputs, options, shape)
        return list(inputs), x, warnings
    value_range = _value_range(meta, options, image=False)
    names: list[str] = []
    parts = []
    for item in inputs:
        n, x = read_vector_input(item, shape, value_range=value_range, clip=options.clip)
        names += n
        parts.append(x)
    return names, torch.cat(parts), []


def _call(model: nn.Module, *args: torch.Tensor) -> torch.Tensor:
    """The model's output in eval mode without gradients (the first element of a tuple output)."""
    with torch.no_grad():
        out = model(*args)
    return out[0] if isinstance(out, (tuple, list)) else out


def _class_names(meta: dict[str, Any], k: int, options: PredictOptions) -> list[str]:
    names = [str(n) for n in meta.get("class_names") or []]
    if names and len(names) != k:
        raise ConfigError(f"the model of {options.source} returns {k} scores per input, but its model.json names "
                          f"{len(names)} classes")
    return names or [str(i) for i in range(k)]


def _ranked(names: list[str], probs: torch.Tensor, meta: dict[str, Any], options: PredictOptions) -> Prediction:
    if probs.dim() != 2:
        raise ConfigError(f"a classifier must return scores [N, K]; the model of {options.source} returned "
                          f"{list(probs.shape)}")
    classes = _class_names(meta, probs.shape[1], options)
    k = min(options.top or 1, probs.shape[1])
    out = Prediction()
    for name, p in zip(names, probs):
        vals, idx = p.topk(k)
        ranked = [(classes[i], float(v)) for v, i in zip(vals.tolist(), idx.tolist())]
        out.values.append((name, ranked))
        out.lines.append(f"{name}: " + ", ".join(f"{c} ({v:.4f})" for c, v in ranked))
    return out


def _numbers(y: torch.Tensor) -> str:
    return ", ".join(f"{v:.6g}" for v in y.reshape(-1).tolist())


def _check_ids(ids: torch.Tensor, meta: dict[str, Any], source: str) -> None:
    kwargs, pre = meta.get("kwargs") or {}, meta.get("preprocessing") or {}
    size = kwargs.get("vocab_size")
    if size is None and isinstance(pre.get("symbols"), dict) and pre["symbols"]:
        size = max(int(v) for v in pre["symbols"].values()) + 1
    if size is not None and not (0 <= int(ids.min()) and int(ids.max()) < int(size)):
        raise DataError(f"{source}: token ids must lie in [0, {size}); got values from {int(ids.min())} to {int(ids.max())}")


# ------------------------------------------------------------------------------------- classes and numbers
def classify_inputs(model: nn.Module, meta: dict[str, Any], inputs: Sequence[str], options: PredictOptions,
                    *, kind: str = "classification") -> Prediction:
    """Top-k softmax probabilities for images (``[C, H, W]`` models) or feature vectors.

    Args:
        model: maps ``[N, *input_shape]`` to logits ``[N, K]``.
        meta: ``model.json`` (``preprocessing.input_shape``, ``class_names``).
        inputs: image files or ``.npy`` arrays (image models); ``.npy`` arrays or
            numbers such as ``0,1`` (vector models).
        options: ``top`` (default 1); the input options of :func:`input_options`.

    Returns:
        One line per sample, ``"<input>: <class> (<p>), ..."``; ``values`` holds
        ``(input, [(class name, probability), ...])``.
    """
    options.refuse_unused(kind, ("top", *input_options(meta)))
    _require_inputs(inputs, kind, options, "image files (PNG/JPEG) or .npy arrays")
    names, x, warnings = _feature_batch(model, meta, inputs, options)
    out = _ranked(names, _call(model, x).softmax(dim=-1), meta, options)
    out.warnings += warnings
    return out


def classify_sequences(model: nn.Module, meta: dict[str, Any], inputs: Sequence[str], options: PredictOptions,
                       *, kind: str = "sequence_classification") -> Prediction:
    """Top-k class probabilities of whole sequences: lines of a text file, or one ``.npy`` file each.

    A text file holds one sequence per line (blank lines are skipped), read by
    the model's recorded text pipeline (``model.preprocess``: its vocabulary,
    e.g. ``<sos>``/``<eos>`` around the symbols); characters outside the
    vocabulary are read as ``<unk>`` with a warning naming them.  A ``.npy``
    file holds one sequence that is already ids or features.

    Args:
        model: ``model(x [1, T] ids or [1, T, D] features) -> logits [1, K]``.
        meta: ``model.json`` (``class_names``; ``kwargs.vocab_size`` or
            ``preprocessing.symbols`` bound the token ids of ``.npy`` files).
        inputs: text files (a model with a text pipeline), or ``.npy`` files of
            integer token ids ``[T]`` or float features ``[T, D]``.
        options: ``top`` (default 1).

    Returns:
        As :func:`classify_inputs`; a text file of several lines names each
        sequence ``<file>:<line number>``.
    """
    options.refuse_unused(kind, ("top",))
    pre = _pipeline(model, meta, options)
    text = pre if pre is not None and pre.input_kind == "text" else None
    what = "text files, one sequence per line, or .npy files of token ids [T]" if text is not None else \
        ".npy files of token ids [T] or features [T, D]"
    _require_inputs(inputs, kind, options, what)
    names, rows, warnings = [], [], []
    for path in inputs:
        if text is not None and Path(path).suffix != ".npy":
            lines = [(i, line) for i, line in enumerate(read_text_input(path).splitlines(), start=1) if line.strip()]
            if not lines:
                raise DataError(f"{path}: expected one sequence per line; the file holds none")
            unknown = list(dict.fromkeys(t for _, line in lines for t in text.unknown_tokens(line)))
            if unknown:
                warnings.append(_unknown_warning(str(path), unknown, text))
            for i, line in lines:
                names.append(str(path) if len(lines) == 1 else f"{path}:{i}")
                rows.append(text(line, source=f"{path}:{i}"))
            continue
        seq = read_sequence_input(path)
        if not seq.is_floating_point():
            _check_ids(seq, meta, str(path))
        names.append(str(path))
        rows.append(seq)
    probs = torch.cat([_call(model, r.unsqueeze(0)).softmax(dim=-1).reshape(1, -1) for r in rows])
    out = _ranked(names, probs, meta, options)
    out.warnings += warnings
    return out


def score_binary_inputs(model: nn.Module, meta: dict[str, Any], inputs: Sequence[str], options: PredictOptions,
                        *, kind: str = "binary_classification") -> Prediction:
    """``P(positive) = σ(z)`` of a one-output classifier and its decision ``z > 0`` (notes §2.2).

    Args:
        model: maps ``[N, *input_shape]`` to one score ``z`` per sample, ``[N]`` or ``[N, 1]``.
        meta: ``model.json``; ``class_names`` ``[negative, positive]`` name the classes.
        inputs: ``.npy`` arrays or numbers such as ``0,1`` (images for ``[C, H, W]`` models).
        options: the input options of :func:`input_options`.

    Returns:
        One line per sample, ``"<input>: P(<positive>) = <p> -> <class>"``; ``values``
        holds ``(input, p)``.
    """
    options.refuse_unused(kind, input_options(meta))
    _require_inputs(inputs, kind, options, ".npy arrays or numbers such as 0,1")
    names, x, warnings = _feature_batch(model, meta, inputs, options)
    z = _call(model, x)
    if z.dim() == 2 and z.shape[1] == 1:
        z = z.squeeze(1)
    if z.dim() != 1:
        raise ConfigError(f"a binary classifier returns one score per input; the model of {options.source} "
                          f"returned {list(z.shape)}")
    given = [str(n) for n in meta.get("class_names") or []]
    negative, positive = given if len(given) == 2 else ("negative", "positive")
    out = Prediction(warnings=warnings)
    for name, score, p in zip(names, z.tolist(), torch.sigmoid(z).tolist()):
        out.values.append((name, p))
        out.lines.append(f"{name}: P({positive}) = {p:.4f} -> {positive if score > 0 else negative}")
    return out


def regress_inputs(model: nn.Module, meta: dict[str, Any], inputs: Sequence[str], options: PredictOptions,
                   *, kind: str = "regression") -> Prediction:
    """The predicted numbers for feature vectors (or images).

    Args:
        model: maps ``[N, *input_shape]`` to ``[N, D]`` (or ``[N]``).
        meta: ``model.json`` (``preprocessing.input_shape``).
        inputs: ``.npy`` arrays (one sample, ``[N, *input_shape]``, or ``[N]`` for
            a one-number input) or numbers such as ``0.5``.
        options: the input options of :func:`input_options`.

    Returns:
        One line per sample, ``"<input>: <y_1>, ..., <y_D>"`` (6 significant
        digits); ``values`` holds ``(input, [y_1, ...])``.
    """
    options.refuse_unused(kind, input_options(meta))
    _require_inputs(inputs, kind, options, ".npy arrays or numbers such as 0.5")
    names, x, warnings = _feature_batch(model, meta, inputs, options)
    y = _call(model, x).reshape(len(x), -1)
    out = Prediction(warnings=warnings)
    for name, row in zip(names, y):
        out.values.append((name, row.tolist()))
        out.lines.append(f"{name}: {_numbers(row)}")
    return out


def regress_sequences(model: nn.Module, meta: dict[str, Any], inputs: Sequence[str], options: PredictOptions,
                      *, kind: str = "sequence_regression") -> Prediction:
    """The numbers predicted from each sequence, or from each window of a series (a forecast, or one value per step).

    A model with a recorded series pipeline (``model.preprocess``) reads each
    file as a raw series — a CSV/text file with one step per line (a header
    picks the model's columns by name) or a ``.npy`` array ``[N]``/``[N, D]`` —
    and the pipeline cuts it into the model's windows (e.g. the last 16
    observations before each forecast); a series shorter than a window is
    refused, naming the pipeline.  Models exported without a pipeline read one
    ``.npy`` sequence per file as it is.

    Args:
        model: ``model(x [M, T, D] features or [1, T] ids) -> predictions``.
        meta: ``model.json``.
        inputs: series files (CSV, text or ``.npy``); for models without a
            pipeline ``.npy`` files of features ``[T]`` / ``[T, D]`` or integer token ids ``[T]``.
        options: none apply.

    Returns:
        One line per window with every predicted number, named ``<file>`` when the
        file is one window and ``<file>[a:b]`` (its steps ``a .. b - 1``) otherwise;
        ``values`` holds ``(name, [y, ...])``.
    """
    options.refuse_unused(kind, ())
    pre = _pipeline(model, meta, options)
    series = pre if pre is not None and pre.input_kind == "series" else None
    _require_inputs(inputs, kind, options, "series files (CSV with one step per line, or .npy)" if series is not None
                    else ".npy files of features [T] or [T, D]")
    out = Prediction()
    for path in inputs:
        if series is not None:
            x = read_series_input(path, features=series.features)
            windows = series(x, source=str(path))
            bounds = series.window_bounds(len(x))
            names = [str(path)] if len(bounds) == 1 else [f"{path}[{a}:{b}]" for a, b in bounds]
            y = torch.cat([_call(model, windows[i:i + _WINDOW_BATCH]) for i in range(0, len(windows), _WINDOW_BATCH)])
        else:
            seq = read_sequence_input(path)
            if not seq.is_floating_point():
                _check_ids(seq, meta, str(path))
            names, y = [str(path)], _call(model, seq.unsqueeze(0))
        for name, row in zip(names, y.reshape(len(names), -1)):
            out.values.append((name, row.tolist()))
            out.lines.append(f"{name}: {_numbers(row)}")
    return out


# ---------------------------------------------------------------------------------------------- images
def reconstruct_inputs(model: nn.Module, meta: dict[str, Any], inputs: Sequence[str], options: PredictOptions,
                       *, kind: str = "autoencoder") -> Prediction:
    """Write ``D(E(s))`` of each image as ``<name>.recon.png`` beside it (or in ``options.out``).

    The input is first brought to the model's input shape by its pipeline (channels, size),
    so the reconstruction has the model's size (that of the input when they agree).

    Args:
        model: maps ``[N, C, H, W]`` in [0, 1] to reconstructions of the same shape
            (a VAE in eval mode decodes the posterior mean).
        meta: ``model.json`` (``preprocessing.input_shape``).
        inputs: image files (PNG/JPEG) or ``.npy`` images.
        options: ``out``; ``clip``, ``invert``, ``max_pixels``.

    Returns:
        One line per image, ``"<input>: <reconstruction file> (l2 error e)"`` with
        ``e = ‖s − D(E(s))‖₂`` on the prepared input; ``values`` holds ``(input, file)``.

    Raises:
        ConfigError: two inputs would write the same file.
    """
    _require_inputs(inputs, kind, options, "image files (PNG/JPEG) or .npy images to reconstruct")
    shape = _input_shape(meta, options, image=True)
    x, warnings = _image_batch(model, meta, inputs, options, shape)
    x_hat = _call(model, x).float().clamp(0, 1)
    if x_hat.shape != x.shape:
        raise ConfigError(f"an autoencoder returns images of its input's shape {list(x.shape)}; the model of "
                          f"{options.source} returned {list(x_hat.shape)}")
    targets = derived_paths(inputs, ".recon.png", options.out)
    errors = (x - x_hat).flatten(1).norm(dim=1).tolist()
    out = Prediction(warnings=warnings)
    for dest, src, img, err in zip(targets, inputs, x_hat, errors):
        save_image(dest, img)
        out.files.append(dest)
        out.values.append((src, dest))
        out.lines.append(f"{src}: {dest} (l2 error {err:.4g})")
    return out


def draw_samples(model: nn.Module, meta: dict[str, Any], options: PredictOptions, *, kind: str) -> Prediction:
    """Draw ``options.samples`` images (default 16) with ``model.sample`` and write them as one PNG grid.

    The noise comes from a CPU ``torch.Generator`` seeded with ``options.seed``
    (default 0), so ``model.sample(n, generator=torch.Generator().manual_seed(seed))``
    reproduces the grid.  Tiles are laid out ``ceil(√n)`` per row with 2 white
    pixels between them (:func:`~an2dl.data.images.tile_images`).

    Args:
        model: has ``sample(n, *, generator) -> [n, C, H, W]`` in [0, 1] (a GAN generator, a VAE).
        meta: ``model.json``.
        options: ``samples``, ``seed``, ``out`` (default folder: ``<run_dir>/samples``).

    Returns:
        One line ``"<n> samples (seed <s>): <file>"``; ``values`` holds the images ``[n, C, H, W]``.
    """
    sample = getattr(model, "sample", None)
    if not callable(sample):
        raise ConfigError(f"the {kind} model of {options.source} ({type(model).__name__}) has no sample(n, generator=...)")
    n, seed = options.samples or DEFAULT_SAMPLES, options.seed_value
    with torch.no_grad():
        images = sample(n, generator=torch.Generator().manual_seed(seed)).detach().float().cpu()
    if images.dim() != 4 or len(images) != n:
        raise ConfigError(f"the {kind} model of {options.source} must sample images [{n}, C, H, W]; got {list(images.shape)}")
    folder = options.out if options.out is not None else (options.run_dir or Path(".")) / "samples"
    path = folder / f"samples-n{n}-seed{seed}.png"
    save_image(path, tile_images(images.clamp(0, 1), nrow=math.ceil(math.sqrt(n))))
    return Prediction(lines=[f"{n} samples (seed {seed}): {path}"], files=[path], values=[images])


# ------------------------------------------------------------------------------------------------ text
def _unknown_warning(source: str, unknown: list[str], pre: Preprocess) -> str:
    vocab = pre.vocabulary
    what = "characters" if vocab is not None and vocab.level == "char" else "tokens"
    size = len(vocab) if vocab is not None else 0
    return (f"{source}: {what} {', '.join(map(repr, unknown))} are not in the model's vocabulary "
            f"({size} tokens); the model reads them as <unk>")


def continue_text(model: nn.Module, meta: dict[str, Any], inputs: Sequence[str], options: PredictOptions,
                  *, kind: str = "language_model") -> Prediction:
    """Continue prompts with a language model and its saved vocabulary.

    The prompts are ``options.prompt`` and the text of each input file; with
    neither, a newline (the start of a new line of text).  Each prompt is
    continued by ``length`` characters drawn one at a time with the model's
    ``generate`` (temperature, optional top-k), from a generator seeded with
    ``seed``, so the same command gives the same text.

    Args:
        model: has ``generate(prompt ids [1, T0], n, *, temperature, top_k, generator) -> ids``
            (:class:`~an2dl.models.sequence.char_lm.CharLanguageModel`).
        meta: ``model.json``; the prompts are encoded by its text pipeline (``model.preprocess``:
            the ``tokenize`` step of ``preprocessing.pipeline``, or for a file written before
            pipelines the stand-in built from ``preprocessing.vocab``, also the older
            ``{"type": "char", "chars": [...]}``).
        inputs: UTF-8 text files whose contents are prompts (a whole file is one prompt).
        options: ``prompt``, ``length`` (default 200), ``temperature`` (default 0.8),
            ``top`` (sample among the k most likely characters), ``seed``, ``out``
            (write ``<name>.sample.txt`` files there instead of printing).

    Returns:
        The prompt and its continuation as printed lines (a ``==> <source> <==``
        header before each when there are several); ``values`` holds ``(source, text)``.
        A character model's prompt is kept as written; other levels print the
        decoded tokens (unknown words drop out as ``<unk>``).  Characters (or
        words) of a prompt outside the vocabulary are read as ``<unk>``, as
        ``Vocabulary.encode`` reads them in training, and each prompt holding
        any adds one warning naming them.
    """
    options.refuse_unused(kind, ("prompt", "length", "temperature", "top", "seed", "out"))
    pre = _pipeline(model, meta, options)
    if pre is None or pre.vocabulary is None:
        raise ConfigError(f"predict continues text with the model's vocabulary, but the model.json of {options.source} "
                          f"records none (a 'tokenize' step in preprocessing.pipeline, or preprocessing.vocab)")
    if not callable(getattr(model, "generate", None)):
        raise ConfigError(f"the language model of {options.source} ({type(model).__name__}) has no generate() to sample with")
    vocab = pre.vocabulary
    prompts = ([("--prompt", options.prompt)] if options.prompt is not None else [])
    prompts += [(str(p), read_text_input(p)) for p in inputs]
    prompts = prompts or [("prompt", "\n")]
    length = DEFAULT_LENGTH if options.length is None else options.length
    temperature = DEFAULT_TEMPERATURE if options.temperature is None else float(options.temperature)
    out = Prediction()
    for source, text in prompts:
        ids = pre(text, source=source).unsqueeze(0)
        if ids.shape[1] == 0 and vocab.level == "char":  # a word model starts a new sentence from an empty prompt
            raise ConfigError(f"a prompt must hold at least one character; {source} is empty")
        unknown = pre.unknown_tokens(text)
        if unknown:
            out.warnings.append(_unknown_warning(source, unknown, pre))
        generator = torch.Generator().manual_seed(options.seed_value)
        sampled = model.generate(ids, length, temperature=temperature, top_k=options.top, generator=generator)
        if vocab.level == "char":  # the prompt as written, then the new characters
            sample = text + vocab.decode(sampled[0, ids.shape[1]:])
        else:  # one line per sentence: a new line after each sampled <eos>
            ends = (sampled[0] == EOS).nonzero().flatten().tolist()
            pieces = torch.tensor_split(sampled[0], [e + 1 for e in ends])
            sample = "\n".join(vocab.decode(p) for p in pieces).strip("\n")
        out.values.append((source, sample))
        if options.out is not None:
            dest = derived_path("prompt" if source == "--prompt" else source, ".sample.txt", options.out)
            dest.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(dest, sample)
            out.files.append(dest)
            out.lines.append(f"{source}: {dest}")
            continue
        if len(prompts) > 1:
            out.lines.append(f"==> {source} <==")
        out.lines += sample.split("\n")
    return out
