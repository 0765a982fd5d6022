"""From classification to segmentation: a classifier's dense layers as convolutions (notes §3.5.1.1).

A classifier trained on ``H0 × W0`` images ends in fully connected layers,
which fix its input size.  A dense layer that reads a ``C × h × w`` map is a
convolution with ``C × h × w`` filters and no padding; the dense layers after
it are 1×1 convolutions.  With the weights copied (:func:`convolutionalize`)
the network becomes *fully convolutional*: on its training size it gives
exactly the classifier's output (a 1×1 map), and on a larger image a **heat
map** per class, ``[K, (H − H0) / f + 1, (W − W0) / f + 1]``, whose value at
``(i, j)`` is the classifier's output on the window starting at ``(f·i, f·j)``
— ``f``, the downsampling factor, being the product of the strides.  The
last statement is exact for classifiers without padding (LeNet-5,
:class:`PatchClassifier`); a padded convolution sees, near the window's
border, the neighbouring pixels where the classifier saw its zero padding.  The
convolutions are shared between overlapping windows instead of being redone
for each (Long et al. 2015, §3.1).

Three ways back to one score per pixel (the notes' list):

* **direct heat-map upsampling** (:func:`upsample_heatmap`): each heat-map
  value is placed at the centre of its window and the map is interpolated
  (nearest or bilinear) to every pixel: fast, coarse;
* **shift and stitch** (:func:`shift_and_stitch`): the heat maps of the ``f²``
  shifted inputs are interleaved, so that every pixel gets the output of the
  window centred on it — exactly the dense evaluation of the sliding
  classifier at every pixel (:func:`sliding_window_scores`, the slow
  reference; the tests check equality), at the cost of ``f²`` passes;
* **learned upsampling** — :class:`~an2dl.models.segmentation.FCN`.

Models: :class:`FullyConvolutional` (heat maps), :class:`DenseFCN`
(full-resolution scores by shift and stitch or upsampling, for training and
evaluating as a segmentation network) and :class:`PatchClassifier`, a
small classifier of the patch around a pixel (no pooling, ``f = 1``) used by
patch-based training (notes §3.5.1.3).

Supported classifiers (:func:`convolutionalize`): LeNet-5, the plain CNN
(``cnn-mnist``'s network; dense, ``gap`` and ``gap-linear`` heads),
:class:`PatchClassifier`, AlexNet, VGG, and every zoo model whose head is
global average pooling followed by linear layers (ResNet, DenseNet, MobileNet …).
A global average pooling over the training map followed by linear layers
becomes 1×1 convolutions followed by an average pooling over a window of the
training map's size, stride 1 (linear layers commute with averaging).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...nn.pooling import GlobalAvgPool2d
from .._checks import check_positive_int
from .._registry import get_model, register_model
from ._blocks import SegmentationNet

__all__ = [
    "FullyConvolutional",
    "DenseFCN",
    "PatchClassifier",
    "convolutionalize",
    "dense_to_conv",
    "shift_and_stitch",
    "sliding_window_scores",
    "upsample_heatmap",
    "window_offset",
    "patch_cnn",
    "fcn_from_classifier",
]

#: layers that act on every position (and channel) alone: kept as they are in the fully convolutional net
_POINTWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.Dropout, nn.Identity, nn.SiLU,
              nn.Hardswish, nn.ReLU6)


def window_offset(window: int) -> int:
    """Rows of a ``window``-pixel receptive field above (or left of) the pixel it is centred on: ``(window − 1) // 2``."""
    return (window - 1) // 2


def dense_to_conv(linear: nn.Linear, in_shape: Sequence[int]) -> nn.Conv2d:
    """The convolution equal to ``linear`` applied to a flattened ``[C, h, w]`` map (weights copied).

    ``W [out, C·h·w]`` becomes ``[out, C, h, w]`` (the row-major order of
    ``flatten``): a ``h × w`` convolution without padding.  On the ``h × w`` map
    it gives the dense layer's output as a ``1 × 1`` map.

    Raises:
        ConfigError: ``in_features != C·h·w``.
    """
    c, h, w = (int(v) for v in in_shape)
    if linear.in_features != c * h * w:
        raise ConfigError(f"dense_to_conv: a Linear of {linear.in_features} inputs cannot read a [{c}, {h}, {w}] map "
                          f"({c * h * w} values)")
    conv = nn.Conv2d(c, linear.out_features, (h, w), bias=linear.bias is not None)
    conv = conv.to(device=linear.weight.device, dtype=linear.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.reshape(linear.out_features, c, h, w))
        if linear.bias is not None:
            conv.bias.copy_(linear.bias)
    return conv


# --------------------------------------------------------------------------------------- the classifiers
class PatchClassifier(nn.Module):
    """Classify the ``P × P`` patch around a pixel: unpadded convolutions without pooling, then dense layers.

    The model of patch-based training (notes §3.5.1.3): trained on patches
    labelled by their centre pixel, then turned into a fully convolutional
    net of downsampling factor 1 (:func:`convolutionalize`), which scores
    every pixel of an image in one pass.

    Args:
        in_channels: channels of the image.
        num_classes: K.
        patch_size: P, the side of the patch (and the receptive field).
        channels: filters of each ``kernel_size`` convolution (each trims ``kernel_size − 1`` pixels).
        kernel_size: odd side of the filters.
        hidden: width of the hidden dense layer (0: none).

    Shape:
        ``[B, C, P, P] -> [B, K]`` logits.
    """

    def __init__(self, *, in_channels: int = 1, num_classes: int = 2, patch_size: int = 17,
                 channels: Sequence[int] = (16, 32, 32), kernel_size: int = 3, hidden: int = 64) -> None:
        super().__init__()
        self.in_channels = check_positive_int("PatchClassifier", "in_channels", in_channels)
        self.num_classes = check_positive_int("PatchClassifier", "num_classes", num_classes)
        self.patch_size = check_positive_int("PatchClassifier", "patch_size", patch_size)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"PatchClassifier kernel_size must be an odd positive integer; got {kernel_size!r}")
        side = patch_size - len(channels) * (kernel_size - 1)
        if side < 1:
            raise ConfigError(f"PatchClassifier: {len(channels)} unpadded {kernel_size}x{kernel_size} convolutions "
                              f"need patches of at least {len(channels) * (kernel_size - 1) + 1} pixels; got {patch_size}")
        layers: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            layers += [nn.Conv2d(c_in, c, kernel_size), nn.ReLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten()]
        d = c_in * side * side
        if hidden:
            head += [nn.Linear(d, hidden), nn.ReLU()]
            d = hidden
        self.pre_logits = nn.Sequential(*head)
        self.classifier = nn.Linear(d, num_classes)
        self.input_size = (patch_size, patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(f"PatchClassifier expects patches of shape [B, {self.in_channels}, {self.patch_size}, "
                             f"{self.patch_size}]; got {list(x.shape)}")
        return self.classifier(self.pre_logits(self.features(x)))


@register_model("patch_cnn", input_shape=(1, 17, 17))
def patch_cnn(*, in_channels: int = 1, num_classes: int = 2, patch_size: int = 17,
              channels: Sequence[int] = (16, 32, 32), kernel_size: int = 3, hidden: int = 64) -> PatchClassifier:
    """A classifier of the patch around a pixel (no pooling), for patch-based segmentation (see :class:`PatchClassifier`)."""
    return PatchClassifier(in_channels=in_channels, num_classes=num_classes, patch_size=patch_size,
                           channels=tuple(channels), kernel_size=kernel_size, hidden=hidden)


# --------------------------------------------------------------------------------------- the conversion
class _Trunk(nn.Module):
    """A zoo classifier's trunk without its input-size check (``_forward_features``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model._forward_features(x)


def _split(model: nn.Module, input_size: tuple[int, int] | None) -> tuple[nn.Module, list[nn.Module], tuple[int, int]]:
    """``(trunk, head layers, training input size)`` of a supported classifier (deep copies)."""
    from ..vision import VGG, AlexNet, LeNet5, PlainCNN
    from ..vision._base import ImageClassifier

    m = copy.deepcopy(model)
    if isinstance(m, (LeNet5, PatchClassifier, PlainCNN)):
        features = list(m.features)
        if isinstance(m, LeNet5):  # LeNet-5's trunk ends in the flatten of C5's 1x1 maps
            features = features[:-1]
        head = [nn.Flatten()] if isinstance(m, LeNet5) else []
        head += list(m.pre_logits) + [m.classifier]
        if isinstance(m, PlainCNN):
            head.append(m.global_pool)
        return nn.Sequential(*features), head, tuple(m.input_size)
    if isinstance(m, (AlexNet, VGG)) and getattr(m, "head", None) is None:
        return _Trunk(m), [m.avgpool, nn.Flatten(), *m.classifier], input_size or _zoo_size(m)
    if isinstance(m, ImageClassifier):
        return _Trunk(m), _global_pool_head(m), input_size or _zoo_size(m)
    raise ConfigError(f"convolutionalize supports LeNet-5, the plain CNN, PatchClassifier and the zoo's image "
                      f"classifiers; got {type(model).__name__}")


def _zoo_size(m: nn.Module) -> tuple[int, int]:
    size = 32 if getattr(m, "small_input", False) else int(getattr(m, "default_input_size", 224))
    return size, size


def _global_pool_head(m: nn.Module) -> list[nn.Module]:
    """The head of a zoo classifier taken as global average pooling followed by its dense layers
    (:func:`convolutionalize` checks the result against the classifier)."""
    for fc_name in ("fc", "classifier"):
        fc = getattr(m, fc_name, None)
        if isinstance(fc, nn.Linear):
            return [GlobalAvgPool2d(), nn.Flatten(), fc]
        if isinstance(fc, nn.Sequential) and all(isinstance(x, (nn.Linear, *_POINTWISE)) for x in fc):
            return [GlobalAvgPool2d(), nn.Flatten(), *fc]
    raise ConfigError(f"convolutionalize: cannot find the dense layers of {type(m).__name__}'s head")


def _convert_head(layers: list[nn.Module], shape: tuple[int, int, int]) -> list[nn.Module]:
    """Fully convolutional layers equal to ``layers`` on a ``shape = (C, h, w)`` map (the training size)."""
    out: list[nn.Module] = []
    c, h, w = shape
    flat = False  # the map has been flattened: the next Linear reads all of it
    pending_avg: tuple[int, int] | None = None  # a global average waiting for the linear layers to pass it

    def flush() -> None:
        nonlocal pending_avg
        if pending_avg is not None:
            out.append(nn.AvgPool2d(pending_avg, stride=1))
            pending_avg = None

    for layer in layers:
        if isinstance(layer, nn.Flatten):
            flat = True
        elif isinstance(layer, (GlobalAvgPool2d, nn.AdaptiveAvgPool2d)) and (
                isinstance(layer, GlobalAvgPool2d) or _size2(layer.output_size) == (1, 1)):
            pending_avg, h, w = (h, w), 1, 1  # averaging commutes with the linear layers that follow
        elif isinstance(layer, nn.AdaptiveAvgPool2d):
            oh, ow = _size2(layer.output_size)
            if (oh, ow) == (h, w):
                continue  # the identity at the training size
            if h % oh or w % ow:
                raise ConfigError(f"convolutionalize: an adaptive pooling from {h}x{w} to {oh}x{ow} has no fixed window")
            out.append(nn.AvgPool2d((h // oh, w // ow)))
            h, w = oh, ow
        elif isinstance(layer, nn.Linear):
            if not flat and (h, w) != (1, 1):
                raise ConfigError(f"convolutionalize: a Linear layer reads a {c}x{h}x{w} map that was not flattened")
            out.append(dense_to_conv(layer, (c, h, w)))  # the first reads the whole map, the others 1x1 maps
            c, h, w = layer.out_features, 1, 1
        elif isinstance(layer, nn.Conv2d) and layer.kernel_size == (1, 1):
            out.append(layer)  # a 1x1 convolution commutes with averaging as well
            c = layer.out_channels
        elif isinstance(layer, _POINTWISE):
            if not isinstance(layer, (nn.Dropout, nn.Identity)):
                flush()
            out.append(layer)
        else:
            raise ConfigError(f"convolutionalize: cannot turn a {type(layer).__name__} of the head into a convolution")
    flush()
    return out


def _size2(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


class FullyConvolutional(nn.Module):
    """A classifier made fully convolutional: a heat map of class scores for any input at least its training size.

    Built by :func:`convolutionalize`.

    Attributes:
        window: ``(H0, W0)``, the classifier's input size (the receptive field of one heat-map value).
        stride: ``f``, the downsampling factor: heat-map value ``(i, j)`` scores the window at ``(f·i, f·j)``.
        num_classes, in_channels: K and C.

    Shape:
        ``[B, C, H, W]`` with ``H >= H0, W >= W0`` -> ``[B, K, ⌊(H − H0) / f⌋ + 1, ⌊(W − W0) / f⌋ + 1]``.
    """

    def __init__(self, trunk: nn.Module, head: nn.Module, *, window: tuple[int, int], in_channels: int,
                 num_classes: int) -> None:
        super().__init__()
        self.trunk, self.head = trunk, head
        self.window = (int(window[0]), int(window[1]))
        self.in_channels, self.num_classes = in_channels, num_classes
        self.stride = self._probe_stride()

    def _probe_stride(self) -> int:
        """``f`` from the heat-map sizes of two inputs 64 pixels apart."""
        p = next(self.parameters())
        h0, w0 = self.window
        was = self.training
        self.eval()
        with torch.no_grad():
            sizes = [self(torch.zeros(1, self.in_channels, h0 + extra, w0, dtype=p.dtype, device=p.device)).shape[-2]
                     for extra in (0, 64)]
        self.train(was)
        if sizes[0] != 1 or sizes[1] <= 1 or 64 % (sizes[1] - 1):
            raise ConfigError(f"convolutionalize: the converted network gives {sizes[0]} and {sizes[1]} heat-map rows "
                              f"for inputs of {h0} and {h0 + 64} rows; expected 1 and 1 + 64 / f")
        return 64 // (sizes[1] - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0, w0 = self.window
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-2] < h0 or x.shape[-1] < w0:
            raise ValueError(f"FullyConvolutional expects images [B, {self.in_channels}, H >= {h0}, W >= {w0}] "
                             f"(its classifier's input size); got {list(x.shape)}")
        return self.head(self.trunk(x))

    def heatmap_size(self, height: int, width: int) -> tuple[int, int]:
        """``(⌊(H − H0) / f⌋ + 1, ⌊(W − W0) / f⌋ + 1)``: the heat map's size for unpadded networks
        (padded strided layers, as in ResNet, may round up by one)."""
        return (height - self.window[0]) // self.stride + 1, (width - self.window[1]) // self.stride + 1


def convolutionalize(classifier: nn.Module, *, input_size: Sequence[int] | None = None) -> FullyConvolutional:
    """The fully convolutional network equal to ``classifier`` (weights copied; ``classifier`` is not changed).

    Args:
        classifier: a supported classifier (see the module docstring), trained
            on ``H0 × W0`` images.
        input_size: ``(H0, W0)`` for a zoo classifier trained at another size than
            its default (LeNet-5, the plain CNN and PatchClassifier know theirs).

    Returns:
        :class:`FullyConvolutional` in ``classifier``'s training mode, on its
        device and dtype; ``fcn(x)[:, :, 0, 0] == classifier(x)`` for ``H0 × W0`` inputs.

    Raises:
        ConfigError: an unsupported classifier or head layer.
    """
    trunk, head_layers, size = _split(classifier, tuple(int(v) for v in input_size) if input_size else None)
    p = next(classifier.parameters())
    in_channels = int(getattr(classifier, "in_channels", 0) or p.shape[1])
    was = classifier.training
    trunk.eval()
    with torch.no_grad():
        fmap = trunk(torch.zeros(1, in_channels, *size, dtype=p.dtype, device=p.device))
    trunk.train(was)
    head = nn.Sequential(*_convert_head(head_layers, tuple(int(v) for v in fmap.shape[1:])))
    num_classes = int(getattr(classifier, "num_classes", 0)) or _last_channels(head)
    net = FullyConvolutional(trunk, head, window=size, in_channels=in_channels, num_classes=num_classes)
    _check_equal(classifier, net, in_channels, size)
    return net.train(was)


def _check_equal(classifier: nn.Module, net: FullyConvolutional, in_channels: int, size: tuple[int, int]) -> None:
    """Refuse a conversion whose heat map differs from the classifier's output at the training size."""
    p = next(classifier.parameters())
    x = torch.rand(2, in_channels, *size, generator=torch.Generator().manual_seed(0)).to(p.device, p.dtype)
    was_c, was_n = classifier.training, net.training
    classifier.eval()
    net.eval()
    with torch.no_grad():
        want = classifier(x)
        got = net(x)
    classifier.train(was_c)
    net.train(was_n)
    want = want[0] if isinstance(want, (tuple, list)) else want
    tol = 1e-4 * (1 + float(want.abs().max()))
    if got.shape[-2:] != (1, 1) or not torch.allclose(got.flatten(1), want.flatten(1), atol=tol):
        raise ConfigError(f"convolutionalize: the converted {type(classifier).__name__} does not reproduce the "
                          "classifier at its training size; its head is not global average pooling + dense layers")


def _last_channels(head: nn.Sequential) -> int:
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


# --------------------------------------------------------------------------------------- full resolution
def _pad_for_windows(x: torch.Tensor, window: tuple[int, int], extra: tuple[int, int], mode: str) -> torch.Tensor:
    """Pad so that the window centred on every pixel lies inside (plus ``extra`` rows/columns at the bottom/right)."""
    (h0, w0), (eh, ew) = window, extra
    top, left = window_offset(h0), window_offset(w0)
    pad = (left, w0 - 1 - left + ew, top, h0 - 1 - top + eh)
    if mode == "constant":
        return F.pad(x, pad)
    return F.pad(x, pad, mode=mode)


@torch.no_grad()
def sliding_window_scores(classifier: nn.Module, x: torch.Tensor, window: tuple[int, int], *,
                          pad_mode: str = "constant", chunk: int = 1024) -> torch.Tensor:
    """The classifier evaluated on the window centred on every pixel: the slow, dense reference.

    The window of pixel ``(r, c)`` covers rows ``r − o … r − o + H0 − 1`` with
    ``o = (H0 − 1) // 2`` (:func:`window_offset`; likewise columns); the image
    is padded (``pad_mode``: zeros, or ``"reflect"``/``"replicate"``) so that
    every window lies inside.

    Args:
        classifier: maps ``[N, C, H0, W0]`` to ``[N, K]``.
        x: ``[B, C, H, W]``.
        window: ``(H0, W0)``.
        chunk: windows per forward pass.

    Returns:
        ``[B, K, H, W]``.
    """
    b, c, h, w = x.shape
    h0, w0 = window
    padded = _pad_for_windows(x, window, (0, 0), pad_mode)
    cols = F.unfold(padded, (h0, w0))  # (B, C·H0·W0, H·W)
    patches = cols.transpose(1, 2).reshape(b * h * w, c, h0, w0)
    scores = torch.cat([classifier(patches[i:i + chunk]) for i in range(0, len(patches), chunk)])
    return scores.reshape(b, h * w, -1).transpose(1, 2).reshape(b, -1, h, w)


def shift_and_stitch(fcn: FullyConvolutional, x: torch.Tensor, *, pad_mode: str = "constant",
                     shift_batch: int = 16) -> torch.Tensor:
    """Scores at every pixel from ``f²`` heat maps of shifted inputs, interleaved (notes §3.5.1.1; Long et al. 2015, §3.2).

    The image is padded so that the window centred on each pixel lies inside
    (as :func:`sliding_window_scores`), then for every shift ``(dy, dx)`` in
    ``[0, f)²`` the heat map of the input shifted up by ``dy`` and left by
    ``dx`` scores the windows centred on pixels ``(f·i + dy, f·j + dx)``;
    writing each heat map into those pixels stitches the full-resolution map.
    The result equals :func:`sliding_window_scores` with the same padding
    (checked by the tests) and costs ``f²`` passes of the network.

    Args:
        fcn: a :class:`FullyConvolutional` of window ``(H0, W0)`` and stride ``f``.
        x: ``[B, C, H, W]``.
        pad_mode: ``"constant"`` (zeros), ``"reflect"`` or ``"replicate"``; or ``"none"``: no
            padding, only the pixels whose whole window lies inside the image are scored.
        shift_batch: shifted inputs computed in one forward pass (they are stacked along the batch).

    Returns:
        ``[B, K, H, W]``; with ``"none"``, ``[B, K, H − H0 + 1, W − W0 + 1]`` (the windows at every position).
    """
    b, _, h, w = x.shape
    f = fcn.stride
    h0, w0 = fcn.window
    if pad_mode == "none":
        out_h, out_w = h - h0 + 1, w - w0 + 1
        base = x
    else:
        out_h, out_w = h, w
        base = _pad_for_windows(x, fcn.window, (0, 0), pad_mode)
    rows, cols = -(-out_h // f), -(-out_w // f)  # heat-map positions each shift must provide
    extra_h = max(0, (rows - 1) * f + (f - 1) + h0 - base.shape[-2])
    extra_w = max(0, (cols - 1) * f + (f - 1) + w0 - base.shape[-1])
    padded = F.pad(base, (0, extra_w, 0, extra_h))  # windows beyond the output are cropped away below
    span_h, span_w = (rows - 1) * f + h0, (cols - 1) * f + w0  # the input of `rows x cols` windows
    shifts = [(dy, dx) for dy in range(f) for dx in range(f)]
    out = None
    for i in range(0, len(shifts), shift_batch):  # several shifts per forward pass, as one batch
        group = shifts[i:i + shift_batch]
        inputs = torch.cat([padded[..., dy:dy + span_h, dx:dx + span_w] for dy, dx in group])  # (G·B, C, ...)
        heat = fcn(inputs)[..., :rows, :cols].reshape(len(group), b, -1, rows, cols)  # windows at f·i + dy
        if out is None:
            out = heat.new_zeros(b, heat.shape[2], rows * f, cols * f)
        for (dy, dx), h_map in zip(group, heat):
            out[..., dy::f, dx::f] = h_map
    return out[..., :out_h, :out_w]


def upsample_heatmap(heat: torch.Tensor, *, stride: int, window: tuple[int, int], size: tuple[int, int],
                     mode: str = "bilinear") -> torch.Tensor:
    """Direct heat-map upsampling: each value placed at its window's centre and interpolated to every pixel.

    Heat-map value ``(i, j)`` of an unpadded input belongs to the window whose
    centre is pixel ``(f·i + o_h, f·j + o_w)`` (:func:`window_offset`);
    pixels between centres are interpolated (``"bilinear"``, or ``"nearest"``:
    the closest centre), pixels outside the first/last centres take the
    border values.

    Args:
        heat: ``[B, K, h, w]``.
        stride: ``f``.
        window: ``(H0, W0)``.
        size: ``(H, W)`` of the image the heat map was computed on.
        mode: ``"bilinear"`` or ``"nearest"``.

    Returns:
        ``[B, K, H, W]``.
    """
    if mode not in ("bilinear", "nearest"):
        raise ConfigError(f"upsample_heatmap mode must be 'bilinear' or 'nearest'; got {mode!r}")
    h, w = heat.shape[-2:]
    H, W = size

    def coords(n_out: int, n_heat: int, offset: int) -> torch.Tensor:
        # position of every pixel in heat-map units, clamped to the first and last centre
        t = (torch.arange(n_out, dtype=torch.float64) - offset) / stride
        t = t.clamp(0, n_heat - 1)
        return t.round() if mode == "nearest" else t

    ty = coords(H, h, window_offset(window[0]))
    tx = coords(W, w, window_offset(window[1]))
    y0, x0 = ty.floor().long(), tx.floor().long()
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    wy = (ty - y0).to(heat.dtype).to(heat.device).view(-1, 1)
    wx = (tx - x0).to(heat.dtype).to(heat.device).view(1, -1)
    rows0, rows1 = heat[..., y0.to(heat.device), :], heat[..., y1.to(heat.device), :]  # (B, K, H, w)
    top = rows0[..., x0.to(heat.device)] * (1 - wx) + rows0[..., x1.to(heat.device)] * wx
    bottom = rows1[..., x0.to(heat.device)] * (1 - wx) + rows1[..., x1.to(heat.device)] * wx
    return top * (1 - wy) + bottom * wy


class DenseFCN(SegmentationNet):
    """A convolutionalised classifier that scores every pixel: a segmentation network of any input size.

    Args:
        fcn: the :class:`FullyConvolutional` network.
        method: ``"shift_and_stitch"`` (exact, ``f²`` passes) or ``"upsample"``
            (one pass, :func:`upsample_heatmap`, bilinear).
        pad_mode: how the border is extended so that every pixel has its
            window: ``"reflect"`` (default), ``"replicate"`` or ``"constant"`` (zeros); or
            ``"none"``: only the pixels whose whole window lies inside are scored (an
            output smaller by the window less one, centred for odd windows, as an
            unpadded U-Net's; :func:`~an2dl.models.segmentation.segment` mirrors the image first).

    Shape:
        ``[B, C, H, W] -> [B, K, H, W]`` logits (``[B, K, H − H0 + 1, W − W0 + 1]`` with ``"none"``).
    """

    def __init__(self, fcn: FullyConvolutional, *, method: str = "shift_and_stitch", pad_mode: str = "reflect") -> None:
        super().__init__()
        if method not in ("shift_and_stitch", "upsample"):
            raise ConfigError(f"DenseFCN method must be 'shift_and_stitch' or 'upsample'; got {method!r}")
        if pad_mode not in ("reflect", "replicate", "constant", "none"):
            raise ConfigError(f"DenseFCN pad_mode must be 'reflect', 'replicate', 'constant' or 'none'; got {pad_mode!r}")
        if pad_mode == "none" and method != "shift_and_stitch":
            raise ConfigError("DenseFCN pad_mode='none' scores the windows inside the image: use method='shift_and_stitch'")
        self.fcn, self.method, self.pad_mode = fcn, method, pad_mode
        self.in_channels, self.num_classes = fcn.in_channels, fcn.num_classes
        self.depth = 0

    def _output(self, size: int) -> int | None:
        if self.pad_mode == "none":
            out = size - self.fcn.window[0] + 1
            return out if out >= 1 else None
        return size if size >= 1 else None

    def context(self) -> int:
        """Pixels lost on each side: ``(H0 − 1) / 2`` with ``pad_mode="none"`` (odd windows), else 0."""
        return (self.fcn.window[0] - 1) // 2 if self.pad_mode == "none" else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        if self.method == "shift_and_stitch":
            return shift_and_stitch(self.fcn, x, pad_mode=self.pad_mode)
        padded = _pad_for_windows(x, self.fcn.window, (0, 0), self.pad_mode)
        heat = self.fcn(padded)
        f = self.fcn.stride
        # on the padded image, heat value i is centred on pixel f·i of the original
        return upsample_heatmap(heat, stride=f, window=(1, 1), size=tuple(x.shape[-2:]))


@register_model("fcn_from_classifier", input_shape=(1, 24, 24))
def fcn_from_classifier(*, classifier: str = "patch_cnn", classifier_kwargs: dict[str, Any] | None = None,
                        method: str = "shift_and_stitch", pad_mode: str = "reflect") -> DenseFCN:
    """The registered ``classifier`` (built with ``classifier_kwargs``) made fully convolutional, scoring every pixel.

    The weights are the fresh classifier's; a trained classifier is converted
    with :func:`convolutionalize`, and an exported :class:`DenseFCN` reloads
    through this builder (same keys).
    """
    net = get_model(classifier, **(classifier_kwargs or {}))
    return DenseFCN(convolutionalize(net), method=method, pad_mode=pad_mode)
