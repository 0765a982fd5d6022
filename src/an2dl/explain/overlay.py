"""Heat maps over images: overlays, report figures and ``an2dl explain RUN_DIR IMAGE...`` (notes §3.5.2.1–§3.5.2.2).

:func:`explanation_map` computes one of the three maps of an image batch —
``cam`` (the class activation map of a GAP + single-FC network,
:func:`an2dl.explain.cam.class_activation_map`), ``gradcam``
(:func:`~an2dl.explain.gradcam.grad_cam`, any convolutional layer) or
``saliency`` (:func:`~an2dl.explain.saliency.saliency_map`) — and
:func:`overlay_heatmap` blends a map over its image:

    overlay = (1 − α) · image + α · colormap(M / max M)

with ``α = 0.5`` and matplotlib's ``jet`` colormap; a grey image is repeated
over three channels first.  :func:`explain_files` is what the command line
runs: it loads a run's exported model with :func:`an2dl.load`, reads the
image files exactly as ``an2dl predict`` does (the model's recorded
evaluation pipeline) and writes one ``<name>.<method>.png`` per image.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.images import DEFAULT_MAX_PIXELS, save_image
from ..data.inputs import derived_path, read_image_input
from ..data.preprocess import Preprocess
from ..errors import CheckpointError, ConfigError
from ._hooks import check_images, class_scores, inspecting, resolve_classes
from .gradcam import NoConvLayerError, conv_layers, grad_cam
from .saliency import saliency_map

__all__ = ["METHODS", "explanation_map", "overlay_heatmap", "plot_overlays", "explain_files", "Explanation",
           "OVERLAY_MIN_SIDE"]

#: the maps ``an2dl explain --method`` draws
METHODS = ("cam", "gradcam", "saliency")
#: overlays written by ``an2dl explain`` are enlarged (nearest neighbour) to at least this many pixels per side
OVERLAY_MIN_SIDE = 128


def explanation_map(model: nn.Module, images: torch.Tensor, method: str, class_index=None, *,
                    layer: str | None = None) -> torch.Tensor:
    """The ``method`` map (``cam``, ``gradcam`` or ``saliency``) of each image, at the input's size.

    Args:
        model: a classifier returning pre-softmax scores ``[N, K]``.
        images: ``[N, C, H, W]`` as the model reads them.
        method: one of :data:`METHODS`.
        class_index: the explained class (int or one per image); ``None``: the predicted class.
        layer: Grad-CAM only: the explained layer (default: the last convolution with a spatial map).

    Returns:
        ``[N, H, W]``, non-negative for ``gradcam`` and ``saliency``; a CAM keeps its sign.

    Raises:
        ConfigError: an unknown method, ``layer`` given for a method without layers, a model the method
            does not apply to (:class:`~an2dl.explain.gradcam.NoConvLayerError`), a class out of range.
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if layer is not None and method != "gradcam":
        raise ConfigError(f"layer chooses the layer Grad-CAM explains; method {method!r} has none (got layer {layer!r})")
    x = check_images(images)
    if method == "gradcam":
        return grad_cam(model, x, class_index, layer=layer)
    if method == "saliency":
        return saliency_map(model, x, class_index)
    if not conv_layers(model):
        raise NoConvLayerError(f"CAM needs a convolutional network ending in global average pooling and one fully "
                               f"connected layer; {type(model).__name__} has no convolutional layer")
    from .cam import class_activation_map

    return class_activation_map(model, x, class_index, upsample=True)


def _rgb(image: torch.Tensor) -> torch.Tensor:
    img = image.detach().float().cpu()
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    elif img.shape[0] != 3:
        raise ConfigError(f"overlays draw grey (1-channel) or colour (3-channel) images; got {img.shape[0]} channels")
    return img


def overlay_heatmap(image: torch.Tensor, heat: torch.Tensor, *, alpha: float = 0.5, cmap: str = "jet",
                    value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Blend a heat map over an image: ``(1 − α)·image + α·colormap(heat / max heat)``.

    Args:
        image: ``[C, H, W]`` with ``C`` in {1, 3}, values in ``value_range``.
        heat: ``[H, W]`` or ``[h, w]`` (resized bilinearly to ``H × W``); negative values count as 0.
        alpha: weight of the heat map in [0, 1].
        cmap: a matplotlib colormap name.
        value_range: the image's value range, mapped to [0, 1] first.

    Returns:
        ``[3, H, W]`` in [0, 1].
    """
    import matplotlib

    if not 0.0 <= float(alpha) <= 1.0:
        raise ConfigError(f"alpha must lie in [0, 1]; got {alpha!r}")
    if not isinstance(heat, torch.Tensor) or heat.dim() != 2:
        raise ConfigError(f"heat must be a map [H, W]; got {list(heat.shape) if isinstance(heat, torch.Tensor) else heat!r}")
    lo, hi = value_range
    img = ((_rgb(image) - lo) / (hi - lo)).clamp(0, 1)
    h = heat.detach().float().cpu().clamp_min(0)
    if tuple(h.shape) != tuple(img.shape[-2:]):
        h = F.interpolate(h[None, None], size=img.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    top = float(h.max())
    h = h / top if top > 0 else h
    colours = torch.from_numpy(matplotlib.colormaps[cmap](h.numpy())[..., :3]).permute(2, 0, 1).float()
    return ((1 - alpha) * img + alpha * colours).clamp(0, 1)


def plot_overlays(images: torch.Tensor, maps: torch.Tensor, titles: Sequence[str], run_dir: str | Path, *,
                  name: str, caption: str, cols: int = 8) -> Path:
    """A report figure: each image above its heat-map overlay, saved as ``run_dir/plots/<name>.png``."""
    from ..report.plots import figure, save_figure

    n = len(images)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    fig = figure(figsize=(cols * 1.3, rows * 2.7))
    for i in range(n):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(2 * rows, cols, 2 * r * cols + c + 1)
        img = _rgb(images[i]).clamp(0, 1)
        ax.imshow(img.permute(1, 2, 0).numpy())
        ax.set_title(titles[i], fontsize=7)
        ax.axis("off")
        ax = fig.add_subplot(2 * rows, cols, (2 * r + 1) * cols + c + 1)
        ax.imshow(overlay_heatmap(images[i], maps[i]).permute(1, 2, 0).numpy())
        ax.axis("off")
    return save_figure(fig, run_dir, name, caption)


@dataclass
class Explanation:
    """What :func:`explain_files` did.

    Attributes:
        lines: one line per image: ``"<input>: predicted <class> (<p>), explained <class> -> <overlay file>"``.
        files: the overlay PNGs written.
        predicted: the predicted class id of each image.
        explained: the explained class id of each image.
        maps: ``[N, H, W]`` the heat maps at the model's input size.
        warnings: doubts about the inputs (e.g. an image that looks inverted).
    """

    lines: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    predicted: list[int] = field(default_factory=list)
    explained: list[int] = field(default_factory=list)
    maps: torch.Tensor | None = None
    warnings: list[str] = field(default_factory=list)


def _load(run_dir: str | os.PathLike, model: str | None) -> nn.Module:
    from ..export import load

    path = Path(run_dir)
    if model is not None:
        variants = path / "variants"
        names = sorted(p.name for p in variants.iterdir() if (p / "model" / "model.json").is_file()) \
            if variants.is_dir() else []
        if model not in names:
            raise ConfigError(f"--model must name one of the models of {path}: {', '.join(names) or 'none'}; "
                              f"got {model!r}")
        return load(variants / model / "model")
    try:
        return load(path)
    except CheckpointError:
        variants = path / "variants"
        if variants.is_dir():
            names = sorted(p.name for p in variants.iterdir() if (p / "model" / "model.json").is_file())
            if names:
                raise ConfigError(f"{path} trained {len(names)} models: {', '.join(names)}; use --model NAME") from None
        raise


def explain_files(run_dir: str | os.PathLike, inputs: Sequence[str], *, method: str = "gradcam",
                  class_index: int | None = None, layer: str | None = None, out: str | os.PathLike | None = None,
                  model: str | None = None, max_pixels: int | None = None) -> Explanation:
    """Write a heat-map overlay per image file for a run's exported classifier (``an2dl explain``).

    The model is rebuilt by :func:`an2dl.load` from ``run_dir`` (a run directory, or an exported model's
    folder; ``model`` picks one model of a run that trained several) and each image is read as
    ``an2dl predict`` reads it (:func:`~an2dl.data.inputs.read_image_input` with the model's recorded
    evaluation pipeline).  The overlay is drawn on the prepared input (the model's size), enlarged by
    nearest neighbour to at least :data:`OVERLAY_MIN_SIDE` pixels a side.

    Args:
        run_dir: the run directory or export folder.
        inputs: image files (PNG/JPEG) or ``.npy`` images.
        method: ``cam``, ``gradcam`` or ``saliency``.
        class_index: the explained class (``None``: each image's predicted class).
        layer: Grad-CAM: the explained layer (default: the last convolution with a spatial map).
        out: folder of the overlays (default: beside each input), named ``<name>.<method>.png``.
        model: which model of a run that trained several.
        max_pixels: the largest ``width x height`` decoded (default 50 megapixels).

    Raises:
        ConfigError: no inputs, a model that is not an image classifier, a class out of range
            (the valid range is named), an unknown layer (close names listed), a model the method does
            not apply to, two inputs that would write the same file.
    """
    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}; got {method!r}")
    if not inputs:
        raise ConfigError("explain needs image files (PNG/JPEG or .npy) to explain")
    net = _load(run_dir, model)
    meta = getattr(net, "an2dl_meta", {}) or {}
    pre = meta.get("preprocessing") or {}
    shape = pre.get("input_shape")
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3):
        raise ConfigError(f"explain draws heat maps over images, but the model of {run_dir} reads inputs of shape "
                          f"{shape!r} (an image model records [C, H, W] in preprocessing.input_shape)")
    vr = pre.get("value_range") or [0.0, 1.0]
    value_range = (float(vr[0]), float(vr[1]))
    pipeline = getattr(net, "preprocess", None)
    if not isinstance(pipeline, Preprocess):
        pipeline = Preprocess.for_metadata(meta)
    images = torch.stack([read_image_input(p, shape, value_range=value_range, preprocess=pipeline,
                                           max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
                          for p in inputs])
    dtype = next((p.dtype for p in net.parameters()), torch.float32)
    images = images.to(dtype)
    with inspecting(net), torch.no_grad():
        scores = class_scores(net(images))
    k = scores.shape[1]
    if class_index is not None and (isinstance(class_index, bool) or not isinstance(class_index, int)
                                    or not 0 <= class_index < k):
        raise ConfigError(f"--class must be a class id in [0, {k - 1}] (the model has {k} classes); got {class_index!r}")
    explained = resolve_classes(class_index, scores)
    probs = scores.float().softmax(dim=1)
    pred = probs.argmax(dim=1)
    maps = explanation_map(net, images, method, explained, layer=layer)
    names = [str(n) for n in meta.get("class_names") or []] or [str(i) for i in range(k)]
    targets: dict[Path, str] = {}
    for src in inputs:
        dest = derived_path(src, f".{method}.png", out)
        if dest in targets:
            raise ConfigError(f"inputs {targets[dest]} and {src} would both write {dest}; rename one or use --out")
        targets[dest] = src
    result = Explanation(maps=maps.detach().cpu(), predicted=pred.tolist(), explained=explained.tolist())
    h, w = images.shape[-2:]
    scale = max(1, math.ceil(OVERLAY_MIN_SIDE / min(h, w)))
    for i, (dest, src) in enumerate(targets.items()):
        img = overlay_heatmap(images[i].cpu(), maps[i].cpu(), value_range=value_range)
        if scale > 1:
            img = F.interpolate(img[None], scale_factor=scale, mode="nearest")[0]
        save_image(dest, img)
        result.files.append(dest)
        p, e = int(pred[i]), int(explained[i])
        result.lines.append(f"{src}: predicted {names[p]} ({float(probs[i, p]):.4f}), explained {names[e]} "
                            f"({method}) -> {dest}")
    return result
