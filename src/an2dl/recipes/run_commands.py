"""Using a finished run: evaluate, predict on files, export (``an2dl eval|predict|export``).

A run holds one model (``run_dir/model``), several (``run_dir/variants/<name>/model``,
listed by the recipe's :meth:`~an2dl.recipes.base.Recipe.models`; the commands take
``--model NAME``), or none (a method without a trained model, e.g. k-NN: the
recipe's :meth:`~an2dl.recipes.base.Recipe.no_model` says why, and the commands refuse).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from .._utils.rng import seed_everything
from ..engine.checkpoint import load_checkpoint
from ..engine.prediction import Prediction, PredictOptions
from ..engine.trainer import Trainer
from ..errors import CheckpointError, ConfigError
from ..registry import close_matches
from ._variants import variant_dir
from .base import load_run_config

__all__ = ["evaluate_run", "predict_run", "predict_files", "export_run", "load_run_task", "model_home"]


def _model_source(run_dir: str | os.PathLike, model: str | None) -> tuple[Path, Path]:
    """``(home, source)`` of the model a command uses: ``home`` is the run directory (one model) or
    ``run_dir/variants/<model>``; ``source`` is what :func:`an2dl.load` reads.

    ``run_dir`` may also be an exported model's folder (or its ``model.json``), used as it is.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():  # an export folder, not a run
        if model is not None:
            raise ConfigError(f"--model selects a model of a run directory, but {run_dir} is not one (no config.json); "
                              f"got --model {model!r}")
        return (run_dir.parent if run_dir.is_file() else run_dir), run_dir
    if model is None and (run_dir / "model" / "model.json").is_file():
        return run_dir, run_dir
    recipe, cfg = load_run_config(run_dir)
    home = model_home(recipe, cfg, run_dir, model)
    return home, (run_dir if home == run_dir else home / "model")


def model_home(recipe: Any, cfg: Any, run_dir: str | os.PathLike, model: str | None = None) -> Path:
    """The folder of a run's model: ``run_dir`` for a run with one model, ``run_dir/variants/<model>`` for one of several.

    Args:
        recipe, cfg: the run's recipe and settings (:func:`~an2dl.recipes.base.load_run_config`).
        run_dir: the run directory.
        model: the name of one model of a run that trained several (``--model``); may be
            left out when the run trained only one.

    Raises:
        ConfigError: the run holds no model (the recipe says why), trained several and
            ``model`` is missing or unknown, or trained one and ``model`` is given.
    """
    run_dir = Path(run_dir)
    reason = recipe.no_model(cfg)
    if reason:
        raise ConfigError(reason)
    names = recipe.models(cfg)
    if names is None:
        if model is not None:
            raise ConfigError(f"--model selects one model of a run that trained several, but this {recipe.name} run "
                              f"trained one model (in {run_dir / 'model'}); got --model {model!r}")
        return run_dir
    if model is None:
        if len(names) == 1:
            return variant_dir(run_dir, names[0])
        raise ConfigError(f"{recipe.name} trained {len(names)} models: {', '.join(names)}; use --model NAME")
    if model not in names:
        near = close_matches(model, names)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ConfigError(f"--model must name one of the {len(names)} models of this {recipe.name} run: "
                          f"{', '.join(names)}; got {model!r}{hint}")
    return variant_dir(run_dir, model)


def load_run_task(run_dir: str | os.PathLike, *, model: str | None = None):
    """Rebuild a run's recipe, config, task and data, with the final weights of the run's model loaded.

    The weights come from the exported model (``model/``: the final model,
    after e.g. restoring the best early-stopping weights) or else from the
    latest checkpoint, in the run directory or, for one of several models,
    in ``run_dir/variants/<model>``.

    Args:
        run_dir: a run directory.
        model: which model of a run that trained several (see :func:`model_home`).

    Returns:
        ``(recipe, cfg, task, data)``.
    """
    from ..models import load_weights

    run_dir = Path(run_dir)
    recipe, cfg = load_run_config(run_dir)
    home = model_home(recipe, cfg, run_dir, model)
    seed_everything(cfg.trainer.seed)
    task, data = recipe.build_model(cfg, None if home == run_dir else home.name)
    exported = home / "model" / "model.safetensors"
    if exported.is_file() and isinstance(getattr(task, "model", None), torch.nn.Module):
        load_weights(task.model, exported)  # a corrupt or foreign file fails naming its path
    elif (home / "checkpoints").is_dir():
        task.load_state_dict(load_checkpoint(home).model, strict=True)
    else:
        why = "was the run completed?" if home == run_dir else \
            "the run did not finish, or an an2dl version that did not export each model of a run made it"
        raise CheckpointError(f"{home} holds neither an exported model (model/model.safetensors) nor checkpoints; {why}")
    return recipe, cfg, task, data


def evaluate_run(run_dir: str | os.PathLike, *, split: str | None = None, model: str | None = None) -> dict[str, float]:
    """Metrics of a run's final model on ``split``.

    Args:
        run_dir: a run directory.
        split: ``train``, ``val`` or ``test``; ``None``: ``test``, or ``val`` for data without a test split.
        model: which model of a run that trained several (``--model``; see :func:`model_home`).
    """
    _, cfg, task, data = load_run_task(run_dir, model=model)
    splits = ("train", "val", "test")
    present = [s for s in splits if getattr(data, s) is not None]
    if split is None and present:
        split = "test" if "test" in present else present[-1]
    if split not in present:
        raise ConfigError(f"split must be one of this run's data splits {present}; got {split!r}")
    trainer = Trainer(max_epochs=1, batch_size=cfg.trainer.batch_size, eval_batch_size=cfg.trainer.eval_batch_size,
                      seed=cfg.trainer.seed, progress=False, accelerator=cfg.trainer.accelerator)
    return trainer.evaluate(task, getattr(data, split), split=split)


def predict_run(
    run_dir: str | os.PathLike,
    inputs: Sequence[str] = (),
    *,
    top: int | None = None,
    samples: int | None = None,
    seed: int | None = None,
    out: str | os.PathLike | None = None,
    prompt: str | None = None,
    length: int | None = None,
    temperature: float | None = None,
    clip: bool = False,
    invert: bool = False,
    max_pixels: int | None = None,
    model: str | None = None,
    similar: str | None = None,
    analogy: Sequence[str] | None = None,
) -> Prediction:
    """Use a run's exported model on ``inputs``, as its task kind defines (``an2dl predict``).

    A word2vec run (``vectors.bin`` in ``run_dir``, or ``run_dir`` a vectors file) answers ``similar`` (the
    ``top`` nearest words, default 10) or ``analogy`` ``(a, b, c)`` (``a : b :: c : ?`` by 3CosAdd, the ``top``
    best, default 1) instead: see :func:`query_word_vectors`.

    The model and its ``model.json`` are loaded with :func:`an2dl.load` (the
    run's data are not rebuilt); ``model.json``'s ``task`` kind picks the task
    class (:func:`an2dl.tasks.task_for_kind`) whose ``predict_inputs`` reads
    the inputs and writes the outputs:

    ========================  ==========================================  =================================
    kind                      inputs                                      output
    ========================  ==========================================  =================================
    classification            images (PNG/JPEG/.npy) or vectors           top-k classes (``--top``)
    binary_classification     ``.npy`` vectors or numbers (``0,1``)       ``P(positive)`` and the class
    regression                ``.npy`` vectors or numbers (``0.5``)       the predicted values
    sequence_classification   ``.npy`` token ids ``[T]`` / features       top-k classes
    sequence_regression       ``.npy`` features ``[T]`` / ``[T, D]``      the predicted values
    language_model            text files and/or ``--prompt``              the continued text
    autoencoder               images                                      ``<name>.recon.png`` files
    vae                       images and/or ``--samples N``               reconstructions, a sample grid
    gan                       none; ``--samples N``                       a sample grid
    segmentation              images (PNG/JPEG) of any size               ``<name>.mask.png`` (palette PNG
                                                                          of class ids), ``<name>.overlay.png``
    ========================  ==========================================  =================================

    Args:
        run_dir: a run directory (with ``model/``) or an export directory.
        inputs: files or literal values, as on the command line.
        top, samples, seed, out, prompt, length, temperature, clip, invert, max_pixels:
            the options of :class:`~an2dl.engine.prediction.PredictOptions`; one
            that the model's kind (or its kind of input) does not use is an error.
        model: which model of a run that trained several (``--model``; see :func:`model_home`).

    Inputs are checked before the model sees them: NaN/Inf numbers are
    refused; ``.npy`` arrays and numbers outside ``preprocessing.value_range``
    ([0, 1] for images when not recorded) are refused unless ``clip``; image
    files larger than ``max_pixels`` (default 50 megapixels) are refused
    before decoding; ``.npy`` images may be ``[H, W, C]``.  An image whose
    mean brightness is that of an inverted training image
    (``preprocessing.mean``) adds a line to ``Prediction.warnings`` and is
    still predicted; ``invert`` uses ``1 - x`` instead.

    Returns:
        :class:`~an2dl.engine.prediction.Prediction` (lines to print, files written, values, warnings).

    Raises:
        CheckpointError: no exported model in ``run_dir``.
        ConfigError: an unknown task kind, a kind without predict, missing
            inputs, an option that does not apply, or numbers written as
            inputs that are NaN/Inf or outside the model's range.
        DataError: an input file that is unreadable, too large, NaN/Inf or
            outside the model's range.
    """
    from ..export import load

    if similar is not None or analogy is not None:
        given = {name: value for name, value in (("inputs", list(inputs) or None), ("samples", samples), ("seed", seed),
                 ("out", out), ("prompt", prompt), ("length", length), ("temperature", temperature),
                 ("clip", clip or None), ("invert", invert or None), ("max_pixels", max_pixels), ("model", model))
                 if value is not None}
        if given:
            raise ConfigError(f"--similar and --analogy query a run's word vectors and take only --top; got also "
                              f"{', '.join(sorted(given))}")
        return query_word_vectors(run_dir, similar=similar, analogy=analogy, top=top)
    home, source = _model_source(run_dir, model)  # run_dir may also be an export folder or its model.json
    net = load(source)
    options = PredictOptions(top=top, samples=samples, seed=seed, out=out, prompt=prompt, length=length,
                             temperature=temperature, clip=clip, invert=invert, max_pixels=max_pixels, run_dir=home)
    return _predict(net, list(inputs), options)


def query_word_vectors(run_dir: str | os.PathLike, *, similar: str | None = None,
                       analogy: Sequence[str] | None = None, top: int | None = None) -> Prediction:
    """Nearest words or an analogy from a word2vec run's vectors (``an2dl predict RUN --similar W / --analogy A B C``).

    Args:
        run_dir: a run of ``word2vec-skipgram`` / ``word2vec-cbow`` (its ``vectors.bin``), or a word2vec file
            (text or binary, as :meth:`~an2dl.models.language.WordVectors.load` reads it).
        similar: a word: its ``top`` (default 10) nearest words by cosine similarity.
        analogy: three words ``a b c``: the ``top`` (default 1) answers of ``a : b :: c : ?`` by 3CosAdd (notes
            §4.2.5: king − man + woman ≈ queen is ``--analogy man king woman``).
        top: how many words to list.

    Returns:
        :class:`~an2dl.engine.prediction.Prediction` whose ``values`` hold one list of ``(word, cosine)`` pairs.

    Raises:
        ConfigError: both or neither query, ``analogy`` not three words, ``top`` not a positive integer, or no
            vectors at ``run_dir``.
        UnknownWordError: a query word is not in the vocabulary (the message names it).
    """
    from ..models.language.word2vec import WordVectors

    if (similar is None) == (analogy is None):
        raise ConfigError("give exactly one of --similar WORD and --analogy A B C; got "
                          f"{'both' if similar is not None else 'neither'}")
    if analogy is not None and (isinstance(analogy, str) or len(analogy) != 3):
        raise ConfigError(f"--analogy takes three words A B C (A : B :: C : ?); got {analogy!r}")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ConfigError(f"--top must be a positive integer; got {top!r}")
    path = Path(run_dir)
    if path.is_dir():
        path = path / "vectors.bin"
    if not path.is_file():
        raise ConfigError(f"--similar and --analogy read the word vectors of a word2vec run (RUN_DIR/vectors.bin) or "
                          f"a word2vec file; {run_dir} has none")
    vectors = WordVectors.load(path)
    if similar is not None:
        found = vectors.most_similar(similar, topn=top or 10)
        lines = [f"words nearest to {similar!r} (cosine similarity):"]
    else:
        a, b, c = analogy
        found = vectors.analogy(a, b, c, topn=top or 1)
        lines = [f"{a} : {b} :: {c} : ? (3CosAdd, cosine-based score):"]
    lines += [f"  {word:<20s} {score:.4f}" for word, score in found]
    return Prediction(lines=lines, values=[found])


def chat(run_dir: str | os.PathLike, lines: Iterable[str], *, model: str | None = None,
         turns: int | None = None) -> Iterator[tuple[str, str, list[str]]]:
    """Talk with a chatbot run (``an2dl chat``): the reply to each non-empty line, the context carried over.

    The bot reads the last ``turns`` utterances — the user's and its own, oldest first, joined by ``" | "``
    as in training (notes §4.3.1, multi-turn) — and answers with its decoder.

    Args:
        run_dir: a run of a generative chatbot recipe (``chatbot-chatterbot``) or an exported chatbot.
        lines: the user's utterances (e.g. ``sys.stdin``); a line ``quit`` or ``exit`` ends the talk.
        model: which bot of a run that trained several (``single-turn``, ``multi-turn``).
        turns: utterances of context (default: the number the bot was trained with, else 1).

    Yields:
        ``(utterance, reply, words of the utterance the bot does not know)``.

    Raises:
        ConfigError: the run's model is not a text-to-text seq2seq model, or a bad ``turns``.
    """
    from ..export import load
    from ..tasks import kind_of
    from ..tasks.seq2seq import Seq2SeqTask

    home, source = _model_source(run_dir, model)
    net = load(source)
    meta = net.an2dl_meta
    pre = meta.get("preprocessing") or {}
    if kind_of(meta) != "seq2seq" or "src_vocab" not in pre:
        raise ConfigError(f"chat talks with a chatbot (a seq2seq model that reads text, e.g. a chatbot-chatterbot "
                          f"run); the model of {run_dir} is of kind {kind_of(meta)!r}"
                          + ("" if kind_of(meta) != "seq2seq" else " and reads token ids"))
    if turns is None:
        turns = int((pre.get("context_turns") or {}).get(home.name, 1))
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise ConfigError(f"--turns must be a positive integer; got {turns!r}")
    vocabs = Seq2SeqTask.vocabularies(pre)  # once per loaded model, not once per line
    history: list[str] = []
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if text.lower() in ("quit", "exit"):
            return
        history.append(text)
        reply, _, unknown = Seq2SeqTask.respond(
            net, pre, " | ".join(history[-turns:]), source="your line", vocabs=vocabs
        )
        history.append(reply)
        yield text, reply, [w for w in unknown if w != "|"]


def _predict(model: torch.nn.Module, inputs: list[str], options: PredictOptions) -> Prediction:
    from ..tasks import kind_of, task_for_kind

    meta = model.an2dl_meta
    kind = kind_of(meta)
    try:
        task = task_for_kind(kind)
    except ConfigError as e:
        raise ConfigError(f"the model.json of {options.source}: {e}") from None
    return task.predict_inputs(model, meta, inputs, options=options)


def predict_files(run_dir: str | os.PathLike, inputs: list[str], *, top: int = 1) -> list[tuple[str, list[tuple[str, float]]]]:
    """Class probabilities for the inputs of a classifier's run (see :func:`predict_run` for every kind).

    Returns:
        ``[(input, [(class name, probability), ...top]), ...]``.

    Raises:
        ConfigError: the run's model is not a classifier (``classification`` or
            ``sequence_classification``), or ``top`` is not a positive integer.
    """
    from ..export import load
    from ..tasks import kind_of

    model = load(run_dir)
    meta = model.an2dl_meta
    if kind_of(meta) not in ("classification", "sequence_classification"):
        raise ConfigError(f"predict classifies inputs, but the model of {run_dir} was exported for the task "
                          f"{meta.get('task')!r}; use predict_run for its outputs")
    return _predict(model, list(inputs), PredictOptions(top=top, run_dir=Path(run_dir))).values


def export_run(run_dir: str | os.PathLike, *, fmt: str = "safetensors", out: str | None = None,
               model: str | None = None) -> Path:
    """Export a run's model as safetensors + JSON (a directory) or ONNX (a file).

    An ONNX file carries ``model.json``'s preprocessing, with its evaluation
    pipeline, in its ``metadata_props`` (:func:`an2dl.export.onnx_preprocess` reads it back).
    Its input is ``preprocessing.input_shape`` with a dynamic batch: float images, feature
    windows ``[B, T, D]``, or int64 token ids ``[B, T]`` for a model with a text pipeline;
    a model of variable-length texts without a recorded length is refused.

    Args:
        run_dir: a run directory (or an exported model's folder).
        fmt: ``safetensors`` or ``onnx``.
        out: the target (default: ``export/`` or ``model.onnx`` in the run directory, or in
            ``run_dir/variants/<model>`` for one of several models).
        model: which model of a run that trained several (``--model``; see :func:`model_home`).
    """
    from ..export import export, export_onnx, load

    home, source = _model_source(run_dir, model)
    try:
        net = load(source)
    except CheckpointError:
        src = Path(source)
        if src.name == "model.json" or (src / "model.json").is_file() or (src / "model" / "model.json").is_file():
            raise  # the model is there but unreadable: the message names the file at fault
        raise CheckpointError(f"{home} has no exported model (model/model.json); was the run completed?") from None
    meta: dict[str, Any] = net.an2dl_meta
    if fmt == "safetensors":
        target = Path(out) if out else home / "export"
        from ..tasks import kind_of

        # a model exported before task kinds is re-exported with its kind
        return export(net, target, class_names=meta.get("class_names"), preprocessing=meta.get("preprocessing"),
                      task=kind_of(meta))
    if fmt == "onnx":
        shape = meta.get("preprocessing", {}).get("input_shape")
        pre = getattr(net, "preprocess", None)
        if not shape:
            if pre is not None and pre.input_kind == "text":
                raise ConfigError("ONNX export needs a fixed input length (preprocessing.input_shape); this model reads "
                                  "texts of any length, so its ONNX graph cannot be one fixed-size input")
            raise ConfigError("ONNX export needs the model's input shape in model.json")
        if pre is not None and pre.vocabulary is not None:  # token ids: an int64 example inside the vocabulary
            from ..data.text import SPECIALS

            example = torch.randint(len(SPECIALS), len(pre.vocabulary), (2, *shape))
        else:
            example = torch.rand(2, *shape)
        return export_onnx(net, Path(out) if out else home / "model.onnx", example,
                           preprocessing=meta.get("preprocessing"))
    raise ConfigError(f"--format must be safetensors or onnx; got {fmt!r}")
