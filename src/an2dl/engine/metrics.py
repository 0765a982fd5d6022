"""Metric declarations: a task names its metrics, the Task base builds and logs them per split.

A task declares ``{log name: metric(registry name, **kwargs)}`` once; the
base class (:meth:`an2dl.engine.Task.declare_metrics`) builds one
``torchmetrics.MetricCollection`` for each split (``train``, ``val``,
``test``) and :meth:`~an2dl.engine.Task.update_metrics` updates the split's
collection and logs it.  A metric whose ``compute()`` returns a dict (the
mean average precision of detection) is logged key by key (``val/map``,
``val/map_50``, ...); a non-scalar result (a confusion matrix, per-class IoU)
is kept as an artifact for the report.

Registered names (``metric_names()``):

=========================  ============================================  ====================================
name                       torchmetrics object                           update arguments
=========================  ============================================  ====================================
``accuracy``               ``MulticlassAccuracy(num_classes, top_k,      logits ``[B, K]`` (or ``[B, K, ...]``),
                           average="micro")``                            class ids ``[B]`` (``[B, ...]``)
``confusion_matrix``       ``MulticlassConfusionMatrix(num_classes)``    as ``accuracy``
``binary_accuracy``        ``BinaryAccuracy(threshold)``                 probabilities ``[B]``, 0/1 ``[B]``
``mse`` / ``mae``          ``MeanSquaredError`` / ``MeanAbsoluteError``  predictions, targets (same shape)
``rmse``                   ``MeanSquaredError(squared=False)``           as ``mse``
``perplexity``             token perplexity ``exp(Σ NLL / #tokens)``     summed NLL (nats), token count
``mean_iou``               ``MulticlassJaccardIndex(average="macro")``   logits/ids ``[B, K, H, W]``, ids ``[B, H, W]``
``iou_per_class``          ``MulticlassJaccardIndex(average="none")``    as ``mean_iou`` (an artifact)
``pixel_accuracy``         ``MulticlassAccuracy(average="micro")``       as ``mean_iou``
``dice``                   ``MulticlassF1Score(average="macro")``: the   as ``mean_iou``
                           Dice coefficient 2TP / (2TP + FP + FN)
                           averaged over classes
``class_iou``              IoU of each class, logged as                  as ``mean_iou``
                           ``iou_<class name>`` (``class_names``)
``mean_average_precision`` an2dl's COCO ``MeanAveragePrecision``         list of prediction dicts, list of
                           (``engine/detection_metrics.py``; kwargs      target dicts (detection convention)
                           ``box_format``, ``iou_thresholds``,
                           ``max_detection_thresholds``,
                           ``class_metrics``)
=========================  ============================================  ====================================
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..errors import ConfigError, UnknownNameError
from ..registry import close_matches

__all__ = ["MetricSpec", "metric", "build_metric", "metric_names", "SPLITS", "register_metric"]

#: the splits that own a metric collection
SPLITS = ("train", "val", "test")

_FACTORIES: dict[str, Callable[..., Any]] = {}


def register_metric(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``factory(**kwargs) -> torchmetrics.Metric`` under ``name`` (a duplicate is an error)."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _FACTORIES:
            raise ConfigError(f"a metric named {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory

    return deco


def metric_names() -> list[str]:
    """Names accepted by :func:`metric`."""
    return sorted(_FACTORIES)


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """A declared metric: registry ``name``, constructor ``kwargs`` and the ``splits`` it is computed on."""

    name: str
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    splits: tuple[str, ...] = SPLITS


def metric(name: str, *, splits: tuple[str, ...] | list[str] = SPLITS, **kwargs: Any) -> MetricSpec:
    """Declare a metric by registry name (see the module docstring).

    Args:
        name: a registered metric name.
        splits: the splits on which it is computed (default all three).
        **kwargs: constructor arguments (``num_classes``, ``top_k``, ``ignore_index``, ...).

    Raises:
        UnknownNameError: ``name`` is not registered (the closest names are listed).
        ConfigError: a split outside ``train``/``val``/``test``.
    """
    if name not in _FACTORIES:
        near = close_matches(name, list(_FACTORIES))
        hint = f"; did you mean {', '.join(map(repr, near))}?" if near else ""
        raise UnknownNameError(f"unknown metric {name!r}{hint} Known metrics: {', '.join(metric_names())}")
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise ConfigError(f"metric {name!r} splits must be a non-empty subset of {SPLITS}; got {tuple(splits)}")
    return MetricSpec(name, dict(kwargs), tuple(splits))


def build_metric(spec: MetricSpec | str) -> Any:
    """The torchmetrics object of a declaration (a bare name means ``metric(name)``)."""
    if isinstance(spec, str):
        spec = metric(spec)
    if not isinstance(spec, MetricSpec):
        raise ConfigError(f"a metric declaration must be metric(name, ...) or a metric name; got {type(spec).__name__}")
    try:
        return _FACTORIES[spec.name](**spec.kwargs)
    except TypeError as exc:
        raise ConfigError(f"metric {spec.name!r}: bad arguments {dict(spec.kwargs)} ({exc})") from None


# --------------------------------------------------------------------------------------------- the registry
@register_metric("accuracy")
def _accuracy(*, num_classes: int, top_k: int = 1, ignore_index: int | None = None) -> Any:
    from torchmetrics.classification import MulticlassAccuracy

    return MulticlassAccuracy(num_classes, top_k=top_k, average="micro", ignore_index=ignore_index)


@register_metric("pixel_accuracy")
def _pixel_accuracy(*, num_classes: int, ignore_index: int | None = None) -> Any:
    return _accuracy(num_classes=num_classes, ignore_index=ignore_index)


@register_metric("confusion_matrix")
def _confusion(*, num_classes: int, ignore_index: int | None = None) -> Any:
    from torchmetrics.classification import MulticlassConfusionMatrix

    return MulticlassConfusionMatrix(num_classes, ignore_index=ignore_index)


@register_metric("binary_accuracy")
def _binary_accuracy(*, threshold: float = 0.5) -> Any:
    from torchmetrics.classification import BinaryAccuracy

    return BinaryAccuracy(threshold=threshold)


@register_metric("mse")
def _mse() -> Any:
    from torchmetrics import MeanSquaredError

    return MeanSquaredError()


@register_metric("rmse")
def _rmse() -> Any:
    from torchmetrics import MeanSquaredError

    return MeanSquaredError(squared=False)


@register_metric("mae")
def _mae() -> Any:
    from torchmetrics import MeanAbsoluteError

    return MeanAbsoluteError()


@register_metric("mean_iou")
def _mean_iou(*, num_classes: int, ignore_index: int | None = None) -> Any:
    from torchmetrics.classification import MulticlassJaccardIndex

    return MulticlassJaccardIndex(num_classes, average="macro", ignore_index=ignore_index)


@register_metric("iou_per_class")
def _iou_per_class(*, num_classes: int, ignore_index: int | None = None) -> Any:
    from torchmetrics.classification import MulticlassJaccardIndex

    return MulticlassJaccardIndex(num_classes, average="none", ignore_index=ignore_index)


@register_metric("dice")
def _dice(*, num_classes: int, ignore_index: int | None = None) -> Any:
    # per class, F1 = 2 TP / (2 TP + FP + FN) is the Dice coefficient of the predicted and true masks
    from torchmetrics.classification import MulticlassF1Score

    return MulticlassF1Score(num_classes, average="macro", ignore_index=ignore_index)


@register_metric("class_iou")
def _class_iou(*, num_classes: int, class_names: list[str] | None = None, ignore_index: int | None = None) -> Any:
    return _class_iou_class()(num_classes, class_names=class_names, ignore_index=ignore_index)


@functools.cache
def _class_iou_class() -> type:
    from torchmetrics.classification import MulticlassJaccardIndex

    class ClassIoU(MulticlassJaccardIndex):
        """Intersection over union of every class, computed as ``{"iou_<name>": value}`` (notes §3.5.1)."""

        def __init__(self, num_classes: int, *, class_names: list[str] | None = None,
                     ignore_index: int | None = None) -> None:
            super().__init__(num_classes, average="none", ignore_index=ignore_index)
            names = list(class_names) if class_names else [str(k) for k in range(num_classes)]
            if len(names) != num_classes:
                raise ConfigError(f"class_iou needs one class name per class ({num_classes}); got {len(names)}")
            self.class_names = names

        def compute(self) -> dict[str, torch.Tensor]:
            values = super().compute()
            return {f"iou_{name}": v for name, v in zip(self.class_names, values)}

    return ClassIoU


@register_metric("mean_average_precision")
def _map(
    *,
    box_format: str = "xyxy",
    iou_thresholds: list[float] | None = None,
    max_detection_thresholds: list[int] | None = None,
    class_metrics: bool = False,
) -> Any:
    # imported on first use, like torchmetrics itself (see _perplexity_class)
    from .detection_metrics import MeanAveragePrecision

    return MeanAveragePrecision(
        box_format=box_format,
        iou_thresholds=iou_thresholds,
        max_detection_thresholds=max_detection_thresholds,
        class_metrics=class_metrics,
    )


@register_metric("bleu")
def _bleu(*, max_n: int = 4) -> Any:
    from .bleu import bleu_metric_class

    return bleu_metric_class()(max_n)


@register_metric("perplexity")
def _perplexity() -> Any:
    return _perplexity_class()()


@functools.cache
def _perplexity_class() -> type:
    # defined on first use: importing torchmetrics costs a second, which listing recipes should not pay
    from torchmetrics import Metric

    class TokenPerplexity(Metric):
        """Perplexity ``exp(Σ NLL / #tokens)`` of every token seen since the last reset (notes §4.2.3)."""

        full_state_update = False

        def __init__(self) -> None:
            super().__init__()
            self.add_state("nll", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state("count", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

        def update(self, nll_sum: torch.Tensor, count: torch.Tensor | int) -> None:
            self.nll += nll_sum.detach().to(self.nll)
            self.count += torch.as_tensor(count, dtype=torch.float64, device=self.count.device)

        def compute(self) -> torch.Tensor:
            return torch.exp(self.nll / self.count)

    return TokenPerplexity

