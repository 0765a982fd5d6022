"""Model summaries: per-layer output shapes, parameters and FLOPs (notes §3.3.1, §3.3.5).

The notes count the parameters of a convolutional layer as
``(h_r · h_c · c) · n_f + n_f`` and contrast it with a dense layer; this
module reports those counts for every layer of any model, together with the
output shape of the layer and the floating-point operations of one forward
pass, and the table behind ``an2dl list models``.

FLOP convention (the one of ``torch.utils.flop_counter.FlopCounterMode``,
which does the counting): a multiply–add is **2 FLOPs**, and only the
matrix-product-like operators are counted — convolutions (also transposed and
grouped), ``Linear``, ``matmul``/``bmm``/``baddbmm`` and fused attention.
Bias additions, activations, normalisation and pooling are not counted (they
are a few per cent of a CNN's work).  Many papers and torchvision's model
tables quote *multiply–accumulates* (MACs) under the name "FLOPs";
``macs = flops / 2`` converts.  By hand, per sample:

* ``nn.Conv2d(c, n_f, (h_r, h_c), groups=g)`` producing ``H' × W'`` maps:
  ``2 · H' · W' · n_f · (c / g) · h_r · h_c``;
* ``nn.Linear(d, L)``: ``2 · d · L``.

Models are measured on PyTorch's ``meta`` device when they allow it: shapes
only, no memory and no arithmetic, so even the largest architectures are
summarised in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ._checks import check_positive_int
from ._registry import MODELS, example_inputs

__all__ = [
    "count_parameters",
    "count_flops",
    "LayerInfo",
    "ModelSummary",
    "summarize",
    "summarize_registered",
    "format_count",
    "registry_table",
]

#: models with more parameters than this are not re-run on the CPU when the
#: ``meta`` device cannot run them (building them would take seconds).
_CPU_FALLBACK_MAX_PARAMS = 30_000_000


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (``p.numel()`` summed), optionally only those with ``requires_grad``.

    Shared parameters are counted once (``model.parameters()`` deduplicates them).
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def format_count(n: float | int | None, unit: str = "") -> str:
    """``1234567 -> "1.23M"``: three significant digits with a K/M/G/T suffix; ``None -> "?"``."""
    if n is None:
        return "?"
    n = float(n)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.3g}{suffix}{unit}"
    return f"{n:.3g}{unit}" if n != int(n) else f"{int(n)}{unit}"


def _shapes(out: Any) -> Any:
    """The shape(s) of a module output: tensors -> lists, containers kept, others -> type name."""
    if isinstance(out, torch.Tensor):
        return list(out.shape)
    if isinstance(out, (list, tuple)):
        return [_shapes(o) for o in out]
    if isinstance(out, dict):
        return {k: _shapes(v) for k, v in out.items()}
    return type(out).__name__


def _to_device(obj: Any, device: torch.device | str) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


@dataclass
class LayerInfo:
    """One row of a :class:`ModelSummary`.

    Attributes:
        name: the module's path in the model (``"features.0"``).
        type: the module's class name.
        depth: nesting level (1 for children of the model).
        output_shape: shape of the module's (last) output, e.g. ``[1, 6, 28, 28]``.
        params: parameters held directly by the module and its sub-modules.
        flops: FLOPs spent inside the module during the forward pass (see the module docstring).
        leaf: the module has no sub-modules.
    """

    name: str
    type: str
    depth: int
    output_shape: Any
    params: int
    flops: int
    leaf: bool


@dataclass
class ModelSummary:
    """Per-layer summary of a model for one input (see :func:`summarize`).

    Attributes:
        layers: one :class:`LayerInfo` per module that ran, in call order.
        total_params, trainable_params: parameter counts of the whole model.
        flops: FLOPs of one forward pass for the given input (all samples).
        input_shapes: shapes of the forward arguments.
        output_shape: shape(s) of the model output.
        batch_size: leading dimension of the first input (FLOPs per sample = ``flops / batch_size``).
        model_name: the registry name, when summarised by name (``""`` otherwise).
        extra: free-form annotations (empty by default).
    """

    layers: list[LayerInfo]
    total_params: int
    trainable_params: int
    flops: int
    input_shapes: list[Any]
    output_shape: Any
    batch_size: int = 1
    model_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def macs(self) -> int:
        """Multiply–accumulates (``flops / 2``), the unit many papers call FLOPs."""
        return self.flops // 2

    @property
    def flops_per_sample(self) -> float:
        return self.flops / max(1, self.batch_size)

    def rows(self, *, depth: int | None = None, leaves_only: bool = True) -> list[LayerInfo]:
        """The layers to show: leaves only (default) or every module up to ``depth``."""
        out = []
        for layer in self.layers:
            if depth is not None and layer.depth > depth:
                continue
            if leaves_only and not layer.leaf and (depth is None or layer.depth < depth):
                continue
            out.append(layer)
        return out

    def table(self, *, depth: int | None = None) -> str:
        """A plain-text table: layer, type, output shape, parameters, FLOPs, then totals."""
        rows = [("layer", "type", "output shape", "params", "FLOPs")]
        for layer in self.rows(depth=depth):
            rows.append((layer.name, layer.type, str(layer.output_shape), f"{layer.params:,}", format_count(layer.flops)))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = []
        for i, r in enumerate(rows):
            lines.append("  ".join(c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
            if i == 0:
                lines.append("-" * len(lines[0]))
        lines.append("-" * len(lines[0]))
        lines.append(f"input {self.input_shapes} -> output {self.output_shape}")
        lines.append(
            f"parameters: {self.total_params:,} ({self.trainable_params:,} trainable); "
            f"forward FLOPs: {format_count(self.flops)} ({format_count(self.flops_per_sample)} per sample, "
            f"{format_count(self.macs)} MACs)"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def count_flops(model: nn.Module | Callable[..., Any], *inputs: Any, **kwargs: Any) -> int:
    """FLOPs of one call ``model(*inputs, **kwargs)`` (a multiply–add counts 2; see the module docstring).

    Inputs may live on the ``meta`` device (with a model built there): the
    count needs shapes only.

    Returns:
        the total FLOPs for the whole batch given.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs, **kwargs)
    return int(counter.get_total_flops())


def summarize(model: nn.Module, *inputs: Any, model_name: str = "", **kwargs: Any) -> ModelSummary:
    """Run ``model(*inputs, **kwargs)`` once and record every module's output shape, parameters and FLOPs.

    The model is put in eval mode for the pass (batch-norm with one sample,
    no dropout) and restored afterwards; no gradients are computed.

    Args:
        model: any ``nn.Module``.
        *inputs, **kwargs: forward arguments (e.g. ``torch.rand(1, 3, 224, 224)``;
            ``meta`` tensors for a model built on the meta device).

    Returns:
        :class:`ModelSummary`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    from torch.utils.flop_counter import FlopCounterMode

    if not isinstance(model, nn.Module):
        raise TypeError(f"summarize expects an nn.Module; got {type(model).__name__}")
    names = {m: n for n, m in model.named_modules()}
    shapes: dict[str, Any] = {}
    order: list[str] = []

    def hook(mod: nn.Module, _args: Any, out: Any) -> None:
        name = names.get(mod)
        if name is None or name == "":
            return
        if name not in shapes:
            order.append(name)
        shapes[name] = _shapes(out)

    handles = [m.register_forward_hook(hook) for m in names if m is not model]
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False, depth=None)
    try:
        with torch.no_grad(), counter:
            out = model(*inputs, **kwargs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    per_module = {k: int(sum(v.values())) for k, v in counter.get_flop_counts().items()}
    root = type(model).__name__
    modules = dict(model.named_modules())
    layers = []
    for name in order:
        mod = modules[name]
        layers.append(
            LayerInfo(
                name=name,
                type=type(mod).__name__,
                depth=name.count(".") + 1,
                output_shape=shapes[name],
                params=count_parameters(mod),
                flops=per_module.get(f"{root}.{name}", 0),
                leaf=next(mod.children(), None) is None,
            )
        )
    first = next((a for a in inputs if isinstance(a, torch.Tensor)), None)
    return ModelSummary(
        layers=layers,
        total_params=count_parameters(model),
        trainable_params=count_parameters(model, trainable_only=True),
        flops=int(counter.get_total_flops()),
        input_shapes=[_shapes(a) for a in inputs],
        output_shape=_shapes(out),
        batch_size=int(first.shape[0]) if first is not None and first.dim() > 0 else 1,
        model_name=model_name,
    )


def summarize_registered(name: str, *, batch_size: int = 1, device: str = "meta", **kwargs: Any) -> ModelSummary:
    """:func:`summarize` for registered model ``name`` at its default input (:func:`example_inputs`).

    Args:
        name: registry name.
        batch_size: samples in the example input.
        device: ``"meta"`` (default: shapes only, instant) or ``"cpu"``.
        **kwargs: builder arguments.
    """
    if device not in ("meta", "cpu"):
        raise ConfigError(f"summarize_registered device must be 'meta' or 'cpu'; got {device!r}")
    check_positive_int("summarize_registered", "batch_size", batch_size)
    builder = MODELS.get(name)
    inputs = example_inputs(name, batch_size, generator=torch.Generator().manual_seed(0))
    with torch.device(device):
        model = builder(**kwargs)
    return summarize(model, *_to_device(inputs, device), model_name=name)


def _measure(name: str) -> tuple[int | None, int | None, str]:
    """(params, FLOPs per sample, note) of a registered model at its defaults."""
    try:
        s = summarize_registered(name, device="meta")
        return s.total_params, int(s.flops_per_sample), ""
    except Exception as meta_error:  # models whose forward needs real values (data-dependent control flow)
        try:
            with torch.device("meta"):
                params = count_parameters(MODELS.get(name)())
        except Exception as e:  # a builder that cannot run with its defaults
            return None, None, f"({type(e).__name__})"
        if params > _CPU_FALLBACK_MAX_PARAMS:
            return params, None, f"(FLOPs need a real forward: {type(meta_error).__name__})"
        try:
            s = summarize_registered(name, device="cpu")
            return s.total_params, int(s.flops_per_sample), ""
        except Exception as e:
            return params, None, f"({type(e).__name__})"


def _row(name: str) -> tuple[str, ...]:
    params, flops, note = _measure(name)
    p = f"{params:,} params" if params is not None else note
    f = f"{format_count(flops)} FLOPs" if flops is not None else (note if params is not None else "")
    doc = (MODELS.get(name).__doc__ or "").strip().splitlines()
    return (name, p, f, doc[0] if doc else "")


#: more models to measure than this show a progress display (a few take well under a second)
_QUIET_MEASURES = 3


def registry_table(pattern: str | None = None, *, cache: bool = False,
                   progress: bool | None = False) -> list[tuple[str, ...]]:
    """``(name, "N params", "F FLOPs", first docstring line)`` for every registered model matching ``pattern``.

    Parameters are those of the builder's defaults; FLOPs are per sample at the
    model's default input (:func:`~an2dl.models.example_inputs`), counted on
    the ``meta`` device (a real CPU pass is the fallback for small models whose
    forward needs values).

    Args:
        pattern: a glob (``resnet*``) or a substring (``resnet``); see
            :func:`an2dl.registry.match_names`.
        cache: reuse and extend the rows kept in ``$AN2DL_CACHE/tables``
            (:mod:`an2dl._utils.cache`): only the models not measured yet
            with these sources and versions are built.  ``an2dl list models``
            sets it.
        progress: show the measuring when more than a few models are measured
            (``None``: on a terminal a progress bar, otherwise one line).
    """
    from .._utils.cache import read_table, table_path, write_table
    from .._utils.progress import activity

    names = MODELS.names(pattern)
    known: dict[str, list[str]] = {}
    if cache:
        doc = read_table("models")
        known = dict(doc["rows"]) if doc is not None else {}
    todo = [n for n in names if n not in known]
    if todo:
        where = f" (once; kept in {table_path('models').parent})" if cache else ""
        message = f"measuring parameters and FLOPs of {len(todo)} models{where}"
        with activity(message, total=len(todo), enable=progress if len(todo) > _QUIET_MEASURES else False) as act:
            for name in todo:
                known[name] = list(_row(name))
                act.advance()
        if cache:
            write_table("models", MODELS.names(), known)
    return [tuple(known[n]) for n in names]
