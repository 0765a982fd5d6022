"""Transfer learning and fine-tuning (notes §3.4.2).

The notes' recipe for reusing a network trained on a large dataset:

1. remove the final fully connected layers, specific to the original task;
2. add new fully connected layers for the new problem, randomly initialised
   and with as few parameters as possible;
3. freeze the pre-trained layers and train only the new ones;

then *fine-tune*: unfreeze some or all of the pre-trained layers and train
the whole network at a lower learning rate, so that the new data adapts the
features without destroying what they learned.

:func:`transfer` does steps 1–3 on any zoo classifier
(:class:`~an2dl.models.vision._base.ImageClassifier`): it replaces the whole
top (pooling and every fully connected layer, auxiliary heads included) by a
:class:`TransferHead` on the trunk's feature map and freezes the trunk.
:func:`an2dl.engine.fine_tune` unfreezes the last ``k`` blocks of the trunk (or all) and
returns an :class:`~an2dl.engine.OptimizerSpec` with a lower learning rate
for them — optionally decaying block by block towards the input
("discriminative" learning rates, Howard & Ruder 2018) through
``layer_lr``.

Frozen batch normalisation: a frozen block must not keep updating its
running mean and variance with the new data (that would change the
features the head is trained on), so :func:`freeze` marks its batch-norm
layers, which then run in evaluation mode even when the model is in
training mode (the recommended Keras practice for fine-tuning).  The switch
happens in a forward pre-hook of each marked layer: after ``model.train()``
such a layer reports ``training=True`` until its next call.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import ConfigError
from ._checks import check_positive_int, check_probability
from .summary import count_parameters
from .vision._base import ImageClassifier

__all__ = ["TransferHead", "transfer", "freeze", "unfreeze", "trainable_parameters"]

_FROZEN_FLAG = "an2dl_frozen_bn"
_HOOK_ATTR = "_an2dl_frozen_bn_hook"


class TransferHead(nn.Module):
    """The new top: global average pooling, then one linear layer or a one-hidden-layer MLP.

    ``head="linear"``: ``GAP → dropout → Linear(C, K)``, the minimal head the
    notes recommend; ``head="mlp"``: ``GAP → dropout → Linear(C, hidden) →
    ReLU → dropout → Linear(hidden, K)``.

    Args:
        in_features: channels C of the feature map.
        num_classes: output units K.
        hidden: width of the hidden layer (``None``: linear head).
        dropout: dropout probability before each linear layer.

    Shape:
        ``[B, C, h, w]`` (or already pooled ``[B, C]``) -> ``[B, K]``.
    """

    def __init__(self, in_features: int, num_classes: int, *, hidden: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        check_positive_int("TransferHead", "in_features", in_features)
        check_positive_int("TransferHead", "num_classes", num_classes)
        p = check_probability("TransferHead", "dropout", dropout)
        layers: list[nn.Module] = [nn.Dropout(p)]
        if hidden is not None:
            check_positive_int("TransferHead", "hidden", hidden)
            layers += [nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(p)]
            in_features = hidden
        layers.append(nn.Linear(in_features, num_classes))
        self.mlp = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() == 4:
            features = features.mean(dim=(2, 3))  # global average pooling: (B, C, h, w) -> (B, C)
        return self.mlp(features)


def _keep_eval(module: nn.Module, args: tuple) -> None:
    # forward pre-hook of a frozen batch-norm layer: normalise with the running statistics, never update them
    if getattr(module, _FROZEN_FLAG, False) and module.training:
        module.eval()


def _select(model: nn.Module, prefixes: Iterable[str] | None) -> list[tuple[str, nn.Module]]:
    if prefixes is None:
        return [("", model)]
    modules = dict(model.named_modules())
    out = []
    for p in prefixes:
        if p not in modules:
            raise ConfigError(f"no sub-module named {p!r} in {type(model).__name__}")
        out.append((p, modules[p]))
    return out


def freeze(model: nn.Module, prefixes: Iterable[str] | None = None, *, bn_eval: bool = True) -> int:
    """Stop training the sub-modules named in ``prefixes`` (all of ``model`` when ``None``).

    Sets ``requires_grad=False`` on their parameters and, with ``bn_eval``,
    keeps their batch-norm layers in evaluation mode (see the module docstring).

    Returns:
        The number of parameters frozen.

    Raises:
        ConfigError: a name in ``prefixes`` is not a sub-module of ``model``.
    """
    count = 0
    for _, module in _select(model, prefixes):
        for p in module.parameters():
            if p.requires_grad:
                count += p.numel()
            p.requires_grad_(False)
        if bn_eval:
            for m in module.modules():
                if isinstance(m, _BatchNorm):
                    setattr(m, _FROZEN_FLAG, True)
                    if getattr(m, _HOOK_ATTR, None) is None:
                        setattr(m, _HOOK_ATTR, m.register_forward_pre_hook(_keep_eval))
                    m.eval()
    return count


def unfreeze(model: nn.Module, prefixes: Iterable[str] | None = None, *, train_bn: bool = True) -> int:
    """Train the sub-modules named in ``prefixes`` again (all of ``model`` when ``None``).

    Args:
        train_bn: let their batch-norm layers follow the model's training mode
            again (``False`` keeps them in evaluation mode while their γ, β train).

    Returns:
        The number of parameters unfrozen.
    """
    count = 0
    for _, module in _select(model, prefixes):
        for p in module.parameters():
            if not p.requires_grad:
                count += p.numel()
            p.requires_grad_(True)
        if train_bn:
            for m in module.modules():
                if isinstance(m, _BatchNorm) and getattr(m, _FROZEN_FLAG, False):
                    setattr(m, _FROZEN_FLAG, False)
                    handle = getattr(m, _HOOK_ATTR, None)
                    if handle is not None:
                        handle.remove()
                        setattr(m, _HOOK_ATTR, None)
                    m.train(model.training)
    return count


def trainable_parameters(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad=True``."""
    return count_parameters(model, trainable_only=True)


def transfer(
    model: nn.Module,
    num_classes: int,
    *,
    head: str = "linear",
    hidden: int = 256,
    dropout: float = 0.0,
) -> ImageClassifier:
    """Steps 1–3 of §3.4.2: replace the top by a new head for ``num_classes`` and freeze the trunk.

    Args:
        model: a pre-trained zoo classifier (any :class:`ImageClassifier`).
        num_classes: classes of the new task.
        head: ``"linear"`` (pooling + one FC layer: the minimal head) or
            ``"mlp"`` (pooling + FC ``hidden`` + ReLU + FC).
        hidden: hidden width of the ``"mlp"`` head.
        dropout: dropout before each new FC layer.

    Returns:
        ``model`` itself, modified: ``model.head`` is the new
        :class:`TransferHead` (the only trainable part) and the trunk's
        batch-norm layers stay in evaluation mode.  The model's registry spec records
        the transfer, so :func:`an2dl.export.export` and :func:`an2dl.load` rebuild it.

    Raises:
        TypeError: ``model`` is not a zoo classifier.
        ConfigError: bad ``num_classes``, ``head``, ``hidden`` or ``dropout``.
    """
    if not isinstance(model, ImageClassifier):
        raise TypeError(
            f"transfer needs a zoo classifier (an ImageClassifier with forward_features and stages); "
            f"got {type(model).__name__}"
        )
    check_positive_int("transfer", "num_classes", num_classes)
    if head not in ("linear", "mlp"):
        raise ConfigError(f"transfer head must be 'linear' or 'mlp'; got {head!r}")
    new_head = TransferHead(model.num_features, num_classes, hidden=hidden if head == "mlp" else None, dropout=dropout)
    ref = next(model.parameters(), None)
    if ref is not None:
        new_head = new_head.to(device=ref.device, dtype=ref.dtype)
    model.replace_head(new_head, num_classes=num_classes)
    freeze(model)
    unfreeze(model, ["head"])
    spec = getattr(model, "an2dl_spec", None)
    if spec is not None:  # exported models are rebuilt as get_model(...) then transfer(...)
        model.an2dl_spec = {**spec, "transfer": {"num_classes": num_classes, "head": head, "hidden": hidden,
                                                 "dropout": dropout}}
    return model


