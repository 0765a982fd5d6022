"""Receptive-field arithmetic through a chain of convolutions and poolings (notes §3.5.2.2, step 4).

The receptive field of a unit is the input patch it depends on (the notes'
"neuron activation" recipe extracts it around the maximally activating unit).
Along a chain of ``Conv2d``/``MaxPool2d``/``AvgPool2d`` layers, each with
kernel ``k``, stride ``s``, padding ``p`` and dilation ``d`` (effective kernel
``k' = d(k − 1) + 1``), three numbers describe the units of layer ``l``
(Dumoulin & Visin 2016; Araujo, Norris & Sim 2019, "Computing receptive fields
of convolutional neural networks"):

    r_l     = r_{l−1} + (k' − 1) · j_{l−1}          size of the receptive field (pixels)
    j_l     = j_{l−1} · s                           jump: input pixels between neighbouring units
    start_l = start_{l−1} + ((k' − 1)/2 − p) · j_{l−1}    centre of unit 0's field (input coordinates)

starting from the input, ``r_0 = 1, j_0 = 1, start_0 = 0``.  Unit ``(u, v)`` of
layer ``l`` then sees the input square of side ``r_l`` centred on
``(start_l + u·j_l, start_l + v·j_l)``, cut by the image borders (padding).
Height and width are computed separately (kernels need not be square).

Examples (tested): three 3×3 stride-1 convolutions see 7×7; LeNet-5's C5
sees 32×32; VGG-16's ``conv5_3`` sees 196×196 and its last block's output
(``pool5``) 212×212.

The chain is read from one forward pass with hooks on the layers, so it is
the order the model runs them in; a model whose layers are not one chain —
a layer that reads anything but the previous layer's output, through
shape-keeping modules (activations, normalisation), as in residual blocks
or Inception branches — is refused: its receptive fields are not given by
one recursion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ._hooks import check_images, inspecting

__all__ = ["LayerField", "receptive_fields", "receptive_field", "field_box"]

_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


@dataclass(frozen=True)
class LayerField:
    """The receptive field of the units of one layer (rows, columns).

    Attributes:
        name: dotted module name.
        kind: ``Conv2d``, ``MaxPool2d`` or ``AvgPool2d``.
        size: ``(r_h, r_w)``: side of the receptive field in input pixels.
        jump: ``(j_h, j_w)``: input pixels between neighbouring units (the total stride).
        start: ``(start_h, start_w)``: centre of unit ``(0, 0)``'s field in input coordinates
            (may be negative or fractional: padding, even kernels).
        output_size: ``(h, w)`` of the layer's map for the input it was traced with.
    """

    name: str
    kind: str
    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]
    output_size: tuple[int, int]

    def center(self, u: int, v: int) -> tuple[float, float]:
        """Centre ``(row, col)`` of unit ``(u, v)``'s receptive field in input coordinates."""
        return self.start[0] + u * self.jump[0], self.start[1] + v * self.jump[1]


def _geometry(m: nn.Module) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """``(kernel, stride, padding, dilation)`` of a layer, each ``(h, w)``."""
    if isinstance(m, nn.Conv2d):
        if isinstance(m.padding, str):  # "same"/"valid": PyTorch pads (k' - 1) // 2 before (stride 1 only for "same")
            k = _pair(m.kernel_size)
            d = _pair(m.dilation)
            pad = tuple((d[i] * (k[i] - 1)) // 2 if m.padding == "same" else 0 for i in range(2))
            return k, _pair(m.stride), pad, d
        return _pair(m.kernel_size), _pair(m.stride), _pair(m.padding), _pair(m.dilation)
    stride = m.stride if m.stride is not None else m.kernel_size
    dilation = getattr(m, "dilation", 1)
    return _pair(m.kernel_size), _pair(stride), _pair(m.padding), _pair(dilation)


def _sources(t: torch.Tensor, outputs: dict, x: torch.Tensor) -> set:
    """The recorded layer outputs (their indices) and/or ``"input"`` that ``t`` is computed from, stopping at each."""
    found: set = set()
    if t is x:
        return {"input"}
    stack = [t.grad_fn] if t.grad_fn is not None else []
    seen = set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if node in outputs:
            found.add(outputs[node])
            continue
        var = getattr(node, "variable", None)  # an AccumulateGrad node: a leaf
        if var is not None:
            if var is x:
                found.add("input")
            continue
        stack.extend(fn for fn, _ in node.next_functions)
    return found


def receptive_fields(model: nn.Module, input_shape: tuple[int, ...] | torch.Tensor) -> list[LayerField]:
    """The receptive field of every ``Conv2d``/``MaxPool2d``/``AvgPool2d`` of ``model``, in forward order.

    Args:
        model: the network (evaluated once, in eval mode, on zeros of ``input_shape``).
        input_shape: ``[C, H, W]`` of one input (or an example image batch).

    Returns:
        One :class:`LayerField` per call of a spatial layer, from the input upward.

    Raises:
        ConfigError: the model has no such layer, a layer is called twice, or the layers are not one
            chain (branches, residual connections, concatenations); the message names the layer.
    """
    if isinstance(input_shape, torch.Tensor):
        x = check_images(input_shape, "input_shape")[:1].detach().double()
    else:
        if not (isinstance(input_shape, (tuple, list)) and len(input_shape) == 3):
            raise ConfigError(f"input_shape must be [C, H, W]; got {input_shape!r}")
        x = torch.zeros(1, *(int(v) for v in input_shape), dtype=torch.float64)
    calls: list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]] = []
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, _SPATIAL):
            def hook(m, inp, out, _name=name):
                calls.append((_name, m, inp[0], out))
            handles.append(module.register_forward_hook(hook))
    if not handles:
        raise ConfigError(f"receptive fields are computed through Conv2d/MaxPool2d/AvgPool2d layers; "
                          f"{type(model).__name__} has none")
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    try:
        with inspecting(model), torch.enable_grad():
            x = x.to(dtype).requires_grad_(True)
            model(x)
    finally:
        for h in handles:
            h.remove()
    names = [c[0] for c in calls]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError(f"layer {n!r} is called {names.count(n)} times in one forward pass; receptive-field "
                              "arithmetic needs each layer once in a single chain")
    outputs = {c[3].grad_fn: i for i, c in enumerate(calls) if c[3].grad_fn is not None}
    fields: list[LayerField] = []
    size, jump, start = (1, 1), (1, 1), (0.0, 0.0)
    for i, (name, module, inp, out) in enumerate(calls):
        expected = {"input"} if i == 0 else {i - 1}
        got = _sources(inp, outputs, x)
        if got != expected:
            prev = "the model's input" if i == 0 else f"layer {calls[i - 1][0]!r}"
            reads = ", ".join("the model's input" if s == "input" else repr(calls[s][0])
                              for s in sorted(got, key=str)) or "nothing traced"
            raise ConfigError(
                f"receptive-field arithmetic needs the Conv2d/MaxPool2d/AvgPool2d layers to form one chain, each "
                f"reading the previous one's output; layer {name!r} reads {reads} instead of {prev} "
                f"(branches or residual connections, as in {type(model).__name__}, have no single receptive field "
                "recursion)")
        k, s, p, d = _geometry(module)
        keff = tuple(d[a] * (k[a] - 1) + 1 for a in range(2))
        start = tuple(start[a] + ((keff[a] - 1) / 2 - p[a]) * jump[a] for a in range(2))
        size = tuple(size[a] + (keff[a] - 1) * jump[a] for a in range(2))
        jump = tuple(jump[a] * s[a] for a in range(2))
        fields.append(LayerField(name, type(module).__name__, size, jump, start, tuple(out.shape[-2:])))
    return fields


def receptive_field(model: nn.Module, input_shape: tuple[int, ...] | torch.Tensor,
                    layer: str | None = None) -> LayerField:
    """The receptive field of ``layer`` (a ``Conv2d``/``MaxPool2d``/``AvgPool2d``; ``None``: the last one).

    Any other layer (an activation, a normalisation) has the field of the spatial
    layer before it; name that layer.

    Raises:
        ConfigError: as :func:`receptive_fields`, or ``layer`` is not one of the chain's layers
            (the message lists them).
    """
    fields = receptive_fields(model, input_shape)
    if layer is None:
        return fields[-1]
    for f in fields:
        if f.name == layer:
            return f
    raise ConfigError(f"layer must name one of the Conv2d/MaxPool2d/AvgPool2d layers of {type(model).__name__}: "
                      f"{', '.join(f.name for f in fields)}; got {layer!r}")


def field_box(field: LayerField, u: int, v: int, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The input pixels unit ``(u, v)`` of ``field``'s layer sees, cut by the image: ``(top, left, bottom, right)``.

    Rows ``top .. bottom - 1`` and columns ``left .. right - 1`` (half-open, like slicing).
    """
    box = []
    for a, (c, r) in enumerate(zip(field.center(u, v), field.size)):
        lo = int(round(c - (r - 1) / 2))
        hi = lo + r
        box.append((max(0, lo), min(int(image_size[a]), hi)))
    (top, bottom), (left, right) = box
    return top, left, bottom, right
