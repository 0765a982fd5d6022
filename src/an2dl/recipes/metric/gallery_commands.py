"""``an2dl enroll`` and ``an2dl identify``: a run's gallery of templates on the command line (notes §3.5.6).

Enrolment adds the embeddings of a person's (a class's) template images to
the gallery kept beside the run's exported embedding model
(``model/gallery.safetensors``, see :func:`~an2dl.tasks.metric.gallery_path`);
identification names the nearest template of each image, or ``unknown``
beyond the gallery's threshold (``--threshold`` overrides and stores it).
Images are prepared as ``an2dl predict`` prepares them (the model's
recorded pipeline).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ...engine.prediction import PredictOptions
from ...errors import ConfigError
from ...export import load
from ...models.metric import Gallery
from ...tasks import kind_of
from ...tasks.metric import MetricLearningTask, gallery_path
from ..run_commands import _model_source

__all__ = ["enroll_files", "identify_files"]


def _embedding_model(run_dir: str | os.PathLike, model: str | None) -> tuple[torch.nn.Module, Path, PredictOptions]:
    home, source = _model_source(run_dir, model)
    net = load(source)
    kind = kind_of(net.an2dl_meta)
    if kind != MetricLearningTask.kind:
        raise ConfigError(f"enroll and identify need an embedding model (task kind {MetricLearningTask.kind!r}); "
                          f"the model of {home} is of kind {kind!r}")
    return net, gallery_path(source if Path(source).is_dir() else Path(source).parent), PredictOptions(run_dir=home)


def _images(net: torch.nn.Module, files: Sequence[str], options: PredictOptions) -> torch.Tensor:
    from ...tasks.predictors import _image_batch, _input_shape

    if not files:
        raise ConfigError(f"no image given; name image files (PNG/JPEG) or .npy images after the run {options.source}")
    x, _ = _image_batch(net, net.an2dl_meta, list(files), options, _input_shape(net.an2dl_meta, options, image=True))
    return x


def enroll_files(run_dir: str | os.PathLike, name: str, images: Sequence[str], *, model: str | None = None,
                 threshold: float | None = None) -> tuple[Path, Gallery]:
    """Enrol ``images`` as templates of ``name`` in the run's gallery (created on first use).

    Args:
        run_dir: a run directory (``--model`` picks a variant) or an exported model's folder.
        name: the identity (e.g. a person's name, a digit).
        images: template image files.
        model: the variant of a run that trained several.
        threshold: set the gallery's rejection distance (``None``: keep it).

    Returns:
        The gallery's path and the gallery.
    """
    net, path, options = _embedding_model(run_dir, model)
    x = _images(net, images, options)
    gallery = Gallery.load(path, net) if path.is_file() else Gallery(net, input_shape=tuple(x.shape[1:]))
    if threshold is not None:
        gallery.threshold = Gallery._check_threshold(threshold)
    gallery.enroll(name, x)
    gallery.save(path)
    return path, gallery


def identify_files(run_dir: str | os.PathLike, images: Sequence[str], *, model: str | None = None,
                   threshold: float | None = None) -> list[str]:
    """``"<image>: <name> (distance d)"`` for each image: its nearest template in the run's gallery.

    Raises:
        ConfigError: the run has no gallery yet (enrol first) or it is empty.
    """
    net, path, options = _embedding_model(run_dir, model)
    if not path.is_file():
        raise ConfigError(f"identify: the gallery is empty; enroll templates first with "
                          f"an2dl enroll {options.source} NAME IMAGE...")
    gallery = Gallery.load(path, net)
    found = gallery.identify(_images(net, images, options), threshold=threshold)
    return [f"{src}: {n} (distance {float(d):.4g})" for src, n, d in zip(images, found.names, found.distances)]
