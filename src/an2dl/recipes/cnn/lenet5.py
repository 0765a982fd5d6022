"""LeNet-5 recipes: ``lenet5-digits`` (the default demo) and ``lenet5-mnist`` (notes §3.3–§3.4.2)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...data import get_dataset
from ...engine.optim import OptimizerSpec, ScheduleSpec
from ...models import get_model
from ...tasks import ClassificationTask
from ..base import Recipe, register_recipe
from ..config import RunSettings, TrainerConfig

__all__ = ["LeNet5Digits", "LeNet5MNIST"]


@dataclass
class LeNetModel:
    activation: str = "relu"  # relu, tanh or sigmoid (the paper: scaled tanh)
    pool: str = "max"  # max or avg subsampling


@dataclass
class AugmentConfig:
    degrees: float = 10.0  # random rotation in [-degrees, degrees]
    translate: float = 0.1  # random shift up to this fraction of the image size
    scale: float = 0.1  # random zoom in [1 - scale, 1 + scale]
    p: float = 1.0  # probability of augmenting a sample (0: off)

    def build(self):
        from ...data.transforms import RandomAffine

        return RandomAffine(degrees=self.degrees, translate=self.translate, scale=self.scale, p=self.p) if self.p > 0 else None


@dataclass
class DigitsData:
    size: int = 32  # 8x8 digits resized (bilinear) to LeNet-5's 32x32 input
    val_fraction: float = 0.1  # stratified hold-out for validation
    test_fraction: float = 0.2  # stratified hold-out for testing
    seed: int = 0  # seed of the split


@dataclass
class LeNet5DigitsConfig(RunSettings):
    data: DigitsData = field(default_factory=DigitsData)
    model: LeNetModel = field(default_factory=LeNetModel)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimizerSpec = field(default_factory=lambda: OptimizerSpec("adam", lr=3e-3, schedule=ScheduleSpec("cosine")))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=60, batch_size=32))


@register_recipe
class LeNet5Digits(Recipe):
    """LeNet-5 on scikit-learn's embedded 8×8 digits, resized to 32×32 (no download)."""

    name = "lenet5-digits"
    summary = "LeNet-5 on the embedded 8x8 digits resized to 32x32 (the make demo default)"
    section = "3.3, 3.4.2"
    Config = LeNet5DigitsConfig
    smoke_settings = ("trainer.max_epochs=1",)

    def build(self, cfg: LeNet5DigitsConfig):
        d = cfg.data
        data = get_dataset("digits", size=d.size, val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=d.seed)
        model = get_model("lenet5", num_classes=data.info.num_classes, in_channels=1,
                          activation=cfg.model.activation, pool=cfg.model.pool)
        task = ClassificationTask(model, num_classes=data.info.num_classes, optimizer=cfg.optim, augment=cfg.augment.build())
        return task, data


@dataclass
class MNISTData:
    root: str | None = None  # folder with the IDX files (default: $AN2DL_DATA_DIR/mnist, cache, download)
    pad_to: int = 32  # LeCun et al. centre the 28x28 digits in a 32x32 field
    val_fraction: float = 1 / 12  # 5,000 of the 60,000 training images
    limit_train: int | None = None  # use only the first n training images
    seed: int = 0  # seed of the validation split


@dataclass
class LeNet5MNISTConfig(RunSettings):
    data: MNISTData = field(default_factory=MNISTData)
    model: LeNetModel = field(default_factory=LeNetModel)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(p=0.0))
    optim: OptimizerSpec = field(
        default_factory=lambda: OptimizerSpec("adam", lr=2e-3, schedule=ScheduleSpec("onecycle", interval="step", max_lr=4e-3))
    )
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=8, batch_size=128))


@register_recipe
class LeNet5MNIST(Recipe):
    """LeNet-5 on MNIST, 28×28 digits padded to 32×32 as in LeCun et al. (1998)."""

    name = "lenet5-mnist"
    summary = "LeNet-5 on real MNIST (needs the IDX files: AN2DL_DATA_DIR, --set data.root=..., or a download)"
    section = "3.3, 3.4.2"
    Config = LeNet5MNISTConfig
    smoke_settings = ("trainer.max_epochs=1", "data.limit_train=500", "data.val_fraction=0.01")

    def build(self, cfg: LeNet5MNISTConfig):
        d = cfg.data
        data = get_dataset("mnist", root=d.root, pad_to=d.pad_to, val_fraction=d.val_fraction,
                           limit_train=d.limit_train, seed=d.seed)
        model = get_model("lenet5", num_classes=10, in_channels=1, activation=cfg.model.activation, pool=cfg.model.pool)
        return ClassificationTask(model, num_classes=10, optimizer=cfg.optim, augment=cfg.augment.build()), data
