"""The interface shared by every image classifier of the zoo (notes §3.4.2).

Every architecture of the zoo (AlexNet … EfficientNet) derives from
:class:`ImageClassifier`, so that one piece of code can train, inspect and
transfer any of them:

* ``forward_features(x)``: the convolutional trunk, ``[B, C_in, H, W] ->
  [B, num_features, h, w]`` (an unpooled feature map);
* ``forward_head(features)``: pooling and the top layers, ``-> [B, num_classes]``;
* ``forward(x) = forward_head(forward_features(x))``;
* ``reset_classifier(num_classes)``: a freshly initialised output layer;
* ``stages()``: the trunk as an ordered list of blocks (input to output),
  each a tuple of sub-module names: what ``fine_tune`` unfreezes "from the top";
* ``replace_head(head)``: remove the top layers of the original task and
  install ``head`` (a module mapping the feature map to logits);
* ``feature_info`` and ``forward_intermediates(x, indices)``: the trunk's
  intermediate feature maps, for detection, feature pyramids, U-Net encoders
  and class activation maps (see :class:`FeatureMapsMixin`);
* attributes ``in_channels``, ``num_classes``, ``num_features``,
  ``default_input_size`` and ``min_input_size`` (the smallest square input the
  network accepts in its current configuration; smaller inputs are rejected
  with a message that gives it).

Feature maps (the interface of timm's ``feature_info`` and
``forward_intermediates``).  ``feature_info`` lists the trunk's stages from
input to output, each a :class:`FeatureStage` ``(num_chs, reduction, module)``:
the map's channels, its total stride with respect to the input, and the dotted
name of the sub-module whose output it is.  The stages are fixed per family:
in the ImageNet layout, the last map computed at each resolution (the output
of the block or activation just before the next downsampling), and the
trunk's output as the last stage, so that ``forward_intermediates(x)[-1]``
equals ``forward_features(x)``.  The small-input variant and dilated ResNets
keep the same modules; only the reductions change, and two stages may then
share one.  ``stages()`` is a different partition: it groups the trunk's
*parameters* for fine-tuning.

Small inputs: every family accepts ``small_input=True``, a CIFAR-style variant
for 28×28 and 32×32 images (a stride-1 stem without the early pooling, or the
family's published small-image layout), so that each family trains on MNIST
on a CPU.  Such a variant changes at most the stem's shape and the top
layers' sizes: it cannot load ImageNet weights into those layers.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import ConfigError
from .._checks import check_positive_int, check_probability

__all__ = [
    "FeatureStage",
    "FeatureInfo",
    "FeatureMapsMixin",
    "make_feature_info",
    "feature_info_of_chain",
    "ImageClassifier",
    "check_positive_int",
    "check_probability",
]


# ---------------------------------------------------------------------- feature maps
@dataclass(frozen=True)
class FeatureStage:
    """One stage of a backbone: the map that ``module`` outputs.

    Attributes:
        num_chs: channels C of the map.
        reduction: total stride r with respect to the input: an ``H × W`` input
            gives a map of about ``H / r × W / r`` (see
            :meth:`FeatureMapsMixin.forward_intermediates` for the rounding).
        module: dotted name of the sub-module whose output is the map
            (``model.get_submodule(module)``).
    """

    num_chs: int
    reduction: int
    module: str

    def __post_init__(self) -> None:
        for name in ("num_chs", "reduction"):
            check_positive_int("FeatureStage", name, getattr(self, name))
        if not isinstance(self.module, str) or not self.module:
            raise ConfigError(f"FeatureStage module must be a non-empty dotted module name; got {self.module!r}")


class FeatureInfo(tuple[FeatureStage, ...]):
    """The stages of a backbone from input to output (timm's ``feature_info``), an immutable sequence.

    ``info[i]`` is the :class:`FeatureStage` of stage ``i``; :meth:`channels`,
    :meth:`reduction` and :meth:`module_names` read one field of every stage
    (or of the stages ``indices`` selects, as
    :meth:`FeatureMapsMixin.forward_intermediates` selects them).

    Args:
        stages: the stages, input to output, with non-decreasing reductions.
    """

    def __new__(cls, stages: Iterable[FeatureStage] = ()) -> FeatureInfo:
        stages = tuple(stages)
        for s in stages:
            if not isinstance(s, FeatureStage):
                raise TypeError(f"FeatureInfo stages must be FeatureStage objects; got {type(s).__name__}")
        for a, b in zip(stages[:-1], stages[1:]):
            if b.reduction < a.reduction:
                raise ConfigError(
                    f"FeatureInfo reductions must not decrease from input to output; got "
                    f"{[s.reduction for s in stages]}"
                )
        return super().__new__(cls, stages)

    def resolve(self, indices: int | Sequence[int] | None, *, owner: str = "forward_intermediates") -> list[int]:
        """Non-negative stage indices for ``indices``.

        ``None``: every stage; an ``int`` n: the last n stages; a sequence:
        those stages in that order (negative indices count from the last).

        Raises:
            TypeError: ``indices`` is not ``None``, an int or a sequence of ints.
            ValueError: an index out of range, ``n`` outside ``1..len(self)``, an empty sequence.
        """
        n = len(self)
        if n == 0:
            raise ConfigError(f"{owner}: this model declares no feature stages (empty feature_info)")
        if indices is None:
            return list(range(n))
        if isinstance(indices, bool) or isinstance(indices, (str, bytes)):
            raise TypeError(
                f"{owner} indices must be None, an int or a sequence of ints; got {type(indices).__name__} {indices!r}"
            )
        if isinstance(indices, int):
            if not 1 <= indices <= n:
                raise ValueError(
                    f"{owner} indices: an int takes the last n stages and must be in 1..{n} ({n} stages); "
                    f"got {indices}"
                )
            return list(range(n - indices, n))
        if not isinstance(indices, Sequence):
            raise TypeError(
                f"{owner} indices must be None, an int or a sequence of ints; got {type(indices).__name__} {indices!r}"
            )
        if len(indices) == 0:
            raise ValueError(f"{owner} indices must select at least one stage; got an empty {type(indices).__name__}")
        out = []
        for i in indices:
            if isinstance(i, bool) or not isinstance(i, int):
                raise TypeError(f"{owner} indices must be ints; got {i!r} ({type(i).__name__}) in {list(indices)!r}")
            if not -n <= i < n:
                raise ValueError(
                    f"{owner} indices: stage index {i} is out of range; valid stage indices are {-n}..{n - 1} "
                    f"({n} stages); got {list(indices)!r}"
                )
            out.append(i % n)
        return out

    def channels(self, indices: int | Sequence[int] | None = None) -> list[int]:
        """``num_chs`` of the selected stages (default: all)."""
        return [self[i].num_chs for i in self.resolve(indices, owner="FeatureInfo.channels")]

    def reduction(self, indices: int | Sequence[int] | None = None) -> list[int]:
        """``reduction`` of the selected stages (default: all)."""
        return [self[i].reduction for i in self.resolve(indices, owner="FeatureInfo.reduction")]

    def module_names(self, indices: int | Sequence[int] | None = None) -> list[str]:
        """``module`` of the selected stages (default: all)."""
        return [self[i].module for i in self.resolve(indices, owner="FeatureInfo.module_names")]

    def __repr__(self) -> str:
        rows = ", ".join(f"({s.num_chs}, {s.reduction}, {s.module!r})" for s in self)
        return f"FeatureInfo([{rows}])"


def make_feature_info(*stages: tuple[str, int, int]) -> FeatureInfo:
    """``FeatureInfo`` from ``(module, num_chs, reduction)`` triples, input to output."""
    return FeatureInfo(FeatureStage(num_chs=c, reduction=r, module=m) for m, c, r in stages)


def feature_info_of_chain(blocks: Sequence[tuple[str, int, int]]) -> FeatureInfo:
    """``FeatureInfo`` of a chain of blocks given as ``(module, stride, out_channels)``, input to output.

    A block is a stage when the block after it downsamples (stride > 1) or
    when it is the last block: the last map at each resolution, and the
    chain's output.  Only the strides *between* blocks choose the stages, so
    a stride-1 stem (small inputs) changes the reductions, not the stages.
    """
    stages = []
    reduction = 1
    for i, (module, stride, channels) in enumerate(blocks):
        reduction *= stride
        if i == len(blocks) - 1 or blocks[i + 1][1] > 1:
            stages.append((module, channels, reduction))
    return make_feature_info(*stages)


class FeatureMapsMixin(abc.ABC):
    """The feature-map interface: ``feature_info`` and ``forward_intermediates``.

    A class using it sets ``self.feature_info`` (a :class:`FeatureInfo`) in
    its constructor and implements ``_check_stage_input(x)`` (input
    validation) and ``_forward_stages(x)``, a generator that runs the trunk
    and yields the map of each stage of ``feature_info`` in order.  For a trunk
    that is an ``nn.Sequential``, :meth:`_sequential_stages` is that generator.
    """

    feature_info: FeatureInfo

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        *,
        stop_early: bool = False,
    ) -> list[torch.Tensor]:
        """The feature maps of the stages ``indices`` selects, one trunk pass.

        Args:
            x: input images.
            indices: ``None`` (default): every stage of ``feature_info``; an
                int n: the last n stages; a sequence of stage indices
                (negative ones count from the last stage).
            stop_early: stop the trunk after the last selected stage.  With
                ``False`` the whole trunk runs, as in ``forward_features``
                (in training mode the later batch norms then update their
                running statistics too).

        Returns:
            A list of tensors: ``maps[j]`` is the output of stage
            ``indices[j]`` (for ``None`` and an int, in stage order, input to
            output), computed in one pass, with gradients.  Auxiliary heads
            (GoogLeNet, Inception v3) are not run.

        Shape:
            ``x``: ``[B, in_channels, H, W]`` as ``forward``; stage ``i``'s map:
            ``[B, feature_info[i].num_chs, h_i, w_i]``.  With ``r =
            feature_info[i].reduction``, ``h_i`` (and ``w_i`` from ``W``) is:

            * ``ceil(H / r)`` for ResNet, the CIFAR ResNets, MobileNet v1–v3
              and EfficientNet (padded stride-2 layers round up);
            * ``floor(H / r)`` for VGG (``ceil`` with ``small_input``, whose
              pools round up), PlainCNN, and the small-input DenseNet, NiN
              and SqueezeNet;
            * ``floor(H / r)`` or ``ceil(H / r)``, depending on ``H``, for
              GoogLeNet and DenseNet, which mix both roundings;
            * at most ``floor(H / r)`` for the layouts with unpadded layers
              (AlexNet, NiN, SqueezeNet, Inception v3, LeNet-5), which trim
              a border of a few pixels (Inception v3: 35×35 at ``r = 8``
              for 299×299).

            For every family, ``R`` more input pixels give exactly ``R / r``
            more pixels at stage ``i`` for any ``R`` that the last stage's
            reduction divides; when ``r`` divides ``H``, the first three
            groups give exactly ``H / r``.
            ``forward_intermediates(x)[-1]`` equals ``forward_features(x)``
            (LeNet-5's ``forward_features`` flattens that map).

        Raises:
            TypeError, ValueError: bad ``indices`` (the message gives the valid
                range and what was received), or an input the model rejects.
        """
        owner = f"{type(self).__name__}.forward_intermediates"
        take = self.feature_info.resolve(indices, owner=owner)
        if not isinstance(stop_early, bool):
            raise TypeError(f"{owner} stop_early must be True or False; got {stop_early!r}")
        self._check_stage_input(x)
        wanted, last = set(take), max(take)
        maps: dict[int, torch.Tensor] = {}
        produced = 0
        for i, fmap in enumerate(self._forward_stages(x)):
            produced = i + 1
            if i in wanted:
                maps[i] = fmap
            if stop_early and i == last:
                break
        assert produced == len(self.feature_info) or stop_early, (
            f"{type(self).__name__} yielded {produced} maps for {len(self.feature_info)} stages"
        )
        return [maps[i] for i in take]

    @abc.abstractmethod
    def _check_stage_input(self, x: torch.Tensor) -> None:
        """Raise ``TypeError``/``ValueError`` for an input the trunk does not take."""

    @abc.abstractmethod
    def _forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """Run the trunk on a validated ``x``, yielding the map of each stage of ``feature_info`` in order."""

    def _sequential_stages(self, trunk: nn.Sequential, prefix: str, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """Run ``trunk`` (the sub-module named ``prefix``) child by child, yielding the outputs the stages name."""
        names = {s.module for s in self.feature_info}
        for name, layer in trunk.named_children():
            x = layer(x)
            if f"{prefix}.{name}" in names:
                yield x


# ---------------------------------------------------------------------- classifiers
class ImageClassifier(nn.Module, FeatureMapsMixin):
    """Base class of the zoo's image classifiers (see the module docstring for the contract).

    Subclasses build their layers in ``__init__`` (after calling
    ``super().__init__(num_classes=..., in_channels=..., small_input=...)``),
    set ``num_features``, ``min_input_size`` and ``feature_info``, and
    implement ``_forward_features``, ``_forward_head``, ``_reset_classifier``,
    ``_forward_stages`` and ``stages``.  They list in ``top_modules`` the
    attributes that form the original task's top (pooling and fully connected
    layers, auxiliary heads), which :meth:`replace_head` removes.

    Args:
        num_classes: number of output units K (> 0).
        in_channels: channels of the input image (3 for RGB, 1 for MNIST).
        small_input: build the family's variant for 28–32 pixel inputs.

    Shape:
        input ``[B, in_channels, H, W]`` with ``H, W >= min_input_size``;
        output ``[B, num_classes]`` logits.
    """

    #: attributes holding the top of the original task (removed by replace_head)
    top_modules: tuple[str, ...] = ()
    #: resolution of the ImageNet configuration (the registered example input)
    default_input_size: int = 224

    def __init__(self, *, num_classes: int = 1000, in_channels: int = 3, small_input: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_classes = check_positive_int(name, "num_classes", num_classes)
        self.in_channels = check_positive_int(name, "in_channels", in_channels)
        if not isinstance(small_input, bool):
            raise ConfigError(f"{name} small_input must be True or False; got {small_input!r}")
        self.small_input = small_input
        self.num_features = 0
        self.min_input_size = 1
        # set by replace_head: the new top that maps the feature map to logits
        self.head: nn.Module | None = None
        # set by the subclass once its trunk is built
        self.feature_info = FeatureInfo()

    # ------------------------------------------------------------------ the contract
    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``[B, in_channels, H, W]`` with ``H, W >= min_input_size``."""
        name = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} expects a tensor [B, {self.in_channels}, H, W]; got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{name} expects input of shape [B, {self.in_channels}, H, W]; got {list(x.shape)}")
        h, w = x.shape[-2:]
        m = self.min_input_size
        if h < m or w < m:
            hint = "; small_input=True builds the variant for 28-32 pixel images" if not self.small_input and m > 28 else ""
            raise ValueError(
                f"{name} needs inputs of at least {m}×{m} pixels in this configuration; got {h}×{w}{hint}"
            )

    def _check_stage_input(self, x: torch.Tensor) -> None:
        self.check_input(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional trunk: ``[B, in_channels, H, W] -> [B, num_features, h, w]``."""
        self.check_input(x)
        return self._forward_features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Pooling and top layers: ``[B, num_features, h, w] -> [B, num_classes]``."""
        if self.head is not None:
            return self.head(features)
        return self._forward_head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the output layer by a freshly initialised one with ``num_classes`` units.

        The layers below it (the hidden fully connected layers of AlexNet and
        VGG, for instance) are kept; :func:`an2dl.models.transfer.transfer`
        replaces the whole top instead.
        """
        num_classes = check_positive_int(type(self).__name__, "num_classes", num_classes)
        if self.head is not None:
            raise ConfigError(
                f"{type(self).__name__} has a replaced head; call replace_head with a new head instead of reset_classifier"
            )
        ref = next(self.parameters(), None)
        self._reset_classifier(num_classes)
        if ref is not None:  # the new layer joins the model's device and precision
            self.to(device=ref.device, dtype=ref.dtype)
        self.num_classes = num_classes

    def replace_head(self, head: nn.Module, *, num_classes: int) -> None:
        """Remove the original top (``top_modules``) and use ``head`` on the feature map.

        Args:
            head: maps ``[B, num_features, h, w]`` to ``[B, num_classes]``.
            num_classes: the new number of classes (recorded in ``num_classes``).
        """
        if not isinstance(head, nn.Module):
            raise TypeError(f"head must be an nn.Module; got {type(head).__name__}")
        num_classes = check_positive_int(type(self).__name__, "num_classes", num_classes)
        for name in self.top_modules:
            if name in self._modules:
                delattr(self, name)
        self.head = head
        self.num_classes = num_classes

    @abc.abstractmethod
    def stages(self) -> list[tuple[str, ...]]:
        """The trunk's blocks from input to output, each a tuple of sub-module names."""

    # ------------------------------------------------------------------ for subclasses
    @abc.abstractmethod
    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk after input validation."""

    @abc.abstractmethod
    def _forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """The original top: pooling and the fully connected layers."""

    @abc.abstractmethod
    def _reset_classifier(self, num_classes: int) -> None:
        """Replace the output layer by a new one with ``num_classes`` units."""
