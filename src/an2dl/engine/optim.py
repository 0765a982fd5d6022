"""Optimiser and learning-rate schedule specifications (DESIGN §5).

An :class:`OptimizerSpec` is a small, serialisable description of an optimiser
that the trainer turns into a ``torch.optim`` object once it knows the model and
the length of training.  It covers the notes' §2.3.1: plain (batch, stochastic
or mini-batch) gradient descent, momentum, Nesterov, per-layer learning rates,
and the adaptive methods used in practice (Adam, AdamW, RMSprop).

Weight decay: for ``sgd``, ``adam`` and ``rmsprop`` ``weight_decay=λ`` adds
``λ·w`` to the gradient, i.e. the gradient of the penalty ``(λ/2)‖w‖²`` of the
notes' §2.5.3; for ``adamw`` it is the decoupled decay of Loshchilov & Hutter
(2019), ``w ← w − lr·λ·w`` applied outside the adaptive step.

The ``inverse_sqrt`` schedule is the Transformer's (Vaswani et al. 2017, §5.3;
the notes are silent on schedules for §4.4): at optimiser step ``s``, counted
from 1, the rate is ``lr · min(s / w, √(w / s))`` — a linear warm-up over ``w``
steps to the peak ``lr``, then decay as ``1/√s``.  The paper writes the peak as
``d_model^-0.5 · w^-0.5``; here it is the optimiser's ``lr``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["OptimizerSpec", "ScheduleSpec", "build_optimizer", "build_scheduler", "inverse_sqrt_factor",
           "param_groups"]

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "nag")
SCHEDULES = ("constant", "step", "multistep", "exponential", "cosine", "onecycle", "plateau", "inverse_sqrt")


def inverse_sqrt_factor(step: int, warmup_steps: int) -> float:
    """The ``inverse_sqrt`` schedule's factor of the peak rate at optimiser step ``step`` (counted from 1):
    ``min(step / w, √(w / step))``, 1 at ``step = w`` (Vaswani et al. 2017, §5.3, with the peak factored out).

    Raises:
        ConfigError: ``warmup_steps`` or ``step`` not a positive integer.
    """
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 1:
        raise ConfigError(f"warmup_steps must be a positive integer; got {warmup_steps!r}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ConfigError(f"step must be a positive integer (optimiser steps are counted from 1); got {step!r}")
    return min(step / warmup_steps, math.sqrt(warmup_steps / step))


@dataclass
class ScheduleSpec:
    """A learning-rate schedule.

    ``name`` is one of ``constant``, ``step`` (×gamma every ``step_size``),
    ``multistep`` (×gamma at each of ``milestones``), ``exponential`` (×gamma
    each interval), ``cosine`` (cosine annealing to ``eta_min`` over ``t_max``
    intervals, default: the whole run), ``onecycle`` (Smith's one-cycle policy
    peaking at ``max_lr``, default 10× the base rate), ``plateau`` (×factor
    when ``monitor`` has not improved for ``patience`` validations),
    ``inverse_sqrt`` (the Transformer's ``min(s / w, √(w / s))`` with
    ``w = warmup_steps``, see :func:`inverse_sqrt_factor`; needs
    ``interval="step"`` and ``warmup_steps`` ≥ 1).
    For the other schedules ``warmup_steps`` > 0 prepends a linear warm-up
    (always counted in optimiser steps) from ``warmup_start_factor``·lr to lr.
    """

    name: str = "constant"
    interval: str = "epoch"  # "epoch" or "step": when the schedule advances
    step_size: int = 10  # step: intervals between decays
    milestones: tuple[int, ...] = ()  # multistep: intervals at which to decay
    gamma: float = 0.1  # step/multistep/exponential: decay factor
    t_max: int | None = None  # cosine: intervals of one half-period (None: the whole run)
    eta_min: float = 0.0  # cosine: final learning rate
    max_lr: float | None = None  # onecycle: peak learning rate (None: 10 x base lr)
    pct_start: float = 0.3  # onecycle: fraction of the cycle spent increasing
    factor: float = 0.1  # plateau: decay factor
    patience: int = 5  # plateau: validations without improvement before decaying
    monitor: str = "val/loss"  # plateau: metric watched
    mode: str = "min"  # plateau: "min" or "max"
    warmup_steps: int = 0  # linear warm-up length in optimiser steps (0: none); inverse_sqrt: its w
    warmup_start_factor: float = 0.01  # warm-up starts at this fraction of lr

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ConfigError(f"schedule name must be one of {SCHEDULES}; got {self.name!r}")
        if self.interval not in ("epoch", "step"):
            raise ConfigError(f"schedule interval must be 'epoch' or 'step'; got {self.interval!r}")
        if self.mode not in ("min", "max"):
            raise ConfigError(f"schedule mode must be 'min' or 'max'; got {self.mode!r}")
        if self.name == "inverse_sqrt":
            if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) \
                    or self.warmup_steps < 1:
                raise ConfigError(f"the inverse_sqrt schedule needs warmup_steps, its warm-up length w, as a "
                                  f"positive integer; got {self.warmup_steps!r}")
            if self.interval != "step":
                raise ConfigError(f"the inverse_sqrt schedule advances every optimiser step; set interval='step' "
                                  f"(got {self.interval!r})")
        if self.name != "inverse_sqrt" and self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0; got {self.warmup_steps}")
        self.milestones = tuple(self.milestones)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class OptimizerSpec:
    """A serialisable optimiser description, built by the trainer.

    Args:
        name: ``sgd``, ``adam``, ``adamw``, ``rmsprop`` or ``nag`` (Nesterov's
            accelerated gradient as a prediction and a correction step, :class:`an2dl.engine.gd.Nesterov`;
            same trajectory as ``sgd`` with ``nesterov=True``).
        lr: base learning rate η.
        momentum: momentum coefficient α (SGD, RMSprop).
        nesterov: Nesterov accelerated gradient (SGD; needs ``momentum > 0``).
        weight_decay: λ (see the module docstring for coupled vs decoupled).
        betas, eps: Adam/AdamW moments and denominator term.
        alpha: RMSprop smoothing constant.
        layer_lr: per-layer learning rates, ``{module-name prefix: lr}``; the
            longest matching prefix wins (notes §2.3.1, "layers learning rate").
        params: module-name prefix selecting the parameters this optimiser owns
            (``None``: all); GANs use one spec per player.
        schedule: optional :class:`ScheduleSpec`.
    """

    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    alpha: float = 0.99
    layer_lr: dict[str, float] = field(default_factory=dict)
    params: str | None = None
    schedule: ScheduleSpec | None = None

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(f"optimizer name must be one of {OPTIMIZERS}; got {self.name!r}")
        if not (_is_number(self.lr) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"optimizer lr must be a positive number, finite (not inf or nan); got {self.lr!r}")
        for name in ("momentum", "weight_decay", "eps", "alpha"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"optimizer {name} must be >= 0 and finite (not inf or nan); got {value!r}")
        if self.nesterov and (self.name != "sgd" or self.momentum <= 0):
            raise ConfigError("nesterov=True needs name='sgd' and momentum > 0")
        for prefix, lr in self.layer_lr.items():
            if not (_is_number(lr) and math.isfinite(lr) and lr >= 0):
                raise ConfigError(f"layer_lr[{prefix!r}] must be a number >= 0, finite (not inf or nan); got {lr!r}")
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        if isinstance(self.schedule, dict):
            self.schedule = ScheduleSpec(**self.schedule)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def param_groups(module: nn.Module, spec: OptimizerSpec) -> list[dict[str, Any]]:
    """Parameter groups of ``module`` for ``spec``: one per ``layer_lr`` prefix plus the rest.

    Raises:
        ConfigError: when ``spec.params`` or a ``layer_lr`` prefix matches no parameter.
    """
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    if spec.params is not None:
        named = [(n, p) for n, p in named if n == spec.params or n.startswith(spec.params + ".")]
        if not named:
            raise ConfigError(f"optimizer params={spec.params!r} matches no trainable parameter")
    prefixes = sorted(spec.layer_lr, key=len, reverse=True)
    groups: dict[str | None, list[nn.Parameter]] = {p: [] for p in prefixes}
    groups[None] = []
    for n, p in named:
        match = next((q for q in prefixes if n == q or n.startswith(q + ".") or q == ""), None)
        groups[match].append(p)
    for q in prefixes:
        if not groups[q]:
            raise ConfigError(f"layer_lr prefix {q!r} matches no trainable parameter")
    out = [{"params": groups[q], "lr": spec.layer_lr[q], "name": q} for q in prefixes]
    if groups[None]:
        out.append({"params": groups[None], "lr": spec.lr, "name": "default"})
    if not out:
        raise ConfigError("the optimizer has no trainable parameters")
    return out


def build_optimizer(module: nn.Module, spec: OptimizerSpec) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimiser described by ``spec`` over ``module``'s parameters."""
    groups = param_groups(module, spec)
    common = {"lr": spec.lr, "weight_decay": spec.weight_decay}
    if spec.name == "sgd":
        return torch.optim.SGD(groups, momentum=spec.momentum, nesterov=spec.nesterov, **common)
    if spec.name == "adam":
        return torch.optim.Adam(groups, betas=spec.betas, eps=spec.eps, **common)
    if spec.name == "adamw":
        return torch.optim.AdamW(groups, betas=spec.betas, eps=spec.eps, **common)
    if spec.name == "nag":
        from .gd import Nesterov

        return Nesterov(groups, momentum=spec.momentum, **common)
    return torch.optim.RMSprop(groups, alpha=spec.alpha, eps=spec.eps, momentum=spec.momentum, **common)


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    spec: ScheduleSpec | None,
    *,
    total_steps: int,
    steps_per_epoch: int,
) -> Any | None:
    """The scheduler for ``spec`` (``None`` when there is none).

    Args:
        total_steps: optimiser steps in the whole run (for ``onecycle`` and
            default ``cosine`` lengths).
        steps_per_epoch: optimiser steps per epoch.
    """
    if spec is None or (spec.name == "constant" and spec.warmup_steps == 0):
        return None
    S = torch.optim.lr_scheduler
    per_interval = 1 if spec.interval == "step" else steps_per_epoch
    total_intervals = max(1, math.ceil(total_steps / per_interval))
    if spec.name == "constant":
        main = S.ConstantLR(optimizer, factor=1.0, total_iters=0)
    elif spec.name == "step":
        main = S.StepLR(optimizer, step_size=spec.step_size, gamma=spec.gamma)
    elif spec.name == "multistep":
        main = S.MultiStepLR(optimizer, milestones=list(spec.milestones), gamma=spec.gamma)
    elif spec.name == "exponential":
        main = S.ExponentialLR(optimizer, gamma=spec.gamma)
    elif spec.name == "cosine":
        main = S.CosineAnnealingLR(optimizer, T_max=spec.t_max or total_intervals, eta_min=spec.eta_min)
    elif spec.name == "inverse_sqrt":
        w = spec.warmup_steps

        def factor(done: int) -> float:  # LambdaLR counts the steps taken; the next one is done + 1
            return inverse_sqrt_factor(done + 1, w)

        return S.LambdaLR(optimizer, factor)  # the warm-up is part of the schedule, not prepended
    elif spec.name == "onecycle":
        if spec.interval != "step":
            raise ConfigError("the onecycle schedule advances every optimiser step; set interval='step'")
        max_lr = spec.max_lr or [10 * g["lr"] for g in optimizer.param_groups]
        main = S.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=spec.pct_start)
    else:
        if spec.warmup_steps:
            raise ConfigError("warm-up cannot be combined with the plateau schedule")
        return S.ReduceLROnPlateau(optimizer, mode=spec.mode, factor=spec.factor, patience=spec.patience)
    if spec.warmup_steps:
        if spec.interval != "step":
            raise ConfigError("a warm-up is counted in optimiser steps; set the schedule's interval='step'")
        warm = S.LinearLR(optimizer, start_factor=spec.warmup_start_factor, total_iters=spec.warmup_steps)
        return S.SequentialLR(optimizer, [warm, main], milestones=[spec.warmup_steps])
    return main
