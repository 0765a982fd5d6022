"""Exported models: ``model.safetensors`` + ``model.json``, rebuilt without pickle (DESIGN §7).

``model.json`` names the registered builder and its keyword arguments, the
preprocessing the model expects and the class names, so that::

    model = an2dl.load("runs/lenet5-digits/20260101-120000")

rebuilds the exact architecture through the registry and loads the weights
strictly; ``model.preprocess`` is the evaluation pipeline recorded in
``preprocessing.pipeline`` (:class:`~an2dl.data.preprocess.Preprocess`).  With
the ``onnx`` extra, :func:`export_onnx` writes an ONNX graph that records the
preprocessing in its metadata (:func:`onnx_preprocess`).

``task`` is the kind of the task that trained the model (``classification``,
``regression``, ``autoencoder``, ``gan``, ... — :data:`an2dl.tasks.TASK_KINDS`),
which tells ``an2dl predict`` what the outputs mean; a recipe writes it with
``export(model, dir, **TaskClass.export_metadata(class_names=..., preprocessing=...))``.
Format version 2 always records a kind; version-1 files (``"generator"`` for
GANs, ``"classification"`` for every other non-autoencoder) are read through
:func:`an2dl.tasks.kind_of`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._utils.files import atomic_write_text
from .data.preprocess import Preprocess
from .errors import CheckpointError, ConfigError

__all__ = ["export", "load", "load_metadata", "export_onnx", "onnx_data_file", "onnx_preprocess", "ONNX_EMBED_LIMIT",
           "ONNX_PREPROCESSING_KEY"]

FORMAT = "an2dl-model"
#: version of model.json written by :func:`export` (2: ``task`` is always a task kind)
VERSION = 2


def export(
    model: nn.Module,
    directory: str | os.PathLike,
    *,
    class_names: list[str] | None = None,
    preprocessing: dict[str, Any] | None = None,
    task: str = "classification",
) -> Path:
    """Write ``model.safetensors`` and ``model.json`` into ``directory``.

    Args:
        model: a model built by :func:`an2dl.get_model` (its registry name and
            arguments are recorded).
        class_names: names of the output classes.
        preprocessing: what inputs must look like, e.g. ``{"input_shape": [1, 32, 32],
            "value_range": [0, 1], "mean": [0.1], "pipeline": [...], "raw_input": {...}}``;
            ``pipeline`` and ``raw_input`` (a :meth:`~an2dl.data.preprocess.Preprocess.to_dict`)
            are the evaluation steps that turn a raw image into the model's input.
        task: the task kind (a key of :data:`an2dl.tasks.TASK_KINDS`, e.g.
            ``"classification"``, ``"regression"``, ``"autoencoder"``, ``"gan"``).

    Returns:
        The path of ``model.json``.
    """
    from safetensors.torch import save_file

    from .models import model_spec

    if not isinstance(task, str) or not task:
        raise ConfigError(f"export task must be a task kind such as 'classification'; got {task!r}")
    spec = model_spec(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".model.safetensors.tmp-{os.getpid()}"
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, directory / "model.safetensors")
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "name": spec["name"],
        "kwargs": spec["kwargs"],
        **({"transfer": spec["transfer"]} if "transfer" in spec else {}),
        "task": task,
        "class_names": class_names or [],
        "preprocessing": preprocessing or {},
    }
    atomic_write_text(directory / "model.json", json.dumps(meta, indent=2) + "\n")
    return directory / "model.json"


def _model_dir(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.is_file() and p.name == "model.json":
        return p.parent
    if (p / "model.json").is_file():
        return p
    if (p / "model" / "model.json").is_file():
        return p / "model"
    raise CheckpointError(f"no exported model at {p} (expected model.json and model.safetensors)")


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``model.json`` of an exported model (a directory, a run directory or the file)."""
    d = _model_dir(path)
    try:
        meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    except ValueError as e:
        raise CheckpointError(f"{d / 'model.json'} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{d / 'model.json'} is not an an2dl model description")
    return meta


def load(path: str | os.PathLike) -> nn.Module:
    """Rebuild an exported model (no pickle): registry builder + strict safetensors load.

    A model that went through :func:`an2dl.models.transfer` is rebuilt the same way
    (``get_model`` with its recorded arguments, then ``transfer`` with the recorded head)
    and comes back with every parameter trainable.

    Args:
        path: the export directory, its ``model.json``, or a run directory
            holding ``model/``.

    Returns:
        The model in eval mode, with ``model.an2dl_meta`` holding ``model.json`` and
        ``model.preprocess`` the :class:`~an2dl.data.preprocess.Preprocess` that prepares
        its raw inputs (images, text, series): the pipeline ``model.json`` records
        (``preprocessing.pipeline``), or, for a model exported before pipelines were
        recorded, the stand-in of :meth:`~an2dl.data.preprocess.Preprocess.for_metadata`
        (an image model: channels converted and a bilinear resize to ``input_shape``; a
        language model: its ``vocab``; ``recorded`` is ``False``); ``None`` for models of
        other inputs without a recorded pipeline (vectors).

    Raises:
        CheckpointError: no exported model at ``path``, or a ``model.json`` whose
            ``preprocessing.pipeline`` is malformed.
    """
    from .models import get_model, load_weights
    from .models.transfer import transfer, unfreeze

    d = _model_dir(path)
    meta = load_metadata(d)
    model = get_model(meta["name"], **meta["kwargs"])
    if "transfer" in meta:  # a zoo model whose top was replaced: re-attach the same head before loading
        transfer(model, **meta["transfer"])
        unfreeze(model)
    try:
        preprocess = Preprocess.for_metadata(meta)
    except ConfigError as e:
        raise CheckpointError(f"{d / 'model.json'}: {e}") from None
    load_weights(model, d / "model.safetensors")
    model.an2dl_meta = meta
    model.preprocess = preprocess
    return model.eval()


#: the ``metadata_props`` key under which :func:`export_onnx` records ``model.json``'s preprocessing (JSON)
ONNX_PREPROCESSING_KEY = "an2dl.preprocessing"

#: models whose weights take more bytes than this keep them in ``<file>.data`` beside the ONNX graph:
#: a single ONNX file (a protobuf) cannot exceed 2 GiB
ONNX_EMBED_LIMIT = 1_800_000_000


def onnx_data_file(path: str | os.PathLike) -> Path:
    """The external weights file that :func:`export_onnx` writes beside ``path`` for models too large to embed."""
    path = Path(path)
    return path.with_name(path.name + ".data")


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's chatter: 'torchvision is not installed' log lines and deprecation warnings."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(model: nn.Module, path: str | os.PathLike, example_input: torch.Tensor, *, opset: int = 18,
                preprocessing: dict[str, Any] | None = None) -> Path:
    """Export ``model`` to ONNX with a dynamic batch dimension, as one self-contained file.

    The graph is the network alone; ``preprocessing`` (``model.json``'s, with
    its evaluation ``pipeline``) is recorded as JSON in the file's
    ``metadata_props`` under :data:`ONNX_PREPROCESSING_KEY`, and
    :func:`onnx_preprocess` rebuilds the pipeline to apply before the graph.

    The weights are embedded in the ``.onnx`` file whenever they fit (below
    :data:`ONNX_EMBED_LIMIT` bytes, ONNX's 2 GiB protobuf limit less a
    margin); larger models keep them in ``<path>.data`` (:func:`onnx_data_file`),
    which must stay beside the graph.  The exporter's log lines and warnings
    are silenced; errors still surface.  Needs the ``onnx`` extra
    (``pip install an2dl[onnx]``).

    Returns:
        The path of the ``.onnx`` file.
    """
    import inspect

    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ConfigError("ONNX export needs the onnx extra: pip install 'an2dl[onnx]'") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    batch = torch.export.Dim("batch", min=1)
    weight_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    options: dict[str, Any] = {}
    if "external_data" in inspect.signature(torch.onnx.export).parameters:
        options["external_data"] = weight_bytes > ONNX_EMBED_LIMIT
    data_file = onnx_data_file(path)
    if data_file.is_file() and not options.get("external_data", True):
        data_file.unlink()  # the weights of an earlier, external export of this file: stale now
    with torch.no_grad(), _quiet_exporter():
        torch.onnx.export(
            model,
            (example_input,),
            str(path),
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes=({0: batch},),
            opset_version=opset,
            dynamo=True,
            verbose=False,
            **options,
        )
    if preprocessing:
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        entry = next((p for p in proto.metadata_props if p.key == ONNX_PREPROCESSING_KEY), None)
        if entry is None:
            entry = proto.metadata_props.add()
            entry.key = ONNX_PREPROCESSING_KEY
        entry.value = json.dumps(preprocessing)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        onnx.save(proto, str(tmp))
        os.replace(tmp, path)
    return path


def onnx_preprocess(path: str | os.PathLike) -> Preprocess | None:
    """The evaluation pipeline recorded in an ONNX file by :func:`export_onnx`, to apply before the graph.

    Example::

        pre = onnx_preprocess("model.onnx")             # e.g. pad 28x28 digits to 32x32
        x = pre(images)                                  # [B, 1, 28, 28] in [0, 1] -> [B, 1, 32, 32]
        logits = onnxruntime.InferenceSession("model.onnx").run(None, {"input": x.numpy()})[0]

    Returns:
        The recorded pipeline (images, text or series); the stand-in of
        :meth:`Preprocess.for_metadata` (``recorded`` ``False``) for preprocessing recorded
        before pipelines; ``None`` when the file records no preprocessing or one without
        a pipeline or stand-in (vectors).

    Raises:
        CheckpointError: ``path`` is not a readable ONNX file, or its recorded preprocessing is malformed.
    """
    try:
        import onnx
    except ImportError:
        raise ConfigError("reading ONNX files needs the onnx extra: pip install 'an2dl[onnx]'") from None
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises protobuf DecodeError, OSError, ...
        raise CheckpointError(f"{path} is not a readable ONNX file: {e}") from None
    text = next((p.value for p in proto.metadata_props if p.key == ONNX_PREPROCESSING_KEY), None)
    if text is None:
        return None
    try:
        return Preprocess.for_metadata({"preprocessing": json.loads(text)})
    except (ValueError, ConfigError) as e:
        raise CheckpointError(f"{path}: metadata {ONNX_PREPROCESSING_KEY!r} is not a valid preprocessing: {e}") from None
