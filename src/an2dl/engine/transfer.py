"""Fine-tuning a transferred network (notes §3.4.2): unfreeze the top blocks, lower their learning rates.

:func:`fine_tune` unfreezes the last ``k`` blocks of a zoo classifier's trunk
(or all of them) and returns the :class:`~an2dl.engine.OptimizerSpec` that
trains them at a lower learning rate than the new head — optionally decaying
block by block towards the input ("discriminative" learning rates, Howard &
Ruder 2018) through ``layer_lr``.  The freezing itself is
:mod:`an2dl.models.transfer`'s; this module only adds the optimiser side, which
belongs to the engine.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError
from ..models.transfer import unfreeze
from ..models.vision._base import ImageClassifier
from .optim import OptimizerSpec, ScheduleSpec

__all__ = ["fine_tune"]


def fine_tune(
    model: nn.Module,
    *,
    blocks: int | str = "all",
    lr: float = 1e-4,
    head_lr: float | None = None,
    decay: float = 1.0,
    optimizer: str = "adam",
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    schedule: ScheduleSpec | None = None,
    prefix: str = "model",
    train_bn: bool = True,
) -> OptimizerSpec:
    """Fine-tuning (§3.4.2): unfreeze the last ``blocks`` trunk blocks and give them a low learning rate.

    The trunk's blocks are ``model.stages()`` (input to output).  The block
    next to the head gets ``lr``, the one below ``lr·decay``, then
    ``lr·decay²``, …: ``decay=1`` is one low learning rate for the whole
    unfrozen trunk, ``decay<1`` gives discriminative learning rates.  The
    head trains at ``head_lr`` (default ``lr``).

    Args:
        model: a classifier prepared by :func:`transfer` (or any zoo classifier).
        blocks: how many blocks to unfreeze, counted from the top, or ``"all"``.
        lr: learning rate of the topmost unfrozen block.
        head_lr: learning rate of the head (and of anything else trainable).
        decay: factor per block towards the input, in (0, 1].
        optimizer, momentum, weight_decay, schedule: of the returned spec.
        prefix: the model's attribute path inside the task the spec is used
            with (``ClassificationTask`` keeps it as ``model``; ``""`` for the
            model itself).
        train_bn: let the unfrozen blocks' batch norms update their statistics.

    Returns:
        An :class:`OptimizerSpec` with ``layer_lr`` set per unfrozen block.

    Raises:
        TypeError: ``model`` is not a zoo classifier.
        ConfigError: bad ``blocks``, ``lr``, ``head_lr`` or ``decay``.
    """
    if not isinstance(model, ImageClassifier):
        raise TypeError(f"fine_tune needs a zoo classifier (an ImageClassifier); got {type(model).__name__}")
    stages = model.stages()
    n = len(stages)
    if blocks == "all":
        k = n
    elif isinstance(blocks, int) and not isinstance(blocks, bool) and 0 <= blocks <= n:
        k = blocks
    else:
        raise ConfigError(f"fine_tune blocks must be 'all' or an integer in [0, {n}] for {type(model).__name__}; got {blocks!r}")
    for name, value in (("lr", lr), ("head_lr", lr if head_lr is None else head_lr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"fine_tune {name} must be a positive number; got {value!r}")
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay <= 1:
        raise ConfigError(f"fine_tune decay must be a number in (0, 1]; got {decay!r}")
    chosen = stages[n - k:]
    layer_lr: dict[str, float] = {}
    for depth, stage in enumerate(reversed(chosen)):
        unfreeze(model, stage, train_bn=train_bn)
        for name in stage:
            layer_lr[f"{prefix}.{name}" if prefix else name] = float(lr) * float(decay) ** depth
    return OptimizerSpec(optimizer, lr=float(lr if head_lr is None else head_lr), momentum=momentum,
                         weight_decay=weight_decay, layer_lr=layer_lr, schedule=schedule)
