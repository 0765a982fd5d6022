"""Activation maximisation: the image a network finds most typical of a class (notes §3.5.2.2, "Generate images").

Simonyan, Vedaldi & Zisserman (2014), §2: starting from a blank image, gradient
ascent on the *input* maximises the regularised pre-softmax class score

    Î = argmax_I  S_c(I) − λ ‖I‖²₂ .

The notes write ``+ λ‖I‖²₂``; as a regulariser the penalty is subtracted (with
``+`` the objective grows without bound as ``‖I‖`` grows), which is the paper's
formula and what this module computes.  Each step is

    I ← I + η ∇_I ( S_c(I) − λ‖I‖²₂ ) = I + η ( ∇_I S_c(I) − 2λ I ),

then clamped to the input range.  Two optional image priors of later work
(Yosinski et al. 2015, "Understanding neural networks through deep
visualization") make the images smoother and more readable: *jitter* (the score
is computed on the image shifted by a random offset of up to ``jitter`` pixels,
so no single pixel pattern is rewarded) and a Gaussian *blur* every
``blur_every`` steps.  For a linear score ``S = w·I`` without clamping the
ascent converges to the closed form ``I* = w / (2λ)`` (for ``η < 1/λ``), which
the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..ops.correlation import filter2d, gaussian_kernel
from ._hooks import class_scores, inspecting

__all__ = ["ActivationMaximization", "maximize_class"]


@dataclass
class ActivationMaximization:
    """The optimised images and what the network says about them.

    Attributes:
        images: ``[K, C, H, W]`` one image per requested class.
        classes: ``[K]`` the target classes.
        scores: ``[K]`` the final class scores ``S_c(Î)`` (pre-softmax).
        probabilities: ``[K]`` the softmax probability of the target class on ``Î``.
        objective: ``[steps]`` the mean objective ``S_c − λ‖I‖²`` over the images at each step.
    """

    images: torch.Tensor
    classes: torch.Tensor
    scores: torch.Tensor
    probabilities: torch.Tensor
    objective: torch.Tensor


def _check_number(name: str, value, *, minimum: float = 0.0, integer: bool = False, strict: bool = False) -> None:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    ok = ok and not isinstance(value, bool) and (value > minimum if strict else value >= minimum)
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name} must be {kind} {'>' if strict else '>='} {minimum:g}; got {value!r}")


def maximize_class(
    model: nn.Module,
    class_index: int | Sequence[int],
    shape: Sequence[int],
    *,
    steps: int = 200,
    lr: float = 0.1,
    l2: float = 1e-2,
    jitter: int = 0,
    blur_every: int = 0,
    blur_sigma: float = 0.5,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    init: torch.Tensor | None = None,
    seed: int = 0,
) -> ActivationMaximization:
    """Gradient ascent on the input for ``S_c(I) − λ‖I‖²₂`` (``λ = l2``), one image per class.

    Args:
        model: a classifier returning pre-softmax scores ``[N, K]`` (evaluated in eval mode; its mode
            and its parameters' ``requires_grad`` are restored, no ``.grad`` is written on them).
        class_index: the target class, or several (one image each).
        shape: ``[C, H, W]`` of an input.
        steps: gradient-ascent steps.
        lr: step size ``η``.
        l2: ``λ`` of the penalty ``λ‖I‖²₂`` (0: none).
        jitter: largest random shift (pixels, circular) of the image at each step (0: none).
        blur_every: blur the images with a Gaussian of ``blur_sigma`` every this many steps (0: never).
        blur_sigma: standard deviation of that blur, in pixels.
        value_range: ``(lo, hi)`` the images are clamped to after each step; ``None``: unbounded.
        init: starting images ``[K, C, H, W]`` (default: the middle of ``value_range``, or zeros,
            plus ``0.01``-scaled Gaussian noise from ``seed``).
        seed: seed of the initial noise and of the jitter.

    Returns:
        :class:`ActivationMaximization`.

    Raises:
        ConfigError: a bad setting (named), a class outside ``[0, K)``.
    """
    _check_number("steps", steps, minimum=1, integer=True)
    _check_number("lr", lr, strict=True)
    _check_number("l2", l2)
    _check_number("jitter", jitter, integer=True)
    _check_number("blur_every", blur_every, integer=True)
    _check_number("blur_sigma", blur_sigma, strict=True)
    if not (isinstance(shape, (tuple, list, torch.Size)) and len(shape) == 3):
        raise ConfigError(f"shape must be an input shape [C, H, W]; got {shape!r}")
    classes = torch.as_tensor(class_index).reshape(-1).long()
    if value_range is not None:
        lo, hi = (float(v) for v in value_range)
        if not lo < hi:
            raise ConfigError(f"value_range must be (lo, hi) with lo < hi; got {value_range!r}")
    g = torch.Generator().manual_seed(int(seed))
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if init is None:
        mid = 0.0 if value_range is None else (lo + hi) / 2
        x = mid + 0.01 * torch.randn(len(classes), *shape, generator=g, dtype=torch.float64)
    else:
        x = init.detach().double().cpu().clone()
        if list(x.shape) != [len(classes), *shape]:
            raise ConfigError(f"init must have shape {[len(classes), *shape]}; got {list(x.shape)}")
    x = x.to(device, dtype)
    kernel = gaussian_kernel(sigma=blur_sigma).to(device, dtype) if blur_every else None
    objective = []
    with inspecting(model), torch.enable_grad():
        k = class_scores(model(x[:1])).shape[1]
        bad = (classes < 0) | (classes >= k)
        if bool(bad.any()):
            raise ConfigError(f"class_index must lie in [0, {k - 1}] (the model has {k} classes); got "
                              f"{int(classes[bad][0])}")
        classes = classes.to(device)
        for step in range(steps):
            x.requires_grad_(True)
            if jitter:
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=g))
                seen = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
            else:
                seen = x
            s = class_scores(model(seen)).gather(1, classes[:, None])[:, 0]  # (K,): images are independent
            penalty = l2 * x.pow(2).flatten(1).sum(dim=1)
            obj = s - penalty
            (grad,) = torch.autograd.grad(obj.sum(), x)
            objective.append(float(obj.detach().mean()))
            with torch.no_grad():
                x = x.detach() + lr * grad
                if kernel is not None and (step + 1) % blur_every == 0:
                    x = filter2d(x, kernel)
                if value_range is not None:
                    x = x.clamp(lo, hi)
        with torch.no_grad():
            final = class_scores(model(x))
    probs = final.float().softmax(dim=1)
    idx = classes[:, None]
    return ActivationMaximization(x.detach(), classes.cpu(), final.gather(1, idx)[:, 0].detach().cpu(),
                                  probs.gather(1, idx)[:, 0].cpu(), torch.tensor(objective, dtype=torch.float64))
