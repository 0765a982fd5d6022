"""What every explanation method shares: eval mode, frozen parameters, captured layer outputs.

* :func:`inspecting` puts a model in eval mode and stops its parameters from
  requiring gradients for the duration of a ``with`` block, then restores both:
  an explanation differentiates with respect to the *input* (or a feature
  map), never the weights, so no ``.grad`` is ever written onto a parameter
  and the backward pass is cheaper.
* :func:`capture` registers a forward hook on one sub-module and removes it on
  leaving the block, whatever happens inside.
* :func:`get_layer` finds a sub-module by its dotted path and, for a name that
  does not exist, lists the closest names.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import close_matches

__all__ = ["inspecting", "capture", "get_layer", "class_scores", "check_images", "resolve_classes", "Captured"]


@contextmanager
def inspecting(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and parameters that do not require gradients, restored on exit.

    Each module's own ``training`` flag and each parameter's ``requires_grad``
    are put back exactly as they were (a partly frozen model stays partly frozen).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in flags:
            p.requires_grad_(flag)


@dataclass
class Captured:
    """The outputs a hooked module produced, in call order (one per forward pass through it)."""

    outputs: list[torch.Tensor] = field(default_factory=list)

    @property
    def last(self) -> torch.Tensor:
        if not self.outputs:
            raise ConfigError("the hooked layer was not called by the model's forward pass; choose a layer the "
                              "forward pass goes through")
        return self.outputs[-1]


@contextmanager
def capture(module: nn.Module) -> Iterator[Captured]:
    """Record ``module``'s outputs while the block runs; the forward hook is always removed."""
    store = Captured()

    def hook(_module: nn.Module, _inputs: tuple, output) -> None:
        store.outputs.append(output[0] if isinstance(output, (tuple, list)) else output)

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The sub-module of ``model`` at dotted path ``name`` (as in ``model.named_modules()``).

    Raises:
        ConfigError: no such sub-module; the message lists the closest names.
    """
    names = [n for n, _ in model.named_modules() if n]
    if not isinstance(name, str) or name not in names:
        near = close_matches(str(name), names, n=5)
        hint = f"; close names: {', '.join(near)}" if near else f"; its layers include {', '.join(names[:8])}"
        raise ConfigError(f"layer must name a sub-module of {type(model).__name__} (a dotted path as in "
                          f"model.named_modules()); got {name!r}{hint}")
    return model.get_submodule(name)


def class_scores(output) -> torch.Tensor:
    """The pre-softmax class scores ``S`` ``[N, K]`` of a model's output (the first element of a tuple)."""
    out = output[0] if isinstance(output, (tuple, list)) else output
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"explanations of a class score need a classifier returning scores [N, K]; got {got}")
    return out


def check_images(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """``images`` as a float batch ``[N, C, H, W]`` (a single ``[C, H, W]`` image gains the batch axis)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a tensor [N, C, H, W]; got {type(images).__name__}")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or not images.is_floating_point():
        raise ConfigError(f"{name} must be a float tensor [N, C, H, W]; got {str(images.dtype).replace('torch.', '')} "
                          f"of shape {list(images.shape)}")
    return images


def resolve_classes(class_index, scores: torch.Tensor) -> torch.Tensor:
    """The explained class of each row of ``scores`` ``[N, K]``: ``class_index`` (an int or one per row) or,
    when ``None``, the predicted class (the arg-max score).

    Raises:
        ConfigError: a class outside ``[0, K)`` (the message names the valid range), or a wrong count.
    """
    n, k = scores.shape
    if class_index is None:
        return scores.argmax(dim=1)
    idx = torch.as_tensor(class_index).reshape(-1)
    if idx.is_floating_point() or idx.dtype == torch.bool:
        raise ConfigError(f"class_index must be an integer class id in [0, {k}); got {class_index!r}")
    idx = idx.long().to(scores.device)
    if len(idx) == 1:
        idx = idx.expand(n)
    if len(idx) != n:
        raise ConfigError(f"class_index must be one class id or one per image ({n}); got {len(idx)} ids")
    bad = (idx < 0) | (idx >= k)
    if bool(bad.any()):
        raise ConfigError(f"class_index must lie in [0, {k - 1}] (the model has {k} classes); "
                          f"got {int(idx[bad][0])}")
    return idx
