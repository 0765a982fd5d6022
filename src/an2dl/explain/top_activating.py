"""The images that most activate one neuron, and the patch it looks at (notes §3.5.2.2, "Neuron activation").

The notes' steps: select a neuron of a deep layer; run many images and record
its activation; keep the images that activate it most; extract the receptive
field, the image patch that influences the activation.  For a convolutional
layer a "neuron" is a channel ``k``: its activation on an image is the largest
value of the map ``A_k`` over positions, ``max_{u,v} A_k(u, v)``, and the patch
is the receptive field (:mod:`.receptive_field`) of the arg-max unit ``(u, v)``.
For a layer with a vector output ``[N, D]`` the neuron is unit ``k`` and the
patch is the whole image.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from ..errors import ConfigError
from ._hooks import capture, check_images, get_layer, inspecting
from .receptive_field import LayerField, field_box, receptive_fields

__all__ = ["TopActivations", "top_activating", "dataset_images"]


@dataclass
class TopActivations:
    """The ``k`` images of a dataset that activate one neuron most, best first.

    Attributes:
        layer: the layer's dotted name.
        channel: the neuron (channel of a map, or unit of a vector).
        indices: ``[k]`` indices of the images in the dataset.
        values: ``[k]`` their activations (the map's maximum over positions).
        positions: ``[k, 2]`` the arg-max unit ``(u, v)`` (zeros for a vector layer).
        boxes: ``[k, 4]`` receptive-field boxes ``(top, left, bottom, right)``, half-open, cut by the image.
        patches: the ``k`` image patches ``[C, bottom - top, right - left]`` (smaller at the borders).
        field: the layer's receptive field (``None`` for a vector layer).
    """

    layer: str
    channel: int
    indices: torch.Tensor
    values: torch.Tensor
    positions: torch.Tensor
    boxes: torch.Tensor
    patches: list[torch.Tensor]
    field: LayerField | None


def dataset_images(data: Dataset | torch.Tensor, batch_size: int = 256) -> Iterator[torch.Tensor]:
    """Batches of the images of ``data``: a tensor ``[N, C, H, W]``, a dataset with ``tensors`` (the first
    is the images), or any dataset whose items are ``(image, ...)`` tuples or images."""
    if isinstance(data, torch.Tensor):
        images = check_images(data, "data")
        for i in range(0, len(images), batch_size):
            yield images[i:i + batch_size]
        return
    tensors = getattr(data, "tensors", None)
    if tensors and getattr(data, "transform", None) is None:
        yield from dataset_images(tensors[0], batch_size)
        return
    buf = []
    for i in range(len(data)):  # type: ignore[arg-type]
        item = data[i]
        buf.append(item[0] if isinstance(item, (tuple, list)) else item)
        if len(buf) == batch_size:
            yield torch.stack(buf)
            buf = []
    if buf:
        yield torch.stack(buf)


def top_activating(model: nn.Module, data: Dataset | torch.Tensor, layer: str, channel: int, *, k: int = 9,
                   batch_size: int = 256) -> TopActivations:
    """The ``k`` images of ``data`` on which neuron ``channel`` of ``layer`` is largest, with their patches.

    Args:
        model: the network.
        data: images ``[N, C, H, W]`` or a dataset of them (see :func:`dataset_images`).
        layer: dotted name of the sub-module whose output holds the neuron: a map ``[B, C', h, w]``
            (its receptive field is that of the last Conv2d/MaxPool2d/AvgPool2d at or before it) or a
            vector ``[B, D]``.
        channel: the channel (or unit) in ``[0, C')``.
        k: how many images (at most the dataset's size).
        batch_size: images per forward pass.

    Returns:
        :class:`TopActivations`, best first.

    Raises:
        ConfigError: an unknown layer (close names listed), a channel out of range, ``k < 1``,
            a layer output that is neither ``[B, C', h, w]`` nor ``[B, D]``.
    """
    module = get_layer(model, layer)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer; got {k!r}")
    best_v, best_pos, seen = [], [], 0
    first = None
    with inspecting(model), torch.no_grad(), capture(module) as out:
        for xb in dataset_images(data, batch_size):
            if first is None:
                first = xb[:1]
            dtype = next((p.dtype for p in model.parameters()), xb.dtype)
            model(xb.to(dtype))
            a = out.last
            out.outputs.clear()
            width = a.shape[1] if a.dim() in (2, 4) else None
            if width is None:
                raise ConfigError(f"layer {layer!r} gives outputs of shape {list(a.shape)}; top-activating images need "
                                  "a feature map [B, C, h, w] or a vector [B, D]")
            if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel < width:
                raise ConfigError(f"channel must be an integer in [0, {width - 1}] (layer {layer!r} has {width}); "
                                  f"got {channel!r}")
            if a.dim() == 4:
                amap = a[:, channel].flatten(1)  # (B, h*w)
                v, flat = amap.max(dim=1)
                pos = torch.stack([flat // a.shape[-1], flat % a.shape[-1]], dim=1)
            else:
                v, pos = a[:, channel], torch.zeros(len(a), 2, dtype=torch.long)
            best_v.append(v.float().cpu())
            best_pos.append(pos.cpu())
            seen += len(xb)
    if first is None:
        raise ConfigError("data holds no images")
    values = torch.cat(best_v)
    positions = torch.cat(best_pos)
    top_v, top_i = values.topk(min(k, seen))
    top_pos = positions[top_i]
    images = _gather(data, top_i)
    h, w = images.shape[-2:]
    field = None
    if a.dim() == 4:
        chain = _fields_upto(model, first, layer)
        field = chain[-1] if chain else None
    boxes, patches = [], []
    for img, (u, v) in zip(images, top_pos.tolist()):
        if field is not None:
            top, left, bottom, right = field_box(field, u, v, (h, w))
        else:
            top, left, bottom, right = 0, 0, h, w
        boxes.append([top, left, bottom, right])
        patches.append(img[:, top:bottom, left:right].clone())
    return TopActivations(layer, channel, top_i, top_v, top_pos, torch.tensor(boxes, dtype=torch.long).reshape(-1, 4),
                          patches, field)


def _fields_upto(model: nn.Module, example: torch.Tensor, layer: str) -> list[LayerField]:
    """The receptive fields of the chain's layers up to ``layer``'s output: the spatial layers inside ``layer``
    or registered before it (the chain is in forward order, which :func:`receptive_fields` checked)."""
    fields = receptive_fields(model, example)
    names = [n for n, _ in model.named_modules()]
    order = {n: i for i, n in enumerate(names)}
    target = order[layer]
    mine = [f for f in fields if f.name == layer or f.name.startswith(layer + ".")]
    if mine:
        return fields[: fields.index(mine[-1]) + 1]
    return [f for f in fields if order.get(f.name, -1) < target]


def _gather(data: Dataset | torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        return check_images(data, "data")[idx]
    tensors = getattr(data, "tensors", None)
    if tensors and getattr(data, "transform", None) is None:
        return tensors[0][idx]
    items = [data[int(i)] for i in idx]
    return torch.stack([it[0] if isinstance(it, (tuple, list)) else it for it in items])

